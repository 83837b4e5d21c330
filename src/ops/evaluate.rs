//! The sized policy's reads: a stream's recent load from CloudWatch (GetMetricData), turned
//! into the [`Usage`] that [`crate::domain::sizing`] decides from. When the metrics cannot be
//! read (the upstream role denies GetMetricData; CloudWatch throttles), the decision falls
//! back to doubling/halving, and the reason is logged once per process, not on every event.

use crate::aws::AwsPort;
use crate::domain::settings::{ScalingPolicy, Settings};
use crate::domain::sizing::{self, Usage};
use chrono::{DateTime, Duration, Utc};
use std::sync::atomic::{AtomicBool, Ordering};

static FALLBACK_LOGGED: AtomicBool = AtomicBool::new(false);

/// The start of the period holding `t`, on CloudWatch's grid (multiples of the period).
fn floor_to(t: DateTime<Utc>, period_secs: i64) -> DateTime<Utc> {
    let secs = t.timestamp().div_euclid(period_secs) * period_secs;
    DateTime::from_timestamp(secs, 0).unwrap_or(t)
}

/// The window the sized policy reads: its longest look-back, ending with the last whole
/// period before `now` (a period still in progress would look like a drop in load).
pub fn usage_window(settings: &Settings, now: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
    let period = i64::from(settings.period_mins.max(1)) * 60;
    let end = floor_to(now, period);
    let start = floor_to(
        end - Duration::minutes(sizing::history_mins(&settings.sizing)),
        period,
    );
    (start, end)
}

/// The stream's recent load, or `None` when the policy does not use it or it cannot be read.
pub async fn read_usage<P: AwsPort>(
    aws: &P,
    settings: &Settings,
    stream: &str,
    now: DateTime<Utc>,
) -> Option<Usage<'static>> {
    if settings.scaling_policy != ScalingPolicy::Sized {
        return None;
    }
    let period = settings.period_mins.max(1) * 60;
    let (start, end) = usage_window(settings, now);
    match aws.incoming_metrics(stream, start, end, period).await {
        Ok(points) => {
            let sums: Vec<_> = points
                .iter()
                .map(|p| (p.start, p.bytes, p.records))
                .collect();
            Some(Usage::from_sums(i64::from(period), start, end, &sums))
        }
        Err(err) => {
            if !FALLBACK_LOGGED.swap(true, Ordering::Relaxed) {
                tracing::warn!(
                    stream = %stream,
                    error = %err,
                    "SCALING_POLICY=sized cannot read the stream's metrics (GetMetricData); deciding by doubling/halving until it can (logged once)"
                );
            }
            None
        }
    }
}
