//! The critical path under load, in process: the fake plays AWS's default per-account quotas
//! on tokio's paused clock (the figures are simulated seconds, deterministic), with 20 ms a
//! call. What must hold: an optional read (DescribeLimits, 1 call a second for the account)
//! never holds a burst back, so a burst of scale-ups and a healing reconcile each finish
//! within 1.5x the floor their own writes set (BENCHMARKS.md, "Fleet scale").

mod common;

use chrono::{DateTime, Duration, Utc};
use common::alarm_event;
use kinesis_autoscaler::aws::fake::FakeAws;
use kinesis_autoscaler::aws::paced::{Paced, DEFAULT_QUOTAS, RECONCILE_SHARE};
use kinesis_autoscaler::domain::event::parse_invocation_text;
use kinesis_autoscaler::domain::settings::Settings;
use kinesis_autoscaler::ops::autoscaler::Autoscaler;
use kinesis_autoscaler::ops::fleet::{self, SweepOptions};
use tokio::time::Instant;

/// Concurrent invocations (the template's `MaxConcurrentInvocations`).
const WORKERS: usize = 10;

fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000, 0).expect("a valid time")
}

fn name(i: usize) -> String {
    format!("burst-{i:04}")
}

/// `n` streams of 2 shards, wired at `wired_at` shards, then AWS's default quotas and 20 ms a
/// call on the account.
async fn account(n: usize, wired_at: impl Fn(usize) -> u32) -> FakeAws {
    let aws = FakeAws::new(t0());
    let settings = Settings::default();
    for i in 0..n {
        let stream = name(i);
        aws.create_stream(&stream, 2);
        common::wire(&aws, &settings, &stream, wired_at(i)).await;
    }
    aws.clear_calls();
    aws.with_latency(std::time::Duration::from_millis(20))
        .with_quotas(&DEFAULT_QUOTAS)
}

/// 60 scale-up events, 10 invocations at a time (each its own process: its own pacer and
/// cache), each stream's event in one of them: every stream doubles, within 1.5x the floor of
/// PutMetricAlarm (3 a second for the account, 2 a reshard: 40 s).
#[tokio::test(start_paused = true)]
async fn a_burst_of_scale_ups_is_bound_by_its_writes_not_by_describe_limits() {
    const EVENTS: usize = 60;
    let fake = account(EVENTS, |_| 2).await;
    for i in 0..EVENTS {
        fake.set_state(&format!("{}-scale-up", name(i)), "ALARM");
    }
    let changed_at = t0() - Duration::minutes(1);
    let start = Instant::now();
    let workers = (0..WORKERS).map(|w| {
        let autoscaler = Autoscaler::paced(fake.clone(), Settings::default(), "kinesis-autoscaler");
        async move {
            for i in (w..EVENTS).step_by(WORKERS) {
                let stream = name(i);
                let event =
                    alarm_event(&format!("{stream}-scale-up"), &stream, "ALARM", changed_at);
                let invocation = parse_invocation_text(&event).expect("an event");
                autoscaler.handle_invocation(invocation).await;
            }
            Instant::now()
        }
    });
    let finished = futures_util::future::join_all(workers).await;
    let elapsed = finished.into_iter().max().expect("workers") - start;
    for i in 0..EVENTS {
        assert_eq!(
            fake.stream(&name(i)).expect("exists").open_shards,
            4,
            "{}",
            name(i)
        );
    }
    let floor = (2 * EVENTS) as f64 / 3.0;
    let secs = elapsed.as_secs_f64();
    println!(
        "burst of {EVENTS} scale-ups, {WORKERS} at a time: {secs:.1} s (floor {floor:.1} s, {:.2}x); DescribeLimits {} calls",
        secs / floor,
        fake.count("DescribeLimits")
    );
    assert!(
        secs <= 1.5 * floor,
        "{secs:.1} s against a floor of {floor:.1} s"
    );
    // One read a process, shared by its invocations; a throttled one is not retried.
    let limits = fake.count("DescribeLimits");
    assert!(limits <= WORKERS, "{limits} DescribeLimits");
}

/// A reconcile of 500 wired streams, 50 of them resharded by hand (their alarms wired for 1
/// shard while they have 2), paced as the CLI and the scheduled sweep are: all 50 healed, within
/// 1.5x the floor of its writes (100 PutMetricAlarm and 100 SetAlarmState at 3 a second
/// each, overlapping: 33 s).
#[tokio::test(start_paused = true)]
async fn a_healing_reconcile_is_bound_by_its_writes() {
    const STREAMS: usize = 500;
    const DRIFTED: usize = 50;
    let fake = account(STREAMS, |i| if i < DRIFTED { 1 } else { 2 }).await;
    let aws = Paced::new(fake.clone(), RECONCILE_SHARE);
    let start = Instant::now();
    let report = fleet::sweep(
        &aws,
        &Settings::default(),
        &SweepOptions {
            now: t0(),
            ..Default::default()
        },
    )
    .await
    .expect("the sweep runs");
    let secs = start.elapsed().as_secs_f64();
    assert_eq!(report.failed(), 0);
    assert_eq!(report.counts().get("drifted"), Some(&DRIFTED));
    for i in 0..DRIFTED {
        let up = fake
            .alarm(&format!("{}-scale-up", name(i)))
            .expect("exists");
        assert_eq!(up.spec.shard_count(), Some(2), "{}", name(i));
    }
    let floor = (2 * DRIFTED) as f64 / 3.0;
    println!(
        "reconcile of {STREAMS} streams, {DRIFTED} healed: {secs:.1} s (floor {floor:.1} s, {:.2}x); PutMetricAlarm {}, SetAlarmState {}, DescribeLimits {}, throttled {:?}",
        secs / floor,
        fake.count("PutMetricAlarm"),
        fake.count("SetAlarmState"),
        fake.count("DescribeLimits"),
        aws.stats().throttled
    );
    assert!(
        secs <= 1.5 * floor,
        "{secs:.1} s against a floor of {floor:.1} s"
    );
}
