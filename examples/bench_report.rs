//! The account report of a large account, in process (BENCHMARKS.md, "Account report"): the
//! fake enforces AWS's default per-account quotas of every operation the report calls and
//! answers each call after 20 ms, on tokio's paused clock, so the simulated time is what the
//! quotas, GetMetricData's datapoint quota and the latency make it; the replays' CPU time is
//! measured on the wall clock. Run it with
//!
//! ```sh
//! cargo run --release --example bench_report -- [--streams 10000] [--days 14] [--out DIR]
//! ```
//!
//! `--out DIR` keeps `report.html` and `report.json` there (the browser test and the
//! screenshot use a small account: `--streams 40 --days 3 --out DIR`).

use chrono::{DateTime, Duration, Utc};
use kinesis_autoscaler::aws::fake::FakeAws;
use kinesis_autoscaler::aws::paced::{Paced, DEFAULT_QUOTAS};
use kinesis_autoscaler::aws::IncomingPoint;
use kinesis_autoscaler::cli::report::{default_options, write, Target};
use kinesis_autoscaler::ops::export;
use kinesis_autoscaler::ops::report::{Progress, Selection};
use std::collections::BTreeMap;
use std::io::BufWriter;
use std::path::PathBuf;

/// The operations the report calls, with AWS's default quotas (ListShards is per stream).
const REPORT_OPERATIONS: [&str; 3] = ["ListStreams", "GetMetricData", "DescribeStreamSummary"];

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_799_971_200 + 12 * 3600, 0).expect("a valid time")
}

/// Stream number `n`: its kind, its shard count and its load in shards in 5-minute period `i`
/// (before [`scale`]): steady, daily-cycle, over-provisioned, idle, under-provisioned and
/// on-demand streams.
fn kind(n: usize) -> (&'static str, u32, fn(i64) -> f64) {
    match n % 20 {
        0..=7 => ("steady", 2, |_| 0.8),
        8..=13 => ("daily", 4, |i| {
            1.8 + 1.5 * ((i % 288) as f64 / 288.0 * std::f64::consts::TAU).sin()
        }),
        14..=16 => ("over", [8, 16, 32][n % 3], |_| 1.5),
        17 => ("idle", 4, |_| 0.0),
        18 => ("under", 1, |i| if i % 288 < 96 { 2.5 } else { 0.5 }),
        _ => ("ondemand", 4, |_| 1.0),
    }
}

fn account(streams: usize, days: i64) -> FakeAws {
    let aws = FakeAws::new(now());
    let start = now() - Duration::days(days);
    let periods = days * 288;
    for n in 0..streams {
        let (name, shards, load) = kind(n);
        let stream = format!("{name}-{n:05}");
        if name == "ondemand" {
            aws.create_on_demand_stream(&stream, shards);
        } else {
            aws.create_stream(&stream, shards);
        }
        let points: Vec<IncomingPoint> = (0..periods)
            .map(|i| {
                let records = load(i) * scale(n) * 1000.0 * 300.0 * 0.9;
                IncomingPoint {
                    start: start + Duration::minutes(5 * i),
                    bytes: records * 900.0,
                    records,
                }
            })
            .collect();
        aws.put_incoming(&stream, &points);
    }
    let mut aws = aws.with_latency(std::time::Duration::from_millis(20));
    for (action, per_second) in DEFAULT_QUOTAS {
        if REPORT_OPERATIONS.contains(&action) {
            aws = aws.with_quota(action, per_second);
        }
    }
    aws
}

/// Streams of a kind differ in volume: 0.7x to 1.3x.
fn scale(n: usize) -> f64 {
    0.7 + (n % 7) as f64 * 0.1
}

/// This process's resident memory and its peak so far, in MB (Linux).
fn rss_mb() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

struct Counter {
    done: usize,
    next_note: usize,
}

impl Progress for Counter {
    fn done(&mut self, streams: usize) {
        self.done += streams;
        if self.done >= self.next_note {
            eprintln!("  {} streams replayed", self.done);
            self.next_note += 2000;
        }
    }
}

fn arg<T: std::str::FromStr>(name: &str) -> Option<T> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
}

#[tokio::main(flavor = "current_thread", start_paused = true)]
async fn main() -> anyhow::Result<()> {
    let streams: usize = arg("--streams").unwrap_or(10_000);
    let days: i64 = arg("--days").unwrap_or(14);
    let out: Option<PathBuf> = arg("--out");
    let setup = std::time::Instant::now();
    let aws = Paced::new(account(streams, days), 1.0);
    let (rss_setup, _) = rss_mb();
    println!(
        "set-up: {streams} streams, {days} days of 5-minute datapoints each: {:.0} s wall, RSS {rss_setup:.0} MB",
        setup.elapsed().as_secs_f64()
    );
    let dir = out.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("bench-report-{}", std::process::id()))
    });
    std::fs::create_dir_all(&dir)?;
    let (page, json) = (dir.join("report.html"), dir.join("report.json"));
    let window = export::window(now() - Duration::days(days), now(), now())?;
    let base = default_options(window.resolution)?;
    let target = Target {
        json: Some(BufWriter::new(std::fs::File::create(&json)?)),
        page: Some(&page),
        region: "us-east-1".into(),
    };
    let mut progress = Counter {
        done: 0,
        next_note: 2000,
    };
    let simulated = tokio::time::Instant::now();
    let cpu = cpu_secs();
    let wall = std::time::Instant::now();
    let selection = Selection::Prefix(String::new());
    let (failed, _) = write(&aws, &selection, &window, &base, target, &mut progress).await?;
    let (wall, cpu) = (wall.elapsed().as_secs_f64(), cpu_secs() - cpu);
    let simulated = simulated.elapsed().as_secs_f64();
    let (rss_end, rss_peak) = rss_mb();
    let mut calls: BTreeMap<&str, usize> = BTreeMap::new();
    for call in aws.inner().calls() {
        *calls.entry(call.action).or_default() += 1;
    }
    let throttled: u32 = aws.stats().throttled.values().sum();
    println!("streams replayed: {}, failed: {failed}", progress.done);
    println!(
        "simulated time waiting on AWS (quotas, datapoint quota, 20 ms a call): {simulated:.1} s"
    );
    println!("wall time of the report: {wall:.1} s ({cpu:.1} s CPU: replays, the fake's answers, the page)");
    println!("API calls: {calls:?}; throttled: {throttled}");
    println!(
        "RSS: {rss_setup:.0} MB after set-up (the fake's datapoints), {rss_end:.0} MB after the report, peak {rss_peak:.0} MB"
    );
    let size = |p: &PathBuf| std::fs::metadata(p).map_or(0, |m| m.len()) as f64 / 1e6;
    println!(
        "report.html {:.1} MB, report.json {:.1} MB",
        size(&page),
        size(&json)
    );
    if out.is_none() {
        std::fs::remove_dir_all(&dir)?;
    }
    Ok(())
}

/// CPU seconds this process has used (user + system), from /proc (Linux).
fn cpu_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command's closing parenthesis; utime and stime are the 12th and 13th.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<f64> = rest
        .split_whitespace()
        .map(|f| f.parse().unwrap_or(0.0))
        .collect();
    let ticks = fields.get(11).unwrap_or(&0.0) + fields.get(12).unwrap_or(&0.0);
    ticks / 100.0
}
