//! The autoscaler: its port, settings and name, and the use cases it carries out, one file
//! each: an alarm action (`alarm.rs`, with its reads in `gather.rs`), the execution of a
//! reshard that an alarm action and the scheduled evaluation share (`execute.rs`), one
//! stream's evaluation (`evaluate.rs`) and the scheduled run (`scheduled.rs`).

mod alarm;
mod evaluate;
mod execute;
mod gather;
mod scheduled;
pub mod stream_event;

pub use evaluate::{observe, StreamEvaluation};
pub use scheduled::{FleetEvaluation, RUN_BUDGET};

use crate::aws::AwsClients;
use crate::domain::settings::Settings;

/// Everything a handled alarm needs: clients, settings, and the name metrics carry.
pub struct Autoscaler<P = AwsClients> {
    pub aws: P,
    pub settings: Settings,
    pub function_name: String,
}

impl<P> Autoscaler<P> {
    /// `function_name`: the name the metrics carry (the Lambda's own, or the CLI's).
    pub fn new(aws: P, settings: Settings, function_name: impl Into<String>) -> Self {
        Autoscaler {
            aws,
            settings,
            function_name: function_name.into(),
        }
    }
}
