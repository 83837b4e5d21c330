//! The thin AWS layer: one set of clients per process, and small async functions that make one
//! call each and speak our own types. No decisions are made here.
//!
//! (Longer than the usual 600 lines: one short translation per port operation, four services,
//! sharing one error mapping; split by service it would read no better.)

use crate::domain::alarms::{AlarmSpec, Comparison, MetricQuery, StreamMetric};
use crate::domain::settings::RetrySettings;
use aws_config::retry::ErrorKind;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::BehaviorVersion;
use aws_sdk_cloudwatch::error::ProvideErrorMetadata;
use aws_sdk_cloudwatch::types as cw;
use aws_sdk_kinesis::error::{DisplayErrorContext, SdkError};
use aws_smithy_runtime_api::client::interceptors::context::InterceptorContext;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::retries::classifiers::{
    ClassifyRetry, RetryAction, RetryClassifierPriority, RetryReason,
};
use std::collections::HashMap;

use super::port::{
    AwsError, AwsPort, AwsResult, ExistingAlarm, FailureKind, FunctionConfiguration,
    IncomingSeries, ListedStream, Page, StreamConsumer, StreamSummary, TaggedResource,
};
use std::time::Duration;

/// A hung call is abandoned (and retried) after this long; a scale event's whole budget is the
/// Lambda timeout.
pub const DEFAULT_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

/// One client per service, built once per process (Lambda container) and shared.
#[derive(Clone, Debug)]
pub struct AwsClients {
    pub kinesis: aws_sdk_kinesis::Client,
    pub cloudwatch: aws_sdk_cloudwatch::Client,
    pub lambda: aws_sdk_lambda::Client,
    /// The Resource Groups Tagging API: every stream's and alarm's tags in a few pages.
    pub tagging: aws_sdk_resourcegroupstagging::Client,
    /// Read only, by `doctor` (a deployed function's role).
    #[cfg(feature = "cli")]
    pub iam: aws_sdk_iam::Client,
}

impl AwsClients {
    /// Loads the default AWS configuration (environment, profile, `AWS_ENDPOINT_URL`, ...)
    /// with throttling retried `retry.count` times, backing off with jitter between
    /// `retry.min_sleep` and `retry.max_sleep`.
    pub async fn load(retry: &RetrySettings) -> Self {
        Self::load_with_attempt_timeout(retry, DEFAULT_ATTEMPT_TIMEOUT).await
    }

    /// As [`AwsClients::load`], with each attempt of a call given up after `attempt_timeout`
    /// (then retried like any transient failure).
    pub async fn load_with_attempt_timeout(
        retry: &RetrySettings,
        attempt_timeout: Duration,
    ) -> Self {
        let retry_config = RetryConfig::standard()
            .with_max_attempts(retry.count.saturating_add(1))
            .with_initial_backoff(retry.min_sleep)
            .with_max_backoff(retry.max_sleep);
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(3))
            .operation_attempt_timeout(attempt_timeout)
            .build();
        let config = aws_config::defaults(BehaviorVersion::latest())
            .http_client(https_client())
            .retry_config(retry_config)
            .timeout_config(timeouts)
            .load()
            .await;
        Self::new(&config)
    }

    pub fn new(config: &aws_config::SdkConfig) -> Self {
        AwsClients {
            kinesis: aws_sdk_kinesis::Client::new(config),
            cloudwatch: aws_sdk_cloudwatch::Client::new(config),
            lambda: aws_sdk_lambda::Client::new(config),
            tagging: aws_sdk_resourcegroupstagging::Client::new(config),
            #[cfg(feature = "cli")]
            iam: aws_sdk_iam::Client::new(config),
        }
    }
}

/// The SDK's hyper 1 / rustls client with ring as the crypto provider (the default one links
/// aws-lc, which doubles the binary's TLS code for nothing we use). One per process: the
/// clients built from one SdkConfig share its connection pool.
pub fn https_client() -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
    aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https()
}

impl AwsError {
    pub(crate) fn from_sdk<E>(
        call: &'static str,
        target: &str,
        err: SdkError<E, HttpResponse>,
    ) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let (code, kind) = match &err {
            SdkError::ServiceError(service) => {
                let kind = if service.raw().status().is_server_error() {
                    FailureKind::Unknown
                } else {
                    FailureKind::Refused
                };
                (service.err().code().map(str::to_string), kind)
            }
            SdkError::ConstructionFailure(_) => (None, FailureKind::Refused),
            _ => (None, FailureKind::Unknown),
        };
        let message = match (err.code(), err.message()) {
            (Some(code), Some(message)) => format!("{code}: {message}"),
            (Some(code), None) => code.to_string(),
            _ => DisplayErrorContext(&err).to_string(),
        };
        AwsError {
            call,
            target: target.to_string(),
            code,
            message,
            kind,
        }
    }
}

// ---- Kinesis ----------------------------------------------------------------------------

mod cloudwatch;
mod kinesis;
mod lambda;

impl AwsPort for AwsClients {
    async fn stream_summary(&self, stream: &str) -> AwsResult<StreamSummary> {
        kinesis::stream_summary(self, stream).await
    }

    async fn stream_tags(&self, stream: &str) -> AwsResult<HashMap<String, String>> {
        kinesis::stream_tags(self, stream).await
    }

    async fn tag_stream(&self, stream: &str, key: &str, value: &str) -> AwsResult<()> {
        kinesis::tag_stream(self, stream, key, value).await
    }

    async fn untag_stream(&self, stream: &str, key: &str) -> AwsResult<()> {
        kinesis::untag_stream(self, stream, key).await
    }

    async fn update_shard_count(&self, stream: &str, target: u32) -> AwsResult<()> {
        kinesis::update_shard_count(self, stream, target).await
    }

    async fn list_streams_page(&self, start_after: Option<&str>) -> AwsResult<Page<ListedStream>> {
        kinesis::list_streams_page(self, start_after).await
    }

    async fn open_shard_count(&self, stream: &str) -> AwsResult<u32> {
        kinesis::open_shard_count(self, stream).await
    }

    /// Shards the account may still open in this region.
    async fn account_headroom(&self) -> AwsResult<u32> {
        kinesis::account_headroom(self).await
    }

    // ---- CloudWatch -------------------------------------------------------------------------

    async fn describe_alarms(&self, names: &[String]) -> AwsResult<HashMap<String, ExistingAlarm>> {
        cloudwatch::describe_alarms(self, names).await
    }

    /// Every metric alarm whose name starts with `prefix` (all alarms for an empty prefix).
    async fn alarms_with_prefix(&self, prefix: &str) -> AwsResult<Vec<ExistingAlarm>> {
        cloudwatch::alarms_with_prefix(self, prefix).await
    }

    async fn alarms_page(
        &self,
        prefix: &str,
        next: Option<&str>,
    ) -> AwsResult<Page<ExistingAlarm>> {
        cloudwatch::alarms_page(self, prefix, next).await
    }

    async fn alarm_tags(&self, arn: &str) -> AwsResult<HashMap<String, String>> {
        cloudwatch::alarm_tags(self, arn).await
    }

    /// Creates or overwrites an alarm. `tags` apply when the alarm is created (CloudWatch
    /// ignores them on update; use [`tag_alarm`](crate::aws::port::AwsPort::tag_alarm) there).
    async fn put_alarm(&self, spec: &AlarmSpec, tags: &[(String, String)]) -> AwsResult<()> {
        cloudwatch::put_alarm(self, spec, tags).await
    }

    async fn set_alarm_state(&self, alarm: &str, state: &str, reason: &str) -> AwsResult<()> {
        cloudwatch::set_alarm_state(self, alarm, state, reason).await
    }

    async fn tag_alarm(&self, arn: &str, tags: &[(String, String)]) -> AwsResult<()> {
        cloudwatch::tag_alarm(self, arn, tags).await
    }

    async fn delete_alarms(&self, names: &[String]) -> AwsResult<()> {
        cloudwatch::delete_alarms(self, names).await
    }

    // ---- Lambda -----------------------------------------------------------------------------

    async fn incoming_metrics_page(
        &self,
        streams: &[String],
        start: chrono::DateTime<chrono::Utc>,
        end: chrono::DateTime<chrono::Utc>,
        period_secs: u32,
        next: Option<&str>,
    ) -> AwsResult<Page<IncomingSeries>> {
        cloudwatch::incoming_metrics_page(self, streams, start, end, period_secs, next).await
    }

    async fn tagged_resources_page(
        &self,
        types: &[&str],
        next: Option<&str>,
    ) -> AwsResult<Page<TaggedResource>> {
        kinesis::tagged_resources_page(self, types, next).await
    }

    async fn function_tags(&self, function: &str) -> AwsResult<HashMap<String, String>> {
        lambda::function_tags(self, function).await
    }

    async fn tag_function(&self, function: &str, key: &str, value: &str) -> AwsResult<()> {
        lambda::tag_function(self, function, key, value).await
    }

    async fn put_function_concurrency(&self, function: &str, reserved: u32) -> AwsResult<()> {
        lambda::put_function_concurrency(self, function, reserved).await
    }

    async fn stream_consumers(&self, stream_arn: &str) -> AwsResult<Vec<StreamConsumer>> {
        lambda::stream_consumers(self, stream_arn).await
    }

    async fn unreserved_concurrency(&self) -> AwsResult<u32> {
        lambda::unreserved_concurrency(self).await
    }

    async fn function_configuration(&self, function: &str) -> AwsResult<FunctionConfiguration> {
        lambda::function_configuration(self, function).await
    }

    #[cfg(feature = "cli")]
    async fn role_policies(&self, role_arn: &str) -> AwsResult<Vec<serde_json::Value>> {
        lambda::role_policies(self, role_arn).await
    }

    async fn function_concurrency(&self, function: &str) -> AwsResult<Option<u32>> {
        lambda::function_concurrency(self, function).await
    }
}

/// IAM returns policy documents URL-encoded (RFC 3986); an unreadable one becomes `null`.
#[cfg(feature = "cli")]
fn policy_document(encoded: &str) -> serde_json::Value {
    let bytes = encoded.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) if hex(h).is_some() && hex(l).is_some() => {
                decoded.push((hex(h).unwrap_or(0) * 16 + hex(l).unwrap_or(0)) as u8);
                i += 3;
            }
            (b'+', _, _) => {
                decoded.push(b' ');
                i += 1;
            }
            (b, _, _) => {
                decoded.push(b);
                i += 1;
            }
        }
    }
    serde_json::from_slice(&decoded).unwrap_or(serde_json::Value::Null)
}

/// Retries of `UpdateShardCount` are for throttling only. After a time-out, a 5xx or a lost
/// answer the reshard may have started, and AWS refuses the retry with ResourceInUseException,
/// which would read as "surely nothing happened" (history rolled back, alarms left for the old
/// count, no error metric). Without the retry the failure stays `Unknown`: reported, history kept.
#[derive(Debug)]
struct RetryOnlyThrottling;

impl ClassifyRetry for RetryOnlyThrottling {
    fn classify_retry(&self, _ctx: &InterceptorContext) -> RetryAction {
        RetryAction::NoActionIndicated
    }

    fn classify_retry_v2(&self, _ctx: &InterceptorContext, previous: &RetryAction) -> RetryAction {
        match previous {
            RetryAction::RetryIndicated(RetryReason::RetryableError {
                kind: ErrorKind::ThrottlingError,
                ..
            }) => RetryAction::NoActionIndicated,
            RetryAction::RetryIndicated(_) => RetryAction::RetryForbidden,
            _ => RetryAction::NoActionIndicated,
        }
    }

    fn name(&self) -> &'static str {
        "RetryOnlyThrottling"
    }

    fn priority(&self) -> RetryClassifierPriority {
        RetryClassifierPriority::run_after(RetryClassifierPriority::transient_error_classifier())
    }
}

fn existing_alarm(alarm: &cw::MetricAlarm) -> Option<ExistingAlarm> {
    let comparison = match alarm.comparison_operator()? {
        cw::ComparisonOperator::GreaterThanOrEqualToThreshold => {
            Comparison::GreaterThanOrEqualToThreshold
        }
        cw::ComparisonOperator::LessThanThreshold => Comparison::LessThanThreshold,
        _ => return None,
    };
    let metrics = alarm
        .metrics()
        .iter()
        .map(|q| MetricQuery {
            id: q.id().unwrap_or_default().to_string(),
            label: q.label().unwrap_or_default().to_string(),
            expression: q.expression().map(str::to_string),
            metric: q.metric_stat().map(|stat| {
                let metric = stat.metric();
                StreamMetric {
                    namespace: metric
                        .and_then(|m| m.namespace())
                        .unwrap_or_default()
                        .to_string(),
                    metric_name: metric
                        .and_then(|m| m.metric_name())
                        .unwrap_or_default()
                        .to_string(),
                    stream: metric
                        .map(|m| m.dimensions())
                        .unwrap_or_default()
                        .iter()
                        .find(|d| d.name() == Some("StreamName"))
                        .and_then(|d| d.value())
                        .unwrap_or_default()
                        .to_string(),
                    period_secs: stat
                        .period()
                        .and_then(|p| u32::try_from(p).ok())
                        .unwrap_or_default(),
                    stat: stat.stat().unwrap_or_default().to_string(),
                }
            }),
            return_data: q.return_data().unwrap_or(true),
        })
        .collect();
    let count = |n: Option<i32>| n.and_then(|n| u32::try_from(n).ok()).unwrap_or_default();
    Some(ExistingAlarm {
        arn: alarm.alarm_arn()?.to_string(),
        state: alarm
            .state_value()
            .map(|s| s.as_str().to_string())
            .unwrap_or_default(),
        // When it entered its state: StateTransitionedTimestamp where CloudWatch sends it
        // (StateUpdatedTimestamp also moves when only the evaluation state changes).
        state_since: alarm
            .state_transitioned_timestamp()
            .or(alarm.state_updated_timestamp())
            .and_then(|t| chrono::DateTime::from_timestamp(t.secs(), t.subsec_nanos())),
        spec: AlarmSpec {
            name: alarm.alarm_name()?.to_string(),
            description: alarm.alarm_description().map(str::to_string),
            actions_enabled: alarm.actions_enabled().unwrap_or(true),
            alarm_actions: alarm.alarm_actions().to_vec(),
            ok_actions: alarm.ok_actions().to_vec(),
            insufficient_data_actions: alarm.insufficient_data_actions().to_vec(),
            evaluation_periods: count(alarm.evaluation_periods()),
            datapoints_to_alarm: count(alarm.datapoints_to_alarm().or(alarm.evaluation_periods())),
            threshold: alarm.threshold().unwrap_or(f64::NAN),
            comparison,
            treat_missing_data: alarm.treat_missing_data().unwrap_or("missing").to_string(),
            metrics,
        },
    })
}

fn cw_tags(tags: &[(String, String)]) -> Vec<cw::Tag> {
    tags.iter()
        .map(|(k, v)| cw::Tag::builder().key(k).value(v).build())
        .collect()
}

/// A GetMetricData query for the `Sum` of one of a stream's `AWS/Kinesis` metrics.
fn sum_query(id: &str, metric: &str, stream: &str, period_secs: u32) -> cw::MetricDataQuery {
    stat_query(id, metric, "Sum", stream, period_secs)
}

fn stat_query(
    id: &str,
    metric: &str,
    stat: &str,
    stream: &str,
    period_secs: u32,
) -> cw::MetricDataQuery {
    cw::MetricDataQuery::builder()
        .id(id)
        .metric_stat(
            cw::MetricStat::builder()
                .metric(
                    cw::Metric::builder()
                        .namespace("AWS/Kinesis")
                        .metric_name(metric)
                        .dimensions(
                            cw::Dimension::builder()
                                .name("StreamName")
                                .value(stream)
                                .build(),
                        )
                        .build(),
                )
                .period(i32::try_from(period_secs).unwrap_or(i32::MAX))
                .stat(stat)
                .build(),
        )
        .return_data(true)
        .build()
}

#[cfg(test)]
mod tests;
