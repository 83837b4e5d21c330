//! An alarm action: one invocation parsed, each alarm's state gathered, decided, executed
//! (`execute.rs`) and reported. The order of the
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

use super::execute::collect;
use super::gather::{GatherError, Gathered, InvocationContext};
use super::Autoscaler;
use crate::aws::AwsPort;
use crate::domain::alarms::AlarmPairSpec;
use crate::domain::degraded::Degradation;
use crate::domain::event::{AlarmNotification, EventError, Invocation};
use crate::domain::execution::{self, GatherFailure};
use crate::domain::history::ReshardHistory;
use crate::domain::metrics::{self, StreamFigures};
use crate::domain::names;
use crate::domain::policy::{self, AlarmReset, Decision, Refusal, ScalePlan, Trigger};
use crate::ops::outcome::{AlarmOutcome, InvocationReport, Outcome};
use crate::ops::usage;
use chrono::{DateTime, Utc};

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
            tuning: None,
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

    /// One notification: triage, gather (with the stream's recent load), decide, act.
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
        let (gathered, recent) = tokio::join!(
            self.gather(context, &trigger, &notification.alarm_arn),
            usage::read_recent(&self.aws, &self.settings, &trigger.stream, now)
        );
        let mut gathered = match gathered {
            Ok(state) => state,
            Err(err) => {
                self.gather_failed(&trigger, err, &mut outcome).await;
                return outcome;
            }
        };
        outcome.confirmed = true;
        outcome.degraded = std::mem::take(&mut gathered.degraded);
        for warning in &gathered.warnings {
            tracing::error!(stream = %gathered.trigger.stream, "setting not used as set: {warning}");
        }
        outcome.warnings = std::mem::take(&mut gathered.warnings);
        let stream = &gathered.observed.stream;
        outcome.from = Some(stream.open_shards);
        outcome.figures = self.figures(stream.open_shards, &stream.history, now);
        let usage = recent
            .map(|metrics| usage::recent_usage(&self.settings, &gathered.settings, &metrics, now));
        let decision = policy::plan_sized(
            &gathered.trigger,
            &gathered.observed,
            usage.as_ref(),
            &gathered.settings,
            now,
        );
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
            } => self.refuse(refusal, reset, realign, &mut outcome).await,
            Decision::Scale(plan) => {
                self.reshard(context, plan, gathered, now, &mut outcome)
                    .await
            }
        }
        outcome
    }

    /// The stream's figures for the metrics: its shards and the budget left.
    fn figures(&self, shards: u32, history: &ReshardHistory, now: DateTime<Utc>) -> StreamFigures {
        StreamFigures {
            shard_count: Some(shards),
            reshards_left: Some(self.settings.budget(history, now).left()),
        }
    }

    /// The gather failed: an unconfirmed alarm changes nothing (not even its state); any other
    /// failure resets the alarm where the failure says it may fire again.
    async fn gather_failed(&self, trigger: &Trigger, err: GatherError, outcome: &mut AlarmOutcome) {
        if let GatherError::Unconfirmed(unconfirmed) = err {
            outcome.outcome = Outcome::Refused;
            outcome.refusal = Some(unconfirmed.key().into());
            outcome.reason = unconfirmed.to_string();
            return;
        }
        outcome.confirmed = !matches!(err, GatherError::Unconfirmable(_));
        outcome.outcome = Outcome::Failed;
        outcome.reason = err.to_string();
        outcome.errors.push(err.to_string());
        let failure = match &err {
            GatherError::Aws(e) if e.is("ResourceNotFoundException") => GatherFailure::NotFound,
            GatherError::Aws(_) => GatherFailure::Passing,
            GatherError::Unconfirmable(_) => GatherFailure::Unconfirmed,
            GatherError::BadTag(_) | GatherError::Unconfirmed(_) => GatherFailure::Unusable,
        };
        let reset = execution::after_failed_gather(
            trigger,
            failure,
            &err.to_string(),
            self.settings.dry_run,
        );
        if let Some(reset) = &reset {
            self.reset(reset, &mut outcome.errors).await;
        }
    }

    /// A refusal: the alarms realigned to the stream's real count and reset where that lets
    /// them fire again.
    async fn refuse(
        &self,
        refusal: Refusal,
        reset: Option<AlarmReset>,
        realign: Option<AlarmPairSpec>,
        outcome: &mut AlarmOutcome,
    ) {
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

    /// A reshard: consumers fitted, the plan's steps executed, the figures and the
    /// invocation's account headroom updated.
    async fn reshard(
        &self,
        context: &InvocationContext,
        mut plan: ScalePlan,
        gathered: Gathered,
        now: DateTime<Utc>,
        outcome: &mut AlarmOutcome,
    ) {
        let trigger = &gathered.trigger;
        outcome.to = Some(plan.to);
        let extra = self
            .fit_all_consumers(&gathered.consumers, &mut plan, &mut outcome.degraded)
            .await;
        let existing = &gathered.existing;
        let steps = execution::scale_steps(&plan, |name| {
            existing
                .get(name)
                .map(|a| a.arn.clone())
                .or_else(|| crate::aws::sibling_alarm_arn(&gathered.alarm_arn, name))
        });
        let history = &gathered.observed.stream.history;
        self.scale(trigger, &plan, &steps, history, outcome).await;
        if outcome.outcome == Outcome::Scaled {
            for (function, reserved) in extra {
                let result = self.aws.put_function_concurrency(&function, reserved).await;
                collect(&mut outcome.errors, [result]);
            }
            outcome.figures = self.figures(plan.to, &plan.history, now);
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

    /// Discovered consumers, each sized within the account's unreserved floor: the first
    /// through the plan, the others (returned) after the reshard.
    async fn fit_all_consumers(
        &self,
        consumers: &[crate::aws::StreamConsumer],
        plan: &mut ScalePlan,
        degraded: &mut Vec<Degradation>,
    ) -> Vec<(String, u32)> {
        let Some(first) = consumers.first() else {
            return Vec::new();
        };
        let fitted = self.fit_consumers(consumers, plan.to, degraded).await;
        plan.concurrency = plan.concurrency.take().filter(|change| {
            fitted
                .iter()
                .any(|(function, _)| *function == change.function)
        });
        fitted
            .into_iter()
            .filter(|(function, _)| *function != first.function_arn)
            .collect()
    }
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
    names::tagged_variant_name(refusal, "kind").unwrap_or_else(|| "refused".to_string())
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
    let outcome_name = names::variant_name(&outcome.outcome);
    let fields = (
        outcome.alarm.as_deref().unwrap_or(""),
        outcome.stream.as_deref().unwrap_or(""),
        action.as_deref().unwrap_or(""),
        outcome_name.as_str(),
    );
    if outcome.is_success() {
        tracing::info!(alarm = fields.0, stream = fields.1, action = fields.2, from = outcome.from, to = outcome.to, outcome = fields.3, reason = %outcome.reason, "alarm handled");
    } else {
        tracing::error!(alarm = fields.0, stream = fields.1, action = fields.2, from = outcome.from, to = outcome.to, outcome = fields.3, reason = %outcome.reason, errors = ?outcome.errors, "alarm handled");
    }
}
