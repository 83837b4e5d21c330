//! Replaying ingest traces through the same alarm builder and policy as the Lambda: the
//! trace format, the simulator, the policy benchmark and the plots.

pub mod bench;
pub mod options;
pub mod oracle;
pub mod plot;
pub mod report;
pub mod simulate;
pub mod trace;
