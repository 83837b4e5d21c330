//! A client-side rate limiter around any [`AwsPort`]: each API (Lambda's control plane as one)
//! is paced at a share of AWS's default per-account quota, so a fleet-wide reconcile never
//! runs into throttling and leaves the rest of the quota to the scale events that run at the
//! same time. A call that is throttled anyway (another tool in the account, a lowered quota)
//! is retried with exponential back-off and jitter for as long as the deadline allows, so
//! throttling costs time, not a failed stream.
//!
//! Also shares DescribeLimits' headroom: its quota is 1 call a second for the whole account,
//! and the answer is optional (without it AWS still refuses a reshard over the limit). So the
//! process's concurrent invocations wait for one read, its answer serves them for
//! [`HEADROOM_TTL`], and a throttled read is not retried: the headroom is unknown (as when
//! the permission is missing) for [`HEADROOM_UNKNOWN_TTL`], and nothing waits on it.
//!
//! The writes that fix a stream (PutMetricAlarm, SetAlarmState: [`FULL_RATE`]) are paced at
//! the full quota whatever the share: a stream's alarms are wrong until they are rewritten, as
//! urgent in a reconcile as in a scale event (a scale event meeting them is throttled and
//! backs off: seconds, not a failure).
//!
//! Pacing and sleeps run on tokio's clock, so tests with paused time run a fleet in
//! milliseconds.

use super::port::{
    AwsError, AwsPort, AwsResult, ExistingAlarm, FunctionConfiguration, IncomingSeries,
    ListedStream, Page, StreamConsumer, StreamSummary, TaggedResource,
};
use crate::domain::alarms::AlarmSpec;
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// AWS's default per-account rate quotas (calls a second) of the APIs the project uses.
/// Lambda's control-plane calls share one quota, under the name `lambda`. ListShards is
/// limited per stream (1000 a second), not per account, so it is not paced. GetResources has
/// no published quota; 5 a second is what we assume.
pub const DEFAULT_QUOTAS: [(&str, f64); 17] = [
    ("DescribeStreamSummary", 20.0),
    ("ListStreams", 5.0),
    ("ListTagsForStream", 5.0),
    ("AddTagsToStream", 5.0),
    ("RemoveTagsFromStream", 5.0),
    ("DescribeLimits", 1.0),
    ("UpdateShardCount", 10.0),
    ("DescribeAlarms", 9.0),
    ("PutMetricAlarm", 3.0),
    ("SetAlarmState", 3.0),
    ("ListTagsForResource", 10.0),
    ("TagResource", 20.0),
    ("DeleteAlarms", 3.0),
    ("GetMetricData", 50.0),
    ("GetResources", 5.0),
    ("lambda", 15.0),
    ("ListShards", 0.0),
];

/// The share of each quota a reconcile uses: the rest is for scale events.
pub const RECONCILE_SHARE: f64 = 0.5;

/// How long a DescribeLimits answer is reused.
pub const HEADROOM_TTL: Duration = Duration::from_secs(180);
/// How long a throttled DescribeLimits leaves the headroom unknown before it is asked again.
pub const HEADROOM_UNKNOWN_TTL: Duration = Duration::from_secs(60);

/// Paced at the full quota whatever the share: the writes that bring a stream's alarms in
/// line with it.
pub const FULL_RATE: [&str; 2] = ["PutMetricAlarm", "SetAlarmState"];

/// The share `action` is paced at when the process's share is `share`.
fn share_of(action: &str, share: f64) -> f64 {
    if FULL_RATE.contains(&action) {
        1.0
    } else {
        share
    }
}

/// Without a deadline, a throttled call is tried this many times in all.
const ATTEMPTS_WITHOUT_DEADLINE: u32 = 12;
const BACKOFF_MIN: Duration = Duration::from_millis(250);
const BACKOFF_MAX: Duration = Duration::from_secs(8);

#[derive(Debug)]
struct Slot {
    per_second: f64,
    /// The theoretical arrival time of the next call (the generic cell rate algorithm).
    next: Option<Instant>,
}

/// What the run a pacer serves sets besides the quotas: when it must be over (throttled calls
/// are retried until then; use cases start no stream too close to it) and the share of each
/// quota its calls may use. A handle: the pacer holds one ([`Paced::limits`]) and the
/// autoscaler a clone, so that the entry point sets the invocation's deadline, and the
/// scheduled run its share, where the pacer sees them. Without a pacer only the use cases
/// read it.
#[derive(Debug, Clone)]
pub struct RunLimits(Arc<Mutex<Limits>>);

#[derive(Debug)]
struct Limits {
    deadline: Option<Instant>,
    share: f64,
}

impl Default for RunLimits {
    /// No deadline, the full quotas.
    fn default() -> Self {
        RunLimits::new(1.0)
    }
}

impl RunLimits {
    /// No deadline, `share` of each quota.
    pub fn new(share: f64) -> Self {
        RunLimits(Arc::new(Mutex::new(Limits {
            deadline: None,
            share,
        })))
    }

    /// When the run must be over (the Lambda invocation's deadline); `None`: no deadline.
    pub fn deadline(&self) -> Option<Instant> {
        lock(&self.0).deadline
    }

    pub fn set_deadline(&self, deadline: Option<Instant>) {
        lock(&self.0).deadline = deadline;
    }

    /// The share of each quota the calls from now on may use.
    pub fn share(&self) -> f64 {
        lock(&self.0).share
    }

    /// `share` of each quota until the returned guard is dropped, then the share before.
    pub fn share_until_dropped(&self, share: f64) -> ShareGuard {
        let before = std::mem::replace(&mut lock(&self.0).share, share);
        ShareGuard {
            limits: self.clone(),
            before,
        }
    }
}

/// Restores a run's share when dropped ([`RunLimits::share_until_dropped`]).
#[must_use = "the share is restored when the guard is dropped"]
#[derive(Debug)]
pub struct ShareGuard {
    limits: RunLimits,
    before: f64,
}

impl Drop for ShareGuard {
    fn drop(&mut self) {
        lock(&self.limits.0).share = self.before;
    }
}

/// The spacing of calls at `share` of `per_second`, rounded up to the nanosecond: never faster
/// than the quota. (Rounded to the nearest, 3 a second spaced 333,333,333 ns apart ran a hair
/// ahead of a token bucket of 3 a second: at the full rate, a call now and then landed a few
/// nanoseconds early and was throttled.)
fn interval(per_second: f64, share: f64) -> Duration {
    let nanos = (1e9 / (per_second * share).max(0.01)).ceil();
    Duration::from_nanos(nanos as u64)
}

/// A bucket of one second of calls at the share's rate, at least one call.
fn burst_tolerance(per_second: f64, share: f64) -> Duration {
    let burst = (per_second * share).floor().max(1.0);
    interval(per_second, share).mul_f64(burst - 1.0)
}

/// Counts for a run's report and the benchmark.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PacingStats {
    pub calls: HashMap<&'static str, u32>,
    pub throttled: HashMap<&'static str, u32>,
}

/// An [`AwsPort`] that paces and retries the calls of another.
#[derive(Debug)]
pub struct Paced<P> {
    inner: P,
    slots: HashMap<&'static str, Mutex<Slot>>,
    limits: RunLimits,
    /// DescribeLimits' last answer and when it came; the lock is held across the read, so
    /// concurrent callers share one.
    headroom: tokio::sync::Mutex<Option<(Instant, AwsResult<u32>)>>,
    stats: Mutex<PacingStats>,
}

/// Whether AWS refused the call for its rate: Kinesis says LimitExceededException (which
/// UpdateShardCount also uses for its daily and account limits, so it is never retried here),
/// CloudWatch Throttling, Lambda TooManyRequestsException.
pub fn is_throttling(err: &AwsError) -> bool {
    let code = err.code.as_deref().unwrap_or("");
    matches!(
        code,
        "Throttling" | "ThrottlingException" | "TooManyRequestsException" | "RequestLimitExceeded"
    ) || (code == "LimitExceededException" && err.call != "UpdateShardCount")
}

fn group(action: &'static str) -> &'static str {
    match action {
        "GetFunctionConcurrency"
        | "PutFunctionConcurrency"
        | "GetFunction"
        | "GetFunctionConfiguration"
        | "GetAccountSettings"
        | "ListEventSourceMappings"
        | "LambdaTagResource" => "lambda",
        other => other,
    }
}

impl<P: AwsPort> Paced<P> {
    /// Paces every API at `share` of its default quota (until [`Paced::limits`] says other).
    pub fn new(inner: P, share: f64) -> Self {
        Self::with_quotas(inner, share, &DEFAULT_QUOTAS)
    }

    /// Paces every API at `share` of the given quotas (for an account whose quotas were
    /// raised); a quota of 0 is not paced.
    pub fn with_quotas(inner: P, share: f64, quotas: &[(&'static str, f64)]) -> Self {
        let slots = quotas
            .iter()
            .filter(|(_, per_second)| *per_second > 0.0)
            .map(|(action, per_second)| {
                (
                    *action,
                    Mutex::new(Slot {
                        per_second: *per_second,
                        next: None,
                    }),
                )
            })
            .collect();
        Paced {
            inner,
            slots,
            limits: RunLimits::new(share),
            headroom: tokio::sync::Mutex::new(None),
            stats: Mutex::new(PacingStats::default()),
        }
    }

    pub fn inner(&self) -> &P {
        &self.inner
    }

    /// The run's deadline and share this pacer obeys: a handle to lend the autoscaler.
    pub fn limits(&self) -> &RunLimits {
        &self.limits
    }

    pub fn stats(&self) -> PacingStats {
        lock(&self.stats).clone()
    }

    /// Waits for the action's next free slot (reserving it).
    async fn pace(&self, action: &'static str) {
        let key = group(action);
        let Some(slot) = self.slots.get(key) else {
            return;
        };
        let share = share_of(key, self.limits.share());
        let at = {
            let mut slot = lock(slot);
            // How far ahead of its even spacing a call may go: AWS's quotas are token buckets
            // holding one second of calls, so a burst of that many (e.g. one event's two
            // PutMetricAlarm) need not be spaced out; only the sustained rate is held to the
            // share.
            let tolerance = burst_tolerance(slot.per_second, share);
            let now = Instant::now();
            let due = slot.next.map_or(now, |next| next.max(now));
            slot.next = Some(due + interval(slot.per_second, share));
            // Early by up to the burst tolerance, never before now.
            if due > now + tolerance {
                due - tolerance
            } else {
                now
            }
        };
        tokio::time::sleep_until(at).await;
    }

    async fn run<T, F, Fut>(&self, action: &'static str, mut call: F) -> AwsResult<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = AwsResult<T>>,
    {
        let mut attempt = 0u32;
        loop {
            self.pace(action).await;
            *lock(&self.stats).calls.entry(action).or_default() += 1;
            let result = call().await;
            let err = match result {
                Err(err) if is_throttling(&err) => err,
                other => return other,
            };
            *lock(&self.stats).throttled.entry(action).or_default() += 1;
            attempt += 1;
            let backoff = backoff(attempt);
            let deadline = self.limits.deadline();
            let out_of_time = match deadline {
                Some(deadline) => Instant::now() + backoff >= deadline,
                None => attempt >= ATTEMPTS_WITHOUT_DEADLINE,
            };
            if out_of_time {
                return Err(err);
            }
            tracing::debug!(
                action,
                attempt,
                backoff_ms = backoff.as_millis() as u64,
                "throttled; backing off"
            );
            tokio::time::sleep(backoff).await;
        }
    }
}

/// Exponential back-off with full jitter between half and the whole step.
fn backoff(attempt: u32) -> Duration {
    let step = BACKOFF_MIN
        .saturating_mul(1u32 << attempt.min(10))
        .min(BACKOFF_MAX);
    let random = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    let fraction = 0.5 + (random % 1000) as f64 / 2000.0;
    step.mul_f64(fraction)
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl<P: AwsPort> AwsPort for Paced<P> {
    fn now(&self) -> DateTime<Utc> {
        self.inner.now()
    }

    async fn stream_summary(&self, stream: &str) -> AwsResult<StreamSummary> {
        self.run("DescribeStreamSummary", || {
            self.inner.stream_summary(stream)
        })
        .await
    }

    async fn stream_tags(&self, stream: &str) -> AwsResult<HashMap<String, String>> {
        self.run("ListTagsForStream", || self.inner.stream_tags(stream))
            .await
    }

    async fn tag_stream(&self, stream: &str, key: &str, value: &str) -> AwsResult<()> {
        self.run("AddTagsToStream", || {
            self.inner.tag_stream(stream, key, value)
        })
        .await
    }

    async fn untag_stream(&self, stream: &str, key: &str) -> AwsResult<()> {
        self.run("RemoveTagsFromStream", || {
            self.inner.untag_stream(stream, key)
        })
        .await
    }

    async fn update_shard_count(&self, stream: &str, target: u32) -> AwsResult<()> {
        self.run("UpdateShardCount", || {
            self.inner.update_shard_count(stream, target)
        })
        .await
    }

    async fn list_streams_page(&self, start_after: Option<&str>) -> AwsResult<Page<ListedStream>> {
        self.run("ListStreams", || self.inner.list_streams_page(start_after))
            .await
    }

    async fn open_shard_count(&self, stream: &str) -> AwsResult<u32> {
        self.run("ListShards", || self.inner.open_shard_count(stream))
            .await
    }

    async fn account_headroom(&self) -> AwsResult<u32> {
        let mut shared = self.headroom.lock().await;
        if let Some((at, answer)) = &*shared {
            let ttl = if answer.is_ok() {
                HEADROOM_TTL
            } else {
                HEADROOM_UNKNOWN_TTL
            };
            if at.elapsed() < ttl {
                return answer.clone();
            }
        }
        // Once: a throttled optional read is an unknown headroom, not a wait.
        self.pace("DescribeLimits").await;
        *lock(&self.stats).calls.entry("DescribeLimits").or_default() += 1;
        let answer = self.inner.account_headroom().await;
        match &answer {
            Err(err) if is_throttling(err) => {
                *lock(&self.stats)
                    .throttled
                    .entry("DescribeLimits")
                    .or_default() += 1;
            }
            // Denied or failed otherwise: asked again next time, as before.
            Err(_) => return answer,
            Ok(_) => {}
        }
        *shared = Some((Instant::now(), answer.clone()));
        answer
    }

    async fn describe_alarms(&self, names: &[String]) -> AwsResult<HashMap<String, ExistingAlarm>> {
        self.run("DescribeAlarms", || self.inner.describe_alarms(names))
            .await
    }

    async fn alarms_with_prefix(&self, prefix: &str) -> AwsResult<Vec<ExistingAlarm>> {
        // Paced page by page.
        let mut alarms = Vec::new();
        let mut next: Option<String> = None;
        loop {
            let page = self.alarms_page(prefix, next.as_deref()).await?;
            alarms.extend(page.items);
            match page.next {
                Some(token) => next = Some(token),
                None => return Ok(alarms),
            }
        }
    }

    async fn alarms_page(
        &self,
        prefix: &str,
        next: Option<&str>,
    ) -> AwsResult<Page<ExistingAlarm>> {
        self.run("DescribeAlarms", || self.inner.alarms_page(prefix, next))
            .await
    }

    async fn alarm_tags(&self, arn: &str) -> AwsResult<HashMap<String, String>> {
        self.run("ListTagsForResource", || self.inner.alarm_tags(arn))
            .await
    }

    async fn put_alarm(&self, spec: &AlarmSpec, tags: &[(String, String)]) -> AwsResult<()> {
        self.run("PutMetricAlarm", || self.inner.put_alarm(spec, tags))
            .await
    }

    async fn set_alarm_state(&self, alarm: &str, state: &str, reason: &str) -> AwsResult<()> {
        self.run("SetAlarmState", || {
            self.inner.set_alarm_state(alarm, state, reason)
        })
        .await
    }

    async fn tag_alarm(&self, arn: &str, tags: &[(String, String)]) -> AwsResult<()> {
        self.run("TagResource", || self.inner.tag_alarm(arn, tags))
            .await
    }

    async fn delete_alarms(&self, names: &[String]) -> AwsResult<()> {
        self.run("DeleteAlarms", || self.inner.delete_alarms(names))
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
        // GetMetricData's quota counts requests, whatever their queries: paced page by page.
        self.run("GetMetricData", || {
            self.inner
                .incoming_metrics_page(streams, start, end, period_secs, next)
        })
        .await
    }

    async fn tagged_resources_page(
        &self,
        types: &[&str],
        next: Option<&str>,
    ) -> AwsResult<Page<TaggedResource>> {
        self.run("GetResources", || {
            self.inner.tagged_resources_page(types, next)
        })
        .await
    }

    async fn function_tags(&self, function: &str) -> AwsResult<HashMap<String, String>> {
        self.run("GetFunction", || self.inner.function_tags(function))
            .await
    }

    async fn tag_function(&self, function: &str, key: &str, value: &str) -> AwsResult<()> {
        self.run("LambdaTagResource", || {
            self.inner.tag_function(function, key, value)
        })
        .await
    }

    async fn put_function_concurrency(&self, function: &str, reserved: u32) -> AwsResult<()> {
        self.run("PutFunctionConcurrency", || {
            self.inner.put_function_concurrency(function, reserved)
        })
        .await
    }

    async fn function_concurrency(&self, function: &str) -> AwsResult<Option<u32>> {
        self.run("GetFunctionConcurrency", || {
            self.inner.function_concurrency(function)
        })
        .await
    }

    async fn stream_consumers(&self, stream_arn: &str) -> AwsResult<Vec<StreamConsumer>> {
        self.run("ListEventSourceMappings", || {
            self.inner.stream_consumers(stream_arn)
        })
        .await
    }

    async fn unreserved_concurrency(&self) -> AwsResult<u32> {
        self.run("GetAccountSettings", || self.inner.unreserved_concurrency())
            .await
    }

    async fn function_configuration(&self, function: &str) -> AwsResult<FunctionConfiguration> {
        self.run("GetFunctionConfiguration", || {
            self.inner.function_configuration(function)
        })
        .await
    }

    /// IAM's reads are `doctor`'s alone: not paced.
    #[cfg(feature = "cli")]
    async fn role_policies(&self, role_arn: &str) -> AwsResult<Vec<serde_json::Value>> {
        self.inner.role_policies(role_arn).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::fake::FakeAws;

    fn t0() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).expect("a valid time")
    }

    /// A second of calls spaced at the full rate never takes less than a second: the spacing
    /// is rounded up, or a pacer at the full quota runs ahead of AWS's token bucket.
    #[test]
    fn the_spacing_never_runs_faster_than_the_quota() {
        for per_second in [1.0, 3.0, 5.0, 7.0, 9.0, 15.0, 20.0, 50.0, 1000.0] {
            for share in [1.0, RECONCILE_SHARE, 0.3] {
                let calls = (per_second * share).round() as u32;
                let spacing = interval(per_second, share);
                assert!(
                    (spacing * calls).as_secs_f64() * per_second * share >= f64::from(calls),
                    "{per_second}/s at {share}: {spacing:?}"
                );
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn calls_are_spaced_below_the_quota_and_never_throttled() {
        let fake = FakeAws::new(t0()).with_quota("ListTagsForStream", 5.0);
        fake.create_stream("s", 1);
        let paced = Paced::new(fake, RECONCILE_SHARE);
        let start = Instant::now();
        for _ in 0..11 {
            paced.stream_tags("s").await.expect("paced under the quota");
        }
        // 2.5 a second after a burst of 2 (a second's worth, rounded down): the 11th call
        // starts 9 x 0.4 s after the first.
        assert_eq!(start.elapsed(), Duration::from_millis(3600));
        assert!(paced.stats().throttled.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn a_run_s_share_paces_its_calls_until_its_guard_is_dropped() {
        let fake = FakeAws::new(t0()).with_quota("ListTagsForStream", 5.0);
        fake.create_stream("s", 1);
        let paced = Paced::new(fake, 1.0);
        let limits = paced.limits().clone();
        let timed = |n: usize| {
            let paced = &paced;
            async move {
                let start = Instant::now();
                for _ in 0..n {
                    paced.stream_tags("s").await.expect("paced under the quota");
                }
                start.elapsed()
            }
        };
        {
            let _reconcile = limits.share_until_dropped(RECONCILE_SHARE);
            // As at RECONCILE_SHARE from the start: 9 x 0.4 s after a burst of 2.
            assert_eq!(timed(11).await, Duration::from_millis(3600));
        }
        assert_eq!(limits.share(), 1.0, "restored");
        tokio::time::advance(Duration::from_secs(10)).await;
        // 5 a second after a burst of 5: the 11th call 6 x 0.2 s after the first.
        assert_eq!(timed(11).await, Duration::from_millis(1200));
    }

    #[tokio::test(start_paused = true)]
    async fn one_events_calls_go_out_together_within_the_bucket() {
        let fake = FakeAws::new(t0()).with_quota("ListTagsForStream", 5.0);
        fake.create_stream("s", 1);
        let paced = Paced::new(fake, 1.0);
        let start = Instant::now();
        let (a, b) = tokio::join!(paced.stream_tags("s"), paced.stream_tags("s"));
        a.and(b).expect("within the bucket");
        assert_eq!(start.elapsed(), Duration::ZERO, "not spaced out");
        assert!(paced.stats().throttled.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn throttling_is_retried_until_the_deadline() {
        let fake = FakeAws::new(t0());
        fake.create_stream("s", 1);
        for nth in 0..3 {
            fake.inject("ListTagsForStream", nth, crate::aws::fake::Fault::Throttle);
        }
        let paced = Paced::new(fake, RECONCILE_SHARE);
        paced
            .stream_tags("s")
            .await
            .expect("retried past 3 throttles");
        assert_eq!(paced.stats().throttled["ListTagsForStream"], 3);

        for nth in 0..50 {
            paced
                .inner()
                .inject("ListTagsForStream", nth, crate::aws::fake::Fault::Throttle);
        }
        paced
            .limits()
            .set_deadline(Some(Instant::now() + Duration::from_secs(5)));
        let start = Instant::now();
        let err = paced.stream_tags("s").await.expect_err("out of time");
        assert!(is_throttling(&err));
        assert!(start.elapsed() <= Duration::from_secs(5));
    }

    #[tokio::test(start_paused = true)]
    async fn describe_limits_is_cached_for_minutes() {
        let fake = FakeAws::new(t0()).with_shard_limit(100);
        let paced = Paced::new(fake, 1.0);
        for _ in 0..5 {
            paced.account_headroom().await.expect("answers");
        }
        assert_eq!(paced.inner().count("DescribeLimits"), 1);
        tokio::time::advance(HEADROOM_TTL).await;
        paced.account_headroom().await.expect("answers");
        assert_eq!(paced.inner().count("DescribeLimits"), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn describe_limits_is_shared_and_a_throttled_one_is_unknown_for_a_minute() {
        let fake = FakeAws::new(t0())
            .with_shard_limit(100)
            .with_latency(Duration::from_millis(20));
        let paced = Paced::new(fake, 1.0);
        // Ten concurrent invocations of one process: one read.
        let reads = futures_util::future::join_all((0..10).map(|_| paced.account_headroom()));
        assert!(reads.await.iter().all(|r| r.is_ok()));
        assert_eq!(paced.inner().count("DescribeLimits"), 1);
        // Throttled (another process spent the second): answered at once, unknown, not retried.
        tokio::time::advance(HEADROOM_TTL).await;
        paced
            .inner()
            .inject("DescribeLimits", 0, crate::aws::fake::Fault::Throttle);
        let start = Instant::now();
        let err = paced.account_headroom().await.expect_err("throttled");
        assert!(is_throttling(&err));
        assert!(start.elapsed() < Duration::from_millis(100), "no back-off");
        assert!(
            paced.account_headroom().await.is_err(),
            "unknown for a minute"
        );
        assert_eq!(paced.inner().count("DescribeLimits"), 2);
        tokio::time::advance(HEADROOM_UNKNOWN_TTL).await;
        assert!(paced.account_headroom().await.is_ok());
        assert_eq!(paced.inner().count("DescribeLimits"), 3);
    }

    #[test]
    fn a_reshard_refused_for_its_limits_is_not_throttling() {
        let err = |call, code: &str| AwsError {
            call,
            target: "s".into(),
            code: Some(code.into()),
            message: String::new(),
            kind: crate::aws::FailureKind::Refused,
        };
        assert!(!is_throttling(&err(
            "UpdateShardCount",
            "LimitExceededException"
        )));
        assert!(is_throttling(&err(
            "ListTagsForStream",
            "LimitExceededException"
        )));
        assert!(is_throttling(&err("PutMetricAlarm", "Throttling")));
    }
}
