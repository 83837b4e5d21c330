//! The times of a stream's recent reshards, kept in its `AutoscalerReshardHistory` tag so the
//! 10-per-rolling-24-hours limit is counted, not hoped for. The tag is written *before* each
//! `UpdateShardCount`: a failure between the two can only over-count, never under-count.
//!
//! Format: space-separated UTC instants such as `20261123T101544.775Z` (Kinesis tag values
//! allow letters, digits, spaces and `.`; eleven entries fit in the 256-character limit).

use chrono::{DateTime, Duration, NaiveDateTime, Utc};

const ENTRY_FORMAT: &str = "%Y%m%dT%H%M%S%.3fZ";
/// Entries kept when writing: a full day's budget plus the one before it.
const MAX_ENTRIES: usize = 11;

#[derive(Debug, thiserror::Error, PartialEq)]
#[error("stream {stream}: tag AutoscalerReshardHistory is corrupted at {entry:?} (expected times like 20261123T101544.775Z); fix or delete the tag")]
pub struct HistoryError {
    pub stream: String,
    pub entry: String,
}

/// The rolling-24-hour reshard budget, from the stream's history: the one place its rules
/// are written (the event policy, the sizing, the reports and the metrics all ask it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Reshards in the last 24 hours.
    pub used: u32,
    /// `MAX_RESHARDS_PER_DAY`.
    pub limit: u32,
    /// `SCALE_UP_RESHARD_RESERVE`: the last calls, kept for reactive scale-ups.
    pub reserve: u32,
}

impl Budget {
    pub fn new(history: &ReshardHistory, limit: u32, reserve: u32, now: DateTime<Utc>) -> Self {
        Budget {
            used: history.used_in_day(now),
            limit,
            reserve,
        }
    }

    /// Calls left in the rolling 24 hours.
    pub fn left(&self) -> u32 {
        self.limit.saturating_sub(self.used)
    }

    /// A reactive scale-up may spend any call left.
    pub fn allows_reactive(&self) -> bool {
        self.left() > 0
    }

    /// A move that may wait (scale-down, pre-scaling) keeps the reserve.
    pub fn allows_elective(&self) -> bool {
        self.left() > self.reserve
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReshardHistory {
    /// Oldest first.
    times: Vec<DateTime<Utc>>,
}

impl ReshardHistory {
    pub fn new(mut times: Vec<DateTime<Utc>>) -> Self {
        times.sort_unstable();
        ReshardHistory { times }
    }

    pub fn parse(stream: &str, tag_value: &str) -> Result<Self, HistoryError> {
        tag_value
            .split_whitespace()
            .map(|entry| {
                NaiveDateTime::parse_from_str(entry, ENTRY_FORMAT)
                    .map(|t| t.and_utc())
                    .map_err(|_| HistoryError {
                        stream: stream.to_string(),
                        entry: entry.to_string(),
                    })
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Self::new)
    }

    pub fn encode(&self) -> String {
        let skip = self.times.len().saturating_sub(MAX_ENTRIES);
        self.times[skip..]
            .iter()
            .map(|t| t.format(ENTRY_FORMAT).to_string())
            .collect::<Vec<_>>()
            .join(" ")
    }

    pub fn last(&self) -> Option<DateTime<Utc>> {
        self.times.last().copied()
    }

    pub fn times(&self) -> &[DateTime<Utc>] {
        &self.times
    }

    /// Reshards in the rolling 24 hours that end at `now`.
    pub fn used_in_day(&self, now: DateTime<Utc>) -> u32 {
        let since = now - Duration::hours(24);
        self.times.iter().filter(|t| **t > since).count() as u32
    }

    /// The history after a reshard at `at`: entries older than 24 h are dropped, but the
    /// latest one is always kept because it also marks which alarm events are stale.
    pub fn with_reshard(&self, at: DateTime<Utc>) -> Self {
        let since = at - Duration::hours(24);
        let mut times: Vec<_> = self.times.iter().copied().filter(|t| *t > since).collect();
        if times.is_empty() {
            times.extend(self.last());
        }
        times.push(at);
        Self::new(times)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn round_trips_and_counts_a_rolling_day() {
        let h = ReshardHistory::parse("s", "20261123T101544.775Z  20261122T090000.000Z").unwrap();
        assert_eq!(h.encode(), "20261122T090000.000Z 20261123T101544.775Z");
        assert_eq!(h.last(), Some(t("2026-11-23T10:15:44.775Z")));
        assert_eq!(h.used_in_day(t("2026-11-23T08:59:59Z")), 2);
        assert_eq!(h.used_in_day(t("2026-11-23T09:00:00Z")), 1);
        assert_eq!(
            ReshardHistory::parse("s", "").unwrap(),
            ReshardHistory::default()
        );
    }

    #[test]
    fn corruption_names_stream_and_entry() {
        let err = ReshardHistory::parse("orders", "20261123T101544.775Z yesterday").unwrap_err();
        assert_eq!(err.entry, "yesterday");
        assert!(err.to_string().contains("orders"));
    }

    #[test]
    fn appending_prunes_old_entries_but_keeps_the_last() {
        let old = ReshardHistory::new(vec![t("2026-11-01T00:00:00Z"), t("2026-11-02T00:00:00Z")]);
        let next = old.with_reshard(t("2026-11-23T00:00:00Z"));
        assert_eq!(
            next.times(),
            [t("2026-11-02T00:00:00Z"), t("2026-11-23T00:00:00Z")]
        );
        let mut full = ReshardHistory::default();
        for i in 0..30 {
            full = full.with_reshard(t("2026-11-23T00:00:00Z") + Duration::minutes(i));
        }
        assert!(full.encode().len() <= 256, "{}", full.encode().len());
        assert_eq!(full.used_in_day(t("2026-11-23T01:00:00Z")), 30);
    }
}
