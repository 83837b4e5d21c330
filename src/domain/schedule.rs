//! The scheduled evaluation: every few minutes (an EventBridge schedule), each managed stream
//! is sized from its own recent load by [`sizing::decide`], without waiting for an alarm.
//! This is what scales ahead of a recurring ramp, scales down to the sized count an hour
//! after a peak instead of after upstream's five-hour window, and brings a stream found
//! outside its bounds back inside. The alarms stay in place as the backstop.

use crate::domain::event::AlarmPair;
use crate::domain::policy::{self, Observed, ScalePlan, StreamMode, StreamStatus};
use crate::domain::settings::{ScalingPolicy, Settings};
use crate::domain::sizing::{self, Usage};
use chrono::{DateTime, Utc};
use serde::Serialize;

/// Why a scheduled evaluation leaves a stream as it is.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "skip", rename_all = "snake_case")]
pub enum Skip {
    /// `SCALING_POLICY=upstream`: only alarms reshard.
    UpstreamPolicy,
    OnDemand,
    /// A reshard is under way (or the stream is being created or deleted).
    NotActive {
        status: StreamStatus,
    },
    /// The last reshard is younger than the evaluation's datapoints: its effect is not
    /// measured yet.
    JustResharded,
    /// What [`sizing::decide`] held for.
    Hold(sizing::Hold),
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "evaluation", rename_all = "snake_case")]
pub enum Evaluation {
    Scale {
        plan: Box<ScalePlan>,
        why: sizing::Reason,
    },
    Skip(Skip),
}

/// Evaluates one stream at `now` from its `usage` (datapoints up to `now`, at least
/// [`sizing::HISTORY_MINS`] of them for the recurring-load rules to apply).
pub fn evaluate(
    pair: &AlarmPair,
    observed: &Observed,
    usage: &Usage,
    settings: &Settings,
    now: DateTime<Utc>,
) -> Evaluation {
    let stream = &observed.stream;
    if settings.scaling_policy == ScalingPolicy::Upstream {
        return Evaluation::Skip(Skip::UpstreamPolicy);
    }
    if stream.mode == StreamMode::OnDemand {
        return Evaluation::Skip(Skip::OnDemand);
    }
    if stream.status != StreamStatus::Active {
        return Evaluation::Skip(Skip::NotActive {
            status: stream.status,
        });
    }
    // The period in progress during the last reshard still shows the old capacity's load
    // shape; wait one full period after it.
    if let Some(last) = stream.history.last() {
        if (now - last).num_seconds() < usage.period_secs {
            return Evaluation::Skip(Skip::JustResharded);
        }
    }
    let input = policy::sizing_input(stream, usage, observed.account_headroom, settings, now);
    match sizing::decide(&input, None) {
        sizing::Move::Reshard { to, why } => Evaluation::Scale {
            plan: Box::new(policy::scale_plan(pair, observed, settings, to, now)),
            why,
        },
        sizing::Move::Hold(hold) => Evaluation::Skip(Skip::Hold(hold)),
    }
}

/// Whether a scheduled run reconciles: a sweep cut short (its `cursor` kept) goes on at the
/// next run; otherwise the fleet is swept again once the last complete sweep is
/// `interval_mins` old (0: every run). A sweep never recorded, or recorded in the future (a
/// hand-edited tag, a clock set back), is due: the sweep is the safety net, better early than
/// never.
pub fn sweep_due(
    cursor: Option<&str>,
    last_sweep: Option<DateTime<Utc>>,
    interval_mins: u32,
    now: DateTime<Utc>,
) -> bool {
    if cursor.is_some_and(|c| !c.is_empty()) {
        return true;
    }
    match last_sweep {
        Some(last) if last <= now => {
            now - last >= chrono::Duration::minutes(i64::from(interval_mins))
        }
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::history::ReshardHistory;
    use crate::domain::policy::{AlarmsState, StreamState};
    use crate::domain::settings::StreamSettings;
    use chrono::Duration;
    use std::borrow::Cow;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-01-05T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    fn observed(shards: u32) -> Observed {
        Observed {
            stream: StreamState {
                name: "orders".into(),
                status: StreamStatus::Active,
                mode: StreamMode::Provisioned,
                open_shards: shards,
                settings: StreamSettings {
                    min_shards: 1,
                    max_shards: 100,
                    consumer_function: Some("consumer".into()),
                    lambdas_per_shard: 2,
                },
                history: ReshardHistory::default(),
            },
            alarms: AlarmsState::default(),
            account_headroom: None,
        }
    }

    /// An hour of `need` shards of load, ending now.
    fn hour_of(need: f64) -> Usage<'static> {
        Usage {
            period_secs: 300,
            start: now() - Duration::hours(1),
            needs: Cow::Owned(vec![Some(need); 12]),
            lag_mins: Cow::Borrowed(&[]),
        }
    }

    fn eval(observed: &Observed, usage: &Usage, settings: &Settings) -> Evaluation {
        evaluate(&AlarmPair::new("orders"), observed, usage, settings, now())
    }

    #[test]
    fn an_idle_stream_is_sized_down_with_a_complete_plan() {
        let Evaluation::Scale { plan, why } =
            eval(&observed(8), &hour_of(1.0), &Settings::default())
        else {
            panic!("expected a reshard")
        };
        assert_eq!((plan.from, plan.to), (8, 4));
        assert!(matches!(why, sizing::Reason::Idle { .. }));
        assert_eq!(plan.direction, crate::domain::event::Direction::Down);
        assert_eq!(plan.alarms.scale_up.shard_count(), Some(4));
        assert_eq!(plan.history.last(), Some(now()));
        assert_eq!(plan.concurrency.map(|c| c.reserved), Some(8));
    }

    #[test]
    fn streams_it_must_not_touch_are_skipped() {
        let s = Settings::default();
        let mut on_demand = observed(8);
        on_demand.stream.mode = StreamMode::OnDemand;
        assert_eq!(
            eval(&on_demand, &hour_of(1.0), &s),
            Evaluation::Skip(Skip::OnDemand)
        );
        let mut updating = observed(8);
        updating.stream.status = StreamStatus::Updating;
        assert!(matches!(
            eval(&updating, &hour_of(1.0), &s),
            Evaluation::Skip(Skip::NotActive { .. })
        ));
        let mut fresh = observed(8);
        fresh.stream.history = ReshardHistory::new(vec![now() - Duration::minutes(2)]);
        assert_eq!(
            eval(&fresh, &hour_of(1.0), &s),
            Evaluation::Skip(Skip::JustResharded)
        );
        let upstream = Settings {
            scaling_policy: ScalingPolicy::Upstream,
            ..Settings::default()
        };
        assert_eq!(
            eval(&observed(8), &hour_of(1.0), &upstream),
            Evaluation::Skip(Skip::UpstreamPolicy)
        );
        assert_eq!(
            eval(&observed(2), &hour_of(1.0), &s),
            Evaluation::Skip(Skip::Hold(sizing::Hold::Fits))
        );
    }

    /// The case: 8 shards, one shard of load for the last hour, consumers `age`
    /// minutes behind all along, SCALE_DOWN_MIN_ITER_AGE_MINS = 30 (the default).
    #[test]
    fn a_lagging_stream_is_not_shrunk_but_still_grows() {
        let s = Settings::default();
        assert_eq!(s.scale_down_min_iter_age_mins, 30);
        let behind = |need: f64, age_mins: f64| Usage {
            lag_mins: Cow::Owned(vec![Some(age_mins); 12]),
            ..hour_of(need)
        };
        assert_eq!(
            eval(&observed(8), &behind(1.0, 40.0), &s),
            Evaluation::Skip(Skip::Hold(sizing::Hold::ConsumersBehind { age_mins: 40.0 }))
        );
        let Evaluation::Scale { plan, .. } = eval(&observed(8), &behind(1.0, 10.0), &s) else {
            panic!("10 minutes behind: shrunk")
        };
        assert_eq!((plan.from, plan.to), (8, 4));
        let Evaluation::Scale { plan, .. } = eval(&observed(2), &behind(2.0, 40.0), &s) else {
            panic!("a scale-up is never blocked by lag")
        };
        assert_eq!((plan.from, plan.to), (2, 3));
    }

    #[test]
    fn a_sweep_is_due_when_stale_unknown_or_under_way() {
        let hourly = |cursor, last| sweep_due(cursor, last, 60, now());
        let ago = |m| Some(now() - Duration::minutes(m));
        assert!(!hourly(None, ago(5)), "recent: skipped");
        assert!(
            !hourly(Some(""), ago(59)),
            "an empty cursor is no sweep under way"
        );
        assert!(hourly(None, ago(60)), "an hour old: due");
        assert!(hourly(None, None), "never recorded: due");
        assert!(hourly(Some("orders-0042"), ago(1)), "cut short: goes on");
        assert!(
            hourly(None, Some(now() + Duration::hours(2))),
            "in the future: due"
        );
        assert!(sweep_due(None, ago(0), 0, now()), "0: every run");
    }
}
