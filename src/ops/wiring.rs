//! The `wire` and `unwire` commands: connecting a stream to the autoscaler by writing its
//! alarm pair, and disconnecting it (`status.rs` shows where each managed stream stands).
//!
//! `wire` writes exactly what the Lambda writes after a reshard: the same builder
//! ([`alarms::build_pair`]) at the stream's current open shard count, with the same settings
//! (the Lambda's environment variables), keeping what the Lambda keeps of existing alarms. So
//! a freshly wired pair and a rewritten pair at the same count are the same alarms, and wiring
//! again changes nothing.

use crate::aws::{AwsError, AwsPort, ExistingAlarm};
use crate::domain::alarms::{
    self, AlarmPairSpec, AlarmSpec, AlarmTarget, KeptFields, TAG_COMPLIMENTARY_ALARM,
    TAG_SCALE_ACTION,
};
use crate::domain::event::{AlarmPair, Direction};
use crate::domain::history::HistoryError;
use crate::domain::policy::{StreamMode, StreamStatus};
use crate::domain::settings::{
    tag, Settings, SettingsError, StreamTagError, MAX_LAMBDAS_PER_SHARD, STREAM_SHARD_CAP,
};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

#[derive(Debug, thiserror::Error)]
pub enum WiringError {
    #[error("stream {stream} does not exist")]
    NoSuchStream { stream: String },
    #[error("stream {stream} is ON_DEMAND: Kinesis scales it by itself, so it gets no scaling alarms (switch it to PROVISIONED first)")]
    OnDemand { stream: String },
    #[error("stream {stream} is {status}: wire it again once it is ACTIVE (its open shard count may be about to change)")]
    NotActive { stream: String, status: String },
    #[error("stream {stream} is outside MANAGED_STREAM_PREFIX {prefix:?}: the Lambda would ignore its alarms (and its IAM policy does not reach it)")]
    NotManaged { stream: String, prefix: String },
    #[error("stream {stream}: no topic for the alarms: pass --topic-arn (or set KINESIS_AUTOSCALER_TOPIC_ARN); without one, wire reuses the actions of an existing alarm of the pair, and {stream} has none")]
    NoTopic { stream: String },
    #[error("{flag} {value:?} is invalid: expected {expected}")]
    InvalidFlag {
        flag: &'static str,
        value: String,
        expected: String,
    },
    #[error(transparent)]
    StreamTag(#[from] StreamTagError),
    #[error(transparent)]
    History(#[from] HistoryError),
    #[error(transparent)]
    Aws(#[from] AwsError),
    #[error("invalid settings: {0}")]
    Settings(#[from] SettingsError),
    #[error("cannot write the output: {0}")]
    Output(String),
}

/// Maps "the stream is not there" to an error that says so; other failures stay as they are.
pub(crate) fn stream_error(stream: &str, err: AwsError) -> WiringError {
    if err.is("ResourceNotFoundException") {
        WiringError::NoSuchStream {
            stream: stream.to_string(),
        }
    } else {
        WiringError::Aws(err)
    }
}

// ---- wire ---------------------------------------------------------------------------------

/// Per-stream settings given on the command line, written as stream tags.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StreamTagFlags {
    pub min_shards: Option<u32>,
    pub max_shards: Option<u32>,
    pub consumer_function: Option<String>,
    pub lambdas_per_shard: Option<u32>,
}

impl StreamTagFlags {
    /// The tags the flags ask for, validated the way the Lambda validates the tags.
    pub fn tags(&self) -> Result<BTreeMap<String, String>, WiringError> {
        let shards = |flag: &'static str, value: Option<u32>| match value {
            Some(v) if !(1..=STREAM_SHARD_CAP).contains(&v) => Err(WiringError::InvalidFlag {
                flag,
                value: v.to_string(),
                expected: format!("a whole number of shards from 1 to {STREAM_SHARD_CAP}"),
            }),
            _ => Ok(value),
        };
        let min = shards("--min-shards", self.min_shards)?;
        let max = shards("--max-shards", self.max_shards)?;
        if let (Some(min), Some(max)) = (min, max) {
            if min > max {
                return Err(WiringError::InvalidFlag {
                    flag: "--min-shards",
                    value: min.to_string(),
                    expected: format!("at most --max-shards ({max})"),
                });
            }
        }
        if let Some(n) = self
            .lambdas_per_shard
            .filter(|n| !(1..=MAX_LAMBDAS_PER_SHARD).contains(n))
        {
            return Err(WiringError::InvalidFlag {
                flag: "--lambdas-per-shard",
                value: n.to_string(),
                expected: "a whole number from 1 to 10".into(),
            });
        }
        let consumer = match self.consumer_function.as_deref().map(str::trim) {
            Some("") => {
                return Err(WiringError::InvalidFlag {
                    flag: "--consumer-function",
                    value: String::new(),
                    expected: "a function name or ARN".into(),
                })
            }
            other => other.map(str::to_string),
        };
        let mut tags = BTreeMap::new();
        let mut put = |key: &str, value: Option<String>| {
            if let Some(value) = value {
                tags.insert(key.to_string(), value);
            }
        };
        put(tag::MIN_SHARDS, min.map(|v| v.to_string()));
        put(tag::MAX_SHARDS, max.map(|v| v.to_string()));
        put(tag::CONSUMER_FUNCTION, consumer);
        put(
            tag::LAMBDAS_PER_SHARD,
            self.lambdas_per_shard.map(|v| v.to_string()),
        );
        Ok(tags)
    }
}

/// The `--topic-arn` value for a stack whose alarms reach the function through an EventBridge
/// rule: the alarms need no action.
pub const EVENTBRIDGE_TRIGGER: &str = "eventbridge";

#[derive(Debug, Clone, Default, PartialEq)]
pub struct WireOptions {
    /// The alarm action that invokes the Lambda: its SNS topic, the function's own ARN (a
    /// direct alarm action), or [`EVENTBRIDGE_TRIGGER`]; `None` reuses an existing alarm's
    /// actions.
    pub topic_arn: Option<String>,
    pub dry_run: bool,
    pub stream_tags: StreamTagFlags,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    Created,
    Updated,
    Unchanged,
}

impl Change {
    pub fn as_str(self) -> &'static str {
        match self {
            Change::Created => "created",
            Change::Updated => "updated",
            Change::Unchanged => "unchanged",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlarmChange {
    pub name: String,
    pub change: Change,
    /// Whether the definition (as opposed to only the tags) is written.
    pub definition_written: bool,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub tags_written: BTreeMap<String, String>,
    /// In a dry run, the definition that would be written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub definition: Option<AlarmSpec>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WireReport {
    pub stream: String,
    pub shards: u32,
    pub dry_run: bool,
    pub alarms: Vec<AlarmChange>,
    /// Stream tags written (or, in a dry run, that would be).
    pub stream_tags_written: BTreeMap<String, String>,
}

impl WireReport {
    pub fn unchanged(&self) -> bool {
        self.stream_tags_written.is_empty()
            && self.alarms.iter().all(|a| a.change == Change::Unchanged)
    }

    /// One line for people.
    pub fn summary(&self) -> String {
        let verb = if self.dry_run { "would be " } else { "" };
        let alarms = self
            .alarms
            .iter()
            .map(|a| match (a.change, a.definition_written) {
                (Change::Updated, false) => format!("{} {verb}updated (tags only)", a.name),
                (change, _) => format!("{} {verb}{}", a.name, change.as_str()),
            })
            .collect::<Vec<_>>()
            .join(", ");
        let mut line = format!("{} ({} shards): {alarms}", self.stream, self.shards);
        if !self.stream_tags_written.is_empty() {
            let tags = self
                .stream_tags_written
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(" ");
            let _ = write!(line, "; stream tags {verb}written: {tags}");
        }
        line
    }
}

/// The alarm tags `wire` and the Lambda's rewrite agree on (the rewrite adds
/// `LastScaledTimestamp`).
pub fn alarm_tags_for(direction: Direction, pair: &AlarmPair) -> BTreeMap<String, String> {
    let partner = match direction {
        Direction::Up => pair.name(Direction::Down),
        Direction::Down => pair.name(Direction::Up),
    };
    BTreeMap::from([
        (
            TAG_SCALE_ACTION.to_string(),
            direction.tag_value().to_string(),
        ),
        (TAG_COMPLIMENTARY_ALARM.to_string(), partner),
    ])
}

/// Whether an existing alarm already is the desired one.
pub fn same_definition(existing: &AlarmSpec, desired: &AlarmSpec) -> bool {
    existing == desired
}

/// The stream tags among `wanted` whose value differs from `current`.
pub fn tags_to_write(
    current: &HashMap<String, String>,
    wanted: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    wanted
        .iter()
        .filter(|(k, v)| current.get(*k) != Some(*v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// The alarm pair as the Lambda would write it for `shards`: what `wire` writes.
pub fn desired_pair(
    settings: &Settings,
    target: &AlarmTarget,
    topic_arn: Option<&str>,
    existing: &HashMap<String, ExistingAlarm>,
) -> AlarmPairSpec {
    let pair = target.pair;
    let kept = |direction: Direction| {
        existing
            .get(&pair.name(direction))
            .map(ExistingAlarm::kept)
            .unwrap_or_default()
    };
    let (mut kept_up, mut kept_down) = (kept(Direction::Up), kept(Direction::Down));
    // Without a topic, a missing alarm of the pair publishes where its partner does.
    if topic_arn.is_none() {
        let up_exists = existing.contains_key(&pair.name(Direction::Up));
        let down_exists = existing.contains_key(&pair.name(Direction::Down));
        if up_exists && !down_exists {
            kept_down = KeptFields {
                alarm_actions: kept_up.alarm_actions.clone(),
                ..KeptFields::default()
            };
        } else if down_exists && !up_exists {
            kept_up = KeptFields {
                alarm_actions: kept_down.alarm_actions.clone(),
                ..KeptFields::default()
            };
        }
    }
    alarms::build_pair(settings, target, topic_arn, &kept_up, &kept_down)
}

/// Wires one stream: writes its stream tags (from the flags) and both alarms, each only if
/// it differs from what is there. With `dry_run`, reads and reports but writes nothing.
pub async fn wire_stream(
    aws: &impl AwsPort,
    settings: &Settings,
    stream: &str,
    options: &WireOptions,
) -> Result<WireReport, WiringError> {
    let wanted_tags = options.stream_tags.tags()?;
    if !settings.manages(stream) {
        return Err(WiringError::NotManaged {
            stream: stream.to_string(),
            prefix: settings.managed_stream_prefix.clone(),
        });
    }
    let pair = AlarmPair::new(stream);
    let names = [pair.name(Direction::Up), pair.name(Direction::Down)];
    let (summary, current_tags, existing) = tokio::join!(
        aws.stream_summary(stream),
        aws.stream_tags(stream),
        aws.describe_alarms(&names)
    );
    let summary = summary.map_err(|e| stream_error(stream, e))?;
    let current_tags = current_tags.map_err(|e| stream_error(stream, e))?;
    let existing = existing?;
    if summary.mode == StreamMode::OnDemand {
        return Err(WiringError::OnDemand {
            stream: stream.to_string(),
        });
    }
    if summary.status != StreamStatus::Active {
        return Err(WiringError::NotActive {
            stream: stream.to_string(),
            status: enum_name(&summary.status),
        });
    }

    // The settings the stream will have once the flags are written, checked before writing.
    let stream_tags_written = tags_to_write(&current_tags, &wanted_tags);
    let mut merged = current_tags.clone();
    merged.extend(stream_tags_written.clone());
    let stream_settings = settings.for_stream(stream, &merged)?;

    // The alarm action is the trigger the stack chose: its SNS topic, the function itself
    // (a direct alarm action), or none for an EventBridge rule (`--topic-arn eventbridge`).
    let action = options
        .topic_arn
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty());
    let eventbridge = action == Some(EVENTBRIDGE_TRIGGER);
    let topic = action.filter(|_| !eventbridge);
    let target = AlarmTarget {
        pair: &pair,
        stream,
        shards: summary.open_shards,
        min_shards: stream_settings.min_shards,
        max_shards: stream_settings.max_shards.min(STREAM_SHARD_CAP),
    };
    let desired = desired_pair(settings, &target, topic, &existing);
    if !eventbridge
        && (desired.scale_up.alarm_actions.is_empty()
            || desired.scale_down.alarm_actions.is_empty())
    {
        return Err(WiringError::NoTopic {
            stream: stream.to_string(),
        });
    }

    // What to write for each alarm.
    let mut plans = Vec::new();
    for (direction, spec) in [
        (Direction::Up, &desired.scale_up),
        (Direction::Down, &desired.scale_down),
    ] {
        let tags = alarm_tags_for(direction, &pair);
        let plan = match existing.get(&spec.name) {
            None => (spec, None, Change::Created, true, tags),
            Some(current) => {
                let current_tags = aws.alarm_tags(&current.arn).await?;
                let missing: BTreeMap<_, _> = tags
                    .into_iter()
                    .filter(|(k, v)| current_tags.get(k) != Some(v))
                    .collect();
                let rewrite = !same_definition(&current.spec, spec);
                let change = if rewrite || !missing.is_empty() {
                    Change::Updated
                } else {
                    Change::Unchanged
                };
                (spec, Some(current.arn.clone()), change, rewrite, missing)
            }
        };
        plans.push(plan);
    }

    if !options.dry_run {
        for (key, value) in &stream_tags_written {
            aws.tag_stream(stream, key, value)
                .await
                .map_err(|e| stream_error(stream, e))?;
        }
        for (spec, arn, change, rewrite, tags) in &plans {
            let tags: Vec<(String, String)> =
                tags.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            if *rewrite {
                aws.put_alarm(spec, &tags).await?;
            }
            if let (Some(arn), Change::Updated, false) = (arn, change, tags.is_empty()) {
                aws.tag_alarm(arn, &tags).await?;
            }
        }
    }

    Ok(WireReport {
        stream: stream.to_string(),
        shards: summary.open_shards,
        dry_run: options.dry_run,
        alarms: plans
            .into_iter()
            .map(|(spec, _, change, rewrite, tags)| AlarmChange {
                name: spec.name.clone(),
                change,
                definition_written: rewrite,
                tags_written: tags,
                definition: (options.dry_run && rewrite).then(|| spec.clone()),
            })
            .collect(),
        stream_tags_written,
    })
}

pub fn enum_name<T: Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

// ---- unwire -------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Removal {
    Deleted,
    AlreadyAbsent,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UnwireReport {
    pub stream: String,
    /// Nothing was deleted: the report says what would have been.
    pub dry_run: bool,
    pub alarms: BTreeMap<String, Removal>,
    /// Stream tags removed (only with `remove_tags`).
    pub stream_tags_removed: Vec<String>,
}

impl UnwireReport {
    pub fn summary(&self) -> String {
        let alarms = self
            .alarms
            .iter()
            .map(|(name, removal)| match removal {
                Removal::Deleted if self.dry_run => format!("{name} would be deleted"),
                Removal::Deleted => format!("{name} deleted"),
                Removal::AlreadyAbsent => format!("{name} already absent"),
            })
            .collect::<Vec<_>>()
            .join(", ");
        let mut line = format!("{}: {alarms}", self.stream);
        if !self.stream_tags_removed.is_empty() {
            let _ = write!(
                line,
                "; stream tags {}: {}",
                if self.dry_run { "to remove" } else { "removed" },
                self.stream_tags_removed.join(" ")
            );
        }
        line
    }
}

/// The stream tags the autoscaler reads or writes; `unwire --remove-tags` removes them.
pub const OUR_STREAM_TAGS: [&str; 5] = [
    tag::RESHARD_HISTORY,
    tag::MIN_SHARDS,
    tag::MAX_SHARDS,
    tag::CONSUMER_FUNCTION,
    tag::LAMBDAS_PER_SHARD,
];

/// Deletes the stream's alarm pair (and, with `remove_tags`, our stream tags). The stream
/// need not exist unless tags are to be removed. With `dry_run` it only reads, and reports
/// what it would delete.
pub async fn unwire_stream(
    aws: &impl AwsPort,
    stream: &str,
    remove_tags: bool,
    dry_run: bool,
) -> Result<UnwireReport, WiringError> {
    let pair = AlarmPair::new(stream);
    let names = vec![pair.name(Direction::Up), pair.name(Direction::Down)];
    let existing = aws.describe_alarms(&names).await?;
    let present: Vec<String> = names
        .iter()
        .filter(|n| existing.contains_key(*n))
        .cloned()
        .collect();
    if !present.is_empty() && !dry_run {
        aws.delete_alarms(&present).await?;
    }
    let mut stream_tags_removed = Vec::new();
    if remove_tags {
        let tags = aws
            .stream_tags(stream)
            .await
            .map_err(|e| stream_error(stream, e))?;
        for key in OUR_STREAM_TAGS {
            if tags.contains_key(key) {
                if !dry_run {
                    aws.untag_stream(stream, key)
                        .await
                        .map_err(|e| stream_error(stream, e))?;
                }
                stream_tags_removed.push(key.to_string());
            }
        }
    }
    Ok(UnwireReport {
        stream: stream.to_string(),
        dry_run,
        alarms: names
            .into_iter()
            .map(|n| {
                let removal = if existing.contains_key(&n) {
                    Removal::Deleted
                } else {
                    Removal::AlreadyAbsent
                };
                (n, removal)
            })
            .collect(),
        stream_tags_removed,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A scale-up alarm named `name` on `stream`'s metrics (also used by `status`'s tests).
    pub(crate) fn spec(name: &str, stream: &str) -> AlarmSpec {
        let pair = AlarmPair::new(stream);
        let mut spec = alarms::build(
            Direction::Up,
            &Settings::default(),
            &AlarmTarget {
                pair: &pair,
                stream,
                shards: 2,
                min_shards: 1,
                max_shards: 10,
            },
            Some("arn:topic"),
            &KeptFields::default(),
        );
        spec.name = name.to_string();
        spec
    }

    #[test]
    fn flags_become_validated_tags() {
        let flags = StreamTagFlags {
            min_shards: Some(2),
            max_shards: Some(64),
            consumer_function: Some(" consumer ".into()),
            lambdas_per_shard: Some(3),
        };
        let tags = flags.tags().unwrap();
        assert_eq!(tags[tag::MIN_SHARDS], "2");
        assert_eq!(tags[tag::MAX_SHARDS], "64");
        assert_eq!(tags[tag::CONSUMER_FUNCTION], "consumer");
        assert_eq!(tags[tag::LAMBDAS_PER_SHARD], "3");
        assert!(StreamTagFlags::default().tags().unwrap().is_empty());
        for bad in [
            StreamTagFlags {
                min_shards: Some(0),
                ..Default::default()
            },
            StreamTagFlags {
                max_shards: Some(10_001),
                ..Default::default()
            },
            StreamTagFlags {
                min_shards: Some(8),
                max_shards: Some(4),
                ..Default::default()
            },
            StreamTagFlags {
                lambdas_per_shard: Some(0),
                ..Default::default()
            },
            StreamTagFlags {
                consumer_function: Some("  ".into()),
                ..Default::default()
            },
        ] {
            let err = bad.tags().unwrap_err();
            assert!(err.to_string().contains("--"), "{err}");
        }
    }

    #[test]
    fn only_differing_tags_are_written() {
        let current = HashMap::from([(tag::MIN_SHARDS.to_string(), "2".to_string())]);
        let wanted = BTreeMap::from([
            (tag::MIN_SHARDS.to_string(), "2".to_string()),
            (tag::MAX_SHARDS.to_string(), "8".to_string()),
        ]);
        assert_eq!(
            tags_to_write(&current, &wanted),
            BTreeMap::from([(tag::MAX_SHARDS.to_string(), "8".to_string())])
        );
    }

    #[test]
    fn a_missing_alarm_reuses_its_partners_actions_without_a_topic() {
        let pair = AlarmPair::new("orders");
        let mut up = spec("orders-scale-up", "orders");
        up.alarm_actions = vec!["arn:topic".into(), "arn:pager".into()];
        let existing = HashMap::from([(
            up.name.clone(),
            ExistingAlarm {
                arn: "arn:alarm".into(),
                state: "OK".into(),
                state_since: None,
                spec: up,
            },
        )]);
        let target = AlarmTarget {
            pair: &pair,
            stream: "orders",
            shards: 2,
            min_shards: 1,
            max_shards: 10,
        };
        let desired = desired_pair(&Settings::default(), &target, None, &existing);
        assert_eq!(desired.scale_down.alarm_actions, ["arn:topic", "arn:pager"]);
        let none = desired_pair(&Settings::default(), &target, None, &HashMap::new());
        assert!(none.scale_up.alarm_actions.is_empty());
    }
}
