//! The identity rule (`domain::confirm`): an alarm event acts on stream S only if the alarm
//! DescribeAlarms returns is in ALARM, watches S in its own metrics, is named as S's scale-up
//! or scale-down alarm, and S is managed. A real alarm cannot be pointed at another stream by
//! a message; a message's topic never becomes an alarm action; a forged message mints no
//! metric. Each scenario runs in process and against moto; the property test runs on the fake.

mod common;
mod dropin_support;

use chrono::{DateTime, Duration, Utc};
use common::*;
use dropin_support::SHAPES;
use kinesis_autoscaler::aws::fake::FakeAws;
use kinesis_autoscaler::aws::AwsPort;
use kinesis_autoscaler::domain::alarms::{self, AlarmSpec, AlarmTarget, KeptFields};
use kinesis_autoscaler::domain::event::{parse_invocation_text, AlarmPair, Direction};
use kinesis_autoscaler::domain::settings::Settings;
use kinesis_autoscaler::ops::autoscaler::Autoscaler;
use kinesis_autoscaler::ops::outcome::{InvocationReport, Outcome};
use proptest::prelude::*;

/// Handles `event` as delivered: CloudWatch's side is left as the test set it.
async fn deliver<A: AwsPort>(autoscaler: &Autoscaler<A>, event: &str) -> InvocationReport {
    autoscaler
        .handle_invocation(parse_invocation_text(event).expect("a parsable event"))
        .await
}

/// Every alarm of `streams`' pairs: definition and state.
async fn alarms_of(aws: &impl AwsPort, streams: &[&str]) -> Vec<(AlarmSpec, String)> {
    let mut all = Vec::new();
    for stream in streams {
        for direction in [Direction::Up, Direction::Down] {
            let found = alarm(aws, &AlarmPair::new(*stream).name(direction)).await;
            all.push((found.spec, found.state));
        }
    }
    all
}

/// An alarm named `name` (a scaling alarm's name) whose metrics watch `stream`.
fn alarm_on(name: &str, stream: &str, shards: u32) -> AlarmSpec {
    let (pair, direction) = AlarmPair::from_alarm_name(name).expect("a scaling alarm name");
    let target = AlarmTarget {
        pair: &pair,
        stream,
        shards,
        min_shards: 1,
        max_shards: 10_000,
    };
    let topic = topic_arn();
    alarms::build(
        direction,
        &Settings::default(),
        &target,
        Some(&topic),
        &KeptFields::default(),
    )
}

async fn a_real_alarm_moves_only_the_stream_it_watches<A: Account>(aws: A) {
    let settings = Settings::default();
    let decoy = unique("decoy");
    let victim = unique("victim");
    for stream in [&decoy, &victim] {
        create_stream(&aws, stream, 2).await;
        wire(&aws, &settings, stream, 2).await;
    }
    // A real alarm in ALARM, named for another stream but watching the victim.
    let misnamed = format!("{}-scale-up", unique("other"));
    aws.put_alarm(&alarm_on(&misnamed, &victim, 2), &[])
        .await
        .expect("PutMetricAlarm");
    let decoy_up = format!("{decoy}-scale-up");
    fire(&aws, &decoy_up).await;
    fire(&aws, &misnamed).await;
    let before = alarms_of(&aws, &[&decoy, &victim]).await;
    let misnamed_before = alarm(&aws, &misnamed).await;
    let autoscaler = autoscaler(&aws, settings);

    for shape in SHAPES {
        for (named, key) in [
            (&decoy_up, "alarm_does_not_watch_stream"),
            (&misnamed, "alarm_not_of_stream"),
        ] {
            let event = dropin_support::event(shape, named, &victim, "ALARM", just_now());
            let report = deliver(&autoscaler, &event).await;
            let outcome = &report.alarms[0];
            assert_eq!(outcome.outcome, Outcome::Refused, "{shape:?}: {outcome:?}");
            assert_eq!(outcome.refusal.as_deref(), Some(key), "{shape:?}");
            assert!(outcome.reason.contains(&victim), "{}", outcome.reason);
            assert!(
                !report.metric_lines.iter().any(|l| l.contains(&victim)),
                "{shape:?}: no metric for a stream CloudWatch did not confirm"
            );
        }
    }
    assert_eq!(open_shards(&aws, &victim).await, 2, "victim not resharded");
    assert_eq!(open_shards(&aws, &decoy).await, 2, "decoy not resharded");
    assert_eq!(
        alarms_of(&aws, &[&decoy, &victim]).await,
        before,
        "no alarm rewritten, none reset"
    );
    let misnamed_after = alarm(&aws, &misnamed).await;
    assert_eq!(
        (misnamed_after.spec, misnamed_after.state),
        (misnamed_before.spec, misnamed_before.state)
    );
}

async fn a_rewrite_keeps_the_alarms_own_actions_not_the_messages_topic<A: Account>(aws: A) {
    let settings = Settings::default();
    let stream = unique("topic");
    create_stream(&aws, &stream, 2).await;
    let pair = wire(&aws, &settings, &stream, 2).await;
    let autoscaler = autoscaler(&aws, settings);
    let mut event: serde_json::Value = serde_json::from_str(&alarm_event(
        &pair.name(Direction::Up),
        &stream,
        "ALARM",
        just_now(),
    ))
    .expect("JSON");
    let elsewhere = format!("arn:aws:sns:{REGION}:{ACCOUNT}:someone-elses-topic");
    event["Records"][0]["Sns"]["TopicArn"] = elsewhere.clone().into();

    let report = handle(&autoscaler, &event.to_string()).await;

    assert_eq!(report.alarms[0].outcome, Outcome::Scaled, "{report:?}");
    assert_eq!(open_shards(&aws, &stream).await, 4);
    for direction in [Direction::Up, Direction::Down] {
        let rewritten = alarm(&aws, &pair.name(direction)).await.spec;
        assert_eq!(rewritten.shard_count(), Some(4));
        assert_eq!(
            rewritten.alarm_actions,
            [topic_arn()],
            "{direction}: its own actions, not {elsewhere}"
        );
    }
}

async fn a_forged_event_changes_nothing_and_mints_no_metric<A: Account>(aws: A) {
    let settings = Settings::default();
    let quiet = unique("quiet");
    create_stream(&aws, &quiet, 2).await;
    let pair = wire(&aws, &settings, &quiet, 2).await;
    let autoscaler = autoscaler(&aws, settings);
    let made_up = unique("made-up-name");
    for shape in SHAPES {
        // A stream and alarm that do not exist, then a real alarm that is not in ALARM.
        for (alarm_name, stream) in [
            (format!("{made_up}-scale-up"), made_up.clone()),
            (pair.name(Direction::Up), quiet.clone()),
        ] {
            let event = dropin_support::event(shape, &alarm_name, &stream, "ALARM", just_now());
            let report = deliver(&autoscaler, &event).await;
            assert_eq!(report.alarms[0].refusal.as_deref(), Some("unconfirmed"));
            assert!(
                !report.metric_lines.iter().any(|l| l.contains(&stream)),
                "{shape:?}: {:?}",
                report.metric_lines
            );
        }
    }
    assert_eq!(open_shards(&aws, &quiet).await, 2);
}

crate::on_both_accounts!(
    a_real_alarm_moves_only_the_stream_it_watches,
    a_rewrite_keeps_the_alarms_own_actions_not_the_messages_topic,
    a_forged_event_changes_nothing_and_mints_no_metric,
);

// ---- the property, on the in-process account -------------------------------------------------

const STREAMS: [&str; 3] = ["a", "b", "app-c"];
const SHARDS: u32 = 4;

/// The alarms of the world beside the wired pairs: `a-scale-down` re-pointed at `b` by hand,
/// and `rogue-scale-up` watching `b`.
const MISWIRED: [(&str, &str); 2] = [("a-scale-down", "b"), ("rogue-scale-up", "b")];

fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000, 0).expect("a valid time")
}

/// Three wired streams, two miswired alarms, each alarm in the state `states` gives it.
async fn world(states: &[&str]) -> FakeAws {
    let aws = FakeAws::new(t0());
    for stream in STREAMS {
        aws.create_stream(stream, SHARDS);
        wire(&aws, &Settings::default(), stream, SHARDS).await;
    }
    for (name, watches) in MISWIRED {
        aws.put_alarm(&alarm_on(name, watches, SHARDS), &[])
            .await
            .expect("PutMetricAlarm");
    }
    for (name, state) in aws.alarm_names().iter().zip(states.iter().cycle()) {
        aws.set_state(name, state);
    }
    aws.advance(Duration::minutes(1));
    aws
}

/// The rule restated from the world's set-up: the stream the event may move, if any.
fn may_move(aws: &FakeAws, alarm_name: &str, stream: &str, settings: &Settings) -> Option<String> {
    let alarm = aws.alarm(alarm_name)?;
    let (pair, _) = AlarmPair::from_alarm_name(alarm_name)?;
    let watches = alarm.spec.watched_streams();
    (alarm.state == "ALARM"
        && pair.prefix == stream
        && !watches.is_empty()
        && watches.iter().all(|w| *w == stream)
        && stream.starts_with(&settings.managed_stream_prefix))
    .then(|| stream.to_string())
}

type Snapshot = Vec<(String, Option<u32>, Vec<Option<(AlarmSpec, String)>>)>;

/// Each stream (and `rogue`): its shard count and its alarms by name.
fn snapshot(aws: &FakeAws) -> Snapshot {
    STREAMS
        .iter()
        .chain(["rogue"].iter())
        .map(|stream| {
            let pair = AlarmPair::new(*stream);
            let alarms = [Direction::Up, Direction::Down]
                .iter()
                .map(|d| aws.alarm(&pair.name(*d)).map(|a| (a.spec, a.state)))
                .collect();
            (
                stream.to_string(),
                aws.stream(stream).map(|s| s.open_shards),
                alarms,
            )
        })
        .collect()
}

fn check(
    shape: usize,
    alarm_name: &str,
    stream: &str,
    state: &str,
    states: &[&str],
    prefix: &str,
) -> Result<(), TestCaseError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let aws = world(states).await;
        let settings = Settings {
            managed_stream_prefix: prefix.to_string(),
            ..Settings::default()
        };
        let allowed = may_move(&aws, alarm_name, stream, &settings);
        let before = snapshot(&aws);
        let autoscaler = Autoscaler::new(aws.clone(), settings, "kinesis-autoscaler-property");
        let at = aws.now() - Duration::seconds(30);
        let event = dropin_support::event(SHAPES[shape], alarm_name, stream, state, at);
        let report = match parse_invocation_text(&event) {
            Ok(invocation) => autoscaler.handle_invocation(invocation).await,
            Err(_) => return Ok(()),
        };
        let after = snapshot(&aws);
        for (was, now) in before.iter().zip(&after) {
            if allowed.as_deref() != Some(was.0.as_str()) {
                prop_assert_eq!(
                    was,
                    now,
                    "{} changed by {} naming {} ({}): {:?}",
                    was.0,
                    alarm_name,
                    stream,
                    state,
                    report.alarms
                );
            }
        }
        let confirmed = report.alarms.iter().any(|a| {
            matches!(
                a.outcome,
                Outcome::Scaled | Outcome::Refused | Outcome::Failed
            ) && a.refusal.as_deref().is_none_or(|r| {
                ![
                    "unconfirmed",
                    "alarm_does_not_watch_stream",
                    "alarm_not_of_stream",
                    "stream_not_managed",
                ]
                .contains(&r)
            })
        });
        if allowed.is_none() {
            prop_assert!(!confirmed, "acted on an unconfirmed event: {:?}", report);
            for line in &report.metric_lines {
                prop_assert!(
                    !line.contains("StreamName"),
                    "a metric named a stream: {}",
                    line
                );
            }
        }
        Ok(())
    })
}

fn alarm_names() -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::sample::select(vec![
            "a-scale-up",
            "a-scale-down",
            "b-scale-up",
            "b-scale-down",
            "app-c-scale-up",
            "app-c-scale-down",
            "rogue-scale-up",
            "ghost-scale-up",
            "a-scale-upx",
            "-scale-up",
        ])
        .prop_map(str::to_string),
        "[a-z-]{0,8}-scale-(up|down)",
    ]
}

fn stream_names() -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::sample::select(vec!["a", "b", "app-c", "rogue", "ghost", "app-", ""])
            .prop_map(str::to_string),
        "[a-z-]{0,6}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// No event, of any shape, naming any alarm and stream in any state, changes a stream
    /// (its shard count, its alarms' definitions and states) other than the one its confirmed
    /// alarm watches; an event the rule refuses changes nothing and names no stream in a metric.
    #[test]
    fn no_event_moves_a_stream_its_confirmed_alarm_does_not_watch(
        shape in 0usize..3,
        alarm_name in alarm_names(),
        stream in stream_names(),
        state in proptest::sample::select(vec!["ALARM", "OK", "INSUFFICIENT_DATA"]),
        states in proptest::collection::vec(
            proptest::sample::select(vec!["ALARM", "OK", "INSUFFICIENT_DATA"]), 1..8),
        prefix in proptest::sample::select(vec!["", "app-"]),
    ) {
        check(shape, &alarm_name, &stream, state, &states, prefix)?;
    }
}
