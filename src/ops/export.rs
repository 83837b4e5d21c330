//! A stream's traffic from CloudWatch as a replay trace: the Sums of `IncomingBytes` and
//! `IncomingRecords` per period, at the finest resolution CloudWatch still keeps for the
//! window (5-minute datapoints for 63 days, hourly ones for 455 days), and the Maximum of
//! `GetRecords.IteratorAgeMilliseconds` in the trace's `iterator_age_ms` column when the
//! metric exists (the replay's lag guard). Records `WriteProvisionedThroughputExceeded`
//! counts as refused are added back (a trace is demand; the replay throttles it itself). A period without a datapoint stays a gap; nothing
//! is made up.

use crate::aws::{AwsError, AwsPort, IncomingPoint};
use crate::ops::usage::{read_metrics, StreamMetrics};
use crate::replay::trace::{self, Row, Trace, TraceError};
use chrono::{DateTime, Duration, DurationRound, Utc};
use std::collections::BTreeMap;

/// How long CloudWatch keeps 5-minute datapoints.
pub const FIVE_MINUTE_RETENTION_DAYS: i64 = 63;
/// How long CloudWatch keeps hourly datapoints.
pub const HOURLY_RETENTION_DAYS: i64 = 455;
/// Days asked of CloudWatch per request: a bound on each answer (well under GetMetricData's
/// 100,800 datapoints) and the step of the progress bar.
const CHUNK_DAYS: i64 = 7;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Resolution {
    FiveMinutes,
    Hourly,
}

impl Resolution {
    pub fn period_secs(self) -> i64 {
        match self {
            Resolution::FiveMinutes => 300,
            Resolution::Hourly => 3600,
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Resolution::FiveMinutes => "5-minute Sums",
            Resolution::Hourly => "hourly Sums (5-minute data is kept only 63 days)",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("the export window is empty: --start {start} is not before --end {end}")]
    EmptyWindow { start: String, end: String },
    #[error("the window {start} to {end} ends more than {HOURLY_RETENTION_DAYS} days ago: CloudWatch keeps no datapoints that old")]
    BeyondRetention { start: String, end: String },
    #[error("CloudWatch has no IncomingBytes or IncomingRecords for stream {stream} from {start} to {end}: check the stream's name and region (a stream that received nothing has no datapoints)")]
    NoData {
        stream: String,
        start: String,
        end: String,
    },
    #[error(transparent)]
    Aws(#[from] AwsError),
    #[error("CloudWatch's answer is not a usable trace: {0}")]
    Trace(#[from] TraceError),
}

/// What will be asked of CloudWatch: the window on the period grid and its resolution.
#[derive(Debug, Clone, PartialEq)]
pub struct Window {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub resolution: Resolution,
    /// Why the window differs from the one asked for (retention, the future).
    pub notes: Vec<String>,
    /// The window asked for was cut short by retention: the trace covers only part of it.
    pub partial: bool,
}

fn stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Chooses the resolution and aligns `[start, end)` to its grid: 5-minute datapoints when the
/// window starts within their retention, else hourly ones (one resolution for the whole
/// trace, so hourly data is never passed off as 5-minute data). A start beyond hourly
/// retention is moved up to it (a partial export); the end is at most `now`, cut to the last
/// whole period.
pub fn window(
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Window, ExportError> {
    if start >= end {
        return Err(ExportError::EmptyWindow {
            start: stamp(start),
            end: stamp(end),
        });
    }
    let mut notes = Vec::new();
    let oldest_hourly = now - Duration::days(HOURLY_RETENTION_DAYS);
    if end <= oldest_hourly {
        return Err(ExportError::BeyondRetention {
            start: stamp(start),
            end: stamp(end),
        });
    }
    let resolution = if start >= now - Duration::days(FIVE_MINUTE_RETENTION_DAYS) {
        Resolution::FiveMinutes
    } else {
        notes.push(format!(
            "the window starts more than {FIVE_MINUTE_RETENTION_DAYS} days ago, so CloudWatch has only hourly datapoints for it: the trace has 3600-s periods (simulate it with --period-mins 60)"
        ));
        Resolution::Hourly
    };
    let period = Duration::seconds(resolution.period_secs());
    let mut partial = false;
    let mut first = start;
    if first < oldest_hourly {
        // The oldest whole hour CloudWatch still has.
        first = oldest_hourly
            .duration_trunc(period)
            .unwrap_or(oldest_hourly)
            + period;
        partial = true;
        notes.push(format!(
            "partial: CloudWatch keeps hourly datapoints {HOURLY_RETENTION_DAYS} days, so the trace starts at {} instead of {}",
            stamp(first),
            stamp(start)
        ));
    }
    let mut last = end;
    if last > now {
        last = now;
        notes.push(format!(
            "the window ends in the future; the trace stops at {}",
            stamp(now.duration_trunc(period).unwrap_or(now))
        ));
    }
    // Whole periods only: a period still running has an incomplete Sum.
    let first = {
        let cut = first.duration_trunc(period).unwrap_or(first);
        if cut < first {
            cut + period
        } else {
            cut
        }
    };
    let last = last.duration_trunc(period).unwrap_or(last);
    if first >= last {
        return Err(ExportError::EmptyWindow {
            start: stamp(first),
            end: stamp(last),
        });
    }
    Ok(Window {
        start: first,
        end: last,
        resolution,
        notes,
        partial,
    })
}

impl Window {
    /// Periods from start to end.
    pub fn periods(&self) -> u64 {
        let secs = (self.end - self.start).num_seconds() / self.resolution.period_secs();
        u64::try_from(secs).unwrap_or_default()
    }
}

/// The trace of a stream's datapoints in `window`: only those inside it and on its grid
/// (anything else would shift periods), oldest first, one a period, with the iterator age of
/// its period where CloudWatch has one; `None` without any traffic datapoint. A row is the
/// period's demand ([`StreamMetrics::demand`]: admitted plus throttled records), as the
/// replay models a trace. The single-stream export, the account report and the function's
/// daily tuning all read traces this way.
pub fn trace_in(window: &Window, metrics: StreamMetrics) -> Result<Option<Trace>, TraceError> {
    let period_secs = window.resolution.period_secs();
    let inside = |at: &DateTime<Utc>| {
        *at >= window.start && *at < window.end && at.timestamp() % period_secs == 0
    };
    let mut points: Vec<IncomingPoint> = metrics
        .demand()
        .into_iter()
        .filter(|p| inside(&p.start))
        .collect();
    points.sort_by_key(|p| p.start);
    points.dedup_by_key(|p| p.start);
    if points.is_empty() {
        return Ok(None);
    }
    let ages: BTreeMap<DateTime<Utc>, f64> = metrics
        .iterator_ages
        .into_iter()
        .filter(|(at, _)| inside(at))
        .collect();
    let rows = points
        .into_iter()
        .map(|p| Row {
            timestamp: p.start,
            incoming_bytes: p.bytes,
            incoming_records: p.records,
            iterator_age_ms: ages.get(&p.start).copied(),
        })
        .collect();
    Ok(Some(trace::from_rows(rows)?))
}

/// An exported trace and what a reader must know about it.
#[derive(Debug, Clone)]
pub struct Export {
    pub stream: String,
    pub window: Window,
    pub trace: Trace,
    /// Periods inside the window without a datapoint (gaps in the trace).
    pub missing_periods: u64,
    pub periods: u64,
    /// A request failed after earlier ones had answered: the trace stops where the failed
    /// request began (the window's end says where), and the error says why.
    pub failure: Option<AwsError>,
}

impl Export {
    /// The lines a trace file starts with (as `#` comments) and a person should read.
    pub fn notes(&self) -> Vec<String> {
        let mut lines = vec![
            format!(
                "kinesis-autoscaler trace export: stream {}, {} to {}, {}",
                self.stream,
                stamp(self.window.start),
                stamp(self.window.end),
                self.window.resolution.describe()
            ),
            format!(
                "{} of {} periods have a datapoint; the {} without one are gaps, not zeros",
                self.periods - self.missing_periods,
                self.periods,
                self.missing_periods
            ),
        ];
        lines.extend(self.window.notes.iter().cloned());
        lines
    }
}

/// Reads the stream's incoming traffic in `window` from CloudWatch, a week per request;
/// `progress(done, total)` is called after each request. When a request fails (throttled
/// beyond the retries, access denied) after earlier ones answered, the export is cut there
/// and marked partial, with the error in [`Export::failure`]; when the first one fails, the
/// error is returned.
pub async fn export(
    aws: &impl AwsPort,
    stream: &str,
    window: Window,
    mut progress: impl FnMut(u64, u64),
) -> Result<Export, ExportError> {
    let period_secs = window.resolution.period_secs();
    let chunk = Duration::days(CHUNK_DAYS);
    let chunks =
        ((window.end - window.start).num_seconds() + chunk.num_seconds() - 1) / chunk.num_seconds();
    let total = u64::try_from(chunks.max(1)).unwrap_or(1);
    let mut points: Vec<IncomingPoint> = Vec::new();
    let mut ages: BTreeMap<DateTime<Utc>, f64> = BTreeMap::new();
    let mut throttled: BTreeMap<DateTime<Utc>, f64> = BTreeMap::new();
    let streams = [stream.to_string()];
    let mut window = window;
    let mut failure = None;
    let mut from = window.start;
    let mut done = 0;
    while from < window.end {
        let to = (from + chunk).min(window.end);
        let period = u32::try_from(period_secs).unwrap_or(300);
        let answer = match read_metrics(aws, &streams, from, to, period).await {
            Ok(mut answer) => answer.remove(stream).unwrap_or_default(),
            Err(err) if from > window.start => {
                window.notes.push(format!(
                    "partial: GetMetricData failed for {} onwards, so the trace stops there ({err})",
                    stamp(from)
                ));
                window.partial = true;
                window.end = from;
                failure = Some(err);
                break;
            }
            Err(err) => return Err(err.into()),
        };
        // Only datapoints inside the chunk, on the grid: anything else would shift periods.
        let inside =
            |at: &DateTime<Utc>| *at >= from && *at < to && at.timestamp() % period_secs == 0;
        points.extend(answer.incoming.into_iter().filter(|p| inside(&p.start)));
        ages.extend(
            answer
                .iterator_ages
                .into_iter()
                .filter(|(at, _)| inside(at)),
        );
        throttled.extend(answer.throttled.into_iter().filter(|(at, _)| inside(at)));
        done += 1;
        progress(done, total);
        from = to;
    }
    let metrics = StreamMetrics {
        incoming: points,
        iterator_ages: ages.into_iter().collect(),
        throttled: throttled.into_iter().collect(),
    };
    let Some(trace) = trace_in(&window, metrics)? else {
        return Err(ExportError::NoData {
            stream: stream.to_string(),
            start: stamp(window.start),
            end: stamp(window.end),
        });
    };
    let periods = window.periods();
    let present = trace.rows.len() as u64;
    Ok(Export {
        stream: stream.to_string(),
        window,
        trace,
        missing_periods: periods.saturating_sub(present),
        periods,
        failure,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::fake::FakeAws;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn recent_windows_get_five_minute_periods_on_the_grid() {
        let now = at("2026-11-30T12:07:30Z");
        let w = window(at("2026-11-29T00:01:00Z"), at("2026-12-01T00:00:00Z"), now).unwrap();
        assert_eq!(w.resolution, Resolution::FiveMinutes);
        assert_eq!(w.start, at("2026-11-29T00:05:00Z"));
        assert_eq!(w.end, at("2026-11-30T12:05:00Z"));
        assert!(!w.partial);
        assert!(w.notes[0].contains("future"), "{:?}", w.notes);
    }

    #[test]
    fn old_windows_are_hourly_and_say_so_and_retention_cuts_them() {
        let now = at("2026-11-30T12:00:00Z");
        let w = window(now - Duration::days(100), now - Duration::days(90), now).unwrap();
        assert_eq!(w.resolution, Resolution::Hourly);
        assert!(w.notes[0].contains("--period-mins 60"));
        let w = window(now - Duration::days(500), now - Duration::days(400), now).unwrap();
        assert!(w.partial);
        assert!(w.start > now - Duration::days(HOURLY_RETENTION_DAYS));
        assert!(w.notes.iter().any(|n| n.starts_with("partial")));
        assert!(matches!(
            window(now - Duration::days(600), now - Duration::days(500), now),
            Err(ExportError::BeyondRetention { .. })
        ));
        assert!(matches!(
            window(now, now - Duration::days(1), now),
            Err(ExportError::EmptyWindow { .. })
        ));
    }

    #[tokio::test]
    async fn gaps_stay_gaps_and_no_data_is_an_error() {
        let now = at("2026-11-30T12:00:00Z");
        let aws = FakeAws::new(now);
        let start = at("2026-11-20T00:00:00Z");
        let points: Vec<IncomingPoint> = (0..(10 * 288))
            .filter(|i| i % 100 != 7)
            .map(|i| IncomingPoint {
                start: start + Duration::minutes(5 * i),
                bytes: 1000.0 + i as f64,
                records: 10.0,
            })
            .collect();
        aws.put_incoming("orders", &points);
        let w = window(start, start + Duration::days(10), now).unwrap();
        let mut calls = Vec::new();
        let export = export(&aws, "orders", w.clone(), |d, t| calls.push((d, t)))
            .await
            .unwrap();
        assert_eq!(calls, vec![(1, 2), (2, 2)]);
        assert_eq!(export.periods, 2880);
        assert_eq!(export.missing_periods, 29);
        assert_eq!(export.trace.rows.len(), points.len());
        assert_eq!(export.trace.period_secs, Some(300));
        assert_eq!(export.trace.rows[7].timestamp, points[7].start);
        assert!(export
            .trace
            .rows
            .iter()
            .all(|r| r.iterator_age_ms.is_none()));
        // With the iterator age: its Maximum per period, in the trace's optional column.
        aws.put_iterator_age("orders", points[8].start + Duration::seconds(10), 50.0);
        aws.put_iterator_age("orders", points[8].start + Duration::seconds(20), 70.0);
        let export = super::export(&aws, "orders", w.clone(), |_, _| {})
            .await
            .unwrap();
        assert_eq!(export.trace.rows[8].iterator_age_ms, Some(70.0));
        assert_eq!(export.trace.rows[9].iterator_age_ms, None);
        let err = super::export(&aws, "nothing", w, |_, _| {})
            .await
            .unwrap_err();
        assert!(matches!(err, ExportError::NoData { .. }), "{err}");
    }
}
