//! Reconcile at fleet scale, in process: the fake plays AWS's default per-account quotas on
//! tokio's paused clock, so a fleet of a thousand streams runs in well under a second and the
//! simulated time is what AWS's quotas would make it.

mod common;

use chrono::{DateTime, Utc};
use kinesis_autoscaler::aws::fake::{FakeAws, Fault};
use kinesis_autoscaler::aws::paced::{Paced, DEFAULT_QUOTAS, RECONCILE_SHARE};
use kinesis_autoscaler::aws::AwsPort;
use kinesis_autoscaler::domain::event::Invocation;
use kinesis_autoscaler::domain::settings::Settings;
use kinesis_autoscaler::ops::autoscaler::Autoscaler;
use kinesis_autoscaler::ops::fleet::{self, SweepOptions, CURSOR_TAG};
use kinesis_autoscaler::ops::reconcile::{FixKind, StreamVerdict};
use std::collections::BTreeSet;
use std::time::Duration;
use tokio::time::Instant;

const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:autoscaler";

fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000, 0).expect("a valid time")
}

fn name(i: usize) -> String {
    format!("fleet-{i:05}")
}

/// An account of `n` streams of 2 shards, wired, the first `drifted` of them resharded to 4 by
/// hand; with the default quotas.
async fn fleet(n: usize, drifted: usize) -> FakeAws {
    let aws = FakeAws::new(t0());
    let settings = Settings::default();
    for i in 0..n {
        let stream = name(i);
        aws.create_stream(&stream, 2);
        common::wire(&aws, &settings, &stream, 2).await;
        if i < drifted {
            aws.set_open_shards(&stream, 4);
        }
    }
    aws.clear_calls();
    aws.with_quotas(&DEFAULT_QUOTAS)
}

#[tokio::test(start_paused = true)]
async fn a_fleet_is_read_in_pages_and_each_stream_once_without_throttling() {
    let fake = fleet(1_000, 10).await;
    let aws = Paced::new(fake, RECONCILE_SHARE);
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

    let elapsed = start.elapsed();
    let fake = aws.inner();
    assert_eq!(report.streams.len(), 1_000);
    assert_eq!(report.failed(), 0);
    assert_eq!(report.counts().get("drifted"), Some(&10));
    assert_eq!(report.resume_after, None);
    assert!(
        aws.stats().throttled.is_empty(),
        "{:?}",
        aws.stats().throttled
    );
    // Bulk reads: 2,000 alarms in 20 pages, 1,000 streams in 10, their tags in 20.
    assert_eq!(fake.count("DescribeAlarms"), 20);
    assert_eq!(fake.count("ListStreams"), 10);
    assert_eq!(fake.count("GetResources"), 20);
    // Per stream: ListShards once each; DescribeStreamSummary only before a rewrite.
    let listed: Vec<String> = fake
        .calls()
        .into_iter()
        .filter(|c| c.action == "ListShards")
        .map(|c| c.target)
        .collect();
    assert_eq!(listed.len(), 1_000);
    assert_eq!(listed.iter().collect::<BTreeSet<_>>().len(), 1_000);
    assert_eq!(fake.count("DescribeStreamSummary"), 10);
    for per_stream in [
        "ListTagsForStream",
        "ListTagsForResource",
        "UpdateShardCount",
    ] {
        assert_eq!(fake.count(per_stream), 0, "{per_stream}");
    }
    // The fixes at the full quota (FULL_RATE): 20 PutMetricAlarm at 3 a second take 6.3 s
    // at least.
    assert!(elapsed >= Duration::from_millis(6_300), "{elapsed:?}");
    let up = fake
        .alarm(&format!("{}-scale-up", name(0)))
        .expect("exists");
    assert_eq!(up.spec.shard_count(), Some(4));
}

#[tokio::test(start_paused = true)]
async fn a_run_cut_short_by_its_deadline_is_continued_by_the_next() {
    // Every stream drifted: each costs 4 writes (2 PutMetricAlarm, 2 SetAlarmState), paced at
    // the full quota of 3 a second each (a fix is as urgent as a scale event).
    let fake = fleet(240, 240).await;
    let autoscaler = Autoscaler::paced(fake, Settings::default(), "autoscaler");
    let mut done: Vec<String> = Vec::new();
    let mut runs = 0;
    loop {
        runs += 1;
        assert!(runs < 20, "the sweep makes no progress");
        autoscaler
            .limits
            .set_deadline(Some(Instant::now() + Duration::from_secs(120)));
        let started = Instant::now();
        let report = autoscaler
            .handle_invocation(Invocation::Scheduled)
            .await
            .reconcile
            .expect("a reconcile report");
        // Clean stop: before the deadline, with nothing failed.
        assert!(
            started.elapsed() <= Duration::from_secs(120),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(report.failed(), 0);
        done.extend(report.streams.iter().map(|s| s.stream.clone()));
        let cursor = autoscaler
            .aws
            .function_tags("autoscaler")
            .await
            .expect("tags")
            .get(CURSOR_TAG)
            .cloned()
            .unwrap_or_default();
        match &report.resume_after {
            Some(after) => {
                assert!(report.not_reached > 0);
                assert_eq!(&cursor, after);
                assert_eq!(
                    done.last(),
                    Some(after),
                    "the cursor is the last stream done"
                );
            }
            None => {
                assert_eq!(cursor, "", "a complete run clears the cursor");
                break;
            }
        }
    }
    assert!(
        runs >= 3,
        "120 s cannot hold 240 streams' rewrites: {runs} runs"
    );
    let expected: Vec<String> = (0..240).map(name).collect();
    assert_eq!(done, expected, "each stream once, in order, none skipped");
    let fake = autoscaler.aws.inner();
    assert_eq!(
        fake.count("UpdateShardCount"),
        0,
        "reconcile never reshards"
    );
    assert!((0..240).all(|i| {
        fake.alarm(&format!("{}-scale-down", name(i)))
            .is_some_and(|a| a.spec.shard_count() == Some(4))
    }));
}

#[tokio::test(start_paused = true)]
async fn a_stream_deleted_before_or_during_the_run_is_reported_and_skipped() {
    let fake = fleet(5, 5).await;
    fake.delete_stream(&name(1));
    // Stream 3 goes between the listing and its ListShards.
    fake.inject("ListShards", 2, Fault::Refuse("ResourceNotFoundException"));
    let aws = Paced::new(fake, RECONCILE_SHARE);

    let report = fleet::sweep(
        &aws,
        &Settings::default(),
        &SweepOptions {
            now: t0(),
            concurrency: 1,
            ..Default::default()
        },
    )
    .await
    .expect("the sweep runs");

    let verdicts: Vec<StreamVerdict> = report.streams.iter().map(|s| s.verdict).collect();
    assert_eq!(
        verdicts,
        [
            StreamVerdict::Drifted,
            StreamVerdict::Ignored,
            StreamVerdict::Drifted,
            StreamVerdict::Ignored,
            StreamVerdict::Drifted
        ]
    );
    let note = |i: usize| report.streams[i].note.clone().unwrap_or_default();
    assert!(note(1).contains("no longer exists"), "{}", note(1));
    assert!(note(3).contains("deleted during the run"), "{}", note(3));
    assert_eq!(report.failed(), 0);
}

#[tokio::test(start_paused = true)]
async fn throttling_anywhere_costs_time_not_a_failed_stream() {
    let fake = fleet(30, 10).await;
    for (action, nth) in [
        ("DescribeAlarms", 0),
        ("ListStreams", 0),
        ("GetResources", 0),
        ("ListShards", 3),
        ("ListShards", 4),
        ("DescribeStreamSummary", 1),
        ("PutMetricAlarm", 2),
        ("SetAlarmState", 0),
    ] {
        for repeat in 0..3 {
            fake.inject(action, nth + repeat, Fault::Throttle);
        }
    }
    let aws = Paced::new(fake, RECONCILE_SHARE);
    aws.limits()
        .set_deadline(Some(Instant::now() + Duration::from_secs(600)));

    let report = fleet::sweep(
        &aws,
        &Settings::default(),
        &SweepOptions {
            now: t0(),
            ..Default::default()
        },
    )
    .await
    .expect("throttled reads are retried");

    assert_eq!(report.failed(), 0, "{:?}", report.streams);
    assert_eq!(report.streams.len(), 30);
    assert_eq!(report.counts().get("drifted"), Some(&10));
    // 3 throttles in a row on each action, 4 on ListShards (two overlapping runs of 3).
    assert_eq!(
        aws.stats().throttled.values().sum::<u32>(),
        22,
        "{:?}",
        aws.stats()
    );
    let fixes: usize = report
        .streams
        .iter()
        .flat_map(|s| &s.fixes)
        .filter(|f| f.kind == FixKind::AlarmDefinition)
        .count();
    assert_eq!(fixes, 20);
}

fn cloudtrail(call: &str, stream: &str) -> serde_json::Value {
    serde_json::json!({
        "version": "0", "id": format!("ct-{call}"), "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.kinesis", "account": "123456789012", "region": "us-east-1",
        "time": "2027-01-15T08:00:00Z", "resources": [],
        "detail": {
            "eventVersion": "1.08", "eventSource": "kinesis.amazonaws.com", "eventName": call,
            "awsRegion": "us-east-1", "userIdentity": {"type": "AssumedRole"},
            "requestParameters": {"streamName": stream, "targetShardCount": 4},
            "responseElements": null
        }
    })
}

#[tokio::test(start_paused = true)]
async fn a_reshard_by_hand_is_healed_by_its_cloudtrail_event_once_the_stream_is_active() {
    let fake = fleet(3, 0)
        .await
        .with_reshard_delay(chrono::Duration::seconds(30));
    let autoscaler = Autoscaler::paced(fake, Settings::default(), "autoscaler");
    let stream = name(1);
    // Terraform reshards: the stream is UPDATING for 30 s.
    autoscaler
        .aws
        .inner()
        .update_shard_count(&stream, 4)
        .await
        .expect("reshard by hand");
    let event =
        kinesis_autoscaler::domain::fleet_event::parse(&cloudtrail("UpdateShardCount", &stream))
            .expect("understood")
            .expect("ours");

    let (report, ()) = tokio::join!(autoscaler.handle_stream_event(&event, None), async {
        tokio::time::sleep(Duration::from_secs(12)).await;
        autoscaler
            .aws
            .inner()
            .advance(chrono::Duration::seconds(30));
    });

    let reconciled = report.reconcile.expect("a one-stream reconcile");
    assert_eq!(reconciled.streams.len(), 1);
    assert_eq!(reconciled.streams[0].verdict, StreamVerdict::Drifted);
    let fake = autoscaler.aws.inner();
    for direction in ["up", "down"] {
        let alarm = fake
            .alarm(&format!("{stream}-scale-{direction}"))
            .expect("exists");
        assert_eq!(alarm.spec.shard_count(), Some(4));
    }
    assert!(
        fake.count("DescribeStreamSummary") >= 3,
        "waited for ACTIVE"
    );
    assert_eq!(
        fake.count("UpdateShardCount"),
        1,
        "only the reshard by hand"
    );
    assert_eq!(
        fake.alarm(&format!("{}-scale-up", name(0)))
            .expect("exists")
            .writes,
        1,
        "other streams untouched"
    );
    assert!(report
        .metric_lines
        .iter()
        .any(|l| l.contains("DRIFT_FIXED")));
}

#[tokio::test(start_paused = true)]
async fn auto_wire_wires_created_streams_and_unwires_deleted_ones_only_when_asked() {
    let fake = fleet(1, 0).await;
    fake.create_stream("fleet-new", 3);
    let autoscaler = Autoscaler::paced(fake, Settings::default(), "autoscaler");
    let parse = |call: &str, stream: &str| {
        kinesis_autoscaler::domain::fleet_event::parse(&cloudtrail(call, stream))
            .expect("understood")
            .expect("ours")
    };

    let off = autoscaler
        .handle_stream_event(&parse("CreateStream", "fleet-new"), None)
        .await;
    let off = &off.reconcile.expect("report").streams[0];
    assert_eq!(off.verdict, StreamVerdict::Ignored);
    assert!(off
        .note
        .as_deref()
        .unwrap_or("")
        .contains("auto-wire is off"));
    assert!(autoscaler.aws.inner().alarm("fleet-new-scale-up").is_none());

    let on = autoscaler
        .handle_stream_event(&parse("CreateStream", "fleet-new"), Some(TOPIC))
        .await;
    assert_eq!(on.reconcile.expect("report").streams[0].fixes.len(), 2);
    let up = autoscaler
        .aws
        .inner()
        .alarm("fleet-new-scale-up")
        .expect("wired");
    assert_eq!(up.spec.shard_count(), Some(3));
    assert_eq!(up.spec.alarm_actions, [TOPIC]);

    autoscaler.aws.inner().delete_stream(&name(0));
    let kept = autoscaler
        .handle_stream_event(&parse("DeleteStream", &name(0)), None)
        .await;
    assert_eq!(
        kept.reconcile.expect("report").streams[0].verdict,
        StreamVerdict::Ignored
    );
    assert!(autoscaler
        .aws
        .inner()
        .alarm(&format!("{}-scale-up", name(0)))
        .is_some());
    let removed = autoscaler
        .handle_stream_event(&parse("DeleteStream", &name(0)), Some(TOPIC))
        .await;
    let removed = &removed.reconcile.expect("report").streams[0];
    assert!(removed
        .fixes
        .iter()
        .all(|f| f.kind == FixKind::AlarmDeleted));
    assert_eq!(removed.fixes.len(), 2);
    assert!(autoscaler
        .aws
        .inner()
        .alarm(&format!("{}-scale-up", name(0)))
        .is_none());
}

#[tokio::test(start_paused = true)]
async fn a_fleet_is_wired_by_prefix_and_unwired_a_hundred_alarms_a_call() {
    let fake = FakeAws::new(t0());
    for i in 0..130 {
        fake.create_stream(&format!("orders-{i:03}"), 1);
    }
    fake.create_on_demand_stream("orders-ondemand", 1);
    fake.create_stream("clicks", 1);
    let aws = Paced::new(fake.with_quotas(&DEFAULT_QUOTAS), RECONCILE_SHARE);
    let settings = Settings::default();
    use kinesis_autoscaler::ops::fleet_wiring;

    let (streams, left_out) = fleet_wiring::streams_to_wire(&aws, &settings, "orders-")
        .await
        .expect("listed");
    assert_eq!(streams.len(), 130);
    assert_eq!(
        left_out,
        [("orders-ondemand".to_string(), "ON_DEMAND".to_string())]
    );
    let options = kinesis_autoscaler::ops::wiring::WireOptions {
        topic_arn: Some(TOPIC.into()),
        ..Default::default()
    };
    let seen = std::sync::atomic::AtomicUsize::new(0);
    let wired = fleet_wiring::wire_many(&aws, &settings, &streams, &options, |done, total| {
        assert_eq!(total, 130);
        seen.store(done, std::sync::atomic::Ordering::Relaxed);
    })
    .await;
    assert_eq!(seen.into_inner(), 130, "progress reached the end");
    assert!(wired.iter().all(|(_, r)| r.is_ok()));
    assert!(aws.stats().throttled.is_empty());
    assert_eq!(aws.inner().count("PutMetricAlarm"), 260);
    assert!(aws.inner().alarm("clicks-scale-up").is_none());

    let summary = fleet_wiring::fleet_summary(&aws, &settings, t0())
        .await
        .expect("summary");
    assert_eq!(summary.managed_streams, 130);
    assert_eq!(summary.streams.get("in_line"), Some(&130));
    assert_eq!(summary.alarms.get("INSUFFICIENT_DATA"), Some(&260));

    let unwired = fleet_wiring::unwire_prefix(&aws, "orders-", false, false, |_, _| {})
        .await
        .expect("unwired");
    assert_eq!(unwired.len(), 130);
    assert_eq!(
        aws.inner().count("DeleteAlarms"),
        3,
        "260 alarms, 100 a call"
    );
    assert!(aws.inner().alarm_names().is_empty());
}
