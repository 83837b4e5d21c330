//! Drop-in for the Go sample, in-process: the handler against `FakeAws` limited to exactly the
//! upstream role's permissions. Every trigger shape, forged events, degraded permissions, the
//! 50-tag stream, tolerated settings and the metrics. The same cases run against the emulator
//! behind an IAM allow-list in `dropin_upstream_role.rs`.

mod dropin_support;

use chrono::{DateTime, Duration, Utc};
use dropin_support::*;
use kinesis_autoscaler::aws::fake::FakeAws;
use kinesis_autoscaler::aws::fake::Fault;
use kinesis_autoscaler::domain::alarms::{self, AlarmTarget, KeptFields};
use kinesis_autoscaler::domain::degraded::{Degradation, UPSTREAM_ROLE_ACTIONS};
use kinesis_autoscaler::domain::event::{parse_invocation_text, AlarmPair};
use kinesis_autoscaler::domain::metrics::{
    FATAL_ERROR_METRIC, REFUSED_METRIC, RESHARDS_LEFT_METRIC, RESHARDS_METRIC, SHARD_COUNT_METRIC,
};
use kinesis_autoscaler::domain::settings::Settings;
use kinesis_autoscaler::ops::autoscaler::Autoscaler;
use kinesis_autoscaler::ops::outcome::{InvocationReport, Outcome};
use std::collections::HashMap;

fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000, 0).expect("a valid time")
}

/// An account whose role is upstream's, with `streams` wired at their shard counts.
fn account(streams: &[(&str, u32)]) -> FakeAws {
    let aws = FakeAws::new(t0()).with_allowed_actions(UPSTREAM_ROLE_ACTIONS);
    for (stream, shards) in streams {
        aws.create_stream(stream, *shards);
        wire(&aws, stream, *shards);
    }
    aws
}

fn wire(aws: &FakeAws, stream: &str, shards: u32) {
    let pair = AlarmPair::new(stream);
    let target = AlarmTarget {
        pair: &pair,
        stream,
        shards,
        min_shards: 1,
        max_shards: 10_000,
    };
    let specs = alarms::build_pair(
        &Settings::default(),
        &target,
        Some(&topic_arn()),
        &KeptFields::default(),
        &KeptFields::default(),
    );
    // Set-up by the account's administrator, outside the function's role.
    aws.seed_alarm(&specs.scale_up);
    aws.seed_alarm(&specs.scale_down);
}

/// CloudWatch's side of an alarm firing: the alarm is in ALARM, then the event is sent.
fn fire(aws: &FakeAws, alarm: &str) -> DateTime<Utc> {
    aws.advance(Duration::minutes(5));
    aws.set_state(alarm, "ALARM");
    aws.now()
}

fn scaler(aws: FakeAws, settings: Settings) -> Autoscaler<FakeAws> {
    Autoscaler::new(aws, settings, "kinesis-autoscaler")
}

async fn handle(scaler: &Autoscaler<FakeAws>, event: &str) -> InvocationReport {
    scaler
        .handle_invocation(parse_invocation_text(event).expect("a parsable event"))
        .await
}

fn outcomes(report: &InvocationReport) -> Vec<Outcome> {
    report.alarms.iter().map(|a| a.outcome).collect()
}

#[tokio::test]
async fn under_the_upstream_role_every_shape_scales_up_and_down() {
    for shape in SHAPES {
        let scaler = scaler(account(&[("orders", 2)]), Settings::default());
        let aws = &scaler.aws;

        let at = fire(aws, "orders-scale-up");
        let report = handle(
            &scaler,
            &event(shape, "orders-scale-up", "orders", "ALARM", at),
        )
        .await;
        assert_eq!(
            outcomes(&report),
            [Outcome::Scaled],
            "{shape:?}: {report:?}"
        );
        assert!(report.succeeded(), "{shape:?}: {report:?}");
        assert_eq!(aws.stream("orders").unwrap().open_shards, 4, "{shape:?}");
        // DescribeLimits is not in the role: headroom unknown, said once, not a failure.
        assert_eq!(report.degraded, [Degradation::HeadroomDenied], "{shape:?}");
        assert_eq!(
            aws.alarm("orders-scale-up").unwrap().spec.shard_count(),
            Some(4),
            "{shape:?}: alarms rewritten for the new count"
        );
        let reshards = metric_docs(&report.metric_lines, RESHARDS_METRIC);
        assert_eq!(reshards.len(), 1, "{shape:?}");
        assert_eq!(reshards[0]["Direction"], "up");
        assert_eq!(reshards[0]["StreamName"], "orders");
        assert!(metric_docs(&report.metric_lines, FATAL_ERROR_METRIC).is_empty());

        let at = fire(aws, "orders-scale-down");
        let report = handle(
            &scaler,
            &event(shape, "orders-scale-down", "orders", "ALARM", at),
        )
        .await;
        assert_eq!(
            outcomes(&report),
            [Outcome::Scaled],
            "{shape:?}: {report:?}"
        );
        assert!(report.succeeded(), "{shape:?}: {report:?}");
        assert!(report.degraded.is_empty(), "scale-downs need no headroom");
        assert_eq!(aws.stream("orders").unwrap().open_shards, 2, "{shape:?}");
        assert_eq!(
            metric_docs(&report.metric_lines, RESHARDS_METRIC)[0]["Direction"],
            "down"
        );
        // The alarm action and EventBridge shapes name no topic: the alarms keep theirs.
        assert_eq!(
            aws.alarm("orders-scale-up").unwrap().spec.alarm_actions,
            [topic_arn()]
        );
    }
}

#[tokio::test]
async fn a_forged_event_changes_nothing_whatever_delivers_it() {
    for shape in SHAPES {
        let scaler = scaler(account(&[("orders", 2)]), Settings::default());
        let aws = &scaler.aws;
        aws.set_state("orders-scale-up", "OK");
        aws.clear_calls();

        let report = handle(
            &scaler,
            &event(shape, "orders-scale-up", "orders", "ALARM", aws.now()),
        )
        .await;

        let outcome = &report.alarms[0];
        assert_eq!(outcome.outcome, Outcome::Refused, "{shape:?}");
        assert_eq!(outcome.refusal.as_deref(), Some("unconfirmed"));
        assert!(
            outcome.reason.contains("is OK, not ALARM"),
            "{}",
            outcome.reason
        );
        assert_eq!(aws.stream("orders").unwrap().open_shards, 2);
        for write in [
            "UpdateShardCount",
            "AddTagsToStream",
            "PutMetricAlarm",
            "SetAlarmState",
            "TagResource",
        ] {
            assert_eq!(aws.count(write), 0, "{shape:?}: {write} called");
        }
        assert_eq!(aws.alarm("orders-scale-up").unwrap().state, "OK");
        let refused = metric_docs(&report.metric_lines, REFUSED_METRIC);
        assert_eq!(refused.len(), 1);
        assert_eq!(refused[0]["Reason"], "unconfirmed");
        assert!(
            refused[0].get("StreamName").is_none(),
            "an unconfirmed stream names no metric: {:?}",
            refused[0]
        );
    }
}

#[tokio::test]
async fn an_alarm_that_does_not_exist_confirms_nothing() {
    let scaler = scaler(account(&[("orders", 2)]), Settings::default());
    let report = handle(
        &scaler,
        &event(
            Shape::AlarmAction,
            "ghost-scale-up",
            "orders",
            "ALARM",
            t0(),
        ),
    )
    .await;
    assert_eq!(report.alarms[0].outcome, Outcome::Refused);
    assert!(report.alarms[0].reason.contains("does not exist"));
    assert_eq!(scaler.aws.count("UpdateShardCount"), 0);
}

#[tokio::test]
async fn duplicates_and_stale_events_scale_once() {
    let scaler = scaler(account(&[("orders", 2)]), Settings::default());
    let aws = &scaler.aws;
    let at = fire(aws, "orders-scale-up");
    let one = ("orders-scale-up", "orders", "ALARM", at);
    // SNS delivers the same notification twice, in one event.
    let report = handle(&scaler, &sns(&[one, one])).await;
    assert_eq!(outcomes(&report), [Outcome::Scaled, Outcome::Refused]);
    assert_eq!(report.alarms[1].refusal.as_deref(), Some("unconfirmed"));
    assert_eq!(aws.stream("orders").unwrap().open_shards, 4);

    // The alarm fired again and, once resharded, could not be reset (SetAlarmState failed):
    // it is still in ALARM from before the reshard, so its notification, whenever delivered
    // and whatever time the message claims, is stale (CloudWatch's time decides).
    aws.advance(Duration::minutes(10));
    let again = fire(aws, "orders-scale-up");
    aws.advance(Duration::seconds(1));
    aws.inject("SetAlarmState", 0, Fault::Refuse("ThrottlingException"));
    aws.inject("SetAlarmState", 1, Fault::Refuse("ThrottlingException"));
    let report = handle(
        &scaler,
        &sns(&[("orders-scale-up", "orders", "ALARM", again)]),
    )
    .await;
    assert_eq!(outcomes(&report), [Outcome::Scaled]);
    assert_eq!(aws.alarm("orders-scale-up").unwrap().state, "ALARM");
    aws.advance(Duration::minutes(1));
    for shape in SHAPES {
        // (Each stale refusal's reset fails too, so that the alarm stays as it was.)
        aws.inject("SetAlarmState", 0, Fault::Refuse("ThrottlingException"));
        let report = handle(
            &scaler,
            &event(shape, "orders-scale-up", "orders", "ALARM", again),
        )
        .await;
        assert_eq!(
            report.alarms[0].refusal.as_deref(),
            Some("stale"),
            "{shape:?}"
        );
        aws.inject("SetAlarmState", 0, Fault::Refuse("ThrottlingException"));
        let late = event(shape, "orders-scale-up", "orders", "ALARM", aws.now());
        let report = handle(&scaler, &late).await;
        assert_eq!(
            report.alarms[0].refusal.as_deref(),
            Some("stale"),
            "{shape:?}: the message's newer time is not trusted"
        );
    }
    assert_eq!(aws.stream("orders").unwrap().open_shards, 8);
}

#[tokio::test]
async fn describe_limits_is_asked_once_per_invocation_and_logged_once() {
    let scaler = scaler(account(&[("a", 1), ("b", 1)]), Settings::default());
    let aws = &scaler.aws;
    let at_a = fire(aws, "a-scale-up");
    let at_b = fire(aws, "b-scale-up");
    let report = handle(
        &scaler,
        &sns(&[
            ("a-scale-up", "a", "ALARM", at_a),
            ("b-scale-up", "b", "ALARM", at_b),
        ]),
    )
    .await;
    assert_eq!(outcomes(&report), [Outcome::Scaled, Outcome::Scaled]);
    assert_eq!(aws.count("DescribeLimits"), 1);
    assert_eq!(report.degraded, [Degradation::HeadroomDenied]);
}

#[tokio::test]
async fn a_throttled_describe_limits_is_headroom_unknown_not_a_failure() {
    let aws = FakeAws::new(t0()).with_shard_limit(100);
    aws.create_stream("orders", 2);
    wire(&aws, "orders", 2);
    aws.inject("DescribeLimits", 0, Fault::Throttle);
    let scaler = scaler(aws, Settings::default());
    let at = fire(&scaler.aws, "orders-scale-up");
    let report = handle(
        &scaler,
        &event(Shape::Sns, "orders-scale-up", "orders", "ALARM", at),
    )
    .await;
    assert_eq!(outcomes(&report), [Outcome::Scaled], "{report:?}");
    assert!(report.succeeded());
    assert_eq!(report.degraded, [Degradation::HeadroomUnavailable]);
}

#[tokio::test]
async fn a_stream_at_the_fifty_tag_limit_still_scales() {
    let scaler = scaler(account(&[("orders", 2)]), Settings::default());
    let aws = &scaler.aws;
    for i in 0..50 {
        aws.seed_stream_tag("orders", &format!("team-tag-{i}"), "x");
    }
    let at = fire(aws, "orders-scale-up");
    let report = handle(
        &scaler,
        &event(Shape::Sns, "orders-scale-up", "orders", "ALARM", at),
    )
    .await;
    assert_eq!(outcomes(&report), [Outcome::Scaled], "{report:?}");
    assert!(report.succeeded(), "{report:?}");
    assert!(report.degraded.contains(&Degradation::HistoryNoRoom));
    assert_eq!(
        aws.count("AddTagsToStream"),
        0,
        "no write that cannot succeed"
    );
    assert_eq!(aws.stream("orders").unwrap().open_shards, 4);
    // The alarms' LastScaledTimestamp is the record: a stale re-delivery is refused.
    aws.set_state("orders-scale-up", "ALARM");
    let report = handle(
        &scaler,
        &event(Shape::Sns, "orders-scale-up", "orders", "ALARM", at),
    )
    .await;
    assert_eq!(report.alarms[0].refusal.as_deref(), Some("stale"));
}

#[tokio::test]
async fn denied_tag_reads_and_writes_degrade_to_what_the_alarm_tags_tell() {
    let mut role: Vec<&str> = UPSTREAM_ROLE_ACTIONS.to_vec();
    role.retain(|a| !a.ends_with("ListTagsForStream") && !a.ends_with("AddTagsToStream"));
    let aws = FakeAws::new(t0()).with_allowed_actions(&role);
    aws.create_stream("orders", 2);
    wire(&aws, "orders", 2);
    let scaler = scaler(aws, Settings::default());
    let at = fire(&scaler.aws, "orders-scale-up");
    let report = handle(
        &scaler,
        &event(Shape::Sns, "orders-scale-up", "orders", "ALARM", at),
    )
    .await;
    assert_eq!(outcomes(&report), [Outcome::Scaled], "{report:?}");
    assert!(report.succeeded(), "{report:?}");
    for expected in [
        Degradation::HeadroomDenied,
        Degradation::StreamTagsUnreadable,
        Degradation::HistoryDenied,
    ] {
        assert!(report.degraded.contains(&expected), "{:?}", report.degraded);
    }
    scaler.aws.set_state("orders-scale-up", "ALARM");
    let report = handle(
        &scaler,
        &event(Shape::Sns, "orders-scale-up", "orders", "ALARM", at),
    )
    .await;
    assert_eq!(report.alarms[0].refusal.as_deref(), Some("stale"));
}

#[tokio::test]
async fn tolerated_settings_are_used_and_reported_on_every_invocation() {
    let vars: HashMap<&str, &str> = [
        ("SCALE_UP_THRESHOLD", "12"),
        ("THROTTLE_RETRY_COUNT", "500"),
        ("SCALE_DOWN_THRESHOLD", "not a number"),
        ("DRY_RUN", "false"),
    ]
    .into();
    let settings = Settings::tolerant_from_lookup(|k| vars.get(k).map(|v| v.to_string()));
    assert!(Settings::from_lookup(|k| vars.get(k).map(|v| v.to_string())).is_err());
    let scaler = scaler(account(&[("orders", 2)]), settings);
    let aws = &scaler.aws;
    for round in 0..2 {
        let at = fire(aws, "orders-scale-up");
        let report = handle(
            &scaler,
            &event(Shape::EventBridge, "orders-scale-up", "orders", "ALARM", at),
        )
        .await;
        assert_eq!(
            outcomes(&report),
            [Outcome::Scaled],
            "round {round}: {report:?}"
        );
        let variables: Vec<&str> = report
            .settings_fallbacks
            .iter()
            .map(|f| f.variable)
            .collect();
        assert_eq!(
            variables,
            [
                "SCALE_UP_THRESHOLD",
                "SCALE_DOWN_THRESHOLD",
                "THROTTLE_RETRY_COUNT"
            ]
        );
        assert_eq!(
            metric_docs(&report.metric_lines, FATAL_ERROR_METRIC).len(),
            1,
            "round {round}: the error metric until it is fixed"
        );
    }
    let up = aws.alarm("orders-scale-up").unwrap();
    assert_eq!(up.spec.threshold, 12.0, "used with its meaning");
    assert_eq!(
        aws.alarm("orders-scale-down").unwrap().spec.threshold,
        0.25,
        "unparsable: the default"
    );
}

#[tokio::test]
async fn a_refusal_is_counted_by_reason_with_its_stream() {
    let scaler = scaler(account(&[("orders", 2)]), Settings::default());
    let aws = &scaler.aws;
    aws.seed_stream_tag("orders", "AutoscalerMaxShards", "2");
    let at = fire(aws, "orders-scale-up");
    let report = handle(
        &scaler,
        &event(Shape::AlarmAction, "orders-scale-up", "orders", "ALARM", at),
    )
    .await;
    assert_eq!(outcomes(&report), [Outcome::Refused]);
    let refused = metric_docs(&report.metric_lines, REFUSED_METRIC);
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0]["Reason"], "at_bound");
    assert_eq!(refused[0]["StreamName"], "orders");
    assert_eq!(
        refused[0]["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
        serde_json::json!([["StreamName", "Reason"], ["StreamName"], ["Reason"]])
    );
    assert!(metric_docs(&report.metric_lines, RESHARDS_METRIC).is_empty());
}

#[tokio::test]
async fn each_event_publishes_the_streams_shard_count_and_budget_left() {
    let scaler = scaler(account(&[("orders", 2)]), Settings::default());
    let aws = &scaler.aws;
    let at = fire(aws, "orders-scale-up");
    let scaled = handle(
        &scaler,
        &event(Shape::Sns, "orders-scale-up", "orders", "ALARM", at),
    )
    .await;
    assert_eq!(outcomes(&scaled), [Outcome::Scaled]);
    let figures = metric_docs(&scaled.metric_lines, SHARD_COUNT_METRIC);
    assert_eq!(figures.len(), 1, "{:?}", scaled.metric_lines);
    assert_eq!(figures[0]["StreamName"], "orders");
    assert_eq!(
        figures[0][SHARD_COUNT_METRIC], 4,
        "the count after the reshard"
    );
    assert_eq!(figures[0][RESHARDS_LEFT_METRIC], 9, "one of ten used");

    // A refusal reports the count it left, and the budget as it stands.
    aws.seed_stream_tag("orders", "AutoscalerMaxShards", "4");
    aws.advance(Duration::minutes(10));
    let at = fire(aws, "orders-scale-up");
    let refused = handle(
        &scaler,
        &event(Shape::Sns, "orders-scale-up", "orders", "ALARM", at),
    )
    .await;
    assert_eq!(outcomes(&refused), [Outcome::Refused]);
    let figures = metric_docs(&refused.metric_lines, SHARD_COUNT_METRIC);
    assert_eq!(figures[0][SHARD_COUNT_METRIC], 4);
    assert_eq!(figures[0][RESHARDS_LEFT_METRIC], 9);
}

/// The Go sample's role as `kinesis_scaling_cf.yaml` writes it: scoped to streams and alarms.
fn upstream_role_policy() -> serde_json::Value {
    serde_json::json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Resource": "arn:aws:cloudwatch:us-east-1:123456789012:alarm:*",
         "Action": ["cloudwatch:DescribeAlarms", "cloudwatch:GetMetricData", "cloudwatch:ListMetrics",
                    "cloudwatch:PutMetricAlarm", "cloudwatch:PutMetricData", "cloudwatch:ListTagsForResource",
                    "cloudwatch:SetAlarmState", "cloudwatch:TagResource"]},
        {"Effect": "Allow", "Resource": "arn:aws:kinesis:us-east-1:123456789012:stream/*",
         "Action": ["kinesis:DescribeStreamSummary", "kinesis:AddTagsToStream",
                    "kinesis:ListTagsForStream", "kinesis:UpdateShardCount"]},
        {"Effect": "Allow", "Resource": "*",
         "Action": ["lambda:PutFunctionConcurrency", "lambda:DeleteFunctionConcurrency"]}
    ]})
}

#[tokio::test]
async fn doctor_lists_per_stream_what_will_differ_or_fail() {
    use kinesis_autoscaler::aws::FunctionConfiguration;
    use kinesis_autoscaler::ops::doctor::{doctor, Severity};
    // The operator's own credentials, not the function's role.
    let aws = FakeAws::new(t0());
    for stream in ["orders", "clicks"] {
        aws.create_stream(stream, 2);
        wire(&aws, stream, 2);
    }
    let role = "arn:aws:iam::123456789012:role/kinesis-scaling-role";
    aws.create_role(role, vec![upstream_role_policy()]);
    let function_arn = "arn:aws:lambda:us-east-1:123456789012:function:kinesis-scaling";
    aws.deploy_function(FunctionConfiguration {
        arn: function_arn.into(),
        role: Some(role.into()),
        environment: [
            ("SCALE_UP_THRESHOLD".to_string(), "0.75".to_string()),
            ("SCALE_DOWN_THRESHOLD".to_string(), "low".to_string()),
        ]
        .into(),
        runtime: Some("provided.al2".into()),
        architectures: vec!["x86_64".into()],
    });
    // clicks was resharded by hand; orders' scale-up alarm also notifies an old topic.
    aws.set_open_shards("clicks", 4);
    let mut up = aws.alarm("orders-scale-up").unwrap().spec;
    up.alarm_actions
        .push("arn:aws:sns:us-east-1:123456789012:old-kinesis-scaling".into());
    aws.seed_alarm(&up);

    let report = doctor(&aws, "kinesis-scaling")
        .await
        .expect("doctor reads the account");

    assert_eq!(report.settings.len(), 1);
    assert_eq!(report.settings[0].variable, "SCALE_DOWN_THRESHOLD");
    assert!(
        report
            .function_findings
            .iter()
            .any(|f| f.what.contains("kinesis:DescribeLimits")),
        "{:?}",
        report.function_findings
    );
    assert_eq!(report.fails(), 0, "the upstream role scales: {report:#?}");
    let stream = |name: &str| {
        report
            .streams
            .iter()
            .find(|s| s.stream == name)
            .unwrap_or_else(|| panic!("{name} in {report:#?}"))
    };
    let orders = stream("orders");
    assert!(
        orders
            .findings
            .iter()
            .any(|f| f.what.contains("notifies 2 targets")),
        "{orders:#?}"
    );
    assert!(
        orders
            .findings
            .iter()
            .any(|f| f.what.contains("kinesis:RemoveTagsFromStream")),
        "{orders:#?}"
    );
    let clicks = stream("clicks");
    assert!(
        clicks
            .findings
            .iter()
            .any(|f| f.severity == Severity::Differs
                && f.what.contains("math for Some(2) -> Some(4) shards")),
        "{clicks:#?}"
    );

    // A role without UpdateShardCount: every stream fails, and says why.
    aws.create_role(
        role,
        vec![serde_json::json!({"Statement": [{"Effect": "Allow", "Action": "cloudwatch:*", "Resource": "*"},
                                              {"Effect": "Allow", "Action": "kinesis:DescribeStreamSummary", "Resource": "*"}]})],
    );
    let report = doctor(&aws, function_arn)
        .await
        .expect("doctor reads the account");
    assert_eq!(report.fails(), 2, "{report:#?}");
    assert!(report.streams[0]
        .findings
        .iter()
        .any(|f| f.severity == Severity::Fails && f.what.contains("kinesis:UpdateShardCount")));
}

#[tokio::test]
async fn wire_writes_the_alarm_action_of_the_chosen_trigger() {
    use kinesis_autoscaler::ops::wiring::{wire_stream, WireOptions, EVENTBRIDGE_TRIGGER};
    let aws = FakeAws::new(t0());
    let function = "arn:aws:lambda:us-east-1:123456789012:function:kinesis-autoscaler";
    for (stream, action, expected) in [
        ("via-topic", topic_arn(), vec![topic_arn()]),
        (
            "via-action",
            function.to_string(),
            vec![function.to_string()],
        ),
        ("via-rule", EVENTBRIDGE_TRIGGER.to_string(), vec![]),
    ] {
        aws.create_stream(stream, 2);
        let options = WireOptions {
            topic_arn: Some(action),
            ..WireOptions::default()
        };
        wire_stream(&aws, &Settings::default(), stream, &options)
            .await
            .unwrap_or_else(|e| panic!("{stream}: {e}"));
        for suffix in ["-scale-up", "-scale-down"] {
            let alarm = aws.alarm(&format!("{stream}{suffix}")).expect("wired");
            assert_eq!(alarm.spec.alarm_actions, expected, "{stream}{suffix}");
        }
    }
    // Without any trigger, wire still refuses to write alarms nothing would hear.
    aws.create_stream("deaf", 2);
    assert!(
        wire_stream(&aws, &Settings::default(), "deaf", &WireOptions::default())
            .await
            .is_err()
    );
}

#[tokio::test]
async fn discovered_consumers_follow_the_shards_within_the_unreserved_floor() {
    // 110 concurrent executions in the account: room for a raise of 10 above AWS's floor of 100.
    let aws = FakeAws::new(t0()).with_concurrency_limit(110);
    aws.create_stream("orders", 2);
    wire(&aws, "orders", 2);
    aws.map_consumer("orders", "orders-enricher", 2);
    aws.map_consumer("orders", "orders-archiver", 1);
    let settings = Settings {
        discover_consumers: true,
        ..Settings::default()
    };
    let scaler = scaler(aws, settings);
    let at = fire(&scaler.aws, "orders-scale-up");
    let report = handle(
        &scaler,
        &event(Shape::Sns, "orders-scale-up", "orders", "ALARM", at),
    )
    .await;

    assert_eq!(outcomes(&report), [Outcome::Scaled], "{report:?}");
    assert!(
        report.succeeded(),
        "a floor is reported, not a failure: {report:?}"
    );
    // 4 shards x ParallelizationFactor 2 = 8 fits (110 - 8 >= 100); the archiver's 4 more
    // would leave 98: left as it is, and said.
    assert_eq!(scaler.aws.reserved_concurrency("orders-enricher"), Some(8));
    assert_eq!(scaler.aws.reserved_concurrency("orders-archiver"), None);
    assert!(report.degraded.contains(&Degradation::ConcurrencyFloor));

    // Off by default: nothing is looked up.
    let scaler2 = self::scaler(account(&[("clicks", 2)]), Settings::default());
    let at = fire(&scaler2.aws, "clicks-scale-up");
    handle(
        &scaler2,
        &event(Shape::Sns, "clicks-scale-up", "clicks", "ALARM", at),
    )
    .await;
    assert_eq!(scaler2.aws.count("ListEventSourceMappings"), 0);
}
