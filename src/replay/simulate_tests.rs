//! The replay's mechanics: throughput, gaps, reshard delay, the budget, upstream's refusals.

use super::*;
use std::collections::HashMap;

fn trace_of(needs: &[Option<f64>]) -> Trace {
    let start = DateTime::parse_from_rfc3339("2026-01-05T00:00:00Z")
        .map(|t| t.with_timezone(&Utc))
        .unwrap();
    let rows = needs
        .iter()
        .enumerate()
        .filter_map(|(i, n)| {
            n.map(|n| Row {
                timestamp: start + Duration::seconds(300 * i as i64),
                incoming_bytes: n * 300_000.0 * 100.0,
                incoming_records: n * 300_000.0,
                iterator_age_ms: None,
            })
        })
        .collect();
    Trace {
        rows,
        period_secs: Some(300),
    }
}

/// These tests are about the replay's alarm mechanics, so the policy is the upstream
/// rule (doubling/halving) without the schedule; sizing has its own tests.
fn opts(settings: Settings, initial: u32) -> Options {
    Options {
        initial_shards: Some(initial),
        schedule: false,
        ..Options::new(Settings {
            scaling_policy: ScalingPolicy::Upstream,
            ..settings
        })
    }
}

#[test]
fn flags_are_validated_as_the_lambdas_variables() {
    let vars: HashMap<&str, String> = [
        ("SCALE_UP_EVALUATION_PERIOD", "3".to_string()),
        ("SCALE_UP_DATAPOINTS_REQUIRED", "4".to_string()),
    ]
    .into();
    let err = settings_from_vars(&vars).unwrap_err();
    assert!(
        err.to_string().contains("SCALE_UP_DATAPOINTS_REQUIRED"),
        "{err}"
    );
    let vars: HashMap<&str, String> = [("MAX_RESHARDS_PER_DAY", "11".to_string())].into();
    assert!(settings_from_vars(&vars)
        .unwrap_err()
        .to_string()
        .contains("MAX_RESHARDS_PER_DAY"));
}

#[test]
fn throttling_is_the_load_above_capacity_per_period() {
    let out = simulate(
        &trace_of(&[Some(2.0), Some(0.5)]),
        &opts(Settings::default(), 1),
    )
    .unwrap();
    let s = &out.summary;
    assert_eq!(s.records_total, 750_000.0);
    assert!((s.records_throttled - 300_000.0).abs() < 1e-6);
    assert_eq!(s.throttled_periods, 1);
    assert_eq!(s.oracle_shard_hours, 3.0 * 300.0 / 3600.0);
}

#[test]
fn a_missing_period_is_zero_usage_and_breaks_a_five_of_five_run() {
    let mut needs = vec![Some(0.9); 4];
    needs.push(None);
    needs.extend([Some(0.9); 4]);
    let out = simulate(&trace_of(&needs), &opts(Settings::default(), 1)).unwrap();
    assert_eq!(out.summary.reshards, 0);
    assert_eq!(out.summary.missing_periods, 1);
    needs[4] = Some(0.9);
    let out = simulate(&trace_of(&needs), &opts(Settings::default(), 1)).unwrap();
    assert_eq!(out.summary.scale_ups, 1);
}

#[test]
fn a_reshard_takes_its_periods_and_events_meanwhile_are_refused() {
    // 1 of 1 datapoints: the alarm can fire again while the stream is UPDATING. The
    // metrics report what 1 shard admits, 50% of the 2 the rewritten alarm divides by,
    // so the threshold is below that.
    let mut settings = Settings::default();
    settings.scale_up.threshold = 0.4;
    settings.scale_up.evaluation_periods = 1;
    settings.scale_up.datapoints_to_alarm = 1;
    let mut o = opts(settings, 1);
    o.reshard_periods = 2;
    let start = trace_of(&[Some(4.0)]).rows[0].timestamp;
    let mut replay = Replay::new(o, start, 300, 1).unwrap();
    let row = |i: i64| Row {
        timestamp: start + Duration::seconds(300 * i),
        incoming_bytes: 0.0,
        incoming_records: 4.0 * 300_000.0,
        iterator_age_ms: None,
    };
    let first = replay.step(Some(&row(0)));
    assert!(matches!(first[0].decision, Decision::Scale(ref p) if p.to == 2));
    // Periods 1 and 2 still run on 1 shard; their evaluations see UPDATING.
    for i in 1..=2 {
        assert_eq!(replay.shards(), 1);
        let fired = replay.step(Some(&row(i)));
        assert_eq!(fired.len(), 1, "period {i}");
        assert_eq!(fired[0].observed.stream.status, StreamStatus::Updating);
        assert!(matches!(
            fired[0].decision,
            Decision::Refuse {
                refusal: policy::Refusal::NotActive(StreamStatus::Updating),
                ..
            }
        ));
    }
    assert_eq!(replay.shards(), 2);
    let fired = replay.step(Some(&row(3)));
    assert!(matches!(fired[0].decision, Decision::Scale(ref p) if p.from == 2 && p.to == 4));
    let out = replay.finish(4);
    let shards: Vec<u32> = out.timeline.iter().map(|r| r.shards).collect();
    assert_eq!(shards, [1, 1, 1, 2]);
}

#[test]
fn the_daily_limit_holds_and_upstream_counts_what_it_broke() {
    // Load flips every two periods; 1-of-1 alarms chase it.
    let mut settings = Settings::default();
    settings.scale_up.evaluation_periods = 1;
    settings.scale_up.datapoints_to_alarm = 1;
    settings.scale_down.evaluation_periods = 1;
    settings.scale_down.datapoints_to_alarm = 1;
    let needs: Vec<Option<f64>> = (0..288)
        .map(|i| Some(if (i / 2) % 2 == 0 { 1.8 } else { 0.1 }))
        .collect();
    let trace = trace_of(&needs);
    let ours = simulate(&trace, &opts(settings.clone(), 1))
        .unwrap()
        .summary;
    assert_eq!(ours.max_reshards_in_24h, 10);
    assert_eq!(ours.reshards_over_daily_limit, 0);
    let mut o = opts(settings, 1);
    o.variant = Variant::Upstream;
    let upstream = simulate(&trace, &o).unwrap().summary;
    // Upstream counts nothing; AWS refuses its 11th call and the alarm fires again.
    assert_eq!(upstream.max_reshards_in_24h, 10);
    assert_eq!(upstream.reshards_over_daily_limit, 0);
    assert!(upstream.refused_by_aws > 0);
}

#[test]
fn the_plot_is_an_svg_with_its_caption() {
    let out = simulate(
        &trace_of(&[Some(0.2), Some(3.0), None, Some(3.0)]),
        &opts(Settings::default(), 1),
    )
    .unwrap();
    let svg = crate::replay::plot::render(&out, "t <1>");
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    assert!(svg.contains("t &lt;1&gt;"));
    assert!(svg.contains("shard-hours"));
    assert!(svg.contains("time (UTC)"));
}

/// Six hours of one shard of load on 8 shards (the scale-down alarm looks back 5), consumers `lag_mins` behind (`None`: the
/// trace has no iterator age).
fn lagging_trace(lag_mins: Option<f64>) -> Trace {
    let mut trace = trace_of(&[Some(1.0); 72]);
    for row in &mut trace.rows {
        row.iterator_age_ms = lag_mins.map(|m| m * 60_000.0);
    }
    trace
}

#[test]
fn an_iterator_age_column_holds_scale_downs_as_the_lambda_does() {
    let shrinks = |variant: Variant, lag_mins: Option<f64>| {
        let o = Options {
            initial_shards: Some(8),
            variant,
            ..Options::new(Settings::default())
        };
        let out = simulate(&lagging_trace(lag_mins), &o).unwrap();
        out.reshards
            .iter()
            .filter(|r| r.direction == Direction::Down)
            .count()
    };
    // SCALE_DOWN_MIN_ITER_AGE_MINS is 30: 40 minutes behind holds both the scale-down
    // alarm (its e5 term) and the scheduled sizing; 10 minutes or no column does not.
    assert_eq!(Settings::default().scale_down_min_iter_age_mins, 30);
    for variant in [Variant::Ours, Variant::Upstream] {
        assert_eq!(shrinks(variant, Some(40.0)), 0, "{variant:?}");
        assert!(shrinks(variant, Some(10.0)) > 0, "{variant:?}");
        assert!(shrinks(variant, None) > 0, "{variant:?}");
    }
}
