//! `trace export` against the emulator: metrics put into CloudWatch come back as a trace, gaps
//! stay gaps, and `simulate --stream` gives exactly the figures `simulate --trace` gives on
//! the exported file.

mod common;

use aws_sdk_cloudwatch::primitives::DateTime as SmithyDateTime;
use aws_sdk_cloudwatch::types::{Dimension, MetricDatum, StandardUnit};
use chrono::{DateTime, Duration, DurationRound, Utc};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_kinesis-autoscaler");

fn run(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().unwrap()
}

fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Records per second in period `i`: quiet, then a surge that must scale the stream up.
fn load(i: i64) -> f64 {
    if (12..40).contains(&i) {
        3000.0
    } else {
        500.0
    }
}

async fn exported_traces_replay_like_the_stream() {
    let aws = common::clients().await;
    let stream = common::unique("export");
    let now = Utc::now();
    let start = (now - Duration::hours(5))
        .duration_trunc(Duration::minutes(5))
        .unwrap();
    let periods = 50;
    let gaps = [20, 21, 33];
    let mut data = Vec::new();
    for i in (0..periods).filter(|i| !gaps.contains(i)) {
        let at = start + Duration::minutes(5 * i);
        let records = load(i) * 300.0;
        for (metric, value, unit) in [
            ("IncomingRecords", records, StandardUnit::Count),
            ("IncomingBytes", records * 700.0, StandardUnit::Bytes),
        ] {
            data.push(
                MetricDatum::builder()
                    .metric_name(metric)
                    .dimensions(
                        Dimension::builder()
                            .name("StreamName")
                            .value(&stream)
                            .build(),
                    )
                    .timestamp(SmithyDateTime::from_secs(at.timestamp()))
                    .value(value)
                    .unit(unit)
                    .build(),
            );
        }
    }
    for chunk in data.chunks(500) {
        aws.cloudwatch
            .put_metric_data()
            .namespace("AWS/Kinesis")
            .set_metric_data(Some(chunk.to_vec()))
            .send()
            .await
            .expect("PutMetricData");
    }

    let end = start + Duration::minutes(5 * periods);
    let (from, to) = (stamp(start), stamp(end));
    let file = std::env::temp_dir().join(format!("{stream}.csv"));
    let path = file.to_str().unwrap();
    let window = ["--start", from.as_str(), "--end", to.as_str()];

    let out = run(&[
        &["trace", "export", "--stream", &stream, "--output", path][..],
        &window,
    ]
    .concat());
    let notes = String::from_utf8_lossy(&out.stderr).into_owned();
    ok(out);
    assert!(notes.contains("5-minute Sums"), "{notes}");
    assert!(notes.contains("47 of 50 periods"), "{notes}");

    let text = std::fs::read_to_string(&file).unwrap();
    let rows: Vec<&str> = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .skip(1)
        .collect();
    assert_eq!(rows.len(), 47, "{text}");
    // A gap is a missing row, not a zero.
    let gap = stamp(start + Duration::minutes(5 * 20));
    assert!(!text.contains(&gap), "{text}");
    let first = format!("{},{},{}", from, 500.0 * 300.0 * 700.0, 500.0 * 300.0);
    assert_eq!(rows[0], first);

    let from_file = ok(run(&["simulate", "--trace", path, "--json"]));
    let from_stream = ok(run(&[
        &["simulate", "--stream", &stream, "--json"][..],
        &window,
    ]
    .concat()));
    assert_eq!(from_file, from_stream);
    let summary: serde_json::Value = serde_json::from_str(&from_file).unwrap();
    assert!(summary["scale_ups"].as_u64().unwrap() >= 1, "{summary}");
    assert_eq!(summary["missing_periods"], 3);

    // A stream without datapoints is an error that says so, and writes no file.
    let empty = std::env::temp_dir().join(format!("{stream}-none.csv"));
    let out = run(&[
        &[
            "trace",
            "export",
            "--stream",
            "no-such-stream-anywhere",
            "--output",
        ][..],
        &[empty.to_str().unwrap()],
        &window,
    ]
    .concat());
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("has no IncomingBytes or IncomingRecords")
    );
    assert!(!empty.exists());
    let _ = std::fs::remove_file(&file);
}

fn stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

crate::on_emulators!(exported_traces_replay_like_the_stream);
