//! `reconcile` against moto: drift is found, fixed once, and what is right is left alone.

mod common;

use chrono::{Duration, Utc};
use common::*;
use kinesis_autoscaler::aws::AwsPort;
use kinesis_autoscaler::domain::event::{Direction, Invocation};
use kinesis_autoscaler::domain::settings::{tag, Settings};
use kinesis_autoscaler::ops::fleet::reconcile;
use kinesis_autoscaler::ops::reconcile::{FixKind, StreamVerdict};

async fn reshard_by_hand(aws: &impl AwsPort, stream: &str, to: u32) {
    aws.update_shard_count(stream, to)
        .await
        .expect("UpdateShardCount");
}

async fn a_reshard_by_hand_is_healed_once_and_then_left_alone<A: Account>(aws: A) {
    let settings = Settings::default();
    let stream = unique("drift");
    create_stream(&aws, &stream, 2).await;
    let pair = wire(&aws, &settings, &stream, 2).await;
    reshard_by_hand(&aws, &stream, 4).await;

    let dry = reconcile(
        &aws,
        &settings,
        std::slice::from_ref(&stream),
        true,
        Utc::now(),
    )
    .await
    .unwrap();
    assert_eq!(dry.streams[0].verdict, StreamVerdict::Drifted);
    assert_eq!(
        alarm(&aws, &pair.name(Direction::Up))
            .await
            .spec
            .shard_count(),
        Some(2),
        "dry run changes nothing"
    );

    let fixed = reconcile(
        &aws,
        &settings,
        std::slice::from_ref(&stream),
        false,
        Utc::now(),
    )
    .await
    .unwrap();
    let kinds: Vec<FixKind> = fixed.streams[0].fixes.iter().map(|f| f.kind).collect();
    assert_eq!(
        kinds,
        [FixKind::AlarmDefinition, FixKind::AlarmDefinition],
        "{:?}",
        fixed.streams[0]
    );
    for direction in [Direction::Up, Direction::Down] {
        let alarm = alarm(&aws, &pair.name(direction)).await;
        assert_eq!(alarm.spec.shard_count(), Some(4));
        assert_eq!(alarm.state, "INSUFFICIENT_DATA");
    }

    let again = reconcile(
        &aws,
        &settings,
        std::slice::from_ref(&stream),
        false,
        Utc::now(),
    )
    .await
    .unwrap();
    assert_eq!(
        again.streams[0].verdict,
        StreamVerdict::InLine,
        "{:?}",
        again.streams[0]
    );
    assert!(again.streams[0].fixes.is_empty());
}

async fn a_missing_alarm_and_consumer_concurrency_are_restored<A: Account>(aws: A) {
    let settings = Settings::default();
    let stream = unique("heal");
    let consumer = unique("heal-consumer");
    create_consumer_function(&aws, &consumer).await;
    create_stream(&aws, &stream, 2).await;
    tag_stream(&aws, &stream, tag::CONSUMER_FUNCTION, &consumer).await;
    let pair = wire(&aws, &settings, &stream, 2).await;
    aws.delete_alarms(&[pair.name(Direction::Down)])
        .await
        .unwrap();

    let report = reconcile(
        &aws,
        &settings,
        std::slice::from_ref(&stream),
        false,
        Utc::now(),
    )
    .await
    .unwrap();

    let kinds: Vec<FixKind> = report.streams[0].fixes.iter().map(|f| f.kind).collect();
    assert!(kinds.contains(&FixKind::AlarmCreated), "{kinds:?}");
    assert!(kinds.contains(&FixKind::ConsumerConcurrency), "{kinds:?}");
    let down = alarm(&aws, &pair.name(Direction::Down)).await;
    assert_eq!(down.spec.shard_count(), Some(2));
    assert_eq!(
        down.spec.alarm_actions,
        [topic_arn()],
        "publishes where its partner does"
    );
    assert_eq!(aws.function_concurrency(&consumer).await.unwrap(), Some(2));
}

async fn an_alarm_stuck_in_alarm_is_reset_so_it_can_fire_again<A: Account>(aws: A) {
    let settings = Settings::default();
    let stream = unique("stuck");
    create_stream(&aws, &stream, 2).await;
    let pair = wire(&aws, &settings, &stream, 2).await;
    let up = pair.name(Direction::Up);
    aws.set_alarm_state(&up, "ALARM", "test: the event was lost")
        .await
        .unwrap();

    let soon = reconcile(
        &aws,
        &settings,
        std::slice::from_ref(&stream),
        false,
        Utc::now(),
    )
    .await
    .unwrap();
    assert!(
        soon.streams[0].fixes.is_empty(),
        "an event may still be on its way: {:?}",
        soon.streams[0]
    );
    assert_eq!(alarm(&aws, &up).await.state, "ALARM");

    let later = reconcile(
        &aws,
        &settings,
        std::slice::from_ref(&stream),
        false,
        Utc::now() + Duration::hours(1),
    )
    .await
    .unwrap();
    assert_eq!(later.streams[0].fixes[0].kind, FixKind::StuckAlarm);
    assert_eq!(alarm(&aws, &up).await.state, "OK");
}

async fn deleted_and_on_demand_streams_are_reported_not_touched<A: Account>(aws: A) {
    let settings = Settings::default();
    let stream = unique("gone");
    create_stream(&aws, &stream, 1).await;
    let pair = wire(&aws, &settings, &stream, 1).await;
    delete_stream(&aws, &stream).await;

    let report = reconcile(
        &aws,
        &settings,
        std::slice::from_ref(&stream),
        false,
        Utc::now(),
    )
    .await
    .unwrap();

    assert_eq!(report.streams[0].verdict, StreamVerdict::Ignored);
    assert!(report.streams[0]
        .note
        .as_deref()
        .unwrap_or("")
        .contains("no longer exists"));
    assert_eq!(
        alarm(&aws, &pair.name(Direction::Up))
            .await
            .spec
            .shard_count(),
        Some(1)
    );
}

async fn the_scheduled_lambda_event_runs_reconcile<A: Account>(aws: A) {
    let settings = Settings::default();
    let stream = unique("scheduled");
    create_stream(&aws, &stream, 1).await;
    wire(&aws, &settings, &stream, 1).await;
    reshard_by_hand(&aws, &stream, 2).await;
    // Dry run: the schedule sees every managed stream in this shared emulator, including
    // other tests' streams in mid-flight, so it must not change them.
    let autoscaler = autoscaler(
        &aws,
        Settings {
            dry_run: true,
            ..settings
        },
    );

    let report = autoscaler.handle_invocation(Invocation::Scheduled).await;

    let reconciled = report.reconcile.as_ref().expect("a reconcile report");
    let ours = reconciled
        .streams
        .iter()
        .find(|s| s.stream == stream)
        .expect("our stream was found");
    assert_eq!(ours.verdict, StreamVerdict::Drifted);
    assert!(report
        .metric_lines
        .iter()
        .any(|l| l.contains("DRIFT_FIXED")));
}

crate::on_both_accounts!(
    a_reshard_by_hand_is_healed_once_and_then_left_alone,
    a_missing_alarm_and_consumer_concurrency_are_restored,
    an_alarm_stuck_in_alarm_is_reset_so_it_can_fire_again,
    deleted_and_on_demand_streams_are_reported_not_touched,
    the_scheduled_lambda_event_runs_reconcile,
);
