//! The scheduled run (the template's `ReconcileSchedule`, every 5 minutes) at fleet scale:
//! 10,000 streams at AWS's default per-account quotas.
//!
//! 1. One GetFunction: the sweep's cursor and the time of the last complete sweep. With
//!    `SCALING_POLICY=upstream` and a recent sweep, that is the whole run.
//! 2. The fleet's bulk reads, once ([`fleet::read_fleet`]): alarms by prefix, the stream
//!    listing, every tag by GetResources.
//! 3. The reconcile sweep, when due ([`fleet::SweepState::due`], `RECONCILE_INTERVAL_MINS`),
//!    on that snapshot, for at most [`fleet::SWEEP_SLICE`] of the run.
//! 4. The sized evaluation of every managed stream from the same snapshot: shard counts from
//!    ListShards (quota per stream; those the sweep read are reused), load and consumer lag
//!    (iterator age) and throttled records from GetMetricData 125 streams a request, each stream decided by the pure [`schedule::evaluate`]. Only a
//!    stream about to be resharded is read on its own (DescribeStreamSummary and
//!    ListTagsForStream, for its current count and reshard history) and decided again from
//!    that before the reshard.
//!
//! Reading stream by stream instead costs a ListTagsForStream per stream at 5 a second for
//! the account: 33 minutes for 10,000 streams, every 5 minutes. The run paces every read at
//! half its quota ([`RECONCILE_SHARE`]): the rest is for the alarms' scale events (the writes
//! that fix a stream go at the full quota, [`crate::aws::paced::FULL_RATE`]). No stream is
//! started less than [`DEADLINE_MARGIN`] before the invocation's deadline, nor evaluated
//! later than [`RUN_BUDGET`] into the run.

use super::evaluate::{observe, StreamEvaluation};
use super::tuning::TUNING_SLICE;
use super::Autoscaler;
use crate::aws::paced::RECONCILE_SHARE;
use crate::aws::{AwsError, AwsPort, ListedStream, StreamSummary, METRIC_STREAMS_PER_CALL};
use crate::domain::event::AlarmPair;
use crate::domain::metrics::{self, StreamFigures, FATAL_ERROR_METRIC};
use crate::domain::schedule::{self, Evaluation};
use crate::domain::settings::{ScalingPolicy, Settings};
use crate::domain::sizing::Usage;
use crate::ops::fleet::{
    self, FleetSnapshot, SweepOptions, DEADLINE_MARGIN, DEFAULT_CONCURRENCY, SWEEP_SLICE,
};
use crate::ops::outcome::{AlarmOutcome, InvocationReport, Outcome};
use crate::ops::reconcile::{not_now, ReconcileReport, GONE};
use crate::ops::usage::{self, StreamMetrics, METRICS_UNREADABLE};
use crate::ops::wiring::WiringError;
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use std::collections::HashMap;
use tokio::time::Instant;

/// No stream's evaluation starts later than this after the scheduled run began, so that the
/// run is over before the next 5-minute tick: a reshard costs two PutMetricAlarm (3 a second
/// for the account, [`crate::aws::paced::FULL_RATE`]), so a run reshards a few hundred
/// streams at most (measured at 1.5 a second: 300 reshards in one run took 9.5 minutes).
/// Streams not reached are evaluated at the next tick, and those resharded now are skipped
/// there (just resharded), so every stream is reached in turn.
pub const RUN_BUDGET: std::time::Duration = std::time::Duration::from_secs(240);

/// What the scheduled evaluation of the fleet did.
#[derive(Debug, Default)]
pub struct FleetEvaluation {
    /// Each stream evaluated (or that could not be), in no particular order.
    pub streams: Vec<StreamEvaluation>,
    /// Managed streams not evaluated: the invocation's deadline came first.
    pub not_reached: usize,
}

impl<P: AwsPort> Autoscaler<P> {
    /// The scheduled invocation: the reconcile sweep when due, then the sized evaluation.
    pub(crate) async fn scheduled_run(&self, report: &mut InvocationReport) {
        let started = Instant::now();
        let now = self.aws.now();
        let state = fleet::sweep_state(&self.aws, &self.function_name).await;
        let sweep = state.due(&self.settings, now);
        let evaluate = self.settings.scaling_policy == ScalingPolicy::Sized;
        tracing::info!(
            sweep,
            evaluate,
            cursor = state.cursor.as_deref().unwrap_or(""),
            last_sweep = ?state.last_sweep,
            "scheduled run"
        );
        if !sweep && !evaluate {
            return;
        }
        // Every read of this run at the reconcile's share, until it returns.
        let _share = self.limits.share_until_dropped(RECONCILE_SHARE);
        let snapshot = fleet::read_fleet(&self.aws, &self.settings, None).await;
        let snapshot = match snapshot {
            Ok(snapshot) => snapshot,
            Err(err) => {
                tracing::error!(error = %err, "scheduled run: the fleet cannot be read");
                if sweep {
                    self.report_reconcile(Err(err), report);
                } else {
                    report.metric_lines.push(self.metric(FATAL_ERROR_METRIC, 1));
                }
                return;
            }
        };
        let mut known_shards = HashMap::new();
        if sweep {
            // The slice or the invocation's deadline, whichever comes first.
            let slice_end = started + SWEEP_SLICE + DEADLINE_MARGIN;
            let options = SweepOptions {
                dry_run: self.settings.dry_run,
                now,
                start_after: None,
                deadline: Some(
                    self.limits
                        .deadline()
                        .map_or(slice_end, |d| d.min(slice_end)),
                ),
                concurrency: DEFAULT_CONCURRENCY,
            };
            let result = fleet::scheduled_sweep(
                &self.aws,
                &self.settings,
                &self.function_name,
                &snapshot,
                &state,
                &options,
            )
            .await;
            known_shards.extend(
                result
                    .streams
                    .iter()
                    .filter_map(|s| Some((s.stream.clone(), s.shards?))),
            );
            self.report_reconcile(Ok(result), report);
        }
        if evaluate {
            let evaluated = self
                .evaluate_fleet(&snapshot, &known_shards, Some(started + RUN_BUDGET))
                .await;
            self.report_evaluation(evaluated, report);
            // The day's tuning, after the decisions that cannot wait, in what is left of
            // the run's budget and a slice of its own.
            let stop_at = (started + RUN_BUDGET).max(Instant::now()) + TUNING_SLICE;
            let cursor = state.tuning_cursor.as_deref();
            let tuning = self.daily_tuning(&snapshot, cursor, stop_at).await;
            report.metric_lines.extend(self.tuning_metrics(&tuning));
            report.tuning = Some(tuning);
        }
        tracing::info!(
            elapsed_ms = started.elapsed().as_millis() as u64,
            "scheduled run done"
        );
    }

    /// The sweep's fixes counted in `DRIFT_FIXED`, each stream's shard count for the
    /// dashboard, a failure in the error metric.
    fn report_reconcile(
        &self,
        result: Result<ReconcileReport, WiringError>,
        report: &mut InvocationReport,
    ) {
        match result {
            Ok(result) => {
                report
                    .metric_lines
                    .push(self.metric(metrics::DRIFT_FIXED_METRIC, result.fixes()));
                if result.failed() > 0 {
                    report.metric_lines.push(self.metric(FATAL_ERROR_METRIC, 1));
                }
                // Each stream's shard count, so the dashboard's lines go on between events.
                for stream in &result.streams {
                    let figures = StreamFigures {
                        shard_count: stream.shards,
                        reshards_left: None,
                    };
                    report.metric_lines.extend(metrics::stream_emf_line(
                        &self.settings.metric_namespace,
                        &self.function_name,
                        &stream.stream,
                        &figures,
                        self.aws.now(),
                    ));
                }
                report.reconcile = Some(result);
            }
            Err(err) => {
                tracing::error!(error = %err, "reconcile failed");
                let mut outcome =
                    AlarmOutcome::new(0, Outcome::Failed, format!("reconcile failed: {err}"));
                outcome.errors.push(err.to_string());
                report.alarms.push(outcome);
                report.metric_lines.push(self.metric(FATAL_ERROR_METRIC, 1));
            }
        }
    }

    /// Each reshard reported like an alarm action's; a failed one in the error metric.
    fn report_evaluation(&self, evaluated: FleetEvaluation, report: &mut InvocationReport) {
        if evaluated.not_reached > 0 {
            tracing::warn!(
                not_reached = evaluated.not_reached,
                "scheduled evaluation stopped at the invocation's deadline"
            );
        }
        let outcomes: Vec<AlarmOutcome> = evaluated
            .streams
            .into_iter()
            .filter_map(|e| e.outcome)
            .collect();
        if outcomes.iter().any(|o| !o.is_success()) {
            report.metric_lines.push(self.metric(FATAL_ERROR_METRIC, 1));
        }
        report.alarms.extend(outcomes);
    }

    /// The sized evaluation of every managed stream of `snapshot`. `known_shards`: open
    /// shard counts read in this run already (by the sweep). No stream is started after
    /// `stop_at`, nor less than [`DEADLINE_MARGIN`] before the invocation's deadline.
    pub async fn evaluate_fleet(
        &self,
        snapshot: &FleetSnapshot,
        known_shards: &HashMap<String, u32>,
        stop_at: Option<Instant>,
    ) -> FleetEvaluation {
        let deadline = self.limits.deadline();
        let too_late = || {
            let now = Instant::now();
            deadline.is_some_and(|d| now + DEADLINE_MARGIN >= d)
                || stop_at.is_some_and(|stop| now >= stop)
        };
        let started = Instant::now();
        let mut out = FleetEvaluation::default();
        // Streams that cannot be resharded now are decided without reading them further.
        let mut ready: Vec<(&String, &ListedStream)> = Vec::new();
        for stream in &snapshot.managed {
            match snapshot.listed.get(stream) {
                None => out.streams.push(StreamEvaluation::failed(
                    stream,
                    snapshot
                        .unconfirmed
                        .get(stream)
                        .cloned()
                        .unwrap_or(GONE.into()),
                )),
                Some(listed) if not_now(listed.mode, listed.status).is_some() => {
                    let shards = known_shards.get(stream).copied().unwrap_or(0);
                    out.streams
                        .push(self.decide_unread(snapshot, stream, listed, shards));
                }
                Some(listed) => ready.push((stream, listed)),
            }
        }
        // One DescribeLimits per run (its quota is 1 call a second), spent down as streams grow.
        let mut headroom = self.aws.account_headroom().await.ok();
        let mut resharded = 0usize;
        for (index, chunk) in ready.chunks(METRIC_STREAMS_PER_CALL).enumerate() {
            if too_late() {
                out.not_reached += ready.len() - index * METRIC_STREAMS_PER_CALL;
                break;
            }
            let now = self.aws.now();
            let names: Vec<String> = chunk.iter().map(|(s, _)| (*s).clone()).collect();
            let (mut counts, usages) = tokio::join!(
                self.shard_counts(&names, known_shards),
                self.read_usages(&names, now)
            );
            for (offset, (stream, listed)) in chunk.iter().enumerate() {
                if too_late() {
                    out.not_reached += ready.len() - index * METRIC_STREAMS_PER_CALL - offset;
                    break;
                }
                let shards = match counts.remove(stream.as_str()) {
                    Some(Ok(shards)) => shards,
                    Some(Err(err)) if err.is("ResourceNotFoundException") => {
                        let note = format!("deleted during the run; {GONE}");
                        out.streams.push(StreamEvaluation::failed(stream, note));
                        continue;
                    }
                    Some(Err(err)) => {
                        out.streams
                            .push(StreamEvaluation::failed(stream, err.to_string()));
                        continue;
                    }
                    None => {
                        let note = "no shard count read".to_string();
                        out.streams.push(StreamEvaluation::failed(stream, note));
                        continue;
                    }
                };
                let Some(metrics) = usages.as_ref().map(|u| u.get(stream.as_str())) else {
                    out.streams
                        .push(StreamEvaluation::failed(stream, METRICS_UNREADABLE.into()));
                    continue;
                };
                let result = self
                    .evaluate_listed(snapshot, stream, listed, shards, metrics, headroom, now)
                    .await;
                if let Some(outcome) = &result.outcome {
                    resharded += 1;
                    if let (Some(h), Some(from), Some(to)) =
                        (headroom.as_mut(), outcome.from, outcome.to)
                    {
                        *h = h.saturating_sub(to.saturating_sub(from));
                    }
                }
                out.streams.push(result);
            }
        }
        tracing::info!(
            evaluated = out.streams.len(),
            resharded,
            not_reached = out.not_reached,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "scheduled evaluation"
        );
        out
    }

    /// A stream ON_DEMAND or not ACTIVE: [`schedule::evaluate`] skips it before looking at its
    /// load or its count.
    fn decide_unread(
        &self,
        snapshot: &FleetSnapshot,
        stream: &str,
        listed: &ListedStream,
        shards: u32,
    ) -> StreamEvaluation {
        let now = self.aws.now();
        let summary = listed_summary(listed, shards);
        match self.decide_from_snapshot(snapshot, stream, &summary, None, None, now) {
            Ok((evaluation, _)) => StreamEvaluation::decided(stream, evaluation),
            Err(err) => StreamEvaluation::failed(stream, err),
        }
    }

    /// [`schedule::evaluate`] on what the bulk reads say of a stream (`summary`, its tags and
    /// alarms in `snapshot`). A tag that cannot be read is the error.
    fn decide_from_snapshot(
        &self,
        snapshot: &FleetSnapshot,
        stream: &str,
        summary: &StreamSummary,
        metrics: Option<&StreamMetrics>,
        headroom: Option<u32>,
        now: DateTime<Utc>,
    ) -> Result<(Evaluation, Usage<'static>), String> {
        let no_tags = HashMap::new();
        let tags = snapshot.stream_tags.get(stream).unwrap_or(&no_tags);
        let observed = observe(
            &self.settings,
            stream,
            summary,
            tags,
            &snapshot.alarms,
            headroom,
        )?;
        // The stream's own policy: its tuning and its user's tags over the function's.
        let settings = self.stream_settings(stream, tags);
        let usage = self.usage_of(metrics, now, &settings);
        let pair = AlarmPair::new(stream);
        let evaluation = schedule::evaluate(&pair, &observed, &usage, &settings, now);
        Ok((evaluation, usage))
    }

    /// One ACTIVE stream decided from the bulk reads; a reshard is decided again from the
    /// stream's own record first (the listing and the tags are minutes old, and an alarm may
    /// have resharded it since: its count and its reshard history, the daily budget's record,
    /// must be current before another reshard is recorded on top).
    #[allow(clippy::too_many_arguments)]
    async fn evaluate_listed(
        &self,
        snapshot: &FleetSnapshot,
        stream: &str,
        listed: &ListedStream,
        shards: u32,
        metrics: Option<&StreamMetrics>,
        headroom: Option<u32>,
        now: DateTime<Utc>,
    ) -> StreamEvaluation {
        let summary = listed_summary(listed, shards);
        let (evaluation, usage) =
            match self.decide_from_snapshot(snapshot, stream, &summary, metrics, headroom, now) {
                Ok(decided) => decided,
                Err(err) => return StreamEvaluation::failed(stream, err),
            };
        if !matches!(evaluation, Evaluation::Scale { .. }) {
            return StreamEvaluation::decided(stream, evaluation);
        }
        let (summary, tags) = tokio::join!(
            self.aws.stream_summary(stream),
            self.aws.stream_tags(stream)
        );
        let (summary, tags) = match (summary, tags) {
            (Ok(summary), Ok(tags)) => (summary, tags),
            (Err(err), _) | (_, Err(err)) => {
                let note = if err.is("ResourceNotFoundException") {
                    format!("deleted during the run; {GONE}")
                } else {
                    err.to_string()
                };
                return StreamEvaluation::failed(stream, note);
            }
        };
        match observe(
            &self.settings,
            stream,
            &summary,
            &tags,
            &snapshot.alarms,
            headroom,
        ) {
            Ok(observed) => {
                let settings = self.stream_settings(stream, &tags);
                self.evaluate_observed(&observed, &snapshot.alarms, &usage, &settings, now)
                    .await
            }
            Err(err) => StreamEvaluation::failed(stream, err),
        }
    }

    /// Open shard counts: those already read this run, ListShards for the others (its quota
    /// is per stream, so several at a time cost no account-wide quota).
    async fn shard_counts(
        &self,
        streams: &[String],
        known: &HashMap<String, u32>,
    ) -> HashMap<String, Result<u32, AwsError>> {
        futures_util::stream::iter(streams.iter().map(|stream| async move {
            let count = match known.get(stream) {
                Some(shards) => Ok(*shards),
                None => self.aws.open_shard_count(stream).await,
            };
            (stream.clone(), count)
        }))
        .buffer_unordered(DEFAULT_CONCURRENCY)
        .collect()
        .await
    }

    /// The load and lag of up to [`METRIC_STREAMS_PER_CALL`] streams: one GetMetricData
    /// request, in as many pages as CloudWatch cuts it into. `None` when it cannot be read
    /// (logged once).
    async fn read_usages(
        &self,
        streams: &[String],
        now: DateTime<Utc>,
    ) -> Option<HashMap<String, StreamMetrics>> {
        let period = self.settings.period_mins.max(1) * 60;
        let (start, end) = usage::usage_window(&self.settings, now);
        match usage::read_metrics(&self.aws, streams, start, end, period).await {
            Ok(metrics) => Some(metrics),
            Err(err) => {
                let first = streams.first().map(String::as_str).unwrap_or("");
                usage::metrics_unreadable(first, &err);
                None
            }
        }
    }

    /// The [`Usage`] of one stream's datapoints (none: an empty one), over the window
    /// [`usage::read_recent`] reads, as the stream's `settings` decide.
    fn usage_of(
        &self,
        metrics: Option<&StreamMetrics>,
        now: DateTime<Utc>,
        settings: &Settings,
    ) -> Usage<'static> {
        let none = StreamMetrics::default();
        usage::recent_usage(&self.settings, settings, metrics.unwrap_or(&none), now)
    }
}

/// A listed stream's record with its open shard count (ListShards', or the sweep's).
fn listed_summary(listed: &ListedStream, shards: u32) -> StreamSummary {
    StreamSummary {
        status: listed.status,
        mode: listed.mode,
        open_shards: shards,
    }
}
