//! The guards that hold when a call fails or a setting is out of range: a throttled
//! DescribeAlarms changes nothing (the alarm is not reset before anything was confirmed); a
//! failed PutFunctionConcurrency leaves the consumer's reservation as it was; a huge
//! `AutoscalerLambdasPerShard` is capped and reported; a listing without `StreamSummaries`
//! (kinesis-mock's) is not a deletion. Each scenario runs in process (`in_process::`, faults
//! injected into the fake) and against the emulators behind `scripts/aws_proxy.py` (`emulator::`,
//! faults injected by the proxy).

mod common;

use common::*;
use kinesis_autoscaler::aws::fake::{FakeAws, Fault};
use kinesis_autoscaler::aws::setup::AwsOptions;
use kinesis_autoscaler::aws::{AwsClients, AwsPort};
use kinesis_autoscaler::domain::event::{parse_invocation_text, Direction};
use kinesis_autoscaler::domain::metrics::FATAL_ERROR_METRIC;
use kinesis_autoscaler::domain::settings::{tag, RetrySettings, Settings};
use kinesis_autoscaler::ops::autoscaler::Autoscaler;
use kinesis_autoscaler::ops::fleet::{self, SweepOptions};
use kinesis_autoscaler::ops::outcome::{InvocationReport, Outcome};
use kinesis_autoscaler::ops::reconcile::StreamVerdict;

/// The faults a scenario asks for, played by the fake or by the proxy in front of moto.
#[allow(async_fn_in_trait)]
trait Faults {
    /// The next call of `action` is throttled, every retry of it included.
    async fn throttle_next(&self, action: &'static str);
    /// ListStreams answers `StreamNames` without `StreamSummaries`, as kinesis-mock does.
    async fn names_only_listing(&self);
}

impl Faults for FakeAws {
    async fn throttle_next(&self, action: &'static str) {
        self.inject(action, 0, Fault::Throttle);
    }

    async fn names_only_listing(&self) {
        let _ = self.clone().with_names_only_listing();
    }
}

/// `scripts/aws_proxy.py` in front of the emulators (CloudWatch routed to LocalStack);
/// stopped when dropped.
struct Proxy(common::Proxy);

impl Proxy {
    fn start() -> Proxy {
        Proxy(common::Proxy::start(&[]))
    }

    /// Clients through the proxy, retrying as the deployed function would (2 retries).
    async fn clients(&self) -> AwsClients {
        let options = AwsOptions {
            endpoint_url: Some(self.0.url.clone()),
            region: Some(REGION.into()),
            profile: None,
        };
        AwsClients::load_for_cli(&retries(), &options)
            .await
            .expect("clients for the proxy")
    }

    fn configure(&self, config: serde_json::Value) {
        use std::io::{Read, Write};
        let host = self.0.url.trim_start_matches("http://");
        let body = config.to_string();
        let request = format!(
            "POST /_proxy/config HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let mut socket = std::net::TcpStream::connect(host).expect("connect to the proxy");
        socket.write_all(request.as_bytes()).expect("configure");
        let mut answer = String::new();
        let _ = socket.read_to_string(&mut answer);
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    }
}

fn retries() -> RetrySettings {
    RetrySettings {
        min_sleep: std::time::Duration::from_millis(10),
        max_sleep: std::time::Duration::from_millis(50),
        count: 2,
    }
}

impl Faults for Proxy {
    async fn throttle_next(&self, action: &'static str) {
        let attempts = retries().count + 1;
        let faults: Vec<_> = (1..=attempts)
            .map(|nth| serde_json::json!({"action": action, "nth": nth, "kind": "throttle"}))
            .collect();
        self.configure(serde_json::json!({ "faults": faults }));
    }

    async fn names_only_listing(&self) {
        self.configure(serde_json::json!({ "names_only_listing": true }));
    }
}

/// Runs each scenario (`async fn name<A: Account, F: Faults>(aws: A, faults: F)`) in process
/// and against the emulators behind the proxy.
macro_rules! with_faults {
    ($($name:ident),* $(,)?) => {
        mod in_process {
            $(
                #[tokio::test]
                async fn $name() {
                    let aws = $crate::common::fake_account();
                    super::$name(aws.clone(), aws).await
                }
            )*
        }
        mod emulator {
            $(
                #[tokio::test]
                #[ignore = "needs an emulator: scripts/test.sh"]
                async fn $name() {
                    let proxy = super::Proxy::start();
                    super::$name(proxy.clients().await, proxy).await
                }
            )*
        }
    };
}

async fn deliver<A: AwsPort>(autoscaler: &Autoscaler<A>, event: &str) -> InvocationReport {
    autoscaler
        .handle_invocation(parse_invocation_text(event).expect("a parsable event"))
        .await
}

async fn a_throttled_describe_alarms_changes_nothing<A: Account, F: Faults>(aws: A, faults: F) {
    let settings = Settings::default();
    let stream = unique("throttled");
    create_stream(&aws, &stream, 2).await;
    let pair = wire(&aws, &settings, &stream, 2).await;
    let up = pair.name(Direction::Up);
    fire(&aws, &up).await;
    let autoscaler = autoscaler(&aws, settings);

    faults.throttle_next("DescribeAlarms").await;
    let report = deliver(&autoscaler, &alarm_event(&up, &stream, "ALARM", just_now())).await;

    let outcome = &report.alarms[0];
    assert_eq!(outcome.outcome, Outcome::Failed, "{outcome:?}");
    assert!(
        outcome.reason.contains("DescribeAlarms"),
        "{}",
        outcome.reason
    );
    assert_eq!(
        alarm(&aws, &up).await.state,
        "ALARM",
        "not reset before anything was confirmed"
    );
    assert_eq!(open_shards(&aws, &stream).await, 2);
    assert_eq!(error_metrics(&report), 1, "the failure is counted");
    assert!(
        !report.metric_lines.iter().any(|l| l.contains(&stream)),
        "by no stream the message named: {:?}",
        report.metric_lines
    );
}

async fn a_failed_concurrency_update_keeps_the_consumers_reservation<A: Account, F: Faults>(
    aws: A,
    faults: F,
) {
    let stream = unique("keeps");
    create_stream(&aws, &stream, 2).await;
    let function = create_consumer_function(&aws, &unique("consumer")).await;
    aws.put_function_concurrency(&function, 2)
        .await
        .expect("PutFunctionConcurrency");
    let settings = Settings {
        processing_lambda: Some(function.clone()),
        ..Settings::default()
    };
    let pair = wire(&aws, &settings, &stream, 2).await;
    let up = pair.name(Direction::Up);
    fire(&aws, &up).await;
    let autoscaler = autoscaler(&aws, settings);

    faults.throttle_next("PutFunctionConcurrency").await;
    let report = deliver(&autoscaler, &alarm_event(&up, &stream, "ALARM", just_now())).await;

    let outcome = &report.alarms[0];
    assert_eq!(outcome.outcome, Outcome::Scaled, "{outcome:?}");
    assert!(
        outcome
            .errors
            .iter()
            .any(|e| e.contains("PutFunctionConcurrency")),
        "reported: {:?}",
        outcome.errors
    );
    assert_eq!(error_metrics(&report), 1);
    assert_eq!(
        aws.function_concurrency(&function)
            .await
            .expect("GetFunctionConcurrency"),
        Some(2),
        "the consumer keeps its reservation (never deleted)"
    );
}

async fn a_huge_lambdas_per_shard_tag_is_capped_and_reported<A: Account, F: Faults>(
    aws: A,
    _faults: F,
) {
    let settings = Settings::default();
    let stream = unique("huge");
    create_stream(&aws, &stream, 2).await;
    let function = create_consumer_function(&aws, &unique("consumer")).await;
    tag_stream(&aws, &stream, tag::CONSUMER_FUNCTION, &function).await;
    tag_stream(&aws, &stream, tag::LAMBDAS_PER_SHARD, "4000000000").await;
    let pair = wire(&aws, &settings, &stream, 2).await;
    let up = pair.name(Direction::Up);
    fire(&aws, &up).await;
    let autoscaler = autoscaler(&aws, settings);

    let report = deliver(&autoscaler, &alarm_event(&up, &stream, "ALARM", just_now())).await;

    let outcome = &report.alarms[0];
    assert_eq!(outcome.outcome, Outcome::Scaled, "{outcome:?}");
    assert_eq!(
        aws.function_concurrency(&function)
            .await
            .expect("GetFunctionConcurrency"),
        Some(40),
        "4 shards x at most 10"
    );
    assert!(
        outcome
            .warnings
            .iter()
            .any(|w| w.contains(tag::LAMBDAS_PER_SHARD) && w.contains(&stream)),
        "{outcome:?}"
    );
    assert!(report
        .metric_lines
        .iter()
        .any(|l| l.contains(FATAL_ERROR_METRIC)));
}

async fn a_listing_without_summaries_is_not_a_deletion<A: Account, F: Faults>(aws: A, faults: F) {
    let stream = unique("listed");
    let settings = Settings {
        managed_stream_prefix: stream.clone(),
        ..Settings::default()
    };
    create_stream(&aws, &stream, 2).await;
    let pair = wire(&aws, &settings, &stream, 2).await;
    aws.update_shard_count(&stream, 4)
        .await
        .expect("a reshard by hand");

    faults.names_only_listing().await;
    let report = fleet::sweep(&aws, &settings, &SweepOptions::default())
        .await
        .expect("a sweep");

    let swept = report
        .streams
        .iter()
        .find(|s| s.stream == stream)
        .expect("the stream is swept");
    assert_eq!(swept.verdict, StreamVerdict::Drifted, "{swept:?}");
    for direction in [Direction::Up, Direction::Down] {
        assert_eq!(
            alarm(&aws, &pair.name(direction)).await.spec.shard_count(),
            Some(4),
            "healed"
        );
    }
}

with_faults!(
    a_throttled_describe_alarms_changes_nothing,
    a_failed_concurrency_update_keeps_the_consumers_reservation,
    a_huge_lambdas_per_shard_tag_is_capped_and_reported,
    a_listing_without_summaries_is_not_a_deletion,
);

// ---- what only the in-process account plays -------------------------------------------------

/// A stream the listing leaves out is called gone only once DescribeStreamSummary says so; a
/// stream it cannot confirm is a failure of that stream, not a deletion.
#[tokio::test]
async fn a_stream_is_gone_only_when_describe_stream_summary_says_so() {
    let aws = fake_account().with_names_only_listing();
    let settings = Settings::default();
    for stream in ["deleted", "unconfirmed"] {
        aws.create_stream(stream, 2);
        wire(&aws, &settings, stream, 2).await;
    }
    aws.delete_stream("deleted");
    // The sweep confirms both unlisted-or-undescribed streams; the second answer is throttled.
    aws.inject("DescribeStreamSummary", 1, Fault::Throttle);

    let report = fleet::sweep(&aws, &settings, &SweepOptions::default())
        .await
        .expect("a sweep");

    let verdict = |name: &str| {
        report
            .streams
            .iter()
            .find(|s| s.stream == name)
            .map(|s| (s.verdict, s.note.clone().unwrap_or_default()))
            .expect("swept")
    };
    let (gone, note) = verdict("deleted");
    assert_eq!(gone, StreamVerdict::Ignored);
    assert!(note.contains("no longer exists"), "{note}");
    let (failed, note) = verdict("unconfirmed");
    assert_eq!(failed, StreamVerdict::Failed);
    assert!(note.contains("DescribeStreamSummary"), "{note}");
}
