//! One stream's scheduled evaluation ([`Autoscaler::evaluate_stream`]): sized by
//! [`schedule::evaluate`] from its own history, without waiting for an alarm. The scheduled
//! run evaluates the whole fleet from bulk reads (`scheduled.rs`) and shares [`observe`] and
//! [`Autoscaler::evaluate_observed`] with it.

use super::Autoscaler;
use crate::aws::{AwsPort, ExistingAlarm, StreamSummary};
use crate::domain::event::{AlarmPair, Direction};
use crate::domain::execution;
use crate::domain::history::ReshardHistory;
use crate::domain::policy::{AlarmsState, Observed, StreamState, Trigger};
use crate::domain::schedule::{self, Evaluation};
use crate::domain::settings::{tag, Settings};
use crate::domain::sizing::Usage;
use crate::ops::outcome::{AlarmOutcome, Outcome};
use crate::ops::usage::{read_recent, recent_usage, METRICS_UNREADABLE};
use chrono::{DateTime, Utc};
use std::collections::HashMap;

/// What [`schedule::evaluate`] needs of one stream, from its record (however read: its own
/// DescribeStreamSummary and ListTagsForStream, or the fleet's bulk reads), its tags and its
/// alarm pair as it exists. A tag that cannot be read is the error.
pub fn observe(
    settings: &Settings,
    stream: &str,
    summary: &StreamSummary,
    tags: &HashMap<String, String>,
    alarms: &HashMap<String, ExistingAlarm>,
    headroom: Option<u32>,
) -> Result<Observed, String> {
    let pair = AlarmPair::new(stream);
    let kept = |direction| {
        alarms
            .get(&pair.name(direction))
            .map(ExistingAlarm::kept)
            .unwrap_or_default()
    };
    Ok(Observed {
        stream: stream_state(settings, stream, summary, tags)?,
        alarms: AlarmsState {
            last_scaled: None,
            kept_up: kept(Direction::Up),
            kept_down: kept(Direction::Down),
        },
        account_headroom: headroom,
    })
}

/// A stream as its record and its tags (its settings, its reshard history) say it is: what an
/// alarm action and a scheduled evaluation decide from. A tag that cannot be read is the
/// error.
pub(super) fn stream_state(
    settings: &Settings,
    stream: &str,
    summary: &StreamSummary,
    tags: &HashMap<String, String>,
) -> Result<StreamState, String> {
    let stream_settings = settings
        .for_stream(stream, tags)
        .map_err(|e| e.to_string())?;
    let history = match tags.get(tag::RESHARD_HISTORY) {
        Some(value) => ReshardHistory::parse(stream, value).map_err(|e| e.to_string())?,
        None => ReshardHistory::default(),
    };
    Ok(StreamState {
        name: stream.to_string(),
        status: summary.status,
        mode: summary.mode,
        open_shards: summary.open_shards,
        settings: stream_settings,
        history,
    })
}

/// What a scheduled evaluation of one stream did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StreamEvaluation {
    pub stream: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evaluation: Option<Evaluation>,
    /// The reshard's execution, when there was one (as an alarm action reports it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<AlarmOutcome>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl StreamEvaluation {
    fn new(stream: &str) -> Self {
        StreamEvaluation {
            stream: stream.to_string(),
            evaluation: None,
            outcome: None,
            error: None,
        }
    }

    /// A stream decided with nothing to carry out.
    pub(crate) fn decided(stream: &str, evaluation: Evaluation) -> Self {
        StreamEvaluation {
            evaluation: Some(evaluation),
            ..StreamEvaluation::new(stream)
        }
    }

    /// A stream that could not be evaluated, and why.
    pub(crate) fn failed(stream: &str, error: String) -> Self {
        StreamEvaluation {
            error: Some(error),
            ..StreamEvaluation::new(stream)
        }
    }
}

impl<P: AwsPort> Autoscaler<P> {
    /// Sizes one stream from its recent load and reshards it if [`schedule::evaluate`] says so,
    /// reading it on its own (DescribeStreamSummary, ListTagsForStream, DescribeAlarms,
    /// GetMetricData). `headroom`: the shards the account may still open (`None`: unknown).
    pub async fn evaluate_stream(&self, stream: &str, headroom: Option<u32>) -> StreamEvaluation {
        let now = self.aws.now();
        let pair = AlarmPair::new(stream);
        let names = [pair.name(Direction::Up), pair.name(Direction::Down)];
        let (summary, tags, alarms, usage) = tokio::join!(
            self.aws.stream_summary(stream),
            self.aws.stream_tags(stream),
            self.aws.describe_alarms(&names),
            read_recent(&self.aws, &self.settings, stream, now)
        );
        let gathered = (|| -> Result<_, String> {
            let (summary, tags, alarms) = (
                summary.map_err(|e| e.to_string())?,
                tags.map_err(|e| e.to_string())?,
                alarms.map_err(|e| e.to_string())?,
            );
            let observed = observe(&self.settings, stream, &summary, &tags, &alarms, headroom)?;
            let settings = self.stream_settings(stream, &tags);
            Ok((observed, alarms, settings))
        })();
        let (observed, alarms, settings) = match gathered {
            Ok(g) => g,
            Err(err) => return StreamEvaluation::failed(stream, err),
        };
        let Some(recent) = usage else {
            // Logged once by read_recent.
            return StreamEvaluation::failed(stream, METRICS_UNREADABLE.into());
        };
        let usage = recent_usage(&self.settings, &settings, &recent, now);
        self.evaluate_observed(&observed, &alarms, &usage, &settings, now)
            .await
    }

    /// The settings `stream`'s decisions use ([`Settings::policy_for_stream`]); the tags it
    /// could not use are logged, naming the stream and the tag.
    pub(crate) fn stream_settings(&self, stream: &str, tags: &HashMap<String, String>) -> Settings {
        let policy = self.settings.policy_for_stream(stream, tags);
        for problem in &policy.problems {
            tracing::warn!(stream = %stream, "{problem}");
        }
        policy.settings
    }

    /// Evaluates a stream as observed and carries out the reshard it calls for (a dry run
    /// only reports it). `alarms`: at least the stream's pair, for their ARNs.
    pub(crate) async fn evaluate_observed(
        &self,
        observed: &Observed,
        alarms: &HashMap<String, ExistingAlarm>,
        usage: &Usage<'_>,
        settings: &Settings,
        now: DateTime<Utc>,
    ) -> StreamEvaluation {
        let stream = observed.stream.name.as_str();
        let pair = AlarmPair::new(stream);
        let mut result = StreamEvaluation::new(stream);
        let evaluation = schedule::evaluate(&pair, observed, usage, settings, now);
        if let Evaluation::Scale { plan, .. } = &evaluation {
            let mut outcome = AlarmOutcome::new(0, Outcome::DryRun, "scheduled evaluation");
            outcome.stream = Some(stream.to_string());
            outcome.action = Some(plan.direction);
            outcome.from = Some(plan.from);
            outcome.to = Some(plan.to);
            if !self.settings.dry_run {
                // The reshard is executed as an alarm action's is; the alarm named is the one
                // of the reshard's direction, which a failure resets to OK (harmless: it
                // re-evaluates at the next period).
                let trigger = Trigger {
                    pair: pair.clone(),
                    direction: plan.direction,
                    alarm_name: pair.name(plan.direction),
                    stream: stream.to_string(),
                    state_change_time: now,
                };
                let steps =
                    execution::scale_steps(plan, |name| alarms.get(name).map(|a| a.arn.clone()));
                self.scale(
                    &trigger,
                    plan,
                    &steps,
                    &observed.stream.history,
                    &mut outcome,
                )
                .await;
            }
            result.outcome = Some(outcome);
        }
        result.evaluation = Some(evaluation);
        result
    }
}
