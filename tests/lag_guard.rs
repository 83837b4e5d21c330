//! The lag guard of the scheduled run, in process and against the emulators: a stream whose consumers
//! are SCALE_DOWN_MIN_ITER_AGE_MINS (30) or more behind in the last hour is not shrunk, as
//! the scale-down alarm's `e5` term would not let it; one 10 minutes behind is; a scale-up
//! happens whatever the lag. The scheduled run reads `GetRecords.IteratorAgeMilliseconds`
//! (Maximum) in the same GetMetricData as the load.

mod common;

use aws_sdk_cloudwatch::types::StandardUnit;
use chrono::{DateTime, Duration, Utc};
use common::*;
use kinesis_autoscaler::aws::fake::FakeAws;
use kinesis_autoscaler::aws::{AwsClients, IncomingPoint};
use kinesis_autoscaler::domain::event::Invocation;
use kinesis_autoscaler::domain::settings::Settings;

/// Puts a stream's metrics as Kinesis would: `need` shards of load (1 KB records) and
/// consumers `lag_mins` behind, in each 5-minute period of the last hour.
#[allow(async_fn_in_trait)]
trait Metrics: Account {
    async fn put_hour(&self, stream: &str, need: f64, lag_mins: f64);
}

/// The starts of the 12 whole 5-minute periods before now.
fn last_hour() -> Vec<DateTime<Utc>> {
    let now = Utc::now().timestamp();
    let end = now - now % 300;
    (1..=12)
        .filter_map(|i| DateTime::from_timestamp(end - 300 * i, 0))
        .collect()
}

impl Metrics for FakeAws {
    async fn put_hour(&self, stream: &str, need: f64, lag_mins: f64) {
        let records = need * 1000.0 * 300.0;
        for at in last_hour() {
            let point = IncomingPoint {
                start: at,
                bytes: records * 1024.0,
                records,
            };
            self.put_incoming(stream, &[point]);
            self.put_iterator_age(stream, at + Duration::seconds(60), lag_mins * 60_000.0);
        }
    }
}

impl Metrics for AwsClients {
    async fn put_hour(&self, stream: &str, need: f64, lag_mins: f64) {
        let records = need * 1000.0 * 300.0;
        for at in last_hour() {
            let at = at + Duration::seconds(60);
            let datum =
                |name: &str, value: f64, unit| kinesis_datum(stream, name, at, value, Some(unit));
            let data = vec![
                datum("IncomingRecords", records, StandardUnit::Count),
                datum("IncomingBytes", records * 1024.0, StandardUnit::Bytes),
                datum(
                    "GetRecords.IteratorAgeMilliseconds",
                    lag_mins * 60_000.0,
                    StandardUnit::Milliseconds,
                ),
            ];
            put_kinesis_metrics(self, data).await;
        }
    }
}

/// The case: 8 shards, one shard of load for the last hour.
async fn a_lagging_stream_is_not_shrunk_by_the_schedule<A: Metrics>(aws: A) {
    let prefix = unique("lag");
    let (behind, close, busy) = (
        format!("{prefix}-behind"),
        format!("{prefix}-close"),
        format!("{prefix}-busy"),
    );
    let settings = Settings {
        managed_stream_prefix: prefix.clone(),
        ..Settings::default()
    };
    assert_eq!(settings.scale_down_min_iter_age_mins, 30);
    for (stream, shards, need, lag_mins) in [
        (&behind, 8, 1.0, 40.0),
        (&close, 8, 1.0, 10.0),
        (&busy, 2, 2.0, 40.0),
    ] {
        create_stream(&aws, stream, shards).await;
        wire(&aws, &settings, stream, shards).await;
        aws.put_hour(stream, need, lag_mins).await;
    }

    let report = autoscaler(&aws, settings)
        .handle_invocation(Invocation::Scheduled)
        .await;
    assert_eq!(open_shards(&aws, &behind).await, 8, "40 min behind: kept");
    assert_eq!(open_shards(&aws, &close).await, 4, "10 min behind: shrunk");
    assert_eq!(
        open_shards(&aws, &busy).await,
        3,
        "a scale-up: whatever the lag"
    );
    assert_eq!(report.alarms.len(), 2, "{report:#?}");
}

#[tokio::test]
async fn in_process() {
    a_lagging_stream_is_not_shrunk_by_the_schedule(fake_account()).await
}

mod emulator {
    #[tokio::test]
    #[ignore = "needs an emulator: scripts/test.sh"]
    async fn a_lagging_stream_is_not_shrunk_by_the_schedule() {
        super::a_lagging_stream_is_not_shrunk_by_the_schedule(super::clients().await).await
    }
}
