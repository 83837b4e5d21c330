//! `bench-policy`: every trace under the policies compared, with two bounds, as a Markdown
//! table: upstream's Go Lambda as deployed, ours with `SCALING_POLICY=upstream`, ours sized
//! on alarms only, ours sized with the scheduled evaluation (the default), the oracle (a
//! perfect instant autoscaler at 100% usage, no API limits) and the clairvoyant bound under
//! AWS's rules ([`oracle::clairvoyant`]). On-demand's cost is a column.

use crate::domain::settings::{ScalingPolicy, Settings};
use crate::domain::tuning::ThrottleBudget;
use crate::replay::oracle::{self, Period};
use crate::replay::simulate::{
    default_initial_shards, needed_shards, simulate, Options, Outcome, SimError, Variant,
};
use crate::replay::trace::{self, Row, Trace, TraceError};
use chrono::{DateTime, Duration, Utc};
use std::fmt::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("cannot list traces in {path}")]
    Dir {
        path: String,
        source: std::io::Error,
    },
    #[error("no *.csv traces in {0}")]
    NoTraces(String),
    #[error("trace {path}: {source}")]
    Trace { path: String, source: TraceError },
    #[error("trace {path}: {source}")]
    Sim { path: String, source: SimError },
}

/// The label of the row every other row is compared with.
pub const UPSTREAM: &str = "upstream Go Lambda";

/// The label of our tuned row (the default once tuning runs in the scheduled run).
pub const TUNED: &str = "ours tuned to THROTTLE_BUDGET";

/// The policies replayed, with the tuned row at the default budget.
pub fn policies() -> Vec<(String, Options)> {
    policies_with(ThrottleBudget::Upstream, false)
}

/// The policies replayed; the tuned row keeps to `budget` (and sizes from the demand behind
/// throttled periods with `see_throttled`).
pub fn policies_with(budget: ThrottleBudget, see_throttled: bool) -> Vec<(String, Options)> {
    let defaults = Settings::default();
    let with = |settings: Settings, variant, schedule| Options {
        variant,
        schedule,
        keep_timeline: false,
        ..Options::new(settings)
    };
    let doubling = Settings {
        scaling_policy: ScalingPolicy::Upstream,
        ..defaults.clone()
    };
    vec![
        (
            UPSTREAM.into(),
            with(defaults.clone(), Variant::Upstream, false),
        ),
        (
            "ours, SCALING_POLICY=upstream".into(),
            with(doubling, Variant::Ours, false),
        ),
        (
            "ours sized, alarms only".into(),
            with(defaults.clone(), Variant::Ours, false),
        ),
        (
            "ours sized + schedule (default)".into(),
            with(defaults.clone(), Variant::Ours, true),
        ),
        (
            format!(
                "{TUNED}={budget}{}",
                if see_throttled {
                    ", sees throttled"
                } else {
                    ""
                }
            ),
            Options {
                tune: true,
                ..with(
                    Settings {
                        throttle_budget: budget,
                        sizing: crate::domain::sizing::Params {
                            see_throttled,
                            ..defaults.sizing
                        },
                        ..defaults
                    },
                    Variant::Ours,
                    true,
                )
            },
        ),
    ]
}

/// One row of the table.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchRow {
    pub trace: String,
    pub policy: String,
    pub shard_hours: f64,
    pub oracle_shard_hours: f64,
    pub throttled_fraction: f64,
    pub reshards: Option<(u64, u64, u64)>,
    pub max_in_24h: Option<u32>,
    pub refused_by_aws: Option<u64>,
    pub provisioned_usd: Option<f64>,
    pub on_demand_usd: f64,
    /// The tuned row: days whose choice met the budget, the last choice, the advice.
    pub tuning: Option<String>,
}

pub fn trace_files(dir: &Path) -> Result<Vec<PathBuf>, BenchError> {
    let entries = std::fs::read_dir(dir).map_err(|source| BenchError::Dir {
        path: dir.display().to_string(),
        source,
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "csv"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(BenchError::NoTraces(dir.display().to_string()));
    }
    Ok(files)
}

fn from_outcome(trace: &str, policy: &str, o: &Outcome) -> BenchRow {
    let s = &o.summary;
    BenchRow {
        trace: trace.to_string(),
        policy: policy.to_string(),
        shard_hours: s.shard_hours,
        oracle_shard_hours: s.oracle_shard_hours,
        throttled_fraction: s.throttled_fraction,
        reshards: Some((s.reshards, s.scale_ups, s.scale_downs)),
        max_in_24h: Some(s.max_reshards_in_24h),
        refused_by_aws: Some(s.refused_by_aws),
        provisioned_usd: Some(s.provisioned_cost_usd),
        on_demand_usd: s.on_demand_cost_usd,
        tuning: s
            .tuning
            .as_ref()
            .map(|t| crate::replay::tune::brief(t, s.advice.as_ref())),
    }
}

/// The trace on its period grid, for the clairvoyant bound (gaps are unbilled periods).
fn periods(trace: &Trace, period_secs: i64) -> Vec<(Option<&Row>, Period)> {
    let Some(first) = trace.rows.first() else {
        return Vec::new();
    };
    let mut out = Vec::with_capacity(trace.rows.len());
    let mut at: DateTime<Utc> = first.timestamp;
    let day = |t: DateTime<Utc>| t.timestamp().div_euclid(86_400);
    for row in &trace.rows {
        while at < row.timestamp {
            out.push((
                None,
                Period {
                    need: 0.0,
                    present: false,
                    day: day(at),
                },
            ));
            at += Duration::seconds(period_secs);
        }
        let need = needed_shards(row.incoming_bytes, row.incoming_records, period_secs as f64);
        out.push((
            Some(row),
            Period {
                need,
                present: true,
                day: day(at),
            },
        ));
        at += Duration::seconds(period_secs);
    }
    out
}

/// The clairvoyant row, or `None` when the bound is too large to compute.
fn clairvoyant_row(name: &str, trace: &Trace, oracle_shard_hours: f64) -> Option<BenchRow> {
    let settings = Settings::default();
    let period_secs = i64::from(settings.period_mins) * 60;
    let grid = periods(trace, period_secs);
    let plain: Vec<Period> = grid.iter().map(|(_, p)| *p).collect();
    let initial = default_initial_shards(trace, &settings, period_secs);
    let schedule = oracle::clairvoyant(&plain, initial).ok()?;
    let (mut shard_periods, mut records, mut throttled) = (0u64, 0.0, 0.0);
    for ((row, p), n) in grid.iter().zip(&schedule.shards) {
        let Some(row) = row else { continue };
        shard_periods += u64::from(*n);
        records += row.incoming_records;
        if p.need > 0.0 {
            throttled += row.incoming_records * (1.0 - (f64::from(*n) / p.need).min(1.0));
        }
    }
    Some(BenchRow {
        trace: name.to_string(),
        policy: "clairvoyant under AWS rules (bound)".into(),
        shard_hours: shard_periods as f64 * period_secs as f64 / 3600.0,
        oracle_shard_hours,
        throttled_fraction: if records > 0.0 {
            throttled / records
        } else {
            0.0
        },
        reshards: Some((schedule.reshards, 0, 0)),
        max_in_24h: None,
        refused_by_aws: None,
        provisioned_usd: None,
        on_demand_usd: f64::NAN,
        tuning: None,
    })
}

/// Replays every trace in `dir` under every policy, and adds the bounds.
pub fn run(dir: &Path) -> Result<Vec<BenchRow>, BenchError> {
    run_with_progress(dir, &policies(), |_, _| {}, |_| {})
}

/// [`run`], telling `starting(trace, policy)` before each replay, after `planned(replays)`.
pub fn run_with_progress(
    dir: &Path,
    policies: &[(String, Options)],
    mut starting: impl FnMut(&str, &str),
    planned: impl FnOnce(usize),
) -> Result<Vec<BenchRow>, BenchError> {
    let mut rows = Vec::new();
    let files = trace_files(dir)?;
    planned(files.len() * (policies.len() + 1));
    for path in files {
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let shown = path.display().to_string();
        let trace = trace::read(&path).map_err(|source| BenchError::Trace {
            path: shown.clone(),
            source,
        })?;
        let mut oracle_hours = 0.0;
        let mut on_demand = 0.0;
        for (label, opts) in policies {
            starting(&name, label);
            let outcome =
                crate::replay::tune::replay(&trace, opts).map_err(|source| BenchError::Sim {
                    path: shown.clone(),
                    source,
                })?;
            oracle_hours = outcome.summary.oracle_shard_hours;
            on_demand = outcome.summary.on_demand_cost_usd;
            rows.push(from_outcome(&name, label, &outcome));
        }
        rows.push(BenchRow {
            trace: name.clone(),
            policy: "oracle (instant, no API limits, 100% usage)".into(),
            shard_hours: oracle_hours,
            oracle_shard_hours: oracle_hours,
            throttled_fraction: 0.0,
            reshards: None,
            max_in_24h: None,
            refused_by_aws: None,
            provisioned_usd: None,
            on_demand_usd: on_demand,
            tuning: None,
        });
        starting(&name, "clairvoyant bound");
        if let Some(row) = clairvoyant_row(&name, &trace, oracle_hours) {
            rows.push(row);
        }
    }
    Ok(rows)
}

pub fn table(rows: &[BenchRow]) -> String {
    let mut out = String::from(
        "| trace | policy | shard-hours | vs oracle | vs upstream | throttled | reshards (up/down) | most in 24 h | refused by AWS | provisioned $ | on-demand $ | tuning |\n\
         | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n",
    );
    let dash = || "–".to_string();
    for r in rows {
        let upstream = rows
            .iter()
            .find(|u| u.trace == r.trace && u.policy == UPSTREAM)
            .map_or(f64::NAN, |u| u.shard_hours);
        let ratio = |a: f64, b: f64| {
            if b > 0.0 {
                format!("{:.2}", a / b)
            } else {
                dash()
            }
        };
        let reshards = match r.reshards {
            Some((n, up, down)) if up + down > 0 => format!("{n} ({up}/{down})"),
            Some((n, _, _)) => n.to_string(),
            None => dash(),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {:.0} | {}x | {} | {:.3}% | {} | {} | {} | {} | {} | {} |",
            r.trace,
            r.policy,
            r.shard_hours,
            ratio(r.shard_hours, r.oracle_shard_hours),
            ratio(r.shard_hours, upstream),
            100.0 * r.throttled_fraction,
            reshards,
            r.max_in_24h.map_or_else(dash, |n| n.to_string()),
            r.refused_by_aws.map_or_else(dash, |n| n.to_string()),
            r.provisioned_usd.map_or_else(dash, |c| format!("{c:.2}")),
            if r.on_demand_usd.is_finite() {
                format!("{:.2}", r.on_demand_usd)
            } else {
                dash()
            },
            r.tuning.clone().unwrap_or_else(dash),
        );
    }
    out
}

/// A year of 1-minute periods: a daily cycle between ~300 and ~2700 records/s with a
/// deterministic jitter, 800 bytes per record.
pub fn synthetic_year() -> Trace {
    let start: DateTime<Utc> = DateTime::from_timestamp(1_767_225_600, 0).unwrap_or_default();
    let periods = 365 * 24 * 60;
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let rows = (0..periods)
        .map(|i| {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let jitter = ((seed >> 33) as f64 / (1u64 << 31) as f64) - 0.5;
            let day = (i % 1440) as f64 / 1440.0 * std::f64::consts::TAU;
            let per_sec = 1500.0 * (1.0 + 0.8 * day.sin() + 0.1 * jitter);
            let records = (per_sec * 60.0).round();
            Row {
                timestamp: start + Duration::minutes(i as i64),
                incoming_bytes: records * 800.0,
                incoming_records: records,
                iterator_age_ms: None,
            }
        })
        .collect();
    Trace {
        rows,
        period_secs: Some(60),
    }
}

pub struct Speed {
    pub periods: usize,
    pub best_secs: f64,
    pub reshards: u64,
    /// The same replay without the scheduled evaluation (alarms only): the like-for-like
    /// figure against replays made before the schedule existed.
    pub alarms_only_secs: f64,
}

/// Times the replay of [`synthetic_year`] under our defaults (sized, with the schedule)
/// with 1-minute periods, and alarms only.
pub fn speed() -> Result<Speed, SimError> {
    let trace = synthetic_year();
    let opts = Options {
        keep_timeline: false,
        ..Options::new(Settings {
            period_mins: 1,
            ..Settings::default()
        })
    };
    let best_of_3 = |opts: &Options| -> Result<(f64, u64), SimError> {
        let mut best = f64::INFINITY;
        let mut reshards = 0;
        for _ in 0..3 {
            let started = std::time::Instant::now();
            let outcome = simulate(&trace, opts)?;
            best = best.min(started.elapsed().as_secs_f64());
            reshards = outcome.summary.reshards;
        }
        Ok((best, reshards))
    };
    let (best_secs, reshards) = best_of_3(&opts)?;
    let (alarms_only_secs, _) = best_of_3(&Options {
        schedule: false,
        ..opts.clone()
    })?;
    Ok(Speed {
        periods: trace.rows.len(),
        best_secs,
        reshards,
        alarms_only_secs,
    })
}
