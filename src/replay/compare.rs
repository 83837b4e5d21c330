//! One stream's history replayed the four ways the account report compares: **as it is** (its
//! current shard count, fixed), **upstream's** policy, **ours**, and **on-demand**. Each
//! provisioned figure comes from [`simulate::simulate`] with the options `simulate` uses, so a
//! stream's row equals what `simulate --stream S --initial-shards N` prints for its window.

use crate::replay::simulate::{self, needed_shards, Options, Outcome, SimError, Summary, Variant};
use crate::replay::trace::Trace;
use chrono::{DateTime, Utc};
use serde::Serialize;

/// Points of a row's chart at most: enough for a small picture, little for 10,000 rows.
pub const CHART_POINTS: usize = 96;

/// How a stream is billed today.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Billing {
    Provisioned,
    OnDemand,
}

/// One scenario's figures over the window; the cost is scaled to 30 days.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Figures {
    pub monthly_cost_usd: f64,
    pub shard_hours: f64,
    pub records_throttled: f64,
    pub throttled_fraction: f64,
    pub reshards: u64,
}

impl Figures {
    /// A provisioned replay's figures, its cost per 30 days as `simulate` states it.
    pub fn provisioned(s: &Summary) -> Figures {
        Figures {
            monthly_cost_usd: s.per_30_days(s.provisioned_cost_usd),
            shard_hours: s.shard_hours,
            records_throttled: s.records_throttled,
            throttled_fraction: s.throttled_fraction,
            reshards: s.reshards,
        }
    }

    /// On-demand mode: billed per stream-hour and GB, no shards to size. Its throttling is not
    /// modelled (on-demand absorbs up to twice its previous peak), so it shows 0.
    pub fn on_demand(s: &Summary) -> Figures {
        Figures {
            monthly_cost_usd: s.per_30_days(s.on_demand_cost_usd),
            ..Figures::default()
        }
    }
}

/// A downsampled picture of the window: per bucket, the peak load (in shards at 100% usage)
/// and the most shards as it is and under our policy.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Chart {
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
    /// (peak load, shards as it is, shards under ours) per bucket.
    pub points: Vec<(f64, u32, u32)>,
}

/// One stream's row of the report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StreamReport {
    pub stream: String,
    pub billing: Billing,
    pub open_shards: u32,
    /// The replayed window: its first and last datapoint, and the gaps between.
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub period_secs: i64,
    pub periods: u64,
    pub missing_periods: u64,
    pub records_total: f64,
    /// Today's bill: the current shard count held fixed (provisioned), or on-demand mode.
    pub as_is: Figures,
    pub upstream: Figures,
    pub ours: Figures,
    pub on_demand: Figures,
    /// `as_is` minus `ours`, per 30 days.
    pub monthly_savings_usd: f64,
    /// The replay's advice where no tuned candidate met the throttling budget (a floor or
    /// on-demand mode, with their costs); `None` where none applies.
    /// costs) once the throttling budget lands; `null` until then.
    pub advice: Option<crate::domain::tuning::Advice>,
    #[serde(skip)]
    pub chart: Chart,
}

/// The three provisioned replays of one trace.
pub struct Replays {
    pub as_is: Outcome,
    pub upstream: Outcome,
    pub ours: Outcome,
}

/// Replays `trace` as it is (`open_shards` fixed), under upstream's policy and under ours, all
/// from `open_shards` and otherwise with `base` (the options `simulate` would use).
pub fn replay(trace: &Trace, base: &Options, open_shards: u32) -> Result<Replays, SimError> {
    let from_now = |variant| Options {
        variant,
        initial_shards: Some(open_shards),
        ..base.clone()
    };
    let as_is = fixed(open_shards, base);
    Ok(Replays {
        as_is: simulate::simulate(trace, &as_is)?,
        upstream: simulate::simulate(trace, &from_now(Variant::Upstream))?,
        // Ours as `simulate` runs it: tuned walk-forward when the options ask for it.
        ours: crate::replay::tune::replay(trace, &from_now(Variant::Ours))?,
    })
}

/// The options that hold the shard count at `shards`: bounds at it, no schedule. The alarms
/// still fire; every action is refused at the bound, as the Lambda refuses it.
fn fixed(shards: u32, base: &Options) -> Options {
    let mut settings = base.settings.clone();
    settings.min_shards = shards;
    settings.max_shards = shards;
    Options {
        settings,
        initial_shards: Some(shards),
        variant: Variant::Ours,
        schedule: false,
        keep_timeline: true,
        ..base.clone()
    }
}

/// The row of `stream`: the replays of [`replay`] in figures, and a chart.
pub fn stream_report(
    stream: &str,
    billing: Billing,
    open_shards: u32,
    trace: &Trace,
    base: &Options,
) -> Result<StreamReport, SimError> {
    let replays = replay(trace, base, open_shards)?;
    let ours = &replays.ours.summary;
    let as_is = match billing {
        Billing::Provisioned => Figures::provisioned(&replays.as_is.summary),
        Billing::OnDemand => Figures::on_demand(ours),
    };
    let ours_figures = Figures::provisioned(ours);
    let first = trace.rows.first().map(|r| r.timestamp);
    let last = trace.rows.last().map(|r| r.timestamp);
    Ok(StreamReport {
        stream: stream.to_string(),
        billing,
        open_shards,
        start: first.unwrap_or_default(),
        end: last.unwrap_or_default(),
        period_secs: ours.period_secs,
        periods: ours.periods,
        missing_periods: ours.missing_periods,
        records_total: ours.records_total,
        monthly_savings_usd: as_is.monthly_cost_usd - ours_figures.monthly_cost_usd,
        as_is,
        upstream: Figures::provisioned(&replays.upstream.summary),
        ours: ours_figures,
        on_demand: Figures::on_demand(ours),
        advice: ours.advice,
        chart: chart(&replays),
    })
}

/// Buckets of the timelines, at most [`CHART_POINTS`]: the peak of each.
fn chart(replays: &Replays) -> Chart {
    let (as_is, ours) = (&replays.as_is.timeline, &replays.ours.timeline);
    let period_secs = replays.ours.summary.period_secs as f64;
    let per_bucket = as_is.len().div_ceil(CHART_POINTS).max(1);
    let points = as_is
        .chunks(per_bucket)
        .zip(ours.chunks(per_bucket))
        .map(|(fixed, sized)| {
            let load = fixed
                .iter()
                .map(|r| needed_shards(r.incoming_bytes, r.incoming_records, period_secs))
                .fold(0.0, f64::max);
            let most = |rows: &[simulate::TimelineRow]| rows.iter().map(|r| r.shards).max();
            (load, most(fixed).unwrap_or(0), most(sized).unwrap_or(0))
        })
        .collect();
    Chart {
        start: as_is.first().map(|r| r.timestamp),
        end: as_is.last().map(|r| r.timestamp),
        points,
    }
}

/// Sums of one scenario's figures over the streams (the fraction is not a sum: it is left out).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct FigureSums {
    pub monthly_cost_usd: f64,
    pub shard_hours: f64,
    pub records_throttled: f64,
    pub reshards: u64,
}

impl FigureSums {
    fn add(&mut self, f: &Figures) {
        self.monthly_cost_usd += f.monthly_cost_usd;
        self.shard_hours += f.shard_hours;
        self.records_throttled += f.records_throttled;
        self.reshards += f.reshards;
    }
}

/// Every total is the sum of its field over the streams.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Totals {
    pub streams: u64,
    pub open_shards: u64,
    pub records_total: f64,
    pub as_is: FigureSums,
    pub upstream: FigureSums,
    pub ours: FigureSums,
    pub on_demand: FigureSums,
    pub monthly_savings_usd: f64,
}

impl Totals {
    pub fn add(&mut self, row: &StreamReport) {
        self.streams += 1;
        self.open_shards += u64::from(row.open_shards);
        self.records_total += row.records_total;
        self.as_is.add(&row.as_is);
        self.upstream.add(&row.upstream);
        self.ours.add(&row.ours);
        self.on_demand.add(&row.on_demand);
        self.monthly_savings_usd += row.monthly_savings_usd;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replay::simulate::settings_from_vars;
    use crate::replay::trace::{self, Row};
    use chrono::Duration;
    use std::collections::HashMap;

    fn base() -> Options {
        Options::new(settings_from_vars(&HashMap::<&str, String>::new()).unwrap())
    }

    /// Two days of 5-minute rows at `shards_needed` shards of records.
    fn steady(shards_needed: f64) -> Trace {
        let t0 = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let rows = (0..576)
            .map(|i| Row {
                timestamp: t0 + Duration::minutes(5 * i),
                incoming_bytes: shards_needed * 300.0 * 1000.0 * 100.0,
                incoming_records: shards_needed * 300.0 * 1000.0,
                iterator_age_ms: None,
            })
            .collect();
        trace::from_rows(rows).unwrap()
    }

    #[test]
    fn as_it_is_holds_the_shard_count_and_ours_is_simulate_from_it() {
        let trace = steady(0.5);
        let row = stream_report("s", Billing::Provisioned, 8, &trace, &base()).unwrap();
        assert_eq!(row.as_is.reshards, 0);
        assert!((row.as_is.shard_hours - 8.0 * 48.0).abs() < 1e-9, "{row:?}");
        assert!(
            row.ours.shard_hours < row.as_is.shard_hours / 2.0,
            "{row:?}"
        );
        assert!(row.monthly_savings_usd > 0.0);
        let alone = simulate::simulate(
            &trace,
            &Options {
                initial_shards: Some(8),
                ..base()
            },
        )
        .unwrap();
        assert_eq!(row.ours, Figures::provisioned(&alone.summary));
        assert!(row.chart.points.len() <= CHART_POINTS && !row.chart.points.is_empty());
        assert_eq!(row.chart.points[0].1, 8);
    }

    #[test]
    fn an_under_provisioned_stream_throttles_as_it_is() {
        let row = stream_report("s", Billing::Provisioned, 1, &steady(3.0), &base()).unwrap();
        assert!(row.as_is.throttled_fraction > 0.6, "{row:?}");
        assert!(row.ours.records_throttled < row.as_is.records_throttled / 10.0);
        assert!(
            row.monthly_savings_usd < 0.0,
            "ours costs more: it serves the load"
        );
    }

    #[test]
    fn an_on_demand_stream_is_billed_on_demand_as_it_is() {
        let row = stream_report("s", Billing::OnDemand, 4, &steady(1.0), &base()).unwrap();
        assert_eq!(row.as_is, row.on_demand);
        let mut totals = Totals::default();
        totals.add(&row);
        totals.add(&row);
        assert_eq!(totals.streams, 2);
        assert!((totals.ours.shard_hours - 2.0 * row.ours.shard_hours).abs() < 1e-9);
    }
}
