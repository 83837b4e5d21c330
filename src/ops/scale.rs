//! Handling one invocation: parse, gather state, decide, execute, report. The order of the
//! AWS calls of a scale event (each line one round of parallel calls):
//!
//! 1. gather: DescribeAlarms (both), ListTagsForResource (triggering alarm),
//!    DescribeStreamSummary, ListTagsForStream, DescribeLimits (scale-up only)
//! 2. AddTagsToStream: the reshard history with this reshard in it (the budget's record)
//! 3. UpdateShardCount
//! 4. PutMetricAlarm (both), PutFunctionConcurrency
//! 5. SetAlarmState INSUFFICIENT_DATA (both), TagResource (both)
//!
//! Rounds 4 and 5 are sequential per alarm because an emulator (and, for new alarms, AWS)
//! may reset an alarm's state when it is written.

use crate::aws::{AwsClients, AwsError, AwsPort, ExistingAlarm, FailureKind};
use crate::domain::alarms::{TAG_COMPLIMENTARY_ALARM, TAG_LAST_SCALED, TAG_SCALE_ACTION};
use crate::domain::event::{self, AlarmNotification, Direction, EventError, Invocation};
use crate::domain::history::ReshardHistory;
use crate::domain::metrics::{self, FATAL_ERROR_METRIC};
use crate::domain::policy::{
    self, AlarmReset, AlarmsState, Decision, Observed, ScalePlan, StreamState, Trigger,
};
use crate::domain::settings::{tag, Settings};
use crate::ops::reconcile::{self, ReconcileReport};
use serde::Serialize;
use std::collections::HashMap;

/// Everything a handled alarm needs: clients, settings, and the name metrics carry.
pub struct Autoscaler<P = AwsClients> {
    pub aws: P,
    pub settings: Settings,
    pub function_name: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The stream was resharded (see `errors` for follow-up steps that failed).
    Scaled,
    /// `DRY_RUN`: the plan was made and logged, nothing was changed.
    DryRun,
    /// A rule said no; the alarm was reset where that lets it fire again.
    Refused,
    /// Not a scaling alarm, or not in ALARM.
    Ignored,
    /// An AWS call or the stream's tags stopped the event.
    Failed,
    /// The record could not be understood; nothing was changed.
    Invalid,
}

#[derive(Debug, Clone, Serialize)]
pub struct AlarmOutcome {
    pub record: usize,
    pub alarm: Option<String>,
    pub stream: Option<String>,
    pub action: Option<Direction>,
    pub from: Option<u32>,
    pub to: Option<u32>,
    pub outcome: Outcome,
    pub reason: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
    /// The full decision, for dry runs and refusals.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decision: Option<Decision>,
}

impl AlarmOutcome {
    fn new(record: usize, outcome: Outcome, reason: impl Into<String>) -> Self {
        AlarmOutcome {
            record,
            alarm: None,
            stream: None,
            action: None,
            from: None,
            to: None,
            outcome,
            reason: reason.into(),
            errors: Vec::new(),
            decision: None,
        }
    }

    pub fn is_success(&self) -> bool {
        !matches!(self.outcome, Outcome::Failed | Outcome::Invalid) && self.errors.is_empty()
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct InvocationReport {
    pub dry_run: bool,
    pub alarms: Vec<AlarmOutcome>,
    /// What a scheduled reconcile found and fixed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reconcile: Option<ReconcileReport>,
    /// Embedded Metric Format lines to print (stdout in Lambda).
    #[serde(skip)]
    pub metric_lines: Vec<String>,
}

impl InvocationReport {
    pub fn succeeded(&self) -> bool {
        self.alarms.iter().all(AlarmOutcome::is_success)
            && self.reconcile.as_ref().is_none_or(|r| r.failed() == 0)
    }
}

/// Why gathering stopped before a decision could be made.
#[derive(Debug, thiserror::Error)]
enum GatherError {
    #[error(transparent)]
    Aws(#[from] AwsError),
    /// A tag we own or read is unusable: change nothing until a person fixes it.
    #[error("{0}")]
    BadTag(String),
}

impl<P: AwsPort> Autoscaler<P> {
    /// Handles a Lambda payload: every SNS record in order.
    pub async fn handle_invocation(&self, invocation: Invocation) -> InvocationReport {
        let mut report = InvocationReport {
            dry_run: self.settings.dry_run,
            alarms: Vec::new(),
            reconcile: None,
            metric_lines: Vec::new(),
        };
        let records = match invocation {
            Invocation::Alarms(records) => records,
            Invocation::Scheduled => {
                self.reconcile_all(&mut report).await;
                return report;
            }
        };
        for (index, record) in records.into_iter().enumerate() {
            let outcome = match record {
                Ok(notification) => self.handle_alarm(index, &notification).await,
                Err(err) => invalid(index, &err),
            };
            log_summary(&outcome);
            if !outcome.is_success() || outcome_needs_attention(&outcome) {
                report.metric_lines.push(metrics::emf_line(
                    &self.settings.metric_namespace,
                    &self.function_name,
                    FATAL_ERROR_METRIC,
                    1.0,
                    self.aws.now(),
                ));
            }
            report.alarms.push(outcome);
        }
        report
    }

    pub async fn handle_alarm(
        &self,
        record: usize,
        notification: &AlarmNotification,
    ) -> AlarmOutcome {
        let mut outcome = AlarmOutcome::new(record, Outcome::Ignored, "");
        outcome.alarm = Some(notification.alarm_name.clone());
        outcome.stream = Some(notification.stream.clone());
        let trigger = match policy::triage(notification, &self.settings) {
            Ok(trigger) => trigger,
            Err(ignored) => {
                outcome.reason = ignored.to_string();
                return outcome;
            }
        };
        outcome.action = Some(trigger.direction);

        let gathered = self.gather(&trigger, &notification.alarm_arn).await;
        let (observed, existing) = match gathered {
            Ok(state) => state,
            Err(err) => {
                outcome.outcome = Outcome::Failed;
                outcome.reason = err.to_string();
                outcome.errors.push(err.to_string());
                // Let the alarm fire again after a passing failure; a missing stream or a
                // bad tag needs a person, and a dry run changes nothing.
                let retry = match &err {
                    GatherError::Aws(e) => !e.is("ResourceNotFoundException"),
                    GatherError::BadTag(_) => false,
                };
                if retry && !self.settings.dry_run {
                    let reset = fire_again(
                        &trigger,
                        format!("Scaling failed, the alarm will fire again: {err}"),
                    );
                    self.reset(&reset, &mut outcome.errors).await;
                }
                return outcome;
            }
        };
        outcome.from = Some(observed.stream.open_shards);

        let now = self.aws.now();
        let decision = policy::plan(&trigger, &observed, &self.settings, now);
        if self.settings.dry_run {
            outcome.outcome = Outcome::DryRun;
            if let Decision::Scale(plan) = &decision {
                outcome.to = Some(plan.to);
            }
            outcome.reason = describe(&decision);
            outcome.decision = Some(decision);
            return outcome;
        }
        match decision {
            Decision::Refuse {
                refusal,
                reset,
                realign,
            } => {
                outcome.outcome = Outcome::Refused;
                outcome.reason = refusal.to_string();
                if let Some(alarms) = &realign {
                    let written = tokio::join!(
                        self.aws.put_alarm(&alarms.scale_up, &[]),
                        self.aws.put_alarm(&alarms.scale_down, &[])
                    );
                    collect(&mut outcome.errors, [written.0, written.1]);
                }
                if let Some(reset) = &reset {
                    self.reset(reset, &mut outcome.errors).await;
                }
                outcome.decision = Some(Decision::Refuse {
                    refusal,
                    reset,
                    realign,
                });
            }
            Decision::Scale(plan) => {
                outcome.to = Some(plan.to);
                self.scale(
                    &trigger,
                    notification,
                    &plan,
                    &existing,
                    &observed.stream.history,
                    &mut outcome,
                )
                .await;
            }
        }
        outcome
    }

    /// Round 1: everything the decision needs, in parallel.
    async fn gather(
        &self,
        trigger: &Trigger,
        alarm_arn: &str,
    ) -> Result<(Observed, HashMap<String, ExistingAlarm>), GatherError> {
        let names = [
            trigger.pair.name(Direction::Up),
            trigger.pair.name(Direction::Down),
        ];
        let headroom = async {
            match trigger.direction {
                Direction::Up => self.aws.account_headroom().await.map(Some),
                Direction::Down => Ok(None),
            }
        };
        let (alarms, alarm_tags, summary, stream_tags, headroom) = tokio::join!(
            self.aws.describe_alarms(&names),
            self.aws.alarm_tags(alarm_arn),
            self.aws.stream_summary(&trigger.stream),
            self.aws.stream_tags(&trigger.stream),
            headroom
        );
        let (alarms, alarm_tags, summary, stream_tags, headroom) =
            (alarms?, alarm_tags?, summary?, stream_tags?, headroom?);

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
        let stream_settings = self
            .settings
            .for_stream(&trigger.stream, &stream_tags)
            .map_err(|e| GatherError::BadTag(e.to_string()))?;
        let history = match stream_tags.get(tag::RESHARD_HISTORY) {
            Some(value) => ReshardHistory::parse(&trigger.stream, value)
                .map_err(|e| GatherError::BadTag(e.to_string()))?,
            None => ReshardHistory::default(),
        };
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
        Ok((observed, alarms))
    }

    /// Rounds 2 to 5.
    async fn scale(
        &self,
        trigger: &Trigger,
        notification: &AlarmNotification,
        plan: &ScalePlan,
        existing: &HashMap<String, ExistingAlarm>,
        previous_history: &ReshardHistory,
        outcome: &mut AlarmOutcome,
    ) {
        let stream = &plan.stream;
        // Round 2: record the reshard before making it, so the budget never under-counts.
        if let Err(err) = self
            .aws
            .tag_stream(stream, tag::RESHARD_HISTORY, &plan.history.encode())
            .await
        {
            outcome.outcome = Outcome::Failed;
            outcome.reason = format!(
                "could not record the reshard in the stream's history, so did not reshard: {err}"
            );
            outcome.errors.push(err.to_string());
            self.reset(
                &fire_again(trigger, outcome.reason.clone()),
                &mut outcome.errors,
            )
            .await;
            return;
        }

        // Round 3.
        let mut reason = format!("resharded {} -> {}", plan.from, plan.to);
        if let Err(err) = self.aws.update_shard_count(stream, plan.to).await {
            if err.kind == FailureKind::Unknown && self.reshard_took_effect(stream, plan.to).await {
                // The answer was lost (time-out, 5xx) but the stream shows the reshard: carry
                // on, so the alarms follow it now rather than at the next reconcile.
                tracing::warn!(stream = %stream, error = %err, "UpdateShardCount answer lost; the stream shows the reshard");
                reason = format!(
                    "{reason} (UpdateShardCount's answer was lost; the stream shows the reshard)"
                );
            } else {
                self.reshard_failed(trigger, plan, previous_history, err, outcome)
                    .await;
                return;
            }
        }
        outcome.outcome = Outcome::Scaled;
        outcome.reason = reason;

        // Rounds 4 and 5: both alarms and the consumer, in parallel.
        let scaled_at = event::format_alarm_time(plan.scaled_at);
        let rewrite = |direction: Direction| {
            let (spec, partner) = match direction {
                Direction::Up => (&plan.alarms.scale_up, &plan.alarms.scale_down.name),
                Direction::Down => (&plan.alarms.scale_down, &plan.alarms.scale_up.name),
            };
            let arn = existing
                .get(&spec.name)
                .map(|a| a.arn.clone())
                .or_else(|| crate::aws::sibling_alarm_arn(&notification.alarm_arn, &spec.name));
            let tags = vec![
                (
                    TAG_SCALE_ACTION.to_string(),
                    direction.tag_value().to_string(),
                ),
                (TAG_COMPLIMENTARY_ALARM.to_string(), partner.clone()),
                (TAG_LAST_SCALED.to_string(), scaled_at.clone()),
            ];
            async move {
                let mut results = vec![self.aws.put_alarm(spec, &tags).await];
                if results[0].is_ok() {
                    let reason = format!(
                        "Metric math and threshold value update for {} shards",
                        plan.to
                    );
                    let tag_call = async {
                        match &arn {
                            Some(arn) => self.aws.tag_alarm(arn, &tags).await,
                            None => Ok(()),
                        }
                    };
                    let (state, tagged) = tokio::join!(
                        self.aws
                            .set_alarm_state(&spec.name, "INSUFFICIENT_DATA", &reason),
                        tag_call
                    );
                    results.extend([state, tagged]);
                }
                results
            }
        };
        let concurrency = async {
            let Some(change) = &plan.concurrency else {
                return Vec::new();
            };
            match self
                .aws
                .put_function_concurrency(&change.function, change.reserved)
                .await
            {
                Ok(()) => Vec::new(),
                Err(err) => {
                    // Upstream's fallback: better unreserved than capped below the shards.
                    let fallback = self.aws.delete_function_concurrency(&change.function).await;
                    vec![Err(err), fallback]
                }
            }
        };
        let (up, down, consumer) = tokio::join!(
            rewrite(Direction::Up),
            rewrite(Direction::Down),
            concurrency
        );
        collect(
            &mut outcome.errors,
            up.into_iter().chain(down).chain(consumer),
        );
    }

    /// The scheduled run: every managed stream, fixes counted in `DRIFT_FIXED`.
    async fn reconcile_all(&self, report: &mut InvocationReport) {
        let metric = |name: &str, value: usize| {
            metrics::emf_line(
                &self.settings.metric_namespace,
                &self.function_name,
                name,
                value as f64,
                self.aws.now(),
            )
        };
        match reconcile::reconcile(
            &self.aws,
            &self.settings,
            &[],
            self.settings.dry_run,
            self.aws.now(),
        )
        .await
        {
            Ok(result) => {
                report
                    .metric_lines
                    .push(metric(metrics::DRIFT_FIXED_METRIC, result.fixes()));
                if result.failed() > 0 {
                    report.metric_lines.push(metric(FATAL_ERROR_METRIC, 1));
                }
                report.reconcile = Some(result);
            }
            Err(err) => {
                tracing::error!(error = %err, "reconcile failed");
                let mut outcome =
                    AlarmOutcome::new(0, Outcome::Failed, format!("reconcile failed: {err}"));
                outcome.errors.push(err.to_string());
                report.alarms.push(outcome);
                report.metric_lines.push(metric(FATAL_ERROR_METRIC, 1));
            }
        }
    }

    /// After an ambiguous `UpdateShardCount` failure: does the stream show our reshard?
    /// UPDATING right after our call, or already at the target, means it does.
    async fn reshard_took_effect(&self, stream: &str, target: u32) -> bool {
        matches!(
            self.aws.stream_summary(stream).await,
            Ok(s) if s.status == policy::StreamStatus::Updating || s.open_shards == target
        )
    }

    async fn reshard_failed(
        &self,
        trigger: &Trigger,
        plan: &ScalePlan,
        previous_history: &ReshardHistory,
        err: AwsError,
        outcome: &mut AlarmOutcome,
    ) {
        let stream = &plan.stream;
        let busy = err.is("ResourceInUseException");
        outcome.outcome = if busy {
            Outcome::Refused
        } else {
            Outcome::Failed
        };
        outcome.reason = if busy {
            format!("stream is busy (ResourceInUseException); the alarm will fire again: {err}")
        } else {
            format!(
                "UpdateShardCount {} -> {} failed: {err}",
                plan.from, plan.to
            )
        };
        if !busy {
            outcome.errors.push(err.to_string());
        }
        // A refusal surely changed nothing: take our record back, unless someone wrote the
        // tag since. Not when the stream is busy: the reshard that keeps it busy (a concurrent
        // event's, whose record ours may have overwritten, or one by hand, which AWS counts
        // too) takes our record's place. After a time-out the reshard may have happened, so
        // the record stays as well: over-counting is the safe side.
        if err.kind == FailureKind::Refused && !busy {
            let ours = plan.history.encode();
            let rollback = match self.aws.stream_tags(stream).await {
                Ok(tags) if tags.get(tag::RESHARD_HISTORY) != Some(&ours) => Ok(()),
                Ok(_) if previous_history.times().is_empty() => {
                    self.aws.untag_stream(stream, tag::RESHARD_HISTORY).await
                }
                Ok(_) => {
                    self.aws
                        .tag_stream(stream, tag::RESHARD_HISTORY, &previous_history.encode())
                        .await
                }
                Err(err) => Err(err),
            };
            collect(&mut outcome.errors, [rollback]);
        }
        let reset = fire_again(trigger, outcome.reason.clone());
        self.reset(&reset, &mut outcome.errors).await;
    }

    async fn reset(&self, reset: &AlarmReset, errors: &mut Vec<String>) {
        let result = self
            .aws
            .set_alarm_state(&reset.alarm, reset.state.as_str(), &reset.reason)
            .await;
        collect(errors, [result]);
    }
}

/// The triggering alarm back to OK: it goes to ALARM again, and notifies again, after its
/// evaluation periods if the load still calls for it.
fn fire_again(trigger: &Trigger, reason: String) -> AlarmReset {
    AlarmReset {
        alarm: trigger.alarm_name.clone(),
        state: policy::ResetState::Ok,
        reason,
    }
}

fn collect(errors: &mut Vec<String>, results: impl IntoIterator<Item = Result<(), AwsError>>) {
    errors.extend(
        results
            .into_iter()
            .filter_map(Result::err)
            .map(|e| e.to_string()),
    );
}

fn invalid(index: usize, err: &EventError) -> AlarmOutcome {
    let mut outcome = AlarmOutcome::new(index, Outcome::Invalid, err.to_string());
    if let EventError::Alarm { alarm, .. } = err {
        outcome.alarm = Some(alarm.clone());
    }
    outcome
}

fn outcome_needs_attention(outcome: &AlarmOutcome) -> bool {
    matches!(&outcome.decision, Some(Decision::Refuse { refusal, .. }) if refusal.needs_attention())
}

fn describe(decision: &Decision) -> String {
    match decision {
        Decision::Scale(plan) => format!("would reshard {} -> {}", plan.from, plan.to),
        Decision::Refuse { refusal, .. } => format!("would refuse: {refusal}"),
    }
}

/// The one line per handled alarm.
fn log_summary(outcome: &AlarmOutcome) {
    let action = outcome.action.map(|a| a.to_string());
    let outcome_name = serde_json::to_value(outcome.outcome)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string));
    let fields = (
        outcome.alarm.as_deref().unwrap_or(""),
        outcome.stream.as_deref().unwrap_or(""),
        action.as_deref().unwrap_or(""),
        outcome_name.as_deref().unwrap_or(""),
    );
    if outcome.is_success() {
        tracing::info!(alarm = fields.0, stream = fields.1, action = fields.2, from = outcome.from, to = outcome.to, outcome = fields.3, reason = %outcome.reason, "alarm handled");
    } else {
        tracing::error!(alarm = fields.0, stream = fields.1, action = fields.2, from = outcome.from, to = outcome.to, outcome = fields.3, reason = %outcome.reason, errors = ?outcome.errors, "alarm handled");
    }
}
