//! The `status` command: where each managed stream stands (shards, both alarms, the count
//! their math is written for, the last reshard, the daily budget, the consumer), and which
//! streams are managed at all (those with a `<stream>-scale-up` alarm on their metrics).

use crate::aws::{AwsPort, ExistingAlarm};
use crate::domain::alarms::{self, AlarmSpec, AlarmTarget};
use crate::domain::event::{AlarmPair, Direction, SCALE_UP_SUFFIX};
use crate::domain::history::ReshardHistory;
use crate::domain::policy::{StreamMode, StreamStatus};
use crate::domain::settings::{tag, Settings};
use crate::ops::wiring::{desired_pair, same_definition, stream_error, WiringError};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::{BTreeSet, HashMap};

/// The streams that have a `<stream>-scale-up` alarm watching the stream of that name.
pub async fn managed_streams(aws: &impl AwsPort) -> Result<Vec<String>, WiringError> {
    let alarms = aws.alarms_with_prefix("").await?;
    Ok(managed_streams_of(alarms.iter().map(|a| &a.spec)))
}

pub fn managed_streams_of<'a>(specs: impl IntoIterator<Item = &'a AlarmSpec>) -> Vec<String> {
    specs
        .into_iter()
        .filter_map(|spec| {
            let prefix = spec.name.strip_suffix(SCALE_UP_SUFFIX)?;
            (!prefix.is_empty() && spec.stream() == Some(prefix)).then(|| prefix.to_string())
        })
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlarmStatus {
    pub name: String,
    pub state: String,
    pub threshold: f64,
    /// The shard count the math is written for (`s1`).
    pub s1: Option<u32>,
    pub disarmed: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LastReshardSource {
    /// The stream's `AutoscalerReshardHistory` tag.
    History,
    /// The alarms' `LastScaledTimestamp` tag.
    AlarmTag,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StreamReport {
    pub stream: String,
    pub shards: u32,
    pub mode: StreamMode,
    pub status: StreamStatus,
    pub min_shards: Option<u32>,
    pub max_shards: Option<u32>,
    pub scale_up: Option<AlarmStatus>,
    pub scale_down: Option<AlarmStatus>,
    pub last_reshard: Option<DateTime<Utc>>,
    pub last_reshard_source: Option<LastReshardSource>,
    pub reshards_used: Option<u32>,
    pub reshards_left: Option<u32>,
    pub max_reshards_per_day: u32,
    pub consumer_function: Option<String>,
    pub consumer_reserved_concurrency: Option<u32>,
    /// The daily tuning in force (`AutoscalerTuned`): the chosen set and its parameters, the
    /// day, whether the budget was met on the history, and the advice where it was not.
    pub tuned: Option<crate::domain::tuned::TunedTag>,
    /// The stream's own tags over the tuning (`AutoscalerScalingPolicy`,
    /// `AutoscalerTargetUsage`), as they are set.
    pub overrides: Vec<String>,
    /// Where the alarms are not what the Lambda would write for the stream as it is.
    pub drift: Vec<String>,
    /// What could not be read (bad tags, a missing consumer function...).
    pub problems: Vec<String>,
}

impl StreamReport {
    pub fn in_drift(&self) -> bool {
        !self.drift.is_empty()
    }
}

fn alarm_status(alarm: &ExistingAlarm) -> AlarmStatus {
    AlarmStatus {
        name: alarm.spec.name.clone(),
        state: alarm.state.clone(),
        threshold: alarm.spec.threshold,
        s1: alarm.spec.shard_count(),
        disarmed: alarm.spec.is_disarmed(),
    }
}

/// The last reshard: the history's, else the latest of the alarms' `LastScaledTimestamp`
/// (an alarm whose tags cannot be read is a problem).
async fn last_reshard(
    aws: &impl AwsPort,
    history: Option<&ReshardHistory>,
    existing: &HashMap<String, ExistingAlarm>,
    problems: &mut Vec<String>,
) -> (Option<DateTime<Utc>>, Option<LastReshardSource>) {
    if let Some(last) = history.and_then(ReshardHistory::last) {
        return (Some(last), Some(LastReshardSource::History));
    }
    let mut latest = (None, None);
    for alarm in existing.values() {
        match aws.alarm_tags(&alarm.arn).await {
            Ok(alarm_tags) => {
                // Unreadable: as if unset (`status` reports, the Lambda's gather refuses).
                let scaled = alarms::last_scaled(&alarm_tags).ok().flatten();
                if scaled > latest.0 {
                    latest = (scaled, Some(LastReshardSource::AlarmTag));
                }
            }
            Err(err) => problems.push(err.to_string()),
        }
    }
    latest
}

/// The alarms of the pair whose definition differs from what `wire` and the Lambda would
/// write for `target` now.
fn definition_drift(
    settings: &Settings,
    target: &AlarmTarget,
    existing: &HashMap<String, ExistingAlarm>,
) -> Vec<String> {
    let desired = desired_pair(settings, target, None, existing);
    [&desired.scale_up, &desired.scale_down]
        .into_iter()
        .filter(|spec| {
            existing
                .get(&spec.name)
                .is_some_and(|current| !same_definition(&current.spec, spec))
        })
        .map(|spec| {
            format!(
                "{} differs from what `wire` and the Lambda would write",
                spec.name
            )
        })
        .collect()
}

/// The consumer's reserved concurrency (one that cannot be read is a problem).
async fn reserved_concurrency(
    aws: &impl AwsPort,
    function: Option<&str>,
    problems: &mut Vec<String>,
) -> Option<u32> {
    match aws.function_concurrency(function?).await {
        Ok(reserved) => reserved,
        Err(err) => {
            problems.push(err.to_string());
            None
        }
    }
}

/// Where one stream stands. A stream that cannot be described is an error; anything else
/// that cannot be read is reported in `problems`.
pub async fn stream_status(
    aws: &impl AwsPort,
    settings: &Settings,
    stream: &str,
    now: DateTime<Utc>,
) -> Result<StreamReport, WiringError> {
    let pair = AlarmPair::new(stream);
    let names = [pair.name(Direction::Up), pair.name(Direction::Down)];
    let (summary, tags, existing) = tokio::join!(
        aws.stream_summary(stream),
        aws.stream_tags(stream),
        aws.describe_alarms(&names)
    );
    let summary = summary.map_err(|e| stream_error(stream, e))?;
    let tags = tags.map_err(|e| stream_error(stream, e))?;
    let existing = existing?;
    let mut problems = Vec::new();
    let mut drift = Vec::new();

    let stream_settings = match settings.for_stream(stream, &tags) {
        Ok(s) => Some(s),
        Err(err) => {
            problems.push(err.to_string());
            None
        }
    };
    let history = match tags.get(tag::RESHARD_HISTORY) {
        None => Some(ReshardHistory::default()),
        Some(value) => match ReshardHistory::parse(stream, value) {
            Ok(h) => Some(h),
            Err(err) => {
                problems.push(err.to_string());
                None
            }
        },
    };

    let (last_reshard, last_reshard_source) =
        last_reshard(aws, history.as_ref(), &existing, &mut problems).await;
    let scale_up = existing.get(&names[0]).map(alarm_status);
    let scale_down = existing.get(&names[1]).map(alarm_status);
    for (name, status) in [(&names[0], &scale_up), (&names[1], &scale_down)] {
        match status {
            None => drift.push(format!("{name} is missing")),
            Some(AlarmStatus { s1, .. }) if *s1 != Some(summary.open_shards) => {
                let written_for = s1.map_or("an unknown count".to_string(), |n| n.to_string());
                drift.push(format!(
                    "{name} is written for {written_for} shards, the stream has {}",
                    summary.open_shards
                ));
            }
            Some(_) => {}
        }
    }
    // Beyond s1: does the rest of the definition match what the Lambda would write now?
    if let (Some(limits), Some(_), Some(_)) = (&stream_settings, &scale_up, &scale_down) {
        if drift.is_empty() && summary.mode == StreamMode::Provisioned {
            let target = AlarmTarget::for_stream(&pair, stream, summary.open_shards, limits);
            drift.extend(definition_drift(settings, &target, &existing));
        }
    }
    if !settings.manages(stream) {
        problems.push(format!(
            "stream {stream} is outside MANAGED_STREAM_PREFIX {:?}: the Lambda ignores its alarms",
            settings.managed_stream_prefix
        ));
    }
    if summary.mode == StreamMode::OnDemand && (scale_up.is_some() || scale_down.is_some()) {
        problems.push(format!(
            "stream {stream} is ON_DEMAND: its scaling alarms are refused by the Lambda; unwire it"
        ));
    }

    let consumer_function = stream_settings
        .as_ref()
        .and_then(|s| s.consumer_function.clone());
    let consumer_reserved_concurrency =
        reserved_concurrency(aws, consumer_function.as_deref(), &mut problems).await;
    let budget = history.as_ref().map(|h| settings.budget(h, now));
    let policy = settings.policy_for_stream(stream, &tags);
    problems.extend(policy.problems);
    let overrides = [tag::SCALING_POLICY, tag::TARGET_USAGE]
        .into_iter()
        .filter_map(|key| Some(format!("{key}={}", tags.get(key)?)))
        .collect();
    Ok(StreamReport {
        stream: stream.to_string(),
        shards: summary.open_shards,
        mode: summary.mode,
        status: summary.status,
        min_shards: stream_settings.as_ref().map(|s| s.min_shards),
        max_shards: stream_settings.as_ref().map(|s| s.max_shards),
        scale_up,
        scale_down,
        last_reshard,
        last_reshard_source,
        reshards_used: budget.map(|b| b.used),
        reshards_left: budget.map(|b| b.left()),
        max_reshards_per_day: settings.max_reshards_per_day,
        consumer_function,
        consumer_reserved_concurrency,
        tuned: policy.tuned,
        overrides,
        drift,
        problems,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::wiring::tests::spec;

    #[test]
    fn managed_streams_need_a_matching_dimension() {
        let specs = [
            spec("orders-scale-up", "orders"),
            spec("orders-scale-down", "orders"),
            spec("clicks-scale-up", "other"),
            spec("orders-scale-up", "orders"),
            spec("-scale-up", ""),
        ];
        assert_eq!(managed_streams_of(&specs), ["orders"]);
    }
}
