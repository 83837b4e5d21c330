//! The thin AWS layer: one set of clients per process, and small async functions that make one
//! call each and speak our own types. No decisions are made here.
//!
//! (Longer than the usual 600 lines: one short translation per port operation, four services,
//! sharing one error mapping; split by service it would read no better.)

use crate::domain::alarms::{
    AlarmSpec, Comparison, MetricQuery, StreamMetric, ITERATOR_AGE_METRIC, ITERATOR_AGE_STAT,
};
use crate::domain::policy::{StreamMode, StreamStatus};
use crate::domain::settings::RetrySettings;
use aws_config::retry::ErrorKind;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::BehaviorVersion;
use aws_sdk_cloudwatch::error::ProvideErrorMetadata;
use aws_sdk_cloudwatch::primitives::DateTime as SmithyDateTime;
use aws_sdk_cloudwatch::types as cw;
use aws_sdk_kinesis::error::{DisplayErrorContext, SdkError};
use aws_sdk_kinesis::types as kn;
use aws_smithy_runtime_api::client::interceptors::context::InterceptorContext;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::retries::classifiers::{
    ClassifyRetry, RetryAction, RetryClassifierPriority, RetryReason,
};
use std::collections::{BTreeMap, HashMap};

use super::port::{
    AwsError, AwsPort, AwsResult, ExistingAlarm, FailureKind, FunctionConfiguration,
    IncomingMetric, IncomingPoint, IncomingSeries, ListedStream, Page, StreamConsumer,
    StreamSummary, TaggedResource,
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

impl AwsPort for AwsClients {
    async fn stream_summary(&self, stream: &str) -> AwsResult<StreamSummary> {
        let out = self
            .kinesis
            .describe_stream_summary()
            .stream_name(stream)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("DescribeStreamSummary", stream, e))?;
        let invalid = |why: &str| AwsError {
            call: "DescribeStreamSummary",
            target: stream.to_string(),
            code: None,
            message: why.to_string(),
            kind: FailureKind::Refused,
        };
        let summary = out
            .stream_description_summary()
            .ok_or_else(|| invalid("no StreamDescriptionSummary in the answer"))?;
        let status = match summary.stream_status() {
            kn::StreamStatus::Active => StreamStatus::Active,
            kn::StreamStatus::Updating => StreamStatus::Updating,
            kn::StreamStatus::Creating => StreamStatus::Creating,
            kn::StreamStatus::Deleting => StreamStatus::Deleting,
            other => return Err(invalid(&format!("unknown stream status {other}"))),
        };
        let mode = match summary.stream_mode_details().map(|d| d.stream_mode()) {
            Some(kn::StreamMode::OnDemand) => StreamMode::OnDemand,
            _ => StreamMode::Provisioned,
        };
        let open_shards = u32::try_from(summary.open_shard_count())
            .map_err(|_| invalid("negative OpenShardCount in the answer"))?;
        Ok(StreamSummary {
            status,
            mode,
            open_shards,
        })
    }

    async fn stream_tags(&self, stream: &str) -> AwsResult<HashMap<String, String>> {
        let mut tags = HashMap::new();
        let mut start: Option<String> = None;
        loop {
            let out = self
                .kinesis
                .list_tags_for_stream()
                .stream_name(stream)
                .set_exclusive_start_tag_key(start.take())
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("ListTagsForStream", stream, e))?;
            for tag in out.tags() {
                tags.insert(
                    tag.key().to_string(),
                    tag.value().unwrap_or_default().to_string(),
                );
            }
            match (out.has_more_tags(), out.tags().last()) {
                (true, Some(last)) => start = Some(last.key().to_string()),
                _ => return Ok(tags),
            }
        }
    }

    async fn tag_stream(&self, stream: &str, key: &str, value: &str) -> AwsResult<()> {
        self.kinesis
            .add_tags_to_stream()
            .stream_name(stream)
            .tags(key, value)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| AwsError::from_sdk("AddTagsToStream", stream, e))
    }

    async fn untag_stream(&self, stream: &str, key: &str) -> AwsResult<()> {
        self.kinesis
            .remove_tags_from_stream()
            .stream_name(stream)
            .tag_keys(key)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| AwsError::from_sdk("RemoveTagsFromStream", stream, e))
    }

    async fn update_shard_count(&self, stream: &str, target: u32) -> AwsResult<()> {
        let target_i32 = i32::try_from(target).unwrap_or(i32::MAX);
        self.kinesis
            .update_shard_count()
            .stream_name(stream)
            .target_shard_count(target_i32)
            .scaling_type(kn::ScalingType::UniformScaling)
            // The SDK counts LimitExceededException as throttling; here it usually means a limit
            // that waiting seconds will not lift, so do not spend the full retry budget on it.
            .customize()
            .config_override(
                aws_sdk_kinesis::config::Config::builder()
                    .retry_config(RetryConfig::standard().with_max_attempts(3))
                    .retry_classifier(RetryOnlyThrottling),
            )
            .send()
            .await
            .map(|_| ())
            .map_err(|e| AwsError::from_sdk("UpdateShardCount", stream, e))
    }

    async fn list_streams_page(&self, start_after: Option<&str>) -> AwsResult<Page<ListedStream>> {
        let out = self
            .kinesis
            .list_streams()
            .limit(100)
            .set_exclusive_start_stream_name(start_after.map(str::to_string))
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("ListStreams", start_after.unwrap_or(""), e))?;
        // The page is StreamNames; summaries are matched to it by name (moto sends the
        // summaries of every stream with each page; kinesis-mock sends none: a name without
        // one is listed all the same, its status and mode left to DescribeStreamSummary).
        let summaries: HashMap<&str, &kn::StreamSummary> = out
            .stream_summaries()
            .iter()
            .map(|s| (s.stream_name(), s))
            .collect();
        let mut items = Vec::new();
        for name in out.stream_names() {
            let Some(summary) = summaries.get(name.as_str()) else {
                items.push(ListedStream {
                    name: name.clone(),
                    status: StreamStatus::Active,
                    mode: StreamMode::Provisioned,
                    summarized: false,
                });
                continue;
            };
            let status = match summary.stream_status() {
                kn::StreamStatus::Active => StreamStatus::Active,
                kn::StreamStatus::Updating => StreamStatus::Updating,
                kn::StreamStatus::Creating => StreamStatus::Creating,
                _ => StreamStatus::Deleting,
            };
            let mode = match summary.stream_mode_details().map(|d| d.stream_mode()) {
                Some(kn::StreamMode::OnDemand) => StreamMode::OnDemand,
                _ => StreamMode::Provisioned,
            };
            items.push(ListedStream {
                name: name.clone(),
                status,
                mode,
                summarized: true,
            });
        }
        let next = if out.has_more_streams() {
            out.stream_names().last().cloned()
        } else {
            None
        };
        Ok(Page { items, next })
    }

    async fn open_shard_count(&self, stream: &str) -> AwsResult<u32> {
        let mut open = 0u32;
        let mut token: Option<String> = None;
        let filter = kn::ShardFilter::builder()
            .r#type(kn::ShardFilterType::AtLatest)
            .build()
            .map_err(|e| AwsError {
                call: "ListShards",
                target: stream.to_string(),
                code: None,
                message: e.to_string(),
                kind: FailureKind::Refused,
            })?;
        loop {
            // ListShards takes the stream name or a token, never both.
            let request = self.kinesis.list_shards().max_results(10_000);
            let request = match token.take() {
                Some(token) => request.next_token(token),
                None => request.stream_name(stream).shard_filter(filter.clone()),
            };
            let out = request
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("ListShards", stream, e))?;
            // AT_LATEST lists open shards only; counting those without an ending sequence
            // number also holds where the filter is ignored (moto).
            let page_open = out
                .shards()
                .iter()
                .filter(|s| {
                    s.sequence_number_range()
                        .and_then(|r| r.ending_sequence_number())
                        .is_none()
                })
                .count();
            open = open.saturating_add(u32::try_from(page_open).unwrap_or(u32::MAX));
            match out.next_token() {
                Some(next) if !next.is_empty() => token = Some(next.to_string()),
                _ => return Ok(open),
            }
        }
    }

    /// Shards the account may still open in this region.
    async fn account_headroom(&self) -> AwsResult<u32> {
        let out = self
            .kinesis
            .describe_limits()
            // 1 call a second for the whole account: one quick retry here; the pacing
            // wrapper backs off with jitter beyond that, and keeps the answer 3 minutes.
            .customize()
            .config_override(
                aws_sdk_kinesis::config::Config::builder()
                    .retry_config(RetryConfig::standard().with_max_attempts(2)),
            )
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("DescribeLimits", "account", e))?;
        Ok(u32::try_from(out.shard_limit().saturating_sub(out.open_shard_count())).unwrap_or(0))
    }

    // ---- CloudWatch -------------------------------------------------------------------------

    async fn describe_alarms(&self, names: &[String]) -> AwsResult<HashMap<String, ExistingAlarm>> {
        let out = self
            .cloudwatch
            .describe_alarms()
            .set_alarm_names(Some(names.to_vec()))
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("DescribeAlarms", &names.join(","), e))?;
        Ok(out
            .metric_alarms()
            .iter()
            .filter_map(existing_alarm)
            .map(|alarm| (alarm.spec.name.clone(), alarm))
            .collect())
    }

    /// Every metric alarm whose name starts with `prefix` (all alarms for an empty prefix).
    async fn alarms_with_prefix(&self, prefix: &str) -> AwsResult<Vec<ExistingAlarm>> {
        let mut alarms = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let out = self
                .cloudwatch
                .describe_alarms()
                .set_alarm_name_prefix(Some(prefix.to_string()).filter(|p| !p.is_empty()))
                .alarm_types(cw::AlarmType::MetricAlarm)
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("DescribeAlarms", prefix, e))?;
            alarms.extend(out.metric_alarms().iter().filter_map(existing_alarm));
            match out.next_token() {
                Some(next) if !next.is_empty() => token = Some(next.to_string()),
                _ => return Ok(alarms),
            }
        }
    }

    async fn alarms_page(
        &self,
        prefix: &str,
        next: Option<&str>,
    ) -> AwsResult<Page<ExistingAlarm>> {
        let out = self
            .cloudwatch
            .describe_alarms()
            .set_alarm_name_prefix(Some(prefix.to_string()).filter(|p| !p.is_empty()))
            .alarm_types(cw::AlarmType::MetricAlarm)
            .max_records(100)
            .set_next_token(next.map(str::to_string))
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("DescribeAlarms", prefix, e))?;
        Ok(Page {
            items: out
                .metric_alarms()
                .iter()
                .filter_map(existing_alarm)
                .collect(),
            next: out
                .next_token()
                .filter(|t| !t.is_empty())
                .map(str::to_string),
        })
    }

    async fn alarm_tags(&self, arn: &str) -> AwsResult<HashMap<String, String>> {
        let out = self
            .cloudwatch
            .list_tags_for_resource()
            .resource_arn(arn)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("ListTagsForResource", arn, e))?;
        Ok(out
            .tags()
            .iter()
            .filter_map(|t| {
                Some((
                    t.key()?.to_string(),
                    t.value().unwrap_or_default().to_string(),
                ))
            })
            .collect())
    }

    /// Creates or overwrites an alarm. `tags` apply when the alarm is created (CloudWatch
    /// ignores them on update; use [`tag_alarm`] there).
    async fn put_alarm(&self, spec: &AlarmSpec, tags: &[(String, String)]) -> AwsResult<()> {
        let metrics = spec
            .metrics
            .iter()
            .map(|q| {
                let stat = q.metric.as_ref().map(|m| {
                    cw::MetricStat::builder()
                        .metric(
                            cw::Metric::builder()
                                .namespace(&m.namespace)
                                .metric_name(&m.metric_name)
                                .dimensions(
                                    cw::Dimension::builder()
                                        .name("StreamName")
                                        .value(&m.stream)
                                        .build(),
                                )
                                .build(),
                        )
                        .period(i32::try_from(m.period_secs).unwrap_or(i32::MAX))
                        .stat(&m.stat)
                        .build()
                });
                cw::MetricDataQuery::builder()
                    .id(&q.id)
                    .label(&q.label)
                    .set_expression(q.expression.clone())
                    .set_metric_stat(stat)
                    .return_data(q.return_data)
                    .build()
            })
            .collect();
        let count = |n: u32| i32::try_from(n).unwrap_or(i32::MAX);
        self.cloudwatch
            .put_metric_alarm()
            .alarm_name(&spec.name)
            .set_alarm_description(spec.description.clone())
            .actions_enabled(spec.actions_enabled)
            .set_alarm_actions(Some(spec.alarm_actions.clone()))
            .set_ok_actions(Some(spec.ok_actions.clone()))
            .set_insufficient_data_actions(Some(spec.insufficient_data_actions.clone()))
            .evaluation_periods(count(spec.evaluation_periods))
            .datapoints_to_alarm(count(spec.datapoints_to_alarm))
            .threshold(spec.threshold)
            .comparison_operator(cw::ComparisonOperator::from(spec.comparison.as_str()))
            .treat_missing_data(&spec.treat_missing_data)
            .set_metrics(Some(metrics))
            .set_tags(Some(cw_tags(tags)).filter(|t| !t.is_empty()))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| AwsError::from_sdk("PutMetricAlarm", &spec.name, e))
    }

    async fn set_alarm_state(&self, alarm: &str, state: &str, reason: &str) -> AwsResult<()> {
        self.cloudwatch
            .set_alarm_state()
            .alarm_name(alarm)
            .state_value(cw::StateValue::from(state))
            .state_reason(reason)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| AwsError::from_sdk("SetAlarmState", alarm, e))
    }

    async fn tag_alarm(&self, arn: &str, tags: &[(String, String)]) -> AwsResult<()> {
        self.cloudwatch
            .tag_resource()
            .resource_arn(arn)
            .set_tags(Some(cw_tags(tags)))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| AwsError::from_sdk("TagResource", arn, e))
    }

    async fn delete_alarms(&self, names: &[String]) -> AwsResult<()> {
        self.cloudwatch
            .delete_alarms()
            .set_alarm_names(Some(names.to_vec()))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| AwsError::from_sdk("DeleteAlarms", &names.join(","), e))
    }

    // ---- Lambda -----------------------------------------------------------------------------

    async fn incoming_metrics(
        &self,
        stream: &str,
        start: chrono::DateTime<chrono::Utc>,
        end: chrono::DateTime<chrono::Utc>,
        period_secs: u32,
    ) -> AwsResult<Vec<IncomingPoint>> {
        let query = |id: &str, metric: &str| sum_query(id, metric, stream, period_secs);
        let mut bytes: BTreeMap<i64, f64> = BTreeMap::new();
        let mut records: BTreeMap<i64, f64> = BTreeMap::new();
        let mut token: Option<String> = None;
        loop {
            let out = self
                .cloudwatch
                .get_metric_data()
                .metric_data_queries(query("bytes", "IncomingBytes"))
                .metric_data_queries(query("records", "IncomingRecords"))
                .start_time(SmithyDateTime::from_secs(start.timestamp()))
                .end_time(SmithyDateTime::from_secs(end.timestamp()))
                .scan_by(cw::ScanBy::TimestampAscending)
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("GetMetricData", stream, e))?;
            for result in out.metric_data_results() {
                let into = match result.id() {
                    Some("bytes") => &mut bytes,
                    Some("records") => &mut records,
                    _ => continue,
                };
                for (at, value) in result.timestamps().iter().zip(result.values()) {
                    into.insert(at.secs(), *value);
                }
            }
            match out.next_token() {
                Some(next) if !next.is_empty() => token = Some(next.to_string()),
                _ => break,
            }
        }
        // A period is known when either metric has a datapoint there; the other is then 0
        // (CloudWatch omits a Sum it has no datapoint for only when nothing arrived).
        let starts: std::collections::BTreeSet<i64> =
            bytes.keys().chain(records.keys()).copied().collect();
        Ok(starts
            .into_iter()
            .filter_map(|secs| {
                Some(IncomingPoint {
                    start: chrono::DateTime::from_timestamp(secs, 0)?,
                    bytes: bytes.get(&secs).copied().unwrap_or(0.0),
                    records: records.get(&secs).copied().unwrap_or(0.0),
                })
            })
            .collect())
    }

    async fn incoming_metrics_page(
        &self,
        streams: &[String],
        start: chrono::DateTime<chrono::Utc>,
        end: chrono::DateTime<chrono::Utc>,
        period_secs: u32,
        next: Option<&str>,
    ) -> AwsResult<Page<IncomingSeries>> {
        // Query ids must start with a lower-case letter: `b<i>`, `r<i>` and `a<i>` for the
        // i-th stream (`a`: the scale-down alarm's m3, for the lag guard).
        let query =
            |id: String, metric: &str, stream: &str| sum_query(&id, metric, stream, period_secs);
        let queries = streams
            .iter()
            .enumerate()
            .flat_map(|(i, stream)| {
                [
                    query(format!("b{i}"), "IncomingBytes", stream),
                    query(format!("r{i}"), "IncomingRecords", stream),
                    stat_query(
                        &format!("a{i}"),
                        ITERATOR_AGE_METRIC,
                        ITERATOR_AGE_STAT,
                        stream,
                        period_secs,
                    ),
                ]
            })
            .collect();
        let target = format!("{} streams", streams.len());
        let out = self
            .cloudwatch
            .get_metric_data()
            .set_metric_data_queries(Some(queries))
            .start_time(SmithyDateTime::from_secs(start.timestamp()))
            .end_time(SmithyDateTime::from_secs(end.timestamp()))
            .scan_by(cw::ScanBy::TimestampAscending)
            .set_next_token(next.map(str::to_string))
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("GetMetricData", &target, e))?;
        let items = out
            .metric_data_results()
            .iter()
            .filter_map(|result| {
                let id = result.id()?;
                let metric = match id.get(..1)? {
                    "b" => IncomingMetric::Bytes,
                    "r" => IncomingMetric::Records,
                    "a" => IncomingMetric::IteratorAge,
                    _ => return None,
                };
                let stream = streams.get(id.get(1..)?.parse::<usize>().ok()?)?;
                let points = result
                    .timestamps()
                    .iter()
                    .zip(result.values())
                    .filter_map(|(at, value)| {
                        Some((chrono::DateTime::from_timestamp(at.secs(), 0)?, *value))
                    })
                    .collect();
                Some(IncomingSeries {
                    stream: stream.clone(),
                    metric,
                    points,
                })
            })
            .collect();
        let next = out
            .next_token()
            .filter(|t| !t.is_empty())
            .map(str::to_string);
        Ok(Page { items, next })
    }

    async fn tagged_resources_page(
        &self,
        types: &[&str],
        next: Option<&str>,
    ) -> AwsResult<Page<TaggedResource>> {
        let out = self
            .tagging
            .get_resources()
            .set_resource_type_filters(Some(types.iter().map(|t| t.to_string()).collect()))
            .resources_per_page(100)
            .set_pagination_token(next.map(str::to_string))
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("GetResources", &types.join(","), e))?;
        Ok(Page {
            items: out
                .resource_tag_mapping_list()
                .iter()
                .filter_map(|mapping| {
                    Some(TaggedResource {
                        arn: mapping.resource_arn()?.to_string(),
                        tags: mapping
                            .tags()
                            .iter()
                            .map(|t| (t.key().to_string(), t.value().to_string()))
                            .collect(),
                    })
                })
                .collect(),
            next: out
                .pagination_token()
                .filter(|t| !t.is_empty())
                .map(str::to_string),
        })
    }

    async fn function_tags(&self, function: &str) -> AwsResult<HashMap<String, String>> {
        let out = self
            .lambda
            .get_function()
            .function_name(function)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("GetFunction", function, e))?;
        Ok(out.tags().cloned().unwrap_or_default())
    }

    async fn tag_function(&self, function: &str, key: &str, value: &str) -> AwsResult<()> {
        // TagResource takes the ARN only.
        let out = self
            .lambda
            .get_function()
            .function_name(function)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("GetFunction", function, e))?;
        let arn = out
            .configuration()
            .and_then(|c| c.function_arn())
            .unwrap_or(function)
            .to_string();
        self.lambda
            .tag_resource()
            .resource(&arn)
            .tags(key, value)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| AwsError::from_sdk("TagResource", function, e))
    }

    async fn put_function_concurrency(&self, function: &str, reserved: u32) -> AwsResult<()> {
        self.lambda
            .put_function_concurrency()
            .function_name(function)
            .reserved_concurrent_executions(i32::try_from(reserved).unwrap_or(i32::MAX))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| AwsError::from_sdk("PutFunctionConcurrency", function, e))
    }

    async fn delete_function_concurrency(&self, function: &str) -> AwsResult<()> {
        self.lambda
            .delete_function_concurrency()
            .function_name(function)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| AwsError::from_sdk("DeleteFunctionConcurrency", function, e))
    }

    async fn stream_consumers(&self, stream_arn: &str) -> AwsResult<Vec<StreamConsumer>> {
        let mut consumers = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let out = self
                .lambda
                .list_event_source_mappings()
                .event_source_arn(stream_arn)
                .set_marker(marker.take())
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("ListEventSourceMappings", stream_arn, e))?;
            for mapping in out.event_source_mappings() {
                let enabled = matches!(mapping.state(), Some("Enabled" | "Enabling" | "Updating"));
                if let (true, Some(function)) = (enabled, mapping.function_arn()) {
                    consumers.push(StreamConsumer {
                        function_arn: function.to_string(),
                        parallelization_factor: mapping
                            .parallelization_factor()
                            .and_then(|p| u32::try_from(p).ok())
                            .unwrap_or(1)
                            .max(1),
                    });
                }
            }
            match out.next_marker() {
                Some(next) if !next.is_empty() => marker = Some(next.to_string()),
                _ => break,
            }
        }
        Ok(consumers)
    }

    async fn unreserved_concurrency(&self) -> AwsResult<u32> {
        let out = self
            .lambda
            .get_account_settings()
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("GetAccountSettings", "account", e))?;
        let limit = out.account_limit();
        Ok(limit
            .and_then(|l| l.unreserved_concurrent_executions())
            .or_else(|| limit.map(|l| l.concurrent_executions()))
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or(0))
    }

    async fn function_configuration(&self, function: &str) -> AwsResult<FunctionConfiguration> {
        let out = self
            .lambda
            .get_function_configuration()
            .function_name(function)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("GetFunctionConfiguration", function, e))?;
        Ok(FunctionConfiguration {
            arn: out.function_arn().unwrap_or_default().to_string(),
            role: out.role().map(str::to_string),
            environment: out
                .environment()
                .and_then(|e| e.variables())
                .cloned()
                .unwrap_or_default(),
            runtime: out.runtime().map(|r| r.as_str().to_string()),
            architectures: out
                .architectures()
                .iter()
                .map(|a| a.as_str().to_string())
                .collect(),
        })
    }

    async fn role_policies(&self, role_arn: &str) -> AwsResult<Vec<serde_json::Value>> {
        // arn:aws:iam::ACCOUNT:role/PATH/NAME: the name is the last part.
        let role = role_arn.rsplit('/').next().unwrap_or(role_arn);
        let mut documents = Vec::new();
        let inline = self
            .iam
            .list_role_policies()
            .role_name(role)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("ListRolePolicies", role_arn, e))?;
        for name in inline.policy_names() {
            let out = self
                .iam
                .get_role_policy()
                .role_name(role)
                .policy_name(name)
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("GetRolePolicy", role_arn, e))?;
            documents.push(policy_document(out.policy_document()));
        }
        let attached = self
            .iam
            .list_attached_role_policies()
            .role_name(role)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("ListAttachedRolePolicies", role_arn, e))?;
        for policy in attached.attached_policies() {
            let Some(arn) = policy.policy_arn() else {
                continue;
            };
            let found = self
                .iam
                .get_policy()
                .policy_arn(arn)
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("GetPolicy", role_arn, e))?;
            let Some(version) = found.policy().and_then(|p| p.default_version_id()) else {
                continue;
            };
            let out = self
                .iam
                .get_policy_version()
                .policy_arn(arn)
                .version_id(version)
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("GetPolicyVersion", role_arn, e))?;
            if let Some(document) = out.policy_version().and_then(|v| v.document()) {
                documents.push(policy_document(document));
            }
        }
        Ok(documents)
    }

    async fn function_concurrency(&self, function: &str) -> AwsResult<Option<u32>> {
        let out = self
            .lambda
            .get_function_concurrency()
            .function_name(function)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("GetFunctionConcurrency", function, e))?;
        Ok(out
            .reserved_concurrent_executions()
            .and_then(|n| u32::try_from(n).ok()))
    }
}

/// IAM returns policy documents URL-encoded (RFC 3986); an unreadable one becomes `null`.
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
mod tests {
    use super::super::port::sibling_alarm_arn;

    #[test]
    fn sibling_arns_share_partition_region_and_account() {
        assert_eq!(
            sibling_alarm_arn(
                "arn:aws-cn:cloudwatch:cn-north-1:123456789012:alarm:orders-scale-up",
                "orders-scale-down"
            )
            .as_deref(),
            Some("arn:aws-cn:cloudwatch:cn-north-1:123456789012:alarm:orders-scale-down")
        );
        assert_eq!(sibling_alarm_arn("not-an-arn", "x"), None);
    }
}
