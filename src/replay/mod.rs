//! Replaying ingest traces through the same alarm builder and policy as the Lambda: the
//! trace format, the simulator, the policy benchmark and the plots.
//!
//! The engine (the trace, the simulator and its alarm model, options, the tuning) is built
//! into the function too, for the daily tuning (`ops::tuning`): one replay, live and in
//! `simulate --tune`. Reading and writing files, the charts, the HTML report and the
//! benchmark are the command line's (feature `cli`).

#[cfg(feature = "cli")]
pub mod bench;
#[cfg(feature = "cli")]
pub mod compare;
pub mod options;
#[cfg(feature = "cli")]
pub mod oracle;
#[cfg(feature = "cli")]
pub mod plot;
pub mod report;
#[cfg(feature = "cli")]
pub mod report_html;
pub mod simulate;
pub mod trace;
pub mod tune;
