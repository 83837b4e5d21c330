//! The autoscaler: its port, settings and name, and the use cases it carries out, one file
//! each: an alarm action (`alarm.rs`, with its reads in `gather.rs`), the execution of a
//! reshard that an alarm action and the scheduled evaluation share (`execute.rs`), one
//! stream's evaluation (`evaluate.rs`), the scheduled run (`scheduled.rs`) and its daily
//! tuning (`tuning.rs`), and a CloudTrail event about a stream (`stream_event.rs`).

mod alarm;
mod evaluate;
mod execute;
mod gather;
mod scheduled;
mod stream_event;
mod tuning;

pub use evaluate::{observe, StreamEvaluation};
pub use scheduled::{FleetEvaluation, RUN_BUDGET};
pub use tuning::{due_now, STREAMS_PER_REQUEST, TICKS_PER_DAY, TUNING_SLICE};

use crate::aws::paced::{Paced, RunLimits};
use crate::aws::{AwsClients, AwsPort};
use crate::domain::metrics;
use crate::domain::settings::Settings;

/// Everything a handled alarm needs: clients, settings, the name metrics carry, and the run's
/// limits.
pub struct Autoscaler<P = AwsClients> {
    pub aws: P,
    pub settings: Settings,
    pub function_name: String,
    /// The invocation's deadline (set by the entry point) and the share of each quota its
    /// calls may use (lowered by the scheduled run): the pacer's when built by
    /// [`Autoscaler::paced`].
    pub limits: RunLimits,
}

impl<P> Autoscaler<P> {
    /// `function_name`: the name the metrics carry (the Lambda's own, or the CLI's). Its
    /// limits start with no deadline and the full quotas, and no pacer reads them: to pace
    /// `aws`, build with [`Autoscaler::paced`].
    pub fn new(aws: P, settings: Settings, function_name: impl Into<String>) -> Self {
        Autoscaler {
            aws,
            settings,
            function_name: function_name.into(),
            limits: RunLimits::default(),
        }
    }
}

impl<P: AwsPort> Autoscaler<Paced<P>> {
    /// As the entry points build it: `inner` paced at the full quotas, the run's limits the
    /// pacer's (so the deadline set on them bounds its retries and the scheduled run's share
    /// paces its reads).
    pub fn paced(inner: P, settings: Settings, function_name: impl Into<String>) -> Self {
        let aws = Paced::new(inner, 1.0);
        let limits = aws.limits().clone();
        Autoscaler {
            limits,
            ..Autoscaler::new(aws, settings, function_name)
        }
    }
}

impl<P: AwsPort> Autoscaler<P> {
    /// One EMF line of a function-level metric (`DRIFT_FIXED`, the error metric).
    fn metric(&self, name: &str, value: usize) -> String {
        metrics::emf_line(
            &self.settings.metric_namespace,
            &self.function_name,
            name,
            value as f64,
            self.aws.now(),
        )
    }
}
