//! The deployed function never refuses to start over a setting: a function that does stops
//! scaling every stream, with no metric to alarm on. What the tolerant reading of the
//! environment used instead of a value is a [`SettingFallback`]; the handler logs each and
//! emits the error metric on every invocation until the variable is fixed.
//!
//! Values of one variable are handled while parsing (`settings.rs`); [`repair`] handles the
//! rules between variables: what AWS would refuse is replaced, what the Go Lambda would have
//! used as given is kept (and still reported).

pub use super::settings::SettingFallback;
use super::settings::Settings;

impl Settings {
    /// The deployed function's reading (the entry point hands in the environment's lookup):
    /// never fails (see the module doc). Every variable the Go Lambda would have used is used with its meaning, anything else
    /// falls back to its default; each case is in [`Settings::fallbacks`].
    pub fn tolerant_from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let mut settings = Settings::tolerant_read(lookup);
        let repaired = repair(&mut settings);
        settings.fallbacks.extend(repaired);
        settings
    }
}

/// Applies the rules between variables to tolerantly read settings, and says what it did.
pub fn repair(settings: &mut Settings) -> Vec<SettingFallback> {
    let mut fallbacks = Vec::new();
    let mut note = |variable, value: String, used: String, why: &str| {
        fallbacks.push(SettingFallback {
            variable,
            value,
            used,
            why: why.to_string(),
        })
    };
    for (alarm, evaluation_var, datapoints_var) in [
        (
            &mut settings.scale_up,
            "SCALE_UP_EVALUATION_PERIOD",
            "SCALE_UP_DATAPOINTS_REQUIRED",
        ),
        (
            &mut settings.scale_down,
            "SCALE_DOWN_EVALUATION_PERIOD",
            "SCALE_DOWN_DATAPOINTS_REQUIRED",
        ),
    ] {
        if alarm.datapoints_to_alarm > alarm.evaluation_periods {
            note(
                datapoints_var,
                alarm.datapoints_to_alarm.to_string(),
                alarm.evaluation_periods.to_string(),
                &format!("more datapoints than {evaluation_var}: CloudWatch refuses such an alarm, so all of its periods are required"),
            );
            alarm.datapoints_to_alarm = alarm.evaluation_periods;
        }
        let minutes = u64::from(alarm.evaluation_periods) * u64::from(settings.period_mins);
        if minutes > 24 * 60 {
            note(
                evaluation_var,
                alarm.evaluation_periods.to_string(),
                alarm.evaluation_periods.to_string(),
                &format!("{minutes} minutes of SCALE_PERIOD_MINS look back more than a day; used as given, as the Go Lambda did (CloudWatch may refuse the alarm; check-config says more)"),
            );
        }
    }
    if settings.scale_down.threshold >= settings.scale_up.threshold {
        note(
            "SCALE_DOWN_THRESHOLD",
            settings.scale_down.threshold.to_string(),
            settings.scale_down.threshold.to_string(),
            &format!(
                "not below SCALE_UP_THRESHOLD {}: used as given, as the Go Lambda did; a stream may scale up and down in turn",
                settings.scale_up.threshold
            ),
        );
    }
    let retry = &mut settings.throttle_retry;
    if retry.min_sleep > retry.max_sleep {
        note(
            "THROTTLE_RETRY_MAX_SLEEP",
            retry.max_sleep.as_secs().to_string(),
            retry.min_sleep.as_secs().to_string(),
            "below THROTTLE_RETRY_MIN_SLEEP: the minimum is used as the maximum",
        );
        retry.max_sleep = retry.min_sleep;
    }
    if settings.scale_up_reserve >= settings.max_reshards_per_day {
        let used = settings.max_reshards_per_day - 1;
        note(
            "SCALE_UP_RESHARD_RESERVE",
            settings.scale_up_reserve.to_string(),
            used.to_string(),
            "would leave no reshard of MAX_RESHARDS_PER_DAY for scale-downs",
        );
        settings.scale_up_reserve = used;
    }
    if settings.min_shards > settings.max_shards {
        note(
            "MIN_SHARDS",
            settings.min_shards.to_string(),
            settings.max_shards.to_string(),
            "above MAX_SHARDS: the maximum is used as the minimum",
        );
        settings.min_shards = settings.max_shards;
    }
    fallbacks
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn tolerant(vars: &[(&str, &str)]) -> Settings {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::tolerant_from_lookup(|k| map.get(k).cloned())
    }

    fn fallback<'a>(settings: &'a Settings, variable: &str) -> &'a SettingFallback {
        settings
            .fallbacks
            .iter()
            .find(|f| f.variable == variable)
            .unwrap_or_else(|| panic!("no fallback for {variable}: {:?}", settings.fallbacks))
    }

    #[test]
    fn good_settings_have_no_fallbacks() {
        assert_eq!(tolerant(&[]), Settings::default());
        let s = tolerant(&[("SCALE_UP_THRESHOLD", "0.5"), ("DRY_RUN", "True")]);
        assert!(s.fallbacks.is_empty(), "{:?}", s.fallbacks);
        assert_eq!(s.scale_up.threshold, 0.5);
    }

    #[test]
    fn what_the_go_lambda_would_use_is_used_with_its_meaning() {
        let s = tolerant(&[
            ("SCALE_UP_THRESHOLD", "12"),
            ("SCALE_DOWN_THRESHOLD", "-1"),
            ("THROTTLE_RETRY_COUNT", "500"),
            ("SCALE_PERIOD_MINS", "60"),
        ]);
        assert_eq!(s.scale_up.threshold, 12.0);
        assert_eq!(s.scale_down.threshold, -1.0);
        assert_eq!(s.throttle_retry.count, 500);
        assert_eq!(s.period_mins, 60);
        for variable in [
            "SCALE_UP_THRESHOLD",
            "SCALE_DOWN_THRESHOLD",
            "THROTTLE_RETRY_COUNT",
        ] {
            let f = fallback(&s, variable);
            assert!(f.why.contains("used as given"), "{f}");
        }
        // 60 periods of 60 minutes: more than a day, used as given and reported.
        assert_eq!(s.scale_down.evaluation_periods, 60);
        assert!(fallback(&s, "SCALE_DOWN_EVALUATION_PERIOD")
            .why
            .contains("more than a day"));
        // The strict reading refuses every one of them.
        for (variable, value) in [
            ("SCALE_UP_THRESHOLD", "12"),
            ("SCALE_DOWN_THRESHOLD", "-1"),
            ("THROTTLE_RETRY_COUNT", "500"),
        ] {
            assert!(Settings::from_lookup(|k| (k == variable).then(|| value.to_string())).is_err());
        }
    }

    #[test]
    fn what_it_could_not_parse_falls_back_to_the_default_and_says_so() {
        let s = tolerant(&[
            ("SCALE_UP_THRESHOLD", "lots"),
            ("SCALE_PERIOD_MINS", "0"),
            ("SCALE_DOWN_MIN_ITER_AGE_MINS", "0"),
            ("ERROR_METRIC_NAMESPACE", "AWS/Lambda"),
            ("PROCESSING_LAMBDAS_PER_SHARD", "-2"),
            ("SCALE_UP_EVALUATION_PERIOD", "NaN"),
            ("RECONCILE_INTERVAL_MINS", "hourly"),
        ]);
        let d = Settings::default();
        assert_eq!(s.scale_up.threshold, d.scale_up.threshold);
        assert_eq!(s.period_mins, d.period_mins);
        assert_eq!(s.scale_down_min_iter_age_mins, 30);
        assert_eq!(s.metric_namespace, "KinesisAutoscaler");
        assert_eq!(s.lambdas_per_shard, 1);
        assert_eq!(s.scale_up.evaluation_periods, 5);
        assert_eq!(s.reconcile_interval_mins, 60);
        let f = fallback(&s, "SCALE_UP_THRESHOLD");
        assert_eq!(f.value, "lots");
        assert!(f.used.contains("0.75"), "{f}");
        assert!(
            f.to_string().starts_with("SCALE_UP_THRESHOLD=\"lots\""),
            "{f}"
        );
        assert_eq!(s.fallbacks.len(), 7, "{:?}", s.fallbacks);
    }

    #[test]
    fn an_unreadable_dry_run_means_a_dry_run_as_upstream() {
        let s = tolerant(&[("DRY_RUN", "yes please")]);
        assert!(s.dry_run);
        assert_eq!(fallback(&s, "DRY_RUN").value, "yes please");
    }

    #[test]
    fn rules_between_variables_replace_what_aws_refuses() {
        let s = tolerant(&[
            ("SCALE_UP_DATAPOINTS_REQUIRED", "9"),
            ("THROTTLE_RETRY_MIN_SLEEP", "5"),
            ("SCALE_UP_RESHARD_RESERVE", "10"),
            ("MIN_SHARDS", "8"),
            ("MAX_SHARDS", "4"),
            ("SCALE_DOWN_THRESHOLD", "0.9"),
        ]);
        assert_eq!(s.scale_up.datapoints_to_alarm, 5);
        assert_eq!(s.throttle_retry.max_sleep.as_secs(), 5);
        assert_eq!(s.scale_up_reserve, 9);
        assert_eq!((s.min_shards, s.max_shards), (4, 4));
        assert_eq!(s.scale_down.threshold, 0.9, "used as given");
        for variable in [
            "SCALE_UP_DATAPOINTS_REQUIRED",
            "THROTTLE_RETRY_MAX_SLEEP",
            "SCALE_UP_RESHARD_RESERVE",
            "MIN_SHARDS",
            "SCALE_DOWN_THRESHOLD",
        ] {
            fallback(&s, variable);
        }
    }
}
