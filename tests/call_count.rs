//! How many AWS calls a scale event makes, and in how many sequential rounds: the handler
//! (see the module doc of `src/handler.rs`) talks to moto through `scripts/aws_proxy.py`,
//! which logs every call with its start and end. Setup goes straight to moto.
//!
//! The proxy adds a fixed latency so that calls made in parallel visibly overlap; nothing here
//! asserts on time itself, only on which calls were made and how they group into rounds.

mod common;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use common::proxy::Proxy;
use common::*;
use kinesis_autoscaler::domain::event::Direction;
use kinesis_autoscaler::domain::settings::{tag, Settings};
use kinesis_autoscaler::ops::scale::{Autoscaler, Outcome};
use std::collections::BTreeMap;

/// Each proxied call is held this long, so parallel calls overlap by a wide margin.
const LATENCY_MS: u64 = 100;

/// The proxy's log as calls, in start order.
fn calls(proxy: &Proxy) -> Vec<Call> {
    let mut calls: Vec<Call> = proxy
        .log()
        .iter()
        .map(|e| Call {
            action: e["action"].as_str().unwrap_or("?").to_string(),
            start: e["start"].as_f64().expect("start"),
            end: e["end"].as_f64().expect("end"),
            status: e["status"].as_u64().unwrap_or(0),
        })
        .collect();
    calls.sort_by(|a, b| a.start.total_cmp(&b.start));
    calls
}

#[derive(Debug, Clone)]
struct Call {
    action: String,
    start: f64,
    end: f64,
    status: u64,
}

/// Calls whose [start, end] intervals overlap (transitively) form one round; rounds are
/// sequential. Each round is the sorted list of its actions.
fn rounds(calls: &[Call]) -> Vec<Vec<String>> {
    let mut rounds: Vec<Vec<String>> = Vec::new();
    let mut round_end = f64::NEG_INFINITY;
    for call in calls {
        if call.start < round_end {
            rounds.last_mut().unwrap().push(call.action.clone());
            round_end = round_end.max(call.end);
        } else {
            rounds.push(vec![call.action.clone()]);
            round_end = call.end;
        }
    }
    for round in &mut rounds {
        round.sort();
    }
    rounds
}

fn counts(calls: &[Call]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for call in calls {
        *counts.entry(call.action.clone()).or_default() += 1;
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

/// Handles one alarm event through the proxy; the proxy's log of it, in start order.
async fn handle_through_proxy(event: &str) -> Vec<Call> {
    let proxy = Proxy::start();
    proxy.configure(LATENCY_MS, serde_json::json!([]), 15);
    // Retries off: every logged call is one the handler decided to make.
    let autoscaler = Autoscaler {
        aws: proxy
            .clients(RetryConfig::disabled(), TimeoutConfig::disabled())
            .await,
        settings: Settings::default(),
        function_name: "kinesis-autoscaler-call-count".into(),
    };
    let report = handle(&autoscaler, event).await;
    let outcome = &report.alarms[0];
    assert_eq!(outcome.outcome, Outcome::Scaled, "{outcome:?}");
    assert!(outcome.errors.is_empty(), "{:?}", outcome.errors);
    let calls = calls(&proxy);
    for call in &calls {
        assert_eq!(call.status, 200, "{call:?}");
        assert!(call.end >= call.start, "{call:?}");
    }
    calls
}

/// The rounds up to and including the one holding UpdateShardCount.
fn rounds_to_reshard(rounds: &[Vec<String>]) -> usize {
    1 + rounds
        .iter()
        .position(|round| round.iter().any(|a| a == "UpdateShardCount"))
        .expect("an UpdateShardCount call")
}

/// Every call after the reshard started after UpdateShardCount had returned.
fn assert_rewrite_follows_reshard(calls: &[Call]) {
    let reshard = calls
        .iter()
        .find(|c| c.action == "UpdateShardCount")
        .expect("an UpdateShardCount call");
    let after: Vec<_> = calls.iter().filter(|c| c.start > reshard.start).collect();
    for call in after {
        assert!(
            call.start >= reshard.end,
            "{} started before UpdateShardCount returned",
            call.action
        );
        assert!(
            matches!(
                call.action.as_str(),
                "PutMetricAlarm" | "SetAlarmState" | "TagResource" | "PutFunctionConcurrency"
            ),
            "unexpected call after the reshard: {call:?}"
        );
    }
}

fn assert_alarm_rewrite_rounds(rounds: &[Vec<String>], from: usize) {
    // Round 4: both PutMetricAlarm (and PutFunctionConcurrency); round 5: per alarm,
    // SetAlarmState and TagResource once its PutMetricAlarm returned. The two alarms are not
    // synchronised with each other, so 4 and 5 may merge; never more than two rounds.
    let rest = &rounds[from..];
    assert!(
        (1..=2).contains(&rest.len()),
        "the alarm rewrite took {} rounds: {rest:?}",
        rest.len()
    );
    assert!(
        rest[0].iter().filter(|a| *a == "PutMetricAlarm").count() >= 1,
        "{rest:?}"
    );
}

#[tokio::test]
async fn a_scale_up_makes_fourteen_calls_and_reshards_in_the_third_round() {
    let aws = clients().await;
    let stream = unique("calls-up");
    create_stream(&aws, &stream, 4).await;
    let pair = wire(&aws, &Settings::default(), &stream, 4).await;

    let calls = handle_through_proxy(&alarm_event(
        &pair.name(Direction::Up),
        &stream,
        "ALARM",
        just_now(),
    ))
    .await;

    assert_eq!(open_shards(&aws, &stream).await, 8);
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
    assert_eq!(rounds_to_reshard(&rounds), 3, "{rounds:?}");
    assert_rewrite_follows_reshard(&calls);
    assert_alarm_rewrite_rounds(&rounds, 3);
}

#[tokio::test]
async fn a_scale_down_makes_thirteen_calls_without_describe_limits() {
    let aws = clients().await;
    let stream = unique("calls-down");
    create_stream(&aws, &stream, 4).await;
    let pair = wire(&aws, &Settings::default(), &stream, 4).await;

    let calls = handle_through_proxy(&alarm_event(
        &pair.name(Direction::Down),
        &stream,
        "ALARM",
        just_now(),
    ))
    .await;

    assert_eq!(open_shards(&aws, &stream).await, 2);
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
    assert_eq!(rounds_to_reshard(&rounds), 3, "{rounds:?}");
    assert_rewrite_follows_reshard(&calls);
    assert_alarm_rewrite_rounds(&rounds, 3);
}

#[tokio::test]
async fn a_consumer_adds_one_call_alongside_the_alarm_writes() {
    let aws = clients().await;
    let stream = unique("calls-consumer");
    let consumer = unique("calls-consumer-fn");
    create_consumer_function(&aws, &consumer).await;
    create_stream(&aws, &stream, 2).await;
    tag_stream(&aws, &stream, tag::CONSUMER_FUNCTION, &consumer).await;
    let pair = wire(&aws, &Settings::default(), &stream, 2).await;

    let calls = handle_through_proxy(&alarm_event(
        &pair.name(Direction::Up),
        &stream,
        "ALARM",
        just_now(),
    ))
    .await;

    assert_eq!(calls.len(), 15, "{calls:#?}");
    assert_eq!(
        counts(&calls).get("PutFunctionConcurrency"),
        Some(&1),
        "{calls:#?}"
    );
    let rounds = rounds(&calls);
    assert_eq!(rounds_to_reshard(&rounds), 3, "{rounds:?}");
    assert_rewrite_follows_reshard(&calls);
    assert_alarm_rewrite_rounds(&rounds, 3);
    assert!(
        rounds[3].contains(&"PutFunctionConcurrency".to_string()),
        "the consumer is updated with the alarms, after the reshard: {rounds:?}"
    );
}

#[test]
fn overlapping_calls_form_one_round() {
    let call = |action: &str, start: f64, end: f64| Call {
        action: action.into(),
        start,
        end,
        status: 200,
    };
    let calls = [
        call("A", 0.0, 1.0),
        call("B", 0.1, 1.5),
        call("C", 1.2, 2.0), // overlaps B only: same round
        call("D", 2.0, 3.0), // starts as C ends: next round
    ];
    assert_eq!(rounds(&calls), [actions(&["A", "B", "C"]), actions(&["D"])]);
}
