//! The scheduled run of 10,000 streams, measured in process (BENCHMARKS.md, "Fleet scale"):
//! the fake enforces AWS's default per-account quotas and answers every call after 20 ms, on
//! tokio's paused clock, so the simulated time is what the quotas and the latency make it.
//! A benchmark, not a test (a minute of set-up); run it with
//!
//! ```sh
//! cargo run --release --example bench_schedule
//! ```
//!
//! (`FLEET_STREAMS` sets the fleet's size.)

use chrono::{DateTime, Duration, Utc};
use kinesis_autoscaler::aws::fake::FakeAws;
use kinesis_autoscaler::aws::paced::{Paced, DEFAULT_QUOTAS};
use kinesis_autoscaler::aws::IncomingPoint;
use kinesis_autoscaler::domain::event::Invocation;
use kinesis_autoscaler::domain::settings::Settings;
use kinesis_autoscaler::ops::autoscaler::Autoscaler;
use kinesis_autoscaler::ops::outcome::{InvocationReport, Outcome};
use kinesis_autoscaler::ops::wiring::{self, WireOptions};
use std::collections::BTreeMap;
use tokio::time::Instant;

const FUNCTION: &str = "autoscaler";
const DEADLINE: std::time::Duration = std::time::Duration::from_secs(900);

fn noon() -> DateTime<Utc> {
    DateTime::from_timestamp(1_799_971_200 + 12 * 3600, 0).expect("a valid time")
}

/// N streams of 2 shards with two days of load at 0.8 shards (they fit); one in a hundred
/// has 8 shards at 2.5 (the evaluation halves it), one in fifty is resharded by hand to 4
/// after wiring (drift the sweep fixes). Every API under its default quota, 20 ms a call.
async fn fleet(n: usize) -> FakeAws {
    let aws = FakeAws::new(noon());
    aws.create_function(FUNCTION);
    let settings = Settings::default();
    let options = WireOptions {
        topic_arn: Some("arn:aws:sns:us-east-1:123456789012:autoscaler".into()),
        dry_run: false,
        stream_tags: Default::default(),
    };
    let start = noon() - Duration::days(2);
    for i in 0..n {
        let stream = format!("fleet-{i:05}");
        let idle = i % 100 == 0;
        aws.create_stream(&stream, if idle { 8 } else { 2 });
        wiring::wire_stream(&aws, &settings, &stream, &options)
            .await
            .expect("wired");
        let need = if idle { 2.5 } else { 0.8 };
        let points: Vec<IncomingPoint> = (0..576)
            .map(|p| IncomingPoint {
                start: start + Duration::minutes(5 * p),
                bytes: need * 1000.0 * 300.0 * 1024.0,
                records: need * 1000.0 * 300.0,
            })
            .collect();
        aws.put_incoming(&stream, &points);
        if i % 50 == 25 {
            aws.set_open_shards(&stream, 4);
        }
    }
    aws.clear_calls();
    aws.with_latency(std::time::Duration::from_millis(20))
        .with_quotas(&DEFAULT_QUOTAS)
}

async fn tick(a: &Autoscaler<Paced<FakeAws>>) -> (InvocationReport, f64) {
    a.limits.set_deadline(Some(Instant::now() + DEADLINE));
    let started = Instant::now();
    let report = a.handle_invocation(Invocation::Scheduled).await;
    (report, started.elapsed().as_secs_f64())
}

fn calls(fake: &FakeAws) -> BTreeMap<&'static str, usize> {
    let mut counts = BTreeMap::new();
    for call in fake.calls() {
        *counts.entry(call.action).or_default() += 1;
    }
    counts
}

#[tokio::main(flavor = "current_thread", start_paused = true)]
async fn main() {
    let n: usize = std::env::var("FLEET_STREAMS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let setup = std::time::Instant::now();
    let a = Autoscaler::paced(fleet(n).await, Settings::default(), FUNCTION);
    println!(
        "set-up of {n} streams: {:.0} s wall",
        setup.elapsed().as_secs_f64()
    );
    let five_minutes = || async {
        a.aws.inner().advance(Duration::minutes(5));
        tokio::time::advance(std::time::Duration::from_secs(300)).await;
    };
    let wall = std::time::Instant::now();
    println!("| run | simulated s | swept | evaluated | resharded | fixes | throttled | calls |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |");
    let mut run = 0;
    // Ticks until the first sweep is through, then one tick with the evaluation alone.
    loop {
        run += 1;
        a.aws.inner().clear_calls();
        let throttled_before: u32 = a.aws.stats().throttled.values().sum();
        let (report, secs) = tick(&a).await;
        let swept = report.reconcile.as_ref().map_or(0, |r| r.streams.len());
        let fixes = report.reconcile.as_ref().map_or(0, |r| r.fixes());
        let resharded = report
            .alarms
            .iter()
            .filter(|o| o.outcome == Outcome::Scaled)
            .count();
        let throttled = a.aws.stats().throttled.values().sum::<u32>() - throttled_before;
        let counts = calls(a.aws.inner());
        let evaluated = counts.get("GetMetricData").copied().unwrap_or(0);
        println!(
            "| {run} | {secs:.1} | {swept} | {} | {resharded} | {fixes} | {throttled} | {counts:?} |",
            if evaluated > 0 { "all" } else { "none" }
        );
        assert!(secs < 300.0, "run {run} outlasts the 5-minute schedule");
        assert!(report.succeeded(), "{:?}", report.alarms);
        let sweeping = report
            .reconcile
            .as_ref()
            .is_some_and(|r| r.resume_after.is_some());
        five_minutes().await;
        if !sweeping && report.reconcile.is_none() {
            break;
        }
        assert!(run < 12, "the sweep makes no progress");
    }
    println!(
        "wall time of the measured runs: {:.1} s",
        wall.elapsed().as_secs_f64()
    );
}
