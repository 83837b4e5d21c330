//! `wire`, `unwire` and `status` against a moto server, through the real AWS SDK.

mod common;

use common::*;
use kinesis_autoscaler::aws;
use kinesis_autoscaler::aws::AwsPort;
use kinesis_autoscaler::domain::alarms::{self, AlarmTarget, KeptFields};
use kinesis_autoscaler::domain::event::{AlarmPair, Direction};
use kinesis_autoscaler::domain::settings::{tag, Settings};
use kinesis_autoscaler::ops::outcome::Outcome;
use kinesis_autoscaler::ops::status::{self, LastReshardSource};
use kinesis_autoscaler::ops::wiring::{
    self, Change, Removal, StreamTagFlags, WireOptions, WiringError,
};
use std::collections::HashMap;
use std::process::Command;

fn options() -> WireOptions {
    WireOptions {
        topic_arn: Some(topic_arn()),
        ..WireOptions::default()
    }
}

fn changes(report: &wiring::WireReport) -> Vec<(String, Change)> {
    report
        .alarms
        .iter()
        .map(|a| (a.name.clone(), a.change))
        .collect()
}

fn both(pair: &AlarmPair, change: Change) -> Vec<(String, Change)> {
    vec![
        (pair.name(Direction::Up), change),
        (pair.name(Direction::Down), change),
    ]
}

/// Both alarms as `describe_alarms` returns them.
async fn pair_alarms(aws: &impl AwsPort, pair: &AlarmPair) -> HashMap<String, aws::ExistingAlarm> {
    aws.describe_alarms(&[pair.name(Direction::Up), pair.name(Direction::Down)])
        .await
        .expect("DescribeAlarms")
}

/// What the shared builder makes for a stream wired to the test topic at `shards`.
fn built(settings: &Settings, stream: &str, shards: u32) -> alarms::AlarmPairSpec {
    let pair = AlarmPair::new(stream);
    alarms::build_pair(
        settings,
        &AlarmTarget {
            pair: &pair,
            stream,
            shards,
            min_shards: settings.min_shards,
            max_shards: settings.max_shards,
        },
        Some(&topic_arn()),
        &KeptFields::default(),
        &KeptFields::default(),
    )
}

async fn wire_writes_what_the_lambda_rewrites<A: Account>(aws: A) {
    let settings = Settings::default();
    let stream = unique("wire");
    create_stream(&aws, &stream, 2).await;
    let pair = AlarmPair::new(&stream);

    let report = wiring::wire_stream(&aws, &settings, &stream, &options())
        .await
        .expect("wire");

    assert_eq!(changes(&report), both(&pair, Change::Created));
    assert_eq!(report.shards, 2);
    let wired = pair_alarms(&aws, &pair).await;
    let expected = built(&settings, &stream, 2);
    assert_eq!(wired[&expected.scale_up.name].spec, expected.scale_up);
    assert_eq!(wired[&expected.scale_down.name].spec, expected.scale_down);
    for direction in [Direction::Up, Direction::Down] {
        let tags = alarm_tags(&aws, &pair.name(direction)).await;
        assert_eq!(
            tags.get("ScaleAction").map(String::as_str),
            Some(direction.tag_value())
        );
        let partner = match direction {
            Direction::Up => pair.name(Direction::Down),
            Direction::Down => pair.name(Direction::Up),
        };
        assert_eq!(tags.get("ComplimentaryAlarm"), Some(&partner));
    }

    // The Lambda scales the stream and rewrites the alarms for 4 shards...
    let autoscaler = autoscaler(&aws, settings.clone());
    let scaled = handle(
        &autoscaler,
        &alarm_event(&pair.name(Direction::Up), &stream, "ALARM", just_now()),
    )
    .await;
    assert_eq!(
        scaled.alarms[0].outcome,
        Outcome::Scaled,
        "{:?}",
        scaled.alarms[0]
    );
    let rewritten = pair_alarms(&aws, &pair).await;
    let at_four = built(&settings, &stream, 4);
    assert_eq!(rewritten[&at_four.scale_up.name].spec, at_four.scale_up);
    assert_eq!(rewritten[&at_four.scale_down.name].spec, at_four.scale_down);

    // ...which is exactly what wiring at 4 shards produces: nothing to change.
    let dry = wiring::wire_stream(
        &aws,
        &settings,
        &stream,
        &WireOptions {
            dry_run: true,
            ..options()
        },
    )
    .await
    .expect("wire --dry-run");
    assert_eq!(dry.shards, 4);
    assert_eq!(changes(&dry), both(&pair, Change::Unchanged), "{dry:?}");
    let again = wiring::wire_stream(&aws, &settings, &stream, &options())
        .await
        .expect("wire");
    assert!(again.unchanged(), "{again:?}");
    assert_eq!(pair_alarms(&aws, &pair).await, rewritten);
}

async fn wiring_twice_changes_nothing<A: Account>(aws: A) {
    let settings = Settings::default();
    let stream = unique("idem");
    create_stream(&aws, &stream, 3).await;
    let pair = AlarmPair::new(&stream);
    let flags = WireOptions {
        stream_tags: StreamTagFlags {
            min_shards: Some(2),
            max_shards: Some(3),
            consumer_function: None,
            lambdas_per_shard: Some(2),
        },
        ..options()
    };

    let first = wiring::wire_stream(&aws, &settings, &stream, &flags)
        .await
        .expect("wire");
    assert_eq!(first.stream_tags_written.len(), 3, "{first:?}");
    let before = pair_alarms(&aws, &pair).await;
    let tags_before = (
        alarm_tags(&aws, &pair.name(Direction::Up)).await,
        alarm_tags(&aws, &pair.name(Direction::Down)).await,
        stream_tags(&aws, &stream).await,
    );
    let second = wiring::wire_stream(&aws, &settings, &stream, &flags)
        .await
        .expect("wire");

    assert!(second.unchanged(), "{second:?}");
    assert_eq!(changes(&second), both(&pair, Change::Unchanged));
    assert!(
        second.summary().contains("unchanged"),
        "{}",
        second.summary()
    );
    assert_eq!(pair_alarms(&aws, &pair).await, before);
    let tags_after = (
        alarm_tags(&aws, &pair.name(Direction::Up)).await,
        alarm_tags(&aws, &pair.name(Direction::Down)).await,
        stream_tags(&aws, &stream).await,
    );
    assert_eq!(tags_after, tags_before);
    // The bounds from the flags shaped the alarms: 3 shards is the maximum.
    assert!(before[&pair.name(Direction::Up)].spec.is_disarmed());
    assert!(!before[&pair.name(Direction::Down)].spec.is_disarmed());
}

async fn dry_run_writes_nothing<A: Account>(aws: A) {
    let settings = Settings::default();
    let stream = unique("wiredry");
    create_stream(&aws, &stream, 2).await;
    let pair = AlarmPair::new(&stream);

    let report = wiring::wire_stream(
        &aws,
        &settings,
        &stream,
        &WireOptions {
            dry_run: true,
            stream_tags: StreamTagFlags {
                max_shards: Some(8),
                ..StreamTagFlags::default()
            },
            ..options()
        },
    )
    .await
    .expect("wire --dry-run");

    assert!(report.dry_run);
    assert_eq!(changes(&report), both(&pair, Change::Created));
    let expected = wiring::desired_pair(
        &settings,
        &AlarmTarget {
            pair: &pair,
            stream: &stream,
            shards: 2,
            min_shards: 1,
            max_shards: 8,
        },
        Some(&topic_arn()),
        &HashMap::new(),
    );
    assert_eq!(
        report.alarms[0].definition.as_ref(),
        Some(&expected.scale_up)
    );
    assert_eq!(
        report.alarms[1].definition.as_ref(),
        Some(&expected.scale_down)
    );
    assert_eq!(
        report
            .stream_tags_written
            .get(tag::MAX_SHARDS)
            .map(String::as_str),
        Some("8")
    );
    assert!(pair_alarms(&aws, &pair).await.is_empty());
    assert!(!stream_tags(&aws, &stream)
        .await
        .contains_key(tag::MAX_SHARDS));
}

async fn unwire_removes_both_alarms_and_is_idempotent<A: Account>(aws: A) {
    let settings = Settings::default();
    let stream = unique("unwire");
    create_stream(&aws, &stream, 1).await;
    let pair = AlarmPair::new(&stream);
    let flags = WireOptions {
        stream_tags: StreamTagFlags {
            max_shards: Some(4),
            ..StreamTagFlags::default()
        },
        ..options()
    };
    wiring::wire_stream(&aws, &settings, &stream, &flags)
        .await
        .expect("wire");
    tag_stream(&aws, &stream, "team", "data").await;

    let report = wiring::unwire_stream(&aws, &stream, true, false)
        .await
        .expect("unwire");

    assert!(report.alarms.values().all(|r| *r == Removal::Deleted));
    assert!(pair_alarms(&aws, &pair).await.is_empty());
    assert_eq!(report.stream_tags_removed, [tag::MAX_SHARDS]);
    let tags = stream_tags(&aws, &stream).await;
    assert!(!tags.contains_key(tag::MAX_SHARDS), "{tags:?}");
    assert_eq!(
        tags.get("team").map(String::as_str),
        Some("data"),
        "foreign tags stay"
    );

    let again = wiring::unwire_stream(&aws, &stream, false, false)
        .await
        .expect("unwire again");
    assert!(again.alarms.values().all(|r| *r == Removal::AlreadyAbsent));
    assert!(again.summary().contains("already absent"));
}

async fn status_reports_what_a_scale_event_changed<A: Account>(aws: A) {
    let settings = Settings::default();
    let stream = unique("status");
    create_stream(&aws, &stream, 2).await;
    let pair = AlarmPair::new(&stream);
    wiring::wire_stream(&aws, &settings, &stream, &options())
        .await
        .expect("wire");

    let before = status::stream_status(&aws, &settings, &stream, chrono::Utc::now())
        .await
        .expect("status");
    assert_eq!(before.shards, 2);
    assert_eq!(before.scale_up.as_ref().and_then(|a| a.s1), Some(2));
    assert_eq!(before.reshards_used, Some(0));
    assert_eq!(before.last_reshard, None);
    assert!(before.drift.is_empty(), "{:?}", before.drift);
    assert!(before.problems.is_empty(), "{:?}", before.problems);
    assert!(status::managed_streams(&aws)
        .await
        .expect("managed streams")
        .contains(&stream));

    let autoscaler = autoscaler(&aws, settings.clone());
    let scaled = handle(
        &autoscaler,
        &alarm_event(&pair.name(Direction::Up), &stream, "ALARM", just_now()),
    )
    .await;
    assert_eq!(scaled.alarms[0].outcome, Outcome::Scaled);

    let after = status::stream_status(&aws, &settings, &stream, chrono::Utc::now())
        .await
        .expect("status");
    assert_eq!(after.shards, 4);
    assert_eq!(after.scale_up.as_ref().and_then(|a| a.s1), Some(4));
    assert_eq!(after.scale_down.as_ref().and_then(|a| a.s1), Some(4));
    assert_eq!(
        after.scale_up.as_ref().map(|a| a.state.as_str()),
        Some("INSUFFICIENT_DATA")
    );
    assert_eq!(after.reshards_used, Some(1));
    assert_eq!(after.reshards_left, Some(settings.max_reshards_per_day - 1));
    assert!(after.last_reshard.is_some());
    assert_eq!(after.last_reshard_source, Some(LastReshardSource::History));
    assert!(after.drift.is_empty(), "{:?}", after.drift);
    let table = kinesis_autoscaler::cli::tables::status_table(std::slice::from_ref(&after));
    assert!(table.contains(&stream) && table.contains("s1=4"), "{table}");

    // A reshard made behind the autoscaler's back shows as drift.
    aws.update_shard_count(&stream, 8)
        .await
        .expect("UpdateShardCount");
    let drifted = status::stream_status(&aws, &settings, &stream, chrono::Utc::now())
        .await
        .expect("status");
    assert_eq!(drifted.drift.len(), 2, "{:?}", drifted.drift);
    assert!(kinesis_autoscaler::cli::tables::status_table(&[drifted]).contains("drift"));
}

async fn on_demand_streams_are_refused_by_name<A: Account>(aws: A) {
    let stream = unique("wireondemand");
    create_on_demand_stream(&aws, &stream).await;

    let err = wiring::wire_stream(&aws, &Settings::default(), &stream, &options())
        .await
        .unwrap_err();

    assert!(matches!(err, WiringError::OnDemand { .. }), "{err}");
    assert!(
        err.to_string().contains(&stream) && err.to_string().contains("ON_DEMAND"),
        "{err}"
    );
    assert!(pair_alarms(&aws, &AlarmPair::new(&stream)).await.is_empty());

    let scoped = Settings {
        managed_stream_prefix: "prod-".into(),
        ..Settings::default()
    };
    let err = wiring::wire_stream(&aws, &scoped, &stream, &options())
        .await
        .unwrap_err();
    assert!(matches!(err, WiringError::NotManaged { .. }), "{err}");
    assert!(err.to_string().contains("MANAGED_STREAM_PREFIX"), "{err}");

    let missing = unique("nosuchstream");
    let err = wiring::wire_stream(&aws, &Settings::default(), &missing, &options())
        .await
        .unwrap_err();
    assert!(err.to_string().contains(&missing), "{err}");
}

async fn rewiring_keeps_a_users_extra_action_and_reuses_the_topic<A: Account>(aws: A) {
    let settings = Settings::default();
    let stream = unique("wirekeep");
    create_stream(&aws, &stream, 1).await;
    let pair = AlarmPair::new(&stream);
    let up = pair.name(Direction::Up);

    // Without a topic and without alarms there is nowhere to publish.
    let err = wiring::wire_stream(&aws, &settings, &stream, &WireOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(err, WiringError::NoTopic { .. }), "{err}");
    assert!(err.to_string().contains(&stream), "{err}");

    wiring::wire_stream(&aws, &settings, &stream, &options())
        .await
        .expect("wire");
    let pager = format!("arn:aws:sns:{REGION}:{ACCOUNT}:pager");
    let mut custom = alarm(&aws, &up).await.spec;
    custom.description = Some("orders: page the data team".into());
    custom.alarm_actions.push(pager.clone());
    aws.put_alarm(&custom, &[]).await.unwrap();
    // The stream changes under the alarms, so re-wiring has to rewrite them.
    aws.update_shard_count(&stream, 2).await.unwrap();

    let report = wiring::wire_stream(&aws, &settings, &stream, &WireOptions::default())
        .await
        .expect("re-wire without a topic");

    assert_eq!(changes(&report), both(&pair, Change::Updated));
    let after = alarm(&aws, &up).await.spec;
    assert_eq!(after.shard_count(), Some(2));
    assert_eq!(after.alarm_actions, [topic_arn(), pager]);
    assert_eq!(after.description, custom.description);
    let down = alarm(&aws, &pair.name(Direction::Down)).await.spec;
    assert_eq!(down.alarm_actions, [topic_arn()]);
    assert_eq!(down.shard_count(), Some(2));
}

async fn the_binary_wires_and_reports_status_as_json() {
    let aws = clients().await;
    let stream = unique("wirebin");
    create_stream(&aws, &stream, 3).await;
    let binary = env!("CARGO_BIN_EXE_kinesis-autoscaler");

    let wired = Command::new(binary)
        .args(["wire", "--topic-arn", &topic_arn(), "--max-shards", "12"])
        .arg(&stream)
        .output()
        .expect("run wire");
    let stdout = String::from_utf8_lossy(&wired.stdout);
    assert!(
        wired.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&wired.stderr)
    );
    assert!(
        stdout.contains(&stream) && stdout.contains("created"),
        "{stdout}"
    );

    let status = Command::new(binary)
        .args(["status", "--json"])
        .arg(&stream)
        .output()
        .expect("run status");
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&status.stdout).expect("JSON output");
    let report = &json["streams"][0];
    assert_eq!(report["stream"], stream.as_str());
    assert_eq!(report["shards"], 3);
    assert_eq!(report["mode"], "PROVISIONED");
    assert_eq!(report["max_shards"], 12);
    assert_eq!(report["scale_up"]["s1"], 3);
    assert_eq!(report["scale_down"]["s1"], 3);
    assert_eq!(report["reshards_used"], 0);
    assert_eq!(report["drift"], serde_json::json!([]));
    assert_eq!(json["errors"], serde_json::json!([]));

    // A stream that does not exist fails the command, by name.
    let missing = unique("wirebinmissing");
    let failed = Command::new(binary)
        .args(["status", "--json"])
        .arg(&missing)
        .output()
        .expect("run status");
    assert_eq!(failed.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&failed.stderr).contains(&missing));
}

crate::on_both_accounts!(
    wire_writes_what_the_lambda_rewrites,
    wiring_twice_changes_nothing,
    dry_run_writes_nothing,
    unwire_removes_both_alarms_and_is_idempotent,
    status_reports_what_a_scale_event_changed,
    on_demand_streams_are_refused_by_name,
    rewiring_keeps_a_users_extra_action_and_reuses_the_topic;
    emulators only: the_binary_wires_and_reports_status_as_json,
);
