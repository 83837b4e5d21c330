//! The replay's options: the settings, the variant and the prices a run is made with, checked
//! before the run (every error names the flag or variable).

use crate::domain::settings::{Settings, SettingsError};
use crate::replay::report::Prices;
use serde::Serialize;
use std::collections::HashMap;

#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("invalid settings: {0}")]
    Settings(#[from] SettingsError),
    #[error("the trace's period is {trace_secs} s but the alarms' period is {period_mins} min: set --period-mins {hint} (or resample the trace)")]
    PeriodMismatch {
        trace_secs: i64,
        period_mins: u32,
        hint: String,
    },
    #[error("--initial-shards {0} is invalid: expected 1 to 10000")]
    InitialShards(u32),
    #[error("--reshard-periods {0} is invalid: expected 0 to 288")]
    ReshardPeriods(u32),
    #[error("price {name}={value} is invalid: expected a finite number >= 0")]
    Price { name: &'static str, value: f64 },
}

/// Whose decision code acts on the alarms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Variant {
    /// [`crate::domain::policy::plan_sized`] as the Lambda runs it, with `SCALING_POLICY` from the settings
    /// and the stream's past datapoints as its metrics.
    Ours,
    /// The upstream Go Lambda as deployed: doubling, halving as `from/2` (at least 1), no
    /// daily budget of its own. AWS refuses what breaks its rules (5 -> 2, 3 -> 1, an 11th
    /// call in 24 h); the Go Lambda then resets the alarm to OK, so it fires again.
    Upstream,
}

impl Variant {
    pub fn label(&self) -> String {
        match self {
            Variant::Ours => "ours".into(),
            Variant::Upstream => "upstream Go Lambda (from/2 halving, AWS refusals)".into(),
        }
    }
}

/// The template's schedule (`ReconcileSchedule`, `rate(5 minutes)`).
pub const SCHEDULE_MINUTES: i64 = 5;

#[derive(Debug, Clone)]
pub struct Options {
    pub settings: Settings,
    /// `None`: the oracle's need at the first row, within the shard bounds.
    pub initial_shards: Option<u32>,
    pub reshard_periods: u32,
    pub prices: Prices,
    pub variant: Variant,
    /// Ours only: also run the scheduled evaluation ([`crate::domain::schedule::evaluate`]) every
    /// [`SCHEDULE_MINUTES`] (the template's `rate(5 minutes)`), at the end of the period it
    /// falls in: every period of a 5-minute trace, every fifth of a 1-minute one.
    pub schedule: bool,
    pub keep_timeline: bool,
    /// Ours only: tune the policy walk-forward to `settings.throttle_budget` (each UTC day
    /// from the days before it), when replayed through `replay::tune::replay`.
    pub tune: bool,
}

impl Options {
    pub fn new(settings: Settings) -> Self {
        Options {
            settings,
            initial_shards: None,
            reshard_periods: 1,
            prices: Prices::default(),
            variant: Variant::Ours,
            schedule: true,
            keep_timeline: true,
            tune: false,
        }
    }

    pub(crate) fn check(&self) -> Result<(), SimError> {
        self.settings.check()?;
        if let Some(n) = self.initial_shards {
            if !(1..=crate::domain::settings::STREAM_SHARD_CAP).contains(&n) {
                return Err(SimError::InitialShards(n));
            }
        }
        if self.reshard_periods > 288 {
            return Err(SimError::ReshardPeriods(self.reshard_periods));
        }
        let p = &self.prices;
        for (name, value) in [
            ("--price-shard-hour", p.shard_hour),
            ("--price-put-units-million", p.put_units_million),
            ("--price-on-demand-stream-hour", p.on_demand_stream_hour),
            ("--price-on-demand-gb", p.on_demand_gb),
        ] {
            if !value.is_finite() || value < 0.0 {
                return Err(SimError::Price { name, value });
            }
        }
        Ok(())
    }
}

/// Settings from flags: `vars` maps the Lambda's environment variable names to flag values,
/// so the same parser validates them and every error names the variable.
pub fn settings_from_vars<K>(vars: &HashMap<K, String>) -> Result<Settings, SettingsError>
where
    K: std::borrow::Borrow<str> + std::hash::Hash + Eq,
{
    Settings::from_lookup(|name| vars.get(name).cloned())
}
