//! The scheduled run at fleet scale, in process: the fake plays AWS's default per-account
//! quotas on tokio's paused clock. The sized evaluation reads the fleet in bulk (no
//! ListTagsForStream or DescribeStreamSummary per stream, GetMetricData 125 streams a
//! request), decides as the per-stream path does, stops before the deadline, and the full
//! reconcile sweep runs only when `RECONCILE_INTERVAL_MINS` says it is due.

use chrono::{DateTime, Duration, Utc};
use kinesis_autoscaler::aws::fake::FakeAws;
use kinesis_autoscaler::aws::paced::{Paced, DEFAULT_QUOTAS, RECONCILE_SHARE};
use kinesis_autoscaler::aws::{AwsPort, IncomingPoint};
use kinesis_autoscaler::domain::event::Invocation;
use kinesis_autoscaler::domain::history::ReshardHistory;
use kinesis_autoscaler::domain::settings::{tag, ScalingPolicy, Settings};
use kinesis_autoscaler::ops::autoscaler::Autoscaler;
use kinesis_autoscaler::ops::fleet::{self, LAST_SWEEP_TAG};
use kinesis_autoscaler::ops::outcome::Outcome;
use kinesis_autoscaler::ops::wiring::{self, WireOptions};
use std::collections::HashMap;
use tokio::time::Instant;

const FUNCTION: &str = "autoscaler";

/// Midnight UTC plus 12 hours.
fn noon() -> DateTime<Utc> {
    DateTime::from_timestamp(1_799_971_200 + 12 * 3600, 0).expect("a valid time")
}

fn name(i: usize) -> String {
    format!("fleet-{i:05}")
}

/// `need` shards of load per 5-minute period over the two hours before `now`, 1 KB records.
fn put_load(aws: &FakeAws, stream: &str, now: DateTime<Utc>, need: impl Fn(i64) -> f64) {
    let points: Vec<IncomingPoint> = (0..24)
        .map(|p| {
            let records = need(p) * 1000.0 * 300.0;
            IncomingPoint {
                start: now - Duration::hours(2) + Duration::minutes(5 * p),
                bytes: records * 1024.0,
                records,
            }
        })
        .collect();
    aws.put_incoming(stream, &points);
}

/// `n` wired streams: every `idle_every`-th has 8 shards and 2.5 shards of load (the sized
/// evaluation halves it); the others 2 shards and 0.8 (they fit).
async fn fleet(n: usize, idle_every: usize, settings: &Settings) -> FakeAws {
    let aws = FakeAws::new(noon());
    aws.create_function(FUNCTION);
    let options = WireOptions {
        topic_arn: Some("arn:aws:sns:us-east-1:123456789012:autoscaler".into()),
        dry_run: false,
        stream_tags: Default::default(),
    };
    for i in 0..n {
        let stream = name(i);
        let idle = idle_every > 0 && i % idle_every == 0;
        aws.create_stream(&stream, if idle { 8 } else { 2 });
        wiring::wire_stream(&aws, settings, &stream, &options)
            .await
            .expect("wired");
        put_load(&aws, &stream, noon(), |_| if idle { 2.5 } else { 0.8 });
    }
    aws.clear_calls();
    aws.with_quotas(&DEFAULT_QUOTAS)
}

fn autoscaler(fake: FakeAws, settings: Settings) -> Autoscaler<Paced<FakeAws>> {
    let a = Autoscaler::paced(fake, settings, FUNCTION);
    // The template's 900 s timeout.
    a.limits
        .set_deadline(Some(Instant::now() + std::time::Duration::from_secs(900)));
    a
}

/// Five minutes on, on both clocks.
async fn next_tick(a: &Autoscaler<Paced<FakeAws>>, minutes: i64) {
    a.aws.inner().advance(Duration::minutes(minutes));
    tokio::time::advance(std::time::Duration::from_secs(60 * minutes as u64)).await;
    a.limits
        .set_deadline(Some(Instant::now() + std::time::Duration::from_secs(900)));
}

#[tokio::test(start_paused = true)]
async fn two_thousand_streams_are_evaluated_in_one_run_from_bulk_reads() {
    let settings = Settings::default();
    let a = autoscaler(fleet(2_000, 100, &settings).await, settings);
    let fake = a.aws.inner();

    let started = Instant::now();
    let report = a.handle_invocation(Invocation::Scheduled).await;
    let first_run = started.elapsed();

    // The first run sweeps (none recorded) and evaluates, on the same bulk reads.
    let reconciled = report.reconcile.as_ref().expect("the sweep ran");
    assert_eq!(reconciled.streams.len(), 2_000);
    assert_eq!(reconciled.failed(), 0);
    let scaled: Vec<_> = report
        .alarms
        .iter()
        .filter(|o| o.outcome == Outcome::Scaled)
        .collect();
    assert_eq!(scaled.len(), 20, "every idle stream halved");
    assert!(scaled.iter().all(|o| (o.from, o.to) == (Some(8), Some(4))));
    assert!(report.succeeded(), "{:?}", report.alarms);
    assert!(
        a.aws.stats().throttled.is_empty(),
        "{:?}",
        a.aws.stats().throttled
    );
    // Bulk reads once: 4,000 alarms in 40 pages, 2,000 streams in 20.
    assert_eq!(fake.count("DescribeAlarms"), 40);
    assert_eq!(fake.count("ListStreams"), 20);
    // ListShards once a stream: the evaluation reuses the sweep's counts.
    assert_eq!(fake.count("ListShards"), 2_000);
    // GetMetricData: 2,000 streams / 125 a request (4 queries a stream, 500 at most), and
    // the daily tuning's share of the run at noon (2,000 / 144 ticks left = 14 streams, 6 a
    // request: 3; their two hours of history are too short, so nothing more).
    assert_eq!(fake.count("GetMetricData"), 16 + 3);
    // A stream's own record only before its reshard.
    assert_eq!(fake.count("ListTagsForStream"), 20);
    assert_eq!(fake.count("DescribeStreamSummary"), 20);
    assert_eq!(fake.count("UpdateShardCount"), 20);
    assert!(
        first_run < std::time::Duration::from_secs(300),
        "{first_run:?}"
    );

    // Five minutes on: no sweep (an hour has not passed), the evaluation alone.
    fake.clear_calls();
    next_tick(&a, 5).await;
    let started = Instant::now();
    let report = a.handle_invocation(Invocation::Scheduled).await;
    let second_run = started.elapsed();
    assert!(report.reconcile.is_none(), "the sweep is not due");
    assert!(
        report.alarms.is_empty(),
        "nothing more to do: {:?}",
        report.alarms
    );
    assert_eq!(fake.count("ListShards"), 2_000);
    assert_eq!(
        fake.count("GetMetricData"),
        16 + 3,
        "and the tuning's next 14 streams"
    );
    for per_stream in [
        "ListTagsForStream",
        "DescribeStreamSummary",
        "PutMetricAlarm",
        "UpdateShardCount",
    ] {
        assert_eq!(fake.count(per_stream), 0, "{per_stream}");
    }
    assert!(a.aws.stats().throttled.is_empty());
    assert!(second_run < first_run, "{second_run:?} vs {first_run:?}");
}

/// Shards, load in shards, the last two periods' load, stream tags.
type Case = (u32, f64, Option<f64>, Vec<(&'static str, String)>);

#[tokio::test(start_paused = true)]
async fn bulk_decisions_are_those_of_the_per_stream_path() {
    let settings = Settings {
        dry_run: true,
        ..Settings::default()
    };
    let aws = FakeAws::new(noon()).with_shard_limit(100_000);
    let options = WireOptions {
        topic_arn: Some("arn:aws:sns:us-east-1:123456789012:autoscaler".into()),
        dry_run: false,
        stream_tags: Default::default(),
    };
    let cases: Vec<Case> = vec![
        (8, 1.0, None, vec![]),
        (2, 0.8, None, vec![]),
        (4, 2.0, Some(3.9), vec![]),
        (4, 2.0, Some(3.9), vec![(tag::MAX_SHARDS, "5".into())]),
        (8, 1.0, None, vec![(tag::MIN_SHARDS, "7".into())]),
        (
            8,
            1.0,
            None,
            vec![(
                tag::RESHARD_HISTORY,
                ReshardHistory::new(vec![noon() - Duration::minutes(2)]).encode(),
            )],
        ),
        (
            8,
            1.0,
            None,
            vec![(tag::RESHARD_HISTORY, "yesterday".into())],
        ),
        (16, 0.5, None, vec![]),
        (3, 0.0, None, vec![]),
        (6, 1.0, None, vec![(tag::MIN_SHARDS, "lots".into())]),
    ];
    let mut streams = Vec::new();
    for (i, (shards, load, burst, tags)) in cases.iter().enumerate() {
        let stream = format!("eq-{i:02}");
        aws.create_stream(&stream, *shards);
        wiring::wire_stream(&aws, &settings, &stream, &options)
            .await
            .expect("wired");
        for (key, value) in tags {
            aws.seed_stream_tag(&stream, key, value);
        }
        if *load > 0.0 {
            put_load(&aws, &stream, noon(), |p| match burst {
                Some(b) if p >= 22 => *b,
                _ => *load,
            });
        }
        streams.push(stream);
    }
    // Wired, then switched to ON_DEMAND.
    aws.create_stream("eq-ondemand", 4);
    wiring::wire_stream(&aws, &settings, "eq-ondemand", &options)
        .await
        .expect("wired");
    aws.delete_stream("eq-ondemand");
    aws.create_on_demand_stream("eq-ondemand", 4);
    streams.push("eq-ondemand".into());
    let a = Autoscaler::new(aws, settings.clone(), FUNCTION);

    let headroom = a.aws.account_headroom().await.ok();
    let mut per_stream = HashMap::new();
    for stream in &streams {
        let e = a.evaluate_stream(stream, headroom).await;
        per_stream.insert(stream.clone(), (e.evaluation, e.error));
    }
    a.aws.clear_calls();
    let snapshot = fleet::read_fleet(&a.aws, &settings, None)
        .await
        .expect("read");
    let bulk = a.evaluate_fleet(&snapshot, &HashMap::new(), None).await;
    assert_eq!(bulk.not_reached, 0);
    let bulk: HashMap<_, _> = bulk
        .streams
        .into_iter()
        .map(|e| (e.stream.clone(), (e.evaluation, e.error)))
        .collect();

    let mut keys: Vec<&String> = bulk.keys().collect();
    keys.sort();
    assert_eq!(keys.len(), per_stream.len(), "{keys:?}");
    for stream in &streams {
        assert_eq!(bulk[stream], per_stream[stream], "{stream}");
    }
    // The cases cover a reshard each way, holds, a capped and a refused move, and errors.
    let scales = per_stream
        .values()
        .filter(|(e, _)| {
            matches!(
                e,
                Some(kinesis_autoscaler::domain::schedule::Evaluation::Scale { .. })
            )
        })
        .count();
    assert!(scales >= 3, "{per_stream:#?}");
    assert!(per_stream.values().any(|(_, err)| err.is_some()));
    assert_eq!(a.aws.count("GetMetricData"), 1, "one request for the fleet");
    assert_eq!(
        a.aws.count("ListTagsForStream"),
        scales,
        "only before a reshard"
    );
}

#[tokio::test(start_paused = true)]
async fn the_sweep_runs_when_stale_and_is_skipped_when_recent() {
    let settings = Settings::default();
    let a = autoscaler(fleet(5, 0, &settings).await, settings);

    let first = a.handle_invocation(Invocation::Scheduled).await;
    assert!(first.reconcile.is_some(), "never swept: due");
    let recorded = swept_at(&a).await.expect("the sweep's time is kept");
    assert_eq!(recorded, "2027-01-15T12:00:00Z");

    for minutes in [5, 25, 25] {
        next_tick(&a, minutes).await;
        let metric_reads = a.aws.inner().count("GetMetricData");
        let report = a.handle_invocation(Invocation::Scheduled).await;
        assert!(report.reconcile.is_none(), "{minutes} min on: not due");
        assert!(
            a.aws.inner().count("GetMetricData") > metric_reads,
            "the evaluation runs every tick"
        );
    }
    next_tick(&a, 5).await;
    let stale = a.handle_invocation(Invocation::Scheduled).await;
    assert!(stale.reconcile.is_some(), "an hour on: due");
    assert_eq!(swept_at(&a).await.as_deref(), Some("2027-01-15T13:00:00Z"));

    // Every run with RECONCILE_INTERVAL_MINS=0.
    let every_run = Settings {
        reconcile_interval_mins: 0,
        ..Settings::default()
    };
    let mut every = a;
    every.settings = every_run;
    next_tick(&every, 5).await;
    assert!(every
        .handle_invocation(Invocation::Scheduled)
        .await
        .reconcile
        .is_some());
}

/// The time of the last complete sweep, as the function's tag keeps it.
async fn swept_at(a: &Autoscaler<Paced<FakeAws>>) -> Option<String> {
    let tags = a.aws.inner().function_tags(FUNCTION).await.expect("tags");
    tags.get(LAST_SWEEP_TAG).cloned()
}

#[tokio::test(start_paused = true)]
async fn with_the_upstream_policy_a_tick_between_sweeps_reads_only_the_function() {
    let settings = Settings {
        scaling_policy: ScalingPolicy::Upstream,
        ..Settings::default()
    };
    let a = autoscaler(fleet(5, 5, &settings).await, settings);
    let first = a.handle_invocation(Invocation::Scheduled).await;
    assert!(first.reconcile.is_some());
    assert_eq!(a.aws.inner().count("GetMetricData"), 0);
    next_tick(&a, 5).await;
    a.aws.inner().clear_calls();
    let report = a.handle_invocation(Invocation::Scheduled).await;
    assert!(report.reconcile.is_none() && report.alarms.is_empty());
    let actions: Vec<&str> = a.aws.inner().calls().iter().map(|c| c.action).collect();
    assert_eq!(actions, ["GetFunction"]);
}

/// The run's reads take the reconcile's share of each quota (the rest is the alarms'), and
/// the process's pacer is back at the full quotas when it returns.
#[tokio::test(start_paused = true)]
async fn the_scheduled_run_paces_at_the_reconcile_share_and_gives_it_back() {
    let settings = Settings::default();
    let fake = fleet(20, 4, &settings)
        .await
        .with_latency(std::time::Duration::from_millis(50));
    let a = autoscaler(fake, settings);
    // The pacer's own handle: what it paces by.
    let pacer = a.aws.limits().clone();
    assert_eq!(pacer.share(), 1.0);
    let (report, during) = tokio::join!(a.handle_invocation(Invocation::Scheduled), async {
        // After the GetFunction that opens the run, among the fleet's reads.
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        pacer.share()
    });
    assert!(report.reconcile.is_some(), "a sweep ran");
    assert_eq!(during, RECONCILE_SHARE);
    assert_eq!(pacer.share(), 1.0, "given back");
}

#[tokio::test(start_paused = true)]
async fn the_evaluation_stops_before_the_deadline() {
    let settings = Settings::default();
    // Every stream idle: each reshard costs 2 PutMetricAlarm at 1.5 a second.
    let a = autoscaler(fleet(300, 1, &settings).await, settings);
    // Swept a minute ago: this run only evaluates.
    a.aws
        .inner()
        .tag_function(FUNCTION, LAST_SWEEP_TAG, "2027-01-15T11:59:00Z")
        .await
        .expect("tagged");
    a.limits
        .set_deadline(Some(Instant::now() + std::time::Duration::from_secs(180)));
    let started = Instant::now();
    let report = a.handle_invocation(Invocation::Scheduled).await;
    assert!(report.reconcile.is_none());
    assert!(
        started.elapsed() <= std::time::Duration::from_secs(180),
        "{:?}",
        started.elapsed()
    );
    let resharded = a.aws.inner().count("UpdateShardCount");
    assert!(resharded > 0 && resharded < 300, "{resharded}");
    assert!(report.succeeded(), "{:?}", report.alarms);
}
