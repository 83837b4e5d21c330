//! `report` over an account of a few dozen streams (steady, daily cycle, idle, over- and
//! under-provisioned, on demand, without data): each provisioned stream is listed once, the
//! totals add up, and each stream's figures are `simulate --stream`'s on the same window.
//! In process on the fake, and through the binary against moto (`moto::...`, ignored by a
//! plain `cargo test`; scripts/test.sh runs it).

mod common;

use chrono::{DateTime, Duration, DurationRound, Utc};
use kinesis_autoscaler::aws::fake::FakeAws;
use kinesis_autoscaler::aws::IncomingPoint;
use kinesis_autoscaler::ops::export;
use kinesis_autoscaler::ops::report::{self, Row, Selection};
use kinesis_autoscaler::replay::compare::{Billing, Figures, StreamReport};
use kinesis_autoscaler::replay::simulate::{self, Options, Variant};
use std::collections::HashMap;

/// (name, shards, on demand, shards of load in period `i`; `None`: no datapoints at all).
type Kind = (&'static str, u32, bool, Option<fn(i64) -> f64>);

const KINDS: [Kind; 7] = [
    ("steady", 2, false, Some(|_| 0.8)),
    ("daily", 4, false, Some(daily)),
    ("idle", 4, false, Some(|_| 0.0)),
    ("over", 32, false, Some(|_| 1.2)),
    (
        "under",
        1,
        false,
        Some(|i| if i % 24 < 12 { 2.5 } else { 0.6 }),
    ),
    ("ondemand", 4, true, Some(daily)),
    ("nodata", 2, false, None),
];

/// A day's cycle over 5-minute periods: 0.3 to 3.3 shards.
fn daily(i: i64) -> f64 {
    let phase = (i % 288) as f64 / 288.0 * std::f64::consts::TAU;
    1.8 + 1.5 * phase.sin()
}

fn points(start: DateTime<Utc>, periods: i64, load: fn(i64) -> f64) -> Vec<IncomingPoint> {
    (0..periods)
        .map(|i| {
            let records = load(i) * 1000.0 * 300.0 * 0.9;
            IncomingPoint {
                start: start + Duration::minutes(5 * i),
                bytes: records * 900.0,
                records,
            }
        })
        .collect()
}

/// `copies` streams of each kind, `{prefix}{kind}-{n}`.
fn names(prefix: &str, copies: usize) -> Vec<(String, &'static Kind)> {
    KINDS
        .iter()
        .flat_map(|kind| (0..copies).map(move |n| (format!("{prefix}{}-{n:02}", kind.0), kind)))
        .collect()
}

fn base() -> Options {
    Options::new(simulate::settings_from_vars(&HashMap::<&str, String>::new()).unwrap())
}

#[tokio::test]
async fn in_process_each_stream_once_and_as_simulate_replays_it() {
    let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
    let aws = FakeAws::new(now);
    let start = now - Duration::days(2);
    let streams = names("acct-", 4);
    for (name, (_, shards, on_demand, load)) in &streams {
        if *on_demand {
            aws.create_on_demand_stream(name, *shards);
        } else {
            aws.create_stream(name, *shards);
        }
        if let Some(load) = load {
            aws.put_incoming(name, &points(start, 576, *load));
        }
    }
    aws.create_stream("other-stream", 1);
    let window = export::window(start, now, now).unwrap();
    let mut rows = Vec::new();
    let selection = Selection::Prefix("acct-".into());
    report::run(&aws, &selection, &window, &base(), &mut (), |r| {
        rows.push(r)
    })
    .await
    .unwrap();
    assert_eq!(rows.len(), streams.len(), "every stream once, none other");
    let mut seen = std::collections::HashSet::new();
    for row in &rows {
        match row {
            Row::Stream(r) => {
                assert!(seen.insert(r.stream.clone()), "{} twice", r.stream);
                let on_demand = r.stream.contains("ondemand");
                assert_eq!(r.billing == Billing::OnDemand, on_demand, "{}", r.stream);
                assert_matches_simulate(&aws, r, &window).await;
            }
            Row::NoData { stream, .. } => assert!(stream.contains("nodata"), "{stream}"),
            Row::Failed { stream, error } => panic!("{stream}: {error}"),
        }
    }
    let by_name: HashMap<&str, &StreamReport> = rows
        .iter()
        .filter_map(|r| match r {
            Row::Stream(r) => Some((r.stream.as_str(), &**r)),
            _ => None,
        })
        .collect();
    let over = by_name["acct-over-00"];
    assert!(
        over.monthly_savings_usd > 0.5 * over.as_is.monthly_cost_usd,
        "{over:?}"
    );
    let under = by_name["acct-under-00"];
    assert!(
        under.ours.records_throttled < 0.1 * under.as_is.records_throttled,
        "{under:?}"
    );
    // Idle at 4 shards: ours halves its way down to one shard within the first hour.
    let idle = by_name["acct-idle-00"];
    assert_eq!(idle.as_is.shard_hours, 4.0 * 48.0);
    assert!(idle.ours.shard_hours < 1.1 * 48.0, "{idle:?}");
}

/// The stream's figures equal a replay of its single-stream export (what `simulate --stream S
/// --initial-shards N` reads and replays).
async fn assert_matches_simulate(aws: &FakeAws, r: &StreamReport, window: &export::Window) {
    let exported = export::export(aws, &r.stream, window.clone(), |_, _| {})
        .await
        .unwrap();
    for (variant, figures) in [(Variant::Ours, &r.ours), (Variant::Upstream, &r.upstream)] {
        let opts = Options {
            variant,
            initial_shards: Some(r.open_shards),
            ..base()
        };
        let alone = simulate::simulate(&exported.trace, &opts).unwrap();
        assert_eq!(
            figures,
            &Figures::provisioned(&alone.summary),
            "{}",
            r.stream
        );
        assert_eq!(r.on_demand, Figures::on_demand(&alone.summary));
    }
}

mod moto {
    use super::*;
    use aws_sdk_cloudwatch::primitives::DateTime as SmithyDateTime;
    use aws_sdk_cloudwatch::types::{Dimension, MetricDatum, StandardUnit};
    use std::process::Command;

    const BIN: &str = env!("CARGO_BIN_EXE_kinesis-autoscaler");

    fn run(args: &[&str]) -> serde_json::Value {
        let out = Command::new(BIN).args(args).output().unwrap();
        assert!(
            out.status.success(),
            "{args:?}: exit {:?}\n{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("JSON")
    }

    async fn put(aws: &kinesis_autoscaler::aws::AwsClients, stream: &str, p: &[IncomingPoint]) {
        let dimension = Dimension::builder()
            .name("StreamName")
            .value(stream)
            .build();
        let data: Vec<MetricDatum> = p
            .iter()
            .flat_map(|p| {
                [
                    ("IncomingRecords", p.records, StandardUnit::Count),
                    ("IncomingBytes", p.bytes, StandardUnit::Bytes),
                ]
                .map(|(metric, value, unit)| {
                    MetricDatum::builder()
                        .metric_name(metric)
                        .dimensions(dimension.clone())
                        .timestamp(SmithyDateTime::from_secs(p.start.timestamp()))
                        .value(value)
                        .unit(unit)
                        .build()
                })
            })
            .collect();
        for chunk in data.chunks(500) {
            aws.cloudwatch
                .put_metric_data()
                .namespace("AWS/Kinesis")
                .set_metric_data(Some(chunk.to_vec()))
                .send()
                .await
                .expect("PutMetricData");
        }
    }

    #[tokio::test]
    #[ignore = "needs an emulator: scripts/test.sh"]
    async fn each_stream_once_totals_add_up_and_each_matches_simulate() {
        use common::Account;
        let aws = common::clients().await;
        let prefix = format!("{}-", common::unique("report"));
        let now = Utc::now();
        let start = (now - Duration::hours(8))
            .duration_trunc(Duration::minutes(5))
            .unwrap();
        let streams = names(&prefix, 4);
        for (name, (_, shards, on_demand, load)) in &streams {
            if *on_demand {
                aws.new_on_demand_stream(name).await;
            } else {
                aws.new_stream(name, *shards).await;
            }
            if let Some(load) = load {
                put(&aws, name, &points(start, 96, *load)).await;
            }
        }
        let end = start + Duration::hours(8);
        let stamp = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let (from, to) = (stamp(start), stamp(end));
        let window = ["--start", from.as_str(), "--end", to.as_str()];
        let doc = run(&[&["report", "--json", "--prefix", &prefix][..], &window].concat());
        let listed = doc["streams"].as_array().unwrap();
        let provisioned = streams
            .iter()
            .filter(|(_, k)| !k.2 && k.3.is_some())
            .count();
        assert_eq!(listed.len(), provisioned, "{doc}");
        let mut names: Vec<&str> = listed
            .iter()
            .map(|s| s["stream"].as_str().unwrap())
            .collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), provisioned, "each provisioned stream once");
        assert_eq!(doc["on_demand_streams"].as_array().unwrap().len(), 4);
        assert_eq!(doc["no_data"].as_array().unwrap().len(), 4);
        for key in ["as_is", "ours", "upstream", "on_demand"] {
            for field in [
                "monthly_cost_usd",
                "shard_hours",
                "records_throttled",
                "reshards",
            ] {
                let sum: f64 = listed.iter().map(|s| s[key][field].as_f64().unwrap()).sum();
                let total = doc["totals"][key][field].as_f64().unwrap();
                assert!(
                    (sum - total).abs() <= 1e-9 * sum.abs().max(1.0),
                    "{key}.{field}"
                );
            }
        }
        for s in listed {
            let name = s["stream"].as_str().unwrap();
            let shards = s["open_shards"].to_string();
            let sim = |policy: &str| {
                let args = ["simulate", "--stream", name, "--initial-shards", &shards];
                run(&[&args[..], &["--json", "--policy", policy], &window].concat())
            };
            for (policy, key) in [("ours", "ours"), ("upstream", "upstream")] {
                let alone = sim(policy);
                for field in [
                    "shard_hours",
                    "records_throttled",
                    "reshards",
                    "throttled_fraction",
                ] {
                    assert_eq!(s[key][field], alone[field], "{name} {key}.{field}");
                }
            }
        }
    }
}
