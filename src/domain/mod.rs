//! The domain: what the autoscaler knows and decides, as pure functions and plain data.
//! Nothing here performs I/O or knows the AWS SDK; everything here is testable with values.
//!
//! # Not acting: three words, one meaning each
//!
//! - **Ignore**: the input is not ours to act on, before any rule is weighed: a notification
//!   that is not a scaling alarm, not in ALARM or for an unmanaged stream
//!   ([`policy::Ignored`], `Outcome::Ignored`); a stream the reconcile finds deleted,
//!   ON_DEMAND or resharding (`StreamVerdict::Ignored`).
//! - **Refuse**: an alarm asked for a reshard and a rule said no: a bound, the daily budget,
//!   a stale or unconfirmed event, ON_DEMAND ([`policy::Refusal`], `Outcome::Refused`, the
//!   `SCALING_REFUSED` metric). The alarm is reset where that lets it fire again.
//! - **Hold**: our own evaluation (the sizing, the schedule) found no move worth a call:
//!   [`sizing::Hold`], [`schedule::Hold`] (which wraps the sizing's).

pub mod alarms;
pub mod confirm;
pub mod degraded;
pub mod event;
pub mod execution;
pub mod fallback;
pub mod fleet_event;
pub mod history;
pub mod metrics;
pub mod names;
pub mod permissions;
pub mod policy;
pub mod schedule;
pub mod settings;
pub mod sizing;
pub mod tuned;
pub mod tuning;
