//! Round 1 of a scale event: everything the decision needs, read in parallel, and what one
//! invocation learns once and shares between its records. Whatever delivered the event, it
//! stops here unless CloudWatch confirms it (the identity rule, [`confirm`]); a permission the
//! role lacks (tags, DescribeLimits) degrades instead of failing.

use super::evaluate::stream_state;
use super::Autoscaler;
use crate::aws::{AwsError, AwsPort, ExistingAlarm, StreamConsumer};
use crate::domain::alarms;
use crate::domain::confirm::{self, AlarmOnRecord, Unconfirmed};
use crate::domain::degraded::Degradation;
use crate::domain::event::Direction;
use crate::domain::policy::{AlarmsState, Observed, StreamState, Trigger};
use crate::domain::settings::{tag, Settings};
use std::collections::HashMap;

/// AWS's limit on one stream's tags.
const STREAM_TAG_LIMIT: usize = 50;

/// What one invocation learns once and shares between its records (handled one after
/// another, so a plain lock never waits).
#[derive(Debug, Default)]
pub(crate) struct InvocationContext {
    /// DescribeLimits' answer: `None` not asked yet, `Some(None)` unknown.
    headroom: std::sync::Mutex<Option<Option<u32>>>,
}

impl InvocationContext {
    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Option<u32>>> {
        self.headroom.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn known_headroom(&self) -> Option<Option<u32>> {
        *self.lock()
    }

    fn set_headroom(&self, headroom: Option<u32>) {
        *self.lock() = Some(headroom);
    }

    /// A scale-up of this invocation opened `shards` more: less headroom for the next.
    pub(crate) fn spend_headroom(&self, shards: u32) {
        if let Some(Some(headroom)) = self.lock().as_mut() {
            *headroom = headroom.saturating_sub(shards);
        }
    }
}

/// Round 1's result.
pub(crate) struct Gathered {
    /// The event as CloudWatch confirms it: what the decision and the writes use.
    pub trigger: Trigger,
    /// The triggering alarm's ARN, as DescribeAlarms gives it.
    pub alarm_arn: String,
    pub observed: Observed,
    pub existing: HashMap<String, ExistingAlarm>,
    pub degraded: Vec<Degradation>,
    /// Stream tags used other than as set (capped), to report.
    pub warnings: Vec<String>,
    /// DISCOVER_CONSUMERS: the stream's Lambda consumers found from their event source
    /// mappings (the first one is also the plan's consumer).
    pub consumers: Vec<StreamConsumer>,
    /// The settings the stream's decision uses: its daily tuning and its own tags over the
    /// global ones ([`Settings::policy_for_stream`]).
    pub settings: Settings,
}

/// Why gathering stopped before a decision could be made.
#[derive(Debug, thiserror::Error)]
pub(crate) enum GatherError {
    #[error(transparent)]
    Aws(#[from] AwsError),
    /// DescribeAlarms failed: nothing about the event is confirmed, so nothing is changed,
    /// not even the alarm's state.
    #[error("could not ask CloudWatch about the alarm, so nothing was changed: {0}")]
    Unconfirmable(AwsError),
    /// CloudWatch does not back the event (the identity rule): it is not acted on.
    #[error(transparent)]
    Unconfirmed(Unconfirmed),
    /// A tag we own or read is unusable: change nothing until a person fixes it.
    #[error("{0}")]
    BadTag(String),
}

impl<P: AwsPort> Autoscaler<P> {
    /// Round 1: everything the decision needs, in parallel. The triggering alarm is checked
    /// first: an event CloudWatch does not confirm stops here, whatever else failed. `claim`
    /// and `message_arn` are what the message says; only reads use them before they are
    /// confirmed. A permission the role lacks (tags, DescribeLimits) degrades instead of
    /// failing.
    pub(crate) async fn gather(
        &self,
        context: &InvocationContext,
        claim: &Trigger,
        message_arn: &str,
    ) -> Result<Gathered, GatherError> {
        let names = [
            claim.pair.name(Direction::Up),
            claim.pair.name(Direction::Down),
        ];
        let headroom = async {
            match claim.direction {
                Direction::Up => self.headroom(context).await,
                Direction::Down => (None, None),
            }
        };
        let (alarms, alarm_tags, summary, stream_tags, (headroom, headroom_degraded)) = tokio::join!(
            self.aws.describe_alarms(&names),
            self.aws.alarm_tags(message_arn),
            self.aws.stream_summary(&claim.stream),
            self.aws.stream_tags(&claim.stream),
            headroom
        );
        let alarms = alarms.map_err(GatherError::Unconfirmable)?;
        let on_record = alarms.get(&claim.alarm_name);
        let record = on_record.map(|a| AlarmOnRecord {
            name: &a.spec.name,
            state: &a.state,
            watches: a.spec.watched_streams(),
            state_since: a.state_since,
        });
        let trigger = confirm::confirm(claim, record.as_ref(), &self.settings, self.aws.now())
            .map_err(GatherError::Unconfirmed)?;
        let alarm_arn = on_record.map(|a| a.arn.clone()).unwrap_or_default();
        // The tags of the alarm CloudWatch names, read again if the message named another ARN.
        let alarm_tags = if alarm_arn == message_arn {
            alarm_tags
        } else {
            self.aws.alarm_tags(&alarm_arn).await
        };
        let mut degraded: Vec<Degradation> = headroom_degraded.into_iter().collect();
        let alarm_tags = alarm_tags_or_none(alarm_tags, &mut degraded)?;
        let summary = summary?;
        let stream_tags = stream_tags_or_none(stream_tags, &mut degraded)?;
        let last_scaled = alarms::last_scaled(&alarm_tags)
            .map_err(|why| GatherError::BadTag(format!("alarm {}: {why}", trigger.alarm_name)))?;
        let mut warnings = self
            .settings
            .capped_stream_tags(&trigger.stream, &stream_tags);
        let policy = self
            .settings
            .policy_for_stream(&trigger.stream, &stream_tags);
        warnings.extend(policy.problems);
        let mut stream = stream_state(&self.settings, &trigger.stream, &summary, &stream_tags)
            .map_err(GatherError::BadTag)?;
        let consumers = self
            .adopt_consumers(&mut stream, &alarm_arn, &mut degraded)
            .await;
        // Each alarm keeps its own actions; a missing one of the pair takes the triggering
        // alarm's (as DescribeAlarms gave them, never the message's topic).
        let kept = |direction| {
            alarms
                .get(&trigger.pair.name(direction))
                .or(on_record)
                .map(ExistingAlarm::kept)
                .unwrap_or_default()
        };
        let observed = Observed {
            stream,
            alarms: AlarmsState {
                last_scaled,
                kept_up: kept(Direction::Up),
                kept_down: kept(Direction::Down),
            },
            account_headroom: headroom,
        };
        Ok(Gathered {
            trigger,
            alarm_arn,
            observed,
            existing: alarms,
            degraded,
            warnings,
            consumers,
            settings: policy.settings,
        })
    }

    /// DISCOVER_CONSUMERS, for a stream without a consumer tag: its Lambda consumers, the first
    /// one taken as the stream's consumer.
    async fn adopt_consumers(
        &self,
        stream: &mut StreamState,
        alarm_arn: &str,
        degraded: &mut Vec<Degradation>,
    ) -> Vec<StreamConsumer> {
        if !self.settings.discover_consumers || stream.settings.consumer_function.is_some() {
            return Vec::new();
        }
        let consumers = self
            .discover_consumers(alarm_arn, &stream.name, degraded)
            .await;
        if let Some(first) = consumers.first() {
            stream.settings.consumer_function = Some(first.function_arn.clone());
            stream.settings.lambdas_per_shard = first.parallelization_factor;
        }
        consumers
    }

    /// The account's shard headroom, asked at most once per invocation (DescribeLimits allows
    /// one call a second per account). Denied or throttled means unknown, never a failure.
    async fn headroom(&self, context: &InvocationContext) -> (Option<u32>, Option<Degradation>) {
        if let Some(known) = context.known_headroom() {
            return (known, None);
        }
        let (headroom, degraded) = match self.aws.account_headroom().await {
            Ok(headroom) => (Some(headroom), None),
            Err(err) if err.is_denied() => (None, Some(Degradation::HeadroomDenied)),
            Err(err) => {
                tracing::warn!(error = %err, "DescribeLimits failed; headroom unknown for this invocation");
                (None, Some(Degradation::HeadroomUnavailable))
            }
        };
        context.set_headroom(headroom);
        (headroom, degraded)
    }

    /// The stream's Lambda consumers, from their event source mappings (the stream's ARN
    /// follows from the alarm's: same partition, region and account).
    async fn discover_consumers(
        &self,
        alarm_arn: &str,
        stream: &str,
        degraded: &mut Vec<Degradation>,
    ) -> Vec<StreamConsumer> {
        let parts: Vec<&str> = alarm_arn.split(':').collect();
        let [_, partition, _, region, account, ..] = parts.as_slice() else {
            return Vec::new();
        };
        let stream_arn = format!("arn:{partition}:kinesis:{region}:{account}:stream/{stream}");
        match self.aws.stream_consumers(&stream_arn).await {
            Ok(consumers) => consumers,
            Err(err) => {
                if err.is_denied() {
                    degraded.push(Degradation::ConsumersUnreadable);
                } else {
                    tracing::warn!(stream, error = %err, "could not list the stream's consumers");
                }
                Vec::new()
            }
        }
    }

    /// Reserved concurrency for each discovered consumer at `shards`, within the account's
    /// floor of 100 unreserved concurrent executions: a consumer whose raise would cross it
    /// (or whose raise cannot be checked) is left as it is, and reported, instead of failing.
    pub(crate) async fn fit_consumers(
        &self,
        consumers: &[StreamConsumer],
        shards: u32,
        degraded: &mut Vec<Degradation>,
    ) -> Vec<(String, u32)> {
        const UNRESERVED_FLOOR: u32 = 100;
        let mut unreserved = match self.aws.unreserved_concurrency().await {
            Ok(n) => n,
            Err(_) => {
                degraded.push(Degradation::ConcurrencyFloor);
                return Vec::new();
            }
        };
        let mut fitted = Vec::new();
        for consumer in consumers {
            let wanted = shards.saturating_mul(consumer.parallelization_factor);
            let current = match self.aws.function_concurrency(&consumer.function_arn).await {
                Ok(current) => current.unwrap_or(0),
                Err(_) => {
                    degraded.push(Degradation::ConcurrencyFloor);
                    continue;
                }
            };
            let raise = wanted.saturating_sub(current);
            if unreserved.saturating_sub(raise) < UNRESERVED_FLOOR {
                tracing::warn!(
                    function = %consumer.function_arn,
                    wanted,
                    unreserved,
                    "consumer not resized: the account would keep fewer than 100 unreserved concurrent executions"
                );
                degraded.push(Degradation::ConcurrencyFloor);
                continue;
            }
            unreserved = unreserved.saturating_sub(raise) + current.saturating_sub(wanted);
            fitted.push((consumer.function_arn.clone(), wanted));
        }
        fitted
    }
}

/// The alarm's tags; none when the role may not read them (reported).
fn alarm_tags_or_none(
    read: Result<HashMap<String, String>, AwsError>,
    degraded: &mut Vec<Degradation>,
) -> Result<HashMap<String, String>, AwsError> {
    match read {
        Err(err) if err.is_denied() => {
            degraded.push(Degradation::AlarmTagsUnreadable);
            Ok(HashMap::new())
        }
        other => other,
    }
}

/// The stream's tags; none when the role may not read them; reported too when the reshard
/// history would find no room among them.
fn stream_tags_or_none(
    read: Result<HashMap<String, String>, AwsError>,
    degraded: &mut Vec<Degradation>,
) -> Result<HashMap<String, String>, AwsError> {
    match read {
        Err(err) if err.is_denied() => {
            degraded.push(Degradation::StreamTagsUnreadable);
            Ok(HashMap::new())
        }
        Ok(tags) => {
            if tags.len() >= STREAM_TAG_LIMIT && !tags.contains_key(tag::RESHARD_HISTORY) {
                degraded.push(Degradation::HistoryNoRoom);
            }
            Ok(tags)
        }
        Err(err) => Err(err),
    }
}
