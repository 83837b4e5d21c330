//! Handling one invocation: parse, gather state, decide, execute, report. The order of the
//! AWS calls of a scale event (each line one round of parallel calls):
//!
//! 1. gather (`gather.rs`): DescribeAlarms (both; the event acts only if the triggering alarm
//!    is in ALARM and is the named stream's own, `domain::confirm`; if DescribeAlarms fails
//!    nothing is changed, not even the alarm's state), ListTagsForResource (triggering
//!    alarm), DescribeStreamSummary,
//!    ListTagsForStream, DescribeLimits (scale-up only, once per invocation), GetMetricData
//!    (`SCALING_POLICY=sized`)
//! 2. AddTagsToStream: the reshard history with this reshard in it (the budget's record)
//! 3. UpdateShardCount
//! 4. PutMetricAlarm (both), PutFunctionConcurrency
//! 5. SetAlarmState INSUFFICIENT_DATA (both), TagResource (both)
//!
//! Rounds 4 and 5 are sequential per alarm because an emulator (and, for new alarms, AWS)
//! may reset an alarm's state when it is written.

use crate::aws::{AwsError, AwsPort, FailureKind};
use crate::domain::degraded::Degradation;
use crate::domain::event::{AlarmNotification, EventError, Invocation};
use crate::domain::execution::{
    self, AlarmRewrite, GatherFailure, HistoryRollback, ReshardError, ScaleSteps,
};
use crate::domain::history::ReshardHistory;
use crate::domain::metrics::{self, StreamFigures};
use crate::domain::policy::{self, AlarmReset, Decision, Refusal, ScalePlan, Trigger};
use crate::domain::settings::tag;
use crate::ops::evaluate;
use crate::ops::gather::{GatherError, Gathered, InvocationContext};
pub use crate::ops::outcome::{AlarmOutcome, Autoscaler, InvocationReport, Outcome};

impl<P: AwsPort> Autoscaler<P> {
    /// Handles a Lambda payload: every alarm notification in order (an SNS event may carry
    /// several; a direct alarm action or an EventBridge alarm event carries one).
    pub async fn handle_invocation(&self, invocation: Invocation) -> InvocationReport {
        let mut report = InvocationReport {
            dry_run: self.settings.dry_run,
            alarms: Vec::new(),
            reconcile: None,
            degraded: Vec::new(),
            settings_fallbacks: self.settings.fallbacks.clone(),
            metric_lines: Vec::new(),
        };
        self.report_fallbacks(&mut report);
        let records = match invocation {
            Invocation::Alarms(records) => records,
            Invocation::Scheduled => {
                // The reconcile sweep when due, then the sized evaluation (`scheduled.rs`).
                self.scheduled_run(&mut report).await;
                return report;
            }
        };
        let context = InvocationContext::default();
        for (index, record) in records.into_iter().enumerate() {
            let outcome = match record {
                Ok(notification) => self.handle_record(&context, index, &notification).await,
                Err(err) => invalid(index, &err),
            };
            log_summary(&outcome);
            for degradation in &outcome.degraded {
                // Once per invocation, with the permission that would lift it.
                if !report.degraded.contains(degradation) {
                    tracing::warn!(
                        degradation = ?degradation,
                        permission = degradation.permission().unwrap_or(""),
                        "{}",
                        degradation.describe()
                    );
                    report.degraded.push(*degradation);
                }
            }
            self.outcome_metrics(&outcome, &mut report.metric_lines);
            report.alarms.push(outcome);
        }
        report
    }

    /// Settings the tolerant reading replaced or used as given: logged, and the error metric,
    /// on every invocation until the variables are fixed (`kinesis-autoscaler check-config`).
    fn report_fallbacks(&self, report: &mut InvocationReport) {
        if self.settings.fallbacks.is_empty() {
            return;
        }
        for fallback in &self.settings.fallbacks {
            tracing::error!(
                variable = fallback.variable,
                value = %fallback.value,
                used = %fallback.used,
                "setting not used as set: {fallback}"
            );
        }
        report.metric_lines.push(metrics::error_line(
            &self.settings.metric_namespace,
            &self.function_name,
            None,
            self.aws.now(),
        ));
    }

    /// The EMF lines one handled alarm is counted in: a reshard by direction, a refusal by
    /// reason, the error metric for a failure or a refusal a person must hear about. Only a
    /// stream CloudWatch confirmed names a metric: a forged message mints none.
    fn outcome_metrics(&self, outcome: &AlarmOutcome, lines: &mut Vec<String>) {
        let namespace = &self.settings.metric_namespace;
        let now = self.aws.now();
        let stream = outcome.stream.as_deref().filter(|_| outcome.confirmed);
        match (outcome.outcome, stream) {
            (Outcome::Scaled, Some(stream)) => {
                let direction = outcome.action.map(|d| d.to_string()).unwrap_or_default();
                lines.push(metrics::reshard_line(namespace, stream, &direction, now));
            }
            (Outcome::Refused, stream) => {
                let reason = outcome.refusal.as_deref().unwrap_or("refused");
                lines.push(metrics::refusal_line(namespace, stream, reason, now));
            }
            _ => {}
        }
        if let Some(stream) = stream {
            lines.extend(metrics::stream_emf_line(
                namespace,
                &self.function_name,
                stream,
                &outcome.figures,
                now,
            ));
        }
        if !outcome.is_success() || outcome_needs_attention(outcome) {
            lines.push(metrics::error_line(
                namespace,
                &self.function_name,
                stream,
                now,
            ));
        }
    }

    /// Handles one alarm notification on its own (an invocation of one record).
    pub async fn handle_alarm(
        &self,
        record: usize,
        notification: &AlarmNotification,
    ) -> AlarmOutcome {
        self.handle_record(&InvocationContext::default(), record, notification)
            .await
    }

    async fn handle_record(
        &self,
        context: &InvocationContext,
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

        let now = self.aws.now();
        let (gathered, usage) = tokio::join!(
            self.gather(context, &trigger, &notification.alarm_arn),
            evaluate::read_usage(&self.aws, &self.settings, &trigger.stream, now)
        );
        let Gathered {
            trigger,
            alarm_arn,
            observed,
            existing,
            degraded,
            warnings,
            consumers,
        } = match gathered {
            Ok(state) => state,
            Err(GatherError::Unconfirmed(unconfirmed)) => {
                // Whatever delivered it, CloudWatch does not back it: change nothing, not
                // even the alarm's state.
                outcome.outcome = Outcome::Refused;
                outcome.refusal = Some(unconfirmed.key().into());
                outcome.reason = unconfirmed.to_string();
                return outcome;
            }
            Err(err) => {
                outcome.confirmed = !matches!(err, GatherError::Unconfirmable(_));
                outcome.outcome = Outcome::Failed;
                outcome.reason = err.to_string();
                outcome.errors.push(err.to_string());
                let failure = match &err {
                    GatherError::Aws(e) if e.is("ResourceNotFoundException") => {
                        GatherFailure::NotFound
                    }
                    GatherError::Aws(_) => GatherFailure::Passing,
                    GatherError::Unconfirmable(_) => GatherFailure::Unconfirmed,
                    GatherError::BadTag(_) | GatherError::Unconfirmed(_) => GatherFailure::Unusable,
                };
                let reset = execution::after_failed_gather(
                    &trigger,
                    failure,
                    &err.to_string(),
                    self.settings.dry_run,
                );
                if let Some(reset) = &reset {
                    self.reset(reset, &mut outcome.errors).await;
                }
                return outcome;
            }
        };
        outcome.confirmed = true;
        outcome.degraded = degraded;
        for warning in &warnings {
            tracing::error!(stream = %trigger.stream, "setting not used as set: {warning}");
        }
        outcome.warnings = warnings;
        outcome.from = Some(observed.stream.open_shards);

        let budget_left = |history: &ReshardHistory| {
            self.settings
                .max_reshards_per_day
                .saturating_sub(history.used_in_day(now))
        };
        outcome.figures = StreamFigures {
            shard_count: Some(observed.stream.open_shards),
            reshards_left: Some(budget_left(&observed.stream.history)),
        };
        let decision = policy::plan_sized(&trigger, &observed, usage.as_ref(), &self.settings, now);
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
                outcome.refusal = Some(refusal_kind(&refusal));
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
            Decision::Scale(mut plan) => {
                outcome.to = Some(plan.to);
                // Discovered consumers: each sized within the account's unreserved floor; the
                // first through the plan, the others after the reshard.
                let mut extra = Vec::new();
                if !consumers.is_empty() {
                    let fitted = self
                        .fit_consumers(&consumers, plan.to, &mut outcome.degraded)
                        .await;
                    plan.concurrency = plan.concurrency.take().filter(|change| {
                        fitted
                            .iter()
                            .any(|(function, _)| *function == change.function)
                    });
                    extra = fitted
                        .into_iter()
                        .filter(|(function, _)| *function != consumers[0].function_arn)
                        .collect();
                }
                let steps = execution::scale_steps(&plan, |name| {
                    existing
                        .get(name)
                        .map(|a| a.arn.clone())
                        .or_else(|| crate::aws::sibling_alarm_arn(&alarm_arn, name))
                });
                self.scale(
                    &trigger,
                    &plan,
                    &steps,
                    &observed.stream.history,
                    &mut outcome,
                )
                .await;
                if outcome.outcome == Outcome::Scaled {
                    for (function, reserved) in extra {
                        let result = self.aws.put_function_concurrency(&function, reserved).await;
                        collect(&mut outcome.errors, [result]);
                    }
                }
                if outcome.outcome == Outcome::Scaled {
                    outcome.figures = StreamFigures {
                        shard_count: Some(plan.to),
                        reshards_left: Some(budget_left(&plan.history)),
                    };
                }
                match outcome.outcome {
                    Outcome::Scaled if plan.to > plan.from => {
                        context.spend_headroom(plan.to - plan.from);
                    }
                    // The executor's only refusal: the stream was busy (ResourceInUse).
                    Outcome::Refused if outcome.refusal.is_none() => {
                        outcome.refusal = Some("stream_busy".into());
                    }
                    _ => {}
                }
            }
        }
        outcome
    }

    /// Rounds 2 to 5: runs `steps`; what a failure means comes from [`execution`].
    pub(crate) async fn scale(
        &self,
        trigger: &Trigger,
        plan: &ScalePlan,
        steps: &ScaleSteps,
        previous_history: &ReshardHistory,
        outcome: &mut AlarmOutcome,
    ) {
        let stream = &steps.stream;
        // Round 2: record the reshard before making it, so the budget never under-counts.
        // Without the permission, or with no room among the stream's 50 tags, go on as
        // upstream did: the alarms' LastScaledTimestamp is the record, AWS keeps the budget.
        let recorded = if outcome.degraded.contains(&Degradation::HistoryNoRoom) {
            Ok(())
        } else {
            match self
                .aws
                .tag_stream(stream, tag::RESHARD_HISTORY, &steps.history)
                .await
            {
                Err(err) if err.is_denied() => {
                    outcome.degraded.push(Degradation::HistoryDenied);
                    Ok(())
                }
                other => other,
            }
        };
        if let Err(err) = recorded {
            let (reason, reset) = execution::after_failed_record(trigger, &err.to_string());
            outcome.outcome = Outcome::Failed;
            outcome.reason = reason;
            outcome.errors.push(err.to_string());
            self.reset(&reset, &mut outcome.errors).await;
            return;
        }

        // Round 3.
        let mut reason = format!("resharded {} -> {}", plan.from, steps.to);
        if let Err(err) = self.aws.update_shard_count(stream, steps.to).await {
            let error =
                ReshardError::classify(err.code.as_deref(), err.kind == FailureKind::Refused);
            // A call that may have happened is checked against the stream.
            if error == ReshardError::Unknown && self.reshard_took_effect(stream, steps.to).await {
                // Carry on, so the alarms follow the reshard now rather than at the next
                // reconcile.
                tracing::warn!(stream = %stream, error = %err, "UpdateShardCount answer lost; the stream shows the reshard");
                reason = format!(
                    "{reason} (UpdateShardCount's answer was lost; the stream shows the reshard)"
                );
            } else {
                let after = execution::after_failed_reshard(trigger, plan, error, &err.to_string());
                self.reshard_failed(steps, previous_history, after, err, outcome)
                    .await;
                return;
            }
        }
        outcome.outcome = Outcome::Scaled;
        outcome.reason = reason;

        // Rounds 4 and 5: both alarms and the consumer, in parallel. A consumer whose
        // concurrency cannot be set keeps what it had (reported, the error metric): deleting it
        // would lift the cap the user chose, or take away a reservation others cannot take.
        let concurrency = async {
            match &steps.concurrency {
                Some(step) => vec![
                    self.aws
                        .put_function_concurrency(&step.function, step.reserved)
                        .await,
                ],
                None => Vec::new(),
            }
        };
        let [up, down] = &steps.rewrites;
        let (up, down, consumer) = tokio::join!(
            self.rewrite_alarm(up),
            self.rewrite_alarm(down),
            concurrency
        );
        collect(
            &mut outcome.errors,
            up.into_iter().chain(down).chain(consumer),
        );
    }

    /// Round 4 for one alarm, then its round 5 once the definition is written.
    async fn rewrite_alarm(&self, rewrite: &AlarmRewrite) -> Vec<Result<(), AwsError>> {
        let written = self.aws.put_alarm(&rewrite.spec, &rewrite.tags).await;
        if written.is_err() {
            return vec![written];
        }
        let tag_call = async {
            match &rewrite.arn {
                Some(arn) => self.aws.tag_alarm(arn, &rewrite.tags).await,
                None => Ok(()),
            }
        };
        let reset = &rewrite.reset;
        let (state, tagged) = tokio::join!(
            self.aws
                .set_alarm_state(&reset.alarm, reset.state.as_str(), &reset.reason),
            tag_call
        );
        vec![written, state, tagged]
    }

    /// After an ambiguous `UpdateShardCount` failure: does the stream show our reshard?
    async fn reshard_took_effect(&self, stream: &str, target: u32) -> bool {
        matches!(
            self.aws.stream_summary(stream).await,
            Ok(s) if execution::shows_reshard(s.status, s.open_shards, target)
        )
    }

    /// Carries out what a failed reshard leaves to do.
    async fn reshard_failed(
        &self,
        steps: &ScaleSteps,
        previous_history: &ReshardHistory,
        after: execution::AfterFailedReshard,
        err: AwsError,
        outcome: &mut AlarmOutcome,
    ) {
        outcome.outcome = if after.busy {
            Outcome::Refused
        } else {
            Outcome::Failed
        };
        outcome.reason = after.reason.clone();
        if after.is_error {
            outcome.errors.push(err.to_string());
        }
        if after.roll_back_history {
            let stream = &steps.stream;
            let rollback = match self.aws.stream_tags(stream).await {
                Ok(tags) => match execution::history_rollback(
                    &steps.history,
                    tags.get(tag::RESHARD_HISTORY).map(String::as_str),
                    previous_history,
                ) {
                    HistoryRollback::Keep => Ok(()),
                    HistoryRollback::Remove => {
                        self.aws.untag_stream(stream, tag::RESHARD_HISTORY).await
                    }
                    HistoryRollback::Restore(value) => {
                        self.aws
                            .tag_stream(stream, tag::RESHARD_HISTORY, &value)
                            .await
                    }
                },
                Err(err) => Err(err),
            };
            collect(&mut outcome.errors, [rollback]);
        }
        self.reset(&after.reset, &mut outcome.errors).await;
    }

    async fn reset(&self, reset: &AlarmReset, errors: &mut Vec<String>) {
        let result = self
            .aws
            .set_alarm_state(&reset.alarm, reset.state.as_str(), &reset.reason)
            .await;
        collect(errors, [result]);
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
    !outcome.warnings.is_empty()
        || matches!(&outcome.decision, Some(Decision::Refuse { refusal, .. }) if refusal.needs_attention())
}

/// A refusal's stable key: `daily_limit`, `at_bound`, `stale`, ... (its serde tag).
fn refusal_kind(refusal: &Refusal) -> String {
    serde_json::to_value(refusal)
        .ok()
        .and_then(|v| v.get("kind").and_then(|k| k.as_str()).map(str::to_string))
        .unwrap_or_else(|| "refused".to_string())
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
