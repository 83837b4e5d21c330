//! The sized policy end to end against the in-process fake: the Lambda's alarm path reads
//! the stream's load and sizes its target, the scheduled evaluation scales a stream with no
//! alarm firing (down after an idle hour, up ahead of a ramp seen on the last two days), and
//! with GetMetricData denied everything falls back to doubling/halving.

use chrono::{DateTime, Duration, Timelike, Utc};
use kinesis_autoscaler::aws::fake::{FakeAws, Fault};
use kinesis_autoscaler::aws::IncomingPoint;
use kinesis_autoscaler::domain::event::{AlarmNotification, AlarmPair, Direction, Invocation};
use kinesis_autoscaler::domain::settings::{tag, ScalingPolicy, Settings};
use kinesis_autoscaler::ops::autoscaler::Autoscaler;
use kinesis_autoscaler::ops::outcome::Outcome;
use kinesis_autoscaler::ops::wiring::{self, WireOptions};

const STREAM: &str = "orders";

/// Midnight UTC, so that times of day read plainly.
fn day0() -> DateTime<Utc> {
    DateTime::from_timestamp(1_799_971_200, 0).expect("a valid time")
}

async fn wired(now: DateTime<Utc>, shards: u32, settings: &Settings) -> Autoscaler<FakeAws> {
    assert_eq!(day0().hour(), 0);
    let aws = FakeAws::new(now);
    aws.create_stream(STREAM, shards);
    wiring::wire_stream(
        &aws,
        settings,
        STREAM,
        &WireOptions {
            topic_arn: Some("arn:aws:sns:us-east-1:123456789012:scaler".into()),
            dry_run: false,
            stream_tags: Default::default(),
        },
    )
    .await
    .expect("wired");
    Autoscaler::new(aws, settings.clone(), "scaler")
}

/// `need(minute)` shards of load per 5-minute period in [from, to), 1 KB records.
fn put_load(aws: &FakeAws, from: DateTime<Utc>, to: DateTime<Utc>, need: impl Fn(i64) -> f64) {
    let mut points = Vec::new();
    let mut at = from;
    while at < to {
        let records = need((at - day0()).num_minutes()) * 1000.0 * 300.0;
        points.push(IncomingPoint {
            start: at,
            bytes: records * 1024.0,
            records,
        });
        at += Duration::minutes(5);
    }
    aws.put_incoming(STREAM, &points);
}

fn shards(a: &Autoscaler<FakeAws>) -> u32 {
    a.aws.stream(STREAM).expect("stream").open_shards
}

fn alarm_shards(a: &Autoscaler<FakeAws>, direction: Direction) -> Option<u32> {
    let name = AlarmPair::new(STREAM).name(direction);
    a.aws.alarm(&name).and_then(|al| al.spec.shard_count())
}

/// The alarm in ALARM, as CloudWatch puts it before notifying, and its event.
fn alarm_event(a: &Autoscaler<FakeAws>, direction: Direction) -> Invocation {
    let name = AlarmPair::new(STREAM).name(direction);
    a.aws.set_state(&name, "ALARM");
    Invocation::Alarms(vec![Ok(AlarmNotification {
        message_id: "m-1".into(),
        topic_arn: Some("arn:aws:sns:us-east-1:123456789012:scaler".into()),
        alarm_name: name.clone(),
        alarm_arn: format!("arn:aws:cloudwatch:us-east-1:123456789012:alarm:{name}"),
        new_state: "ALARM".into(),
        state_change_time: a.aws.now() - Duration::seconds(20),
        stream: STREAM.into(),
    })])
}

#[tokio::test]
async fn a_scale_up_alarm_goes_to_the_measured_need_not_double() {
    let now = day0() + Duration::hours(12);
    let a = wired(now, 4, &Settings::default()).await;
    put_load(
        &a.aws,
        now - Duration::hours(2),
        now - Duration::minutes(10),
        |_| 2.0,
    );
    put_load(&a.aws, now - Duration::minutes(10), now, |_| 3.9);
    let report = a.handle_invocation(alarm_event(&a, Direction::Up)).await;
    assert_eq!(report.alarms[0].outcome, Outcome::Scaled, "{report:?}");
    // 3.9 shards of load at 70%: 6 shards, not 8.
    assert_eq!(shards(&a), 6);
    assert_eq!(alarm_shards(&a, Direction::Up), Some(6));
    assert_eq!(alarm_shards(&a, Direction::Down), Some(6));
}

#[tokio::test]
async fn with_get_metric_data_denied_the_alarms_double_and_halve() {
    let now = day0() + Duration::hours(12);
    let a = wired(now, 4, &Settings::default()).await;
    put_load(&a.aws, now - Duration::hours(2), now, |_| 3.9);
    a.aws
        .inject("GetMetricData", 0, Fault::Refuse("AccessDeniedException"));
    let report = a.handle_invocation(alarm_event(&a, Direction::Up)).await;
    assert_eq!(report.alarms[0].outcome, Outcome::Scaled, "{report:?}");
    assert_eq!(shards(&a), 8);
    // Throttled the same way: the schedule leaves the stream to the alarms.
    a.aws.inject("GetMetricData", 0, Fault::Throttle);
    a.aws.advance(Duration::minutes(10));
    let report = a.handle_invocation(Invocation::Scheduled).await;
    assert!(report.alarms.is_empty(), "{report:?}");
    assert_eq!(shards(&a), 8);
}

#[tokio::test]
async fn the_schedule_sizes_an_idle_stream_down_without_an_alarm() {
    let now = day0() + Duration::hours(12);
    let a = wired(now, 8, &Settings::default()).await;
    put_load(&a.aws, now - Duration::hours(2), now, |_| 1.0);
    let report = a.handle_invocation(Invocation::Scheduled).await;
    let scaled: Vec<_> = report
        .alarms
        .iter()
        .filter(|o| o.outcome == Outcome::Scaled)
        .collect();
    assert_eq!(scaled.len(), 1, "{report:?}");
    assert_eq!(shards(&a), 4);
    assert_eq!(alarm_shards(&a, Direction::Down), Some(4));
    let tags = a.aws.stream(STREAM).expect("stream").tags;
    assert!(tags.contains_key(tag::RESHARD_HISTORY), "{tags:?}");
    // Right after, nothing more: the next halving waits for a measured period at 4.
    let report = a.handle_invocation(Invocation::Scheduled).await;
    assert!(report.alarms.is_empty(), "{report:?}");
}

#[tokio::test]
async fn the_schedule_scales_up_ahead_of_a_ramp_seen_on_the_last_two_days() {
    // 1.5 shards of load at night, 6 from 09:00 to 18:00; day 3 at 08:40 is quiet yet.
    let now = day0() + Duration::days(2) + Duration::minutes(520);
    let a = wired(now, 3, &Settings::default()).await;
    put_load(&a.aws, day0(), now, |minute| {
        if (540..1080).contains(&(minute % 1440)) {
            6.0
        } else {
            1.5
        }
    });
    a.handle_invocation(Invocation::Scheduled).await;
    assert_eq!(
        shards(&a),
        6,
        "pre-scaled for 6 shards of load at 70%, within 2x"
    );
    // With SCALING_POLICY=upstream the schedule does nothing.
    let upstream = Settings {
        scaling_policy: ScalingPolicy::Upstream,
        ..Settings::default()
    };
    let b = wired(now, 3, &upstream).await;
    put_load(&b.aws, day0(), now, |minute| {
        if (540..1080).contains(&(minute % 1440)) {
            6.0
        } else {
            1.5
        }
    });
    b.handle_invocation(Invocation::Scheduled).await;
    assert_eq!(shards(&b), 3);
}

#[tokio::test]
async fn a_scheduled_reshard_that_fails_is_reported_with_the_error_metric() {
    let now = day0() + Duration::hours(12);
    let a = wired(now, 8, &Settings::default()).await;
    put_load(&a.aws, now - Duration::hours(2), now, |_| 1.0);
    a.aws.inject(
        "UpdateShardCount",
        0,
        Fault::Refuse("LimitExceededException"),
    );
    let report = a.handle_invocation(Invocation::Scheduled).await;
    assert_eq!(shards(&a), 8);
    assert!(
        report.alarms.iter().any(|o| o.outcome == Outcome::Failed),
        "{report:?}"
    );
    assert!(
        report
            .metric_lines
            .iter()
            .any(|l| l.contains("FATAL_ERROR_KINESIS_SCALING")),
        "{:?}",
        report.metric_lines
    );
}
