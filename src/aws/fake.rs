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
    AwsError, AwsPort, AwsResult, ExistingAlarm, FailureKind, FunctionConfiguration,
    IncomingMetric, IncomingPoint, IncomingSeries, ListedStream, Page, StreamConsumer,
    StreamSummary, TaggedResource, TAGGED_ALARM, TAGGED_STREAM,
};
use crate::domain::alarms::AlarmSpec;
use crate::domain::policy::{StreamMode, StreamStatus};
use chrono::{DateTime, Duration, Utc};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};

/// The account and region in the fake's ARNs (AWS's documentation placeholder).
pub const FAKE_ACCOUNT: &str = "123456789012";
pub const FAKE_REGION: &str = "us-east-1";
/// AWS's per-stream limit on UpdateShardCount calls in a rolling 24 hours.
const RESHARDS_PER_DAY: usize = 10;
const STREAM_SHARD_CAP: u32 = 10_000;
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

impl State {
    fn clock(&self) -> DateTime<Utc> {
        self.now.unwrap_or_else(Utc::now)
    }

    /// A stream's stored traffic summed into periods of `period_secs` in [start, end).
    fn incoming(
        &self,
        stream: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        period_secs: u32,
    ) -> Vec<IncomingPoint> {
        let period = i64::from(period_secs.max(1));
        let mut buckets: BTreeMap<i64, (f64, f64)> = BTreeMap::new();
        if let Some(series) = self.metrics.get(stream) {
            for (at, (bytes, records)) in series.range(start..end) {
                let bucket = at.timestamp().div_euclid(period) * period;
                let sum = buckets.entry(bucket).or_default();
                sum.0 += bytes;
                sum.1 += records;
            }
        }
        buckets
            .into_iter()
            .filter_map(|(secs, (bytes, records))| {
                Some(IncomingPoint {
                    start: DateTime::from_timestamp(secs, 0)?,
                    bytes,
                    records,
                })
            })
            .collect()
    }

    /// A stream's stored iterator ages, the Maximum of each period of `period_secs` in
    /// [start, end).
    fn iterator_age(
        &self,
        stream: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        period_secs: u32,
    ) -> Vec<(DateTime<Utc>, f64)> {
        let period = i64::from(period_secs.max(1));
        let mut buckets: BTreeMap<i64, f64> = BTreeMap::new();
        for (at, millis) in self
            .iterator_ages
            .get(stream)
            .into_iter()
            .flat_map(|s| s.range(start..end))
        {
            let bucket = buckets
                .entry(at.timestamp().div_euclid(period) * period)
                .or_insert(*millis);
            *bucket = bucket.max(*millis);
        }
        buckets
            .into_iter()
            .filter_map(|(secs, max)| Some((DateTime::from_timestamp(secs, 0)?, max)))
            .collect()
    }

    /// Completes the reshards whose UPDATING window has passed.
    fn settle(&mut self) {
        let now = self.clock();
        for stream in self.streams.values_mut() {
            if let Some((target, done)) = stream.pending {
                if done <= now {
                    stream.open_shards = target;
                    stream.pending = None;
                }
            }
        }
    }

    fn stream(&mut self, action: &'static str, name: &str) -> AwsResult<&mut FakeStream> {
        self.streams.get_mut(name).ok_or_else(|| {
            error(
                action,
                name,
                Some("ResourceNotFoundException"),
                &format!("Stream {name} under account {FAKE_ACCOUNT} not found."),
                FailureKind::Refused,
            )
        })
    }

    fn alarm_by_arn(&mut self, action: &'static str, arn: &str) -> AwsResult<&mut FakeAlarm> {
        let name = arn.rsplit_once(":alarm:").map(|(_, n)| n).unwrap_or(arn);
        self.alarms.get_mut(name).ok_or_else(|| {
            error(
                action,
                arn,
                Some("ResourceNotFoundException"),
                "no such alarm",
                FailureKind::Refused,
            )
        })
    }

    /// A function by name or ARN (Lambda takes both).
    fn function(&mut self, action: &'static str, name: &str) -> AwsResult<&mut Option<u32>> {
        let short = name.rsplit(':').next().unwrap_or(name);
        self.functions.get_mut(short).ok_or_else(|| {
            error(
                action,
                name,
                Some("ResourceNotFoundException"),
                &format!("Function not found: {name}"),
                FailureKind::Refused,
            )
        })
    }

    fn open_shards_in_account(&self) -> u32 {
        self.streams
            .values()
            .map(|s| {
                s.pending
                    .map_or(s.open_shards, |(t, _)| t.max(s.open_shards))
            })
            .sum()
    }
}

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
        "PutFunctionConcurrency" | "DeleteFunctionConcurrency" | "GetFunctionConcurrency" => {
            "TooManyRequestsException"
        }
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

impl AwsPort for FakeAws {
    fn now(&self) -> DateTime<Utc> {
        FakeAws::now(self)
    }

    async fn stream_summary(&self, stream: &str) -> AwsResult<StreamSummary> {
        self.call("DescribeStreamSummary", stream, |s| {
            let st = s.stream("DescribeStreamSummary", stream)?;
            Ok(StreamSummary {
                status: if st.pending.is_some() {
                    StreamStatus::Updating
                } else {
                    StreamStatus::Active
                },
                mode: st.mode,
                open_shards: st.open_shards,
            })
        })
        .await
    }

    async fn stream_tags(&self, stream: &str) -> AwsResult<HashMap<String, String>> {
        self.call("ListTagsForStream", stream, |s| {
            Ok(s.stream("ListTagsForStream", stream)?
                .tags
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect())
        })
        .await
    }

    async fn tag_stream(&self, stream: &str, key: &str, value: &str) -> AwsResult<()> {
        self.call("AddTagsToStream", stream, |s| {
            let st = s.stream("AddTagsToStream", stream)?;
            if !st.tags.contains_key(key) && st.tags.len() >= 50 {
                return Err(refused(
                    "AddTagsToStream",
                    stream,
                    "InvalidArgumentException",
                    "a stream has at most 50 tags",
                ));
            }
            st.tags.insert(key.to_string(), value.to_string());
            Ok(())
        })
        .await
    }

    async fn untag_stream(&self, stream: &str, key: &str) -> AwsResult<()> {
        self.call("RemoveTagsFromStream", stream, |s| {
            s.stream("RemoveTagsFromStream", stream)?.tags.remove(key);
            Ok(())
        })
        .await
    }

    async fn update_shard_count(&self, stream: &str, target: u32) -> AwsResult<()> {
        const ACTION: &str = "UpdateShardCount";
        self.call(ACTION, stream, |s| {
            let now = s.clock();
            let delay = s.reshard_delay;
            let limit = s.shard_limit;
            let in_account = s.open_shards_in_account();
            let st = s.stream(ACTION, stream)?;
            if st.mode == StreamMode::OnDemand {
                return Err(refused(
                    ACTION,
                    stream,
                    "ValidationException",
                    "the stream is ON_DEMAND",
                ));
            }
            if st.pending.is_some() {
                return Err(refused(
                    ACTION,
                    stream,
                    "ResourceInUseException",
                    &format!("Stream {stream} is currently being updated"),
                ));
            }
            let n = st.open_shards;
            if target < n.div_ceil(2) || target > n.saturating_mul(2) || target > STREAM_SHARD_CAP {
                return Err(refused(
                    ACTION,
                    stream,
                    "InvalidArgumentException",
                    &format!(
                        "target {target} is outside [{}, {}] for {n} open shards",
                        n.div_ceil(2),
                        n * 2
                    ),
                ));
            }
            st.reshards.retain(|t| *t > now - Duration::hours(24));
            if st.reshards.len() >= RESHARDS_PER_DAY {
                return Err(refused(
                    ACTION,
                    stream,
                    "LimitExceededException",
                    "UpdateShardCount was called 10 times for this stream in 24 hours",
                ));
            }
            if let Some(limit) = limit {
                if target > n && in_account + (target - n) > limit {
                    return Err(refused(
                        ACTION,
                        stream,
                        "LimitExceededException",
                        &format!("the account's shard limit of {limit} would be exceeded"),
                    ));
                }
            }
            st.reshards.push(now);
            if delay > Duration::zero() {
                st.pending = Some((target, now + delay));
            } else {
                st.open_shards = target;
            }
            Ok(())
        })
        .await
    }

    async fn list_streams_page(&self, start_after: Option<&str>) -> AwsResult<Page<ListedStream>> {
        const PAGE: usize = 100;
        self.call("ListStreams", start_after.unwrap_or(""), |s| {
            let from = start_after.map_or(std::ops::Bound::Unbounded, |a| {
                std::ops::Bound::Excluded(a.to_string())
            });
            let mut items: Vec<ListedStream> = s
                .streams
                .range((from, std::ops::Bound::Unbounded))
                .take(PAGE + 1)
                .map(|(name, st)| ListedStream {
                    name: name.clone(),
                    status: if st.pending.is_some() {
                        StreamStatus::Updating
                    } else {
                        StreamStatus::Active
                    },
                    mode: st.mode,
                    summarized: !s.names_only_listing,
                })
                .collect();
            let more = items.len() > PAGE;
            items.truncate(PAGE);
            let next = if more {
                items.last().map(|l| l.name.clone())
            } else {
                None
            };
            Ok(Page { items, next })
        })
        .await
    }

    async fn open_shard_count(&self, stream: &str) -> AwsResult<u32> {
        self.call("ListShards", stream, |s| {
            Ok(s.stream("ListShards", stream)?.open_shards)
        })
        .await
    }

    async fn account_headroom(&self) -> AwsResult<u32> {
        self.call("DescribeLimits", "account", |s| {
            let used = s.open_shards_in_account();
            Ok(s.shard_limit.unwrap_or(u32::MAX / 2).saturating_sub(used))
        })
        .await
    }

    async fn describe_alarms(&self, names: &[String]) -> AwsResult<HashMap<String, ExistingAlarm>> {
        self.call("DescribeAlarms", &names.join(","), |s| {
            Ok(names
                .iter()
                .filter_map(|n| s.alarms.get(n))
                .map(|a| (a.spec.name.clone(), existing(a)))
                .collect())
        })
        .await
    }

    async fn alarms_with_prefix(&self, prefix: &str) -> AwsResult<Vec<ExistingAlarm>> {
        self.call("DescribeAlarms", prefix, |s| {
            Ok(s.alarms
                .range(prefix.to_string()..)
                .take_while(|(name, _)| name.starts_with(prefix))
                .map(|(_, a)| existing(a))
                .collect())
        })
        .await
    }

    async fn alarms_page(
        &self,
        prefix: &str,
        next: Option<&str>,
    ) -> AwsResult<Page<ExistingAlarm>> {
        const PAGE: usize = 100;
        self.call("DescribeAlarms", prefix, |s| {
            // The token is the name of the last alarm of the previous page.
            let from = next.map_or(std::ops::Bound::Included(prefix.to_string()), |n| {
                std::ops::Bound::Excluded(n.to_string())
            });
            let mut items: Vec<ExistingAlarm> = s
                .alarms
                .range((from, std::ops::Bound::Unbounded))
                .take_while(|(name, _)| name.starts_with(prefix))
                .take(PAGE + 1)
                .map(|(_, a)| existing(a))
                .collect();
            let more = items.len() > PAGE;
            items.truncate(PAGE);
            let next = if more {
                items.last().map(|a| a.spec.name.clone())
            } else {
                None
            };
            Ok(Page { items, next })
        })
        .await
    }

    async fn alarm_tags(&self, arn: &str) -> AwsResult<HashMap<String, String>> {
        self.call("ListTagsForResource", arn, |s| {
            Ok(s.alarm_by_arn("ListTagsForResource", arn)?
                .tags
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect())
        })
        .await
    }

    async fn put_alarm(&self, spec: &AlarmSpec, tags: &[(String, String)]) -> AwsResult<()> {
        self.call("PutMetricAlarm", &spec.name, |s| {
            let now = s.clock();
            match s.alarms.get_mut(&spec.name) {
                Some(alarm) => {
                    alarm.spec = spec.clone();
                    alarm.writes += 1;
                }
                None => {
                    s.alarms.insert(
                        spec.name.clone(),
                        FakeAlarm {
                            spec: spec.clone(),
                            state: "INSUFFICIENT_DATA".into(),
                            state_since: now,
                            tags: tags.iter().cloned().collect(),
                            writes: 1,
                        },
                    );
                }
            }
            Ok(())
        })
        .await
    }

    async fn set_alarm_state(&self, alarm: &str, state: &str, _reason: &str) -> AwsResult<()> {
        self.call("SetAlarmState", alarm, |s| {
            let now = s.clock();
            let found = s.alarms.get_mut(alarm).ok_or_else(|| {
                refused("SetAlarmState", alarm, "ResourceNotFound", "no such alarm")
            })?;
            if found.state != state {
                found.state = state.to_string();
                found.state_since = now;
            }
            Ok(())
        })
        .await
    }

    async fn tag_alarm(&self, arn: &str, tags: &[(String, String)]) -> AwsResult<()> {
        self.call("TagResource", arn, |s| {
            s.alarm_by_arn("TagResource", arn)?
                .tags
                .extend(tags.iter().cloned());
            Ok(())
        })
        .await
    }

    async fn delete_alarms(&self, names: &[String]) -> AwsResult<()> {
        self.call("DeleteAlarms", &names.join(","), |s| {
            for name in names {
                s.alarms.remove(name);
            }
            Ok(())
        })
        .await
    }

    async fn incoming_metrics(
        &self,
        stream: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        period_secs: u32,
    ) -> AwsResult<Vec<IncomingPoint>> {
        self.call("GetMetricData", stream, |s| {
            Ok(s.incoming(stream, start, end, period_secs))
        })
        .await
    }

    async fn incoming_metrics_page(
        &self,
        streams: &[String],
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        period_secs: u32,
        next: Option<&str>,
    ) -> AwsResult<Page<IncomingSeries>> {
        let target = format!("{} streams", streams.len());
        self.call("GetMetricData", &target, |s| {
            if streams.len() * crate::aws::METRIC_QUERIES_PER_STREAM > METRIC_QUERIES_PER_CALL {
                return Err(refused(
                    "GetMetricData",
                    &target,
                    "ValidationError",
                    "The collection MetricDataQueries must not have a size greater than 500.",
                ));
            }
            // Every datapoint of the request in query order (bytes, records, iterator age of
            // each stream), cut into pages of DATAPOINTS_PER_PAGE; the token is the offset.
            let mut all: Vec<(usize, IncomingMetric, DateTime<Utc>, f64)> = Vec::new();
            for (index, stream) in streams.iter().enumerate() {
                let points = s.incoming(stream, start, end, period_secs);
                all.extend(
                    points
                        .iter()
                        .map(|p| (index, IncomingMetric::Bytes, p.start, p.bytes)),
                );
                all.extend(
                    points
                        .iter()
                        .map(|p| (index, IncomingMetric::Records, p.start, p.records)),
                );
                let ages = s.iterator_age(stream, start, end, period_secs);
                all.extend(
                    ages.into_iter()
                        .map(|(at, max)| (index, IncomingMetric::IteratorAge, at, max)),
                );
            }
            let offset = match next {
                Some(token) => token.parse::<usize>().map_err(|_| {
                    refused("GetMetricData", &target, "InvalidNextToken", "bad token")
                })?,
                None => 0,
            };
            let end_at = (offset + DATAPOINTS_PER_PAGE).min(all.len());
            let mut items: Vec<IncomingSeries> = Vec::new();
            for (index, metric, at, value) in all.get(offset..end_at).unwrap_or_default() {
                match items.last_mut() {
                    Some(last) if last.stream == streams[*index] && last.metric == *metric => {
                        last.points.push((*at, *value));
                    }
                    _ => items.push(IncomingSeries {
                        stream: streams[*index].clone(),
                        metric: *metric,
                        points: vec![(*at, *value)],
                    }),
                }
            }
            let next = (end_at < all.len()).then(|| end_at.to_string());
            Ok(Page { items, next })
        })
        .await
    }

    async fn tagged_resources_page(
        &self,
        types: &[&str],
        next: Option<&str>,
    ) -> AwsResult<Page<TaggedResource>> {
        const PAGE: usize = 100;
        self.call("GetResources", &types.join(","), |s| {
            // Streams, then alarms, in ARN order; the token is the last ARN of the page.
            let to_map = |tags: &BTreeMap<String, String>| -> HashMap<String, String> {
                tags.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
            };
            let mut all: Vec<TaggedResource> = Vec::new();
            if types.contains(&TAGGED_STREAM) {
                all.extend(s.streams.iter().filter(|(_, st)| !st.tags.is_empty()).map(
                    |(name, st)| TaggedResource {
                        arn: format!("arn:aws:kinesis:{FAKE_REGION}:{FAKE_ACCOUNT}:stream/{name}"),
                        tags: to_map(&st.tags),
                    },
                ));
            }
            if types.contains(&TAGGED_ALARM) {
                all.extend(
                    s.alarms
                        .iter()
                        .filter(|(_, a)| !a.tags.is_empty())
                        .map(|(name, a)| TaggedResource {
                            arn: FakeAws::alarm_arn(name),
                            tags: to_map(&a.tags),
                        }),
                );
            }
            let start = match next {
                Some(token) => all
                    .iter()
                    .position(|r| r.arn == token)
                    .map_or(all.len(), |i| i + 1),
                None => 0,
            };
            let items: Vec<TaggedResource> = all.into_iter().skip(start).take(PAGE + 1).collect();
            let more = items.len() > PAGE;
            let mut items = items;
            items.truncate(PAGE);
            let next = if more {
                items.last().map(|r| r.arn.clone())
            } else {
                None
            };
            Ok(Page { items, next })
        })
        .await
    }

    async fn function_tags(&self, function: &str) -> AwsResult<HashMap<String, String>> {
        self.call("GetFunction", function, |s| {
            Ok(s.function_tags
                .get(function)
                .map(|tags| tags.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                .unwrap_or_default())
        })
        .await
    }

    async fn tag_function(&self, function: &str, key: &str, value: &str) -> AwsResult<()> {
        self.call("LambdaTagResource", function, |s| {
            s.function_tags
                .entry(function.to_string())
                .or_default()
                .insert(key.to_string(), value.to_string());
            Ok(())
        })
        .await
    }

    async fn put_function_concurrency(&self, function: &str, reserved: u32) -> AwsResult<()> {
        self.call("PutFunctionConcurrency", function, |s| {
            let name = function.rsplit(':').next().unwrap_or(function);
            let others: u32 = s
                .functions
                .iter()
                .filter(|(n, _)| n.as_str() != name)
                .filter_map(|(_, r)| *r)
                .sum();
            let limit = s.concurrency_limit.unwrap_or(1000);
            if limit.saturating_sub(others + reserved) < 100 {
                return Err(refused(
                    "PutFunctionConcurrency",
                    function,
                    "InvalidParameterValueException",
                    "Specified ReservedConcurrentExecutions decreases the account's UnreservedConcurrentExecution below its minimum value of [100].",
                ));
            }
            *s.function("PutFunctionConcurrency", name)? = Some(reserved);
            Ok(())
        })
        .await
    }

    async fn delete_function_concurrency(&self, function: &str) -> AwsResult<()> {
        self.call("DeleteFunctionConcurrency", function, |s| {
            *s.function("DeleteFunctionConcurrency", function)? = None;
            Ok(())
        })
        .await
    }

    async fn stream_consumers(&self, stream_arn: &str) -> AwsResult<Vec<StreamConsumer>> {
        self.call("ListEventSourceMappings", stream_arn, |s| {
            let stream = stream_arn.rsplit('/').next().unwrap_or(stream_arn);
            Ok(s.consumers.get(stream).cloned().unwrap_or_default())
        })
        .await
    }

    async fn unreserved_concurrency(&self) -> AwsResult<u32> {
        self.call("GetAccountSettings", "account", |s| {
            let reserved: u32 = s.functions.values().flatten().sum();
            Ok(s.concurrency_limit.unwrap_or(1000).saturating_sub(reserved))
        })
        .await
    }

    async fn function_configuration(&self, function: &str) -> AwsResult<FunctionConfiguration> {
        self.call("GetFunctionConfiguration", function, |s| {
            let name = function.rsplit(':').next().unwrap_or(function);
            s.configurations.get(name).cloned().ok_or_else(|| {
                refused(
                    "GetFunctionConfiguration",
                    function,
                    "ResourceNotFoundException",
                    &format!("Function not found: {function}"),
                )
            })
        })
        .await
    }

    async fn role_policies(&self, role_arn: &str) -> AwsResult<Vec<serde_json::Value>> {
        self.call("GetRolePolicy", role_arn, |s| {
            s.roles
                .get(role_arn)
                .cloned()
                .ok_or_else(|| refused("GetRolePolicy", role_arn, "NoSuchEntity", "no such role"))
        })
        .await
    }

    async fn function_concurrency(&self, function: &str) -> AwsResult<Option<u32>> {
        self.call("GetFunctionConcurrency", function, |s| {
            Ok(*s.function("GetFunctionConcurrency", function)?)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t0() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).expect("a valid time")
    }

    #[tokio::test]
    async fn reshards_follow_aws_rules() {
        let aws = FakeAws::new(t0()).with_reshard_delay(Duration::seconds(30));
        aws.create_stream("s", 4);
        let code = |r: AwsResult<()>| r.err().and_then(|e| e.code);
        assert_eq!(
            code(aws.update_shard_count("s", 9).await).as_deref(),
            Some("InvalidArgumentException")
        );
        assert_eq!(
            code(aws.update_shard_count("s", 1).await).as_deref(),
            Some("InvalidArgumentException")
        );
        aws.update_shard_count("s", 8).await.expect("x2 is legal");
        assert_eq!(
            aws.stream_summary("s").await.expect("exists").status,
            StreamStatus::Updating
        );
        assert_eq!(
            code(aws.update_shard_count("s", 4).await).as_deref(),
            Some("ResourceInUseException")
        );
        aws.advance(Duration::seconds(30));
        let summary = aws.stream_summary("s").await.expect("exists");
        assert_eq!(
            (summary.status, summary.open_shards),
            (StreamStatus::Active, 8)
        );
        assert_eq!(
            code(aws.update_shard_count("nope", 2).await).as_deref(),
            Some("ResourceNotFoundException")
        );
    }

    #[tokio::test]
    async fn ten_reshards_a_day_then_refused_until_the_oldest_ages_out() {
        let aws = FakeAws::new(t0());
        aws.create_stream("s", 1);
        for i in 0..10 {
            let target = if i % 2 == 0 { 2 } else { 1 };
            aws.update_shard_count("s", target)
                .await
                .expect("within the budget");
            aws.advance(Duration::minutes(10));
        }
        let refused = aws
            .update_shard_count("s", 1)
            .await
            .expect_err("11th in 24 h");
        assert!(refused.is("LimitExceededException"));
        aws.advance(Duration::hours(23));
        aws.update_shard_count("s", 1)
            .await
            .expect("the first one aged out");
    }

    #[tokio::test]
    async fn the_account_limit_caps_scale_ups() {
        let aws = FakeAws::new(t0()).with_shard_limit(10);
        aws.create_stream("a", 4);
        aws.create_stream("b", 4);
        assert_eq!(aws.account_headroom().await.expect("answers"), 2);
        let refused = aws
            .update_shard_count("a", 8)
            .await
            .expect_err("over the limit");
        assert!(refused.is("LimitExceededException"));
        aws.update_shard_count("a", 6)
            .await
            .expect("within the limit");
    }

    #[tokio::test]
    async fn faults_refuse_lose_the_answer_or_crash() {
        let aws = FakeAws::new(t0());
        aws.create_stream("s", 2);
        aws.inject("AddTagsToStream", 0, Fault::Refuse("AccessDeniedException"));
        let denied = aws.tag_stream("s", "k", "v").await.expect_err("refused");
        assert!(denied.is("AccessDeniedException") && denied.kind == FailureKind::Refused);
        assert!(aws.stream("s").expect("exists").tags.is_empty());

        aws.inject("AddTagsToStream", 0, Fault::LoseAnswer);
        let lost = aws
            .tag_stream("s", "k", "v")
            .await
            .expect_err("answer lost");
        assert_eq!(lost.kind, FailureKind::Unknown);
        assert_eq!(
            aws.stream("s")
                .expect("exists")
                .tags
                .get("k")
                .map(String::as_str),
            Some("v")
        );

        aws.inject("UpdateShardCount", 0, Fault::Crash);
        assert!(aws.update_shard_count("s", 4).await.is_err());
        assert_eq!(
            aws.stream("s").expect("exists").open_shards,
            4,
            "took effect"
        );
        assert!(
            aws.stream_summary("s").await.is_err(),
            "the process is dead"
        );
        aws.restart();
        assert!(aws.stream_summary("s").await.is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn quotas_throttle_beyond_the_rate() {
        let aws = FakeAws::new(t0()).with_quota("DescribeLimits", 1.0);
        assert!(aws.account_headroom().await.is_ok());
        let throttled = aws
            .account_headroom()
            .await
            .expect_err("2nd in the same second");
        assert!(throttled.is("LimitExceededException"));
        tokio::time::advance(std::time::Duration::from_secs(1)).await;
        assert!(aws.account_headroom().await.is_ok());
    }

    #[tokio::test]
    async fn a_batched_read_pages_by_datapoints_and_merges_to_the_single_stream_answer() {
        let aws = FakeAws::new(t0());
        let per_call = crate::aws::METRIC_STREAMS_PER_CALL;
        let streams: Vec<String> = (0..per_call).map(|i| format!("s{i:03}")).collect();
        // Two days of 5-minute periods: 166 streams x 2 metrics x 576 = 191,232 datapoints,
        // and one iterator age.
        let start = t0() - Duration::days(2);
        for (i, stream) in streams.iter().enumerate() {
            let points: Vec<IncomingPoint> = (0..576)
                .map(|p| IncomingPoint {
                    start: start + Duration::minutes(5 * p),
                    bytes: (i * 1000) as f64 + p as f64,
                    records: p as f64,
                })
                .collect();
            aws.put_incoming(stream, &points);
        }
        aws.put_iterator_age(&streams[7], start + Duration::seconds(301), 60_000.0);
        aws.put_iterator_age(&streams[7], start + Duration::seconds(599), 90_000.0);
        let mut series = Vec::new();
        let mut next: Option<String> = None;
        loop {
            let page = aws
                .incoming_metrics_page(&streams, start, t0(), 300, next.as_deref())
                .await
                .expect("answers");
            series.extend(page.items);
            match page.next {
                Some(token) => next = Some(token),
                None => break,
            }
        }
        assert_eq!(aws.count("GetMetricData"), 2, "100,800 datapoints a page");
        let ages = crate::aws::merge_iterator_ages(&series);
        let period_2 = start + Duration::minutes(5);
        assert_eq!(
            ages,
            HashMap::from([(streams[7].clone(), vec![(period_2, 90_000.0)])])
        );
        let merged = crate::aws::merge_incoming(series);
        assert_eq!(merged.len(), per_call);
        for stream in [&streams[0], &streams[117], &streams[per_call - 1]] {
            let single = aws
                .incoming_metrics(stream, start, t0(), 300)
                .await
                .expect("answers");
            assert_eq!(merged[stream.as_str()], single, "{stream}");
        }
        let too_many: Vec<String> = (0..=per_call).map(|i| format!("s{i}")).collect();
        let refused = aws
            .incoming_metrics_page(&too_many, start, t0(), 300, None)
            .await
            .expect_err("over 500 queries");
        assert!(refused.is("ValidationError"));
    }

    #[tokio::test]
    async fn incoming_metrics_sum_into_periods_and_skip_the_future() {
        let aws = FakeAws::new(t0());
        let at = |m: i64| t0() + Duration::minutes(m);
        aws.put_incoming(
            "s",
            &[0, 5, 10, 15].map(|m| IncomingPoint {
                start: at(m),
                bytes: 1.0,
                records: 2.0,
            }),
        );
        let points = aws
            .incoming_metrics("s", at(0), at(15), 600)
            .await
            .expect("answers");
        let sums: Vec<f64> = points.iter().map(|p| p.records).collect();
        assert_eq!(
            sums.iter().sum::<f64>(),
            6.0,
            "the point at the end is excluded"
        );
        assert!(points.windows(2).all(|w| w[0].start < w[1].start));
    }
}
