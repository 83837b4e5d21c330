//! The Lambda entry point: clients and settings built once per container, then one
//! [`Autoscaler::handle_invocation`] per event.

use crate::aws::{AwsClients, AwsPort};
use crate::domain::settings::Settings;
use crate::domain::{event, fleet_event};
use crate::ops::autoscaler::Autoscaler;
use crate::ops::outcome::InvocationReport;
use lambda_runtime::{service_fn, Diagnostic, LambdaEvent};
use serde_json::Value;

#[derive(thiserror::Error)]
pub enum InvocationError {
    #[error("the event could not be understood: {0}")]
    Event(#[from] event::EventError),
    #[error("the stream event could not be understood: {0}")]
    StreamEvent(#[from] fleet_event::StreamEventError),
    #[error("{failed} of {total} {what} failed; the log lines above say why")]
    Failed {
        failed: usize,
        total: usize,
        /// What was handled: "alarm notifications", "streams of the scheduled run", ...
        what: &'static str,
    },
}

/// The runtime logs a failed invocation's error with `{:?}`: the sentence, not a dump.
impl std::fmt::Debug for InvocationError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

impl From<InvocationError> for Diagnostic {
    fn from(err: InvocationError) -> Diagnostic {
        let error_type = match err {
            InvocationError::Event(_) | InvocationError::StreamEvent(_) => "InvalidEvent",
            InvocationError::Failed { .. } => "ScalingFailed",
        };
        Diagnostic {
            error_type: error_type.to_string(),
            error_message: err.to_string(),
        }
    }
}

/// The invocation's deadline (milliseconds since the epoch) on tokio's clock.
fn invocation_deadline(deadline_ms: u64) -> Option<tokio::time::Instant> {
    let now_ms = u64::try_from(chrono::Utc::now().timestamp_millis()).ok()?;
    let left = std::time::Duration::from_millis(deadline_ms.checked_sub(now_ms)?);
    Some(tokio::time::Instant::now() + left)
}

/// One variable of the process's environment: the entry points read it and hand the lookup
/// to the domain, which reads no environment itself.
pub fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// The deployed function: JSON logs, settings read tolerantly (it never refuses to start
/// over a setting; what falls back is reported on every invocation), then events until the
/// runtime stops it.
/// The single-threaded runtime both binaries run on, or `None` (the reason printed) when it
/// cannot start.
pub fn runtime() -> Option<tokio::runtime::Runtime> {
    match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => Some(runtime),
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            None
        }
    }
}

pub async fn serve() -> Result<(), lambda_runtime::Error> {
    init_json_logs();
    let settings = Settings::tolerant_from_lookup(env_var);
    // Boxed: the runtime's and the SDK's futures nest deeper than rustc's default layout limit.
    Box::pin(run(settings)).await
}

/// JSON logs, one object per line, at the level `AWS_LAMBDA_LOG_LEVEL` (or `RUST_LOG`) names
/// (`error` ... `trace`; anything else: `info`). A plain level, not `RUST_LOG`'s per-crate
/// directives: their filter brings a regex engine the function need not carry.
pub fn init_json_logs() {
    let level = env_var("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|| env_var("RUST_LOG"))
        .and_then(|level| level.trim().parse().ok())
        .unwrap_or(tracing::level_filters::LevelFilter::INFO);
    tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_target(false)
        .with_max_level(level)
        .init();
}

pub async fn run(settings: Settings) -> Result<(), lambda_runtime::Error> {
    // Paced at the full default quotas for scale events; the scheduled reconcile takes half.
    let clients = AwsClients::load(&settings.throttle_retry).await;
    let function_name =
        env_var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|| "kinesis-autoscaler".into());
    let autoscaler = Autoscaler::paced(clients, settings, function_name);
    let autoscaler = &autoscaler;
    // Opt-in auto-wire: streams created within the managed prefix get alarms to this topic.
    let auto_wire =
        env_var(crate::domain::settings::AUTO_WIRE_TOPIC_ARN).filter(|t| !t.trim().is_empty());
    let auto_wire = auto_wire.as_deref();
    tracing::info!(dry_run = autoscaler.settings.dry_run, "ready");
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        handle_event(autoscaler, auto_wire, event)
    }))
    .await
}

/// One event, as the runtime hands it over: a CloudTrail Kinesis event (the drift rule)
/// reconciles its one stream, anything else is an invocation (alarms, the schedule). A
/// failure is returned as the invocation's error; a panic is the runtime's to report (the
/// release profile unwinds, so `lambda_runtime` reports it as an invocation error and the
/// process serves the next event).
pub async fn handle_event<P: AwsPort>(
    autoscaler: &Autoscaler<P>,
    auto_wire: Option<&str>,
    event: LambdaEvent<Value>,
) -> Result<InvocationReport, InvocationError> {
    autoscaler
        .limits
        .set_deadline(invocation_deadline(event.context.deadline));
    if let Some(stream_event) = fleet_event::parse(&event.payload)? {
        // With AlarmTrigger=alarm-action, the alarms' action is this very function.
        let auto_wire = match auto_wire {
            Some("function") => Some(event.context.invoked_function_arn.as_str()),
            other => other,
        };
        let report = autoscaler
            .handle_stream_event(&stream_event, auto_wire)
            .await;
        for line in &report.metric_lines {
            println!("{line}");
        }
        if !report.succeeded() {
            return Err(InvocationError::Failed {
                failed: 1,
                total: 1,
                what: "stream events (a CloudTrail record of a stream change)",
            });
        }
        return Ok(report);
    }
    let invocation = event::parse_invocation(&event.payload)?;
    let what = match invocation {
        event::Invocation::Scheduled => "streams evaluated by the scheduled run",
        event::Invocation::Alarms(_) => "alarm notifications",
    };
    let report: InvocationReport = autoscaler.handle_invocation(invocation).await;
    for line in &report.metric_lines {
        println!("{line}");
    }
    let failed = report.alarms.iter().filter(|a| !a.is_success()).count();
    if failed > 0 {
        return Err(InvocationError::Failed {
            failed,
            total: report.alarms.len(),
            what,
        });
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_invocation_is_logged_as_a_sentence_saying_what_failed() {
        let err = InvocationError::Failed {
            failed: 1,
            total: 3,
            what: "streams evaluated by the scheduled run",
        };
        let logged = format!("{err:?}");
        assert_eq!(logged, err.to_string());
        assert!(
            !logged.contains('{') && !logged.contains("alarm"),
            "{logged}"
        );
        assert!(logged.starts_with("1 of 3 streams evaluated by the scheduled run failed"));
        let diagnostic = Diagnostic::from(err);
        assert_eq!(diagnostic.error_type, "ScalingFailed");
    }
}
