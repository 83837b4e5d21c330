//! Settings: parsed once, at start-up, from the variables the entry point reads from the
//! environment and hands in as a lookup (the Go Lambda's variables plus ours), and per-stream
//! overrides read from stream tags. Every error names its culprit. Nothing here reads the
//! environment itself: the domain does no I/O (tests/architecture.rs checks it).
//!
//! Two readings of the same variables: [`Settings::from_lookup`] is strict (`check-config`,
//! the CLI) and refuses a bad value; [`Settings::tolerant_from_lookup`] is the deployed
//! function's, which never refuses to start: it uses what the Go Lambda would have used and
//! falls back to the default otherwise, recording each case (see [`super::fallback`]).
//!
//! (Above 600 lines with its tests: every variable's rules, and their tests, in one place.)

use crate::domain::history::{Budget, ReshardHistory};
use chrono::{DateTime, Utc};
use std::cell::RefCell;

use std::collections::HashMap;
use std::time::Duration;

/// The hard cap AWS puts on one stream's shard count.
pub const STREAM_SHARD_CAP: u32 = 10_000;
/// The most Lambda invocations per shard a consumer can use (an event source mapping's
/// ParallelizationFactor is at most 10): the bound of `AutoscalerLambdasPerShard` and
/// `PROCESSING_LAMBDAS_PER_SHARD`. Beyond it, shards x value only asks for concurrency that
/// cannot be used and that the account may not have.
pub const MAX_LAMBDAS_PER_SHARD: u32 = 10;
/// AWS refuses an 11th `UpdateShardCount` for one stream within a rolling 24 hours.
pub const AWS_DAILY_RESHARD_LIMIT: u32 = 10;

/// Read by the Lambda entry point itself (new streams wired to this topic), not by
/// [`Settings`].
pub const AUTO_WIRE_TOPIC_ARN: &str = "AUTO_WIRE_TOPIC_ARN";

/// Every environment variable the deployed function reads as a setting: the one list that
/// `scripts/deploy.sh --cargo-lambda` passes on (it reads this block), checked against what
/// the parser below looks up by a test here and against the script by `tests/deploy_script.rs`.
pub const VARIABLES: &[&str] = &[
    "SCALE_PERIOD_MINS",
    "SCALE_UP_THRESHOLD",
    "SCALE_UP_EVALUATION_PERIOD",
    "SCALE_UP_DATAPOINTS_REQUIRED",
    "SCALE_DOWN_THRESHOLD",
    "SCALE_DOWN_EVALUATION_PERIOD",
    "SCALE_DOWN_DATAPOINTS_REQUIRED",
    "SCALE_DOWN_MIN_ITER_AGE_MINS",
    "PROCESSING_LAMBDA_ARN",
    "PROCESSING_LAMBDAS_PER_SHARD",
    "DRY_RUN",
    "DISCOVER_CONSUMERS",
    "THROTTLE_RETRY_MIN_SLEEP",
    "THROTTLE_RETRY_MAX_SLEEP",
    "THROTTLE_RETRY_COUNT",
    "ERROR_METRIC_NAMESPACE",
    "MAX_RESHARDS_PER_DAY",
    "SCALE_UP_RESHARD_RESERVE",
    "MIN_SHARDS",
    "MAX_SHARDS",
    "SCALING_POLICY",
    "SCALE_TARGET_USAGE",
    "RECONCILE_INTERVAL_MINS",
    "MANAGED_STREAM_PREFIX",
    "THROTTLE_BUDGET",
    AUTO_WIRE_TOPIC_ARN,
];

/// Stream tags that override the global settings for one stream.
pub mod tag {
    pub const MIN_SHARDS: &str = "AutoscalerMinShards";
    pub const MAX_SHARDS: &str = "AutoscalerMaxShards";
    pub const CONSUMER_FUNCTION: &str = "AutoscalerConsumerFunction";
    pub const LAMBDAS_PER_SHARD: &str = "AutoscalerLambdasPerShard";
    /// Times of this stream's recent reshards, written before each `UpdateShardCount`.
    pub const RESHARD_HISTORY: &str = "AutoscalerReshardHistory";
    /// The stream's own `THROTTLE_BUDGET`.
    pub const THROTTLE_BUDGET: &str = "AutoscalerThrottleBudget";
    /// The stream's own `SCALING_POLICY` (over the daily tuning's choice).
    pub const SCALING_POLICY: &str = "AutoscalerScalingPolicy";
    /// The stream's own `SCALE_TARGET_USAGE` (over the daily tuning's choice).
    pub const TARGET_USAGE: &str = "AutoscalerTargetUsage";
    /// The daily tuning's choice for the stream (`domain::tuned`), written by the function.
    pub const TUNED: &str = "AutoscalerTuned";
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SettingsError {
    #[error("environment variable {variable}={value:?} is invalid: expected {expected}")]
    Invalid {
        variable: &'static str,
        value: String,
        expected: String,
    },
    #[error("environment variables {first} and {second} disagree: {why}")]
    Inconsistent {
        first: &'static str,
        second: &'static str,
        why: String,
    },
}

#[derive(Debug, thiserror::Error, PartialEq)]
#[error("stream {stream}: tag {tag}={value:?} is invalid: expected {expected}")]
pub struct StreamTagError {
    pub stream: String,
    pub tag: &'static str,
    pub value: String,
    pub expected: String,
}

/// Threshold and M-out-of-N datapoints of one alarm of the pair.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AlarmSettings {
    pub threshold: f64,
    pub evaluation_periods: u32,
    pub datapoints_to_alarm: u32,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetrySettings {
    pub min_sleep: Duration,
    pub max_sleep: Duration,
    pub count: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Length of one alarm datapoint, in minutes (`SCALE_PERIOD_MINS`).
    pub period_mins: u32,
    pub scale_up: AlarmSettings,
    pub scale_down: AlarmSettings,
    /// A stream whose consumers are this many minutes behind is not scaled down (`s2`).
    pub scale_down_min_iter_age_mins: i64,
    pub processing_lambda: Option<String>,
    pub lambdas_per_shard: u32,
    pub dry_run: bool,
    pub throttle_retry: RetrySettings,
    /// CloudWatch namespace of our own metrics; never under `AWS/`.
    pub metric_namespace: String,
    /// Our own ceiling on reshards per stream per rolling 24 h (at most AWS's 10).
    pub max_reshards_per_day: u32,
    /// Reshards of the daily budget that only a scale-up may use.
    pub scale_up_reserve: u32,
    pub min_shards: u32,
    pub max_shards: u32,
    /// Only streams whose names start with this are managed (the IAM policy's scope).
    pub managed_stream_prefix: String,
    /// How reshard targets are chosen (`SCALING_POLICY`).
    pub scaling_policy: ScalingPolicy,
    /// The usage a sized reshard aims the recent peak at (`SCALE_TARGET_USAGE`).
    pub target_usage: f64,
    /// The sized policy's rules of thumb (not variables).
    pub sizing: crate::domain::sizing::Params,
    /// The throttling each stream may have (`THROTTLE_BUDGET`): what tuning keeps to.
    pub throttle_budget: crate::domain::tuning::ThrottleBudget,
    /// With no consumer named for a stream (setting or tag), find its Lambda consumers from
    /// their event source mappings (`DISCOVER_CONSUMERS`, off by default).
    pub discover_consumers: bool,
    /// Minutes between two full reconcile sweeps of the scheduled run
    /// (`RECONCILE_INTERVAL_MINS`); 0: every scheduled run. The sized evaluation runs on every
    /// scheduled run whatever this says.
    pub reconcile_interval_mins: u32,
    /// What the tolerant reading had to use instead of a variable's value; reported with the
    /// error metric on every invocation until fixed. Always empty from the strict reading.
    pub fallbacks: Vec<SettingFallback>,
}

/// `SCALING_POLICY`: how a reshard's target is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ScalingPolicy {
    /// From measured load (`domain::sizing`); doubling/halving when metrics cannot be read.
    Sized,
    /// Doubling and halving, as the Go Lambda did.
    Upstream,
}

impl std::str::FromStr for ScalingPolicy {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s.to_ascii_lowercase().as_str() {
            "sized" => Ok(ScalingPolicy::Sized),
            "upstream" => Ok(ScalingPolicy::Upstream),
            _ => Err(()),
        }
    }
}

impl Default for Settings {
    /// The values the Go Lambda's CloudFormation template deploys (see README for each).
    fn default() -> Self {
        Settings {
            period_mins: 5,
            scale_up: AlarmSettings {
                threshold: 0.75,
                evaluation_periods: 5,
                datapoints_to_alarm: 5,
            },
            scale_down: AlarmSettings {
                threshold: 0.25,
                evaluation_periods: 60,
                datapoints_to_alarm: 57,
            },
            scale_down_min_iter_age_mins: 30,
            processing_lambda: None,
            lambdas_per_shard: 1,
            dry_run: false,
            throttle_retry: RetrySettings {
                min_sleep: Duration::from_secs(1),
                max_sleep: Duration::from_secs(3),
                count: 30,
            },
            metric_namespace: "KinesisAutoscaler".to_string(),
            max_reshards_per_day: AWS_DAILY_RESHARD_LIMIT,
            scale_up_reserve: 2,
            min_shards: 1,
            max_shards: STREAM_SHARD_CAP,
            managed_stream_prefix: String::new(),
            scaling_policy: ScalingPolicy::Sized,
            target_usage: 0.7,
            sizing: crate::domain::sizing::Params::default(),
            throttle_budget: crate::domain::tuning::ThrottleBudget::Upstream,
            discover_consumers: false,
            reconcile_interval_mins: 60,
            fallbacks: Vec::new(),
        }
    }
}

/// A variable the tolerant reading did not use as set (see `domain::fallback`).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SettingFallback {
    pub variable: &'static str,
    /// The value as set.
    pub value: String,
    /// What is used instead (or the value itself, when used as given).
    pub used: String,
    pub why: String,
}

impl std::fmt::Display for SettingFallback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}={:?}: using {}: {}",
            self.variable, self.value, self.used, self.why
        )
    }
}

/// Reads one variable: unset and empty both mean "use the default" (CloudFormation passes
/// empty strings for optional parameters). Strict: a bad value is an error. Tolerant: a bad
/// value is recorded and replaced.
struct Env<'a, F: Fn(&str) -> Option<String>> {
    lookup: &'a F,
    tolerant: bool,
    fallbacks: RefCell<Vec<SettingFallback>>,
}

impl<F: Fn(&str) -> Option<String>> Env<'_, F> {
    /// One alarm's variables: its threshold, evaluation periods and datapoints (`names`, in
    /// that order).
    fn alarm(
        &self,
        names: [&'static str; 3],
        default: &AlarmSettings,
        threshold_expected: &str,
    ) -> Result<AlarmSettings, SettingsError> {
        let [threshold, periods, datapoints] = names;
        let positive = |v: &u32| *v >= 1;
        Ok(AlarmSettings {
            threshold: self.parse_go(
                threshold,
                default.threshold,
                threshold_expected,
                |v: &f64| finite(v) && *v > 0.0 && *v <= MAX_THRESHOLD,
                finite,
            )?,
            evaluation_periods: self.parse(
                periods,
                default.evaluation_periods,
                "a whole number of periods, at least 1",
                positive,
            )?,
            datapoints_to_alarm: self.parse(
                datapoints,
                default.datapoints_to_alarm,
                "a whole number of datapoints, at least 1",
                positive,
            )?,
        })
    }

    /// `THROTTLE_RETRY_MIN_SLEEP`, `_MAX_SLEEP` (whole seconds, upstream's 1 and 3 by default)
    /// and `_COUNT`.
    fn throttle_retry(&self, default_count: u32) -> Result<RetrySettings, SettingsError> {
        let min_sleep: u64 =
            self.parse("THROTTLE_RETRY_MIN_SLEEP", 1, "whole seconds", |_| true)?;
        let max_sleep: u64 = self.parse(
            "THROTTLE_RETRY_MAX_SLEEP",
            3,
            "whole seconds, at least 1",
            |v| *v >= 1,
        )?;
        let count = self.parse_go(
            "THROTTLE_RETRY_COUNT",
            default_count,
            "a whole number of retries, at most 100",
            |v| *v <= 100,
            |_| true,
        )?;
        Ok(RetrySettings {
            min_sleep: Duration::from_secs(min_sleep),
            max_sleep: Duration::from_secs(max_sleep),
            count,
        })
    }

    /// `ERROR_METRIC_NAMESPACE`: a custom namespace (the tolerant reading falls back to
    /// `default` for one CloudWatch would reject).
    fn metric_namespace(&self, default: &str) -> Result<String, SettingsError> {
        let namespace = self
            .raw("ERROR_METRIC_NAMESPACE")
            .unwrap_or_else(|| default.to_string());
        if !namespace.starts_with("AWS/") && namespace.len() <= 255 {
            return Ok(namespace);
        }
        let expected = "a custom namespace (CloudWatch rejects names starting with AWS/)";
        if !self.tolerant {
            return Err(SettingsError::Invalid {
                variable: "ERROR_METRIC_NAMESPACE",
                value: namespace,
                expected: expected.into(),
            });
        }
        self.fall_back(
            "ERROR_METRIC_NAMESPACE",
            namespace,
            format!("{default} (the default)"),
            expected.into(),
        );
        Ok(default.to_string())
    }

    fn raw(&self, variable: &'static str) -> Option<String> {
        (self.lookup)(variable)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    }

    fn fall_back(&self, variable: &'static str, value: String, used: String, why: String) {
        self.fallbacks.borrow_mut().push(SettingFallback {
            variable,
            value,
            used,
            why,
        });
    }

    fn parse<T: std::str::FromStr + std::fmt::Debug>(
        &self,
        variable: &'static str,
        default: T,
        expected: &str,
        valid: impl Fn(&T) -> bool,
    ) -> Result<T, SettingsError> {
        self.parse_go(variable, default, expected, valid, |_| false)
    }

    /// Like [`Env::parse`], and in the tolerant reading a value outside `valid` but within
    /// `usable` (what the Go Lambda, which checked no ranges, would have used with the same
    /// meaning) is used as given, and recorded.
    fn parse_go<T: std::str::FromStr + std::fmt::Debug>(
        &self,
        variable: &'static str,
        default: T,
        expected: &str,
        valid: impl Fn(&T) -> bool,
        usable: impl Fn(&T) -> bool,
    ) -> Result<T, SettingsError> {
        let Some(value) = self.raw(variable) else {
            return Ok(default);
        };
        match value.parse::<T>() {
            Ok(parsed) if valid(&parsed) => Ok(parsed),
            _ if !self.tolerant => Err(SettingsError::Invalid {
                variable,
                value,
                expected: expected.to_string(),
            }),
            Ok(parsed) if usable(&parsed) => {
                let used = format!("{parsed:?}");
                self.fall_back(
                    variable,
                    value,
                    used,
                    format!("outside what check-config accepts ({expected}); used as given, as the Go Lambda did"),
                );
                Ok(parsed)
            }
            _ => {
                self.fall_back(
                    variable,
                    value,
                    format!("{default:?} (the default)"),
                    format!("expected {expected}"),
                );
                Ok(default)
            }
        }
    }

    /// `value` (read from `variable`) capped at `max`: above it, check-config refuses it and
    /// the tolerant reading uses `max`, and says so.
    fn at_most(
        &self,
        variable: &'static str,
        value: u32,
        max: u32,
        expected: &str,
    ) -> Result<u32, SettingsError> {
        if value <= max {
            return Ok(value);
        }
        let given = self.raw(variable).unwrap_or_else(|| value.to_string());
        if !self.tolerant {
            return Err(SettingsError::Invalid {
                variable,
                value: given,
                expected: expected.to_string(),
            });
        }
        self.fall_back(
            variable,
            given,
            format!("{max} (the most that can be used)"),
            format!("expected {expected}"),
        );
        Ok(max)
    }

    /// A boolean in Go's spellings; unreadable in the tolerant reading: `unreadable`.
    fn flag(
        &self,
        variable: &'static str,
        default: bool,
        unreadable: bool,
    ) -> Result<bool, SettingsError> {
        let Some(value) = self.raw(variable) else {
            return Ok(default);
        };
        // The spellings Go's strconv.ParseBool accepts, so upstream's values keep working.
        match value.as_str() {
            "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
            "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
            _ if self.tolerant => {
                self.fall_back(
                    variable,
                    value,
                    format!("{unreadable}"),
                    "expected true or false (Go's spellings: 1, t, T, TRUE, true, True, 0, f, ...)"
                        .into(),
                );
                Ok(unreadable)
            }
            _ => Err(SettingsError::Invalid {
                variable,
                value,
                expected: "true or false".to_string(),
            }),
        }
    }
}

/// Usage factors are fractions of the stream's capacity; above 10x is a typo, and the
/// disarmed alarms' sentinels (-1, 1e6) must stay out of reach.
const MAX_THRESHOLD: f64 = 10.0;

fn finite(v: &f64) -> bool {
    v.is_finite()
}

impl Settings {
    /// The tolerant reading of each variable on its own, before [`super::fallback::repair`]
    /// applies the rules between them (`Settings::tolerant_from_lookup` does both).
    pub(crate) fn tolerant_read(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let env = Env {
            lookup: &lookup,
            tolerant: true,
            fallbacks: RefCell::new(Vec::new()),
        };
        let mut settings = Self::read(&env).unwrap_or_else(|err| {
            // The tolerant reading has no error path; should one appear, still start.
            let mut d = Settings::default();
            d.fallbacks.push(SettingFallback {
                variable: "(settings)",
                value: String::new(),
                used: "every default".into(),
                why: err.to_string(),
            });
            d
        });
        let mut fallbacks = env.fallbacks.into_inner();
        fallbacks.append(&mut settings.fallbacks);
        settings.fallbacks = fallbacks;
        settings
    }

    /// Parses and validates every variable; `lookup` returns a variable's value if set.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        let env = Env {
            lookup: &lookup,
            tolerant: false,
            fallbacks: RefCell::new(Vec::new()),
        };
        let settings = Self::read(&env)?;
        settings.check()?;
        Ok(settings)
    }

    fn read<F: Fn(&str) -> Option<String>>(env: &Env<'_, F>) -> Result<Self, SettingsError> {
        let d = Settings::default();
        let positive = |v: &u32| *v >= 1;

        let period_mins = env.parse_go(
            "SCALE_PERIOD_MINS",
            d.period_mins,
            "whole minutes, 1 to 1440",
            |v| (1..=1440).contains(v),
            // CloudWatch takes any whole number of minutes as a period.
            |v| *v >= 1,
        )?;
        let scale_up = env.alarm(
            [
                "SCALE_UP_THRESHOLD",
                "SCALE_UP_EVALUATION_PERIOD",
                "SCALE_UP_DATAPOINTS_REQUIRED",
            ],
            &d.scale_up,
            "a number above 0 and at most 10 (1.0 = 100% of shard capacity)",
        )?;
        let scale_down = env.alarm(
            [
                "SCALE_DOWN_THRESHOLD",
                "SCALE_DOWN_EVALUATION_PERIOD",
                "SCALE_DOWN_DATAPOINTS_REQUIRED",
            ],
            &d.scale_down,
            "a number above 0 and below SCALE_UP_THRESHOLD",
        )?;
        let scale_down_min_iter_age_mins = env.parse(
            "SCALE_DOWN_MIN_ITER_AGE_MINS",
            d.scale_down_min_iter_age_mins,
            "whole minutes, not 0 (a negative value disables the iterator-age guard)",
            |v: &i64| *v != 0,
        )?;
        let processing_lambda = env.raw("PROCESSING_LAMBDA_ARN");
        let lambdas_per_shard = env.at_most(
            "PROCESSING_LAMBDAS_PER_SHARD",
            env.parse(
                "PROCESSING_LAMBDAS_PER_SHARD",
                d.lambdas_per_shard,
                "a whole number from 1 to 10",
                positive,
            )?,
            MAX_LAMBDAS_PER_SHARD,
            "a whole number from 1 to 10 (Lambda runs at most 10 batches per shard)",
        )?;
        // Upstream's answer to an unreadable DRY_RUN: the safe side, a dry run.
        let dry_run = env.flag("DRY_RUN", d.dry_run, true)?;
        let discover_consumers = env.flag("DISCOVER_CONSUMERS", d.discover_consumers, false)?;
        let throttle_retry = env.throttle_retry(d.throttle_retry.count)?;
        let metric_namespace = env.metric_namespace(&d.metric_namespace)?;
        let max_reshards_per_day = env.parse(
            "MAX_RESHARDS_PER_DAY",
            d.max_reshards_per_day,
            "a whole number from 1 to 10 (AWS's limit)",
            |v| (1..=AWS_DAILY_RESHARD_LIMIT).contains(v),
        )?;
        let scale_up_reserve = env.parse(
            "SCALE_UP_RESHARD_RESERVE",
            d.scale_up_reserve,
            "a whole number below MAX_RESHARDS_PER_DAY",
            |_| true,
        )?;
        let min_shards = env.parse(
            "MIN_SHARDS",
            d.min_shards,
            "a whole number from 1 to 10000",
            |v| (1..=STREAM_SHARD_CAP).contains(v),
        )?;
        let max_shards = env.parse(
            "MAX_SHARDS",
            d.max_shards,
            "a whole number from 1 to 10000",
            |v| (1..=STREAM_SHARD_CAP).contains(v),
        )?;

        let scaling_policy = env.parse(
            "SCALING_POLICY",
            d.scaling_policy,
            "sized or upstream",
            |_| true,
        )?;
        let target_usage = env.parse(
            "SCALE_TARGET_USAGE",
            d.target_usage,
            "a number from 0.1 to 1.0 (0.7 = the recent peak at 70% of capacity)",
            |v: &f64| finite(v) && (0.1..=1.0).contains(v),
        )?;
        let throttle_budget = env.parse(
            "THROTTLE_BUDGET",
            d.throttle_budget,
            crate::domain::tuning::BUDGET_EXPECTED,
            |_| true,
        )?;

        // A sweep of 10,000 streams takes minutes of the account's quotas: at most weekly is
        // still a safety net, and a longer gap is more likely a typo.
        let reconcile_interval_mins = env.parse(
            "RECONCILE_INTERVAL_MINS",
            d.reconcile_interval_mins,
            "whole minutes from 0 (every scheduled run) to 10080 (a week)",
            |v: &u32| *v <= 7 * 24 * 60,
        )?;

        let settings = Settings {
            period_mins,
            scale_up,
            scale_down,
            scale_down_min_iter_age_mins,
            processing_lambda,
            lambdas_per_shard,
            dry_run,
            throttle_retry,
            metric_namespace,
            max_reshards_per_day,
            scale_up_reserve,
            min_shards,
            max_shards,
            managed_stream_prefix: env.raw("MANAGED_STREAM_PREFIX").unwrap_or_default(),
            scaling_policy,
            target_usage,
            sizing: d.sizing,
            throttle_budget,
            discover_consumers,
            reconcile_interval_mins,
            fallbacks: Vec::new(),
        };
        Ok(settings)
    }

    /// Cross-variable rules, shared by the environment parser and the CLI's flags.
    pub fn check(&self) -> Result<(), SettingsError> {
        let inconsistent =
            |first, second, why: String| Err(SettingsError::Inconsistent { first, second, why });
        if self.scale_up.datapoints_to_alarm > self.scale_up.evaluation_periods {
            return inconsistent(
                "SCALE_UP_DATAPOINTS_REQUIRED",
                "SCALE_UP_EVALUATION_PERIOD",
                "datapoints required cannot exceed the evaluation period".into(),
            );
        }
        if self.scale_down.datapoints_to_alarm > self.scale_down.evaluation_periods {
            return inconsistent(
                "SCALE_DOWN_DATAPOINTS_REQUIRED",
                "SCALE_DOWN_EVALUATION_PERIOD",
                "datapoints required cannot exceed the evaluation period".into(),
            );
        }
        // CloudWatch refuses alarms that look back more than one day.
        for (variable, periods) in [
            (
                "SCALE_UP_EVALUATION_PERIOD",
                self.scale_up.evaluation_periods,
            ),
            (
                "SCALE_DOWN_EVALUATION_PERIOD",
                self.scale_down.evaluation_periods,
            ),
        ] {
            if u64::from(periods) * u64::from(self.period_mins) > 24 * 60 {
                return inconsistent(variable, "SCALE_PERIOD_MINS", format!("{periods} periods of {} minutes look back more than the 24 hours CloudWatch allows", self.period_mins));
            }
        }
        if self.scale_down.threshold >= self.scale_up.threshold {
            return inconsistent(
                "SCALE_DOWN_THRESHOLD",
                "SCALE_UP_THRESHOLD",
                format!(
                    "scale-down threshold {} must be below scale-up threshold {}",
                    self.scale_down.threshold, self.scale_up.threshold
                ),
            );
        }
        if self.throttle_retry.min_sleep > self.throttle_retry.max_sleep {
            return inconsistent(
                "THROTTLE_RETRY_MIN_SLEEP",
                "THROTTLE_RETRY_MAX_SLEEP",
                "the minimum sleep exceeds the maximum".into(),
            );
        }
        if self.scale_up_reserve >= self.max_reshards_per_day {
            return inconsistent(
                "SCALE_UP_RESHARD_RESERVE",
                "MAX_RESHARDS_PER_DAY",
                format!(
                    "a reserve of {} leaves no reshard for scale-downs out of {}",
                    self.scale_up_reserve, self.max_reshards_per_day
                ),
            );
        }
        if self.min_shards > self.max_shards {
            return inconsistent(
                "MIN_SHARDS",
                "MAX_SHARDS",
                format!(
                    "minimum {} is above maximum {}",
                    self.min_shards, self.max_shards
                ),
            );
        }
        Ok(())
    }
}

/// What one stream is allowed, after its tags are applied.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamSettings {
    pub min_shards: u32,
    pub max_shards: u32,
    pub consumer_function: Option<String>,
    pub lambdas_per_shard: u32,
}

#[path = "settings_per_stream.rs"]
mod per_stream;

#[cfg(test)]
#[path = "settings_tests.rs"]
mod tests;
