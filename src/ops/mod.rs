//! Use cases: each one gathers state through the AWS layer, asks the domain for a decision
//! and executes it.

#[cfg(feature = "cli")]
pub mod doctor;
pub mod evaluate;
pub mod export;
pub mod fleet;
pub mod fleet_wiring;
mod gather;
pub mod outcome;
pub mod reconcile;
#[cfg(feature = "cli")]
pub mod report;
pub mod scale;
pub mod scheduled;
pub mod status;
pub mod stream_events;
pub mod wiring;
