use super::*;

fn parse(vars: &[(&str, &str)]) -> Result<Settings, SettingsError> {
    let map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Settings::from_lookup(|k| map.get(k).cloned())
}

#[test]
fn unset_and_empty_variables_take_upstream_template_defaults() {
    assert_eq!(parse(&[]).unwrap(), Settings::default());
    assert_eq!(
        parse(&[("SCALE_UP_THRESHOLD", ""), ("PROCESSING_LAMBDA_ARN", "")]).unwrap(),
        Settings::default()
    );
}

#[test]
fn upstream_variables_are_read() {
    let s = parse(&[
        ("SCALE_PERIOD_MINS", "1"),
        ("SCALE_UP_THRESHOLD", "0.5"),
        ("SCALE_UP_EVALUATION_PERIOD", "3"),
        ("SCALE_UP_DATAPOINTS_REQUIRED", "2"),
        ("SCALE_DOWN_THRESHOLD", "0.1"),
        ("SCALE_DOWN_EVALUATION_PERIOD", "30"),
        ("SCALE_DOWN_DATAPOINTS_REQUIRED", "25"),
        ("SCALE_DOWN_MIN_ITER_AGE_MINS", "-1"),
        (
            "PROCESSING_LAMBDA_ARN",
            "arn:aws:lambda:us-east-1:123456789012:function:consumer",
        ),
        ("PROCESSING_LAMBDAS_PER_SHARD", "5"),
        ("DRY_RUN", "True"),
        ("THROTTLE_RETRY_COUNT", "4"),
    ])
    .unwrap();
    assert_eq!(s.period_mins, 1);
    assert_eq!(
        s.scale_up,
        AlarmSettings {
            threshold: 0.5,
            evaluation_periods: 3,
            datapoints_to_alarm: 2
        }
    );
    assert_eq!(
        s.scale_down,
        AlarmSettings {
            threshold: 0.1,
            evaluation_periods: 30,
            datapoints_to_alarm: 25
        }
    );
    assert_eq!(s.scale_down_min_iter_age_mins, -1);
    assert_eq!(
        s.processing_lambda.as_deref(),
        Some("arn:aws:lambda:us-east-1:123456789012:function:consumer")
    );
    assert_eq!(s.lambdas_per_shard, 5);
    assert!(s.dry_run);
    assert_eq!(s.throttle_retry.count, 4);
    assert_eq!(Settings::default().reconcile_interval_mins, 60);
    let every_run = parse(&[("RECONCILE_INTERVAL_MINS", "0")]).unwrap();
    assert_eq!(every_run.reconcile_interval_mins, 0);
    let scoped = parse(&[("MANAGED_STREAM_PREFIX", "prod-")]).unwrap();
    assert!(scoped.manages("prod-orders") && !scoped.manages("dev-orders"));
    assert!(Settings::default().manages("anything"));
}

#[test]
fn an_invalid_value_names_its_variable() {
    let err = parse(&[("SCALE_UP_THRESHOLD", "lots")]).unwrap_err();
    assert!(
        err.to_string().contains("SCALE_UP_THRESHOLD=\"lots\""),
        "{err}"
    );
    let err = parse(&[("DRY_RUN", "maybe")]).unwrap_err();
    assert!(err.to_string().contains("DRY_RUN"), "{err}");
    let err = parse(&[("SCALE_DOWN_MIN_ITER_AGE_MINS", "0")]).unwrap_err();
    assert!(
        err.to_string().contains("SCALE_DOWN_MIN_ITER_AGE_MINS"),
        "{err}"
    );
    let err = parse(&[("ERROR_METRIC_NAMESPACE", "AWS/Lambda")]).unwrap_err();
    assert!(err.to_string().contains("ERROR_METRIC_NAMESPACE"), "{err}");
    for (variable, value) in [
        ("SCALE_UP_THRESHOLD", "1e308"),
        ("SCALE_UP_THRESHOLD", "1000000"),
        ("SCALE_DOWN_THRESHOLD", "-0.5"),
        ("SCALE_DOWN_THRESHOLD", "0"),
        ("THROTTLE_RETRY_COUNT", "4294967295"),
    ] {
        let err = parse(&[(variable, value)]).unwrap_err();
        assert!(
            err.to_string().contains(variable),
            "{variable}={value}: {err}"
        );
    }
    let err = parse(&[("RECONCILE_INTERVAL_MINS", "hourly")]).unwrap_err();
    assert!(err.to_string().contains("RECONCILE_INTERVAL_MINS"), "{err}");
    let err = parse(&[("MAX_RESHARDS_PER_DAY", "11")]).unwrap_err();
    assert!(err.to_string().contains("MAX_RESHARDS_PER_DAY"), "{err}");
}

#[test]
fn inconsistent_variables_are_named_together() {
    let err = parse(&[("SCALE_UP_DATAPOINTS_REQUIRED", "6")]).unwrap_err();
    assert!(
        matches!(
            err,
            SettingsError::Inconsistent {
                first: "SCALE_UP_DATAPOINTS_REQUIRED",
                ..
            }
        ),
        "{err}"
    );
    let err = parse(&[("SCALE_DOWN_THRESHOLD", "0.9")]).unwrap_err();
    assert!(err.to_string().contains("SCALE_DOWN_THRESHOLD"), "{err}");
    let err = parse(&[("SCALE_UP_RESHARD_RESERVE", "10")]).unwrap_err();
    assert!(
        err.to_string().contains("SCALE_UP_RESHARD_RESERVE"),
        "{err}"
    );
    let err = parse(&[("SCALE_PERIOD_MINS", "60")]).unwrap_err();
    assert!(
        err.to_string().contains("SCALE_DOWN_EVALUATION_PERIOD"),
        "{err}"
    );
}

#[test]
fn stream_tags_override_global_settings() {
    let s = Settings {
        processing_lambda: Some("global".into()),
        ..Settings::default()
    };
    let tags: HashMap<String, String> = [
        (tag::MIN_SHARDS, "2"),
        (tag::MAX_SHARDS, "64"),
        (tag::CONSUMER_FUNCTION, "orders-consumer"),
        (tag::LAMBDAS_PER_SHARD, "3"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let stream = s.for_stream("orders", &tags).unwrap();
    assert_eq!(
        stream,
        StreamSettings {
            min_shards: 2,
            max_shards: 64,
            consumer_function: Some("orders-consumer".into()),
            lambdas_per_shard: 3
        }
    );
    let plain = s.for_stream("other", &HashMap::new()).unwrap();
    assert_eq!(plain.consumer_function.as_deref(), Some("global"));
    assert_eq!((plain.min_shards, plain.max_shards), (1, 10_000));
}

#[test]
fn a_bad_stream_tag_names_stream_and_tag() {
    let tags: HashMap<String, String> = [(tag::MAX_SHARDS.to_string(), "0".to_string())].into();
    let err = Settings::default().for_stream("orders", &tags).unwrap_err();
    assert_eq!(err.stream, "orders");
    assert_eq!(err.tag, tag::MAX_SHARDS);
    let tags: HashMap<String, String> = [
        (tag::MIN_SHARDS.to_string(), "8".to_string()),
        (tag::MAX_SHARDS.to_string(), "4".to_string()),
    ]
    .into();
    let err = Settings::default().for_stream("orders", &tags).unwrap_err();
    assert!(err.to_string().contains("orders"), "{err}");
}

#[test]
fn lambdas_per_shard_is_capped_at_ten_and_the_cap_is_said() {
    let tags: HashMap<String, String> =
        [(tag::LAMBDAS_PER_SHARD.to_string(), "4000000000".to_string())].into();
    let s = Settings::default();
    assert_eq!(s.for_stream("orders", &tags).unwrap().lambdas_per_shard, 10);
    let said = s.capped_stream_tags("orders", &tags);
    assert_eq!(said.len(), 1);
    assert!(said[0].contains("orders") && said[0].contains(tag::LAMBDAS_PER_SHARD));
    let ten: HashMap<String, String> =
        [(tag::LAMBDAS_PER_SHARD.to_string(), "10".to_string())].into();
    assert!(s.capped_stream_tags("orders", &ten).is_empty());

    let err = parse(&[("PROCESSING_LAMBDAS_PER_SHARD", "5000")]).unwrap_err();
    assert!(
        err.to_string().contains("PROCESSING_LAMBDAS_PER_SHARD"),
        "{err}"
    );
    let tolerant = Settings::tolerant_from_lookup(|k| {
        (k == "PROCESSING_LAMBDAS_PER_SHARD").then(|| "5000".to_string())
    });
    assert_eq!(tolerant.lambdas_per_shard, 10);
    assert_eq!(
        tolerant.fallbacks[0].variable,
        "PROCESSING_LAMBDAS_PER_SHARD"
    );
}

#[test]
fn variables_lists_exactly_what_the_parsers_look_up() {
    let asked = RefCell::new(std::collections::BTreeSet::new());
    let record = |name: &str| {
        asked.borrow_mut().insert(name.to_string());
        None
    };
    Settings::from_lookup(record).unwrap();
    Settings::tolerant_read(record);
    let mut listed: std::collections::BTreeSet<String> =
        VARIABLES.iter().map(|v| v.to_string()).collect();
    assert!(listed.remove(AUTO_WIRE_TOPIC_ARN));
    assert_eq!(asked.into_inner(), listed);
    assert_eq!(
        VARIABLES.len(),
        listed.len() + 1,
        "a variable is listed twice"
    );
}

#[test]
fn a_stream_decides_with_its_tuning_and_its_own_tags_win_field_by_field() {
    use crate::domain::tuned::TunedTag;
    use crate::domain::tuning::candidates;
    let lean = candidates().into_iter().find(|c| c.name == "lean").unwrap();
    let tuned = TunedTag {
        day: chrono::NaiveDate::from_ymd_opt(2026, 12, 6).unwrap(),
        candidate: "lean".into(),
        met: true,
        policy: lean.policy,
        advice: None,
    };
    let global = Settings::default();
    let mut tags = HashMap::from([(tag::TUNED.to_string(), tuned.render())]);
    let p = global.policy_for_stream("s", &tags);
    assert!(p.problems.is_empty(), "{:?}", p.problems);
    assert_eq!(p.tuned.as_ref(), Some(&tuned));
    assert_eq!(p.settings.target_usage, 0.8, "lean's, not the global 0.7");
    assert_eq!(p.settings.sizing.burst_cap, 2.0);
    // The user's own tag wins for its field; the others stay tuned.
    tags.insert(tag::TARGET_USAGE.into(), "0.6".into());
    let p = global.policy_for_stream("s", &tags);
    assert_eq!(p.settings.target_usage, 0.6);
    assert_eq!(p.settings.sizing.burst_cap, 2.0);
    tags.insert(tag::SCALING_POLICY.into(), "upstream".into());
    let p = global.policy_for_stream("s", &tags);
    assert_eq!(p.settings.scaling_policy, ScalingPolicy::Upstream);
    // A bad tag is reported, naming the stream and the tag, and not used.
    let bad = HashMap::from([
        (tag::TUNED.to_string(), "day=yesterday".to_string()),
        (tag::TARGET_USAGE.to_string(), "lots".to_string()),
    ]);
    let p = global.policy_for_stream("orders", &bad);
    assert_eq!(p.settings, global);
    assert_eq!(p.tuned, None);
    assert_eq!(p.problems.len(), 2, "{:?}", p.problems);
    assert!(p.problems[0].contains("orders") && p.problems[0].contains(tag::TUNED));
    assert!(p.problems[1].contains(tag::TARGET_USAGE));
    // SCALING_POLICY=upstream: the tuning is not used (it tunes the sized policy).
    let upstream = Settings {
        scaling_policy: ScalingPolicy::Upstream,
        ..Settings::default()
    };
    let p = upstream.policy_for_stream(
        "s",
        &HashMap::from([(tag::TUNED.to_string(), tuned.render())]),
    );
    assert_eq!(p.settings, upstream);
}

#[test]
fn the_tuned_floor_raises_the_minimum_unless_the_stream_says_otherwise() {
    let tuned = "day=2026-12-06 set=careful met=yes usage=0.6 min=8";
    let with = |extra: &[(&str, &str)]| -> HashMap<String, String> {
        std::iter::once((tag::TUNED, tuned))
            .chain(extra.iter().copied())
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let s = Settings::default();
    let min = |s: &Settings, tags| s.for_stream("orders", &tags).unwrap().min_shards;
    assert_eq!(min(&s, with(&[])), 8);
    // Never above the stream's maximum; the user's own minimum wins.
    assert_eq!(min(&s, with(&[(tag::MAX_SHARDS, "6")])), 6);
    assert_eq!(min(&s, with(&[(tag::MIN_SHARDS, "2")])), 2);
    // Not where the tuning is not in force, nor from a tag that does not parse.
    assert_eq!(min(&s, with(&[(tag::SCALING_POLICY, "upstream")])), 1);
    let upstream = Settings {
        scaling_policy: ScalingPolicy::Upstream,
        ..Settings::default()
    };
    assert_eq!(min(&upstream, with(&[])), 1);
    let bad: HashMap<String, String> =
        [(tag::TUNED.to_string(), format!("{tuned} colour=red"))].into();
    assert_eq!(min(&s, bad), 1);
}
