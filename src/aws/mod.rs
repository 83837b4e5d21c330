//! The AWS side: the operations the project uses, in domain types.

pub mod sdk;
pub mod setup;

pub use sdk::*;
pub use setup::{AwsOptions, SetupError};
