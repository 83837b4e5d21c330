//! The daily tuning in the scheduled run, on the in-process fake: each managed stream tuned
//! once a UTC day on its own history, the choice kept in its `AutoscalerTuned` tag and used by
//! its decisions, the user's own tags over it, and nothing changed where the history cannot
//! be read. The tag's round trip through the real SDK runs on the emulators.

mod common;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use kinesis_autoscaler::aws::fake::{FakeAws, Fault};
use kinesis_autoscaler::aws::{AwsPort, IncomingPoint};
use kinesis_autoscaler::domain::event::Invocation;
use kinesis_autoscaler::domain::settings::{tag, Settings};
use kinesis_autoscaler::domain::tuned::TunedTag;
use kinesis_autoscaler::domain::tuning::{candidates, Policy};
use kinesis_autoscaler::ops::autoscaler::Autoscaler;
use kinesis_autoscaler::ops::outcome::{InvocationReport, Outcome, TuningOutcome};
use kinesis_autoscaler::ops::status;
use kinesis_autoscaler::ops::wiring::{self, WireOptions};
use std::collections::HashMap;

const FUNCTION: &str = "autoscaler";

/// Midnight UTC.
fn midnight() -> DateTime<Utc> {
    DateTime::from_timestamp(1_799_971_200, 0).expect("a valid time")
}

/// `days` of 5-minute load before `end`: `need(minute of the day)` shards' worth, 1 KiB
/// records.
fn put_days(aws: &FakeAws, stream: &str, end: DateTime<Utc>, days: i64, need: fn(i64) -> f64) {
    let start = end - Duration::days(days);
    let points: Vec<IncomingPoint> = (0..days * 288)
        .map(|p| {
            let at = start + Duration::minutes(5 * p);
            let minute = (at.timestamp() / 60).rem_euclid(1440);
            let records = need(minute) * 1000.0 * 300.0;
            IncomingPoint {
                start: at,
                bytes: records * 1024.0,
                records,
            }
        })
        .collect();
    aws.put_incoming(stream, &points);
}

/// A daily ramp: 3 shards of load from 10:00 to 15:00, 1 otherwise.
fn daily(minute: i64) -> f64 {
    if (600..900).contains(&minute) {
        3.0
    } else {
        1.0
    }
}

fn flat(_: i64) -> f64 {
    1.0
}

async fn account(streams: &[(&str, u32)]) -> FakeAws {
    let aws = FakeAws::new(midnight());
    aws.create_function(FUNCTION);
    let options = WireOptions {
        topic_arn: Some("arn:aws:sns:us-east-1:123456789012:autoscaler".into()),
        dry_run: false,
        stream_tags: Default::default(),
    };
    for (stream, shards) in streams {
        aws.create_stream(stream, *shards);
        wiring::wire_stream(&aws, &Settings::default(), stream, &options)
            .await
            .expect("wired");
    }
    aws
}

async fn tick(a: &Autoscaler<FakeAws>) -> InvocationReport {
    a.handle_invocation(Invocation::Scheduled).await
}

fn tuned_tag(aws: &FakeAws, stream: &str) -> Option<TunedTag> {
    let value = aws.stream(stream)?.tags.get(tag::TUNED)?.clone();
    Some(TunedTag::parse(stream, &value).expect("the tag parses"))
}

fn tuned_in(report: &InvocationReport) -> Vec<(String, TunedTag)> {
    let tuning = report.tuning.as_ref().expect("the scheduled run tunes");
    tuning
        .streams
        .iter()
        .filter_map(|s| match &s.outcome {
            TuningOutcome::Tuned(t) => Some((s.stream.clone(), (**t).clone())),
            TuningOutcome::Kept(_) => None,
        })
        .collect()
}

fn day(t: DateTime<Utc>) -> NaiveDate {
    t.date_naive()
}

#[tokio::test]
async fn a_stream_is_tuned_once_a_day_and_its_tag_reads_back() {
    let aws = account(&[("orders", 2)]).await;
    put_days(&aws, "orders", midnight(), 3, daily);
    let a = Autoscaler::new(aws.clone(), Settings::default(), FUNCTION);

    let report = tick(&a).await;
    let tuned = tuned_in(&report);
    assert_eq!(tuned.len(), 1, "{:?}", report.tuning);
    let (stream, chosen) = &tuned[0];
    assert_eq!(stream, "orders");
    assert_eq!(chosen.day, day(midnight()));
    // The tag holds what the report says was chosen, and parses back to it.
    assert_eq!(tuned_tag(&aws, "orders").as_ref(), Some(chosen));
    assert!(candidates().iter().any(|c| c.name == chosen.candidate));
    assert!(report
        .metric_lines
        .iter()
        .any(|l| l.contains("STREAMS_TUNED")));
    // `status` shows it.
    let status = status::stream_status(&aws, &Settings::default(), "orders", midnight())
        .await
        .expect("status");
    assert_eq!(status.tuned.as_ref(), Some(chosen));
    assert!(status.problems.is_empty(), "{:?}", status.problems);

    // Later the same day: not again.
    aws.advance(Duration::minutes(5));
    let report = tick(&a).await;
    assert!(tuned_in(&report).is_empty(), "{:?}", report.tuning);
    aws.advance(Duration::hours(12));
    let report = tick(&a).await;
    assert!(tuned_in(&report).is_empty(), "{:?}", report.tuning);

    // The next day: once more, on the day before too.
    put_days(&aws, "orders", midnight() + Duration::days(1), 1, daily);
    aws.advance(Duration::hours(12) - Duration::minutes(5));
    let report = tick(&a).await;
    let tuned = tuned_in(&report);
    assert_eq!(tuned.len(), 1, "{:?}", report.tuning);
    assert_eq!(tuned[0].1.day, day(midnight() + Duration::days(1)));
    assert_eq!(tuned_tag(&aws, "orders"), Some(tuned[0].1.clone()));
}

#[tokio::test]
async fn a_short_history_keeps_the_settings_and_a_dry_run_writes_no_tag() {
    let aws = account(&[("fresh", 2), ("orders", 2)]).await;
    put_days(&aws, "fresh", midnight(), 1, daily);
    put_days(&aws, "orders", midnight(), 3, daily);
    // The day's last tick: every stream left is due.
    aws.advance(Duration::days(1) - Duration::minutes(5));
    let settings = Settings {
        dry_run: true,
        ..Settings::default()
    };
    let a = Autoscaler::new(aws.clone(), settings, FUNCTION);
    let report = tick(&a).await;
    let tuning = report.tuning.as_ref().unwrap();
    assert_eq!(tuning.streams.len(), 2, "{tuning:?}");
    match &tuning.streams[0].outcome {
        TuningOutcome::Kept(why) => assert!(why.contains("days of history"), "{why}"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(tuning.streams[1].outcome, TuningOutcome::Tuned(_)));
    assert_eq!(tuned_tag(&aws, "fresh"), None);
    assert_eq!(tuned_tag(&aws, "orders"), None, "a dry run writes no tag");
}

#[tokio::test]
async fn a_get_metric_data_failure_changes_nothing() {
    let aws = account(&[("orders", 2)]).await;
    put_days(&aws, "orders", midnight(), 3, flat);
    let before = aws.stream("orders").unwrap();
    // The evaluation's read answers; the tuning's (the second) is throttled.
    aws.inject("GetMetricData", 1, Fault::Throttle);
    let a = Autoscaler::new(aws.clone(), Settings::default(), FUNCTION);
    let report = tick(&a).await;
    let tuning = report.tuning.as_ref().unwrap();
    match &tuning.streams[..] {
        [one] => match &one.outcome {
            TuningOutcome::Kept(why) => assert!(why.contains("unreadable"), "{why}"),
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    }
    let after = aws.stream("orders").unwrap();
    assert_eq!(after.tags, before.tags, "no tag written");
    assert_eq!(after.open_shards, before.open_shards);
    assert!(report.alarms.is_empty(), "{:?}", report.alarms);
}

/// The tuned tag of a sized set at `target_usage`, chosen today.
fn tuned_at(target_usage: f64) -> String {
    tuned_with(target_usage, false, 0)
}

/// The same, seeing the demand behind throttled periods or not, on a floor or not (0).
fn tuned_with(target_usage: f64, see_throttled: bool, floor: u32) -> String {
    let default = candidates()[0];
    let Policy::Sized { mut params, .. } = default.policy else {
        panic!("the default is sized")
    };
    params.see_throttled = see_throttled;
    TunedTag {
        day: day(midnight()),
        candidate: "roomy".into(),
        met: true,
        policy: Policy::Sized {
            target_usage,
            params,
            floor,
        },
        advice: None,
    }
    .render()
}

#[tokio::test]
async fn the_decision_follows_the_tuned_parameters_and_the_user_tags_win() {
    let aws = account(&[("mine", 4), ("plain", 4), ("tuned", 4)]).await;
    // Two hours at 3.9 shards of load on 4 shards: above the 95% trigger.
    for stream in ["mine", "plain", "tuned"] {
        put_days(&aws, stream, midnight(), 3, |_| 3.9);
    }
    aws.seed_stream_tag("tuned", tag::TUNED, &tuned_at(0.5));
    aws.seed_stream_tag("mine", tag::TUNED, &tuned_at(0.5));
    aws.seed_stream_tag("mine", tag::TARGET_USAGE, "0.9");
    let a = Autoscaler::new(aws.clone(), Settings::default(), FUNCTION);
    let report = tick(&a).await;
    let to = scaled_to(&report);
    // 3.9 shards at 70% (the global default), at the tuned 50%, at the user's own 90%.
    assert_eq!(to.get("plain"), Some(&6), "{to:?}");
    assert_eq!(to.get("tuned"), Some(&8), "{to:?}");
    assert_eq!(to.get("mine"), Some(&5), "{to:?}");
}

#[tokio::test]
async fn a_stream_tuned_to_see_throttled_records_sizes_for_its_demand() {
    let aws = account(&[("blind", 4), ("seeing", 4)]).await;
    // Saturated: 4 shards' worth admitted each period, 2 more refused.
    for stream in ["blind", "seeing"] {
        put_days(&aws, stream, midnight(), 3, |_| 4.0);
        for p in 0..3 * 288 {
            let at = midnight() - Duration::days(3) + Duration::minutes(5 * p);
            aws.put_throttled(stream, at, 2.0 * 1000.0 * 300.0);
        }
    }
    aws.seed_stream_tag("blind", tag::TUNED, &tuned_with(0.7, false, 0));
    aws.seed_stream_tag("seeing", tag::TUNED, &tuned_with(0.7, true, 0));
    let a = Autoscaler::new(aws.clone(), Settings::default(), FUNCTION);
    let report = tick(&a).await;
    let to = scaled_to(&report);
    // 4 shards at 70% is 6; the demand, 6 shards, at 70% is 9, at most 2N = 8.
    assert_eq!(to.get("blind"), Some(&6), "{to:?}");
    assert_eq!(to.get("seeing"), Some(&8), "{to:?}");
}

#[tokio::test]
async fn a_stream_tuned_onto_a_floor_is_raised_to_it_unless_its_own_minimum_says_otherwise() {
    let aws = account(&[("floored", 2), ("mine", 2), ("plain", 2)]).await;
    // One shard of load on two: nothing to do but for the floor.
    for stream in ["floored", "mine", "plain"] {
        put_days(&aws, stream, midnight(), 3, flat);
    }
    aws.seed_stream_tag("floored", tag::TUNED, &tuned_with(0.7, false, 6));
    aws.seed_stream_tag("mine", tag::TUNED, &tuned_with(0.7, false, 6));
    aws.seed_stream_tag("mine", tag::MIN_SHARDS, "2");
    let a = Autoscaler::new(aws.clone(), Settings::default(), FUNCTION);
    let report = tick(&a).await;
    let to = scaled_to(&report);
    // Towards the floor of 6, at most 2N at a time; the user's own minimum wins.
    assert_eq!(to.get("floored"), Some(&4), "{to:?}");
    assert_eq!(to.get("mine"), None, "{to:?}");
    assert_eq!(to.get("plain"), None, "{to:?}");
}

/// Each stream the run resharded, and its new count.
fn scaled_to(report: &InvocationReport) -> HashMap<String, u32> {
    report
        .alarms
        .iter()
        .filter(|o| o.outcome == Outcome::Scaled)
        .map(|o| (o.stream.clone().unwrap(), o.to.unwrap()))
        .collect()
}

/// The tag as the function writes it, through the real SDK and back.
async fn the_tuned_tag_round_trips_through_kinesis() {
    let aws = common::clients().await;
    let stream = common::unique("tuned");
    common::create_stream(&aws, &stream, 1).await;
    let all = candidates();
    let chosen = TunedTag {
        day: day(midnight()),
        candidate: all[4].name.to_string(),
        met: false,
        policy: all[4].policy.with_floor(8),
        advice: Some(kinesis_autoscaler::domain::tuning::Advice {
            budget_fraction: 0.001,
            floor_shards: Some(8),
            floor_monthly_usd: Some(86.4),
            on_demand_monthly_usd: 123.45,
            chosen_monthly_usd: 43.2,
            basis: kinesis_autoscaler::domain::tuning::AdviceBasis::History,
        }),
    };
    common::tag_stream(&aws, &stream, tag::TUNED, &chosen.render()).await;
    let tags = aws.stream_tags(&stream).await.expect("ListTagsForStream");
    let back = TunedTag::parse(&stream, &tags[tag::TUNED]).expect("parses");
    assert_eq!(back, chosen);
    common::delete_stream(&aws, &stream).await;
}

on_emulators!(the_tuned_tag_round_trips_through_kinesis);

/// A ramp: 3 shards of load from 10:00 to 15:00, 2 for the hour after, 1 otherwise.
fn ramp(minute: i64) -> f64 {
    match minute {
        600..900 => 3.0,
        900..960 => 2.0,
        _ => 1.0,
    }
}

#[tokio::test]
async fn a_stream_that_throttled_less_than_upstream_may_spend_the_difference() {
    // Two streams with the same demand: "calm" had it all admitted; "stormy" had a fifth
    // of it refused (WriteProvisionedThroughputExceeded), so it spent more than the Go
    // Lambda would have and has nothing left to spend.
    let aws = account(&[("calm", 2), ("stormy", 2)]).await;
    put_days(&aws, "calm", midnight(), 3, ramp);
    let start = midnight() - Duration::days(3);
    let mut admitted = vec![];
    for p in 0..3 * 288 {
        let at = start + Duration::minutes(5 * p);
        let records = ramp((at.timestamp() / 60).rem_euclid(1440)) * 1000.0 * 300.0;
        admitted.push(IncomingPoint {
            start: at,
            bytes: 0.8 * records * 1024.0,
            records: 0.8 * records,
        });
        aws.put_throttled("stormy", at, 0.2 * records);
    }
    aws.put_incoming("stormy", &admitted);
    let a = Autoscaler::new(aws.clone(), Settings::default(), FUNCTION);
    tick(&a).await;
    aws.advance(Duration::minutes(5));
    tick(&a).await;
    let usage = |stream| match tuned_tag(&aws, stream).expect("tuned").policy {
        Policy::Sized { target_usage, .. } => target_usage,
        Policy::Upstream => panic!("{stream}: upstream's policy"),
    };
    // The same history, replayed alike: only what each stream spent differs, and the one
    // with budget left runs its shards fuller.
    assert!(
        usage("calm") > usage("stormy"),
        "{} vs {}",
        usage("calm"),
        usage("stormy")
    );
}
