//! Scenario traces under `tests/data/`: each `NAME.expect.json` names a trace (default
//! `NAME.csv`), optional settings (as the Lambda's variables), and ranges the replay must land
//! in. Adding a scenario is adding two files.
//!
//! A range states a claim against a reference the replay does not control: a figure derived
//! by hand in the scenario's `about`, or `against_upstream` (the Go Lambda replayed beside it
//! on the same trace, initial shards and variables: `shard_hours_ratio` is ours over its,
//! `throttled_fraction_minus_upstream` ours minus its, in fractions of records) and
//! `against_oracle` (`shard_hours_ratio` over the instant, limitless oracle's). `"tune": true`
//! replays the tuning walk-forward (`simulate --tune`) at the settings' budget. No range
//! restates what the replay's AWS model guarantees anyway (at most 10 reshards in 24 h, never
//! an illegal one): that is checked on every scenario below.

use kinesis_autoscaler::domain::event::Direction;
use kinesis_autoscaler::domain::policy::{self, Decision, StreamStatus};
use kinesis_autoscaler::domain::schedule::{self, Evaluation};
use kinesis_autoscaler::domain::settings::{ScalingPolicy, Settings};
use kinesis_autoscaler::domain::sizing::{self, Usage};
use kinesis_autoscaler::replay::simulate::{self, Options, Replay, Source, Variant};
use kinesis_autoscaler::replay::{trace, tune};
use serde_json::Value;
use std::borrow::Cow;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

fn range(v: &Value, what: &str) -> (f64, f64) {
    match v.as_array().map(|a| a.as_slice()) {
        Some([lo, hi]) => (
            lo.as_f64().unwrap_or_else(|| panic!("{what}: bad minimum")),
            hi.as_f64().unwrap_or_else(|| panic!("{what}: bad maximum")),
        ),
        _ => panic!("{what}: expected [min, max]"),
    }
}

fn options_for(expect: &Value) -> Options {
    let vars: HashMap<String, String> = expect
        .get("vars")
        .and_then(Value::as_object)
        .map(|o| {
            o.iter()
                .map(|(k, v)| (k.clone(), v.as_str().expect("vars are strings").to_string()))
                .collect()
        })
        .unwrap_or_default();
    let mut opts = Options::new(simulate::settings_from_vars(&vars).expect("valid vars"));
    opts.initial_shards = expect
        .get("initial_shards")
        .and_then(Value::as_u64)
        .map(|n| n as u32);
    opts.tune = expect.get("tune").and_then(Value::as_bool).unwrap_or(false);
    opts.variant = match expect.get("policy").and_then(Value::as_str) {
        None | Some("ours") => Variant::Ours,
        Some("upstream") => Variant::Upstream,
        Some(other) => panic!("unknown policy {other}"),
    };
    opts
}

#[test]
fn every_scenario_lands_in_its_expected_ranges() {
    let mut expects: Vec<PathBuf> = std::fs::read_dir(data_dir())
        .expect("tests/data")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(".expect.json"))
        .collect();
    expects.sort();
    assert!(expects.len() >= 4, "scenarios missing: {expects:?}");
    let mut failures = Vec::new();
    for path in &expects {
        let name = path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .trim_end_matches(".expect.json")
            .to_string();
        let expect: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let trace_file = expect
            .get("trace")
            .and_then(Value::as_str)
            .map_or_else(|| format!("{name}.csv"), str::to_string);
        let trace = trace::read(&data_dir().join(&trace_file)).unwrap();
        let opts = options_for(&expect);
        let outcome = tune::replay(&trace, &opts).unwrap();
        let summary = serde_json::to_value(&outcome.summary).unwrap();
        let mut check = |what: String, value: f64, (lo, hi): (f64, f64)| {
            if !(lo..=hi).contains(&value) {
                failures.push(format!("{name}: {what} = {value}, expected {lo}..={hi}"));
            }
        };
        let s = &outcome.summary;
        if let Some(against) = expect.get("against_upstream") {
            let upstream = simulate::simulate(
                &trace,
                &Options {
                    variant: Variant::Upstream,
                    tune: false,
                    ..opts.clone()
                },
            )
            .unwrap()
            .summary;
            if let Some(r) = against.get("shard_hours_ratio") {
                let ratio = s.shard_hours / upstream.shard_hours;
                check("shard-hours / upstream's".into(), ratio, range(r, "ratio"));
            }
            if let Some(r) = against.get("throttled_fraction_minus_upstream") {
                let diff = s.throttled_fraction - upstream.throttled_fraction;
                check(
                    "throttled - upstream's".into(),
                    diff,
                    range(r, "difference"),
                );
            }
        }
        if let Some(r) = expect
            .get("against_oracle")
            .and_then(|a| a.get("shard_hours_ratio"))
        {
            let ratio = s.shard_hours / s.oracle_shard_hours;
            check("shard-hours / oracle's".into(), ratio, range(r, "ratio"));
        }
        // AWS's rules, on every scenario (the replay's model enforces them for ours; the
        // upstream replay's illegal asks are refused and counted, not made).
        check(
            "reshards beyond AWS's 10 in 24 h".into(),
            s.reshards_over_daily_limit as f64,
            (0.0, 0.0),
        );
        let illegal = outcome
            .reshards
            .iter()
            .filter(|r| r.to < r.from.div_ceil(2) || r.to > r.from * 2)
            .count();
        check("illegal reshards".into(), illegal as f64, (0.0, 0.0));
        for (field, r) in expect["summary"].as_object().unwrap() {
            let value = summary[field]
                .as_f64()
                .unwrap_or_else(|| panic!("{name}: no summary field {field}"));
            check(field.clone(), value, range(r, field));
        }
        if let Some(r) = expect.get("timeline_shards") {
            let (lo, hi) = range(r, "timeline_shards");
            for row in &outcome.timeline {
                check(
                    format!("shards at {}", row.timestamp),
                    f64::from(row.shards),
                    (lo, hi),
                );
            }
        }
        if let Some(n) = expect
            .get("first_scale_up_not_before_period")
            .and_then(Value::as_i64)
        {
            let start = trace.rows[0].timestamp;
            let first = outcome
                .reshards
                .iter()
                .find(|r| r.direction == Direction::Up)
                .map(|r| (r.at - start).num_seconds() / outcome.summary.period_secs);
            match first {
                Some(p) if p >= n => {}
                other => failures.push(format!(
                    "{name}: first scale-up at period {other:?}, expected >= {n}"
                )),
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_timeline_adds_up_to_the_summary() {
    let trace = trace::read(&data_dir().join("step.csv")).unwrap();
    let outcome = simulate::simulate(&trace, &Options::new(Settings::default())).unwrap();
    let mut csv = Vec::new();
    simulate::write_timeline(&mut csv, &outcome.timeline).unwrap();
    let mut reader = csv::Reader::from_reader(csv.as_slice());
    let headers = reader.headers().unwrap().clone();
    assert_eq!(
        headers.iter().collect::<Vec<_>>(),
        [
            "timestamp",
            "shards",
            "incoming_bytes",
            "incoming_records",
            "throttled_records"
        ]
    );
    let (mut shard_periods, mut throttled, mut rows) = (0u64, 0.0f64, 0u64);
    for record in reader.records() {
        let record = record.unwrap();
        shard_periods += record[1].parse::<u64>().unwrap();
        throttled += record[4].parse::<f64>().unwrap();
        rows += 1;
    }
    let s = &outcome.summary;
    assert_eq!(rows, s.periods);
    assert_eq!(rows as usize, trace.rows.len());
    let shard_hours = shard_periods as f64 * s.period_secs as f64 / 3600.0;
    assert!(
        (shard_hours - s.shard_hours).abs() < 1e-9,
        "{shard_hours} vs {}",
        s.shard_hours
    );
    assert!(s.records_throttled > 0.0);
    assert!(
        (throttled - s.records_throttled).abs() <= 1e-9 * s.records_throttled,
        "{throttled} vs {}",
        s.records_throttled
    );
}

/// The datapoints the Lambda would read at `now`, derived from the trace alone: each
/// period's load in shards (1 MiB/s or 1000 records/s a shard) capped at the shards that
/// served it (CloudWatch counts what Kinesis admitted), over the window the sizing reads.
fn datapoints_from_trace(
    rows: &[trace::Row],
    served: &[u32],
    now: chrono::DateTime<chrono::Utc>,
) -> Usage<'static> {
    let period = 300i64;
    let start = rows[0].timestamp;
    let end = ((now - start).num_seconds() / period) as usize;
    let keep = (sizing::history_mins(&Settings::default().sizing) * 60 / period) as usize;
    let first = end.saturating_sub(keep);
    let needs = (first..end)
        .map(|i| {
            let r = &rows[i];
            let load = (r.incoming_bytes / (1024.0 * 1024.0 * 300.0))
                .max(r.incoming_records / (1000.0 * 300.0));
            Some(load.min(f64::from(served[i])))
        })
        .collect();
    Usage {
        period_secs: period,
        start: start + chrono::Duration::seconds(period * first as i64),
        needs: Cow::Owned(needs),
        lag_mins: Cow::Owned(vec![None; end - first]),
    }
}

/// The replay decides exactly as the Lambda would, on inputs derived from the trace, not
/// taken from the replay: the datapoints each decision read are recomputed from the trace
/// rows and the shard count that served each period (never a period after the decision),
/// and each alarm action's decision is what `policy::plan_sized` returns on those, each
/// scheduled reshard what `schedule::evaluate` returns; the alarms the replay evaluates
/// next are the ones the plan wrote.
#[test]
fn the_replay_and_the_lambda_agree() {
    for name in ["step.csv", "daily.csv"] {
        let trace = trace::read(&data_dir().join(name)).unwrap();
        let settings = Settings::default();
        let mut replay = Replay::new(
            Options::new(settings.clone()),
            trace.rows[0].timestamp,
            300,
            1,
        )
        .unwrap();
        let (mut scaled, mut scheduled) = (0, 0);
        let mut served = Vec::new();
        for row in &trace.rows {
            let shards_before = replay.shards();
            served.push(shards_before);
            for firing in replay.step(Some(row)) {
                let usage = datapoints_from_trace(&trace.rows, &served, firing.now);
                assert_eq!(firing.usage, usage, "{name}: datapoints at {}", firing.now);
                let direct = match firing.source {
                    Source::Alarm => policy::plan_sized(
                        &firing.trigger,
                        &firing.observed,
                        Some(&usage),
                        &settings,
                        firing.now,
                    ),
                    Source::Schedule => {
                        scheduled += 1;
                        match schedule::evaluate(
                            &firing.trigger.pair,
                            &firing.observed,
                            &usage,
                            &settings,
                            firing.now,
                        ) {
                            Evaluation::Scale { plan, .. } => Decision::Scale(*plan),
                            other => {
                                panic!("{name}: the replay resharded, evaluate says {other:?}")
                            }
                        }
                    }
                };
                assert_eq!(firing.decision, direct, "{name}");
                assert_eq!(firing.trigger.state_change_time, firing.now);
                let stream = &firing.observed.stream;
                assert_eq!(stream.open_shards, shards_before);
                assert!(firing.observed.account_headroom.is_none());
                if let Decision::Scale(plan) = &direct {
                    scaled += 1;
                    assert_eq!(stream.status, StreamStatus::Active);
                    assert_eq!(replay.alarms(), &plan.alarms);
                    assert_eq!(replay.history(), &plan.history);
                }
            }
        }
        assert!(scaled >= 4, "{name}: only {scaled} reshards compared");
        assert!(scheduled >= 1, "{name}: no scheduled reshard compared");
    }
}

#[test]
fn upstream_asks_for_an_illegal_halving_and_aws_refuses_it() {
    // 3 shards of quiet load: ours halves 3 -> 2; upstream asks 3 -> 1 (integer halving),
    // AWS refuses it (below ceil(3/2)), the Lambda resets the alarm to OK, it fires again.
    let quiet = "timestamp,incoming_bytes,incoming_records\n";
    let mut text = quiet.to_string();
    for i in 0..80 {
        text.push_str(&format!(
            "2026-01-05T{:02}:{:02}:00Z,1000,1\n",
            i * 5 / 60,
            i * 5 % 60
        ));
    }
    let trace = trace::parse(text.as_bytes()).unwrap();
    let run = |variant, policy| {
        let mut opts = Options::new(Settings {
            scaling_policy: policy,
            ..Settings::default()
        });
        opts.initial_shards = Some(3);
        opts.variant = variant;
        simulate::simulate(&trace, &opts).unwrap()
    };
    for policy in [ScalingPolicy::Upstream, ScalingPolicy::Sized] {
        let ours = run(Variant::Ours, policy).reshards;
        assert_eq!((ours[0].from, ours[0].to), (3, 2), "{policy:?}");
    }
    let upstream = run(Variant::Upstream, ScalingPolicy::Upstream);
    assert!(upstream.reshards.is_empty(), "{:?}", upstream.reshards);
    assert!(upstream.summary.refused_by_aws >= 2);
    assert_eq!(upstream.summary.final_shards, 3);
}

#[test]
fn a_trace_with_another_period_is_refused_clearly() {
    let trace = trace::read(&data_dir().join("step.csv")).unwrap();
    let settings = Settings {
        period_mins: 1,
        ..Settings::default()
    };
    let err = simulate::simulate(&trace, &Options::new(settings)).unwrap_err();
    assert!(err.to_string().contains("--period-mins 5"), "{err}");
}
