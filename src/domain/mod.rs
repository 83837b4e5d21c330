//! The domain: what the autoscaler knows and decides, as pure functions and plain data.
//! Nothing here performs I/O or knows the AWS SDK; everything here is testable with values.

pub mod alarms;
pub mod confirm;
pub mod degraded;
pub mod event;
pub mod execution;
pub mod fallback;
pub mod fleet_event;
pub mod history;
pub mod metrics;
pub mod permissions;
pub mod policy;
pub mod schedule;
pub mod settings;
pub mod sizing;
