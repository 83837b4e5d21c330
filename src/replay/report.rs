//! What a replay reports: the timeline, the reshards, the summary with its costs, and the
//! text and CSV a person reads.

use crate::domain::event::Direction;
use crate::domain::settings::AWS_DAILY_RESHARD_LIMIT;
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

// The timeline's CSV file is the command line's (the function links no CSV writer).
#[cfg(feature = "cli")]
#[path = "timeline_csv.rs"]
mod timeline_csv;
#[cfg(feature = "cli")]
pub use timeline_csv::write_timeline;

/// Prices in USD, us-east-1 as published, checked 2026-11.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Prices {
    pub shard_hour: f64,
    pub put_units_million: f64,
    pub on_demand_stream_hour: f64,
    pub on_demand_gb: f64,
}

impl Default for Prices {
    fn default() -> Self {
        Prices {
            shard_hour: 0.015,
            put_units_million: 0.014,
            on_demand_stream_hour: 0.04,
            on_demand_gb: 0.08,
        }
    }
}

/// One timeline row: the period of one trace row and what the simulated stream did with it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct TimelineRow {
    pub timestamp: DateTime<Utc>,
    pub shards: u32,
    pub incoming_bytes: f64,
    pub incoming_records: f64,
    pub throttled_records: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReshardEvent {
    pub at: DateTime<Utc>,
    pub direction: Direction,
    pub from: u32,
    pub to: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    pub variant: String,
    /// Trace rows replayed; every per-period sum below is over these.
    pub periods: u64,
    /// Periods inside the trace's span without a row (counted as 0 load by the alarms).
    pub missing_periods: u64,
    pub period_secs: i64,
    pub initial_shards: u32,
    pub final_shards: u32,
    pub shard_hours: f64,
    pub records_total: f64,
    pub records_throttled: f64,
    pub throttled_fraction: f64,
    pub throttled_periods: u64,
    pub bytes_total: f64,
    pub reshards: u64,
    pub scale_ups: u64,
    pub scale_downs: u64,
    pub max_reshards_in_24h: u32,
    /// Reshards that were beyond AWS's 10 in a rolling 24 h (AWS would have refused them).
    pub reshards_over_daily_limit: u64,
    pub alarm_actions: u64,
    pub refusals: u64,
    /// Reshards AWS refused (only the upstream replay asks for illegal ones).
    pub refused_by_aws: u64,
    /// Scheduled evaluations that resharded.
    pub scheduled_reshards: u64,
    pub put_payload_units: f64,
    pub provisioned_cost_usd: f64,
    pub on_demand_cost_usd: f64,
    pub oracle_shard_hours: f64,
    pub oracle_provisioned_cost_usd: f64,
    pub prices: Prices,
    /// The walk-forward tuning, when the replay tuned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tuning: Option<crate::domain::tuning::TuningSummary>,
    /// What would meet the budget where no candidate does, on the trace's last days.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub advice: Option<crate::domain::tuning::Advice>,
}

impl Summary {
    /// Hours of the replayed rows.
    pub fn hours(&self) -> f64 {
        self.periods as f64 * self.period_secs as f64 / 3600.0
    }

    /// `usd` spent over the replayed rows, scaled to 30 days (0 for an empty replay): how
    /// `simulate` and `report` state a monthly cost.
    pub fn per_30_days(&self, usd: f64) -> f64 {
        let hours = self.hours();
        if hours > 0.0 {
            usd * 30.0 * 24.0 / hours
        } else {
            0.0
        }
    }
}

#[derive(Debug, Clone)]
pub struct Outcome {
    pub summary: Summary,
    pub timeline: Vec<TimelineRow>,
    pub reshards: Vec<ReshardEvent>,
}

/// The most reshards in any rolling 24 h, and how many reshards were beyond AWS's limit.
pub(crate) fn day_counts(reshards: &[ReshardEvent]) -> (u32, u64) {
    let mut most = 0;
    let mut over = 0;
    let mut first = 0;
    for (i, r) in reshards.iter().enumerate() {
        while reshards[first].at <= r.at - Duration::hours(24) {
            first += 1;
        }
        let in_day = (i + 1 - first) as u32;
        most = most.max(in_day);
        if in_day > AWS_DAILY_RESHARD_LIMIT {
            over += 1;
        }
    }
    (most, over)
}

/// A few lines for a person.
pub fn human_report(s: &Summary) -> String {
    let pct = |x: f64| 100.0 * x;
    format!(
        "policy: {variant}\n\
         periods: {periods} of {secs} s ({missing} missing), shards {init} -> {fin}\n\
         shard-hours: {sh:.1} (oracle bound {osh:.1}, {ratio:.2}x)\n\
         throttled: {thr:.0} of {rec:.0} records ({tf:.3}%) in {tp} periods (per-period model: a lower bound)\n\
         reshards: {n} ({up} up, {down} down), at most {day} in 24 h{over}; {actions} alarm actions, {refused} refused\n\
         cost: provisioned ${pc:.2} (oracle ${oc:.2}), on-demand ${od:.2}\n",
        variant = s.variant,
        periods = s.periods,
        secs = s.period_secs,
        missing = s.missing_periods,
        init = s.initial_shards,
        fin = s.final_shards,
        sh = s.shard_hours,
        osh = s.oracle_shard_hours,
        ratio = if s.oracle_shard_hours > 0.0 { s.shard_hours / s.oracle_shard_hours } else { 0.0 },
        thr = s.records_throttled,
        rec = s.records_total,
        tf = pct(s.throttled_fraction),
        tp = s.throttled_periods,
        n = s.reshards,
        up = s.scale_ups,
        down = s.scale_downs,
        day = s.max_reshards_in_24h,
        over = if s.reshards_over_daily_limit > 0 {
            format!(" ({} beyond AWS's 10 per 24 h)", s.reshards_over_daily_limit)
        } else {
            String::new()
        },
        actions = s.alarm_actions,
        refused = s.refusals,
        pc = s.provisioned_cost_usd,
        oc = s.oracle_provisioned_cost_usd,
        od = s.on_demand_cost_usd,
    )
}
