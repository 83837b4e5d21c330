//! (Longer than the usual 600 lines on purpose: one account's worth of AWS rules reads best in
//! one place, and its own tests sit at the end.)
//!
//! An in-process AWS behind the [`AwsPort`]: Kinesis streams, CloudWatch alarms and metrics,
//! Lambda concurrency, held in memory. It plays the rules of AWS that the emulators skip,
//! so use cases can be tested fast and deterministically:
//!
//! - UpdateShardCount: target within [ceil(N/2), 2N] and at most 10,000, at most 10 calls per
//!   stream in a rolling 24 hours, the account's shard limit, and the UPDATING window
//!   (`reshard_delay`), during which another reshard is refused with ResourceInUseException;
//! - a new alarm starts in INSUFFICIENT_DATA and takes its tags at creation only; an update
//!   keeps its state;
//! - per-account API rate quotas (opt-in, [`FakeAws::with_quota`]), on tokio's clock so that
//!   tests with paused time run them instantly.
//!
//! Faults are injected per call ([`FakeAws::inject`]): a refusal (nothing happened), a lost
//! answer (it happened, the caller hears a failure), throttling, or a crash: the call takes
//! effect and every later call fails, as when a Lambda times out or runs out of memory right
//! after it. [`FakeAws::restart`] brings the process back. Every call is recorded.
//!
//! Time: the fake has its own clock ([`FakeAws::now`], [`FakeAws::advance`]), which drives the
//! UPDATING window, the 24-hour reshard count and alarm state times.

use super::port::{
    AwsError, AwsPort, AwsResult, ExistingAlarm, FailureKind, FunctionConfiguration, IncomingPoint,
    IncomingSeries, ListedStream, Page, StreamConsumer, StreamSummary, TaggedResource,
};
use crate::domain::alarms::AlarmSpec;
use crate::domain::policy::StreamMode;
use crate::domain::settings::AWS_DAILY_RESHARD_LIMIT;
use chrono::{DateTime, Duration, Utc};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};

/// The account and region in the fake's ARNs (AWS's documentation placeholder).
pub const FAKE_ACCOUNT: &str = "123456789012";
pub const FAKE_REGION: &str = "us-east-1";
/// AWS's per-stream limit on UpdateShardCount calls in a rolling 24 hours.
const RESHARDS_PER_DAY: usize = AWS_DAILY_RESHARD_LIMIT as usize;
/// GetMetricData: queries a request and datapoints a page (CloudWatch's limits).
const METRIC_QUERIES_PER_CALL: usize = 500;
const DATAPOINTS_PER_PAGE: usize = 100_800;

/// What an injected fault does to one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// AWS refuses: nothing happens; the error carries this code (e.g. `AccessDeniedException`).
    Refuse(&'static str),
    /// Throttled: nothing happens (`Throttling` for CloudWatch, `LimitExceededException` for
    /// Kinesis and Lambda).
    Throttle,
    /// The call takes effect but its answer is lost (time-out, 5xx).
    LoseAnswer,
    /// The call fails without taking effect, and the caller cannot know that (a 5xx or a
    /// time-out before the service acted).
    Timeout,
    /// The call takes effect, then the process dies: this and every later call fail until
    /// [`FakeAws::restart`].
    Crash,
}

/// One recorded call: the API action, what it named, and when it reached the fake on tokio's
/// clock (with [`FakeAws::with_latency`], calls made in parallel arrive at the same instant).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    pub action: &'static str,
    pub target: String,
    pub at: tokio::time::Instant,
}

/// A stream as the fake holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct FakeStream {
    pub mode: StreamMode,
    pub open_shards: u32,
    pub tags: BTreeMap<String, String>,
    /// The target of the reshard in progress and when it completes.
    pub pending: Option<(u32, DateTime<Utc>)>,
    /// When each accepted UpdateShardCount was made.
    pub reshards: Vec<DateTime<Utc>>,
}

/// An alarm as the fake holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct FakeAlarm {
    pub spec: AlarmSpec,
    pub state: String,
    pub state_since: DateTime<Utc>,
    pub tags: BTreeMap<String, String>,
    /// How many times PutMetricAlarm wrote it.
    pub writes: u32,
}

#[derive(Debug)]
struct Quota {
    per_second: f64,
    tokens: f64,
    last: tokio::time::Instant,
}

#[derive(Debug, Default)]
struct State {
    now: Option<DateTime<Utc>>,
    streams: BTreeMap<String, FakeStream>,
    alarms: BTreeMap<String, FakeAlarm>,
    functions: BTreeMap<String, Option<u32>>,
    function_tags: BTreeMap<String, BTreeMap<String, String>>,
    configurations: BTreeMap<String, FunctionConfiguration>,
    roles: BTreeMap<String, Vec<serde_json::Value>>,
    /// Event source mappings by stream name.
    consumers: BTreeMap<String, Vec<StreamConsumer>>,
    /// The account's concurrency limit (GetAccountSettings); 1000 unless set.
    concurrency_limit: Option<u32>,
    metrics: HashMap<String, BTreeMap<DateTime<Utc>, (f64, f64)>>,
    /// GetRecords.IteratorAgeMilliseconds datapoints by stream.
    iterator_ages: HashMap<String, BTreeMap<DateTime<Utc>, f64>>,
    /// WriteProvisionedThroughputExceeded datapoints (records refused) by stream.
    throttled: HashMap<String, BTreeMap<DateTime<Utc>, f64>>,
    shard_limit: Option<u32>,
    reshard_delay: Duration,
    latency: std::time::Duration,
    faults: HashMap<&'static str, VecDeque<(usize, Fault)>>,
    seen: HashMap<&'static str, usize>,
    quotas: HashMap<&'static str, Quota>,
    /// ListStreams answers names without summaries, as kinesis-mock (LocalStack) does.
    names_only_listing: bool,
    /// IAM: when set, only these actions are allowed; the rest answer AccessDeniedException.
    allowed: Option<Vec<String>>,
    crashed: bool,
    calls: Vec<Call>,
}

/// The in-process AWS. Cheap to build; clones share one account (as two Lambda invocations
/// share AWS). [`FakeAws::default`] runs on the wall clock, [`FakeAws::new`] on its own.
#[derive(Debug, Default, Clone)]
pub struct FakeAws {
    state: Arc<Mutex<State>>,
}

impl FakeAws {
    /// An empty account whose clock starts at `now`, reshards complete instantly and the
    /// account has no shard limit.
    pub fn new(now: DateTime<Utc>) -> Self {
        let fake = FakeAws::default();
        fake.lock().now = Some(now);
        fake
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A test that panicked while holding the lock has failed already; its state is still
        // the best account to look at.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    // ---- set-up ------------------------------------------------------------------------

    /// How long a stream stays UPDATING after an accepted UpdateShardCount.
    pub fn with_reshard_delay(self, delay: Duration) -> Self {
        self.lock().reshard_delay = delay;
        self
    }

    /// Every call waits this long on tokio's clock before it reaches the account, so that
    /// concurrent callers interleave as over a network (instant with paused time).
    pub fn with_latency(self, latency: std::time::Duration) -> Self {
        self.lock().latency = latency;
        self
    }

    /// The account's shard limit (DescribeLimits' ShardLimit).
    pub fn with_shard_limit(self, limit: u32) -> Self {
        self.lock().shard_limit = Some(limit);
        self
    }

    /// The caller's role allows only `actions` (IAM form `service:Action`, or bare `Action`);
    /// every other call is refused with AccessDeniedException, as IAM does.
    pub fn with_allowed_actions(self, actions: &[&str]) -> Self {
        self.lock().allowed = Some(
            actions
                .iter()
                .map(|a| a.rsplit(':').next().unwrap_or(a).to_string())
                .collect(),
        );
        self
    }

    /// A per-account rate quota for `action` (calls a second), enforced on tokio's clock: a
    /// call beyond it is throttled.
    pub fn with_quota(self, action: &'static str, per_second: f64) -> Self {
        self.lock().quotas.insert(
            action,
            Quota {
                per_second,
                tokens: per_second.max(1.0),
                last: tokio::time::Instant::now(),
            },
        );
        self
    }

    /// [`FakeAws::with_quota`] for each `(action, per_second)` of `quotas` (e.g. the pacer's
    /// `DEFAULT_QUOTAS`); a quota of 0 (not limited) and the pacer's `lambda` group (Lambda's
    /// actions share it, which the fake does not model) are left out.
    pub fn with_quotas(mut self, quotas: &[(&'static str, f64)]) -> Self {
        for &(action, per_second) in quotas {
            if per_second > 0.0 && action != "lambda" {
                self = self.with_quota(action, per_second);
            }
        }
        self
    }

    pub fn create_stream(&self, name: &str, shards: u32) {
        self.lock().streams.insert(
            name.to_string(),
            FakeStream {
                mode: StreamMode::Provisioned,
                open_shards: shards,
                tags: BTreeMap::new(),
                pending: None,
                reshards: Vec::new(),
            },
        );
    }

    pub fn create_on_demand_stream(&self, name: &str, shards: u32) {
        self.create_stream(name, shards);
        if let Some(stream) = self.lock().streams.get_mut(name) {
            stream.mode = StreamMode::OnDemand;
        }
    }

    pub fn delete_stream(&self, name: &str) {
        self.lock().streams.remove(name);
    }

    /// Reshards outside the autoscaler (console, Terraform): instant, uncounted.
    pub fn set_open_shards(&self, name: &str, shards: u32) {
        if let Some(stream) = self.lock().streams.get_mut(name) {
            stream.open_shards = shards;
        }
    }

    /// A Lambda function that exists, with no reserved concurrency.
    pub fn create_function(&self, name: &str) {
        self.lock().functions.insert(name.to_string(), None);
    }

    /// An alarm made by the account's administrator (outside any role the fake enforces), in
    /// OK, tagged as `wire` tags it.
    pub fn seed_alarm(&self, spec: &AlarmSpec) {
        let mut s = self.lock();
        let now = s.clock();
        let (action, partner) = match spec.name.strip_suffix("-scale-up") {
            Some(prefix) => ("Up", format!("{prefix}-scale-down")),
            None => (
                "Down",
                spec.name.trim_end_matches("-scale-down").to_string() + "-scale-up",
            ),
        };
        s.alarms.insert(
            spec.name.clone(),
            FakeAlarm {
                spec: spec.clone(),
                state: "OK".into(),
                state_since: now,
                tags: [
                    ("ScaleAction".to_string(), action.to_string()),
                    ("ComplimentaryAlarm".to_string(), partner),
                ]
                .into(),
                writes: 0,
            },
        );
    }

    /// A stream tag set by the account's administrator (outside any enforced role).
    pub fn seed_stream_tag(&self, stream: &str, key: &str, value: &str) {
        if let Some(st) = self.lock().streams.get_mut(stream) {
            st.tags.insert(key.to_string(), value.to_string());
        }
    }

    /// A deployed function with this configuration (its name is the ARN's last part).
    pub fn deploy_function(&self, configuration: FunctionConfiguration) {
        let name = configuration
            .arn
            .rsplit(':')
            .next()
            .unwrap_or(&configuration.arn)
            .to_string();
        let mut s = self.lock();
        s.functions.entry(name.clone()).or_insert(None);
        s.configurations.insert(name, configuration);
    }

    /// `function` reads `stream` through an event source mapping with this factor.
    pub fn map_consumer(&self, stream: &str, function: &str, parallelization_factor: u32) {
        let mut s = self.lock();
        s.functions.entry(function.to_string()).or_insert(None);
        s.consumers
            .entry(stream.to_string())
            .or_default()
            .push(StreamConsumer {
                function_arn: format!(
                    "arn:aws:lambda:{FAKE_REGION}:{FAKE_ACCOUNT}:function:{function}"
                ),
                parallelization_factor,
            });
    }

    /// The account's Lambda concurrency limit (AWS's default is 1000).
    pub fn with_concurrency_limit(self, limit: u32) -> Self {
        self.lock().concurrency_limit = Some(limit);
        self
    }

    /// A role with these permission policy documents.
    pub fn create_role(&self, role_arn: &str, policies: Vec<serde_json::Value>) {
        self.lock().roles.insert(role_arn.to_string(), policies);
    }

    /// ListStreams answers `StreamNames` without `StreamSummaries`, as kinesis-mock does.
    pub fn with_names_only_listing(self) -> Self {
        self.lock().names_only_listing = true;
        self
    }

    /// Puts an alarm in `state` as CloudWatch's evaluation would.
    pub fn set_state(&self, alarm: &str, state: &str) {
        let mut s = self.lock();
        let now = s.clock();
        if let Some(a) = s.alarms.get_mut(alarm) {
            a.state = state.to_string();
            a.state_since = now;
        }
    }

    /// Incoming traffic of a stream (PutMetricData of IncomingBytes and IncomingRecords).
    pub fn put_incoming(&self, stream: &str, points: &[IncomingPoint]) {
        let mut s = self.lock();
        let series = s.metrics.entry(stream.to_string()).or_default();
        for p in points {
            series.insert(p.start, (p.bytes, p.records));
        }
    }

    /// How far behind a stream's slowest consumer is at `at` (PutMetricData of
    /// GetRecords.IteratorAgeMilliseconds); GetMetricData reads the Maximum per period.
    pub fn put_iterator_age(&self, stream: &str, at: DateTime<Utc>, millis: f64) {
        let mut s = self.lock();
        let series = s.iterator_ages.entry(stream.to_string()).or_default();
        series.insert(at, millis);
    }

    /// Records refused for want of capacity at `at` (PutMetricData of
    /// WriteProvisionedThroughputExceeded); GetMetricData reads the Sum per period.
    pub fn put_throttled(&self, stream: &str, at: DateTime<Utc>, records: f64) {
        let mut s = self.lock();
        let series = s.throttled.entry(stream.to_string()).or_default();
        *series.entry(at).or_default() += records;
    }

    /// The `nth` (0-based) next call of `action` meets `fault`. Faults on one action queue up.
    pub fn inject(&self, action: &'static str, nth: usize, fault: Fault) {
        let mut s = self.lock();
        let seen = s.seen.get(action).copied().unwrap_or(0);
        s.faults
            .entry(action)
            .or_default()
            .push_back((seen + nth, fault));
    }

    /// The process is back after a crash; pending faults are dropped.
    pub fn restart(&self) {
        let mut s = self.lock();
        s.crashed = false;
        s.faults.clear();
    }

    // ---- time --------------------------------------------------------------------------

    pub fn now(&self) -> DateTime<Utc> {
        self.lock().clock()
    }

    /// Moves the clock on, completing reshards whose UPDATING window has passed.
    pub fn advance(&self, by: Duration) {
        let mut s = self.lock();
        let now = s.clock() + by;
        s.now = Some(now);
        s.settle();
    }

    // ---- inspection --------------------------------------------------------------------

    pub fn stream(&self, name: &str) -> Option<FakeStream> {
        self.lock().streams.get(name).cloned()
    }

    pub fn alarm(&self, name: &str) -> Option<FakeAlarm> {
        self.lock().alarms.get(name).cloned()
    }

    pub fn alarm_names(&self) -> Vec<String> {
        self.lock().alarms.keys().cloned().collect()
    }

    pub fn reserved_concurrency(&self, function: &str) -> Option<u32> {
        self.lock().functions.get(function).copied().flatten()
    }

    /// Every call so far, in order.
    pub fn calls(&self) -> Vec<Call> {
        self.lock().calls.clone()
    }

    /// How many calls of `action` were made.
    pub fn count(&self, action: &str) -> usize {
        self.lock()
            .calls
            .iter()
            .filter(|c| c.action == action)
            .count()
    }

    pub fn clear_calls(&self) {
        self.lock().calls.clear();
    }

    /// The ARN of an alarm of this name in the fake's account.
    pub fn alarm_arn(name: &str) -> String {
        format!("arn:aws:cloudwatch:{FAKE_REGION}:{FAKE_ACCOUNT}:alarm:{name}")
    }

    // ---- the call gate -----------------------------------------------------------------

    /// Records the call and decides its fate: `Err` when it must fail before taking effect,
    /// `Ok(after)` with the fault to apply once it took effect.
    fn enter(&self, action: &'static str, target: &str) -> Result<Option<Fault>, AwsError> {
        let mut s = self.lock();
        s.calls.push(Call {
            action,
            target: target.to_string(),
            at: tokio::time::Instant::now(),
        });
        let index = *s.seen.entry(action).and_modify(|n| *n += 1).or_insert(1) - 1;
        if s.crashed {
            return Err(error(
                action,
                target,
                None,
                "the process died",
                FailureKind::Unknown,
            ));
        }
        if let Some(allowed) = &s.allowed {
            if !allowed.iter().any(|a| a == action) {
                return Err(error(
                    action,
                    target,
                    Some("AccessDeniedException"),
                    &format!("the role is not authorized to perform: {action}"),
                    FailureKind::Refused,
                ));
            }
        }
        s.settle();
        if let Some(quota) = s.quotas.get_mut(action) {
            let now = tokio::time::Instant::now();
            let refill = now.duration_since(quota.last).as_secs_f64() * quota.per_second;
            quota.tokens = (quota.tokens + refill).min(quota.per_second.max(1.0));
            quota.last = now;
            if quota.tokens < 1.0 {
                return Err(throttled(action, target));
            }
            quota.tokens -= 1.0;
        }
        let fault = match s.faults.get_mut(action) {
            Some(queue) => match queue.iter().position(|(at, _)| *at == index) {
                Some(i) => queue.remove(i).map(|(_, f)| f),
                None => None,
            },
            None => None,
        };
        match fault {
            Some(Fault::Refuse(code)) => Err(error(
                action,
                target,
                Some(code),
                "injected refusal",
                FailureKind::Refused,
            )),
            Some(Fault::Throttle) => Err(throttled(action, target)),
            Some(Fault::Timeout) => Err(error(
                action,
                target,
                None,
                "injected: no answer (time-out)",
                FailureKind::Unknown,
            )),
            other => Ok(other),
        }
    }

    /// Applies the after-effect fault of a call that took effect.
    fn leave<T>(
        &self,
        action: &'static str,
        target: &str,
        fault: Option<Fault>,
        result: AwsResult<T>,
    ) -> AwsResult<T> {
        match (fault, result) {
            (Some(Fault::LoseAnswer), Ok(_)) => Err(error(
                action,
                target,
                None,
                "injected: the answer was lost",
                FailureKind::Unknown,
            )),
            (Some(Fault::Crash), Ok(_)) => {
                self.lock().crashed = true;
                Err(error(
                    action,
                    target,
                    None,
                    "the process died",
                    FailureKind::Unknown,
                ))
            }
            (_, result) => result,
        }
    }

    /// One call: the way there, the gate, the effect on the state, the after-effect fault.
    async fn call<T>(
        &self,
        action: &'static str,
        target: &str,
        effect: impl FnOnce(&mut State) -> AwsResult<T>,
    ) -> AwsResult<T> {
        let latency = self.lock().latency;
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        let fault = self.enter(action, target)?;
        let result = effect(&mut self.lock());
        self.leave(action, target, fault, result)
    }
}

mod state;

fn error(
    call: &'static str,
    target: &str,
    code: Option<&str>,
    message: &str,
    kind: FailureKind,
) -> AwsError {
    AwsError {
        call,
        target: target.to_string(),
        code: code.map(str::to_string),
        message: match code {
            Some(code) => format!("{code}: {message}"),
            None => message.to_string(),
        },
        kind,
    }
}

fn throttled(action: &'static str, target: &str) -> AwsError {
    let code = match action {
        "DescribeAlarms"
        | "PutMetricAlarm"
        | "SetAlarmState"
        | "ListTagsForResource"
        | "TagResource"
        | "DeleteAlarms"
        | "GetMetricData"
        | "PutMetricData" => "Throttling",
        "PutFunctionConcurrency" | "GetFunctionConcurrency" => "TooManyRequestsException",
        _ => "LimitExceededException",
    };
    error(
        action,
        target,
        Some(code),
        "Rate exceeded",
        FailureKind::Refused,
    )
}

fn refused(action: &'static str, target: &str, code: &str, message: &str) -> AwsError {
    error(action, target, Some(code), message, FailureKind::Refused)
}

fn existing(alarm: &FakeAlarm) -> ExistingAlarm {
    ExistingAlarm {
        arn: FakeAws::alarm_arn(&alarm.spec.name),
        state: alarm.state.clone(),
        state_since: Some(alarm.state_since),
        spec: alarm.spec.clone(),
    }
}

mod cloudwatch;
mod kinesis;
mod lambda;

impl AwsPort for FakeAws {
    fn now(&self) -> DateTime<Utc> {
        FakeAws::now(self)
    }

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

    async fn account_headroom(&self) -> AwsResult<u32> {
        kinesis::account_headroom(self).await
    }

    async fn describe_alarms(&self, names: &[String]) -> AwsResult<HashMap<String, ExistingAlarm>> {
        cloudwatch::describe_alarms(self, names).await
    }

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

    async fn put_alarm(&self, spec: &AlarmSpec, tags: &[(String, String)]) -> AwsResult<()> {
        cloudwatch::put_alarm(self, spec, tags).await
    }

    async fn set_alarm_state(&self, alarm: &str, state: &str, _reason: &str) -> AwsResult<()> {
        cloudwatch::set_alarm_state(self, alarm, state, _reason).await
    }

    async fn tag_alarm(&self, arn: &str, tags: &[(String, String)]) -> AwsResult<()> {
        cloudwatch::tag_alarm(self, arn, tags).await
    }

    async fn delete_alarms(&self, names: &[String]) -> AwsResult<()> {
        cloudwatch::delete_alarms(self, names).await
    }

    async fn incoming_metrics_page(
        &self,
        streams: &[String],
        start: DateTime<Utc>,
        end: DateTime<Utc>,
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

#[cfg(test)]
mod tests;
