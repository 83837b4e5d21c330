//! The contract between the two sides of the port: one scenario, run through the SDK adapter
//! against moto and against the in-process fake, must observe the same things wherever both
//! model them. Needs moto (`scripts/test.sh`); skipped without one.
//!
//! Compared: stream summaries (provisioned, on-demand, after a reshard), stream tags, an alarm
//! pair written and read back (definition, tags, prefix listing, deletion), set_alarm_state,
//! reserved concurrency, the incoming traffic read back after PutMetricData, and the error
//! codes of a missing stream and a missing function.
//!
//! Known differences, left out on purpose: a new alarm starts in OK on moto and in
//! INSUFFICIENT_DATA on the fake (as on AWS); moto lists no tags for a missing alarm where AWS
//! and the fake answer ResourceNotFoundException; moto reshards at once and ignores the
//! x2 / half rule, the 10-a-day limit and the account's shard limit, which the fake plays.

mod common;

use chrono::{Duration, DurationRound, Utc};
use common::*;
use kinesis_autoscaler::aws::fake::FakeAws;
use kinesis_autoscaler::aws::{AwsClients, IncomingPoint, StreamSummary};
use kinesis_autoscaler::domain::alarms::AlarmSpec;
use kinesis_autoscaler::domain::event::{AlarmPair, Direction};
use kinesis_autoscaler::domain::settings::Settings;
use kinesis_autoscaler::ops::usage::read_metrics;
use std::collections::BTreeMap;

/// Beside the port: putting a stream's traffic where GetMetricData reads it.
#[allow(async_fn_in_trait)]
trait Traffic: Account {
    async fn put_traffic(&self, stream: &str, points: &[IncomingPoint]);
}

impl Traffic for FakeAws {
    async fn put_traffic(&self, stream: &str, points: &[IncomingPoint]) {
        self.put_incoming(stream, points);
    }
}

impl Traffic for AwsClients {
    async fn put_traffic(&self, stream: &str, points: &[IncomingPoint]) {
        let data = points
            .iter()
            .flat_map(|p| {
                [
                    kinesis_datum(stream, "IncomingBytes", p.start, p.bytes, None),
                    kinesis_datum(stream, "IncomingRecords", p.start, p.records, None),
                ]
            })
            .collect();
        put_kinesis_metrics(self, data).await;
    }
}

/// What one account showed, in a form two accounts can be compared by.
#[derive(Debug, PartialEq)]
struct Observed {
    summaries: Vec<(String, StreamSummary)>,
    stream_tags: Vec<BTreeMap<String, String>>,
    alarms: Vec<(String, AlarmSpec)>,
    alarm_tags: Vec<BTreeMap<String, String>>,
    by_prefix: Vec<String>,
    states: Vec<String>,
    state_since_set: bool,
    concurrency: Vec<Option<u32>>,
    incoming: Vec<IncomingPoint>,
    errors: Vec<(String, Option<String>)>,
    deleted_left: usize,
}

fn sorted(map: std::collections::HashMap<String, String>) -> BTreeMap<String, String> {
    map.into_iter().collect()
}

/// The scenario; names are the caller's so that two runs compare equal.
async fn scenario(aws: &impl Traffic, stream: &str, on_demand: &str, function: &str) -> Observed {
    let settings = Settings::default();
    let mut seen = Observed {
        summaries: Vec::new(),
        stream_tags: Vec::new(),
        alarms: Vec::new(),
        alarm_tags: Vec::new(),
        by_prefix: Vec::new(),
        states: Vec::new(),
        state_since_set: false,
        concurrency: Vec::new(),
        incoming: Vec::new(),
        errors: Vec::new(),
        deleted_left: 0,
    };
    let summary = |name: &str| {
        let name = name.to_string();
        async move {
            let s = aws
                .stream_summary(&name)
                .await
                .expect("DescribeStreamSummary");
            (name, s)
        }
    };

    // Streams.
    create_stream(aws, stream, 2).await;
    create_on_demand_stream(aws, on_demand).await;
    seen.summaries.push(summary(stream).await);
    let on_demand_mode = summary(on_demand).await;
    seen.summaries.push((
        on_demand_mode.0,
        StreamSummary {
            // The fake makes on-demand streams with 4 shards, moto with its own default.
            open_shards: 0,
            ..on_demand_mode.1
        },
    ));
    aws.update_shard_count(stream, 4)
        .await
        .expect("UpdateShardCount");
    // moto reshards at once; the fake, without a reshard delay, too.
    seen.summaries.push(summary(stream).await);

    // Stream tags.
    aws.tag_stream(stream, "team", "data")
        .await
        .expect("AddTagsToStream");
    aws.tag_stream(stream, "AutoscalerMaxShards", "8")
        .await
        .expect("AddTagsToStream");
    seen.stream_tags
        .push(sorted(aws.stream_tags(stream).await.expect("tags")));
    aws.untag_stream(stream, "team")
        .await
        .expect("RemoveTagsFromStream");
    seen.stream_tags
        .push(sorted(aws.stream_tags(stream).await.expect("tags")));

    // An alarm pair, as `wire` and the Lambda write it, read back.
    let pair: AlarmPair = wire(aws, &settings, stream, 4).await;
    let names = [pair.name(Direction::Up), pair.name(Direction::Down)];
    let found = aws.describe_alarms(&names).await.expect("DescribeAlarms");
    for name in &names {
        let alarm = found.get(name).expect("the alarm was written");
        assert_eq!(alarm.arn, alarm_arn(name), "ARN of {name}");
        seen.alarms.push((name.clone(), alarm.spec.clone()));
        seen.alarm_tags.push(sorted(
            aws.alarm_tags(&alarm.arn).await.expect("alarm tags"),
        ));
    }
    aws.tag_alarm(
        &alarm_arn(&names[0]),
        &[(
            "LastScaledTimestamp".into(),
            "2026-11-23T10:15:44.812+0000".into(),
        )],
    )
    .await
    .expect("TagResource");
    seen.alarm_tags.push(sorted(
        aws.alarm_tags(&alarm_arn(&names[0]))
            .await
            .expect("alarm tags"),
    ));
    seen.by_prefix = aws
        .alarms_with_prefix(stream)
        .await
        .expect("DescribeAlarms by prefix")
        .into_iter()
        .map(|a| a.spec.name)
        .collect();
    seen.by_prefix.sort();

    // Alarm states.
    for state in ["ALARM", "OK", "INSUFFICIENT_DATA"] {
        aws.set_alarm_state(&names[0], state, "contract")
            .await
            .expect("SetAlarmState");
        seen.states.push(alarm(aws, &names[0]).await.state);
    }
    seen.state_since_set = alarm(aws, &names[0]).await.state_since.is_some();

    // A consumer's reserved concurrency.
    let function = create_consumer_function(aws, function).await;
    seen.concurrency
        .push(aws.function_concurrency(&function).await.expect("Get"));
    aws.put_function_concurrency(&function, 8)
        .await
        .expect("Put");
    seen.concurrency
        .push(aws.function_concurrency(&function).await.expect("Get"));
    // A second reshard overwrites the reservation (nothing ever deletes one).
    aws.put_function_concurrency(&function, 4)
        .await
        .expect("Put again");
    seen.concurrency
        .push(aws.function_concurrency(&function).await.expect("Get"));

    // Incoming traffic: three minutes of datapoints, read back in 60-second periods.
    let start = (Utc::now() - Duration::minutes(30))
        .duration_trunc(Duration::minutes(1))
        .expect("a whole minute");
    let points: Vec<IncomingPoint> = (0..3)
        .map(|m| IncomingPoint {
            start: start + Duration::minutes(m),
            bytes: 1000.0 * (m + 1) as f64,
            records: 10.0 * (m + 1) as f64,
        })
        .collect();
    aws.put_traffic(stream, &points).await;
    let end = start + Duration::minutes(10);
    seen.incoming = read_metrics(aws, &[stream.to_string()], start, end, 60)
        .await
        .expect("GetMetricData")
        .remove(stream)
        .map(|metrics| metrics.incoming)
        .unwrap_or_default();

    // What a missing stream and a missing function answer.
    let missing = format!("{stream}-missing");
    for err in [
        aws.stream_summary(&missing).await.err(),
        aws.function_concurrency(&missing).await.err(),
    ] {
        let err = err.expect("a missing resource is an error");
        seen.errors.push((err.call.to_string(), err.code.clone()));
    }

    aws.delete_alarms(&names).await.expect("DeleteAlarms");
    seen.deleted_left = aws.describe_alarms(&names).await.expect("Describe").len();
    seen
}

async fn the_sdk_adapter_on_moto_and_the_fake_agree() {
    let moto = clients().await;
    let fake = fake_account();
    let (stream, on_demand, function) = (
        unique("contract"),
        unique("contract-od"),
        unique("contract-fn"),
    );

    let through_sdk = scenario(&moto, &stream, &on_demand, &function).await;
    let in_process = scenario(&fake, &stream, &on_demand, &function).await;

    assert_eq!(through_sdk.incoming.len(), 3, "{:?}", through_sdk.incoming);
    assert_eq!(through_sdk, in_process);
}

crate::on_emulators!(the_sdk_adapter_on_moto_and_the_fake_agree);
