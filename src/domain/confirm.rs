//! The identity rule, the one place it lives: an alarm event acts on stream S only when
//! CloudWatch, not the message, backs it. The alarm the event names must exist and be in ALARM
//! (DescribeAlarms), watch S in its own metrics (their `StreamName` dimension), be named as
//! S's scale-up or scale-down alarm (`<S>-scale-up` / `<S>-scale-down`), and S must be within
//! `MANAGED_STREAM_PREFIX`. Otherwise the event is refused with a reason of its own and
//! nothing is changed: no reshard, no alarm rewritten, no alarm reset.
//!
//! Whatever delivered it (SNS, the alarm's own action, EventBridge), a message is only a
//! claim: anyone who may publish to the topic or invoke the function can write one. So what
//! the decision and the writes use of the alarm comes from DescribeAlarms: when it entered
//! ALARM (not the message's `StateChangeTime`), its ARN (not the message's `AlarmArn`), its
//! actions (not the message's topic).

use crate::domain::event::AlarmPair;
use crate::domain::policy::Trigger;
use crate::domain::settings::Settings;
use chrono::{DateTime, Utc};

/// What DescribeAlarms says of the alarm an event names: the only account of it trusted.
#[derive(Debug, Clone, PartialEq)]
pub struct AlarmOnRecord<'a> {
    pub name: &'a str,
    pub state: &'a str,
    /// The `StreamName` dimension of each of its metrics (empty for a metric without one).
    pub watches: Vec<&'a str>,
    /// When it entered its state.
    pub state_since: Option<DateTime<Utc>>,
}

/// Why an alarm event is not acted on once CloudWatch was asked.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Unconfirmed {
    #[error("not confirmed by CloudWatch: alarm {alarm} does not exist; nothing was changed")]
    Missing { alarm: String },
    #[error(
        "not confirmed by CloudWatch: alarm {alarm} is {current}, not ALARM; nothing was changed"
    )]
    NotInAlarm { alarm: String, current: String },
    #[error("alarm {alarm} does not watch stream {stream} (its metrics watch {watches}); nothing was changed")]
    DoesNotWatchStream {
        alarm: String,
        stream: String,
        watches: String,
    },
    #[error("alarm {alarm} is not stream {stream}'s scale-up or scale-down alarm ({stream}-scale-up, {stream}-scale-down); nothing was changed")]
    NotTheStreamsAlarm { alarm: String, stream: String },
    #[error("stream {stream} is outside MANAGED_STREAM_PREFIX {prefix:?}; nothing was changed")]
    NotManaged { stream: String, prefix: String },
}

impl Unconfirmed {
    /// The refusal's stable key (the `Reason` of the `SCALING_REFUSED` metric).
    pub fn key(&self) -> &'static str {
        match self {
            Unconfirmed::Missing { .. } | Unconfirmed::NotInAlarm { .. } => "unconfirmed",
            Unconfirmed::DoesNotWatchStream { .. } => "alarm_does_not_watch_stream",
            Unconfirmed::NotTheStreamsAlarm { .. } => "alarm_not_of_stream",
            Unconfirmed::NotManaged { .. } => "stream_not_managed",
        }
    }
}

/// The message's `claim` checked against the alarm `on_record` (DescribeAlarms' answer for the
/// alarm the message names, `None` when it has none). On success, the trigger to act on, made
/// of CloudWatch's facts: the message's state change time is replaced by the alarm's own
/// (`now` when CloudWatch does not say, which only lets the event through a stale check it
/// could not make; the alarm is in ALARM now all the same).
pub fn confirm(
    claim: &Trigger,
    on_record: Option<&AlarmOnRecord>,
    settings: &Settings,
    now: DateTime<Utc>,
) -> Result<Trigger, Unconfirmed> {
    let alarm = claim.alarm_name.clone();
    let stream = claim.stream.clone();
    let record = on_record.ok_or_else(|| Unconfirmed::Missing {
        alarm: alarm.clone(),
    })?;
    if record.name != claim.alarm_name {
        return Err(Unconfirmed::Missing { alarm });
    }
    if record.state != "ALARM" {
        return Err(Unconfirmed::NotInAlarm {
            alarm,
            current: record.state.to_string(),
        });
    }
    if record.watches.is_empty() || record.watches.iter().any(|w| *w != stream) {
        let mut watches: Vec<&str> = record.watches.clone();
        watches.sort_unstable();
        watches.dedup();
        let watches = match watches.as_slice() {
            [] => "no stream".to_string(),
            many => many
                .iter()
                .map(|w| if w.is_empty() { "(none)" } else { w })
                .collect::<Vec<_>>()
                .join(", "),
        };
        return Err(Unconfirmed::DoesNotWatchStream {
            alarm,
            stream,
            watches,
        });
    }
    let (pair, direction) = match AlarmPair::from_alarm_name(record.name) {
        Some((pair, direction)) if pair.prefix == stream => (pair, direction),
        _ => return Err(Unconfirmed::NotTheStreamsAlarm { alarm, stream }),
    };
    if !settings.manages(&stream) {
        return Err(Unconfirmed::NotManaged {
            stream,
            prefix: settings.managed_stream_prefix.clone(),
        });
    }
    Ok(Trigger {
        pair,
        direction,
        alarm_name: alarm,
        stream,
        state_change_time: record.state_since.unwrap_or(now),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::event::Direction;

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).expect("a valid time")
    }

    /// What a message claims: `alarm` fired for `stream`.
    fn claim(alarm: &str, stream: &str) -> Trigger {
        let (pair, direction) = AlarmPair::from_alarm_name(alarm).expect("a scaling alarm name");
        Trigger {
            pair,
            direction,
            alarm_name: alarm.into(),
            stream: stream.into(),
            state_change_time: now() - chrono::Duration::days(30),
        }
    }

    fn record<'a>(name: &'a str, state: &'a str, watches: &[&'a str]) -> AlarmOnRecord<'a> {
        AlarmOnRecord {
            name,
            state,
            watches: watches.to_vec(),
            state_since: Some(now() - chrono::Duration::minutes(2)),
        }
    }

    #[test]
    fn the_streams_own_alarm_in_alarm_acts_on_cloudwatchs_time() {
        let on_record = record("orders-scale-up", "ALARM", &["orders", "orders"]);
        let trigger = confirm(
            &claim("orders-scale-up", "orders"),
            Some(&on_record),
            &Settings::default(),
            now(),
        )
        .expect("confirmed");
        assert_eq!(trigger.stream, "orders");
        assert_eq!(trigger.direction, Direction::Up);
        assert_eq!(
            trigger.state_change_time,
            now() - chrono::Duration::minutes(2),
            "CloudWatch's time, not the message's"
        );
        let mut timeless = on_record.clone();
        timeless.state_since = None;
        let trigger = confirm(
            &claim("orders-scale-up", "orders"),
            Some(&timeless),
            &Settings::default(),
            now(),
        )
        .unwrap();
        assert_eq!(trigger.state_change_time, now());
    }

    #[test]
    fn each_way_of_not_being_the_streams_alarm_has_its_own_reason() {
        let settings = Settings {
            managed_stream_prefix: "app-".into(),
            ..Settings::default()
        };
        let cases: [(Trigger, Option<AlarmOnRecord>, &str, &str); 7] = [
            (
                claim("app-a-scale-up", "app-a"),
                None,
                "unconfirmed",
                "does not exist",
            ),
            (
                claim("app-a-scale-up", "app-a"),
                Some(record("app-a-scale-up", "OK", &["app-a"])),
                "unconfirmed",
                "is OK",
            ),
            (
                claim("app-decoy-scale-up", "app-victim"),
                Some(record("app-decoy-scale-up", "ALARM", &["app-decoy"])),
                "alarm_does_not_watch_stream",
                "watch app-decoy",
            ),
            (
                claim("app-a-scale-up", "app-a"),
                Some(record("app-a-scale-up", "ALARM", &["app-a", "app-b"])),
                "alarm_does_not_watch_stream",
                "app-a, app-b",
            ),
            (
                claim("app-a-scale-up", "app-a"),
                Some(record("app-a-scale-up", "ALARM", &[])),
                "alarm_does_not_watch_stream",
                "no stream",
            ),
            (
                claim("app-b-scale-down", "app-a"),
                Some(record("app-b-scale-down", "ALARM", &["app-a"])),
                "alarm_not_of_stream",
                "app-a-scale-up",
            ),
            (
                claim("other-scale-up", "other"),
                Some(record("other-scale-up", "ALARM", &["other"])),
                "stream_not_managed",
                "app-",
            ),
        ];
        for (claim, on_record, key, says) in cases {
            let err = confirm(&claim, on_record.as_ref(), &settings, now()).unwrap_err();
            assert_eq!(err.key(), key, "{err}");
            assert!(err.to_string().contains(says), "{err}");
            assert!(err.to_string().contains("nothing was changed"), "{err}");
        }
    }
}
