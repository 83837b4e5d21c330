//! Use cases: each one gathers state through the AWS layer, asks the domain for a decision
//! and executes it.

pub mod autoscaler;
#[cfg(feature = "cli")]
pub mod doctor;
pub mod export;
pub mod fleet;
pub mod fleet_wiring;
pub mod outcome;
pub mod reconcile;
#[cfg(feature = "cli")]
pub mod report;
pub mod status;
pub mod usage;
pub mod wiring;
