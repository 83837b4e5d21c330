//! The sized policy against moto: IncomingBytes / IncomingRecords put with PutMetricData are
//! read back with GetMetricData by the scheduled evaluation, which reshards an idle stream
//! with no alarm firing; with no datapoints at all it leaves the stream to its alarms.

mod common;

use aws_sdk_cloudwatch::types::StandardUnit;
use chrono::Utc;
use common::*;
use kinesis_autoscaler::domain::event::{Direction, Invocation};
use kinesis_autoscaler::domain::settings::Settings;

/// One 5-minute Sum of `records` 1 KB records per period for `stream`, over the last hour.
async fn put_last_hour(aws: &kinesis_autoscaler::aws::AwsClients, stream: &str, records: f64) {
    let now = Utc::now();
    let end = now.timestamp() - now.timestamp() % 300;
    for i in 1..=12 {
        let Some(at) = chrono::DateTime::from_timestamp(end - 300 * i, 0) else {
            continue;
        };
        let data = vec![
            kinesis_datum(
                stream,
                "IncomingRecords",
                at,
                records,
                Some(StandardUnit::Count),
            ),
            kinesis_datum(
                stream,
                "IncomingBytes",
                at,
                records * 1024.0,
                Some(StandardUnit::Bytes),
            ),
        ];
        put_kinesis_metrics(aws, data).await;
    }
}

async fn the_schedule_reads_put_metrics_back_and_sizes_an_idle_stream_down() {
    let aws = clients().await;
    let stream = unique("sized-idle");
    create_stream(&aws, &stream, 8).await;
    let pair = wire(&aws, &Settings::default(), &stream, 8).await;
    // One shard of load: 300,000 records per 5 minutes.
    put_last_hour(&aws, &stream, 300_000.0).await;

    let autoscaler = autoscaler(
        &aws,
        Settings {
            managed_stream_prefix: stream.clone(),
            ..Settings::default()
        },
    );
    let report = autoscaler.handle_invocation(Invocation::Scheduled).await;
    assert_eq!(open_shards(&aws, &stream).await, 4, "{report:#?}");
    let down = alarm(&aws, &pair.name(Direction::Down)).await;
    assert_eq!(down.spec.shard_count(), Some(4));
    assert!(stream_tags(&aws, &stream)
        .await
        .contains_key("AutoscalerReshardHistory"));
}

async fn without_datapoints_the_schedule_leaves_the_stream_to_its_alarms() {
    let aws = clients().await;
    let stream = unique("sized-silent");
    create_stream(&aws, &stream, 8).await;
    wire(&aws, &Settings::default(), &stream, 8).await;
    let autoscaler = autoscaler(
        &aws,
        Settings {
            managed_stream_prefix: stream.clone(),
            ..Settings::default()
        },
    );
    let report = autoscaler.handle_invocation(Invocation::Scheduled).await;
    assert!(report.alarms.is_empty(), "{report:#?}");
    assert_eq!(open_shards(&aws, &stream).await, 8);
}

crate::on_emulators!(
    the_schedule_reads_put_metrics_back_and_sizes_an_idle_stream_down,
    without_datapoints_the_schedule_leaves_the_stream_to_its_alarms
);
