//! Self-healing: bring every managed stream's alarms and consumer concurrency back in line
//! with its real open shard count, whatever happened (a reshard by hand, a rewrite that failed
//! half-way, an alarm left in ALARM by a lost event). Runs from the CLI and, on a schedule,
//! in the Lambda. It changes nothing that is already right, and with `dry_run` nothing at all.
//!
//! The alarm half is `wire` at the current count (one builder, one comparison:
//! [`wiring::desired_pair`]), so a reconciled alarm is exactly what the Lambda would have
//! written.
//!
//! Two ways of reading: named streams are read one by one ([`reconcile_named`]); the whole fleet is
//! read in pages and bulk calls ([`super::fleet`]). Both end in a [`StreamView`], which
//! [`plan_stream`] turns into the writes, and [`apply`] makes them. Reconcile never reshards.

use crate::aws::{AwsError, AwsPort, ExistingAlarm};
use crate::domain::alarms::{AlarmSpec, AlarmTarget};
use crate::domain::event::{AlarmPair, Direction};
use crate::domain::policy::{StreamMode, StreamStatus};
use crate::domain::settings::Settings;
use crate::ops::wiring::{self, Change, WiringError};
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FixKind {
    AlarmCreated,
    AlarmDefinition,
    AlarmTags,
    ConsumerConcurrency,
    StuckAlarm,
    /// The stream was deleted; its alarm is removed (auto-wire only).
    AlarmDeleted,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Fix {
    pub kind: FixKind,
    pub target: String,
    pub detail: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StreamVerdict {
    /// Everything matched.
    InLine,
    /// Drift was found (and fixed, unless this was a dry run).
    Drifted,
    /// Not ours to fix now (ignored): deleted, ON_DEMAND, or resharding.
    Ignored,
    /// Reading or fixing failed; see `error`.
    Failed,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StreamReconcile {
    pub stream: String,
    pub verdict: StreamVerdict,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shards: Option<u32>,
    pub fixes: Vec<Fix>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReconcileReport {
    pub dry_run: bool,
    pub streams: Vec<StreamReconcile>,
    /// Set when the run stopped at its deadline: the next run starts after this stream.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resume_after: Option<String>,
    /// Managed streams the run did not reach (stopped at its deadline).
    #[serde(skip_serializing_if = "is_zero")]
    pub not_reached: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl ReconcileReport {
    pub fn new(dry_run: bool) -> Self {
        ReconcileReport {
            dry_run,
            streams: Vec::new(),
            resume_after: None,
            not_reached: 0,
        }
    }

    /// Streams by verdict, for a fleet's one-line summary.
    pub fn counts(&self) -> BTreeMap<&'static str, usize> {
        let mut counts = BTreeMap::new();
        for s in &self.streams {
            let name = match s.verdict {
                StreamVerdict::InLine => "in_line",
                StreamVerdict::Drifted => "drifted",
                StreamVerdict::Ignored => "ignored",
                StreamVerdict::Failed => "failed",
            };
            *counts.entry(name).or_default() += 1;
        }
        counts
    }

    pub fn fixes(&self) -> usize {
        self.streams.iter().map(|s| s.fixes.len()).sum()
    }

    pub fn failed(&self) -> usize {
        self.streams
            .iter()
            .filter(|s| s.verdict == StreamVerdict::Failed)
            .count()
    }
}

/// How long an alarm may sit in ALARM before we take it that its event was lost: the Lambda
/// handles an event within seconds of the alarm's transition, queue included.
pub fn stuck_after(settings: &Settings) -> Duration {
    Duration::minutes(i64::from(settings.period_mins) * 2)
}

/// Everything the reconcile of one stream needs, however it was read.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamView {
    pub stream: String,
    pub open_shards: u32,
    pub tags: HashMap<String, String>,
    /// The stream's alarm pair as it exists, by name.
    pub alarms: HashMap<String, ExistingAlarm>,
    /// The tags of those alarms, by alarm name.
    pub alarm_tags: HashMap<String, HashMap<String, String>>,
}

/// One alarm to write: its definition (if it differs) and its missing tags.
#[derive(Debug, Clone, PartialEq)]
pub struct AlarmWrite {
    pub spec: AlarmSpec,
    pub arn: Option<String>,
    pub rewrite: bool,
    pub tags: Vec<(String, String)>,
}

/// What reconciling one stream writes.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StreamPlan {
    pub writes: Vec<AlarmWrite>,
    /// Alarms in ALARM for too long, to reset to OK.
    pub stuck: Vec<String>,
    /// The consumer function and the reserved concurrency it should have.
    pub consumer: Option<(String, u32)>,
    pub fixes: Vec<Fix>,
}

impl StreamPlan {
    /// Whether the plan rewrites an alarm's definition (its shard count, typically).
    pub fn rewrites(&self) -> bool {
        self.writes.iter().any(|w| w.rewrite)
    }
}

/// The writes that bring a stream's alarms in line with `view`; pure. Consumer concurrency
/// is left to [`apply`], which must read it.
pub fn plan_stream(
    settings: &Settings,
    view: &StreamView,
    now: DateTime<Utc>,
) -> Result<StreamPlan, WiringError> {
    let stream = view.stream.as_str();
    let stream_settings = settings.for_stream(stream, &view.tags)?;
    let pair = AlarmPair::new(stream);
    let target = AlarmTarget::for_stream(&pair, stream, view.open_shards, &stream_settings);
    let desired = wiring::desired_pair(settings, &target, None, &view.alarms);
    if desired.scale_up.alarm_actions.is_empty() || desired.scale_down.alarm_actions.is_empty() {
        return Err(WiringError::NoTopic {
            stream: stream.to_string(),
        });
    }
    let mut plan = StreamPlan::default();
    for (direction, spec) in [
        (Direction::Up, &desired.scale_up),
        (Direction::Down, &desired.scale_down),
    ] {
        let wanted = wiring::alarm_tags_for(direction, &pair);
        let (change, arn, rewrite, tags) = match view.alarms.get(&spec.name) {
            None => (Change::Created, None, true, wanted),
            Some(current) => {
                let empty = HashMap::new();
                let current_tags = view.alarm_tags.get(&spec.name).unwrap_or(&empty);
                let missing: BTreeMap<_, _> = wanted
                    .into_iter()
                    .filter(|(k, v)| current_tags.get(k) != Some(v))
                    .collect();
                let rewrite = !wiring::same_definition(&current.spec, spec);
                if !rewrite && missing.is_empty() {
                    continue;
                }
                (Change::Updated, Some(current.arn.clone()), rewrite, missing)
            }
        };
        let kind = match (change, rewrite) {
            (Change::Created, _) => FixKind::AlarmCreated,
            (_, true) => FixKind::AlarmDefinition,
            (_, false) => FixKind::AlarmTags,
        };
        plan.fixes.push(Fix {
            kind,
            target: spec.name.clone(),
            detail: format!("rewritten for {} open shards", view.open_shards),
        });
        plan.writes.push(AlarmWrite {
            spec: spec.clone(),
            arn,
            rewrite,
            tags: tags.into_iter().collect(),
        });
    }
    for name in [pair.name(Direction::Up), pair.name(Direction::Down)] {
        if plan.writes.iter().any(|w| w.rewrite && w.spec.name == name) {
            continue; // reset with the rewrite
        }
        let Some(alarm) = view.alarms.get(&name) else {
            continue;
        };
        let since = alarm.state_since;
        if alarm.state == "ALARM" && since.is_some_and(|since| now - since > stuck_after(settings))
        {
            plan.fixes.push(Fix {
                kind: FixKind::StuckAlarm,
                target: name.clone(),
                detail: format!(
                    "in ALARM since {}; reset to OK",
                    since.map(|s| s.to_rfc3339()).unwrap_or_default()
                ),
            });
            plan.stuck.push(name);
        }
    }
    plan.consumer = stream_settings.consumer_function.map(|function| {
        let wanted = view
            .open_shards
            .saturating_mul(stream_settings.lambdas_per_shard);
        (function, wanted)
    });
    Ok(plan)
}

/// Reserved concurrencies read in this run, by function: each is read at most once.
pub type ConcurrencyCache = std::sync::Mutex<HashMap<String, Option<u32>>>;

/// Makes the plan's writes (none with `dry_run`) and returns its fixes, consumer
/// concurrency included.
pub async fn apply(
    aws: &impl AwsPort,
    plan: StreamPlan,
    shards: u32,
    dry_run: bool,
    concurrency: &ConcurrencyCache,
) -> Result<Vec<Fix>, AwsError> {
    let mut fixes = plan.fixes;
    if !dry_run {
        for write in &plan.writes {
            if write.rewrite {
                aws.put_alarm(&write.spec, &write.tags).await?;
            }
            if let (Some(arn), false) = (&write.arn, write.tags.is_empty()) {
                aws.tag_alarm(arn, &write.tags).await?;
            }
        }
        // New math, new evaluation: as after a reshard.
        for write in plan.writes.iter().filter(|w| w.rewrite) {
            let reason = format!("Reconciled for {shards} open shards");
            aws.set_alarm_state(&write.spec.name, "INSUFFICIENT_DATA", &reason)
                .await?;
        }
        for name in &plan.stuck {
            let reason =
                "Reconcile: in ALARM with no scaling action pending; reset so it can fire again";
            aws.set_alarm_state(name, "OK", reason).await?;
        }
    }
    if let Some((function, wanted)) = plan.consumer {
        let cached = lock(concurrency).get(&function).copied();
        let current = match cached {
            Some(current) => current,
            None => aws.function_concurrency(&function).await?,
        };
        if current != Some(wanted) {
            if !dry_run {
                aws.put_function_concurrency(&function, wanted).await?;
            }
            fixes.push(Fix {
                kind: FixKind::ConsumerConcurrency,
                target: function.clone(),
                detail: format!(
                    "reserved concurrency {} -> {wanted}",
                    current.map_or("unreserved".to_string(), |c| c.to_string())
                ),
            });
        }
        let now_reserved = if dry_run { current } else { Some(wanted) };
        lock(concurrency).insert(function, now_reserved);
    }
    Ok(fixes)
}

fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

pub(crate) fn failed(stream: &str, err: &dyn std::fmt::Display) -> StreamReconcile {
    StreamReconcile {
        stream: stream.to_string(),
        verdict: StreamVerdict::Failed,
        shards: None,
        fixes: Vec::new(),
        note: Some(err.to_string()),
    }
}

pub(crate) fn ignored(stream: &str, note: String) -> StreamReconcile {
    StreamReconcile {
        stream: stream.to_string(),
        verdict: StreamVerdict::Ignored,
        shards: None,
        fixes: Vec::new(),
        note: Some(note),
    }
}

pub(crate) const GONE: &str = "stream no longer exists; its alarms can be removed with `unwire`";
pub(crate) const ON_DEMAND: &str =
    "stream is ON_DEMAND; its scaling alarms do nothing (`unwire` removes them)";

/// Why a stream is not reconciled now, from its mode and status.
pub(crate) fn not_now(mode: StreamMode, status: StreamStatus) -> Option<String> {
    if mode == StreamMode::OnDemand {
        return Some(ON_DEMAND.into());
    }
    (status != StreamStatus::Active)
        .then(|| format!("stream is {status:?}; checked again on the next run"))
}

/// One stream read on its own: DescribeStreamSummary, ListTagsForStream, DescribeAlarms and
/// the alarms' tags. For a single stream this is cheaper than the fleet's bulk reads.
pub async fn reconcile_named(
    aws: &impl AwsPort,
    settings: &Settings,
    stream: &str,
    dry_run: bool,
    now: DateTime<Utc>,
    concurrency: &ConcurrencyCache,
) -> Result<StreamReconcile, WiringError> {
    if !settings.manages(stream) {
        return Err(WiringError::NotManaged {
            stream: stream.to_string(),
            prefix: settings.managed_stream_prefix.clone(),
        });
    }
    let summary = match aws.stream_summary(stream).await {
        Ok(summary) => summary,
        Err(err) if err.is("ResourceNotFoundException") => return Ok(ignored(stream, GONE.into())),
        Err(err) => return Err(err.into()),
    };
    if let Some(note) = not_now(summary.mode, summary.status) {
        return Ok(ignored(stream, note));
    }
    let pair = AlarmPair::new(stream);
    let names = [pair.name(Direction::Up), pair.name(Direction::Down)];
    let (tags, alarms) = tokio::join!(aws.stream_tags(stream), aws.describe_alarms(&names));
    let tags = match tags {
        Err(err) if err.is("ResourceNotFoundException") => return Ok(ignored(stream, GONE.into())),
        other => other?,
    };
    let alarms = alarms?;
    let mut alarm_tags = HashMap::new();
    for (name, alarm) in &alarms {
        alarm_tags.insert(name.clone(), aws.alarm_tags(&alarm.arn).await?);
    }
    let view = StreamView {
        stream: stream.to_string(),
        open_shards: summary.open_shards,
        tags,
        alarms,
        alarm_tags,
    };
    let plan = plan_stream(settings, &view, now)?;
    let fixes = apply(aws, plan, view.open_shards, dry_run, concurrency).await?;
    Ok(verdict(stream, view.open_shards, fixes))
}

pub(crate) fn verdict(stream: &str, shards: u32, fixes: Vec<Fix>) -> StreamReconcile {
    StreamReconcile {
        stream: stream.to_string(),
        verdict: if fixes.is_empty() {
            StreamVerdict::InLine
        } else {
            StreamVerdict::Drifted
        },
        shards: Some(shards),
        fixes,
        note: None,
    }
}

pub(crate) fn log_stream(outcome: &StreamReconcile, dry_run: bool) {
    let verdict = crate::domain::names::variant_name(&outcome.verdict);
    let fixes: Vec<String> = outcome
        .fixes
        .iter()
        .map(|f| format!("{}: {}", f.target, f.detail))
        .collect();
    if outcome.verdict == StreamVerdict::Failed {
        tracing::error!(stream = %outcome.stream, verdict, dry_run, note = outcome.note.as_deref().unwrap_or(""), "stream reconciled");
    } else if outcome.verdict == StreamVerdict::InLine {
        tracing::debug!(stream = %outcome.stream, verdict, dry_run, shards = outcome.shards, "stream reconciled");
    } else {
        tracing::info!(stream = %outcome.stream, verdict, dry_run, shards = outcome.shards, fixes = ?fixes, note = outcome.note.as_deref().unwrap_or(""), "stream reconciled");
    }
}
