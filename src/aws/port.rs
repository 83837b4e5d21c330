//! The port: every AWS operation the project uses, in domain types. The SDK adapter
//! ([`super::sdk::AwsClients`]) and the in-process fake ([`super::fake::FakeAws`]) implement
//! it; use cases are generic over it. Each method makes one logical call (pages included)
//! and makes no decision.

use crate::domain::alarms::{AlarmSpec, KeptFields};
use crate::domain::policy::{StreamMode, StreamStatus};
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::future::Future;

/// Whether a failed call surely changed nothing (the service answered with a refusal) or may
/// have taken effect (time-out, connection lost, 5xx).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    Refused,
    Unknown,
}

#[derive(Debug, Clone, thiserror::Error, serde::Serialize)]
// An empty target (every alarm) leaves no doubled space: "DescribeAlarms failed: ...".
#[error("{call}{}{target} failed: {message}", if target.is_empty() { "" } else { " " })]
pub struct AwsError {
    pub call: &'static str,
    pub target: String,
    pub code: Option<String>,
    pub message: String,
    pub kind: FailureKind,
}

impl AwsError {
    /// Whether AWS answered with this error code.
    pub fn is(&self, code: &str) -> bool {
        self.code.as_deref() == Some(code)
    }

    /// IAM said no: the caller's role lacks the permission (each service spells it its way).
    pub fn is_denied(&self) -> bool {
        matches!(
            self.code.as_deref(),
            Some("AccessDeniedException" | "AccessDenied" | "UnauthorizedOperation")
        )
    }
}

pub type AwsResult<T> = Result<T, AwsError>;

#[derive(Debug, Clone, PartialEq)]
pub struct StreamSummary {
    pub status: StreamStatus,
    pub mode: StreamMode,
    pub open_shards: u32,
}

/// An existing alarm, as far as we read it back.
#[derive(Debug, Clone, PartialEq)]
pub struct ExistingAlarm {
    pub arn: String,
    pub state: String,
    /// When the alarm entered `state`.
    pub state_since: Option<chrono::DateTime<chrono::Utc>>,
    pub spec: AlarmSpec,
}

impl ExistingAlarm {
    pub fn kept(&self) -> KeptFields {
        KeptFields {
            description: self.spec.description.clone(),
            alarm_actions: self.spec.alarm_actions.clone(),
            ok_actions: self.spec.ok_actions.clone(),
            insufficient_data_actions: self.spec.insufficient_data_actions.clone(),
        }
    }
}

/// One period of a stream's incoming traffic: the Sums of `IncomingBytes` and
/// `IncomingRecords` over the period starting at `start`. A period CloudWatch has no datapoint
/// for is absent from the answer, never zero.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IncomingPoint {
    pub start: DateTime<Utc>,
    pub bytes: f64,
    pub records: f64,
}

/// Queries a stream costs in a batched GetMetricData: the Sums of `IncomingBytes`,
/// `IncomingRecords` and `WriteProvisionedThroughputExceeded`, the Maximum of
/// `GetRecords.IteratorAgeMilliseconds`.
pub const METRIC_QUERIES_PER_STREAM: usize = 4;

/// Streams whose metrics one GetMetricData reads: CloudWatch takes at most 500 queries a
/// request, [`METRIC_QUERIES_PER_STREAM`] a stream.
pub const METRIC_STREAMS_PER_CALL: usize = 500 / METRIC_QUERIES_PER_STREAM;

/// Which of a stream's incoming metrics a series is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IncomingMetric {
    /// `IncomingBytes`.
    Bytes,
    /// `IncomingRecords`.
    Records,
    /// The Maximum of `GetRecords.IteratorAgeMilliseconds` (how far behind the stream's
    /// slowest consumer is), the scale-down alarm's `m3`.
    IteratorAge,
    /// `WriteProvisionedThroughputExceeded`: records refused for want of capacity, the
    /// demand a throttled period's `IncomingRecords` do not show.
    Throttled,
}

/// The name of [`IncomingMetric::Throttled`] in `AWS/Kinesis`.
pub const THROTTLED_METRIC: &str = "WriteProvisionedThroughputExceeded";

/// The datapoints (Sums; for [`IncomingMetric::IteratorAge`] Maxima) of one metric of one
/// stream that one page of a batched GetMetricData holds: a
/// stream's series may run over several pages (CloudWatch caps a page's datapoints, not its
/// queries), so pages are merged by [`merge_incoming`].
#[derive(Debug, Clone, PartialEq)]
pub struct IncomingSeries {
    pub stream: String,
    pub metric: IncomingMetric,
    /// (start of the period, Sum), in any order.
    pub points: Vec<(DateTime<Utc>, f64)>,
}

/// Each stream's [`IncomingPoint`]s, oldest first, from the series of every page. A period is
/// known when either metric has a datapoint there; the other is then 0 (CloudWatch omits a
/// Sum it has no datapoint for only when nothing arrived). A stream with no datapoint at all
/// is absent.
pub fn merge_incoming(
    series: impl IntoIterator<Item = IncomingSeries>,
) -> HashMap<String, Vec<IncomingPoint>> {
    let mut sums: HashMap<String, std::collections::BTreeMap<DateTime<Utc>, (f64, f64)>> =
        HashMap::new();
    for s in series {
        if !matches!(s.metric, IncomingMetric::Bytes | IncomingMetric::Records) {
            continue;
        }
        let stream = sums.entry(s.stream).or_default();
        for (at, value) in s.points {
            let sum = stream.entry(at).or_default();
            match s.metric {
                IncomingMetric::Bytes => sum.0 = value,
                IncomingMetric::Records => sum.1 = value,
                IncomingMetric::IteratorAge | IncomingMetric::Throttled => {}
            }
        }
    }
    sums.retain(|_, points| !points.is_empty());
    sums.into_iter()
        .map(|(stream, points)| {
            let points = points
                .into_iter()
                .map(|(start, (bytes, records))| IncomingPoint {
                    start,
                    bytes,
                    records,
                })
                .collect();
            (stream, points)
        })
        .collect()
}

/// Each stream's iterator-age Maxima (start of the period, milliseconds), oldest first, from
/// the series of every page. A stream without a datapoint is absent: no consumer read it, or
/// nothing lags (CloudWatch has the metric only while consumers call GetRecords).
pub fn merge_iterator_ages(
    series: &[IncomingSeries],
) -> HashMap<String, Vec<(DateTime<Utc>, f64)>> {
    merge_points(series, IncomingMetric::IteratorAge)
}

/// Each stream's datapoints of `metric` (start of the period, value; the larger where two
/// pages hold the same period), oldest first, from the series of every page. A stream
/// without a datapoint is absent.
pub fn merge_points(
    series: &[IncomingSeries],
    metric: IncomingMetric,
) -> HashMap<String, Vec<(DateTime<Utc>, f64)>> {
    let mut merged: HashMap<String, std::collections::BTreeMap<DateTime<Utc>, f64>> =
        HashMap::new();
    for s in series.iter().filter(|s| s.metric == metric) {
        let stream = merged.entry(s.stream.clone()).or_default();
        for (at, value) in &s.points {
            let max = stream.entry(*at).or_insert(*value);
            *max = max.max(*value);
        }
    }
    merged
        .into_iter()
        .filter(|(_, points)| !points.is_empty())
        .map(|(stream, points)| (stream, points.into_iter().collect()))
        .collect()
}

/// One page of a listing and the token of the next (`None` on the last page).
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<String>,
}

/// A stream as ListStreams' `StreamSummaries` describe it: no shard count.
#[derive(Debug, Clone, PartialEq)]
pub struct ListedStream {
    pub name: String,
    pub status: StreamStatus,
    pub mode: StreamMode,
    /// Whether `status` and `mode` came with the listing. An emulator (kinesis-mock, hence
    /// LocalStack) answers `StreamNames` without `StreamSummaries`: the stream is listed, and
    /// its status and mode (ACTIVE, PROVISIONED until then) are to be read with
    /// DescribeStreamSummary.
    pub summarized: bool,
}

/// The kinds of resource [`AwsPort::tagged_resources_page`] reads, by their Resource Groups
/// Tagging API type.
pub const TAGGED_STREAM: &str = "kinesis:stream";
pub const TAGGED_ALARM: &str = "cloudwatch:alarm";

/// A resource and its tags, from the Resource Groups Tagging API.
#[derive(Debug, Clone, PartialEq)]
pub struct TaggedResource {
    pub arn: String,
    pub tags: HashMap<String, String>,
}

impl TaggedResource {
    /// The stream's name, for a Kinesis stream ARN (`arn:...:stream/NAME`).
    pub fn stream_name(&self) -> Option<&str> {
        let (head, name) = self.arn.split_once(":stream/")?;
        head.starts_with("arn:").then_some(name)
    }

    /// The alarm's name, for a CloudWatch alarm ARN (`arn:...:alarm:NAME`).
    pub fn alarm_name(&self) -> Option<&str> {
        self.arn.split_once(":alarm:").map(|(_, name)| name)
    }
}

/// A Lambda function's deployed configuration, as far as `doctor` reads it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FunctionConfiguration {
    pub arn: String,
    /// The execution role's ARN.
    pub role: Option<String>,
    pub environment: HashMap<String, String>,
    pub runtime: Option<String>,
    pub architectures: Vec<String>,
}

/// A Lambda function reading a stream through an event source mapping.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamConsumer {
    pub function_arn: String,
    /// Concurrent batches per shard (1 to 10).
    pub parallelization_factor: u32,
}

/// The AWS operations of the project. Futures are `Send` so a Lambda handler can hold them.
pub trait AwsPort: Send + Sync {
    /// The time as AWS sees it: the wall clock, or the fake's simulated clock. Use cases take
    /// "now" from here so that they can run in simulated time.
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    // ---- Kinesis
    fn stream_summary(&self, stream: &str)
        -> impl Future<Output = AwsResult<StreamSummary>> + Send;
    fn stream_tags(
        &self,
        stream: &str,
    ) -> impl Future<Output = AwsResult<HashMap<String, String>>> + Send;
    fn tag_stream(
        &self,
        stream: &str,
        key: &str,
        value: &str,
    ) -> impl Future<Output = AwsResult<()>> + Send;
    fn untag_stream(&self, stream: &str, key: &str) -> impl Future<Output = AwsResult<()>> + Send;
    /// UNIFORM_SCALING to `target` open shards.
    fn update_shard_count(
        &self,
        stream: &str,
        target: u32,
    ) -> impl Future<Output = AwsResult<()>> + Send;
    /// One page (up to 100) of the account's streams in name order, after `start_after`
    /// (ListStreams with `StreamSummaries`); `next` is the name to start after next.
    fn list_streams_page(
        &self,
        start_after: Option<&str>,
    ) -> impl Future<Output = AwsResult<Page<ListedStream>>> + Send;
    /// The stream's open shard count from ListShards (quota per stream, not per account).
    fn open_shard_count(&self, stream: &str) -> impl Future<Output = AwsResult<u32>> + Send;
    /// Shards the account may still open in this region (DescribeLimits).
    fn account_headroom(&self) -> impl Future<Output = AwsResult<u32>> + Send;

    // ---- CloudWatch
    /// The named metric alarms that exist, by name.
    fn describe_alarms(
        &self,
        names: &[String],
    ) -> impl Future<Output = AwsResult<HashMap<String, ExistingAlarm>>> + Send;
    /// Every metric alarm whose name starts with `prefix` (all alarms for an empty prefix).
    fn alarms_with_prefix(
        &self,
        prefix: &str,
    ) -> impl Future<Output = AwsResult<Vec<ExistingAlarm>>> + Send;
    /// One page (up to 100) of the metric alarms whose names start with `prefix`.
    fn alarms_page(
        &self,
        prefix: &str,
        next: Option<&str>,
    ) -> impl Future<Output = AwsResult<Page<ExistingAlarm>>> + Send;
    fn alarm_tags(
        &self,
        arn: &str,
    ) -> impl Future<Output = AwsResult<HashMap<String, String>>> + Send;
    /// Creates or overwrites an alarm. `tags` apply when the alarm is created (CloudWatch
    /// ignores them on update; use [`AwsPort::tag_alarm`] there).
    fn put_alarm(
        &self,
        spec: &AlarmSpec,
        tags: &[(String, String)],
    ) -> impl Future<Output = AwsResult<()>> + Send;
    fn set_alarm_state(
        &self,
        alarm: &str,
        state: &str,
        reason: &str,
    ) -> impl Future<Output = AwsResult<()>> + Send;
    fn tag_alarm(
        &self,
        arn: &str,
        tags: &[(String, String)],
    ) -> impl Future<Output = AwsResult<()>> + Send;
    fn delete_alarms(&self, names: &[String]) -> impl Future<Output = AwsResult<()>> + Send;
    /// One page of the incoming traffic and the iterator age of up to
    /// [`METRIC_STREAMS_PER_CALL`] streams per `period_secs` in [start, end) (one GetMetricData
    /// of [`METRIC_QUERIES_PER_STREAM`] queries a stream); `next` is the NextToken of the page
    /// before. Merge the pages with [`merge_incoming`] and [`merge_iterator_ages`].
    fn incoming_metrics_page(
        &self,
        streams: &[String],
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        period_secs: u32,
        next: Option<&str>,
    ) -> impl Future<Output = AwsResult<Page<IncomingSeries>>> + Send;

    // ---- Resource Groups Tagging
    /// One page of resources of the given types (`kinesis:stream`, `cloudwatch:alarm`) that
    /// carry (or carried) tags, with their tags (GetResources). A resource absent from every
    /// page has no tags.
    fn tagged_resources_page(
        &self,
        types: &[&str],
        next: Option<&str>,
    ) -> impl Future<Output = AwsResult<Page<TaggedResource>>> + Send;

    // ---- Lambda
    fn put_function_concurrency(
        &self,
        function: &str,
        reserved: u32,
    ) -> impl Future<Output = AwsResult<()>> + Send;
    /// The function's tags (GetFunction).
    fn function_tags(
        &self,
        function: &str,
    ) -> impl Future<Output = AwsResult<HashMap<String, String>>> + Send;
    fn tag_function(
        &self,
        function: &str,
        key: &str,
        value: &str,
    ) -> impl Future<Output = AwsResult<()>> + Send;
    /// The enabled Lambda consumers of a stream (ListEventSourceMappings by EventSourceArn).
    fn stream_consumers(
        &self,
        stream_arn: &str,
    ) -> impl Future<Output = AwsResult<Vec<StreamConsumer>>> + Send;
    /// The account's unreserved concurrency (GetAccountSettings); AWS keeps at least 100.
    fn unreserved_concurrency(&self) -> impl Future<Output = AwsResult<u32>> + Send;
    /// A function's configuration (GetFunctionConfiguration).
    fn function_configuration(
        &self,
        function: &str,
    ) -> impl Future<Output = AwsResult<FunctionConfiguration>> + Send;

    // ---- IAM (the command line's `doctor` only: the function is built without it)
    /// The permission policy documents of a role, inline and attached (ListRolePolicies,
    /// GetRolePolicy, ListAttachedRolePolicies, GetPolicy, GetPolicyVersion).
    #[cfg(feature = "cli")]
    fn role_policies(
        &self,
        role_arn: &str,
    ) -> impl Future<Output = AwsResult<Vec<serde_json::Value>>> + Send;

    /// The function's reserved concurrency; `None` when it has none.
    fn function_concurrency(
        &self,
        function: &str,
    ) -> impl Future<Output = AwsResult<Option<u32>>> + Send;
}

/// An alarm's ARN from a sibling's: same partition, region and account.
pub fn sibling_alarm_arn(arn: &str, sibling_name: &str) -> Option<String> {
    let (prefix, _) = arn.split_once(":alarm:")?;
    Some(format!("{prefix}:alarm:{sibling_name}"))
}
