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
        plan: ScalePlan,
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
            plan: policy::scale_plan(pair, None, observed, settings, to, now),
            why,
        },
        sizing::Move::Hold(hold) => Evaluation::Skip(Skip::Hold(hold)),
    }
}
