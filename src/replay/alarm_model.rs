//! The simulator's model of how CloudWatch holds and evaluates the alarm pair: each alarm's
//! state and window (reset as the Lambda resets it), what its rule needs of an
//! [`alarms::AlarmSpec`].

use crate::domain::alarms::{self, Comparison};
use crate::domain::event::Direction;
use crate::domain::policy::ResetState;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    Ok,
    Alarm,
    InsufficientData,
}

/// One alarm of the pair as CloudWatch holds it.
#[derive(Debug, Clone)]
pub(crate) struct AlarmEval {
    pub(crate) state: State,
    /// First period whose datapoint counts (the one after the last reset to INSUFFICIENT_DATA).
    pub(crate) window_start: usize,
}

impl AlarmEval {
    pub(crate) fn reset(&mut self, state: ResetState, next_period: usize) {
        match state {
            ResetState::Ok => self.state = State::Ok,
            ResetState::InsufficientData => {
                self.state = State::InsufficientData;
                self.window_start = next_period;
            }
        }
    }
}

/// What the alarm evaluation needs of an [`alarms::AlarmSpec`], read once per rewrite.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rule {
    pub(crate) threshold: f64,
    pub(crate) comparison: Comparison,
    pub(crate) evaluation_periods: usize,
    pub(crate) datapoints_to_alarm: usize,
    pub(crate) s1: f64,
    /// `MAX([e3,e4,e5])` with `e5 = 0` for the scale-down alarm.
    pub(crate) floor_zero: bool,
}

impl Rule {
    pub(crate) fn of(spec: &alarms::AlarmSpec, direction: Direction) -> Rule {
        Rule {
            threshold: spec.threshold,
            comparison: spec.comparison,
            evaluation_periods: spec.evaluation_periods as usize,
            datapoints_to_alarm: spec.datapoints_to_alarm as usize,
            // build_pair always writes s1; 1 only guards a hand-made spec.
            s1: f64::from(spec.shard_count().unwrap_or(1).max(1)),
            floor_zero: direction == Direction::Down,
        }
    }
}
