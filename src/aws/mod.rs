//! The AWS side: the port (the operations the project uses, in domain types), the SDK
//! adapter, and an in-process fake for tests.

pub mod fake;
pub mod paced;
pub mod port;
pub mod sdk;
pub mod setup;

pub use port::*;
pub use sdk::{https_client, AwsClients, DEFAULT_ATTEMPT_TIMEOUT};
pub use setup::{AwsOptions, SetupError};
