//! The single-stream reconcile that CloudTrail events trigger (see
//! [`crate::domain::fleet_event`]): a reshard by hand is healed as soon as the stream is
//! ACTIVE again, instead of at the next scheduled sweep. With auto-wire (a topic given), a
//! stream created within the managed prefix is wired, and a deleted one's alarms removed.
//! Nothing is ever resharded here.

use super::Autoscaler;
use crate::aws::AwsPort;
use crate::domain::event::{AlarmPair, Direction};
use crate::domain::fleet_event::{StreamCall, StreamEvent};
use crate::domain::metrics;
use crate::domain::policy::{StreamMode, StreamStatus};
use crate::ops::outcome::InvocationReport;
use crate::ops::reconcile::{
    self, ignored, ConcurrencyCache, Fix, FixKind, ReconcileReport, StreamReconcile, StreamVerdict,
    GONE,
};
use crate::ops::wiring::{self, Change, Removal, WireOptions, WiringError};
use std::time::Duration;
use tokio::time::Instant;

/// How often a changing stream is looked at again.
const POLL: Duration = Duration::from_secs(5);
/// How long the event waits for a stream to settle (the invocation's deadline comes first).
const WAIT_AT_MOST: Duration = Duration::from_secs(600);

/// Where the stream ended up after waiting.
enum Settled {
    Active(StreamMode),
    Gone,
    StillChanging(StreamStatus),
}

/// Waits until the stream is ACTIVE or gone, or until the deadline.
async fn settle(
    aws: &impl AwsPort,
    stream: &str,
    deadline: Option<Instant>,
) -> Result<Settled, WiringError> {
    let limit = Instant::now() + WAIT_AT_MOST;
    let until = deadline
        .map_or(limit, |d| d.min(limit))
        .checked_sub(POLL * 2)
        .unwrap_or_else(Instant::now);
    loop {
        match aws.stream_summary(stream).await {
            Err(err) if err.is("ResourceNotFoundException") => return Ok(Settled::Gone),
            Err(err) => return Err(err.into()),
            Ok(summary) if summary.status == StreamStatus::Active => {
                return Ok(Settled::Active(summary.mode))
            }
            Ok(summary) if Instant::now() + POLL > until => {
                return Ok(Settled::StillChanging(summary.status))
            }
            Ok(_) => tokio::time::sleep(POLL).await,
        }
    }
}

impl<P: AwsPort> Autoscaler<P> {
    /// Reconciles (or wires, or unwires) the stream the event names.
    async fn on_stream_event(
        &self,
        event: &StreamEvent,
        auto_wire_topic: Option<&str>,
    ) -> Result<StreamReconcile, WiringError> {
        let (aws, settings) = (&self.aws, &self.settings);
        let dry_run = settings.dry_run;
        let stream = event.stream.as_str();
        if !settings.manages(stream) {
            return Ok(ignored(
                stream,
                format!(
                    "outside MANAGED_STREAM_PREFIX {:?}",
                    settings.managed_stream_prefix
                ),
            ));
        }
        let pair = AlarmPair::new(stream);
        let names = vec![pair.name(Direction::Up), pair.name(Direction::Down)];
        let settled = settle(aws, stream, self.limits.deadline()).await?;
        let wired = aws.describe_alarms(&names).await?.contains_key(&names[0]);
        let mode = match settled {
            Settled::StillChanging(status) => {
                return Ok(ignored(
                    stream,
                    format!(
                    "still {status:?} at the end of the wait; the scheduled reconcile checks it again"
                ),
                ))
            }
            Settled::Gone => {
                if event.call != StreamCall::DeleteStream || !wired || auto_wire_topic.is_none() {
                    return Ok(ignored(stream, GONE.into()));
                }
                if dry_run {
                    return Ok(ignored(stream, format!("{GONE} (dry run)")));
                }
                let report = wiring::unwire_stream(aws, stream, false, false).await?;
                let fixes = report
                    .alarms
                    .iter()
                    .filter(|(_, r)| **r == Removal::Deleted)
                    .map(|(name, _)| Fix {
                        kind: FixKind::AlarmDeleted,
                        target: name.clone(),
                        detail: "the stream was deleted".into(),
                    })
                    .collect();
                return Ok(reconcile::verdict(stream, 0, fixes));
            }
            Settled::Active(mode) => mode,
        };
        if mode == StreamMode::OnDemand {
            return Ok(ignored(stream, reconcile::ON_DEMAND.into()));
        }
        if wired {
            let concurrency = ConcurrencyCache::default();
            let now = aws.now();
            return reconcile::reconcile_named(aws, settings, stream, dry_run, now, &concurrency)
                .await;
        }
        let Some(topic) = auto_wire_topic else {
            return Ok(ignored(
                stream,
                "not wired (auto-wire is off: set AutoWireNewStreams)".into(),
            ));
        };
        let options = WireOptions {
            topic_arn: Some(topic.to_string()),
            dry_run,
            stream_tags: Default::default(),
        };
        let report = wiring::wire_stream(aws, settings, stream, &options).await?;
        let fixes = report
            .alarms
            .iter()
            .filter(|a| a.change != Change::Unchanged)
            .map(|a| Fix {
                kind: FixKind::AlarmCreated,
                target: a.name.clone(),
                detail: format!("auto-wired at {} open shards", report.shards),
            })
            .collect();
        Ok(reconcile::verdict(stream, report.shards, fixes))
    }

    /// The Lambda's handling of a stream event: a one-stream reconcile report, `DRIFT_FIXED`
    /// counted.
    pub async fn handle_stream_event(
        &self,
        event: &StreamEvent,
        auto_wire_topic: Option<&str>,
    ) -> InvocationReport {
        let dry_run = self.settings.dry_run;
        let outcome = self
            .on_stream_event(event, auto_wire_topic)
            .await
            .unwrap_or_else(|err| reconcile::failed(&event.stream, &err));
        tracing::info!(event = %event.id, call = ?event.call, "stream event");
        reconcile::log_stream(&outcome, dry_run);
        let mut report = ReconcileReport::new(dry_run);
        let mut metric_lines = vec![self.metric(metrics::DRIFT_FIXED_METRIC, outcome.fixes.len())];
        if outcome.verdict == StreamVerdict::Failed {
            metric_lines.push(self.metric(metrics::FATAL_ERROR_METRIC, 1));
        }
        report.streams.push(outcome);
        InvocationReport {
            dry_run,
            alarms: Vec::new(),
            reconcile: Some(report),
            degraded: Vec::new(),
            settings_fallbacks: Vec::new(),
            tuning: None,
            metric_lines,
        }
    }
}
