//! The sized policy's reads: a stream's recent load from CloudWatch (GetMetricData), turned
//! into the [`Usage`] that [`crate::domain::sizing`] decides from. When the metrics cannot be
//! read (the upstream role denies GetMetricData; CloudWatch throttles), the decision falls
//! back to doubling/halving, and the reason is logged once per process, not on every event.
//!
//! Also the scheduled evaluation ([`Autoscaler::evaluate_all`]): every managed stream sized
//! by [`schedule::evaluate`] from its own history, without waiting for an alarm.

use crate::aws::{AwsPort, ExistingAlarm};
use crate::domain::event::{AlarmPair, Direction};
use crate::domain::execution;
use crate::domain::history::ReshardHistory;
use crate::domain::metrics;
use crate::domain::policy::{AlarmsState, Observed, StreamState, Trigger};
use crate::domain::schedule::{self, Evaluation};
use crate::domain::settings::{tag, ScalingPolicy, Settings};
use crate::domain::sizing::{self, Usage};
use crate::ops::outcome::{AlarmOutcome, Autoscaler, InvocationReport, Outcome};
use crate::ops::wiring::WiringError;
use chrono::{DateTime, Duration, Utc};
use std::sync::atomic::{AtomicBool, Ordering};

static FALLBACK_LOGGED: AtomicBool = AtomicBool::new(false);

/// The start of the period holding `t`, on CloudWatch's grid (multiples of the period).
fn floor_to(t: DateTime<Utc>, period_secs: i64) -> DateTime<Utc> {
    let secs = t.timestamp().div_euclid(period_secs) * period_secs;
    DateTime::from_timestamp(secs, 0).unwrap_or(t)
}

/// The window the sized policy reads: its longest look-back, ending with the last whole
/// period before `now` (a period still in progress would look like a drop in load).
pub fn usage_window(settings: &Settings, now: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
    let period = i64::from(settings.period_mins.max(1)) * 60;
    let end = floor_to(now, period);
    let start = floor_to(
        end - Duration::minutes(sizing::history_mins(&settings.sizing)),
        period,
    );
    (start, end)
}

/// The stream's recent load, or `None` when the policy does not use it or it cannot be read.
pub async fn read_usage<P: AwsPort>(
    aws: &P,
    settings: &Settings,
    stream: &str,
    now: DateTime<Utc>,
) -> Option<Usage<'static>> {
    if settings.scaling_policy != ScalingPolicy::Sized {
        return None;
    }
    let period = settings.period_mins.max(1) * 60;
    let (start, end) = usage_window(settings, now);
    match aws.incoming_metrics(stream, start, end, period).await {
        Ok(points) => {
            let sums: Vec<_> = points
                .iter()
                .map(|p| (p.start, p.bytes, p.records))
                .collect();
            Some(Usage::from_sums(i64::from(period), start, end, &sums))
        }
        Err(err) => {
            if !FALLBACK_LOGGED.swap(true, Ordering::Relaxed) {
                tracing::warn!(
                    stream = %stream,
                    error = %err,
                    "SCALING_POLICY=sized cannot read the stream's metrics (GetMetricData); deciding by doubling/halving until it can (logged once)"
                );
            }
            None
        }
    }
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

impl<P: AwsPort> Autoscaler<P> {
    /// The scheduled invocation's second half, after the reconcile: each reshard is reported
    /// like an alarm action's.
    pub(crate) async fn evaluate_scheduled(&self, report: &mut InvocationReport) {
        let failed = match self.evaluate_all().await {
            Ok(evaluations) => {
                let outcomes: Vec<AlarmOutcome> =
                    evaluations.into_iter().filter_map(|e| e.outcome).collect();
                let failed = outcomes.iter().any(|o| !o.is_success());
                report.alarms.extend(outcomes);
                failed
            }
            Err(err) => {
                tracing::error!(error = %err, "scheduled evaluation failed");
                true
            }
        };
        if failed {
            report.metric_lines.push(metrics::emf_line(
                &self.settings.metric_namespace,
                &self.function_name,
                metrics::FATAL_ERROR_METRIC,
                1.0,
                self.aws.now(),
            ));
        }
    }

    /// The scheduled evaluation of every managed stream (`SCALING_POLICY=sized` only).
    pub async fn evaluate_all(&self) -> Result<Vec<StreamEvaluation>, WiringError> {
        if self.settings.scaling_policy != ScalingPolicy::Sized {
            return Ok(Vec::new());
        }
        let streams: Vec<String> = crate::ops::status::managed_streams(&self.aws)
            .await?
            .into_iter()
            .filter(|s| self.settings.manages(s))
            .collect();
        // One DescribeLimits per run (its quota is 1 call a second), spent down as streams grow.
        let mut headroom = self.aws.account_headroom().await.ok();
        let mut out = Vec::with_capacity(streams.len());
        for stream in streams {
            let result = self.evaluate_stream(&stream, headroom).await;
            if let (Some(h), Some(outcome)) = (headroom.as_mut(), &result.outcome) {
                if let (Some(from), Some(to)) = (outcome.from, outcome.to) {
                    *h = h.saturating_sub(to.saturating_sub(from));
                }
            }
            tracing::info!(stream = %stream, result = ?result.evaluation, error = ?result.error, "scheduled evaluation");
            out.push(result);
        }
        Ok(out)
    }

    /// Sizes one stream from its recent load and reshards it if [`schedule::evaluate`] says so.
    /// `headroom`: the shards the account may still open (`None`: unknown).
    pub async fn evaluate_stream(&self, stream: &str, headroom: Option<u32>) -> StreamEvaluation {
        let mut result = StreamEvaluation {
            stream: stream.to_string(),
            evaluation: None,
            outcome: None,
            error: None,
        };
        let now = self.aws.now();
        let pair = AlarmPair::new(stream);
        let names = [pair.name(Direction::Up), pair.name(Direction::Down)];
        let (summary, tags, alarms, usage) = tokio::join!(
            self.aws.stream_summary(stream),
            self.aws.stream_tags(stream),
            self.aws.describe_alarms(&names),
            read_usage(&self.aws, &self.settings, stream, now)
        );
        let gathered = (|| -> Result<_, String> {
            let (summary, tags, alarms) = (
                summary.map_err(|e| e.to_string())?,
                tags.map_err(|e| e.to_string())?,
                alarms.map_err(|e| e.to_string())?,
            );
            let settings = self
                .settings
                .for_stream(stream, &tags)
                .map_err(|e| e.to_string())?;
            let history = match tags.get(tag::RESHARD_HISTORY) {
                Some(value) => ReshardHistory::parse(stream, value).map_err(|e| e.to_string())?,
                None => ReshardHistory::default(),
            };
            Ok((summary, settings, history, alarms))
        })();
        let (summary, stream_settings, history, alarms) = match gathered {
            Ok(g) => g,
            Err(err) => {
                result.error = Some(err);
                return result;
            }
        };
        let Some(usage) = usage else {
            // Logged once by read_usage; the alarms still act, by doubling/halving.
            result.error = Some("metrics unreadable: left to the alarms".into());
            return result;
        };
        let kept = |name: &String| {
            alarms
                .get(name)
                .map(ExistingAlarm::kept)
                .unwrap_or_default()
        };
        let observed = Observed {
            stream: StreamState {
                name: stream.to_string(),
                status: summary.status,
                mode: summary.mode,
                open_shards: summary.open_shards,
                settings: stream_settings,
                history: history.clone(),
            },
            alarms: AlarmsState {
                last_scaled: None,
                kept_up: kept(&names[0]),
                kept_down: kept(&names[1]),
            },
            account_headroom: headroom,
        };
        let evaluation = schedule::evaluate(&pair, &observed, &usage, &self.settings, now);
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
                    topic_arn: None,
                };
                let steps =
                    execution::scale_steps(plan, |name| alarms.get(name).map(|a| a.arn.clone()));
                self.scale(&trigger, plan, &steps, &history, &mut outcome)
                    .await;
            }
            result.outcome = Some(outcome);
        }
        result.evaluation = Some(evaluation);
        result
    }
}
