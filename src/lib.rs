//! kinesis-autoscaler: resizes provisioned Kinesis data streams when their CloudWatch
//! scale-up / scale-down alarms fire, as a drop-in replacement for the kinesis-auto-scaling
//! Go Lambda.
//!
//! The layers, and the one direction their imports point (entry points -> ops -> domain,
//! ops -> aws):
//!
//! - [`domain`]: pure decisions and data, no I/O: events, settings, the alarm builder, the
//!   reshard history, the scaling policy, a plan as steps (and what a failed step means), metric
//!   lines
//! - [`aws`]: the one port to AWS, its SDK adapter and an in-process fake
//! - [`ops`]: the use cases (scale, reconcile, wire/unwire/status), each driving the port
//!   with domain decisions
//! - [`replay`]: traces, the simulator, the policy benchmark and plots
//! - [`cli`] and [`lambda`]: the entry points; they parse input, build clients and call ops
//!
//! Two binaries sit on this library: `kinesis-autoscaler` (the command line, feature `cli`,
//! on by default) and `kinesis-autoscaler-lambda` (the deployed function, built without
//! `cli`: no clap, plotting, CSV, progress bars or IAM client; it has the replay engine, for the
//! daily tuning).

pub mod aws;
#[cfg(feature = "cli")]
pub mod cli;
pub mod domain;
pub mod lambda;
pub mod ops;
pub mod replay;
