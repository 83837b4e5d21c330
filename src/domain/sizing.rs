//! The sized policy: how many shards a stream should have, from its own measured load.
//!
//! Upstream doubles on a scale-up alarm and halves on a scale-down alarm, whatever the load.
//! Here the target is sized: the recent peak at a target usage, within what one
//! `UpdateShardCount` may do (`[ceil(N/2), 2N]`), the stream's bounds, and the daily budget.
//! [`decide`] is evaluated on every alarm action and on every scheduled tick; it sees only
//! the datapoints it is given (the replay gives it the past, the Lambda what GetMetricData
//! returned) and is pure.
//!
//! The rules, each with its reason (constants in [`Params`]; `docs/simulate.md` has them
//! with their measured effect):
//! - **Up** when the last two periods were both above `up_trigger` (95%) of capacity: to the
//!   sustained peak of the last 15 minutes at `target_usage`, at most 2N. One period above is
//!   a burst that is over before a reshard could serve it. The metrics show admitted load, so
//!   a saturated stream shows 100%, never more: the trigger must stay below 1.
//! - **Down** when the last hour fits in at most three quarters of the shards at
//!   `target_usage`: a smaller move is not worth a call from a budget of ten a day.
//! - **Sustained load, bursts**: levels are of load sustained over two periods; capacity is
//!   kept for shorter bursts only up to `burst_cap` (3x) that level.
//! - **Recurring load**: the same window of each of the last `pattern_days` days is
//!   compared, and the *smallest* of those days' levels is taken as what will recur. A one-off
//!   spike is in one day only, so it never recurs; a daily ramp is in all of them. That level
//!   holds scale-downs for the next `hold_ahead_mins` and scales up ahead of a ramp due in
//!   `prescale_ahead_mins`. Without `pattern_days` of history there is no forecast.
//! - **Budget**: scale-downs and pre-scaling leave the last `reserve` calls of the rolling
//!   24 h to reactive scale-ups; the last call of the day goes straight to 2N, so a stream is
//!   never stranded under-provisioned by a small final step.
//! - **Bounds**: a stream outside [min, max] is moved back inside, as far as one call may go.
//! - **Lag**: never down while the slowest consumer is `SCALE_DOWN_MIN_ITER_AGE_MINS` or more
//!   behind in any period of the down window ([`consumers_behind`]): the scale-down alarm's
//!   `e5` term, applied to every shrink (a scheduled one, a sized alarm action, a stream
//!   above its maximum). Up moves never look at the lag.
//! - **Data**: missing periods are not zeros (a gap is not idleness); windows are measured
//!   back from `now`; no up move without a datapoint in the last [`FRESH_PERIODS`] periods,
//!   no down move unless [`COVERAGE`] of the hour was seen.

use crate::domain::event::Direction;
pub use crate::domain::history::Budget;
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use std::borrow::Cow;

/// The sized policy's constants. They are not settings: each is a rule of thumb with its
/// reason, chosen on two traces and checked on the others (BENCHMARKS.md says how).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Params {
    /// Usage of current capacity above which a stream is scaled up.
    pub up_trigger: f64,
    /// Consecutive datapoints above `up_trigger` that make a scale-up: a one-period burst is
    /// over before a reshard could serve it.
    pub up_sustain: usize,
    /// Minutes of peak a scale-up is sized from.
    pub up_window_mins: i64,
    /// Minutes of load a scale-down is sized from.
    pub down_window_mins: i64,
    /// The quantile of the down window's (and a recurring window's) datapoints sized for:
    /// leaving out the top few periods keeps a stream from being sized for bursts too
    /// short for any reshard to serve.
    pub down_quantile: f64,
    /// A scale-down must save at least this share of the shards: a call from a budget of
    /// ten a day is not worth less.
    pub down_min_saving: f64,
    /// Short bursts are still served without throttling up to this multiple of the window's
    /// median load: a stream whose bursts are a few times its base keeps capacity for
    /// them, one whose bursts are 10x its base is not sized for them (they cost more shards
    /// than the records they carry).
    pub burst_cap: f64,
    /// Days of the same hour compared to call a load recurring.
    pub pattern_days: i64,
    /// The quantile of each day's window taken as its level: below 1, a burst that recurs
    /// at the same minute every hour does not count as a level to provision for ahead.
    pub pattern_quantile: f64,
    /// How far ahead recurring load holds a scale-down.
    pub hold_ahead_mins: i64,
    /// How far ahead recurring load is provisioned for.
    pub prescale_ahead_mins: i64,
    /// Size from the demand behind a throttled period (admitted records plus the throttled
    /// ones, as `WriteProvisionedThroughputExceeded` reports them), not only what was
    /// admitted; the alarms still see what was admitted. A parameter, not a setting, so a
    /// tuned candidate can carry it and the function follow it.
    pub see_throttled: bool,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            up_trigger: 0.95,
            up_sustain: 2,
            up_window_mins: 15,
            down_window_mins: 60,
            down_quantile: 1.0,
            down_min_saving: 0.25,
            burst_cap: 3.0,
            pattern_days: 2,
            pattern_quantile: 1.0,
            hold_ahead_mins: 120,
            prescale_ahead_mins: 30,
            see_throttled: false,
        }
    }
}

/// History [`decide`] may read at most: the recurring-load comparison reaches back this far.
pub const HISTORY_MINS: i64 = 7 * 24 * 60;

/// The history [`decide`] reads with `params`, in minutes.
pub fn history_mins(params: &Params) -> i64 {
    (params.pattern_days * 24 * 60)
        .max(params.down_window_mins)
        .max(params.up_window_mins)
        .clamp(1, HISTORY_MINS)
}
/// An up move needs a datapoint this recent (in periods); older data may be a stalled feed.
pub const FRESH_PERIODS: usize = 3;
/// Share of a window that must have datapoints to size from it.
pub const COVERAGE: f64 = 0.75;

/// Per-period load, in shards needed at 100% usage, oldest first; `None` is a missing datapoint.
#[derive(Debug, Clone, PartialEq)]
pub struct Usage<'a> {
    pub period_secs: i64,
    /// The start of the period of `needs[0]`.
    pub start: DateTime<Utc>,
    pub needs: Cow<'a, [Option<f64>]>,
    /// Per period, the Maximum of `GetRecords.IteratorAgeMilliseconds` in minutes, aligned
    /// with `needs`; `None` or past the end: no datapoint, read as no lag (CloudWatch has the
    /// metric only while consumers read; the alarm's `FILL(m3,0)` reads it the same way).
    pub lag_mins: Cow<'a, [Option<f64>]>,
}

/// Shards a period's load needs at 100% usage (1 MiB/s or 1000 records/s per shard).
pub fn needed_shards(bytes: f64, records: f64, period_secs: f64) -> f64 {
    const MIB: f64 = 1024.0 * 1024.0;
    (bytes / (MIB * period_secs)).max(records / (1000.0 * period_secs))
}

impl Usage<'_> {
    /// From per-period Sums as GetMetricData returns them (any order, gaps allowed, each
    /// timestamp the start of its period). Points not on the grid from `start` are dropped.
    pub fn from_sums(
        period_secs: i64,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        sums: &[(DateTime<Utc>, f64, f64)],
    ) -> Usage<'static> {
        let period_secs = period_secs.max(1);
        let periods = ((end - start).num_seconds() / period_secs).max(0) as usize;
        let mut needs = vec![None; periods];
        for (at, bytes, records) in sums {
            let offset = (*at - start).num_seconds();
            if offset < 0 || offset % period_secs != 0 {
                continue;
            }
            let bytes = if bytes.is_finite() {
                bytes.max(0.0)
            } else {
                0.0
            };
            let records = if records.is_finite() {
                records.max(0.0)
            } else {
                0.0
            };
            if let Some(slot) = needs.get_mut((offset / period_secs) as usize) {
                *slot = Some(needed_shards(bytes, records, period_secs as f64));
            }
        }
        Usage {
            period_secs,
            start,
            needs: Cow::Owned(needs),
            lag_mins: Cow::Owned(Vec::new()),
        }
    }

    /// With the iterator-age Maxima (start of the period, milliseconds) GetMetricData
    /// returned, on the same grid as the load; points off the grid are dropped.
    pub fn with_iterator_ages(self, ages: &[(DateTime<Utc>, f64)]) -> Self {
        let mut lag = vec![None; self.needs.len()];
        for (at, millis) in ages {
            let offset = (*at - self.start).num_seconds();
            if offset < 0 || offset % self.period_secs != 0 || !millis.is_finite() {
                continue;
            }
            if let Some(slot) = lag.get_mut((offset / self.period_secs) as usize) {
                *slot = Some(millis.max(0.0) / 60_000.0);
            }
        }
        Usage {
            lag_mins: Cow::Owned(lag),
            ..self
        }
    }

    /// The end of the last period held.
    pub fn end(&self) -> DateTime<Utc> {
        self.start + Duration::seconds(self.period_secs * self.needs.len() as i64)
    }

    /// Index range of the periods starting in [from, to) (relative to `start`), clamped.
    fn range(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> std::ops::Range<usize> {
        let idx = |t: DateTime<Utc>| {
            let secs = (t - self.start).num_seconds();
            (secs.max(0) as usize).div_ceil(self.period_secs as usize)
        };
        let (a, b) = (
            idx(from).min(self.needs.len()),
            idx(to).min(self.needs.len()),
        );
        a..b.max(a)
    }

    /// The `q`-quantile (1.0: the largest) of the load *sustained* over `width` periods in
    /// `range`, and the share of periods in `range` that had a datapoint. The sustained load
    /// of a period is the smallest datapoint of the `width` periods ending with it: a burst
    /// shorter than `width` periods is over before a reshard could serve it, so it does not
    /// count as load to size for.
    fn level(&self, range: std::ops::Range<usize>, width: usize, q: f64) -> (Option<f64>, f64) {
        let len = range.len();
        let width = width.max(1);
        let sustained = range.filter(|i| self.needs[*i].is_some()).filter_map(|i| {
            self.needs[(i + 1).saturating_sub(width)..=i]
                .iter()
                .flatten()
                .copied()
                .reduce(f64::min)
        });
        let coverage = |seen: usize| {
            if len == 0 {
                0.0
            } else {
                seen as f64 / len as f64
            }
        };
        if q >= 1.0 {
            // The largest: no need to collect and sort (the replay asks this every period).
            let (count, max) = sustained.fold((0usize, None::<f64>), |(n, m), x| {
                (n + 1, Some(m.map_or(x, |m| m.max(x))))
            });
            return (max, coverage(count));
        }
        let mut seen: Vec<f64> = sustained.collect();
        let coverage = coverage(seen.len());
        if seen.is_empty() {
            return (None, coverage);
        }
        seen.sort_unstable_by(f64::total_cmp);
        let rank = ((q.clamp(0.0, 1.0) * seen.len() as f64).ceil() as usize).clamp(1, seen.len());
        (Some(seen[rank - 1]), coverage)
    }

    /// The load that recurred at this time of day on each of the last [`Params::pattern_days`] days
    /// in the window `[now + from, now + to)`: the smallest of the days' peaks, or `None`
    /// when a day lacks most of its datapoints there.
    #[allow(clippy::too_many_arguments)]
    pub fn recurring(
        &self,
        days: i64,
        width: usize,
        burst_cap: f64,
        q: f64,
        now: DateTime<Utc>,
        from_mins: i64,
        to_mins: i64,
    ) -> Option<f64> {
        let want = ((to_mins - from_mins) * 60 / self.period_secs).max(1) as f64;
        let mut level = f64::INFINITY;
        for day in 1..=days {
            let back = Duration::days(day);
            let range = self.range(
                now - back + Duration::minutes(from_mins),
                now - back + Duration::minutes(to_mins),
            );
            let (sustained, coverage) = self.level(range.clone(), width, q);
            if (range.len() as f64) < want * COVERAGE || coverage < COVERAGE {
                return None;
            }
            let sustained = sustained?;
            let (raw, _) = self.level(range, 1, q);
            let day = raw
                .unwrap_or(sustained)
                .min(burst_cap * sustained)
                .max(sustained);
            level = level.min(day);
        }
        level.is_finite().then_some(level)
    }
}

/// The stream's shard bounds, already capped by AWS's per-stream limit and account headroom.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    pub min: u32,
    pub max: u32,
}

/// Why [`decide`] moves.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Reason {
    /// Below the stream's minimum.
    BelowMinimum,
    /// Above the stream's maximum.
    AboveMaximum,
    /// Recent load (`peak`, shards at 100%) needs more capacity.
    Load { peak: f64 },
    /// Load that recurred on each of the last days at this hour is due soon.
    Recurring { level: f64 },
    /// The last hour's peak fits in fewer shards.
    Idle { peak: f64 },
}

/// Why [`decide`] holds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "hold", rename_all = "snake_case")]
pub enum Hold {
    /// The capacity fits the load.
    Fits,
    /// Not enough recent datapoints to size from.
    NoData,
    /// The move would spend a call the reserve keeps for scale-ups.
    Reserve,
    /// No call left in the rolling 24 hours.
    NoBudget,
    /// Load that recurred on the last days is due within the hold window.
    RecurringLoad { level: f64 },
    /// Already at the bound in the asked direction.
    AtBound,
    /// A shrink, held: the slowest consumer was `age_mins` behind in the down window, at or
    /// over `SCALE_DOWN_MIN_ITER_AGE_MINS`.
    ConsumersBehind { age_mins: f64 },
}

impl std::fmt::Display for Hold {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Hold::Fits => write!(f, "the measured load fits the current shards"),
            Hold::NoData => write!(f, "too few recent datapoints to size from"),
            Hold::Reserve => write!(f, "the move would spend a reshard kept for scale-ups"),
            Hold::NoBudget => write!(f, "no reshard left in the rolling 24 hours"),
            Hold::RecurringLoad { level } => write!(
                f,
                "{level:.1} shards of load recurred at this time on each of the last days"
            ),
            Hold::AtBound => write!(f, "already at the bound"),
            Hold::ConsumersBehind { age_mins } => write!(
                f,
                "consumers are {age_mins:.0} minutes behind (SCALE_DOWN_MIN_ITER_AGE_MINS or more): not shrunk"
            ),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "move", rename_all = "snake_case")]
pub enum Move {
    Reshard { to: u32, why: Reason },
    Hold(Hold),
}

/// What an evaluation knows.
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    pub usage: &'a Usage<'a>,
    pub shards: u32,
    pub bounds: Bounds,
    pub budget: Budget,
    /// Usage the stream is sized to (0.7: the peak runs at 70% of capacity).
    pub target_usage: f64,
    pub params: Params,
    pub now: DateTime<Utc>,
    /// Consumers this many minutes behind block every shrink (`SCALE_DOWN_MIN_ITER_AGE_MINS`);
    /// `None`: the guard is off (the variable is negative).
    pub lag_limit_mins: Option<f64>,
}

/// The lag guard, the scale-down alarm's `e5` term as one rule: the largest iterator age (in
/// minutes) of the periods starting in the last `window_mins` before `now`, when it is at or
/// over `limit_mins`. `Some` means the stream must not shrink.
pub fn consumers_behind(
    usage: &Usage,
    limit_mins: Option<f64>,
    window_mins: i64,
    now: DateTime<Utc>,
) -> Option<f64> {
    let limit = limit_mins?;
    let range = usage.range(now - Duration::minutes(window_mins), now);
    let worst = usage
        .lag_mins
        .get(range)
        .unwrap_or_default()
        .iter()
        .flatten()
        .copied()
        .reduce(f64::max)?;
    (worst >= limit).then_some(worst)
}

/// The legal targets of one `UpdateShardCount` from `n`, within the bounds where possible.
pub fn legal_range(n: u32, bounds: Bounds) -> (u32, u32) {
    let lo = n.div_ceil(2).max(bounds.min.min(n)).max(1);
    let hi = n.saturating_mul(2).min(bounds.max.max(n));
    (lo, hi)
}

fn shards_for(load: f64, usage: f64) -> u32 {
    let n = (load / usage).ceil();
    if n.is_finite() && n >= 1.0 {
        n.min(f64::from(u32::MAX)) as u32
    } else {
        1
    }
}

/// Decides one evaluation. `asked` is the direction of an alarm that fired, if any: the
/// move then goes that way or holds, never the other way.
pub fn decide(input: &Input, asked: Option<Direction>) -> Move {
    if !input.budget.allows_reactive() {
        return Move::Hold(Hold::NoBudget);
    }
    if let Some(back_in_bounds) = toward_bounds(input, asked) {
        return back_in_bounds;
    }
    let within = WithinBounds::new(input, asked);
    if asked != Some(Direction::Down) {
        if let Some(up) = within.up() {
            return up;
        }
    }
    within.down()
}

/// A stream outside its bounds is brought back, as far as one call goes (the account's
/// headroom may cap `max` below the minimum: then as far as it allows); `None` within them.
fn toward_bounds(input: &Input, asked: Option<Direction>) -> Option<Move> {
    let n = input.shards;
    let Bounds { min, max } = input.bounds;
    let toward_min = min.min(n.saturating_mul(2)).min(max.max(n));
    if n < min && toward_min > n && asked != Some(Direction::Down) {
        return Some(Move::Reshard {
            to: toward_min,
            why: Reason::BelowMinimum,
        });
    }
    if n > max && asked != Some(Direction::Up) {
        if let Some(age_mins) = lagging(input) {
            return Some(Move::Hold(Hold::ConsumersBehind { age_mins }));
        }
        return Some(Move::Reshard {
            to: max.max(n.div_ceil(2)),
            why: Reason::AboveMaximum,
        });
    }
    None
}

/// The lag guard over the down window ([`consumers_behind`]).
fn lagging(input: &Input) -> Option<f64> {
    consumers_behind(
        input.usage,
        input.lag_limit_mins,
        input.params.down_window_mins,
        input.now,
    )
}

/// What the up and the down halves of [`decide`] share, for a stream within its bounds.
struct WithinBounds<'i, 'a> {
    input: &'i Input<'a>,
    asked: Option<Direction>,
    n: u32,
    /// The legal targets of one call ([`legal_range`]).
    lo: u32,
    hi: u32,
}

impl<'i, 'a> WithinBounds<'i, 'a> {
    fn new(input: &'i Input<'a>, asked: Option<Direction>) -> Self {
        let (lo, hi) = legal_range(input.shards, input.bounds);
        WithinBounds {
            input,
            asked,
            n: input.shards,
            lo,
            hi,
        }
    }

    fn capacity(&self) -> f64 {
        f64::from(self.n)
    }

    /// The periods of the last `mins` minutes, measured back from `now`, not from the last
    /// datapoint: data that stopped arriving is missing, not recent.
    fn back(&self, mins: i64) -> std::ops::Range<usize> {
        let now = self.input.now;
        self.input.usage.range(now - Duration::minutes(mins), now)
    }

    /// The load that recurs each of the last `pattern_days` days over the next `ahead_mins`.
    fn recurring(&self, ahead_mins: i64) -> Option<f64> {
        let p = &self.input.params;
        self.input.usage.recurring(
            p.pattern_days,
            p.up_sustain,
            p.burst_cap,
            p.pattern_quantile,
            self.input.now,
            0,
            ahead_mins,
        )
    }

    fn shards_for(&self, load: f64) -> u32 {
        shards_for(load, self.input.target_usage)
    }

    /// Up: reactive, may use the reserve. `None`: nothing to do upward; look down.
    fn up(&self) -> Option<Move> {
        let (input, p, n, hi) = (self.input, &self.input.params, self.n, self.hi);
        let usage = input.usage;
        let fresh_mins = FRESH_PERIODS as i64 * usage.period_secs / 60;
        let recent: Vec<f64> = usage.needs[self.back(fresh_mins)]
            .iter()
            .flatten()
            .copied()
            .collect();
        let Some(&last) = recent.last() else {
            return Some(Move::Hold(if self.asked.is_some() {
                Hold::NoData
            } else {
                Hold::Fits
            }));
        };
        let (peak, _) = usage.level(self.back(p.up_window_mins), p.up_sustain, 1.0);
        let peak = peak.unwrap_or(last);
        let sustained = recent.len() >= p.up_sustain
            && recent[recent.len() - p.up_sustain..]
                .iter()
                .all(|x| *x > p.up_trigger * self.capacity());
        if sustained && hi > n {
            let want = peak.max(last);
            // The day's last call goes as far as it can: a small step now would leave the
            // stream under-provisioned until the budget frees up.
            let to = if input.budget.left() == 1 {
                hi
            } else {
                self.shards_for(want).clamp(n + 1, hi)
            };
            return Some(Move::Reshard {
                to,
                why: Reason::Load { peak: want },
            });
        }
        if self.asked == Some(Direction::Up) {
            return Some(Move::Hold(if hi > n { Hold::Fits } else { Hold::AtBound }));
        }
        self.prescale()
    }

    /// Ahead of a load that recurs at this time of day, when the budget allows an elective call.
    fn prescale(&self) -> Option<Move> {
        let (p, n, hi) = (&self.input.params, self.n, self.hi);
        let elective = p.pattern_days > 0 && p.prescale_ahead_mins > 0;
        if !elective || hi <= n || !self.input.budget.allows_elective() {
            return None;
        }
        let level = self.recurring(p.prescale_ahead_mins)?;
        (level > p.up_trigger * self.capacity()).then(|| Move::Reshard {
            to: self.shards_for(level).clamp(n + 1, hi),
            why: Reason::Recurring { level },
        })
    }

    /// Down: elective, keeps the reserve.
    fn down(&self) -> Move {
        let (input, p, n, lo) = (self.input, &self.input.params, self.n, self.lo);
        if lo >= n {
            return Move::Hold(if self.asked.is_some() {
                Hold::AtBound
            } else {
                Hold::Fits
            });
        }
        if let Some(age_mins) = lagging(input) {
            return Move::Hold(Hold::ConsumersBehind { age_mins });
        }
        let down_range = self.back(p.down_window_mins);
        let (peak, coverage) = input
            .usage
            .level(down_range.clone(), p.up_sustain, p.down_quantile);
        let Some(peak) = peak.filter(|_| coverage >= COVERAGE) else {
            return Move::Hold(Hold::NoData);
        };
        let (raw_peak, _) = input.usage.level(down_range, 1, 1.0);
        let burst = raw_peak.unwrap_or(0.0).min(p.burst_cap * peak);
        let mut to = self.shards_for(peak.max(burst)).clamp(lo, n);
        let saving_needed = ((self.capacity() * p.down_min_saving).ceil() as u32).max(1);
        if to + saving_needed > n {
            return Move::Hold(Hold::Fits);
        }
        if p.pattern_days > 0 {
            if let Some(level) = self.recurring(p.hold_ahead_mins) {
                let keep = self.shards_for(level).min(n);
                if keep + saving_needed > n {
                    return Move::Hold(Hold::RecurringLoad { level });
                }
                to = to.max(keep);
            }
        }
        if !input.budget.allows_elective() {
            return Move::Hold(Hold::Reserve);
        }
        Move::Reshard {
            to,
            why: Reason::Idle { peak },
        }
    }
}

#[cfg(test)]
#[path = "sizing_tests.rs"]
mod tests;
