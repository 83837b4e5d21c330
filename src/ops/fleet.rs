//! Reconcile at fleet scale: thousands of streams inside one Lambda run at AWS's default
//! per-account API quotas.
//!
//! Reading stream by stream costs four calls a stream, one of them (ListTagsForStream) at 5 a
//! second for the whole account: 33 minutes for 10,000 streams. The sweep instead reads in
//! bulk what AWS lets us read in bulk, and calls per stream only what has no bulk form:
//!
//! - every alarm of the managed prefix: DescribeAlarms by name prefix, 100 a page;
//! - every stream's status and mode: ListStreams' StreamSummaries, 100 a page;
//! - every stream's and alarm's tags: the Resource Groups Tagging API's GetResources;
//! - per stream, its open shard count: ListShards, whose quota is per stream, not per account;
//! - only for a stream whose alarms are about to be rewritten, DescribeStreamSummary, to
//!   confirm the count on the stream's own record before writing;
//! - each consumer function's reserved concurrency once a run.
//!
//! Streams are done in name order, several at a time. With a deadline (the Lambda's), no
//! stream is started less than [`DEADLINE_MARGIN`] before it; the report then names the last
//! stream done, and the scheduled run keeps it in a tag of its own function
//! ([`CURSOR_TAG`]) so that the next run continues after it instead of starting over.

use crate::aws::{AwsError, AwsPort, ExistingAlarm, ListedStream, TAGGED_ALARM, TAGGED_STREAM};
use crate::domain::event::{AlarmPair, Direction};
use crate::domain::settings::Settings;
use crate::ops::reconcile::{
    self, apply, not_now, plan_stream, skipped, ConcurrencyCache, ReconcileReport, StreamReconcile,
    StreamView, GONE,
};
use crate::ops::wiring::WiringError;
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use std::collections::HashMap;
use std::time::Duration;
use tokio::time::Instant;

/// The tag of the autoscaler's own function that holds the last stream a cut-short scheduled
/// reconcile finished (empty once a run got through).
pub const CURSOR_TAG: &str = "AutoscalerReconcileCursor";

/// No stream is started later than this before the deadline: the streams in hand finish
/// (16 drifted streams' 32 PutMetricAlarm at 1.5 a second take 21 s) and the cursor is
/// written.
pub const DEADLINE_MARGIN: Duration = Duration::from_secs(60);

/// Streams reconciled at once: enough to hide the latency of ListShards, whose quota is per
/// stream; the account-wide APIs are paced whatever the concurrency.
pub const DEFAULT_CONCURRENCY: usize = 16;

#[derive(Debug, Clone)]
pub struct SweepOptions {
    pub dry_run: bool,
    pub now: DateTime<Utc>,
    /// Continue after this stream (the cursor of a run that was cut short).
    pub start_after: Option<String>,
    pub deadline: Option<Instant>,
    pub concurrency: usize,
}

impl Default for SweepOptions {
    fn default() -> Self {
        SweepOptions {
            dry_run: false,
            now: Utc::now(),
            start_after: None,
            deadline: None,
            concurrency: DEFAULT_CONCURRENCY,
        }
    }
}

/// What the bulk reads found.
#[derive(Debug, Default)]
pub struct FleetSnapshot {
    /// Managed streams (those with a `<stream>-scale-up` alarm, within the managed prefix),
    /// in name order, after the cursor.
    pub managed: Vec<String>,
    pub alarms: HashMap<String, ExistingAlarm>,
    pub listed: HashMap<String, ListedStream>,
    pub stream_tags: HashMap<String, HashMap<String, String>>,
    pub alarm_tags: HashMap<String, HashMap<String, String>>,
}

/// The bulk reads, all three at once: alarms by prefix, streams by listing, tags by
/// GetResources (each paced on its own API's quota).
pub async fn read_fleet(
    aws: &impl AwsPort,
    settings: &Settings,
    start_after: Option<&str>,
) -> Result<FleetSnapshot, WiringError> {
    let prefix = settings.managed_stream_prefix.as_str();
    let alarms = async {
        let mut alarms = HashMap::new();
        let mut next: Option<String> = None;
        loop {
            let page = aws.alarms_page(prefix, next.as_deref()).await?;
            for alarm in page.items {
                alarms.insert(alarm.spec.name.clone(), alarm);
            }
            match page.next {
                Some(token) => next = Some(token),
                None => return Ok::<_, AwsError>(alarms),
            }
        }
    };
    // Streams come in name order: start at the cursor, stop past the prefix.
    let listed = async {
        let mut listed = HashMap::new();
        let mut after = start_after.map(str::to_string);
        loop {
            let page = aws.list_streams_page(after.as_deref()).await?;
            for stream in page.items {
                if !stream.name.starts_with(prefix) && stream.name.as_str() > prefix {
                    return Ok::<_, AwsError>(listed);
                }
                listed.insert(stream.name.clone(), stream);
            }
            match page.next {
                Some(last) => after = Some(last),
                None => return Ok(listed),
            }
        }
    };
    let tagged = async {
        let mut stream_tags = HashMap::new();
        let mut alarm_tags = HashMap::new();
        let mut next: Option<String> = None;
        loop {
            let page = aws
                .tagged_resources_page(&[TAGGED_STREAM, TAGGED_ALARM], next.as_deref())
                .await?;
            for resource in page.items {
                if let Some(stream) = resource.stream_name() {
                    if stream.starts_with(prefix) {
                        stream_tags.insert(stream.to_string(), resource.tags.clone());
                    }
                } else if let Some(alarm) = resource.alarm_name() {
                    if alarm.starts_with(prefix) {
                        alarm_tags.insert(alarm.to_string(), resource.tags);
                    }
                }
            }
            match page.next {
                Some(token) => next = Some(token),
                None => return Ok::<_, AwsError>((stream_tags, alarm_tags)),
            }
        }
    };
    let started = Instant::now();
    let (alarms, listed, tagged) = tokio::join!(alarms, listed, tagged);
    let (alarms, listed, (stream_tags, alarm_tags)) = (alarms?, listed?, tagged?);
    let managed: Vec<String> =
        crate::ops::status::managed_streams_of(alarms.values().map(|a| &a.spec))
            .into_iter()
            .filter(|s| settings.manages(s))
            .filter(|s| start_after.is_none_or(|after| s.as_str() > after))
            .collect();
    tracing::info!(
        managed = managed.len(),
        alarms = alarms.len(),
        listed = listed.len(),
        tagged = stream_tags.len() + alarm_tags.len(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "fleet read"
    );
    Ok(FleetSnapshot {
        managed,
        alarms,
        listed,
        stream_tags,
        alarm_tags,
    })
}

/// Reconciles every managed stream after `options.start_after`, reading in bulk, until done
/// or until the deadline.
pub async fn sweep(
    aws: &impl AwsPort,
    settings: &Settings,
    options: &SweepOptions,
) -> Result<ReconcileReport, WiringError> {
    let snapshot = read_fleet(aws, settings, options.start_after.as_deref()).await?;
    Ok(sweep_snapshot(aws, settings, &snapshot, options).await)
}

/// The per-stream half of [`sweep`], on a snapshot already read.
pub async fn sweep_snapshot(
    aws: &impl AwsPort,
    settings: &Settings,
    snapshot: &FleetSnapshot,
    options: &SweepOptions,
) -> ReconcileReport {
    let concurrency = ConcurrencyCache::default();
    let too_late = || {
        options
            .deadline
            .is_some_and(|deadline| Instant::now() + DEADLINE_MARGIN >= deadline)
    };
    let concurrency = &concurrency;
    // Streams start in name order, several at a time, and finish in any order: a stream
    // waiting on a paced write does not hold up the reads of the next ones. Those past the
    // deadline do not start, and since starts are in order they are the last ones.
    let mut outcomes: Vec<(usize, Option<StreamReconcile>)> =
        futures_util::stream::iter(snapshot.managed.iter().enumerate().map(
            |(index, stream)| async move {
                if too_late() {
                    return (index, None);
                }
                let outcome =
                    reconcile_listed(aws, settings, snapshot, stream, options, concurrency)
                        .await
                        .unwrap_or_else(|err| reconcile::failed(stream, &err));
                reconcile::log_stream(&outcome, options.dry_run);
                (index, Some(outcome))
            },
        ))
        .buffer_unordered(options.concurrency.max(1))
        .collect()
        .await;
    outcomes.sort_by_key(|(index, _)| *index);
    let outcomes: Vec<Option<StreamReconcile>> = outcomes.into_iter().map(|(_, o)| o).collect();

    let mut report = ReconcileReport::new(options.dry_run);
    let first_missed = outcomes.iter().position(Option::is_none);
    if let Some(index) = first_missed {
        report.resume_after = match index {
            0 => options.start_after.clone(),
            i => Some(snapshot.managed[i - 1].clone()),
        };
    }
    report.not_reached = outcomes.iter().filter(|o| o.is_none()).count();
    report.streams = outcomes.into_iter().flatten().collect();
    report
}

/// One stream of the sweep: ListShards, and DescribeStreamSummary before a rewrite.
async fn reconcile_listed(
    aws: &impl AwsPort,
    settings: &Settings,
    snapshot: &FleetSnapshot,
    stream: &str,
    options: &SweepOptions,
    concurrency: &ConcurrencyCache,
) -> Result<StreamReconcile, WiringError> {
    let Some(listed) = snapshot.listed.get(stream) else {
        return Ok(skipped(stream, GONE.into()));
    };
    if let Some(note) = not_now(listed.mode, listed.status) {
        return Ok(skipped(stream, note));
    }
    let deleted = || skipped(stream, format!("deleted during the run; {GONE}"));
    let shards = match aws.open_shard_count(stream).await {
        Ok(shards) => shards,
        Err(err) if err.is("ResourceNotFoundException") => return Ok(deleted()),
        Err(err) => return Err(err.into()),
    };
    let pair = AlarmPair::new(stream);
    let names = [pair.name(Direction::Up), pair.name(Direction::Down)];
    let pick = |name: &String| snapshot.alarms.get(name).map(|a| (name.clone(), a.clone()));
    let view = StreamView {
        stream: stream.to_string(),
        open_shards: shards,
        tags: snapshot
            .stream_tags
            .get(stream)
            .cloned()
            .unwrap_or_default(),
        alarms: names.iter().filter_map(pick).collect(),
        alarm_tags: names
            .iter()
            .filter_map(|n| Some((n.clone(), snapshot.alarm_tags.get(n)?.clone())))
            .collect(),
    };
    let plan = plan_stream(settings, &view, options.now)?;
    if plan.rewrites() {
        // The listing is minutes old by now: confirm on the stream's own record.
        let summary = match aws.stream_summary(stream).await {
            Ok(summary) => summary,
            Err(err) if err.is("ResourceNotFoundException") => return Ok(deleted()),
            Err(err) => return Err(err.into()),
        };
        if let Some(note) = not_now(summary.mode, summary.status) {
            return Ok(skipped(stream, note));
        }
        if summary.open_shards != shards {
            return Ok(skipped(
                stream,
                format!(
                    "its shard count changed during the run ({shards} -> {}); checked again on the next run",
                    summary.open_shards
                ),
            ));
        }
    }
    let fixes = apply(aws, plan, shards, options.dry_run, concurrency).await?;
    Ok(reconcile::verdict(stream, shards, fixes))
}

/// The Lambda's scheduled reconcile: continues after the cursor kept in the function's
/// [`CURSOR_TAG`], uses half of each API quota (the rest is for scale events), stops before
/// the invocation's deadline and keeps where it stopped for the next run.
pub async fn scheduled_sweep(
    aws: &impl AwsPort,
    settings: &Settings,
    function: &str,
    dry_run: bool,
    now: DateTime<Utc>,
) -> Result<ReconcileReport, WiringError> {
    let cursor = match aws.function_tags(function).await {
        Ok(tags) => tags.get(CURSOR_TAG).filter(|c| !c.is_empty()).cloned(),
        Err(err) => {
            tracing::warn!(error = %err, "cannot read the reconcile cursor; starting from the first stream");
            None
        }
    };
    let options = SweepOptions {
        dry_run,
        now,
        start_after: cursor.clone(),
        deadline: aws.deadline(),
        concurrency: DEFAULT_CONCURRENCY,
    };
    aws.set_pacing_share(crate::aws::paced::RECONCILE_SHARE);
    let report = sweep(aws, settings, &options).await;
    aws.set_pacing_share(1.0);
    let report = report?;
    // The cursor is the sweep's own progress, not a change to a stream: kept in dry runs too.
    let next = report.resume_after.clone().unwrap_or_default();
    if next != cursor.clone().unwrap_or_default() {
        if let Err(err) = aws.tag_function(function, CURSOR_TAG, &next).await {
            tracing::warn!(error = %err, cursor = next, "cannot keep the reconcile cursor; the next run starts over");
        }
    }
    if let Some(after) = &report.resume_after {
        tracing::info!(
            resume_after = after,
            not_reached = report.not_reached,
            "reconcile stopped at its deadline; the next run continues"
        );
    }
    Ok(report)
}

/// Reconciles `streams`, or every managed stream when it is empty (then as
/// [`sweep`] without a deadline: batched reads, resumable).
pub async fn reconcile(
    aws: &impl AwsPort,
    settings: &Settings,
    streams: &[String],
    dry_run: bool,
    now: DateTime<Utc>,
) -> Result<ReconcileReport, WiringError> {
    if streams.is_empty() {
        let options = SweepOptions {
            dry_run,
            now,
            ..Default::default()
        };
        return sweep(aws, settings, &options).await;
    }
    let mut report = ReconcileReport::new(dry_run);
    let concurrency = ConcurrencyCache::default();
    for stream in streams {
        let outcome =
            reconcile::reconcile_named(aws, settings, stream, dry_run, now, &concurrency).await;
        let outcome = outcome.unwrap_or_else(|err| reconcile::failed(stream, &err));
        reconcile::log_stream(&outcome, dry_run);
        report.streams.push(outcome);
    }
    Ok(report)
}
