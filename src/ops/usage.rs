//! The sized policy's reads: a stream's recent load from CloudWatch (GetMetricData), turned
//! into the [`Usage`] that [`crate::domain::sizing`] decides from. When the metrics cannot be
//! read (the upstream role denies GetMetricData; CloudWatch throttles), the decision falls
//! back to doubling/halving, and the reason is logged once per process, not on every event.

use crate::aws::{
    merge_incoming, merge_iterator_ages, merge_points, AwsError, AwsPort, IncomingMetric,
    IncomingPoint, IncomingSeries,
};
use crate::domain::settings::{ScalingPolicy, Settings};
use crate::domain::sizing::{self, Usage};
use chrono::{DateTime, Duration, Utc};
use std::collections::HashMap;
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

/// What one stream's metrics say over a window: its load, the records refused for want of
/// capacity and how far its consumers lag.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StreamMetrics {
    pub incoming: Vec<IncomingPoint>,
    /// The Maximum of `GetRecords.IteratorAgeMilliseconds` per period (start, milliseconds).
    pub iterator_ages: Vec<(DateTime<Utc>, f64)>,
    /// The Sum of `WriteProvisionedThroughputExceeded` per period (start, records refused).
    pub throttled: Vec<(DateTime<Utc>, f64)>,
}

impl StreamMetrics {
    /// The [`Usage`] these datapoints make over [start, end) in periods of `period_secs`:
    /// the admitted load, or with `see_throttled` the demand ([`StreamMetrics::demand`]).
    pub fn usage(
        &self,
        period_secs: i64,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        see_throttled: bool,
    ) -> Usage<'static> {
        let points = if see_throttled {
            self.demand()
        } else {
            self.incoming.clone()
        };
        let sums: Vec<_> = points
            .iter()
            .map(|p| (p.start, p.bytes, p.records))
            .collect();
        Usage::from_sums(period_secs, start, end, &sums).with_iterator_ages(&self.iterator_ages)
    }

    /// Each period's demand, as the replay's trace holds it: the admitted records plus the
    /// throttled ones, and the bytes scaled alike (a refused record is taken to be of the
    /// period's average size; with none admitted, the bytes are unknown and left as they
    /// are). A period without a throttled datapoint is its admitted load.
    pub fn demand(&self) -> Vec<IncomingPoint> {
        let throttled: HashMap<DateTime<Utc>, f64> = self.throttled.iter().copied().collect();
        self.incoming
            .iter()
            .map(|p| match throttled.get(&p.start) {
                Some(&refused) if refused.is_finite() && refused > 0.0 => {
                    let records = p.records + refused;
                    let bytes = if p.records > 0.0 {
                        p.bytes * records / p.records
                    } else {
                        p.bytes
                    };
                    IncomingPoint {
                        records,
                        bytes,
                        ..*p
                    }
                }
                _ => *p,
            })
            .collect()
    }
}

/// The load, throttled records and iterator age of up to
/// [`crate::aws::METRIC_STREAMS_PER_CALL`] streams per
/// `period_secs` in [start, end): one GetMetricData request, in as many pages as CloudWatch
/// cuts it into. A stream without a datapoint is absent.
pub async fn read_metrics<P: AwsPort>(
    aws: &P,
    streams: &[String],
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    period_secs: u32,
) -> Result<HashMap<String, StreamMetrics>, AwsError> {
    let mut series: Vec<IncomingSeries> = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let page = aws
            .incoming_metrics_page(streams, start, end, period_secs, next.as_deref())
            .await?;
        series.extend(page.items);
        match page.next {
            Some(token) => next = Some(token),
            None => break,
        }
    }
    Ok(by_stream(series))
}

/// A GetMetricData answer's series, merged by stream: each stream's load and iterator ages
/// (a stream with ages but no load datapoint is kept, with no load).
pub fn by_stream(series: Vec<IncomingSeries>) -> HashMap<String, StreamMetrics> {
    let mut ages = merge_iterator_ages(&series);
    let mut throttled = merge_points(&series, IncomingMetric::Throttled);
    let mut out: HashMap<String, StreamMetrics> = merge_incoming(series)
        .into_iter()
        .map(|(stream, incoming)| {
            let iterator_ages = ages.remove(&stream).unwrap_or_default();
            let metrics = StreamMetrics {
                incoming,
                iterator_ages,
                throttled: throttled.remove(&stream).unwrap_or_default(),
            };
            (stream, metrics)
        })
        .collect();
    for (stream, iterator_ages) in ages {
        out.entry(stream).or_default().iterator_ages = iterator_ages;
    }
    for (stream, refused) in throttled {
        out.entry(stream).or_default().throttled = refused;
    }
    out
}

/// The stream's recent metrics over [`usage_window`], or `None` when the policy does not use
/// them or they cannot be read. Read as the scheduled run reads them (the same queries), so
/// the lag guard holds for an alarm action's sized decision too.
pub async fn read_recent<P: AwsPort>(
    aws: &P,
    settings: &Settings,
    stream: &str,
    now: DateTime<Utc>,
) -> Option<StreamMetrics> {
    if settings.scaling_policy != ScalingPolicy::Sized {
        return None;
    }
    let period = settings.period_mins.max(1) * 60;
    let (start, end) = usage_window(settings, now);
    let streams = [stream.to_string()];
    match read_metrics(aws, &streams, start, end, period).await {
        Ok(mut metrics) => Some(metrics.remove(stream).unwrap_or_default()),
        Err(err) => {
            metrics_unreadable(stream, &err);
            None
        }
    }
}

/// The [`Usage`] of `metrics` read over [`usage_window`] of `settings` (the global ones: the
/// window read), as `stream` decides: the demand behind throttled periods when its sizing
/// parameters see it (`see_throttled`, as the replay's sizing does).
pub fn recent_usage(
    settings: &Settings,
    stream: &Settings,
    metrics: &StreamMetrics,
    now: DateTime<Utc>,
) -> Usage<'static> {
    let period = i64::from(settings.period_mins.max(1)) * 60;
    let (start, end) = usage_window(settings, now);
    metrics.usage(period, start, end, stream.sizing.see_throttled)
}

/// [`read_recent`] as [`recent_usage`] under `settings` alone.
pub async fn read_usage<P: AwsPort>(
    aws: &P,
    settings: &Settings,
    stream: &str,
    now: DateTime<Utc>,
) -> Option<Usage<'static>> {
    let metrics = read_recent(aws, settings, stream, now).await?;
    Some(recent_usage(settings, settings, &metrics, now))
}

/// Logs, once per process, that the metrics cannot be read and what is done without them.
pub(crate) fn metrics_unreadable(stream: &str, err: &AwsError) {
    if !FALLBACK_LOGGED.swap(true, Ordering::Relaxed) {
        tracing::warn!(
            stream = %stream,
            error = %err,
            "SCALING_POLICY=sized cannot read the stream's metrics (GetMetricData); deciding by doubling/halving until it can (logged once)"
        );
    }
}

/// Why an evaluation without metrics does nothing: the alarms still act, by doubling/halving.
pub(crate) const METRICS_UNREADABLE: &str = "metrics unreadable: left to the alarms";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::settings::Settings;
    use crate::domain::sizing::needed_shards;
    use crate::replay::simulate::{simulate, Options};
    use crate::replay::trace::{self, Row};

    /// What CloudWatch reports of a replayed period: the admitted Sums and the throttled
    /// records, from the replay's own model of the period.
    fn as_cloudwatch_reports(row: &crate::replay::simulate::TimelineRow) -> (IncomingPoint, f64) {
        let admitted = if row.incoming_records > 0.0 {
            1.0 - row.throttled_records / row.incoming_records
        } else {
            1.0
        };
        let point = IncomingPoint {
            start: row.timestamp,
            bytes: row.incoming_bytes * admitted,
            records: row.incoming_records * admitted,
        };
        (point, row.throttled_records)
    }

    #[test]
    fn the_live_demand_of_a_throttled_period_is_the_replay_s() {
        let start = DateTime::from_timestamp(1_799_971_200, 0).unwrap();
        // One shard; a period at 3x its records and one at 2x its bytes.
        let rows: Vec<Row> = [(0.5, 0.5), (3.0, 1.0), (1.0, 2.0)]
            .iter()
            .enumerate()
            .map(|(i, (records, mib))| Row {
                timestamp: start + Duration::minutes(5 * i as i64),
                incoming_bytes: mib * 1024.0 * 1024.0 * 300.0,
                incoming_records: records * 1000.0 * 300.0,
                iterator_age_ms: None,
            })
            .collect();
        let trace = trace::from_rows(rows.clone()).unwrap();
        let mut opts = Options::new(Settings::default());
        opts.initial_shards = Some(1);
        opts.settings.max_shards = 1;
        let out = simulate(&trace, &opts).unwrap();
        let (incoming, throttled): (Vec<_>, Vec<_>) = out
            .timeline
            .iter()
            .map(|row| {
                let (point, refused) = as_cloudwatch_reports(row);
                (point, (point.start, refused))
            })
            .unzip();
        assert!(throttled.iter().filter(|(_, t)| *t > 0.0).count() == 2);
        let metrics = StreamMetrics {
            incoming,
            iterator_ages: Vec::new(),
            throttled,
        };
        for (live, replayed) in metrics.demand().iter().zip(&rows) {
            let need = |b, r| needed_shards(b, r, 300.0);
            let (a, b) = (
                need(live.bytes, live.records),
                need(replayed.incoming_bytes, replayed.incoming_records),
            );
            assert!((a - b).abs() < 1e-9, "{live:?} vs {replayed:?}");
        }
        // Without the throttled series, the saturated periods read as one shard's worth.
        let admitted = StreamMetrics {
            throttled: Vec::new(),
            ..metrics
        };
        let most = admitted
            .demand()
            .iter()
            .map(|p| needed_shards(p.bytes, p.records, 300.0))
            .fold(0.0, f64::max);
        assert!((most - 1.0).abs() < 1e-9, "{most}");
    }
}
