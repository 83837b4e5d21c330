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

/// An alarm notification that asks for a reshard: first as the message claims it
/// ([`triage`]), then as CloudWatch confirms it ([`crate::domain::confirm`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Trigger {
    pub pair: AlarmPair,
    pub direction: Direction,
    pub alarm_name: String,
    pub stream: String,
    pub state_change_time: DateTime<Utc>,
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
    #[error("SCALING_POLICY=sized holds at {shards} shards: {hold}")]
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
            hold @ (sizing::Hold::Fits
            | sizing::Hold::RecurringLoad { .. }
            | sizing::Hold::ConsumersBehind { .. }),
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
            None,
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

    Decision::Scale(scale_plan(&trigger.pair, observed, settings, to, now))
}

/// The complete plan of a reshard of the observed stream to `to` at `now`: the history with
/// it, both alarms rewritten for `to` (keeping their own actions), and the consumer's
/// concurrency.
pub fn scale_plan(
    pair: &AlarmPair,
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
            None,
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
        lag_limit_mins: lag_limit_mins(settings),
    }
}

/// `SCALE_DOWN_MIN_ITER_AGE_MINS` as the lag guard's limit: `None` when negative (off), as
/// the scale-down alarm's `e5` term is then negative and never holds the alarm.
pub fn lag_limit_mins(settings: &Settings) -> Option<f64> {
    (settings.scale_down_min_iter_age_mins > 0)
        .then_some(settings.scale_down_min_iter_age_mins as f64)
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
#[path = "policy_tests.rs"]
mod tests;
