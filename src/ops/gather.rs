//! Round 1 of a scale event: everything the decision needs, read in parallel, and what one
//! invocation learns once and shares between its records. Whatever delivered the event, it
//! stops here unless CloudWatch shows the alarm in ALARM; a permission the role lacks
//! (tags, DescribeLimits) degrades instead of failing.

use crate::aws::{AwsError, AwsPort, ExistingAlarm, StreamConsumer};
use crate::domain::alarms::TAG_LAST_SCALED;
use crate::domain::degraded::Degradation;
use crate::domain::event::{self, Direction};
use crate::domain::history::ReshardHistory;
use crate::domain::policy::{AlarmsState, Observed, StreamState, Trigger};
use crate::domain::settings::tag;
use crate::ops::outcome::Autoscaler;
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
    pub observed: Observed,
    pub existing: HashMap<String, ExistingAlarm>,
    pub degraded: Vec<Degradation>,
    /// DISCOVER_CONSUMERS: the stream's Lambda consumers found from their event source
    /// mappings (the first one is also the plan's consumer).
    pub consumers: Vec<StreamConsumer>,
}

/// Why gathering stopped before a decision could be made.
#[derive(Debug, thiserror::Error)]
pub(crate) enum GatherError {
    #[error(transparent)]
    Aws(#[from] AwsError),
    /// CloudWatch does not show the alarm in ALARM: the event is not acted on.
    #[error(transparent)]
    Unconfirmed(event::Unconfirmed),
    /// A tag we own or read is unusable: change nothing until a person fixes it.
    #[error("{0}")]
    BadTag(String),
}

impl<P: AwsPort> Autoscaler<P> {
    /// Round 1: everything the decision needs, in parallel. The triggering alarm's state is
    /// checked first: an event CloudWatch does not confirm stops here, whatever else failed.
    /// A permission the role lacks (tags, DescribeLimits) degrades instead of failing.
    pub(crate) async fn gather(
        &self,
        context: &InvocationContext,
        trigger: &Trigger,
        alarm_arn: &str,
    ) -> Result<Gathered, GatherError> {
        let names = [
            trigger.pair.name(Direction::Up),
            trigger.pair.name(Direction::Down),
        ];
        let headroom = async {
            match trigger.direction {
                Direction::Up => self.headroom(context).await,
                Direction::Down => (None, None),
            }
        };
        let (alarms, alarm_tags, summary, stream_tags, (headroom, headroom_degraded)) = tokio::join!(
            self.aws.describe_alarms(&names),
            self.aws.alarm_tags(alarm_arn),
            self.aws.stream_summary(&trigger.stream),
            self.aws.stream_tags(&trigger.stream),
            headroom
        );
        let alarms = alarms?;
        event::confirm(
            &trigger.alarm_name,
            alarms.get(&trigger.alarm_name).map(|a| a.state.as_str()),
        )
        .map_err(GatherError::Unconfirmed)?;
        let mut degraded: Vec<Degradation> = headroom_degraded.into_iter().collect();
        let alarm_tags = match alarm_tags {
            Err(err) if err.is_denied() => {
                degraded.push(Degradation::AlarmTagsUnreadable);
                HashMap::new()
            }
            other => other?,
        };
        let summary = summary?;
        let stream_tags = match stream_tags {
            Err(err) if err.is_denied() => {
                degraded.push(Degradation::StreamTagsUnreadable);
                HashMap::new()
            }
            Ok(tags) => {
                if tags.len() >= STREAM_TAG_LIMIT && !tags.contains_key(tag::RESHARD_HISTORY) {
                    degraded.push(Degradation::HistoryNoRoom);
                }
                tags
            }
            Err(err) => return Err(err.into()),
        };

        let last_scaled = match alarm_tags.get(TAG_LAST_SCALED) {
            None => None,
            Some(value) if value.is_empty() => None,
            Some(value) => Some(event::parse_alarm_time(value).ok_or_else(|| {
                GatherError::BadTag(format!(
                    "alarm {}: tag {TAG_LAST_SCALED}={value:?} is not of the form 2006-01-02T15:04:05.000+0000",
                    trigger.alarm_name
                ))
            })?),
        };
        let mut stream_settings = self
            .settings
            .for_stream(&trigger.stream, &stream_tags)
            .map_err(|e| GatherError::BadTag(e.to_string()))?;
        let history = match stream_tags.get(tag::RESHARD_HISTORY) {
            Some(value) => ReshardHistory::parse(&trigger.stream, value)
                .map_err(|e| GatherError::BadTag(e.to_string()))?,
            None => ReshardHistory::default(),
        };
        let consumers =
            if self.settings.discover_consumers && stream_settings.consumer_function.is_none() {
                self.discover_consumers(alarm_arn, &trigger.stream, &mut degraded)
                    .await
            } else {
                Vec::new()
            };
        if let Some(first) = consumers.first() {
            stream_settings.consumer_function = Some(first.function_arn.clone());
            stream_settings.lambdas_per_shard = first.parallelization_factor;
        }
        let kept = |direction| {
            alarms
                .get(&trigger.pair.name(direction))
                .map(ExistingAlarm::kept)
                .unwrap_or_default()
        };
        let observed = Observed {
            stream: StreamState {
                name: trigger.stream.clone(),
                status: summary.status,
                mode: summary.mode,
                open_shards: summary.open_shards,
                settings: stream_settings,
                history,
            },
            alarms: AlarmsState {
                last_scaled,
                kept_up: kept(Direction::Up),
                kept_down: kept(Direction::Down),
            },
            account_headroom: headroom,
        };
        Ok(Gathered {
            observed,
            existing: alarms,
            degraded,
            consumers,
        })
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
