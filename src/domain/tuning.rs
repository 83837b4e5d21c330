//! Tuning a stream's policy to a throttling budget: the budget (`THROTTLE_BUDGET`), the
//! candidate parameter sets, and the pure choice among candidates already replayed on the
//! stream's own history (the replay is `replay::tune`'s; this only compares figures).
//!
//! The choice, with its reasons:
//! - **Budget met**: the cheapest candidate whose throttling on the history is within the
//!   budget at no more than [`MAX_COST_VS_UPSTREAM`] of upstream's cost; candidates within [`TIE_SHARE`] of each other's cost are a tie, and the one with
//!   fewer reshards wins (a reshard is a call from ten a day and a moment of UPDATING).
//! - **Budget not met by any**: the stream's bursts are too short for any reshard to catch;
//!   more reshards buy nothing, so the candidate costing no more than upstream's that
//!   throttles least is kept, and [`Advice`] says what would meet the budget (a floor or
//!   on-demand mode), with its cost from the same replay.

use crate::domain::sizing::Params;
use serde::Serialize;
use std::collections::BTreeMap;

/// The fraction of records a stream may have throttled (`THROTTLE_BUDGET`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ThrottleBudget {
    /// No more throttled records than upstream's doubling/halving on the same history.
    #[default]
    Upstream,
    /// At most this fraction of records (0 to 1).
    Fraction(f64),
}

impl std::str::FromStr for ThrottleBudget {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("upstream") {
            return Ok(ThrottleBudget::Upstream);
        }
        match s.parse::<f64>() {
            Ok(f) if f.is_finite() && (0.0..1.0).contains(&f) => Ok(ThrottleBudget::Fraction(f)),
            _ => Err(()),
        }
    }
}

impl std::fmt::Display for ThrottleBudget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ThrottleBudget::Upstream => write!(f, "upstream"),
            ThrottleBudget::Fraction(x) => write!(f, "{x}"),
        }
    }
}

/// What `THROTTLE_BUDGET` accepts, for error messages.
pub const BUDGET_EXPECTED: &str =
    "upstream (no more throttling than doubling/halving) or a fraction of records from 0 to below 1 (0.001 = 0.1%)";

/// With the `upstream` budget, throttling up to this share of records is within budget
/// even where upstream throttled less: a stream at 0.05% against 0% is not worth a
/// shard-hour more (the target allows 0.1%). At 0.05% and 0.08% the 14-day asg-cpu
/// paid 1.02x upstream's shard-hours for the same 0.045% throttled it has at 0.92x here
/// (BENCHMARKS.md, *Throttling budget*).
pub const UPSTREAM_FLOOR: f64 = 0.001;

/// A candidate meets a budget only at most at this multiple of upstream's cost on the same
/// history: beyond it, paying for a floor or on-demand mode is the user's call ([`Advice`]).
pub const MAX_COST_VS_UPSTREAM: f64 = 1.5;

/// Under the `upstream` budget, the share of upstream's throttling on the history a set may
/// have there to be chosen. The cheapest of 11 sets that passes a noisy history passes it
/// partly by luck, and runs the next days more throttled than it did there. On 20 draws of
/// bursty-daily (`scripts/bench-draws.sh`) the tuned replays throttled 1.801% on
/// average against upstream's 1.750% at the full share, 1.727% at this one (56-day draws:
/// 1.680% and 1.576%, against 1.729%); 0.8 cost elb-requests 0.82x of upstream's shard-hours
/// (0.77x here). The 0.1% floor is left whole, so streams that upstream barely throttles keep
/// their choices (BENCHMARKS.md, *Throttling budget*). A stated budget is the user's rate,
/// used whole.
pub const UPSTREAM_SHARE: f64 = 0.85;

/// The candidate in force stays while it meets the budget and costs at most this share more
/// than the cheapest that does: a switch of policy leaves the stream in a state sized by the
/// other, and pays for that.
pub const KEEP_SHARE: f64 = 0.03;

/// Candidates whose costs differ by less than this share of the larger are a tie.
pub const TIE_SHARE: f64 = 0.01;

/// How a candidate decides.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "policy", rename_all = "snake_case")]
pub enum Policy {
    /// `SCALING_POLICY=sized` with these parameters, never below `floor` shards (0: no
    /// floor of its own; the stream's minimum always holds).
    Sized {
        target_usage: f64,
        params: Params,
        #[serde(skip_serializing_if = "no_floor")]
        floor: u32,
    },
    /// `SCALING_POLICY=upstream`: doubling and halving.
    Upstream,
}

fn no_floor(floor: &u32) -> bool {
    *floor == 0
}

impl Policy {
    /// The same policy standing on `floor` shards (a sized one; upstream's has no floor).
    pub fn with_floor(self, floor: u32) -> Policy {
        match self {
            Policy::Sized {
                target_usage,
                params,
                ..
            } => Policy::Sized {
                target_usage,
                params,
                floor,
            },
            Policy::Upstream => Policy::Upstream,
        }
    }

    /// The floor the policy stands on (0: none of its own).
    pub fn floor(&self) -> u32 {
        match self {
            Policy::Sized { floor, .. } => *floor,
            Policy::Upstream => 0,
        }
    }
}

/// One candidate parameter set, named for status lines, tags and tables.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Candidate {
    pub name: &'static str,
    #[serde(flatten)]
    pub policy: Policy,
}

/// The candidates replayed on each stream's history: the default first, upstream's last.
/// Each moves the sized policy along one axis a stream may need: cheaper (higher target
/// usage, smaller burst allowance, shorter holds) or safer (lower target usage, earlier
/// trigger, longer holds and pre-scaling, more burst allowance).
pub fn candidates() -> Vec<Candidate> {
    let d = Params::default();
    let sized = |name, target_usage, params| Candidate {
        name,
        policy: Policy::Sized {
            target_usage,
            params,
            floor: 0,
        },
    };
    vec![
        sized("default", 0.7, d),
        sized(
            "lean",
            0.8,
            Params {
                burst_cap: 2.0,
                ..d
            },
        ),
        sized(
            "leaner",
            0.9,
            Params {
                burst_cap: 1.5,
                hold_ahead_mins: 60,
                ..d
            },
        ),
        sized(
            "steady",
            0.8,
            Params {
                down_min_saving: 0.4,
                ..d
            },
        ),
        sized(
            "careful",
            0.6,
            Params {
                up_trigger: 0.9,
                hold_ahead_mins: 240,
                prescale_ahead_mins: 60,
                ..d
            },
        ),
        sized(
            "roomy",
            0.5,
            Params {
                up_trigger: 0.85,
                burst_cap: 4.0,
                down_window_mins: 180,
                hold_ahead_mins: 360,
                prescale_ahead_mins: 60,
                ..d
            },
        ),
        sized(
            "roomier",
            0.4,
            Params {
                up_trigger: 0.8,
                up_sustain: 1,
                burst_cap: 6.0,
                down_window_mins: 360,
                hold_ahead_mins: 720,
                prescale_ahead_mins: 90,
                ..d
            },
        ),
        sized(
            "tight",
            0.75,
            Params {
                burst_cap: 2.5,
                ..d
            },
        ),
        sized(
            "early",
            0.7,
            Params {
                hold_ahead_mins: 240,
                prescale_ahead_mins: 60,
                ..d
            },
        ),
        sized(
            "lean-early",
            0.8,
            Params {
                burst_cap: 2.0,
                hold_ahead_mins: 240,
                prescale_ahead_mins: 60,
                pattern_days: 3,
                ..d
            },
        ),
        Candidate {
            name: "upstream",
            policy: Policy::Upstream,
        },
    ]
}

/// A candidate's figures on a history, from the replay.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Default)]
pub struct Measured {
    pub records: f64,
    pub throttled_records: f64,
    pub shard_hours: f64,
    pub cost_usd: f64,
    pub reshards: u64,
}

impl Measured {
    pub fn throttled_fraction(&self) -> f64 {
        if self.records > 0.0 {
            self.throttled_records / self.records
        } else {
            0.0
        }
    }
}

/// Whether `value` is at most `limit`, a figure equal to it up to rounding included (costs
/// and throttled records are sums over thousands of periods).
pub fn at_most(value: f64, limit: f64) -> bool {
    value <= limit * (1.0 + 1e-9)
}

/// The records the `upstream` budget's floor allows on a history: [`UPSTREAM_FLOOR`] of them.
fn floor_records(upstream: &Measured) -> f64 {
    UPSTREAM_FLOOR * upstream.records
}

/// The throttled records a history may have under `budget`, given upstream's on it.
pub fn allowed_throttled(budget: ThrottleBudget, upstream: &Measured) -> f64 {
    match budget {
        ThrottleBudget::Upstream => upstream.throttled_records.max(floor_records(upstream)),
        ThrottleBudget::Fraction(f) => f * upstream.records,
    }
}

/// The throttled records a set may have on the history to be chosen: [`allowed_throttled`],
/// less the margin [`UPSTREAM_SHARE`] keeps on upstream's own throttling.
pub fn allowed_on_history(budget: ThrottleBudget, upstream: &Measured) -> f64 {
    match budget {
        ThrottleBudget::Upstream => {
            (UPSTREAM_SHARE * upstream.throttled_records).max(floor_records(upstream))
        }
        ThrottleBudget::Fraction(_) => allowed_throttled(budget, upstream),
    }
}

/// Under the `upstream` budget, the budget's account on the history: what the stream left
/// unspent there (upstream's throttling less what the stream, as it ran, had), which a choice
/// may spend on top of [`allowed_on_history`]; or, where the stream throttled more than even
/// the allowance (the floor included), the overspend as a negative figure, which the next
/// choice pays back. The budget is upstream's throttling over the stream's life, not over
/// each window: a choice that passes a noisy history partly by luck (the cheapest of 11 that
/// passes) is corrected by what the stream then really throttled, from both sides.
/// Measured: elb-requests 0.76 of upstream's shard-hours at 1.884% against 1.964% (without it
/// 0.82 at 1.777%); on bursty-daily with other seeds, 2 of 4 within upstream's throttling (1
/// of 4 with the credit alone); BENCHMARKS.md, *Throttling budget*. A stated budget is a rate
/// the user chose, and has no account; nor has a stream whose own throttling is unknown
/// (`None`).
pub fn unspent(budget: ThrottleBudget, reference: &Measured, throttled_as_run: Option<f64>) -> f64 {
    match (budget, throttled_as_run) {
        (ThrottleBudget::Upstream, Some(had)) => {
            let base = allowed_throttled(budget, reference);
            let upstream_had = reference.throttled_records;
            if had < upstream_had {
                // The credit is on upstream's throttling, not on top of the floor: a stream
                // is never allowed more than the larger of the two with its credit.
                (2.0 * upstream_had - had).max(floor_records(reference)) - base
            } else if had > base {
                base - had
            } else {
                0.0
            }
        }
        _ => 0.0,
    }
}

/// The choice among measured candidates.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Choice {
    /// Index into the candidates measured.
    pub index: usize,
    /// Whether the chosen candidate met the budget on the history.
    pub met: bool,
    /// Throttled records a set could have on the history to be chosen: [`allowed_on_history`]
    /// with the account ([`unspent`]), never below 0.
    pub allowed_throttled: f64,
}

fn cheaper(a: &Measured, b: &Measured) -> bool {
    let larger = a.cost_usd.max(b.cost_usd);
    if larger > 0.0 && (a.cost_usd - b.cost_usd).abs() <= TIE_SHARE * larger {
        return a.reshards < b.reshards;
    }
    a.cost_usd < b.cost_usd
}

/// Under the `upstream` budget a candidate costs at most this multiple of upstream's on the
/// history: the default budget is "cheaper and never more throttled".
pub const UPSTREAM_COST_CAP: f64 = 1.0;

/// The most a candidate meeting `budget` may cost, as a multiple of upstream's on the same
/// history.
pub fn cost_cap(budget: ThrottleBudget) -> f64 {
    match budget {
        ThrottleBudget::Upstream => UPSTREAM_COST_CAP,
        ThrottleBudget::Fraction(_) => MAX_COST_VS_UPSTREAM,
    }
}

/// Chooses among `measured` (one per candidate, same history); `upstream` is the index of
/// upstream's candidate, the budget's reference and the fallback's cost ceiling; `incumbent`
/// the candidate in force. `None` only when `measured` is empty or `upstream` is out of range.
pub fn choose(
    budget: ThrottleBudget,
    measured: &[Measured],
    upstream: usize,
    incumbent: Option<usize>,
) -> Option<Choice> {
    choose_against(
        budget,
        measured,
        measured.get(upstream)?,
        None,
        upstream,
        incumbent,
    )
}

/// [`choose`] against a `reference`: upstream's figures on the history from the state
/// upstream would have been in, not from the stream's current state (which another policy
/// may have left where doubling/halving never leaves: judged from there, upstream's policy
/// looks safer than upstream ever was, and the budget then buys capacity it never had).
/// `throttled_as_run`: the records the stream itself throttled on the history, for
/// [`unspent`].
pub fn choose_against(
    budget: ThrottleBudget,
    measured: &[Measured],
    reference: &Measured,
    throttled_as_run: Option<f64>,
    upstream: usize,
    incumbent: Option<usize>,
) -> Option<Choice> {
    measured.get(upstream)?;
    let allowed = (allowed_on_history(budget, reference)
        + unspent(budget, reference, throttled_as_run))
    .max(0.0);
    let cap = cost_cap(budget);
    let within_at = |i: usize| {
        let m = &measured[i];
        at_most(m.throttled_records, allowed) && at_most(m.cost_usd, cap * reference.cost_usd)
    };
    let best = |keep: &dyn Fn(usize) -> bool, better: &dyn Fn(&Measured, &Measured) -> bool| {
        (0..measured.len())
            .filter(|i| keep(*i))
            .fold(None::<usize>, |best, i| match best {
                Some(b) if !better(&measured[i], &measured[b]) => Some(b),
                _ => Some(i),
            })
    };
    if let Some(mut index) = best(&within_at, &cheaper) {
        if let Some(keep) = incumbent.filter(|i| *i < measured.len() && within_at(*i)) {
            if measured[keep].cost_usd <= (1.0 + KEEP_SHARE) * measured[index].cost_usd {
                index = keep;
            }
        }
        return Some(Choice {
            index,
            met: true,
            allowed_throttled: allowed,
        });
    }
    let affordable = |i: usize| at_most(measured[i].cost_usd, reference.cost_usd);
    let less_throttled = |a: &Measured, b: &Measured| {
        a.throttled_records < b.throttled_records
            || (a.throttled_records == b.throttled_records && cheaper(a, b))
    };
    let index = best(&affordable, &less_throttled).unwrap_or(upstream);
    Some(Choice {
        index,
        met: false,
        allowed_throttled: allowed,
    })
}

/// One tuning's outcome.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Tuned {
    pub candidate: Candidate,
    pub choice: Choice,
    /// The chosen candidate's figures on the history.
    pub measured: Measured,
    /// Upstream's figures on the same history (the `upstream` budget's reference).
    pub upstream: Measured,
}

/// The walk-forward tuning of a replay, for the summary.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TuningSummary {
    pub budget: ThrottleBudget,
    /// Days that ran a tuned choice, and how many of those choices met the budget on their
    /// history.
    pub days_tuned: u32,
    pub days_met: u32,
    /// Days each candidate was in force.
    pub days_by_candidate: BTreeMap<String, u32>,
    /// The tuning on the trace's last 14 days: what the stream would run next.
    pub last: Option<Tuned>,
}

/// What would meet the budget where no candidate does, each with its cost per 30 days.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Advice {
    /// The budget the advice is for, as a fraction of records.
    pub budget_fraction: f64,
    /// `AutoscalerMinShards` = this floor (with the chosen candidate above it) meets the
    /// budget on the history; `None` when no floor up to the stream's maximum does.
    pub floor_shards: Option<u32>,
    pub floor_monthly_usd: Option<f64>,
    /// On-demand mode (never throttled by capacity, up to its own limits).
    pub on_demand_monthly_usd: f64,
    /// The chosen candidate's own cost, for comparison.
    pub chosen_monthly_usd: f64,
    /// What the advice was found on.
    #[serde(default)]
    pub basis: AdviceBasis,
}

/// What an [`Advice`] was found on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum AdviceBasis {
    /// The last 14 days, on which no candidate met the budget (the daily tuning's).
    #[default]
    History,
    /// A whole walk-forward replay that missed the budget although its last 14 days met it:
    /// a miss on days the tuning could not foresee, or had no history for (`simulate`'s).
    Replay,
}

impl std::fmt::Display for Advice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let budget = 100.0 * self.budget_fraction;
        let now = self.chosen_monthly_usd;
        let would = match self.basis {
            AdviceBasis::History => {
                write!(f, "no parameter set keeps throttling within {budget:.3}% of records on this history (now ${now:.2}/month); ")?;
                "would"
            }
            AdviceBasis::Replay => {
                write!(f, "the replay throttled more than {budget:.3}% of records, though its last 14 days met it (the miss is on days the tuning could not foresee or had no history for; now ${now:.2}/month); ")?;
                "would have"
            }
        };
        if let (Some(n), Some(usd)) = (self.floor_shards, self.floor_monthly_usd) {
            write!(
                f,
                "a floor of AutoscalerMinShards={n} {would}, at ${usd:.2}/month; "
            )?;
        }
        write!(
            f,
            "on-demand mode {would}, at ${:.2}/month",
            self.on_demand_monthly_usd
        )
    }
}

#[cfg(test)]
#[path = "tuning_tests.rs"]
mod tests;
