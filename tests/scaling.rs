//! The scaling Lambda's code path against a moto server, through the real AWS SDK.

mod common;

use chrono::Duration;
use common::*;
use kinesis_autoscaler::aws::fake::FakeAws;
use kinesis_autoscaler::aws::AwsPort;
use kinesis_autoscaler::domain::event::{parse_invocation_text, Direction};
use kinesis_autoscaler::domain::history::ReshardHistory;
use kinesis_autoscaler::domain::settings::{tag, Settings};
use kinesis_autoscaler::ops::outcome::Outcome;

async fn scale_up_doubles_rewrites_both_alarms_and_records_the_reshard<A: Account>(aws: A) {
    let settings = Settings::default();
    let stream = unique("up");
    create_stream(&aws, &stream, 2).await;
    let pair = wire(&aws, &settings, &stream, 2).await;
    let autoscaler = autoscaler(&aws, settings);

    let report = handle(
        &autoscaler,
        &alarm_event(&pair.name(Direction::Up), &stream, "ALARM", just_now()),
    )
    .await;

    let outcome = &report.alarms[0];
    assert_eq!(outcome.outcome, Outcome::Scaled, "{outcome:?}");
    assert!(outcome.errors.is_empty(), "{:?}", outcome.errors);
    assert_eq!((outcome.from, outcome.to), (Some(2), Some(4)));
    assert_eq!(open_shards(&aws, &stream).await, 4);
    for direction in [Direction::Up, Direction::Down] {
        let alarm = alarm(&aws, &pair.name(direction)).await;
        assert_eq!(alarm.spec.shard_count(), Some(4), "{direction} alarm math");
        assert_eq!(alarm.state, "INSUFFICIENT_DATA", "{direction} alarm state");
        let tags = alarm_tags(&aws, &pair.name(direction)).await;
        assert_eq!(
            tags.get("ScaleAction").map(String::as_str),
            Some(direction.tag_value())
        );
        assert!(tags.contains_key("LastScaledTimestamp"), "{tags:?}");
    }
    let history = stream_tags(&aws, &stream)
        .await
        .remove(tag::RESHARD_HISTORY)
        .expect("history tag");
    assert_eq!(
        ReshardHistory::parse(&stream, &history)
            .unwrap()
            .times()
            .len(),
        1
    );
    assert!(
        !report
            .metric_lines
            .iter()
            .any(|l| l.contains("FATAL_ERROR_KINESIS_SCALING")),
        "no error metric: {:?}",
        report.metric_lines
    );
    assert!(report.metric_lines.iter().any(|l| l.contains("RESHARDS")));
}

async fn scale_down_halves_rounding_up_then_stops_at_one_shard<A: Account>(aws: A) {
    let settings = Settings::default();
    let stream = unique("down");
    create_stream(&aws, &stream, 3).await;
    let pair = wire(&aws, &settings, &stream, 3).await;
    let autoscaler = autoscaler(&aws, settings);
    let down = pair.name(Direction::Down);

    let first = handle(
        &autoscaler,
        &alarm_event(&down, &stream, "ALARM", just_now()),
    )
    .await;
    assert_eq!(
        (first.alarms[0].from, first.alarms[0].to),
        (Some(3), Some(2))
    );
    a_moment_later().await;
    let second = handle(
        &autoscaler,
        &alarm_event(&down, &stream, "ALARM", just_now()),
    )
    .await;
    assert_eq!(
        (second.alarms[0].from, second.alarms[0].to),
        (Some(2), Some(1)),
        "{:?}",
        second.alarms[0]
    );
    assert_eq!(open_shards(&aws, &stream).await, 1);
    let scale_down = alarm(&aws, &down).await;
    assert_eq!(scale_down.spec.threshold, -1.0, "disarmed at the floor");

    a_moment_later().await;
    let third = handle(
        &autoscaler,
        &alarm_event(&down, &stream, "ALARM", just_now()),
    )
    .await;
    assert_eq!(third.alarms[0].outcome, Outcome::Refused);
    assert!(
        third.alarms[0].reason.contains("minimum"),
        "{}",
        third.alarms[0].reason
    );
    assert_eq!(open_shards(&aws, &stream).await, 1);
}

async fn duplicates_are_unconfirmed_and_cloudwatchs_time_decides<A: Account>(aws: A) {
    let settings = Settings::default();
    let stream = unique("dup");
    create_stream(&aws, &stream, 1).await;
    let pair = wire(&aws, &settings, &stream, 1).await;
    let autoscaler = autoscaler(&aws, settings);
    let event = alarm_event(&pair.name(Direction::Up), &stream, "ALARM", just_now());

    let first = handle(&autoscaler, &event).await;
    // The same notification delivered again: the reshard reset the alarm, so CloudWatch no
    // longer backs it.
    let again = autoscaler
        .handle_invocation(parse_invocation_text(&event).expect("a parsable event"))
        .await;

    assert_eq!(first.alarms[0].outcome, Outcome::Scaled);
    assert_eq!(
        again.alarms[0].refusal.as_deref(),
        Some("unconfirmed"),
        "{:?}",
        again.alarms[0]
    );
    assert_eq!(open_shards(&aws, &stream).await, 2);
    assert_eq!(
        alarm(&aws, &pair.name(Direction::Up)).await.state,
        "INSUFFICIENT_DATA"
    );

    // The alarm fires again after the reshard: a message claiming an old state change does
    // not make it stale, CloudWatch's own time decides.
    a_moment_later().await;
    let old = handle(
        &autoscaler,
        &alarm_event(
            &pair.name(Direction::Up),
            &stream,
            "ALARM",
            just_now() - Duration::hours(1),
        ),
    )
    .await;
    assert_eq!(
        old.alarms[0].outcome,
        Outcome::Scaled,
        "{:?}",
        old.alarms[0]
    );
    assert_eq!(open_shards(&aws, &stream).await, 4);
}

async fn dry_run_plans_and_changes_nothing<A: Account>(aws: A) {
    let settings = Settings::default();
    let stream = unique("dry");
    create_stream(&aws, &stream, 2).await;
    let pair = wire(&aws, &settings, &stream, 2).await;
    fire(&aws, &pair.name(Direction::Up)).await;
    let before = alarm(&aws, &pair.name(Direction::Up)).await;
    let autoscaler = autoscaler(
        &aws,
        Settings {
            dry_run: true,
            ..settings
        },
    );

    let report = handle(
        &autoscaler,
        &alarm_event(&pair.name(Direction::Up), &stream, "ALARM", just_now()),
    )
    .await;

    let outcome = &report.alarms[0];
    assert_eq!(outcome.outcome, Outcome::DryRun);
    assert_eq!(outcome.to, Some(4));
    assert!(outcome.decision.is_some(), "the full plan is reported");
    assert_eq!(open_shards(&aws, &stream).await, 2);
    let after = alarm(&aws, &pair.name(Direction::Up)).await;
    assert_eq!((after.spec, after.state), (before.spec, before.state));
    assert!(!stream_tags(&aws, &stream)
        .await
        .contains_key(tag::RESHARD_HISTORY));
}

async fn a_malformed_record_changes_nothing_and_the_others_are_handled<A: Account>(aws: A) {
    let settings = Settings::default();
    let stream = unique("bad");
    create_stream(&aws, &stream, 1).await;
    let pair = wire(&aws, &settings, &stream, 1).await;
    let before = alarm(&aws, &pair.name(Direction::Up)).await;
    let autoscaler = autoscaler(&aws, settings);
    let mut no_stream = alarm_message(&pair.name(Direction::Up), &stream, "ALARM", just_now());
    no_stream["Trigger"]["Metrics"] = serde_json::json!([]);
    let event = sns_event(&[serde_json::Value::String("{not json".into()), no_stream]);

    let report = handle(&autoscaler, &event).await;

    assert_eq!(report.alarms.len(), 2);
    assert!(
        report.alarms.iter().all(|a| a.outcome == Outcome::Invalid),
        "{:?}",
        report.alarms
    );
    assert!(
        report.alarms[1].reason.contains(&pair.name(Direction::Up)),
        "{}",
        report.alarms[1].reason
    );
    assert!(!report.succeeded());
    assert_eq!(
        error_metrics(&report),
        2,
        "one error metric per failed record"
    );
    assert_eq!(open_shards(&aws, &stream).await, 1);
    assert_eq!(
        alarm(&aws, &pair.name(Direction::Up)).await,
        before,
        "the alarm is left as it was"
    );
}

async fn on_demand_streams_are_left_alone<A: Account>(aws: A) {
    let stream = unique("ondemand");
    create_on_demand_stream(&aws, &stream).await;
    let before = open_shards(&aws, &stream).await;
    // Alarms that fire exist (AWS refuses to list the tags of one that does not).
    wire(&aws, &Settings::default(), &stream, before).await;
    let autoscaler = autoscaler(&aws, Settings::default());

    let report = handle(
        &autoscaler,
        &alarm_event(&format!("{stream}-scale-up"), &stream, "ALARM", just_now()),
    )
    .await;

    assert_eq!(
        report.alarms[0].outcome,
        Outcome::Refused,
        "{:?}",
        report.alarms[0]
    );
    assert!(report.alarms[0].reason.contains("ON_DEMAND"));
    assert_eq!(open_shards(&aws, &stream).await, before);
}

async fn ok_notifications_and_foreign_alarms_are_ignored<A: Account>(aws: A) {
    let stream = unique("ignored");
    create_stream(&aws, &stream, 1).await;
    let autoscaler = autoscaler(&aws, Settings::default());
    let event = sns_event(&[
        alarm_message(&format!("{stream}-scale-up"), &stream, "OK", just_now()),
        alarm_message(&format!("{stream}-latency"), &stream, "ALARM", just_now()),
    ]);

    let report = handle(&autoscaler, &event).await;

    assert!(
        report.alarms.iter().all(|a| a.outcome == Outcome::Ignored),
        "{:?}",
        report.alarms
    );
    assert!(report.succeeded());
    assert_eq!(open_shards(&aws, &stream).await, 1);
}

async fn the_daily_limit_refuses_an_eleventh_reshard_and_resets_the_alarm<A: Account>(aws: A) {
    let settings = Settings::default();
    let stream = unique("budget");
    create_stream(&aws, &stream, 4).await;
    let pair = wire(&aws, &settings, &stream, 4).await;
    let now = just_now();
    let full = ReshardHistory::new(
        (1..=10)
            .map(|i| now - Duration::hours(20) + Duration::minutes(i))
            .collect(),
    );
    tag_stream(&aws, &stream, tag::RESHARD_HISTORY, &full.encode()).await;
    let eight = ReshardHistory::new(full.times()[2..].to_vec());
    let autoscaler = autoscaler(&aws, settings);

    let up = handle(
        &autoscaler,
        &alarm_event(&pair.name(Direction::Up), &stream, "ALARM", just_now()),
    )
    .await;
    assert_eq!(up.alarms[0].outcome, Outcome::Refused, "{:?}", up.alarms[0]);
    assert!(
        up.alarms[0].reason.contains("10 of 10"),
        "{}",
        up.alarms[0].reason
    );
    assert_eq!(alarm(&aws, &pair.name(Direction::Up)).await.state, "OK");

    // With 8 used, a scale-down would eat into the 2 kept for scale-ups.
    tag_stream(&aws, &stream, tag::RESHARD_HISTORY, &eight.encode()).await;
    let down = handle(
        &autoscaler,
        &alarm_event(&pair.name(Direction::Down), &stream, "ALARM", just_now()),
    )
    .await;
    assert_eq!(down.alarms[0].outcome, Outcome::Refused);
    assert!(
        down.alarms[0].reason.contains("kept for scale-ups"),
        "{}",
        down.alarms[0].reason
    );
    assert_eq!(open_shards(&aws, &stream).await, 4);
}

async fn per_stream_bounds_come_from_stream_tags<A: Account>(aws: A) {
    let settings = Settings::default();
    let stream = unique("bounded");
    create_stream(&aws, &stream, 4).await;
    tag_stream(&aws, &stream, tag::MAX_SHARDS, "6").await;
    let pair = wire(&aws, &settings, &stream, 4).await;
    let autoscaler = autoscaler(&aws, settings);

    let report = handle(
        &autoscaler,
        &alarm_event(&pair.name(Direction::Up), &stream, "ALARM", just_now()),
    )
    .await;

    assert_eq!(report.alarms[0].to, Some(6));
    assert_eq!(open_shards(&aws, &stream).await, 6);
    assert!(
        alarm(&aws, &pair.name(Direction::Up))
            .await
            .spec
            .is_disarmed(),
        "scale-up disarmed at the maximum"
    );
}

async fn a_corrupted_tag_stops_the_event_with_a_clear_message<A: Account>(aws: A) {
    let settings = Settings::default();
    let stream = unique("corrupt");
    create_stream(&aws, &stream, 2).await;
    tag_stream(&aws, &stream, tag::RESHARD_HISTORY, "last tuesday").await;
    let pair = wire(&aws, &settings, &stream, 2).await;
    let autoscaler = autoscaler(&aws, settings);

    let report = handle(
        &autoscaler,
        &alarm_event(&pair.name(Direction::Up), &stream, "ALARM", just_now()),
    )
    .await;

    let outcome = &report.alarms[0];
    assert_eq!(outcome.outcome, Outcome::Failed);
    assert!(
        outcome.reason.contains(&stream) && outcome.reason.contains("AutoscalerReshardHistory"),
        "{}",
        outcome.reason
    );
    assert_eq!(error_metrics(&report), 1);
    assert_eq!(open_shards(&aws, &stream).await, 2);
    assert_eq!(
        alarm(&aws, &pair.name(Direction::Up))
            .await
            .spec
            .shard_count(),
        Some(2)
    );
}

async fn the_rewrite_keeps_what_it_does_not_own<A: Account>(aws: A) {
    let settings = Settings::default();
    let stream = unique("keep");
    create_stream(&aws, &stream, 1).await;
    let pair = wire(&aws, &settings, &stream, 1).await;
    let up_name = pair.name(Direction::Up);
    let mut custom = alarm(&aws, &up_name).await.spec;
    custom.description = Some("orders: page the data team".into());
    custom.ok_actions = vec![format!("arn:aws:sns:{REGION}:{ACCOUNT}:ok-topic")];
    custom
        .alarm_actions
        .push(format!("arn:aws:sns:{REGION}:{ACCOUNT}:pager"));
    custom.insufficient_data_actions = vec![format!("arn:aws:sns:{REGION}:{ACCOUNT}:nodata")];
    aws.put_alarm(&custom, &[]).await.unwrap();
    aws.tag_alarm(&alarm_arn(&up_name), &[("team".into(), "data".into())])
        .await
        .unwrap();
    let autoscaler = autoscaler(&aws, settings);

    let report = handle(
        &autoscaler,
        &alarm_event(&up_name, &stream, "ALARM", just_now()),
    )
    .await;

    assert_eq!(
        report.alarms[0].outcome,
        Outcome::Scaled,
        "{:?}",
        report.alarms[0]
    );
    let after = alarm(&aws, &up_name).await.spec;
    assert_eq!(after.shard_count(), Some(2));
    assert_eq!(after.description, custom.description);
    assert_eq!(after.ok_actions, custom.ok_actions);
    assert_eq!(after.alarm_actions, custom.alarm_actions);
    assert_eq!(
        after.insufficient_data_actions,
        custom.insufficient_data_actions
    );
    assert_eq!(
        alarm_tags(&aws, &up_name)
            .await
            .get("team")
            .map(String::as_str),
        Some("data")
    );
}

async fn the_streams_consumer_gets_shards_times_lambdas_per_shard<A: Account>(aws: A) {
    let settings = Settings::default();
    let stream = unique("consumed");
    let consumer = unique("consumer");
    create_consumer_function(&aws, &consumer).await;
    create_stream(&aws, &stream, 2).await;
    tag_stream(&aws, &stream, tag::CONSUMER_FUNCTION, &consumer).await;
    tag_stream(&aws, &stream, tag::LAMBDAS_PER_SHARD, "3").await;
    let pair = wire(&aws, &settings, &stream, 2).await;
    let autoscaler = autoscaler(&aws, settings);

    let report = handle(
        &autoscaler,
        &alarm_event(&pair.name(Direction::Up), &stream, "ALARM", just_now()),
    )
    .await;

    assert_eq!(
        report.alarms[0].outcome,
        Outcome::Scaled,
        "{:?}",
        report.alarms[0]
    );
    assert!(
        report.alarms[0].errors.is_empty(),
        "{:?}",
        report.alarms[0].errors
    );
    let reserved = aws.function_concurrency(&consumer).await.unwrap();
    assert_eq!(reserved, Some(12));
}

async fn a_failed_consumer_update_is_reported_and_deletes_nothing<A: Account>(aws: A) {
    let stream = unique("noconsumer");
    create_stream(&aws, &stream, 1).await;
    let settings = Settings {
        processing_lambda: Some(format!(
            "arn:aws:lambda:{REGION}:{ACCOUNT}:function:{}",
            unique("missing")
        )),
        ..Settings::default()
    };
    let pair = wire(&aws, &settings, &stream, 1).await;
    let autoscaler = autoscaler(&aws, settings);

    let report = handle(
        &autoscaler,
        &alarm_event(&pair.name(Direction::Up), &stream, "ALARM", just_now()),
    )
    .await;

    let outcome = &report.alarms[0];
    assert_eq!(
        outcome.outcome,
        Outcome::Scaled,
        "the reshard itself happened"
    );
    assert!(
        outcome
            .errors
            .iter()
            .any(|e| e.contains("PutFunctionConcurrency")),
        "{:?}",
        outcome.errors
    );
    assert!(
        !outcome
            .errors
            .iter()
            .any(|e| e.contains("DeleteFunctionConcurrency")),
        "no fallback deletes the consumer's reservation: {:?}",
        outcome.errors
    );
    assert!(!report.succeeded());
    let errors: Vec<_> = report
        .metric_lines
        .iter()
        .filter(|l| l.contains("FATAL_ERROR_KINESIS_SCALING"))
        .collect();
    assert_eq!(errors.len(), 1, "{:?}", report.metric_lines);
    assert_eq!(open_shards(&aws, &stream).await, 2);
}

crate::on_both_accounts!(
    scale_up_doubles_rewrites_both_alarms_and_records_the_reshard,
    scale_down_halves_rounding_up_then_stops_at_one_shard,
    duplicates_are_unconfirmed_and_cloudwatchs_time_decides,
    dry_run_plans_and_changes_nothing,
    a_malformed_record_changes_nothing_and_the_others_are_handled,
    on_demand_streams_are_left_alone,
    ok_notifications_and_foreign_alarms_are_ignored,
    the_daily_limit_refuses_an_eleventh_reshard_and_resets_the_alarm,
    per_stream_bounds_come_from_stream_tags,
    a_corrupted_tag_stops_the_event_with_a_clear_message,
    the_rewrite_keeps_what_it_does_not_own,
    the_streams_consumer_gets_shards_times_lambdas_per_shard,
    a_failed_consumer_update_is_reported_and_deletes_nothing,
);

// ---- rules only the in-process account plays ------------------------------------------------

/// An ALARM event for `alarm`, a second after it fired on `aws`'s clock.
fn fired(aws: &FakeAws, alarm: &str, stream: &str) -> String {
    aws.set_state(alarm, "ALARM");
    let event = alarm_event(alarm, stream, "ALARM", aws.now());
    aws.advance(Duration::seconds(1));
    event
}

fn t0() -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp(1_800_000_000, 0).expect("a valid time")
}

#[tokio::test]
async fn the_accounts_shard_limit_caps_a_scale_up_then_refuses_it() {
    let aws = FakeAws::new(t0()).with_shard_limit(10);
    let settings = Settings::default();
    aws.create_stream("orders", 4);
    aws.create_stream("other", 4);
    let pair = wire(&aws, &settings, "orders", 4).await;
    let autoscaler = autoscaler(&aws, settings);
    let up = pair.name(Direction::Up);

    let capped = handle(&autoscaler, &fired(&aws, &up, "orders")).await;
    assert_eq!(
        (capped.alarms[0].outcome, capped.alarms[0].to),
        (Outcome::Scaled, Some(6)),
        "{:?}",
        capped.alarms[0]
    );
    assert_eq!(open_shards(&aws, "orders").await, 6);

    aws.advance(Duration::minutes(10));
    let refused = handle(&autoscaler, &fired(&aws, &up, "orders")).await;
    let outcome = &refused.alarms[0];
    assert_eq!(outcome.outcome, Outcome::Refused, "{outcome:?}");
    assert_eq!(open_shards(&aws, "orders").await, 6);
    assert_eq!(alarm(&aws, &up).await.state, "OK", "fires again later");
    assert_eq!(
        error_metrics(&refused),
        1,
        "the account's limit needs a person"
    );
}

#[tokio::test]
async fn aws_daily_limit_still_refuses_when_the_history_was_lost() {
    let aws = FakeAws::new(t0());
    let settings = Settings::default();
    aws.create_stream("orders", 1);
    // Ten reshards today that left no history (by hand, or the tag was deleted).
    for i in 0..10 {
        aws.update_shard_count("orders", if i % 2 == 0 { 2 } else { 1 })
            .await
            .expect("within AWS's 10 a day");
        aws.advance(Duration::minutes(5));
    }
    let pair = wire(&aws, &settings, "orders", 1).await;
    let autoscaler = autoscaler(&aws, settings);
    let up = pair.name(Direction::Up);

    let report = handle(&autoscaler, &fired(&aws, &up, "orders")).await;

    let outcome = &report.alarms[0];
    assert_eq!(outcome.outcome, Outcome::Failed, "{outcome:?}");
    assert!(
        outcome.reason.contains("LimitExceededException"),
        "{}",
        outcome.reason
    );
    assert_eq!(error_metrics(&report), 1);
    assert_eq!(open_shards(&aws, "orders").await, 1);
    assert!(
        !stream_tags(&aws, "orders")
            .await
            .contains_key(tag::RESHARD_HISTORY),
        "a sure refusal takes our record back"
    );
    assert_eq!(alarm(&aws, &up).await.state, "OK", "fires again later");
}
