//! The fake's bookkeeping: its clock, reshards settling, lookups that fail as AWS does, and
//! the recorded traffic summed into metric periods.

use super::*;

impl State {
    pub(super) fn clock(&self) -> DateTime<Utc> {
        self.now.unwrap_or_else(Utc::now)
    }

    /// A stream's stored traffic summed into periods of `period_secs` in [start, end).
    pub(super) fn incoming(
        &self,
        stream: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        period_secs: u32,
    ) -> Vec<IncomingPoint> {
        let period = i64::from(period_secs.max(1));
        let mut buckets: BTreeMap<i64, (f64, f64)> = BTreeMap::new();
        if let Some(series) = self.metrics.get(stream) {
            for (at, (bytes, records)) in series.range(start..end) {
                let bucket = at.timestamp().div_euclid(period) * period;
                let sum = buckets.entry(bucket).or_default();
                sum.0 += bytes;
                sum.1 += records;
            }
        }
        buckets
            .into_iter()
            .filter_map(|(secs, (bytes, records))| {
                Some(IncomingPoint {
                    start: DateTime::from_timestamp(secs, 0)?,
                    bytes,
                    records,
                })
            })
            .collect()
    }

    /// A stream's stored iterator ages, the Maximum of each period of `period_secs` in
    /// [start, end).
    pub(super) fn iterator_age(
        &self,
        stream: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        period_secs: u32,
    ) -> Vec<(DateTime<Utc>, f64)> {
        per_period(
            self.iterator_ages.get(stream),
            start..end,
            period_secs,
            f64::max,
        )
    }

    /// A stream's stored throttled records, the Sum of each period of `period_secs` in
    /// [start, end).
    pub(super) fn throttled(
        &self,
        stream: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        period_secs: u32,
    ) -> Vec<(DateTime<Utc>, f64)> {
        per_period(
            self.throttled.get(stream),
            start..end,
            period_secs,
            |a, b| a + b,
        )
    }

    /// Completes the reshards whose UPDATING window has passed.
    pub(super) fn settle(&mut self) {
        let now = self.clock();
        for stream in self.streams.values_mut() {
            if let Some((target, done)) = stream.pending {
                if done <= now {
                    stream.open_shards = target;
                    stream.pending = None;
                }
            }
        }
    }

    pub(super) fn stream(
        &mut self,
        action: &'static str,
        name: &str,
    ) -> AwsResult<&mut FakeStream> {
        self.streams.get_mut(name).ok_or_else(|| {
            error(
                action,
                name,
                Some("ResourceNotFoundException"),
                &format!("Stream {name} under account {FAKE_ACCOUNT} not found."),
                FailureKind::Refused,
            )
        })
    }

    pub(super) fn alarm_by_arn(
        &mut self,
        action: &'static str,
        arn: &str,
    ) -> AwsResult<&mut FakeAlarm> {
        let name = arn.rsplit_once(":alarm:").map(|(_, n)| n).unwrap_or(arn);
        self.alarms.get_mut(name).ok_or_else(|| {
            error(
                action,
                arn,
                Some("ResourceNotFoundException"),
                "no such alarm",
                FailureKind::Refused,
            )
        })
    }

    /// A function by name or ARN (Lambda takes both).
    pub(super) fn function(
        &mut self,
        action: &'static str,
        name: &str,
    ) -> AwsResult<&mut Option<u32>> {
        let short = name.rsplit(':').next().unwrap_or(name);
        self.functions.get_mut(short).ok_or_else(|| {
            error(
                action,
                name,
                Some("ResourceNotFoundException"),
                &format!("Function not found: {name}"),
                FailureKind::Refused,
            )
        })
    }

    pub(super) fn open_shards_in_account(&self) -> u32 {
        self.streams
            .values()
            .map(|s| {
                s.pending
                    .map_or(s.open_shards, |(t, _)| t.max(s.open_shards))
            })
            .sum()
    }
}

/// The points of `series` in `range`, each period of `period_secs` (from the epoch, as
/// CloudWatch aligns them) folded into one figure by `fold` (a Statistic: Maximum, Sum).
fn per_period(
    series: Option<&BTreeMap<DateTime<Utc>, f64>>,
    range: std::ops::Range<DateTime<Utc>>,
    period_secs: u32,
    fold: impl Fn(f64, f64) -> f64,
) -> Vec<(DateTime<Utc>, f64)> {
    let period = i64::from(period_secs.max(1));
    let mut buckets: BTreeMap<i64, f64> = BTreeMap::new();
    for (at, value) in series.into_iter().flat_map(|s| s.range(range.clone())) {
        buckets
            .entry(at.timestamp().div_euclid(period) * period)
            .and_modify(|figure| *figure = fold(*figure, *value))
            .or_insert(*value);
    }
    buckets
        .into_iter()
        .filter_map(|(secs, figure)| Some((DateTime::from_timestamp(secs, 0)?, figure)))
        .collect()
}
