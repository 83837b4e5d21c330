//! What to do at each step of carrying out a decision, and when a step fails: pure functions,
//! so that the executor in `ops::autoscaler` only runs steps and reports. [`scale_steps`] turns a
//! [`ScalePlan`] into every call of rounds 2 to 5; the `after_*` functions say what a failure
//! at a step means (busy or failed, roll the history back or not, let the alarm fire again).

use crate::domain::alarms::{
    AlarmSpec, TAG_COMPLIMENTARY_ALARM, TAG_LAST_SCALED, TAG_SCALE_ACTION,
};
use crate::domain::event::{self, Direction};
use crate::domain::history::ReshardHistory;
use crate::domain::policy::{AlarmReset, ResetState, ScalePlan, StreamStatus, Trigger};

/// One alarm of the pair, rewritten for the new shard count (round 4), then reset and tagged
/// once its definition is written (round 5).
#[derive(Debug, Clone, PartialEq)]
pub struct AlarmRewrite {
    pub spec: AlarmSpec,
    /// Where to write `tags` (CloudWatch ignores tags on PutMetricAlarm for an existing alarm);
    /// `None` when the ARN cannot be known, and the tags go with the definition only.
    pub arn: Option<String>,
    pub tags: Vec<(String, String)>,
    /// New math, new evaluation.
    pub reset: AlarmReset,
}

/// The consumer's reserved concurrency for the new shard count. When it cannot be set, the
/// consumer keeps what it had and the failure is reported: upstream's fallback, deleting the
/// reservation, would lift a cap the user chose, or hand the reserved executions to others.
#[derive(Debug, Clone, PartialEq)]
pub struct ConcurrencyStep {
    pub function: String,
    pub reserved: u32,
}

/// Every call of a reshard, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct ScaleSteps {
    pub stream: String,
    /// Round 2: the reshard history with this reshard in it, written before the reshard so the
    /// budget never under-counts.
    pub history: String,
    /// Round 3: UpdateShardCount to this many open shards.
    pub to: u32,
    /// Rounds 4 and 5, in parallel with `concurrency`.
    pub rewrites: [AlarmRewrite; 2],
    pub concurrency: Option<ConcurrencyStep>,
}

/// The steps that carry out `plan`. `arn_of` gives an alarm's ARN by name, where known.
pub fn scale_steps(plan: &ScalePlan, arn_of: impl Fn(&str) -> Option<String>) -> ScaleSteps {
    let scaled_at = event::format_alarm_time(plan.scaled_at);
    let rewrite = |direction: Direction| {
        let (spec, partner) = match direction {
            Direction::Up => (&plan.alarms.scale_up, &plan.alarms.scale_down.name),
            Direction::Down => (&plan.alarms.scale_down, &plan.alarms.scale_up.name),
        };
        AlarmRewrite {
            spec: spec.clone(),
            arn: arn_of(&spec.name),
            tags: vec![
                (
                    TAG_SCALE_ACTION.to_string(),
                    direction.tag_value().to_string(),
                ),
                (TAG_COMPLIMENTARY_ALARM.to_string(), partner.clone()),
                (TAG_LAST_SCALED.to_string(), scaled_at.clone()),
            ],
            reset: AlarmReset {
                alarm: spec.name.clone(),
                state: ResetState::InsufficientData,
                reason: format!(
                    "Metric math and threshold value update for {} shards",
                    plan.to
                ),
            },
        }
    };
    ScaleSteps {
        stream: plan.stream.clone(),
        history: plan.history.encode(),
        to: plan.to,
        rewrites: [rewrite(Direction::Up), rewrite(Direction::Down)],
        concurrency: plan.concurrency.as_ref().map(|c| ConcurrencyStep {
            function: c.function.clone(),
            reserved: c.reserved,
        }),
    }
}

/// The triggering alarm back to OK: it goes to ALARM again, and notifies again, after its
/// evaluation periods if the load still calls for it.
pub fn fire_again(trigger: &Trigger, reason: String) -> AlarmReset {
    AlarmReset {
        alarm: trigger.alarm_name.clone(),
        state: ResetState::Ok,
        reason,
    }
}

/// Why the state a decision needs could not be gathered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GatherFailure {
    /// The stream (or an alarm) does not exist: firing again would fail again.
    NotFound,
    /// A tag we own or read is unusable: change nothing until a person fixes it.
    Unusable,
    /// A call failed in passing (throttled, timed out, refused for now).
    Passing,
    /// DescribeAlarms failed: the event is not confirmed, so nothing may change, not even the
    /// alarm's state (the reconcile resets an alarm left in ALARM).
    Unconfirmed,
}

/// After a failed gather: let the alarm fire again when the failure may pass and the event
/// was confirmed; an unconfirmed event, a missing resource or a bad tag changes nothing (the
/// latter two need a person), and neither does a dry run.
pub fn after_failed_gather(
    trigger: &Trigger,
    failure: GatherFailure,
    error: &str,
    dry_run: bool,
) -> Option<AlarmReset> {
    (failure == GatherFailure::Passing && !dry_run).then(|| {
        fire_again(
            trigger,
            format!("Scaling failed, the alarm will fire again: {error}"),
        )
    })
}

/// What writing the reshard history failed into: no reshard (the budget's record comes
/// first), the reason, and the alarm let fire again.
pub fn after_failed_record(trigger: &Trigger, error: &str) -> (String, AlarmReset) {
    let reason = format!(
        "could not record the reshard in the stream's history, so did not reshard: {error}"
    );
    let reset = fire_again(trigger, reason.clone());
    (reason, reset)
}

/// After an UpdateShardCount whose answer was lost (time-out, 5xx): does the stream show our
/// reshard? UPDATING right after our call, or already at the target, means it does.
pub fn shows_reshard(status: StreamStatus, open_shards: u32, target: u32) -> bool {
    status == StreamStatus::Updating || open_shards == target
}

/// How a failed UpdateShardCount ended, as far as the executor can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReshardError {
    /// ResourceInUseException: another reshard keeps the stream busy.
    Busy,
    /// AWS refused: surely nothing happened.
    Refused,
    /// It may have happened (time-out, 5xx) and the stream does not show it.
    Unknown,
}

impl ReshardError {
    /// From the error's code and whether AWS surely refused.
    pub fn classify(code: Option<&str>, surely_refused: bool) -> Self {
        match (code, surely_refused) {
            (Some("ResourceInUseException"), _) => ReshardError::Busy,
            (_, true) => ReshardError::Refused,
            (_, false) => ReshardError::Unknown,
        }
    }
}

/// What a failed reshard leaves to do.
#[derive(Debug, Clone, PartialEq)]
pub struct AfterFailedReshard {
    /// A busy stream is a refusal, not an error: no error metric.
    pub busy: bool,
    pub reason: String,
    /// Whether the failure counts as an error of the event.
    pub is_error: bool,
    /// Whether to take our history record back (see [`history_rollback`]).
    pub roll_back_history: bool,
    pub reset: AlarmReset,
}

/// After UpdateShardCount failed with `error` (its text in `message`).
///
/// A refusal surely changed nothing: take our record back. Not when the stream is busy: the
/// reshard that keeps it busy (a concurrent event's, whose record ours may have overwritten,
/// or one by hand, which AWS counts too) takes our record's place. After a time-out the
/// reshard may have happened, so the record stays as well: over-counting is the safe side.
pub fn after_failed_reshard(
    trigger: &Trigger,
    plan: &ScalePlan,
    error: ReshardError,
    message: &str,
) -> AfterFailedReshard {
    let busy = error == ReshardError::Busy;
    let reason = if busy {
        format!("stream is busy (ResourceInUseException); the alarm will fire again: {message}")
    } else {
        format!(
            "UpdateShardCount {} -> {} failed: {message}",
            plan.from, plan.to
        )
    };
    AfterFailedReshard {
        busy,
        is_error: !busy,
        roll_back_history: error == ReshardError::Refused,
        reset: fire_again(trigger, reason.clone()),
        reason,
    }
}

/// How to take our history record back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HistoryRollback {
    /// Someone wrote the tag since (or it is gone): theirs stands.
    Keep,
    /// There was no history before ours.
    Remove,
    /// Write the history as it was before ours.
    Restore(String),
}

/// Given our record (`ours`, encoded), the tag as it is now, and the history before ours.
pub fn history_rollback(
    ours: &str,
    current: Option<&str>,
    previous: &ReshardHistory,
) -> HistoryRollback {
    if current != Some(ours) {
        HistoryRollback::Keep
    } else if previous.times().is_empty() {
        HistoryRollback::Remove
    } else {
        HistoryRollback::Restore(previous.encode())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::alarms::{self, AlarmTarget, KeptFields};
    use crate::domain::event::AlarmPair;
    use crate::domain::policy::ConcurrencyChange;
    use crate::domain::settings::Settings;
    use chrono::{DateTime, Duration, Utc};

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).expect("a valid time")
    }

    fn trigger(direction: Direction) -> Trigger {
        let pair = AlarmPair::new("orders");
        Trigger {
            alarm_name: pair.name(direction),
            pair,
            direction,
            stream: "orders".into(),
            state_change_time: now() - Duration::minutes(1),
        }
    }

    fn plan(concurrency: bool) -> ScalePlan {
        let pair = AlarmPair::new("orders");
        let target = AlarmTarget {
            pair: &pair,
            stream: "orders",
            shards: 8,
            min_shards: 1,
            max_shards: 100,
        };
        let none = KeptFields::default();
        ScalePlan {
            stream: "orders".into(),
            direction: Direction::Up,
            from: 4,
            to: 8,
            scaled_at: now(),
            history: ReshardHistory::new(vec![now()]),
            alarms: alarms::build_pair(&Settings::default(), &target, None, &none, &none),
            concurrency: concurrency.then(|| ConcurrencyChange {
                function: "consumer".into(),
                reserved: 16,
            }),
        }
    }

    #[test]
    fn a_reshard_rewrites_both_alarms_with_partner_time_and_a_reset() {
        let steps = scale_steps(&plan(false), |name| {
            (name == "orders-scale-up").then(|| format!("arn:x:alarm:{name}"))
        });
        assert_eq!((steps.stream.as_str(), steps.to), ("orders", 8));
        assert_eq!(steps.history, ReshardHistory::new(vec![now()]).encode());
        let [up, down] = &steps.rewrites;
        assert_eq!(up.spec.name, "orders-scale-up");
        assert_eq!(up.arn.as_deref(), Some("arn:x:alarm:orders-scale-up"));
        assert_eq!(down.arn, None);
        let tag = |rewrite: &AlarmRewrite, key: &str| {
            rewrite
                .tags
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.clone())
        };
        assert_eq!(tag(up, TAG_SCALE_ACTION).as_deref(), Some("Up"));
        assert_eq!(tag(down, TAG_SCALE_ACTION).as_deref(), Some("Down"));
        assert_eq!(
            tag(up, TAG_COMPLIMENTARY_ALARM).as_deref(),
            Some("orders-scale-down")
        );
        let scaled = tag(down, TAG_LAST_SCALED).expect("the time of the reshard");
        assert_eq!(event::parse_alarm_time(&scaled), Some(now()));
        for rewrite in &steps.rewrites {
            assert_eq!(rewrite.reset.alarm, rewrite.spec.name);
            assert_eq!(rewrite.reset.state, ResetState::InsufficientData);
            assert!(rewrite.reset.reason.contains("8 shards"));
        }
        assert_eq!(steps.concurrency, None);
    }

    #[test]
    fn the_consumer_step_sets_shards_times_lambdas() {
        let steps = scale_steps(&plan(true), |_| None);
        assert_eq!(
            steps.concurrency,
            Some(ConcurrencyStep {
                function: "consumer".into(),
                reserved: 16,
            })
        );
    }

    #[test]
    fn only_a_passing_gather_failure_lets_the_alarm_fire_again() {
        let up = trigger(Direction::Up);
        let reset = after_failed_gather(&up, GatherFailure::Passing, "throttled", false)
            .expect("fires again");
        assert_eq!(
            (reset.alarm.as_str(), reset.state),
            ("orders-scale-up", ResetState::Ok)
        );
        assert!(reset.reason.contains("throttled"));
        for failure in [
            GatherFailure::NotFound,
            GatherFailure::Unusable,
            GatherFailure::Unconfirmed,
        ] {
            assert_eq!(after_failed_gather(&up, failure, "x", false), None);
        }
        assert_eq!(
            after_failed_gather(&up, GatherFailure::Passing, "x", true),
            None,
            "a dry run changes nothing"
        );
    }

    #[test]
    fn a_failed_record_fires_again_and_says_nothing_was_resharded() {
        let (reason, reset) = after_failed_record(&trigger(Direction::Down), "AccessDenied");
        assert!(reason.contains("did not reshard") && reason.contains("AccessDenied"));
        assert_eq!(
            (reset.alarm.as_str(), reset.state),
            ("orders-scale-down", ResetState::Ok)
        );
    }

    #[test]
    fn a_lost_answer_is_checked_against_the_stream() {
        assert!(shows_reshard(StreamStatus::Updating, 4, 8));
        assert!(shows_reshard(StreamStatus::Active, 8, 8));
        assert!(!shows_reshard(StreamStatus::Active, 4, 8));
    }

    #[test]
    fn reshard_errors_are_busy_refused_or_unknown() {
        use ReshardError::*;
        assert_eq!(
            ReshardError::classify(Some("ResourceInUseException"), true),
            Busy
        );
        assert_eq!(
            ReshardError::classify(Some("LimitExceededException"), true),
            Refused
        );
        assert_eq!(ReshardError::classify(None, false), Unknown);
    }

    #[test]
    fn a_busy_stream_is_a_refusal_that_keeps_the_record() {
        let after = after_failed_reshard(
            &trigger(Direction::Up),
            &plan(false),
            ReshardError::Busy,
            "in use",
        );
        assert!(after.busy && !after.is_error && !after.roll_back_history);
        assert!(after.reason.contains("busy"), "{}", after.reason);
        assert_eq!(after.reset.state, ResetState::Ok);
    }

    #[test]
    fn only_a_sure_refusal_takes_the_record_back() {
        let refused = after_failed_reshard(
            &trigger(Direction::Up),
            &plan(false),
            ReshardError::Refused,
            "AccessDenied",
        );
        assert!(!refused.busy && refused.is_error && refused.roll_back_history);
        assert!(refused.reason.contains("4 -> 8"), "{}", refused.reason);
        let unknown = after_failed_reshard(
            &trigger(Direction::Up),
            &plan(false),
            ReshardError::Unknown,
            "timed out",
        );
        assert!(unknown.is_error && !unknown.roll_back_history);
        assert_eq!(unknown.reset.alarm, "orders-scale-up");
    }

    #[test]
    fn the_rollback_leaves_a_newer_record_alone() {
        let before = ReshardHistory::new(vec![now() - Duration::hours(2)]);
        let ours = before.with_reshard(now()).encode();
        assert_eq!(
            history_rollback(&ours, Some("someone else's"), &before),
            HistoryRollback::Keep
        );
        assert_eq!(
            history_rollback(&ours, None, &before),
            HistoryRollback::Keep
        );
        assert_eq!(
            history_rollback(&ours, Some(&ours), &before),
            HistoryRollback::Restore(before.encode())
        );
        assert_eq!(
            history_rollback(&ours, Some(&ours), &ReshardHistory::default()),
            HistoryRollback::Remove
        );
    }
}
