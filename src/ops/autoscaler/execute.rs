//! Rounds 2 to 5 of a reshard, shared by an alarm action (`alarm.rs`) and the scheduled
//! evaluation (`evaluate.rs`): record it in the stream's history, UpdateShardCount, then the
//! alarms and the consumer. What a failure means comes from [`execution`]; this only runs the
//! steps and reports.

use super::Autoscaler;
use crate::aws::{AwsError, AwsPort, FailureKind};
use crate::domain::degraded::Degradation;
use crate::domain::execution::{self, AlarmRewrite, HistoryRollback, ReshardError, ScaleSteps};
use crate::domain::history::ReshardHistory;
use crate::domain::policy::{AlarmReset, ScalePlan, Trigger};
use crate::domain::settings::tag;
use crate::ops::outcome::{AlarmOutcome, Outcome};

impl<P: AwsPort> Autoscaler<P> {
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

    pub(super) async fn reset(&self, reset: &AlarmReset, errors: &mut Vec<String>) {
        let result = self
            .aws
            .set_alarm_state(&reset.alarm, reset.state.as_str(), &reset.reason)
            .await;
        collect(errors, [result]);
    }
}

pub(super) fn collect(
    errors: &mut Vec<String>,
    results: impl IntoIterator<Item = Result<(), AwsError>>,
) {
    errors.extend(
        results
            .into_iter()
            .filter_map(Result::err)
            .map(|e| e.to_string()),
    );
}
