//! Self-healing: bring every managed stream's alarms and consumer concurrency back in line
//! with its real open shard count, whatever happened (a reshard by hand, a rewrite that failed
//! half-way, an alarm left in ALARM by a lost event). Runs from the CLI and, on a schedule,
//! in the Lambda. It changes nothing that is already right, and with `dry_run` nothing at all.
//!
//! The alarm half is `wire` at the current count (one builder, one comparison), so a
//! reconciled alarm is exactly what the Lambda would have written.

use crate::aws::AwsPort;
use crate::domain::event::{AlarmPair, Direction};
use crate::domain::policy::{StreamMode, StreamStatus};
use crate::domain::settings::Settings;
use crate::ops::wiring::{self, Change, WireOptions, WiringError};
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FixKind {
    AlarmCreated,
    AlarmDefinition,
    AlarmTags,
    ConsumerConcurrency,
    StuckAlarm,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Fix {
    pub kind: FixKind,
    pub target: String,
    pub detail: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StreamVerdict {
    /// Everything matched.
    InLine,
    /// Drift was found (and fixed, unless this was a dry run).
    Drifted,
    /// Not ours to fix now: deleted, ON_DEMAND, or resharding.
    Skipped,
    /// Reading or fixing failed; see `error`.
    Failed,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StreamReconcile {
    pub stream: String,
    pub verdict: StreamVerdict,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shards: Option<u32>,
    pub fixes: Vec<Fix>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReconcileReport {
    pub dry_run: bool,
    pub streams: Vec<StreamReconcile>,
}

impl ReconcileReport {
    pub fn fixes(&self) -> usize {
        self.streams.iter().map(|s| s.fixes.len()).sum()
    }

    pub fn failed(&self) -> usize {
        self.streams
            .iter()
            .filter(|s| s.verdict == StreamVerdict::Failed)
            .count()
    }
}

/// How long an alarm may sit in ALARM before we take it that its event was lost: the Lambda
/// handles an event within seconds of the alarm's transition, queue included.
pub fn stuck_after(settings: &Settings) -> Duration {
    Duration::minutes(i64::from(settings.period_mins) * 2)
}

/// Reconciles `streams`, or every managed stream when it is empty.
pub async fn reconcile(
    aws: &impl AwsPort,
    settings: &Settings,
    streams: &[String],
    dry_run: bool,
    now: DateTime<Utc>,
) -> Result<ReconcileReport, WiringError> {
    // Discovery stays within the prefix the IAM policy grants; named streams are checked as asked.
    let streams = if streams.is_empty() {
        let all = wiring::managed_streams(aws).await?;
        all.into_iter().filter(|s| settings.manages(s)).collect()
    } else {
        streams.to_vec()
    };
    let mut report = ReconcileReport {
        dry_run,
        streams: Vec::new(),
    };
    for stream in streams {
        let outcome = reconcile_stream(aws, settings, &stream, dry_run, now).await;
        let outcome = outcome.unwrap_or_else(|err| StreamReconcile {
            stream: stream.clone(),
            verdict: StreamVerdict::Failed,
            shards: None,
            fixes: Vec::new(),
            note: Some(err.to_string()),
        });
        log_stream(&outcome, dry_run);
        report.streams.push(outcome);
    }
    Ok(report)
}

async fn reconcile_stream(
    aws: &impl AwsPort,
    settings: &Settings,
    stream: &str,
    dry_run: bool,
    now: DateTime<Utc>,
) -> Result<StreamReconcile, WiringError> {
    let skipped = |note: String| StreamReconcile {
        stream: stream.to_string(),
        verdict: StreamVerdict::Skipped,
        shards: None,
        fixes: Vec::new(),
        note: Some(note),
    };
    let summary = match aws.stream_summary(stream).await {
        Ok(summary) => summary,
        Err(err) if err.is("ResourceNotFoundException") => {
            return Ok(skipped(
                "stream no longer exists; its alarms can be removed with `unwire`".into(),
            ))
        }
        Err(err) => return Err(err.into()),
    };
    if summary.mode == StreamMode::OnDemand {
        return Ok(skipped(
            "stream is ON_DEMAND; its scaling alarms do nothing (`unwire` removes them)".into(),
        ));
    }
    if summary.status != StreamStatus::Active {
        return Ok(skipped(format!(
            "stream is {:?}; checked again on the next run",
            summary.status
        )));
    }

    let mut fixes = Vec::new();
    let options = WireOptions {
        topic_arn: None,
        dry_run,
        stream_tags: Default::default(),
    };
    let wired = wiring::wire_stream(aws, settings, stream, &options).await?;
    let mut rewritten = Vec::new();
    for alarm in &wired.alarms {
        let kind = match (alarm.change, alarm.definition_written) {
            (Change::Unchanged, _) => continue,
            (Change::Created, _) => FixKind::AlarmCreated,
            (Change::Updated, true) => FixKind::AlarmDefinition,
            (Change::Updated, false) => FixKind::AlarmTags,
        };
        if alarm.definition_written {
            rewritten.push(alarm.name.clone());
        }
        fixes.push(Fix {
            kind,
            target: alarm.name.clone(),
            detail: format!("rewritten for {} open shards", wired.shards),
        });
    }
    if !dry_run {
        // New math, new evaluation: as after a reshard.
        for name in &rewritten {
            let reason = format!("Reconciled for {} open shards", wired.shards);
            aws.set_alarm_state(name, "INSUFFICIENT_DATA", &reason)
                .await?;
        }
    }

    let tags = aws.stream_tags(stream).await?;
    let stream_settings = settings.for_stream(stream, &tags)?;
    if let Some(function) = &stream_settings.consumer_function {
        let wanted = wired
            .shards
            .saturating_mul(stream_settings.lambdas_per_shard);
        let current = aws.function_concurrency(function).await?;
        if current != Some(wanted) {
            if !dry_run {
                aws.put_function_concurrency(function, wanted).await?;
            }
            fixes.push(Fix {
                kind: FixKind::ConsumerConcurrency,
                target: function.clone(),
                detail: format!(
                    "reserved concurrency {} -> {wanted}",
                    current.map_or("unreserved".to_string(), |c| c.to_string())
                ),
            });
        }
    }

    let pair = AlarmPair::new(stream);
    let names = [pair.name(Direction::Up), pair.name(Direction::Down)];
    let alarms = aws.describe_alarms(&names).await?;
    for name in names.iter().filter(|n| !rewritten.contains(n)) {
        let Some(alarm) = alarms.get(name) else {
            continue;
        };
        let since = alarm.state_since;
        let stuck = alarm.state == "ALARM"
            && since.is_some_and(|since| now - since > stuck_after(settings));
        if stuck {
            if !dry_run {
                let reason = "Reconcile: in ALARM with no scaling action pending; reset so it can fire again";
                aws.set_alarm_state(name, "OK", reason).await?;
            }
            fixes.push(Fix {
                kind: FixKind::StuckAlarm,
                target: name.clone(),
                detail: format!(
                    "in ALARM since {}; reset to OK",
                    since.map(|s| s.to_rfc3339()).unwrap_or_default()
                ),
            });
        }
    }

    Ok(StreamReconcile {
        stream: stream.to_string(),
        verdict: if fixes.is_empty() {
            StreamVerdict::InLine
        } else {
            StreamVerdict::Drifted
        },
        shards: Some(wired.shards),
        fixes,
        note: None,
    })
}

fn log_stream(outcome: &StreamReconcile, dry_run: bool) {
    let verdict = serde_json::to_value(outcome.verdict)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    let fixes: Vec<String> = outcome
        .fixes
        .iter()
        .map(|f| format!("{}: {}", f.target, f.detail))
        .collect();
    if outcome.verdict == StreamVerdict::Failed {
        tracing::error!(stream = %outcome.stream, verdict, dry_run, note = outcome.note.as_deref().unwrap_or(""), "stream reconciled");
    } else {
        tracing::info!(stream = %outcome.stream, verdict, dry_run, shards = outcome.shards, fixes = ?fixes, note = outcome.note.as_deref().unwrap_or(""), "stream reconciled");
    }
}
