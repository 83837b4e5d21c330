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
    /// The stream's incoming traffic per `period_secs` in [start, end), oldest first.
    fn incoming_metrics(
        &self,
        stream: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        period_secs: u32,
    ) -> impl Future<Output = AwsResult<Vec<IncomingPoint>>> + Send;

    // ---- Lambda
    fn put_function_concurrency(
        &self,
        function: &str,
        reserved: u32,
    ) -> impl Future<Output = AwsResult<()>> + Send;
    fn delete_function_concurrency(
        &self,
        function: &str,
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

    // ---- IAM
    /// The permission policy documents of a role, inline and attached (ListRolePolicies,
    /// GetRolePolicy, ListAttachedRolePolicies, GetPolicy, GetPolicyVersion).
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
