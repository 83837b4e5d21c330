//! What an invocation reports: each alarm's outcome, and the run's.

use crate::domain::degraded::Degradation;
use crate::domain::event::Direction;
use crate::domain::fallback::SettingFallback;
use crate::domain::metrics::StreamFigures;
use crate::domain::policy::Decision;
use crate::ops::reconcile::ReconcileReport;
use serde::Serialize;

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
    /// Why it was refused, as a stable key (the `Reason` of the `SCALING_REFUSED` metric).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refusal: Option<String>,
    /// Settings (stream tags) used other than as set, each naming the stream, the tag and what
    /// was used: reported with the error metric, the event goes on.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// Permissions the role lacks and what was done without them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub degraded: Vec<Degradation>,
    /// The full decision, for dry runs and refusals.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decision: Option<Decision>,
    /// The stream's shard count and daily budget after the event, for the per-stream metrics.
    #[serde(skip)]
    pub figures: StreamFigures,
    /// CloudWatch backed the event's stream (`domain::confirm`): only then does a metric carry
    /// its name, so that forged messages cannot mint metrics.
    #[serde(skip)]
    pub confirmed: bool,
}

impl AlarmOutcome {
    pub(crate) fn new(record: usize, outcome: Outcome, reason: impl Into<String>) -> Self {
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
            refusal: None,
            warnings: Vec::new(),
            degraded: Vec::new(),
            decision: None,
            figures: StreamFigures::default(),
            confirmed: false,
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
    /// Permissions the role lacks, each once, and what was done without them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub degraded: Vec<Degradation>,
    /// Variables the function does not use as set (see `Settings::fallbacks`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub settings_fallbacks: Vec<SettingFallback>,
    /// What the scheduled run's daily tuning did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tuning: Option<TuningReport>,
    /// Embedded Metric Format lines to print (stdout in Lambda).
    #[serde(skip)]
    pub metric_lines: Vec<String>,
}

/// One scheduled run's share of the daily tuning.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TuningReport {
    pub streams: Vec<StreamTuning>,
    /// Streams due this run that its time did not reach (the next run continues).
    pub not_reached: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StreamTuning {
    pub stream: String,
    pub outcome: TuningOutcome,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TuningOutcome {
    /// Chosen (and, unless a dry run, kept in the stream's tag).
    Tuned(Box<crate::domain::tuned::TunedTag>),
    /// Nothing changed, and why (history too short or unreadable, a tag not written).
    Kept(String),
}

impl TuningReport {
    pub(crate) fn push(&mut self, stream: &str, outcome: TuningOutcome) {
        self.streams.push(StreamTuning {
            stream: stream.to_string(),
            outcome,
        });
    }

    fn chosen(&self) -> impl Iterator<Item = &crate::domain::tuned::TunedTag> {
        self.streams.iter().filter_map(|s| match &s.outcome {
            TuningOutcome::Tuned(t) => Some(t.as_ref()),
            TuningOutcome::Kept(_) => None,
        })
    }

    pub fn tuned(&self) -> usize {
        self.chosen().count()
    }

    pub fn met(&self) -> usize {
        self.chosen().filter(|t| t.met).count()
    }

    pub fn on_floor(&self) -> usize {
        self.chosen().filter(|t| t.policy.floor() > 0).count()
    }

    pub fn advised(&self) -> usize {
        self.chosen().filter(|t| t.advice.is_some()).count()
    }

    pub fn kept(&self) -> usize {
        self.streams.len() - self.tuned()
    }
}

impl InvocationReport {
    pub fn succeeded(&self) -> bool {
        self.alarms.iter().all(AlarmOutcome::is_success)
            && self.reconcile.as_ref().is_none_or(|r| r.failed() == 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::tuned::TunedTag;
    use crate::domain::tuning::candidates;

    #[test]
    fn the_tuning_figures_count_each_stream_once_by_what_it_was_given() {
        let tag = |floor: u32, met: bool| {
            let careful = candidates()[4];
            TuningOutcome::Tuned(Box::new(TunedTag {
                day: chrono::NaiveDate::from_ymd_opt(2026, 12, 6).unwrap(),
                candidate: careful.name.to_string(),
                met,
                policy: careful.policy.with_floor(floor),
                advice: None,
            }))
        };
        let mut report = TuningReport::default();
        report.push("floored", tag(5, true));
        report.push("plain", tag(0, true));
        report.push("unmet", tag(0, false));
        report.push("short", TuningOutcome::Kept("1.0 days of history".into()));
        assert_eq!(
            (
                report.tuned(),
                report.met(),
                report.on_floor(),
                report.kept()
            ),
            (3, 2, 1, 1)
        );
    }
}
