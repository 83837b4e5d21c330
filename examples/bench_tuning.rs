//! A day of the scheduled run's daily tuning for 10,000 streams, measured in process
//! (BENCHMARKS.md, "Daily tuning of 10,000 streams"): the fake holds 14 days of 5-minute
//! datapoints a stream, enforces AWS's default per-account quotas and answers every call
//! after 20 ms, on tokio's paused clock, so the simulated time is what the quotas and the
//! latency make it; the replays' CPU time is measured apart (the process's user + system
//! time, from /proc/self/stat), since it does not move the paused clock. The day's 288 ticks
//! each run the tuning's share (`daily_tuning`, after the fleet snapshot the scheduled run
//! reads anyway, whose cost is bench_schedule's). A benchmark, not a test; run it with
//!
//! ```sh
//! cargo run --release --example bench_tuning
//! ```
//!
//! (`FLEET_STREAMS` sets the fleet's size; `LAMBDA_MEMORY_MB` the function's memory, 128 as
//! the template deploys it.)

use chrono::{DateTime, Duration, Utc};
use kinesis_autoscaler::aws::fake::FakeAws;
use kinesis_autoscaler::aws::paced::{DEFAULT_QUOTAS, RECONCILE_SHARE};
use kinesis_autoscaler::aws::IncomingPoint;
use kinesis_autoscaler::domain::settings::Settings;
use kinesis_autoscaler::ops::autoscaler::{Autoscaler, TICKS_PER_DAY, TUNING_SLICE};
use kinesis_autoscaler::ops::fleet;
use kinesis_autoscaler::ops::outcome::TuningOutcome;
use kinesis_autoscaler::ops::wiring::{self, WireOptions};
use std::collections::BTreeMap;
use tokio::time::Instant;

const FUNCTION: &str = "autoscaler";
const DEADLINE: std::time::Duration = std::time::Duration::from_secs(900);
/// Lambda gives a function one vCPU at 1,769 MB, in proportion below.
const MB_PER_VCPU: f64 = 1769.0;

fn midnight() -> DateTime<Utc> {
    DateTime::from_timestamp(1_799_971_200, 0).expect("a valid time")
}

/// A small deterministic noise in [0, 1).
fn noise(i: usize, p: i64) -> f64 {
    let mut x = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (p as u64).wrapping_mul(31);
    x ^= x >> 29;
    x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^= x >> 32;
    (x % 10_000) as f64 / 10_000.0
}

/// Stream `i`'s load in shards at period `p` (minute of the day `minute`): a daily ramp, a
/// noisy flat load, hourly bursts, or a weekday/weekend cycle, of a size set by `i`.
fn need(i: usize, p: i64, minute: i64) -> f64 {
    let size = 0.5 + (i % 7) as f64 * 0.5;
    let n = noise(i, p);
    match i % 4 {
        0 if (540..1020).contains(&minute) => size * (2.0 + n),
        1 => size * (0.8 + 0.4 * n),
        2 if minute % 60 < 10 => size * (3.0 + 2.0 * n),
        3 if (p / 288) % 7 < 5 => size * (1.5 + 0.5 * n),
        _ => size * (0.5 + 0.2 * n),
    }
}

async fn fleet(n: usize) -> FakeAws {
    let aws = FakeAws::new(midnight());
    aws.create_function(FUNCTION);
    let settings = Settings::default();
    let options = WireOptions {
        topic_arn: Some("arn:aws:sns:us-east-1:123456789012:autoscaler".into()),
        dry_run: false,
        stream_tags: Default::default(),
    };
    let start = midnight() - Duration::days(14);
    for i in 0..n {
        let stream = format!("fleet-{i:05}");
        aws.create_stream(&stream, 2 + (i % 3) as u32);
        wiring::wire_stream(&aws, &settings, &stream, &options)
            .await
            .expect("wired");
        let points: Vec<IncomingPoint> = (0..14 * 288)
            .map(|p| {
                let records = need(i, p, (p * 5) % 1440) * 1000.0 * 300.0 * 0.9;
                IncomingPoint {
                    start: start + Duration::minutes(5 * p),
                    bytes: records * 200.0,
                    records,
                }
            })
            .collect();
        aws.put_incoming(&stream, &points);
    }
    aws.clear_calls();
    let mut aws = aws.with_latency(std::time::Duration::from_millis(20));
    for (action, per_second) in DEFAULT_QUOTAS {
        if per_second > 0.0 && action != "lambda" {
            aws = aws.with_quota(action, per_second);
        }
    }
    aws
}

/// The process's CPU seconds so far (user + system), or `None` off Linux.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command's closing parenthesis; utime and stime are the 12th and 13th.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

#[tokio::main(flavor = "current_thread", start_paused = true)]
async fn main() {
    let env = |name: &str, default: usize| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let n = env("FLEET_STREAMS", 10_000);
    let memory_mb = env("LAMBDA_MEMORY_MB", 128) as f64;
    let setup = std::time::Instant::now();
    let a = Autoscaler::paced(fleet(n).await, Settings::default(), FUNCTION);
    println!(
        "set-up of {n} streams, 14 days of 5-minute datapoints each: {:.0} s wall",
        setup.elapsed().as_secs_f64()
    );
    let _share = a.limits.share_until_dropped(RECONCILE_SHARE);
    let snapshot = fleet::read_fleet(&a.aws, &a.settings, None)
        .await
        .expect("the fleet reads");
    a.aws.inner().clear_calls();
    let throttled_before: u32 = a.aws.stats().throttled.values().sum();

    let (mut simulated, mut longest, mut cpu_total, mut longest_cpu) = (0.0, 0.0f64, 0.0, 0.0f64);
    let (mut tuned, mut met, mut advised, mut kept, mut ticks_used) = (0, 0, 0, 0, 0);
    let mut by_set: BTreeMap<String, usize> = BTreeMap::new();
    let wall = std::time::Instant::now();
    for _tick in 0..TICKS_PER_DAY {
        a.limits.set_deadline(Some(Instant::now() + DEADLINE));
        let cpu_before = cpu_seconds().unwrap_or_default();
        let started = Instant::now();
        let state = fleet::sweep_state(&a.aws, FUNCTION).await;
        let report = a
            .daily_tuning(
                &snapshot,
                state.tuning_cursor.as_deref(),
                started + TUNING_SLICE,
            )
            .await;
        let secs = started.elapsed().as_secs_f64();
        let cpu = cpu_seconds().unwrap_or_default() - cpu_before;
        simulated += secs;
        longest = longest.max(secs);
        cpu_total += cpu;
        longest_cpu = longest_cpu.max(cpu);
        ticks_used += usize::from(!report.streams.is_empty());
        tuned += report.tuned();
        met += report.met();
        advised += report.advised();
        kept += report.kept();
        for s in &report.streams {
            if let TuningOutcome::Tuned(t) = &s.outcome {
                *by_set.entry(t.candidate.clone()).or_default() += 1;
            }
        }
        assert_eq!(report.not_reached, 0, "a tick ran out of its slice");
        a.aws.inner().advance(Duration::minutes(5));
        tokio::time::advance(std::time::Duration::from_secs(300)).await;
    }
    let throttled = a.aws.stats().throttled.values().sum::<u32>() - throttled_before;
    let mut calls: BTreeMap<&'static str, usize> = BTreeMap::new();
    for call in a.aws.inner().calls() {
        *calls.entry(call.action).or_default() += 1;
    }
    let cpu_share = (memory_mb / MB_PER_VCPU).min(1.0);
    let lambda_seconds = simulated + cpu_total / cpu_share;
    println!("| figure | value |\n| --- | ---: |");
    println!(
        "| streams tuned (budget met / not met, advice) | {tuned} ({met} / {}, {advised}) |",
        tuned - met
    );
    println!("| streams kept as they were | {kept} |");
    println!("| ticks that tuned | {ticks_used} of {TICKS_PER_DAY} |");
    println!("| API calls by operation | {calls:?} |");
    println!("| throttled calls | {throttled} |");
    println!(
        "| CPU seconds (whole day; per stream) | {cpu_total:.1}; {:.3} |",
        cpu_total / tuned.max(1) as f64
    );
    println!("| CPU seconds of the busiest tick | {longest_cpu:.2} |");
    println!(
        "| simulated wall time (whole day; longest tick) | {simulated:.0} s; {longest:.1} s |"
    );
    println!(
        "| Lambda seconds a day at {memory_mb:.0} MB ({:.1}% of a vCPU) | {lambda_seconds:.0} |",
        100.0 * cpu_share
    );
    println!(
        "| Lambda GB-seconds a day | {:.0} |",
        lambda_seconds * memory_mb / 1024.0
    );
    println!("| sets chosen | {by_set:?} |");
    println!(
        "wall time of the day's ticks: {:.1} s",
        wall.elapsed().as_secs_f64()
    );
}
