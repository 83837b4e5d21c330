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
//!
//! The scheduled run sweeps only when [`schedule::sweep_due`] says so (a sweep under way, or
//! the last complete one, kept in [`LAST_SWEEP_TAG`], older than `RECONCILE_INTERVAL_MINS`),
//! and each of its slices stops starting streams [`SWEEP_SLICE`] into the run, so that the
//! run, the sized evaluation after it included, is over before the next 5-minute tick.

use crate::aws::{AwsError, AwsPort, ExistingAlarm, ListedStream, TAGGED_ALARM, TAGGED_STREAM};
use crate::domain::event::{AlarmPair, Direction};
use crate::domain::schedule;
use crate::domain::settings::Settings;
use crate::ops::reconcile::{
    self, apply, ignored, not_now, plan_stream, ConcurrencyCache, ReconcileReport, StreamReconcile,
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

/// The tag of the autoscaler's own function that holds when the last complete scheduled
/// sweep ended (RFC 3339).
pub const LAST_SWEEP_TAG: &str = "AutoscalerReconcileSweptAt";
/// The function's tag holding the daily tuning's cursor: the UTC day and the last stream
/// that day's tuning reached (`ops::autoscaler::tuning`).
pub const TUNING_CURSOR_TAG: &str = "AutoscalerTuningCursor";

/// A scheduled sweep starts no stream later than this after the run began (bulk reads
/// included): 10,000 streams' sweep (6 to 8 minutes) is spread over a few runs by the cursor
/// instead of making one run outlast the 5-minute schedule.
pub const SWEEP_SLICE: Duration = Duration::from_secs(150);

/// No stream is started later than this before the deadline: the streams in hand finish
/// (16 drifted streams' 32 PutMetricAlarm at 3 a second take 11 s) and the cursor is
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
    /// What is known of each managed stream's status and mode: from the listing, or, for one
    /// the listing left out or listed without a summary, from DescribeStreamSummary. A managed
    /// stream missing here was confirmed gone (ResourceNotFoundException), unless it is in
    /// `unconfirmed`.
    pub listed: HashMap<String, ListedStream>,
    /// Managed streams neither listed nor confirmed gone: DescribeStreamSummary's error.
    pub unconfirmed: HashMap<String, String>,
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
    // From the cursor on, every page: AWS lists in name order, but an emulator (moto) lists in
    // creation order, so a name past the prefix does not end the listing.
    let listed = async {
        let mut listed = HashMap::new();
        let mut after = start_after.map(str::to_string);
        loop {
            let page = aws.list_streams_page(after.as_deref()).await?;
            for stream in page.items {
                if stream.name.starts_with(prefix) {
                    listed.insert(stream.name.clone(), stream);
                }
            }
            match page.next {
                Some(last) => after = Some(last),
                None => return Ok::<_, AwsError>(listed),
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
    let (alarms, mut listed, (stream_tags, alarm_tags)) = (alarms?, listed?, tagged?);
    let managed: Vec<String> =
        crate::ops::status::managed_streams_of(alarms.values().map(|a| &a.spec))
            .into_iter()
            .filter(|s| settings.manages(s))
            .filter(|s| start_after.is_none_or(|after| s.as_str() > after))
            .collect();
    let unconfirmed = confirm_unlisted(aws, &managed, &mut listed).await;
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
        unconfirmed,
        stream_tags,
        alarm_tags,
    })
}

/// A gap in a listing is not a deleted stream: each managed stream the listing left out, or
/// listed without its status and mode, is asked with DescribeStreamSummary. Found, it joins
/// `listed`; ResourceNotFoundException confirms it gone (left out of `listed`); any other
/// error leaves it unconfirmed, returned with the error.
async fn confirm_unlisted(
    aws: &impl AwsPort,
    managed: &[String],
    listed: &mut HashMap<String, ListedStream>,
) -> HashMap<String, String> {
    let to_ask: Vec<&String> = managed
        .iter()
        .filter(|s| listed.get(*s).is_none_or(|l| !l.summarized))
        .collect();
    let answers: Vec<(&String, Result<_, AwsError>)> = futures_util::stream::iter(
        to_ask
            .into_iter()
            .map(|stream| async move { (stream, aws.stream_summary(stream).await) }),
    )
    .buffer_unordered(DEFAULT_CONCURRENCY)
    .collect()
    .await;
    let mut unconfirmed = HashMap::new();
    for (stream, answer) in answers {
        match answer {
            Ok(summary) => {
                let found = ListedStream {
                    name: stream.clone(),
                    status: summary.status,
                    mode: summary.mode,
                    summarized: true,
                };
                listed.insert(stream.clone(), found);
            }
            Err(err) if err.is("ResourceNotFoundException") => {
                listed.remove(stream);
            }
            Err(err) => {
                listed.remove(stream);
                unconfirmed.insert(stream.clone(), err.to_string());
            }
        }
    }
    unconfirmed
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
    // A snapshot of the whole fleet (the scheduled run's, shared with its evaluation) is
    // swept from the cursor on.
    let streams: Vec<&String> = snapshot
        .managed
        .iter()
        .filter(|s| options.start_after.as_ref().is_none_or(|after| *s > after))
        .collect();
    // Streams start in name order, several at a time, and finish in any order: a stream
    // waiting on a paced write does not hold up the reads of the next ones. Those past the
    // deadline do not start, and since starts are in order they are the last ones.
    let mut outcomes: Vec<(usize, Option<StreamReconcile>)> = futures_util::stream::iter(
        streams
            .iter()
            .enumerate()
            .map(|(index, stream)| async move {
                if too_late() {
                    return (index, None);
                }
                let outcome =
                    reconcile_listed(aws, settings, snapshot, stream, options, concurrency)
                        .await
                        .unwrap_or_else(|err| reconcile::failed(stream, &err));
                reconcile::log_stream(&outcome, options.dry_run);
                (index, Some(outcome))
            }),
    )
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
            i => Some(streams[i - 1].to_string()),
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
        return Ok(match snapshot.unconfirmed.get(stream) {
            Some(why) => reconcile::failed(
                stream,
                &format!("not in the listing, and DescribeStreamSummary failed: {why}"),
            ),
            None => ignored(stream, GONE.into()),
        });
    };
    if let Some(note) = not_now(listed.mode, listed.status) {
        return Ok(ignored(stream, note));
    }
    let deleted = || ignored(stream, format!("deleted during the run; {GONE}"));
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
            return Ok(ignored(stream, note));
        }
        if summary.open_shards != shards {
            return Ok(ignored(
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

/// What the function's own tags say of the scheduled sweep.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SweepState {
    /// The last stream a cut-short sweep finished ([`CURSOR_TAG`]).
    pub cursor: Option<String>,
    /// When the last complete sweep ended ([`LAST_SWEEP_TAG`]).
    pub last_sweep: Option<DateTime<Utc>>,
    /// The daily tuning's cursor ([`TUNING_CURSOR_TAG`]), read by the same GetFunction.
    pub tuning_cursor: Option<String>,
}

impl SweepState {
    /// Whether this run sweeps (see [`schedule::sweep_due`]).
    pub fn due(&self, settings: &Settings, now: DateTime<Utc>) -> bool {
        schedule::sweep_due(
            self.cursor.as_deref(),
            self.last_sweep,
            settings.reconcile_interval_mins,
            now,
        )
    }
}

/// Reads the sweep's state from the function's tags (one GetFunction). Unreadable: no
/// cursor and no last sweep, so the run sweeps from the first stream.
pub async fn sweep_state(aws: &impl AwsPort, function: &str) -> SweepState {
    match aws.function_tags(function).await {
        Ok(tags) => SweepState {
            cursor: tags.get(CURSOR_TAG).filter(|c| !c.is_empty()).cloned(),
            last_sweep: tags.get(LAST_SWEEP_TAG).and_then(|t| {
                DateTime::parse_from_rfc3339(t)
                    .ok()
                    .map(|t| t.with_timezone(&Utc))
            }),
            tuning_cursor: tags
                .get(TUNING_CURSOR_TAG)
                .filter(|c| !c.is_empty())
                .cloned(),
        },
        Err(err) => {
            tracing::warn!(error = %err, "cannot read the reconcile cursor; sweeping from the first stream");
            SweepState::default()
        }
    }
}

/// The Lambda's scheduled reconcile, on a snapshot of the whole fleet: continues after the
/// cursor, stops at `deadline` (the run's slice or the invocation's, the earlier) and keeps
/// where it stopped for the next run; a sweep that gets through records its time.
pub async fn scheduled_sweep(
    aws: &impl AwsPort,
    settings: &Settings,
    function: &str,
    snapshot: &FleetSnapshot,
    state: &SweepState,
    options: &SweepOptions,
) -> ReconcileReport {
    let options = SweepOptions {
        start_after: state.cursor.clone(),
        ..options.clone()
    };
    let report = sweep_snapshot(aws, settings, snapshot, &options).await;
    // The cursor and the time are the sweep's own progress, not a change to a stream: kept
    // in dry runs too.
    let next = report.resume_after.clone().unwrap_or_default();
    if next != state.cursor.clone().unwrap_or_default() {
        if let Err(err) = aws.tag_function(function, CURSOR_TAG, &next).await {
            tracing::warn!(error = %err, cursor = next, "cannot keep the reconcile cursor; the next run starts over");
        }
    }
    match &report.resume_after {
        Some(after) => tracing::info!(
            resume_after = after,
            not_reached = report.not_reached,
            "reconcile stopped at its deadline; the next run continues"
        ),
        None => {
            let at = aws.now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
            if let Err(err) = aws.tag_function(function, LAST_SWEEP_TAG, &at).await {
                tracing::warn!(error = %err, "cannot record the sweep's time; the next run sweeps again");
            }
        }
    }
    report
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
