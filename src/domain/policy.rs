//! The decisions, as pure functions: [`triage`] tells which alarm notifications call for work,
//! and [`plan`] turns (trigger, observed state, settings, now) into a [`Decision`]. The Lambda,
//! the CLI and the simulator all decide here; nothing in this file talks to AWS.

use crate::domain::alarms::{self, AlarmPairSpec, AlarmTarget, KeptFields};
use crate::domain::event::{AlarmNotification, AlarmPair, Direction};
use crate::domain::history::ReshardHistory;
use crate::domain::settings::{ScalingPolicy, Settings, StreamSettings, STREAM_SHARD_CAP};
use crate::domain::sizing::{self, Usage};
use chrono::{DateTime, Utc};
use serde::Serialize;

/// An alarm notification that asks for a reshard.
#[derive(Debug, Clone, PartialEq)]
pub struct Trigger {
    pub pair: AlarmPair,
    pub direction: Direction,
    pub alarm_name: String,
    pub stream: String,
    pub state_change_time: DateTime<Utc>,
    pub topic_arn: Option<String>,
}

impl Trigger {
    pub fn partner_alarm(&self) -> String {
        self.pair.name(match self.direction {
            Direction::Up => Direction::Down,
            Direction::Down => Direction::Up,
        })
    }
}

/// Why a notification is not acted on at all (nothing is read or written).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Ignored {
    #[error("alarm state is {0}, only ALARM acts")]
    NotInAlarm(String),
    #[error("alarm name does not end in -scale-up or -scale-down")]
    NotAScalingAlarm,
    #[error("stream {0} is outside MANAGED_STREAM_PREFIX {1:?}")]
    NotManaged(String, String),
}

pub fn triage(notification: &AlarmNotification, settings: &Settings) -> Result<Trigger, Ignored> {
    let (pair, direction) =
        AlarmPair::from_alarm_name(&notification.alarm_name).ok_or(Ignored::NotAScalingAlarm)?;
    if !notification.is_alarm() {
        return Err(Ignored::NotInAlarm(notification.new_state.clone()));
    }
    if !settings.manages(&notification.stream) {
        return Err(Ignored::NotManaged(
            notification.stream.clone(),
            settings.managed_stream_prefix.clone(),
        ));
    }
    Ok(Trigger {
        pair,
        direction,
        alarm_name: notification.alarm_name.clone(),
        stream: notification.stream.clone(),
        state_change_time: notification.state_change_time,
        topic_arn: notification.topic_arn.clone(),
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum StreamStatus {
    Creating,
    Deleting,
    Active,
    Updating,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum StreamMode {
    Provisioned,
    OnDemand,
}

/// A stream as the gather step saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamState {
    pub name: String,
    pub status: StreamStatus,
    pub mode: StreamMode,
    pub open_shards: u32,
    pub settings: StreamSettings,
    pub history: ReshardHistory,
}

/// What the rewrite needs to know of the existing alarms.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AlarmsState {
    /// The triggering alarm's `LastScaledTimestamp` tag.
    pub last_scaled: Option<DateTime<Utc>>,
    pub kept_up: KeptFields,
    pub kept_down: KeptFields,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Observed {
    pub stream: StreamState,
    pub alarms: AlarmsState,
    /// Shards the account may still open (`DescribeLimits`); gathered for scale-ups only.
    pub account_headroom: Option<u32>,
}

/// The alarm state a refused event is put back into, so that it can fire again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ResetState {
    Ok,
    InsufficientData,
}

impl ResetState {
    pub fn as_str(self) -> &'static str {
        match self {
            ResetState::Ok => "OK",
            ResetState::InsufficientData => "INSUFFICIENT_DATA",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlarmReset {
    pub alarm: String,
    pub state: ResetState,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, thiserror::Error)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Refusal {
    #[error("stream is in ON_DEMAND mode; the autoscaler leaves it alone")]
    OnDemand,
    #[error("stale event: the alarm changed state at {event} but the stream was resharded at {last_scaled}")]
    Stale {
        event: DateTime<Utc>,
        last_scaled: DateTime<Utc>,
    },
    #[error("stream is {0:?}, not ACTIVE; the alarm will fire again")]
    NotActive(StreamStatus),
    #[error("stream is at its {bound} of {shards} shards")]
    AtBound { bound: &'static str, shards: u32 },
    #[error("the account has no shard headroom left (DescribeLimits); raise the shard limit")]
    NoAccountHeadroom,
    #[error("{used} of {limit} reshards used in the last 24 hours")]
    DailyLimit { used: u32, limit: u32 },
    #[error("{used} of {limit} reshards used in the last 24 hours; the last {reserve} are kept for scale-ups")]
    ReservedForScaleUp { used: u32, limit: u32, reserve: u32 },
    /// Only the replay of the upstream Go Lambda, which asks AWS for reshards it refuses.
    #[error("AWS refused the reshard: {0}")]
    RefusedByAws(String),
    #[error("sized policy holds at {shards} shards: {hold:?}")]
    Sized { shards: u32, hold: sizing::Hold },
}

impl Refusal {
    /// Refusals a person should hear about, through the error metric.
    pub fn needs_attention(&self) -> bool {
        matches!(self, Refusal::NoAccountHeadroom)
    }
}

/// Reserved concurrency for the stream's consumer function.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConcurrencyChange {
    pub function: String,
    pub reserved: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScalePlan {
    pub stream: String,
    pub direction: Direction,
    pub from: u32,
    pub to: u32,
    pub scaled_at: DateTime<Utc>,
    /// The stream's history tag with this reshard in it; written before the reshard.
    #[serde(serialize_with = "serialize_history")]
    pub history: ReshardHistory,
    pub alarms: AlarmPairSpec,
    pub concurrency: Option<ConcurrencyChange>,
}

fn serialize_history<S: serde::Serializer>(h: &ReshardHistory, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&h.encode())
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum Decision {
    Scale(ScalePlan),
    Refuse {
        refusal: Refusal,
        reset: Option<AlarmReset>,
        /// At a bound the alarms are rewritten for the current count, which disarms the one
        /// that fired, instead of letting it fire into refusals again and again.
        realign: Option<AlarmPairSpec>,
    },
}

/// Decides what to do about `trigger`, given what was observed at `now`, without metrics:
/// doubling or halving whatever `SCALING_POLICY` says.
pub fn plan(
    trigger: &Trigger,
    observed: &Observed,
    settings: &Settings,
    now: DateTime<Utc>,
) -> Decision {
    plan_sized(trigger, observed, None, settings, now)
}

/// Decides what to do about `trigger`. With `SCALING_POLICY=sized` and the stream's recent
/// `usage` (GetMetricData), the target is sized by [`sizing::decide`] in the alarm's
/// direction; without usage, or without enough datapoints in it, it is doubling/halving.
pub fn plan_sized(
    trigger: &Trigger,
    observed: &Observed,
    usage: Option<&Usage>,
    settings: &Settings,
    now: DateTime<Utc>,
) -> Decision {
    let stream = &observed.stream;
    let refuse = |refusal: Refusal, state: Option<ResetState>| Decision::Refuse {
        reset: state.map(|state| AlarmReset {
            alarm: trigger.alarm_name.clone(),
            state,
            reason: format!(
                "Scale-{} event refused: {refusal}",
                trigger.direction.tag_value()
            ),
        }),
        refusal,
        realign: None,
    };

    if stream.mode == StreamMode::OnDemand {
        return refuse(Refusal::OnDemand, None);
    }
    let last_scaled = observed
        .alarms
        .last_scaled
        .into_iter()
        .chain(stream.history.last())
        .max();
    if let Some(last_scaled) = last_scaled {
        if trigger.state_change_time <= last_scaled {
            // Upstream's answer to a stale or duplicate event.
            return refuse(
                Refusal::Stale {
                    event: trigger.state_change_time,
                    last_scaled,
                },
                Some(ResetState::InsufficientData),
            );
        }
    }
    if stream.status != StreamStatus::Active {
        return refuse(Refusal::NotActive(stream.status), Some(ResetState::Ok));
    }

    let from = stream.open_shards;
    let limits = &stream.settings;
    let doubling = target_shards(trigger.direction, from, limits, observed.account_headroom);
    let sized = match (settings.scaling_policy, usage) {
        (ScalingPolicy::Sized, Some(usage)) => Some(sizing::decide(
            &sizing_input(stream, usage, observed.account_headroom, settings, now),
            Some(trigger.direction),
        )),
        _ => None,
    };
    let to = match sized {
        Some(sizing::Move::Reshard { to, .. }) => to,
        Some(sizing::Move::Hold(
            hold @ (sizing::Hold::Fits | sizing::Hold::RecurringLoad { .. }),
        )) => {
            // The alarm's window is forgotten, so it needs a fresh run of breaching periods.
            return refuse(
                Refusal::Sized { shards: from, hold },
                Some(ResetState::InsufficientData),
            );
        }
        // No datapoints to size from, or a bound or the budget, which the rules below
        // refuse with their own reasons.
        _ => doubling,
    };
    let alarm_target = |shards| AlarmTarget {
        pair: &trigger.pair,
        stream: &stream.name,
        shards,
        min_shards: limits.min_shards,
        max_shards: limits.max_shards.min(STREAM_SHARD_CAP),
    };
    let alarms_at = |shards| {
        alarms::build_pair(
            settings,
            &alarm_target(shards),
            trigger.topic_arn.as_deref(),
            &observed.alarms.kept_up,
            &observed.alarms.kept_down,
        )
    };
    if to == from {
        let refusal = match trigger.direction {
            Direction::Up if observed.account_headroom == Some(0) && from < limits.max_shards => {
                return refuse(Refusal::NoAccountHeadroom, Some(ResetState::Ok));
            }
            Direction::Up => Refusal::AtBound {
                bound: "maximum",
                shards: limits.max_shards.min(STREAM_SHARD_CAP),
            },
            Direction::Down => Refusal::AtBound {
                bound: "minimum",
                shards: limits.min_shards,
            },
        };
        return Decision::Refuse {
            reset: Some(AlarmReset {
                alarm: trigger.alarm_name.clone(),
                state: ResetState::InsufficientData,
                reason: format!(
                    "Scale-{} event refused: {refusal}",
                    trigger.direction.tag_value()
                ),
            }),
            refusal,
            realign: Some(alarms_at(from)),
        };
    }

    let used = stream.history.used_in_day(now);
    let limit = settings.max_reshards_per_day;
    match trigger.direction {
        Direction::Up if used >= limit => {
            return refuse(Refusal::DailyLimit { used, limit }, Some(ResetState::Ok));
        }
        Direction::Down if used + 1 + settings.scale_up_reserve > limit => {
            let reserve = settings.scale_up_reserve;
            return refuse(
                Refusal::ReservedForScaleUp {
                    used,
                    limit,
                    reserve,
                },
                Some(ResetState::Ok),
            );
        }
        _ => {}
    }

    Decision::Scale(scale_plan(
        &trigger.pair,
        trigger.topic_arn.as_deref(),
        observed,
        settings,
        to,
        now,
    ))
}

/// The complete plan of a reshard of the observed stream to `to` at `now`: the history with
/// it, both alarms rewritten for `to`, and the consumer's concurrency.
pub fn scale_plan(
    pair: &AlarmPair,
    topic_arn: Option<&str>,
    observed: &Observed,
    settings: &Settings,
    to: u32,
    now: DateTime<Utc>,
) -> ScalePlan {
    let stream = &observed.stream;
    let limits = &stream.settings;
    let from = stream.open_shards;
    ScalePlan {
        stream: stream.name.clone(),
        direction: if to > from {
            Direction::Up
        } else {
            Direction::Down
        },
        from,
        to,
        scaled_at: now,
        history: stream.history.with_reshard(now),
        alarms: alarms::build_pair(
            settings,
            &AlarmTarget {
                pair,
                stream: &stream.name,
                shards: to,
                min_shards: limits.min_shards,
                max_shards: limits.max_shards.min(STREAM_SHARD_CAP),
            },
            topic_arn,
            &observed.alarms.kept_up,
            &observed.alarms.kept_down,
        ),
        concurrency: limits
            .consumer_function
            .as_ref()
            .map(|function| ConcurrencyChange {
                function: function.clone(),
                reserved: to.saturating_mul(limits.lambdas_per_shard),
            }),
    }
}

/// What [`sizing::decide`] needs of an observed stream.
pub fn sizing_input<'a>(
    stream: &StreamState,
    usage: &'a Usage<'a>,
    account_headroom: Option<u32>,
    settings: &Settings,
    now: DateTime<Utc>,
) -> sizing::Input<'a> {
    let limits = &stream.settings;
    let mut max = limits.max_shards.min(STREAM_SHARD_CAP);
    if let Some(headroom) = account_headroom {
        max = max.min(
            stream
                .open_shards
                .saturating_add(headroom)
                .max(stream.open_shards),
        );
    }
    sizing::Input {
        usage,
        shards: stream.open_shards,
        bounds: sizing::Bounds {
            min: limits.min_shards.max(1),
            max,
        },
        budget: sizing::Budget {
            used: stream.history.used_in_day(now),
            limit: settings.max_reshards_per_day,
            reserve: settings.scale_up_reserve,
        },
        target_usage: settings.target_usage,
        params: settings.sizing,
        now,
    }
}

/// Doubling or halving, within what AWS allows (at most 2x, at least half rounded up, at most
/// 10000 per stream and the account's headroom) and the stream's own bounds.
pub fn target_shards(
    direction: Direction,
    from: u32,
    limits: &StreamSettings,
    account_headroom: Option<u32>,
) -> u32 {
    match direction {
        Direction::Up => {
            let ceiling = limits.max_shards.min(STREAM_SHARD_CAP);
            let mut to = from.saturating_mul(2).min(ceiling);
            if let Some(headroom) = account_headroom {
                to = to.min(from.saturating_add(headroom));
            }
            to.max(from)
        }
        Direction::Down => from.div_ceil(2).max(limits.min_shards).max(1).min(from),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn now() -> DateTime<Utc> {
        at("2026-11-23T12:00:00Z")
    }

    fn limits() -> StreamSettings {
        StreamSettings {
            min_shards: 1,
            max_shards: 10_000,
            consumer_function: None,
            lambdas_per_shard: 1,
        }
    }

    fn trigger(direction: Direction) -> Trigger {
        let pair = AlarmPair::new("orders");
        Trigger {
            alarm_name: pair.name(direction),
            pair,
            direction,
            stream: "orders".into(),
            state_change_time: now() - Duration::minutes(1),
            topic_arn: Some("arn:aws:sns:us-east-1:123456789012:kinesis-autoscaler".into()),
        }
    }

    fn observed(shards: u32) -> Observed {
        Observed {
            stream: StreamState {
                name: "orders".into(),
                status: StreamStatus::Active,
                mode: StreamMode::Provisioned,
                open_shards: shards,
                settings: limits(),
                history: ReshardHistory::default(),
            },
            alarms: AlarmsState::default(),
            account_headroom: Some(500),
        }
    }

    fn scale(decision: Decision) -> ScalePlan {
        match decision {
            Decision::Scale(plan) => plan,
            other => panic!("expected a reshard, got {other:?}"),
        }
    }

    fn refused(decision: Decision) -> (Refusal, Option<AlarmReset>) {
        match decision {
            Decision::Refuse { refusal, reset, .. } => (refusal, reset),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn up_doubles_down_halves_rounding_up_never_below_one() {
        for (from, up, down) in [
            (1, 2, 1),
            (2, 4, 1),
            (3, 6, 2),
            (5, 10, 3),
            (8, 16, 4),
            (9999, 10_000, 5000),
        ] {
            assert_eq!(
                target_shards(Direction::Up, from, &limits(), None),
                up,
                "up from {from}"
            );
            assert_eq!(
                target_shards(Direction::Down, from, &limits(), None),
                down,
                "down from {from}"
            );
        }
        assert_eq!(
            target_shards(Direction::Up, 10_000, &limits(), None),
            10_000
        );
    }

    #[test]
    fn targets_respect_stream_bounds_and_account_headroom() {
        let bounded = StreamSettings {
            min_shards: 3,
            max_shards: 12,
            ..limits()
        };
        assert_eq!(target_shards(Direction::Up, 8, &bounded, None), 12);
        assert_eq!(target_shards(Direction::Down, 4, &bounded, None), 3);
        assert_eq!(target_shards(Direction::Up, 8, &limits(), Some(3)), 11);
        assert_eq!(target_shards(Direction::Up, 8, &limits(), Some(0)), 8);
        // Above the maximum already (set by hand): down still only halves.
        assert_eq!(target_shards(Direction::Down, 40, &bounded, None), 20);
    }

    #[test]
    fn a_scale_up_plans_reshard_alarms_history_and_concurrency() {
        let mut state = observed(4);
        state.stream.settings.consumer_function = Some("orders-consumer".into());
        state.stream.settings.lambdas_per_shard = 5;
        let plan = scale(plan(
            &trigger(Direction::Up),
            &state,
            &Settings::default(),
            now(),
        ));
        assert_eq!((plan.from, plan.to), (4, 8));
        assert_eq!(plan.alarms.scale_up.shard_count(), Some(8));
        assert_eq!(plan.alarms.scale_down.shard_count(), Some(8));
        assert_eq!(plan.alarms.scale_down.threshold, 0.25);
        assert_eq!(
            plan.alarms.scale_up.alarm_actions,
            ["arn:aws:sns:us-east-1:123456789012:kinesis-autoscaler"]
        );
        assert_eq!(plan.history.last(), Some(now()));
        assert_eq!(
            plan.concurrency,
            Some(ConcurrencyChange {
                function: "orders-consumer".into(),
                reserved: 40
            })
        );
    }

    #[test]
    fn scaling_down_to_the_minimum_disarms_scale_down() {
        let plan = scale(plan(
            &trigger(Direction::Down),
            &observed(2),
            &Settings::default(),
            now(),
        ));
        assert_eq!(plan.to, 1);
        assert_eq!(plan.alarms.scale_down.threshold, -1.0);
        assert!(!plan.alarms.scale_up.is_disarmed());
    }

    #[test]
    fn at_a_bound_the_event_is_refused_and_alarms_realigned() {
        let decision = plan(
            &trigger(Direction::Down),
            &observed(1),
            &Settings::default(),
            now(),
        );
        let Decision::Refuse {
            refusal,
            reset,
            realign,
        } = decision
        else {
            panic!()
        };
        assert_eq!(
            refusal,
            Refusal::AtBound {
                bound: "minimum",
                shards: 1
            }
        );
        assert_eq!(reset.unwrap().alarm, "orders-scale-down");
        assert!(realign.unwrap().scale_down.is_disarmed());

        let mut state = observed(16);
        state.stream.settings.max_shards = 16;
        let (refusal, _) = refused(plan(
            &trigger(Direction::Up),
            &state,
            &Settings::default(),
            now(),
        ));
        assert_eq!(
            refusal,
            Refusal::AtBound {
                bound: "maximum",
                shards: 16
            }
        );
    }

    #[test]
    fn stale_and_duplicate_events_are_refused_to_insufficient_data() {
        let mut state = observed(4);
        state.alarms.last_scaled = Some(now() - Duration::minutes(1));
        let (refusal, reset) = refused(plan(
            &trigger(Direction::Up),
            &state,
            &Settings::default(),
            now(),
        ));
        assert!(matches!(refusal, Refusal::Stale { .. }), "{refusal:?}");
        assert_eq!(reset.unwrap().state, ResetState::InsufficientData);

        // The history's mark (written before the reshard) catches a duplicate delivery even
        // when the alarm tags were never written.
        let mut state = observed(8);
        state.stream.history = ReshardHistory::new(vec![now() - Duration::seconds(30)]);
        let (refusal, _) = refused(plan(
            &trigger(Direction::Up),
            &state,
            &Settings::default(),
            now(),
        ));
        assert!(matches!(refusal, Refusal::Stale { .. }));

        // An event after the last reshard goes ahead.
        let mut state = observed(8);
        state.alarms.last_scaled = Some(now() - Duration::minutes(2));
        assert!(matches!(
            plan(&trigger(Direction::Up), &state, &Settings::default(), now()),
            Decision::Scale(_)
        ));
    }

    #[test]
    fn on_demand_streams_are_never_touched() {
        let mut state = observed(4);
        state.stream.mode = StreamMode::OnDemand;
        assert_eq!(
            refused(plan(
                &trigger(Direction::Up),
                &state,
                &Settings::default(),
                now()
            )),
            (Refusal::OnDemand, None)
        );
    }

    #[test]
    fn an_updating_stream_resets_the_alarm_to_ok() {
        let mut state = observed(4);
        state.stream.status = StreamStatus::Updating;
        let (refusal, reset) = refused(plan(
            &trigger(Direction::Up),
            &state,
            &Settings::default(),
            now(),
        ));
        assert_eq!(refusal, Refusal::NotActive(StreamStatus::Updating));
        assert_eq!(reset.unwrap().state, ResetState::Ok);
    }

    #[test]
    fn the_daily_limit_is_enforced_with_a_reserve_for_scale_ups() {
        let history = |n: i64| {
            ReshardHistory::new(
                (0..n)
                    .map(|i| now() - Duration::hours(23) + Duration::minutes(i))
                    .collect(),
            )
        };
        let settings = Settings::default();
        let with = |n| {
            let mut s = observed(8);
            s.stream.history = history(n);
            s
        };
        // 7 used: a scale-down would leave 2, the reserve: allowed. 8 used: refused.
        assert!(matches!(
            plan(&trigger(Direction::Down), &with(7), &settings, now()),
            Decision::Scale(_)
        ));
        let (r, reset) = refused(plan(&trigger(Direction::Down), &with(8), &settings, now()));
        assert_eq!(
            r,
            Refusal::ReservedForScaleUp {
                used: 8,
                limit: 10,
                reserve: 2
            }
        );
        assert_eq!(reset.unwrap().state, ResetState::Ok);
        // Scale-ups may use the reserve, but never an 11th reshard.
        assert!(matches!(
            plan(&trigger(Direction::Up), &with(9), &settings, now()),
            Decision::Scale(_)
        ));
        assert_eq!(
            refused(plan(&trigger(Direction::Up), &with(10), &settings, now())).0,
            Refusal::DailyLimit {
                used: 10,
                limit: 10
            }
        );
        // Entries older than 24 h no longer count.
        assert!(matches!(
            plan(
                &trigger(Direction::Up),
                &with(10),
                &settings,
                now() + Duration::hours(2)
            ),
            Decision::Scale(_)
        ));
    }

    #[test]
    fn no_account_headroom_is_refused_and_needs_attention() {
        let mut state = observed(4);
        state.account_headroom = Some(0);
        let (r, _) = refused(plan(
            &trigger(Direction::Up),
            &state,
            &Settings::default(),
            now(),
        ));
        assert_eq!(r, Refusal::NoAccountHeadroom);
        assert!(r.needs_attention());
    }

    #[test]
    fn triage_ignores_other_states_and_names() {
        let notification = |name: &str, state: &str| AlarmNotification {
            message_id: "m".into(),
            topic_arn: None,
            alarm_name: name.into(),
            alarm_arn: format!("arn:aws:cloudwatch:us-east-1:123456789012:alarm:{name}"),
            new_state: state.into(),
            state_change_time: now(),
            stream: "orders".into(),
        };
        assert_eq!(
            triage(&notification("orders-scale-up", "OK"), &Settings::default()),
            Err(Ignored::NotInAlarm("OK".into()))
        );
        assert_eq!(
            triage(&notification("orders-high", "ALARM"), &Settings::default()),
            Err(Ignored::NotAScalingAlarm)
        );
        let t = triage(
            &notification("orders-scale-down", "ALARM"),
            &Settings::default(),
        )
        .unwrap();
        let scoped = Settings {
            managed_stream_prefix: "prod-".into(),
            ..Settings::default()
        };
        assert!(matches!(
            triage(&notification("orders-scale-up", "ALARM"), &scoped),
            Err(Ignored::NotManaged(..))
        ));
        assert_eq!(
            (t.direction, t.partner_alarm()),
            (Direction::Down, "orders-scale-up".to_string())
        );
    }

    fn usage_of(needs: &[f64]) -> Usage<'static> {
        Usage {
            period_secs: 300,
            start: now() - Duration::minutes(5 * needs.len() as i64),
            needs: std::borrow::Cow::Owned(needs.iter().map(|n| Some(*n)).collect()),
        }
    }

    #[test]
    fn sized_alarm_actions_go_to_the_measured_need_or_refuse() {
        let settings = Settings::default();
        // Scale-up: the last two periods at 3.9 and 4.0 of 4 shards: to 6, not 8.
        let mut needs = vec![2.0; 20];
        needs.extend([3.9, 4.0]);
        let usage = usage_of(&needs);
        let p = scale(plan_sized(
            &trigger(Direction::Up),
            &observed(4),
            Some(&usage),
            &settings,
            now(),
        ));
        assert_eq!((p.from, p.to), (4, 6));
        assert_eq!(p.alarms.scale_up.shard_count(), Some(6));
        // Scale-down: an hour at 1.0 of 8 shards: halving is the limit, to 4; from 6, to 2
        // is beyond half, so 3.
        let quiet = usage_of(&[1.0; 14]);
        let down = |n| {
            plan_sized(
                &trigger(Direction::Down),
                &observed(n),
                Some(&quiet),
                &settings,
                now(),
            )
        };
        assert_eq!(scale(down(8)).to, 4);
        assert_eq!(scale(down(6)).to, 3);
        // The load fits: refused, and the alarm must see a fresh window before firing again.
        let (refusal, reset) = refused(down(2));
        assert!(matches!(refusal, Refusal::Sized { .. }), "{refusal:?}");
        assert_eq!(reset.unwrap().state, ResetState::InsufficientData);
    }

    #[test]
    fn without_metrics_or_with_the_upstream_policy_it_doubles_and_halves() {
        let settings = Settings::default();
        let quiet = usage_of(&[1.0; 14]);
        // No datapoints read (GetMetricData denied): doubling.
        assert_eq!(
            scale(plan_sized(
                &trigger(Direction::Up),
                &observed(4),
                None,
                &settings,
                now()
            ))
            .to,
            8
        );
        // Datapoints, but none recent: doubling too (the alarm saw the load).
        let stale = Usage {
            start: now() - Duration::hours(3),
            ..quiet.clone()
        };
        assert_eq!(
            scale(plan_sized(
                &trigger(Direction::Up),
                &observed(4),
                Some(&stale),
                &settings,
                now()
            ))
            .to,
            8
        );
        let upstream = Settings {
            scaling_policy: ScalingPolicy::Upstream,
            ..Settings::default()
        };
        assert_eq!(
            scale(plan_sized(
                &trigger(Direction::Down),
                &observed(8),
                Some(&quiet),
                &upstream,
                now()
            ))
            .to,
            4
        );
        assert_eq!(
            scale(plan_sized(
                &trigger(Direction::Down),
                &observed(6),
                Some(&quiet),
                &upstream,
                now()
            ))
            .to,
            3
        );
    }
}
