//! The account report: every stream's history from CloudWatch, replayed as it is, under
//! upstream's policy, under ours and on demand ([`compare::stream_report`]). Streams are read
//! and replayed a batch at a time (one batched GetMetricData of [`METRIC_STREAMS_PER_CALL`]
//! streams) and handed out as they are done, so memory does not grow with the account.

use crate::aws::{AwsError, AwsPort, ListedStream, METRIC_STREAMS_PER_CALL};
use crate::domain::policy::StreamMode;
use crate::ops::export::{self, Window};
use crate::ops::usage::StreamMetrics;
use crate::replay::compare::{self, Billing, StreamReport};
use crate::replay::simulate::{Options, SimError};
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use std::collections::HashMap;
use tokio::time::{Duration, Instant};

/// GetMetricData's datapoint quota for windows that start more than 3 hours ago (a second).
pub const DATAPOINTS_PER_SECOND: f64 = 396_000.0;
/// ListShards calls under way at once (its quota is per stream).
const SHARD_COUNT_CONCURRENCY: usize = 16;

/// Which streams the report covers.
#[derive(Debug, Clone, PartialEq)]
pub enum Selection {
    /// Every stream whose name starts with this (all of them for "").
    Prefix(String),
    /// These streams.
    Named(Vec<String>),
}

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("the report's period is {settings_secs} s but CloudWatch has {window_secs}-s datapoints for this window: set SCALE_PERIOD_MINS to match")]
    PeriodMismatch {
        settings_secs: i64,
        window_secs: i64,
    },
    #[error(transparent)]
    Aws(#[from] AwsError),
}

/// What happened to one stream.
#[derive(Debug, Clone)]
pub enum Row {
    /// Replayed.
    Stream(Box<StreamReport>),
    /// CloudWatch has no datapoint for it in the window.
    NoData {
        stream: String,
        billing: Billing,
        open_shards: u32,
    },
    /// Its shard count or metrics could not be read, or its trace not replayed.
    Failed { stream: String, error: String },
}

/// Counts for the progress display: streams found so far, streams done.
pub trait Progress {
    fn listed(&mut self, _streams: usize) {}
    fn done(&mut self, _streams: usize) {}
}

impl Progress for () {}

/// Reads, replays and hands to `emit` every selected stream, a batch at a time.
pub async fn run(
    aws: &impl AwsPort,
    selection: &Selection,
    window: &Window,
    base: &Options,
    progress: &mut impl Progress,
    mut emit: impl FnMut(Row),
) -> Result<(), ReportError> {
    let window_secs = window.resolution.period_secs();
    let settings_secs = i64::from(base.settings.period_mins) * 60;
    if settings_secs != window_secs {
        return Err(ReportError::PeriodMismatch {
            settings_secs,
            window_secs,
        });
    }
    let mut pacer = DatapointPacer::new(Instant::now());
    match selection {
        Selection::Named(names) => {
            progress.listed(names.len());
            for batch in names.chunks(METRIC_STREAMS_PER_CALL) {
                let listed = describe(aws, batch).await;
                let rows = batch_rows(aws, listed, window, base, &mut pacer).await;
                progress.done(rows.len());
                rows.into_iter().for_each(&mut emit);
            }
        }
        Selection::Prefix(prefix) => {
            let mut pending: Vec<ListedStream> = Vec::new();
            let mut after: Option<String> = None;
            let mut listed = 0;
            loop {
                let page = aws.list_streams_page(after.as_deref()).await?;
                let last = page.next.is_none();
                after = page.next;
                listed += page.items.len();
                progress.listed(listed);
                pending.extend(
                    page.items
                        .into_iter()
                        .filter(|s| s.name.starts_with(prefix)),
                );
                while pending.len() >= METRIC_STREAMS_PER_CALL || (last && !pending.is_empty()) {
                    let cut = pending.len().min(METRIC_STREAMS_PER_CALL);
                    let batch: Vec<_> = pending.drain(..cut).collect();
                    let rows =
                        batch_rows(aws, with_shards(aws, batch).await, window, base, &mut pacer)
                            .await;
                    progress.done(rows.len());
                    rows.into_iter().for_each(&mut emit);
                }
                if last {
                    return Ok(());
                }
            }
        }
    }
    Ok(())
}

/// A stream whose mode and shard count are known, or why they are not.
type Listed = (String, Result<(StreamMode, u32), AwsError>);

/// Named streams: DescribeStreamSummary gives the mode and the shard count.
async fn describe(aws: &impl AwsPort, names: &[String]) -> Vec<Listed> {
    let mut out = Vec::with_capacity(names.len());
    for name in names {
        let summary = aws.stream_summary(name).await;
        out.push((name.clone(), summary.map(|s| (s.mode, s.open_shards))));
    }
    out
}

/// Listed streams: ListShards for the shard count (a quota per stream, so several at once),
/// as the scheduled run reads it; DescribeStreamSummary for a stream the listing gave no
/// mode for (an emulator's names-only answer).
async fn with_shards(aws: &impl AwsPort, streams: Vec<ListedStream>) -> Vec<Listed> {
    let mut counted: HashMap<String, Result<(StreamMode, u32), AwsError>> =
        futures_util::stream::iter(streams.iter().map(|listed| async move {
            let known = if listed.summarized {
                let count = aws.open_shard_count(&listed.name).await;
                count.map(|shards| (listed.mode, shards))
            } else {
                let summary = aws.stream_summary(&listed.name).await;
                summary.map(|s| (s.mode, s.open_shards))
            };
            (listed.name.clone(), known)
        }))
        .buffer_unordered(SHARD_COUNT_CONCURRENCY)
        .collect()
        .await;
    streams
        .into_iter()
        .map(|listed| {
            let known = counted
                .remove(&listed.name)
                .unwrap_or_else(|| Err(unread(&listed.name, "ListShards")));
            (listed.name, known)
        })
        .collect()
}

fn unread(stream: &str, call: &'static str) -> AwsError {
    AwsError {
        call,
        target: stream.to_string(),
        code: None,
        message: "not read".into(),
        kind: crate::aws::FailureKind::Refused,
    }
}

/// One batch: its metrics in one batched GetMetricData (as many pages as CloudWatch cuts it
/// into), then each stream's replays.
async fn batch_rows(
    aws: &impl AwsPort,
    listed: Vec<Listed>,
    window: &Window,
    base: &Options,
    pacer: &mut DatapointPacer,
) -> Vec<Row> {
    let mut rows = Vec::with_capacity(listed.len());
    let mut readable = Vec::new();
    for (stream, known) in listed {
        match known {
            Ok((mode, shards)) => readable.push((stream, mode, shards)),
            Err(err) => rows.push(Row::Failed {
                stream,
                error: err.to_string(),
            }),
        }
    }
    let names: Vec<String> = readable.iter().map(|(n, _, _)| n.clone()).collect();
    let mut points = match read_metrics(aws, &names, window, pacer).await {
        Ok(points) => points,
        Err(err) => {
            rows.extend(names.into_iter().map(|stream| Row::Failed {
                stream,
                error: err.to_string(),
            }));
            return rows;
        }
    };
    for (stream, mode, shards) in readable {
        let billing = match mode {
            StreamMode::OnDemand => Billing::OnDemand,
            _ => Billing::Provisioned,
        };
        let mine = points.remove(&stream).unwrap_or_default();
        rows.push(match replay(&stream, billing, shards, window, mine, base) {
            Ok(Some(report)) => Row::Stream(Box::new(report)),
            Ok(None) => Row::NoData {
                stream,
                billing,
                open_shards: shards,
            },
            Err(error) => Row::Failed { stream, error },
        });
    }
    rows
}

fn replay(
    stream: &str,
    billing: Billing,
    shards: u32,
    window: &Window,
    metrics: StreamMetrics,
    base: &Options,
) -> Result<Option<StreamReport>, String> {
    let trace = export::trace_in(window, metrics).map_err(|e| e.to_string())?;
    let Some(trace) = trace else { return Ok(None) };
    compare::stream_report(stream, billing, shards, &trace, base)
        .map(Some)
        .map_err(|e: SimError| e.to_string())
}

/// The batch's datapoints, by stream (as [`crate::ops::usage::read_metrics`] merges them,
/// each request held under the datapoint quota).
async fn read_metrics(
    aws: &impl AwsPort,
    streams: &[String],
    window: &Window,
    pacer: &mut DatapointPacer,
) -> Result<HashMap<String, StreamMetrics>, AwsError> {
    if streams.is_empty() {
        return Ok(HashMap::new());
    }
    let period = u32::try_from(window.resolution.period_secs()).unwrap_or(300);
    let mut series = Vec::new();
    let mut next: Option<String> = None;
    loop {
        pacer.wait().await;
        let page = aws
            .incoming_metrics_page(streams, window.start, window.end, period, next.as_deref())
            .await?;
        pacer.took(page.items.iter().map(|s| s.points.len()).sum());
        series.extend(page.items);
        match page.next {
            Some(token) => next = Some(token),
            None => break,
        }
    }
    Ok(crate::ops::usage::by_stream(series))
}

/// Holds GetMetricData under its datapoint quota ([`DATAPOINTS_PER_SECOND`]), which a report
/// of thousands of streams reaches long before the call quota: each request waits until the
/// datapoints before it fit in the time elapsed.
#[derive(Debug)]
pub struct DatapointPacer {
    started: Instant,
    datapoints: u64,
}

impl DatapointPacer {
    pub fn new(started: Instant) -> Self {
        DatapointPacer {
            started,
            datapoints: 0,
        }
    }

    pub fn took(&mut self, datapoints: usize) {
        self.datapoints += datapoints as u64;
    }

    /// When the next request may go.
    pub fn due(&self) -> Instant {
        self.started + Duration::from_secs_f64(self.datapoints as f64 / DATAPOINTS_PER_SECOND)
    }

    async fn wait(&self) {
        tokio::time::sleep_until(self.due()).await;
    }
}

/// The window's `[start, end)` as `simulate --stream` aligns it.
pub fn window(
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Window, export::ExportError> {
    export::window(start, end, now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pacer_spreads_datapoints_over_time() {
        let t0 = Instant::now();
        let mut pacer = DatapointPacer::new(t0);
        assert_eq!(pacer.due(), t0);
        pacer.took(792_000);
        assert_eq!(pacer.due(), t0 + Duration::from_secs(2));
    }
}
