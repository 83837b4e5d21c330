//! The SDK adapter ([`AwsClients`]) on answers no emulator gives: recorded wire-format
//! responses replayed by `aws-smithy-mocks` under the real SDK (deserialisers, retry
//! classifiers and all), so these need no server. Back-off sleeps run on paused time.
//!
//! What is pinned: throttling is retried and then succeeds; UpdateShardCount is retried for
//! throttling only (LimitExceededException within its own 3 attempts, never a 5xx: the reshard
//! may have started) and a 5xx there reads as "may have happened" (`FailureKind::Unknown`); a
//! refusal reads as `Refused` with AWS's code; CloudWatch's query-protocol errors are read; an
//! attempt that times out is retried, except UpdateShardCount's, which reads as `Unknown`.

mod common;

use aws_smithy_mocks::{create_mock_http_client, mock, MockResponseInterceptor, Rule, RuleMode};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use kinesis_autoscaler::aws::{AwsClients, AwsPort, FailureKind, StreamSummary};
use kinesis_autoscaler::domain::policy::{StreamMode, StreamStatus};
use std::time::Duration;

/// More attempts than UpdateShardCount's own 3, so a test can tell the two budgets apart.
const CLIENT_ATTEMPTS: u32 = 5;

fn interceptor(rules: &[&Rule]) -> MockResponseInterceptor {
    rules.iter().fold(
        MockResponseInterceptor::new().rule_mode(RuleMode::Sequential),
        |interceptor, rule| interceptor.with_rule(rule),
    )
}

fn retry() -> aws_config::retry::RetryConfig {
    aws_config::retry::RetryConfig::standard()
        .with_max_attempts(CLIENT_ATTEMPTS)
        .with_initial_backoff(Duration::from_millis(1))
        .with_max_backoff(Duration::from_millis(2))
}

/// Clients whose Kinesis answers come from `kinesis` and CloudWatch's from `cloudwatch`.
fn clients(kinesis: &[&Rule], cloudwatch: &[&Rule]) -> AwsClients {
    let credentials =
        aws_sdk_kinesis::config::Credentials::new("AKID", "secret", None, None, "test");
    let region = aws_config::Region::new("us-east-1");
    let kinesis = aws_sdk_kinesis::Config::builder()
        .behavior_version_latest()
        .region(region.clone())
        .credentials_provider(credentials.clone())
        .http_client(create_mock_http_client())
        .interceptor(interceptor(kinesis))
        .retry_config(retry())
        .build();
    let cloudwatch = aws_sdk_cloudwatch::Config::builder()
        .behavior_version_latest()
        .region(region.clone())
        .credentials_provider(credentials.clone())
        .http_client(create_mock_http_client())
        .interceptor(interceptor(cloudwatch))
        .retry_config(retry())
        .build();
    let lambda = aws_sdk_lambda::Config::builder()
        .behavior_version_latest()
        .region(region.clone())
        .credentials_provider(credentials.clone())
        .http_client(create_mock_http_client())
        .interceptor(interceptor(&[]))
        .build();
    let tagging = aws_sdk_resourcegroupstagging::Config::builder()
        .behavior_version_latest()
        .region(region.clone())
        .credentials_provider(credentials.clone())
        .http_client(create_mock_http_client())
        .interceptor(interceptor(&[]))
        .build();
    let iam = aws_sdk_iam::Config::builder()
        .behavior_version_latest()
        .region(region)
        .credentials_provider(credentials)
        .http_client(create_mock_http_client())
        .interceptor(interceptor(&[]))
        .build();
    AwsClients {
        kinesis: aws_sdk_kinesis::Client::from_conf(kinesis),
        cloudwatch: aws_sdk_cloudwatch::Client::from_conf(cloudwatch),
        lambda: aws_sdk_lambda::Client::from_conf(lambda),
        tagging: aws_sdk_resourcegroupstagging::Client::from_conf(tagging),
        iam: aws_sdk_iam::Client::from_conf(iam),
    }
}

fn response(status: u16, body: &str) -> HttpResponse {
    HttpResponse::new(
        StatusCode::try_from(status).expect("a valid status"),
        SdkBody::from(body.to_string()),
    )
}

/// Kinesis (JSON 1.1) error bodies as AWS sends them.
const KINESIS_THROTTLED: &str = r#"{"__type":"LimitExceededException","message":"Rate exceeded for stream orders under account 123456789012."}"#;
const KINESIS_INTERNAL: &str = r#"{"__type":"InternalFailure","message":"Internal error"}"#;
const KINESIS_NOT_FOUND: &str = r#"{"__type":"ResourceNotFoundException","message":"Stream orders under account 123456789012 not found."}"#;
const SUMMARY: &str = r#"{"StreamDescriptionSummary":{"StreamName":"orders","StreamARN":"arn:aws:kinesis:us-east-1:123456789012:stream/orders","StreamStatus":"UPDATING","StreamModeDetails":{"StreamMode":"PROVISIONED"},"RetentionPeriodHours":24,"StreamCreationTimestamp":1.7E9,"EnhancedMonitoring":[{"ShardLevelMetrics":[]}],"EncryptionType":"NONE","OpenShardCount":4,"ConsumerCount":0}}"#;
const RESHARDED: &str = r#"{"StreamName":"orders","CurrentShardCount":4,"TargetShardCount":8,"StreamARN":"arn:aws:kinesis:us-east-1:123456789012:stream/orders"}"#;

#[tokio::test(start_paused = true)]
async fn throttling_is_retried_then_the_answer_is_read() {
    let rule = mock!(aws_sdk_kinesis::Client::describe_stream_summary)
        .sequence()
        .http_response(|| response(400, KINESIS_THROTTLED))
        .times(2)
        .http_response(|| response(200, SUMMARY))
        .build();
    let aws = clients(&[&rule], &[]);

    let summary = aws
        .stream_summary("orders")
        .await
        .expect("retried to success");

    assert_eq!(
        summary,
        StreamSummary {
            status: StreamStatus::Updating,
            mode: StreamMode::Provisioned,
            open_shards: 4,
        }
    );
    assert_eq!(rule.num_calls(), 3);
}

#[tokio::test(start_paused = true)]
async fn a_5xx_elsewhere_is_retried() {
    let rule = mock!(aws_sdk_kinesis::Client::describe_stream_summary)
        .sequence()
        .http_response(|| response(500, KINESIS_INTERNAL))
        .http_response(|| response(200, SUMMARY))
        .build();
    let aws = clients(&[&rule], &[]);

    aws.stream_summary("orders").await.expect("retried");

    assert_eq!(rule.num_calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn update_shard_count_retries_limit_exceeded_only_within_its_own_three_attempts() {
    let rule = mock!(aws_sdk_kinesis::Client::update_shard_count)
        .sequence()
        .http_response(|| response(400, KINESIS_THROTTLED))
        .times(CLIENT_ATTEMPTS as usize)
        .build();
    let aws = clients(&[&rule], &[]);

    let err = aws
        .update_shard_count("orders", 8)
        .await
        .expect_err("still throttled");

    assert_eq!(rule.num_calls(), 3, "not the client's {CLIENT_ATTEMPTS}");
    assert!(err.is("LimitExceededException"), "{err:?}");
    assert_eq!(err.kind, FailureKind::Refused);
    assert_eq!(err.call, "UpdateShardCount");
}

#[tokio::test(start_paused = true)]
async fn update_shard_count_succeeds_after_throttling() {
    let rule = mock!(aws_sdk_kinesis::Client::update_shard_count)
        .sequence()
        .http_response(|| response(400, KINESIS_THROTTLED))
        .http_response(|| response(200, RESHARDED))
        .build();
    let aws = clients(&[&rule], &[]);

    aws.update_shard_count("orders", 8)
        .await
        .expect("throttling is retried");

    assert_eq!(rule.num_calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_5xx_on_update_shard_count_is_not_retried_and_may_have_happened() {
    let rule = mock!(aws_sdk_kinesis::Client::update_shard_count)
        .sequence()
        .http_response(|| response(500, KINESIS_INTERNAL))
        .http_response(|| response(200, RESHARDED))
        .build();
    let aws = clients(&[&rule], &[]);

    let err = aws
        .update_shard_count("orders", 8)
        .await
        .expect_err("not retried");

    assert_eq!(rule.num_calls(), 1, "a retry could meet our own reshard");
    assert_eq!(err.kind, FailureKind::Unknown, "{err:?}");
}

#[tokio::test(start_paused = true)]
async fn a_refusal_carries_aws_code_and_is_not_retried() {
    let rule = mock!(aws_sdk_kinesis::Client::describe_stream_summary)
        .sequence()
        .http_response(|| response(400, KINESIS_NOT_FOUND))
        .http_response(|| response(200, SUMMARY))
        .build();
    let aws = clients(&[&rule], &[]);

    let err = aws.stream_summary("orders").await.expect_err("refused");

    assert_eq!(rule.num_calls(), 1);
    assert!(err.is("ResourceNotFoundException"), "{err:?}");
    assert_eq!(err.kind, FailureKind::Refused);
    assert!(
        err.to_string().contains("orders") && err.to_string().contains("not found"),
        "{err}"
    );
}

/// A CloudWatch answer in the Smithy RPC v2 CBOR protocol that aws-sdk-cloudwatch speaks.
fn cloudwatch_response(status: u16, body: Vec<u8>) -> HttpResponse {
    let mut answer = HttpResponse::new(
        StatusCode::try_from(status).expect("a valid status"),
        SdkBody::from(body),
    );
    answer
        .headers_mut()
        .insert("smithy-protocol", "rpc-v2-cbor");
    answer
        .headers_mut()
        .insert("content-type", "application/cbor");
    answer
}

/// A CloudWatch error as AWS sends it: a CBOR map of its code and message.
fn cloudwatch_error(code: &str, message: &str) -> Vec<u8> {
    common::cbor_text_map(&[("__type", code), ("message", message)])
}

/// SetAlarmState's answer: no output, an empty CBOR map.
const SET_ALARM_STATE_OK: [u8; 1] = [0xA0];

#[tokio::test(start_paused = true)]
async fn cloudwatch_throttling_is_retried_and_a_refusal_is_read() {
    let throttled = cloudwatch_error("Throttling", "Rate exceeded");
    let retried = mock!(aws_sdk_cloudwatch::Client::set_alarm_state)
        .sequence()
        .http_response(move || cloudwatch_response(400, throttled.clone()))
        .http_response(|| cloudwatch_response(200, SET_ALARM_STATE_OK.to_vec()))
        .build();
    let missing = cloudwatch_error("ResourceNotFound", "Alarm orders-scale-up not found");
    let refused = mock!(aws_sdk_cloudwatch::Client::set_alarm_state)
        .then_http_response(move || cloudwatch_response(404, missing.clone()));
    let aws = clients(&[], &[&retried, &refused]);

    aws.set_alarm_state("orders-scale-up", "OK", "test")
        .await
        .expect("retried");
    let err = aws
        .set_alarm_state("orders-scale-up", "OK", "test")
        .await
        .expect_err("no such alarm");

    assert_eq!(retried.num_calls(), 2);
    assert!(err.is("ResourceNotFound"), "{err:?}");
    assert_eq!(err.kind, FailureKind::Refused);
}

/// A connection that never answers the calls numbered in `hang` (0-based) and answers the
/// others with `body`: an attempt time-out, which no recorded answer can play.
#[derive(Debug, Clone)]
struct Hanging {
    hang: &'static [usize],
    body: &'static str,
    calls: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl aws_smithy_runtime_api::client::http::HttpConnector for Hanging {
    fn call(
        &self,
        _request: aws_smithy_runtime_api::client::orchestrator::HttpRequest,
    ) -> aws_smithy_runtime_api::client::http::HttpConnectorFuture {
        let n = self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let hang = self.hang.contains(&n);
        let body = self.body;
        aws_smithy_runtime_api::client::http::HttpConnectorFuture::new(async move {
            if hang {
                tokio::time::sleep(Duration::from_secs(3600)).await;
            }
            Ok(response(200, body))
        })
    }
}

async fn timing_out(connection: &Hanging) -> AwsClients {
    let connection = connection.clone();
    let http = aws_smithy_runtime_api::client::http::http_client_fn(move |_, _| {
        aws_smithy_runtime_api::client::http::SharedHttpConnector::new(connection.clone())
    });
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_kinesis::config::Credentials::new(
            "AKID", "secret", None, None, "test",
        ))
        .http_client(http)
        .retry_config(retry())
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .operation_attempt_timeout(Duration::from_secs(1))
                .build(),
        )
        .load()
        .await;
    AwsClients::new(&config)
}

#[tokio::test(start_paused = true)]
async fn an_attempt_that_times_out_is_retried() {
    let connection = Hanging {
        hang: &[0],
        body: SUMMARY,
        calls: Default::default(),
    };
    let aws = timing_out(&connection).await;

    let summary = aws
        .stream_summary("orders")
        .await
        .expect("the retry answers");

    assert_eq!(summary.open_shards, 4);
    assert_eq!(
        connection.calls.load(std::sync::atomic::Ordering::SeqCst),
        2
    );
}

#[tokio::test(start_paused = true)]
async fn an_update_shard_count_that_times_out_is_not_retried_and_may_have_happened() {
    let connection = Hanging {
        hang: &[0],
        body: RESHARDED,
        calls: Default::default(),
    };
    let aws = timing_out(&connection).await;

    let err = aws
        .update_shard_count("orders", 8)
        .await
        .expect_err("timed out");

    assert_eq!(
        connection.calls.load(std::sync::atomic::Ordering::SeqCst),
        1
    );
    assert_eq!(err.kind, FailureKind::Unknown, "{err:?}");
}
