//! Hostile input: whatever arrives in an event, an environment variable, a stream tag or a
//! trace file, the parsers never panic and every error names its culprit. No AWS needed.

mod common;

use chrono::{Duration, TimeZone, Utc};
use common::{alarm_message, error_metrics, sns_event};
use kinesis_autoscaler::aws::AwsClients;
use kinesis_autoscaler::domain::alarms::KeptFields;
use kinesis_autoscaler::domain::event::{parse_invocation_text, AlarmPair, Direction, Invocation};
use kinesis_autoscaler::domain::history::ReshardHistory;
use kinesis_autoscaler::domain::policy::{
    self, AlarmsState, Decision, Observed, Refusal, StreamMode, StreamState, StreamStatus, Trigger,
};
use kinesis_autoscaler::domain::settings::{tag, Settings, StreamSettings};
use kinesis_autoscaler::ops::autoscaler::Autoscaler;
use kinesis_autoscaler::ops::outcome::Outcome;
use proptest::prelude::*;
use serde_json::{json, Value};
use std::collections::HashMap;

const CASES: u32 = 256;

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

// ---- events ---------------------------------------------------------------------------------

/// One step of a path into a JSON document.
#[derive(Debug, Clone, Copy)]
enum Seg {
    Key(&'static str),
    Index(usize),
}

use Seg::{Index as I, Key as K};

/// Fields of the SNS envelope.
const OUTER: &[&[Seg]] = &[
    &[K("Records")],
    &[K("Records"), I(0)],
    &[K("Records"), I(0), K("Sns")],
    &[K("Records"), I(0), K("Sns"), K("Message")],
    &[K("Records"), I(0), K("Sns"), K("MessageId")],
    &[K("Records"), I(0), K("Sns"), K("TopicArn")],
];

/// Fields of the alarm message inside `Sns.Message`.
const INNER: &[&[Seg]] = &[
    &[K("AlarmName")],
    &[K("AlarmArn")],
    &[K("NewStateValue")],
    &[K("StateChangeTime")],
    &[K("Trigger")],
    &[K("Trigger"), K("Metrics")],
    &[K("Trigger"), K("Metrics"), I(0)],
    &[K("Trigger"), K("Metrics"), I(0), K("MetricStat")],
    &[
        K("Trigger"),
        K("Metrics"),
        I(0),
        K("MetricStat"),
        K("Metric"),
    ],
    &[
        K("Trigger"),
        K("Metrics"),
        I(0),
        K("MetricStat"),
        K("Metric"),
        K("Dimensions"),
    ],
    &[
        K("Trigger"),
        K("Metrics"),
        I(0),
        K("MetricStat"),
        K("Metric"),
        K("Dimensions"),
        I(0),
    ],
    &[
        K("Trigger"),
        K("Metrics"),
        I(0),
        K("MetricStat"),
        K("Metric"),
        K("Dimensions"),
        I(0),
        K("name"),
    ],
    &[
        K("Trigger"),
        K("Metrics"),
        I(0),
        K("MetricStat"),
        K("Metric"),
        K("Dimensions"),
        I(0),
        K("value"),
    ],
];

/// Fields whose absence must be reported by name.
const REQUIRED: &[&str] = &[
    "Sns",
    "Message",
    "AlarmName",
    "AlarmArn",
    "NewStateValue",
    "StateChangeTime",
    "Trigger",
];

#[derive(Debug, Clone)]
enum Mutation {
    Remove,
    Replace(Value),
}

fn arbitrary_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        ".{0,40}".prop_map(Value::String),
        Just(json!("2026-11-23T10:15:44.775+0000")),
        Just(json!("")),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::hash_map("[A-Za-z]{1,12}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        1 => Just(Mutation::Remove),
        3 => arbitrary_json().prop_map(Mutation::Replace),
    ]
}

/// Applies `mutation` at `path`; false if the path does not exist (an earlier step retyped).
fn mutate(doc: &mut Value, path: &[Seg], mutation: &Mutation) -> bool {
    let (last, parents) = path.split_last().expect("non-empty path");
    let mut here = doc;
    for seg in parents {
        let next = match seg {
            Seg::Key(k) => here.get_mut(*k),
            Seg::Index(i) => here.get_mut(*i),
        };
        match next {
            Some(next) => here = next,
            None => return false,
        }
    }
    match (last, mutation, here) {
        (Seg::Key(k), Mutation::Remove, Value::Object(map)) => map.remove(*k).is_some(),
        (Seg::Key(k), Mutation::Replace(v), Value::Object(map)) => {
            map.insert(k.to_string(), v.clone());
            true
        }
        (Seg::Index(i), Mutation::Remove, Value::Array(items)) if *i < items.len() => {
            items.remove(*i);
            true
        }
        (Seg::Index(i), Mutation::Replace(v), Value::Array(items)) if *i < items.len() => {
            items[*i] = v.clone();
            true
        }
        _ => false,
    }
}

fn last_key(path: &[Seg]) -> Option<&'static str> {
    match path.last() {
        Some(Seg::Key(k)) => Some(k),
        _ => None,
    }
}

/// Parses a mutated event and checks the invariants: no panic; an error for the record names
/// the record, an error for the alarm names the alarm, a removed required field is named.
fn check_event(text: &str, removed: Option<&str>) -> Result<(), TestCaseError> {
    match parse_invocation_text(text) {
        Err(err) => {
            let message = err.to_string();
            prop_assert!(!message.is_empty());
        }
        Ok(Invocation::Scheduled) => {}
        Ok(Invocation::Alarms(records)) => {
            for (index, record) in records.iter().enumerate() {
                match record {
                    Ok(n) => {
                        prop_assert!(!n.stream.is_empty(), "a parsed alarm has a stream: {n:?}");
                        if let Some(field) = removed {
                            prop_assert!(!REQUIRED.contains(&field), "parsed without {field}");
                        }
                    }
                    Err(err) => {
                        let message = err.to_string();
                        prop_assert!(message.starts_with(&format!("record {index}")), "{message}");
                        if let Some(field) = removed.filter(|f| REQUIRED.contains(f)) {
                            prop_assert!(message.contains(field), "{field}: {message}");
                        }
                    }
                }
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: CASES, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(text in ".{0,300}") {
        let _ = parse_invocation_text(&text);
    }

    #[test]
    fn arbitrary_json_never_panics(doc in arbitrary_json()) {
        let _ = parse_invocation_text(&doc.to_string());
        let _ = parse_invocation_text(&json!({"Records": [doc]}).to_string());
    }

    #[test]
    fn a_mutated_envelope_is_refused_by_record(
        path in prop::sample::select(OUTER),
        mutation in mutation(),
    ) {
        let mut event: Value = serde_json::from_str(&fixture("sns-scale-up.json")).unwrap();
        prop_assume!(mutate(&mut event, path, &mutation));
        let removed = matches!(mutation, Mutation::Remove).then(|| last_key(path)).flatten();
        check_event(&event.to_string(), removed)?;
    }

    #[test]
    fn a_mutated_alarm_message_is_refused_by_record_and_alarm(
        mutations in prop::collection::vec((prop::sample::select(INNER), mutation()), 1..4),
    ) {
        let mut event: Value = serde_json::from_str(&fixture("sns-scale-up.json")).unwrap();
        let text = event["Records"][0]["Sns"]["Message"].as_str().unwrap().to_string();
        let mut message: Value = serde_json::from_str(&text).unwrap();
        let mut removed = None;
        let mut applied = false;
        for (path, mutation) in &mutations {
            if mutate(&mut message, path, mutation) {
                applied = true;
                removed = match mutation {
                    Mutation::Remove if mutations.len() == 1 => last_key(path),
                    _ => None,
                };
            }
        }
        prop_assume!(applied);
        event["Records"][0]["Sns"]["Message"] = Value::String(message.to_string());
        let parsed = parse_invocation_text(&event.to_string());
        check_event(&event.to_string(), removed)?;
        // An alarm error names the alarm; the alarm name is the one in the message.
        if let Ok(Invocation::Alarms(records)) = parsed {
            if let Err(err @ kinesis_autoscaler::domain::event::EventError::Alarm { alarm, .. }) = &records[0] {
                prop_assert_eq!(Some(alarm.as_str()), message["AlarmName"].as_str());
                prop_assert!(err.to_string().contains(alarm.as_str()));
            }
        }
    }

    #[test]
    fn the_message_may_be_any_text(text in ".{0,200}") {
        let event = sns_event(&[Value::String(text)]);
        check_event(&event, None)?;
    }
}

#[test]
fn alarms_without_a_stream_dimension_are_invalid_and_named() {
    let name = "orders-scale-up";
    let at = Utc::now();
    let mut cases = Vec::new();
    let mut other_dimension = alarm_message(name, "orders", "ALARM", at);
    for metric in other_dimension["Trigger"]["Metrics"]
        .as_array_mut()
        .unwrap()
    {
        if let Some(dims) = metric.pointer_mut("/MetricStat/Metric/Dimensions") {
            *dims = json!([{"name": "ConsumerName", "value": "orders"}]);
        }
    }
    cases.push(other_dimension);
    let mut empty_value = alarm_message(name, "orders", "ALARM", at);
    for metric in empty_value["Trigger"]["Metrics"].as_array_mut().unwrap() {
        if let Some(dims) = metric.pointer_mut("/MetricStat/Metric/Dimensions") {
            *dims = json!([{"name": "StreamName", "value": ""}]);
        }
    }
    cases.push(empty_value);
    let mut no_trigger = alarm_message(name, "orders", "ALARM", at);
    no_trigger.as_object_mut().unwrap().remove("Trigger");
    cases.push(no_trigger);
    let mut two_streams = alarm_message(name, "orders", "ALARM", at);
    two_streams["Trigger"]["Metrics"][1]["MetricStat"]["Metric"]["Dimensions"] =
        json!([{"name": "StreamName", "value": "payments"}]);
    cases.push(two_streams);

    for message in cases {
        let Ok(Invocation::Alarms(records)) =
            parse_invocation_text(&sns_event(std::slice::from_ref(&message)))
        else {
            panic!("an SNS event");
        };
        let err = records[0].as_ref().expect_err("no single StreamName");
        assert!(err.to_string().contains(name), "{err}");
    }
}

#[tokio::test]
async fn the_handler_reports_an_invalid_alarm_by_name_without_calling_aws() {
    // Clients with no endpoint reachable: an invalid record must not need them.
    let config = aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url("http://127.0.0.1:9")
        .build();
    let autoscaler = Autoscaler::new(AwsClients::new(&config), Settings::default(), "hostile");
    let mut message = alarm_message("orders-scale-up", "orders", "ALARM", Utc::now());
    message["Trigger"]["Metrics"] = json!([]);
    let invocation = parse_invocation_text(&sns_event(&[message])).unwrap();

    let report = autoscaler.handle_invocation(invocation).await;

    assert_eq!(report.alarms[0].outcome, Outcome::Invalid);
    assert_eq!(report.alarms[0].alarm.as_deref(), Some("orders-scale-up"));
    assert!(report.alarms[0].reason.contains("orders-scale-up"));
    assert_eq!(error_metrics(&report), 1, "an invalid record is an error");
}

// ---- settings -------------------------------------------------------------------------------

/// Every variable the function reads: the settings code's own list, so a new setting is fuzzed
/// the day it is added.
use kinesis_autoscaler::domain::settings::VARIABLES;

/// Values worth trying on a variable: anything, numbers of every shape, and the absurd.
fn env_value() -> impl Strategy<Value = String> {
    prop_oneof![
        ".{0,20}",
        "-?[0-9]{1,12}",
        "-?[0-9]{0,4}\\.[0-9]{0,4}(e-?[0-9]{1,3})?",
        prop::sample::select(vec![
            "NaN",
            "nan",
            "inf",
            "-inf",
            "infinity",
            "1e308",
            "-1e308",
            "1e309",
            "0",
            "-0",
            "-1",
            "4294967296",
            "18446744073709551616",
            " 5 ",
            "true",
            "AWS/Kinesis",
            "",
        ])
        .prop_map(str::to_string),
    ]
}

fn settings_from(vars: &HashMap<&str, String>) -> Result<Settings, String> {
    Settings::from_lookup(|name| vars.get(name).cloned()).map_err(|e| e.to_string())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: CASES, ..ProptestConfig::default() })]

    #[test]
    fn one_bad_variable_is_named(
        variable in prop::sample::select(VARIABLES),
        value in env_value(),
    ) {
        let vars = HashMap::from([(variable, value.clone())]);
        match settings_from(&vars) {
            Err(message) => prop_assert!(message.contains(variable), "{variable}={value:?}: {message}"),
            Ok(settings) => {
                prop_assert!(settings.scale_up.threshold.is_finite() && settings.scale_up.threshold > 0.0);
                prop_assert!(settings.scale_down.threshold.is_finite());
                prop_assert!(settings.scale_down.threshold < settings.scale_up.threshold);
                prop_assert!(settings.min_shards >= 1 && settings.min_shards <= settings.max_shards);
                prop_assert!(settings.check().is_ok());
            }
        }
    }

    #[test]
    fn among_several_bad_variables_one_is_named(
        vars in prop::collection::hash_map(prop::sample::select(VARIABLES), env_value(), 1..6),
    ) {
        if let Err(message) = settings_from(&vars) {
            prop_assert!(
                vars.keys().any(|v| message.contains(v)),
                "{vars:?}: {message}"
            );
        }
    }

    #[test]
    fn stream_tags_are_named_with_the_stream(
        stream in "[A-Za-z0-9_.-]{1,40}",
        tags in prop::collection::hash_map(
            prop::sample::select(vec![
                tag::MIN_SHARDS,
                tag::MAX_SHARDS,
                tag::LAMBDAS_PER_SHARD,
                tag::CONSUMER_FUNCTION,
            ]),
            env_value(),
            1..4,
        ),
    ) {
        let tags: HashMap<String, String> =
            tags.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        match Settings::default().for_stream(&stream, &tags) {
            Err(err) => {
                let message = err.to_string();
                prop_assert!(message.contains(&format!("stream {stream}")), "{message}");
                prop_assert!(tags.contains_key(err.tag), "{message}");
                prop_assert!(message.contains(err.tag), "{message}");
            }
            Ok(limits) => {
                prop_assert!(limits.min_shards >= 1);
                prop_assert!(limits.min_shards <= limits.max_shards);
                prop_assert!(limits.max_shards <= 10_000);
                prop_assert!(limits.lambdas_per_shard >= 1);
            }
        }
    }

    #[test]
    fn a_history_tag_either_parses_or_names_stream_tag_and_entry(
        stream in "[A-Za-z0-9_.-]{1,40}",
        entries in prop::collection::vec(
            prop_oneof![
                "20[0-9]{2}[01][0-9][0-3][0-9]T[0-2][0-9][0-5][0-9][0-5][0-9]\\.[0-9]{3}Z",
                "[0-9TZ.]{0,24}",
                "\\PC{0,12}",
            ],
            0..14,
        ),
        separator in prop::sample::select(vec![" ", "  ", "\t", ",", "\n"]),
    ) {
        let value = entries.join(separator);
        match ReshardHistory::parse(&stream, &value) {
            Err(err) => {
                let message = err.to_string();
                prop_assert!(message.contains(&format!("stream {stream}")), "{message}");
                prop_assert!(message.contains(tag::RESHARD_HISTORY), "{message}");
                prop_assert!(value.contains(&err.entry), "{message}");
            }
            Ok(history) => {
                // What we write back always parses, and stays within the tag's 256 characters.
                let encoded = history.encode();
                prop_assert!(encoded.len() <= 256, "{}", encoded.len());
                prop_assert!(ReshardHistory::parse(&stream, &encoded).is_ok());
                let now = Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap();
                let _ = history.used_in_day(now);
                let _ = history.with_reshard(now).encode();
            }
        }
    }

    #[test]
    fn a_trace_either_parses_or_names_the_line(
        lines in prop::collection::vec(
            prop_oneof![
                Just("timestamp,incoming_bytes,incoming_records".to_string()),
                "2026-11-23T10:[0-5][0-9]:00Z,[0-9]{1,6},[0-9]{1,6}",
                "[0-9a-zA-Z:,. \"-]{0,40}",
                "\\PC{0,20}",
                Just(String::new()),
            ],
            0..12,
        ),
    ) {
        let text = lines.join("\n");
        match kinesis_autoscaler::replay::trace::parse(text.as_bytes()) {
            Err(kinesis_autoscaler::replay::trace::TraceError::Row { line, why }) => {
                prop_assert!(line >= 1 && line <= lines.len() as u64 + 1, "line {line} of {}: {why}", lines.len());
            }
            Err(_) => {}
            Ok(trace) => {
                prop_assert!(!trace.rows.is_empty());
                prop_assert!(trace.rows.windows(2).all(|w| w[0].timestamp < w[1].timestamp));
            }
        }
    }
}

// ---- absurd values --------------------------------------------------------------------------

#[test]
fn absurd_thresholds_are_refused_by_name() {
    for variable in ["SCALE_UP_THRESHOLD", "SCALE_DOWN_THRESHOLD"] {
        for value in ["NaN", "inf", "-inf", "infinity", "1e309", "not a number"] {
            let vars = HashMap::from([(variable, value.to_string())]);
            let err = settings_from(&vars).expect_err(&format!("{variable}={value}"));
            assert!(err.contains(variable), "{err}");
        }
    }
    for value in ["-1", "0", "-1e308"] {
        let vars = HashMap::from([("SCALE_UP_THRESHOLD", value.to_string())]);
        let err = settings_from(&vars).expect_err(value);
        assert!(err.contains("SCALE_UP_THRESHOLD"), "{err}");
    }
    // A scale-down threshold at or above the scale-up one names both.
    let vars = HashMap::from([("SCALE_DOWN_THRESHOLD", "1e308".to_string())]);
    let err = settings_from(&vars).unwrap_err();
    assert!(
        err.contains("SCALE_DOWN_THRESHOLD") && err.contains("SCALE_UP_THRESHOLD"),
        "{err}"
    );
}

fn limits() -> StreamSettings {
    StreamSettings {
        min_shards: 1,
        max_shards: 10_000,
        consumer_function: None,
        lambdas_per_shard: 1,
    }
}

fn observed(shards: u32, headroom: Option<u32>) -> Observed {
    Observed {
        stream: StreamState {
            name: "orders".into(),
            status: StreamStatus::Active,
            mode: StreamMode::Provisioned,
            open_shards: shards,
            settings: limits(),
            history: ReshardHistory::default(),
        },
        alarms: AlarmsState {
            last_scaled: None,
            kept_up: KeptFields::default(),
            kept_down: KeptFields::default(),
        },
        account_headroom: headroom,
    }
}

fn trigger(direction: Direction) -> Trigger {
    let pair = AlarmPair::new("orders");
    Trigger {
        alarm_name: pair.name(direction),
        pair,
        direction,
        stream: "orders".into(),
        state_change_time: Utc::now() - Duration::minutes(1),
    }
}

#[test]
fn ten_thousand_shards_is_the_ceiling() {
    let settings = Settings::default();
    let now = Utc::now();
    for headroom in [Some(1_000_000), Some(0), None] {
        match policy::plan(
            &trigger(Direction::Up),
            &observed(10_000, headroom),
            &settings,
            now,
        ) {
            Decision::Refuse {
                refusal: Refusal::AtBound { bound, shards },
                ..
            } => assert_eq!((bound, shards), ("maximum", 10_000)),
            other => panic!("scale-up at 10000 shards: {other:?}"),
        }
    }
    match policy::plan(
        &trigger(Direction::Up),
        &observed(6_000, Some(1_000_000)),
        &settings,
        now,
    ) {
        Decision::Scale(plan) => assert_eq!(plan.to, 10_000, "capped, not doubled"),
        other => panic!("{other:?}"),
    }
    match policy::plan(
        &trigger(Direction::Down),
        &observed(10_000, None),
        &settings,
        now,
    ) {
        Decision::Scale(plan) => assert_eq!((plan.from, plan.to), (10_000, 5_000)),
        other => panic!("scale-down from 10000 shards: {other:?}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: CASES, ..ProptestConfig::default() })]

    #[test]
    fn any_shard_count_stays_within_the_doubling_rule(
        from in 1u32..=20_000,
        headroom in prop::option::of(0u32..=50_000),
        up in any::<bool>(),
    ) {
        let direction = if up { Direction::Up } else { Direction::Down };
        let decision = policy::plan(&trigger(direction), &observed(from, headroom), &Settings::default(), Utc::now());
        if let Decision::Scale(plan) = decision {
            prop_assert_eq!(plan.from, from);
            prop_assert!(plan.to <= 10_000);
            if up {
                prop_assert!(plan.to > from && plan.to <= from * 2);
            } else {
                prop_assert!(plan.to < from && plan.to >= from.div_ceil(2));
            }
        }
    }
}
