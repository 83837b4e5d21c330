//! The AWS side: the operations the project uses, in domain types.

pub mod sdk;

pub use sdk::*;
