//! How many AWS calls a scale event makes, and in how many sequential rounds, from the fake's
//! call log (see the module doc of `src/ops/autoscaler/alarm.rs` for the rounds).
//!
//! Every call takes the same latency on tokio's paused clock, so calls made in parallel reach
//! the fake at the same instant and a round is the set of calls sharing one. Nothing here
//! asserts on time itself, only on which calls were made and how they group.

mod common;

use chrono::{DateTime, Duration, Utc};
use common::*;
use kinesis_autoscaler::aws::fake::{Call, FakeAws};
use kinesis_autoscaler::domain::event::Direction;
use kinesis_autoscaler::domain::settings::{tag, Settings};
use kinesis_autoscaler::ops::autoscaler::Autoscaler;
use kinesis_autoscaler::ops::outcome::Outcome;
use std::collections::BTreeMap;

const LATENCY: std::time::Duration = std::time::Duration::from_millis(100);

fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000, 0).expect("a valid time")
}

/// Calls that reached the fake at the same instant form one round; each round is the sorted
/// list of its actions, rounds in time order.
fn rounds(calls: &[Call]) -> Vec<Vec<String>> {
    let mut by_instant: BTreeMap<tokio::time::Instant, Vec<String>> = BTreeMap::new();
    for call in calls {
        by_instant
            .entry(call.at)
            .or_default()
            .push(call.action.to_string());
    }
    by_instant
        .into_values()
        .map(|mut round| {
            round.sort();
            round
        })
        .collect()
}

fn counts(calls: &[Call]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for call in calls {
        *counts.entry(call.action.to_string()).or_default() += 1;
    }
    counts
}

fn expected(pairs: &[(&str, usize)]) -> BTreeMap<String, usize> {
    pairs.iter().map(|(a, n)| (a.to_string(), *n)).collect()
}

fn actions(names: &[&str]) -> Vec<String> {
    let mut names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    names.sort();
    names
}

/// A wired `shards`-shard stream, optionally with a consumer; the calls one ALARM event of
/// `direction` makes.
async fn calls_of_one_event(direction: Direction, shards: u32, consumer: bool) -> Vec<Call> {
    let aws = FakeAws::new(t0()).with_latency(LATENCY);
    aws.create_stream("orders", shards);
    if consumer {
        aws.create_function("consumer");
        tag_stream(&aws, "orders", tag::CONSUMER_FUNCTION, "consumer").await;
    }
    let pair = wire(&aws, &Settings::default(), "orders", shards).await;
    let autoscaler = Autoscaler::new(
        aws.clone(),
        Settings::default(),
        "kinesis-autoscaler-call-count",
    );
    aws.advance(Duration::minutes(10));
    let event = alarm_event(&pair.name(direction), "orders", "ALARM", aws.now());
    aws.advance(Duration::seconds(1));
    aws.clear_calls();

    let report = handle(&autoscaler, &event).await;

    let outcome = &report.alarms[0];
    assert_eq!(outcome.outcome, Outcome::Scaled, "{outcome:?}");
    assert!(outcome.errors.is_empty(), "{:?}", outcome.errors);
    aws.calls()
}

/// Round 4: both PutMetricAlarm (and PutFunctionConcurrency); round 5: per alarm,
/// SetAlarmState and TagResource once its PutMetricAlarm returned.
fn assert_alarm_rewrite_rounds(rounds: &[Vec<String>], consumer: bool) {
    assert_eq!(rounds.len(), 5, "{rounds:?}");
    let mut fourth = vec!["PutMetricAlarm", "PutMetricAlarm"];
    if consumer {
        fourth.push("PutFunctionConcurrency");
    }
    assert_eq!(rounds[3], actions(&fourth), "{rounds:?}");
    assert_eq!(
        rounds[4],
        actions(&[
            "SetAlarmState",
            "SetAlarmState",
            "TagResource",
            "TagResource"
        ]),
        "{rounds:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_scale_up_makes_fourteen_calls_and_reshards_in_the_third_round() {
    let calls = calls_of_one_event(Direction::Up, 4, false).await;

    assert_eq!(
        counts(&calls),
        expected(&[
            // 1. gather (GetMetricData: SCALING_POLICY=sized, the default)
            ("DescribeAlarms", 1),
            ("ListTagsForResource", 1),
            ("DescribeStreamSummary", 1),
            ("ListTagsForStream", 1),
            ("DescribeLimits", 1),
            ("GetMetricData", 1),
            // 2. the reshard history
            ("AddTagsToStream", 1),
            // 3. reshard
            ("UpdateShardCount", 1),
            // 4, 5. both alarms
            ("PutMetricAlarm", 2),
            ("SetAlarmState", 2),
            ("TagResource", 2),
        ]),
        "{calls:#?}"
    );
    assert_eq!(calls.len(), 14);
    let rounds = rounds(&calls);
    assert_eq!(
        rounds[..3],
        [
            actions(&[
                "DescribeAlarms",
                "DescribeLimits",
                "DescribeStreamSummary",
                "GetMetricData",
                "ListTagsForResource",
                "ListTagsForStream",
            ]),
            actions(&["AddTagsToStream"]),
            actions(&["UpdateShardCount"]),
        ],
        "{rounds:?}"
    );
    assert_alarm_rewrite_rounds(&rounds, false);
}

#[tokio::test(start_paused = true)]
async fn a_scale_down_makes_thirteen_calls_without_describe_limits() {
    let calls = calls_of_one_event(Direction::Down, 4, false).await;

    assert_eq!(
        counts(&calls),
        expected(&[
            ("DescribeAlarms", 1),
            ("ListTagsForResource", 1),
            ("DescribeStreamSummary", 1),
            ("ListTagsForStream", 1),
            ("GetMetricData", 1),
            ("AddTagsToStream", 1),
            ("UpdateShardCount", 1),
            ("PutMetricAlarm", 2),
            ("SetAlarmState", 2),
            ("TagResource", 2),
        ]),
        "{calls:#?}"
    );
    assert_eq!(calls.len(), 13);
    let rounds = rounds(&calls);
    assert_eq!(
        rounds[..3],
        [
            actions(&[
                "DescribeAlarms",
                "DescribeStreamSummary",
                "GetMetricData",
                "ListTagsForResource",
                "ListTagsForStream",
            ]),
            actions(&["AddTagsToStream"]),
            actions(&["UpdateShardCount"]),
        ],
        "{rounds:?}"
    );
    assert_alarm_rewrite_rounds(&rounds, false);
}

#[tokio::test(start_paused = true)]
async fn a_consumer_adds_one_call_alongside_the_alarm_writes() {
    let calls = calls_of_one_event(Direction::Up, 2, true).await;

    assert_eq!(calls.len(), 15, "{calls:#?}");
    assert_eq!(
        counts(&calls).get("PutFunctionConcurrency"),
        Some(&1),
        "{calls:#?}"
    );
    let rounds = rounds(&calls);
    assert_eq!(rounds[2], actions(&["UpdateShardCount"]), "{rounds:?}");
    assert_alarm_rewrite_rounds(&rounds, true);
}

#[test]
fn calls_at_one_instant_form_one_round() {
    let start = tokio::time::Instant::now();
    let call = |action: &'static str, ms: u64| Call {
        action,
        target: String::new(),
        at: start + std::time::Duration::from_millis(ms),
    };
    let calls = [call("B", 0), call("A", 0), call("C", 100), call("D", 250)];
    assert_eq!(
        rounds(&calls),
        [actions(&["A", "B"]), actions(&["C"]), actions(&["D"])]
    );
}
