//! Use cases: each one gathers state through the AWS layer, asks the domain for a decision
//! and executes it.

pub mod export;
pub mod reconcile;
pub mod scale;
pub mod wiring;
