//! kinesis-autoscaler: resizes provisioned Kinesis data streams when their CloudWatch
//! scale-up / scale-down alarms fire, as a drop-in replacement for the kinesis-auto-scaling
//! Go Lambda.
//!
//! - [`event`]: what arrives (SNS alarm notifications, scheduled events)
//! - [`settings`]: environment variables and per-stream tags, parsed once
//! - [`policy`]: the decisions, pure functions
//! - [`alarms`]: the one builder of the alarm definitions
//! - [`history`]: the reshard history that enforces the daily limit
//! - [`aws`]: the thin AWS layer
//! - [`reconcile`]: self-healing of alarms and consumer concurrency
//! - [`handler`]: one invocation, from event to executed plan
//! - [`lambda`]: the Lambda entry point

pub mod alarms;
pub mod aws;
pub mod event;
pub mod handler;
pub mod history;
pub mod lambda;
pub mod metrics;
pub mod plot;
pub mod policy;
pub mod reconcile;
pub mod settings;
pub mod simulate;
pub mod trace;
pub mod wiring;
