//! Use cases: each one gathers state through the AWS layer, asks the domain for a decision
//! and executes it.

pub mod fleet;
pub mod fleet_wiring;
pub mod reconcile;
pub mod scale;
pub mod stream_events;
pub mod wiring;
