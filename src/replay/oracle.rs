//! The clairvoyant bound under AWS's rules: the cheapest shard schedule for a trace by a
//! policy that knows the whole trace in advance but may only reshard as AWS allows (one
//! `UpdateShardCount` at a time to `[ceil(N/2), 2N]`, at most [`CALLS_PER_DAY`] a day).
//! Nothing a real policy does can beat it; the gap between it and a policy is what any
//! policy could still close.
//!
//! A dynamic program over (period, shard count, calls used today), solved backwards. Each
//! period costs its shard count plus [`THROTTLE_WEIGHT`] times the load above capacity (in
//! shards), so the bound throttles only where serving the load would cost more than
//! `THROTTLE_WEIGHT` shard-periods per shard-period of load lost (a spike beyond what ten
//! doublings a day can reach, or too brief to be worth it). Two relaxations make it a bound
//! rather than a policy: the budget is counted per UTC day instead of per rolling 24 h, and
//! a reshard takes effect at once (no UPDATING period). Memory stays small by keeping the
//! value table only at day boundaries and recomputing one day at a time on the way forward.

use crate::domain::settings::{AWS_DAILY_RESHARD_LIMIT, STREAM_SHARD_CAP};

/// Calls per UTC day.
pub const CALLS_PER_DAY: usize = AWS_DAILY_RESHARD_LIMIT as usize;
/// Shard-periods one shard-period of throttled load costs.
pub const THROTTLE_WEIGHT: f64 = 20.0;
/// Above this many (period x shard count x budget) cells the bound is not computed.
pub const MAX_CELLS: u64 = 2_000_000_000;

/// One period of the trace as the bound sees it.
#[derive(Debug, Clone, Copy)]
pub struct Period {
    /// Shards the period's load needs at 100%; 0 for a missing row.
    pub need: f64,
    /// Whether the trace has a row for it (only rows are billed and counted).
    pub present: bool,
    /// Index of its UTC day.
    pub day: i64,
}

/// The bound's schedule: the shard count serving each period, and its reshards.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    pub shards: Vec<u32>,
    pub reshards: u64,
}

#[derive(Debug, thiserror::Error)]
#[error("the clairvoyant bound would need {cells} cells (limit {MAX_CELLS}): trace too long or load too high")]
pub struct TooLarge {
    pub cells: u64,
}

fn cost(p: &Period, n: usize) -> f64 {
    if !p.present {
        return 0.0;
    }
    n as f64 + THROTTLE_WEIGHT * (p.need - n as f64).max(0.0)
}

/// The values at the start of `periods` given `next` (the values at their end), and, if
/// asked, the best target per (period, calls used, shard count) for the way forward.
/// `next` is indexed `[k * (top + 1) + n]`; `day_ends` says whether the period after the
/// last one starts a new day (then its budget starts at 0).
fn backward(
    periods: &[Period],
    next: &[f64],
    top: usize,
    new_day_after: bool,
    keep: bool,
) -> (Vec<f64>, Vec<u16>) {
    let width = top + 1;
    let ks = CALLS_PER_DAY + 1;
    let mut v_next = next.to_vec();
    if new_day_after {
        // The next day's budget is fresh whatever was spent today.
        for k in 1..ks {
            for n in 1..=top {
                v_next[k * width + n] = next[n];
            }
        }
    }
    let mut choices = if keep {
        vec![0u16; periods.len() * ks * width]
    } else {
        Vec::new()
    };
    let mut v = vec![f64::INFINITY; ks * width];
    let mut w = vec![f64::INFINITY; ks * width];
    for (t, p) in periods.iter().enumerate().rev() {
        // w[k][m]: serve period t with m shards, having used k calls today.
        for k in 0..ks {
            for m in 1..=top {
                w[k * width + m] = cost(p, m) + v_next[k * width + m];
            }
        }
        for k in 0..ks {
            // Stay, or (with a call left) move to any m in [ceil(n/2), 2n]: a sliding
            // window minimum over w[k+1], both ends moving up with n.
            let mut deque: std::collections::VecDeque<usize> = std::collections::VecDeque::new();
            let mut pushed = 0usize;
            for n in 1..=top {
                let stay = w[k * width + n];
                let mut best = (stay, n);
                if k + 1 < ks {
                    let row = &w[(k + 1) * width..(k + 2) * width];
                    let hi = (2 * n).min(top);
                    while pushed < hi {
                        pushed += 1;
                        while deque.back().is_some_and(|&b| row[b] >= row[pushed]) {
                            deque.pop_back();
                        }
                        deque.push_back(pushed);
                    }
                    let lo = n.div_ceil(2);
                    while deque.front().is_some_and(|&f| f < lo) {
                        deque.pop_front();
                    }
                    if let Some(&m) = deque.front() {
                        if m != n && row[m] < best.0 {
                            best = (row[m], m);
                        }
                    }
                }
                v[k * width + n] = best.0;
                if keep {
                    choices[(t * ks + k) * width + n] = best.1 as u16;
                }
            }
        }
        std::mem::swap(&mut v, &mut v_next);
    }
    (v_next, choices)
}

/// The clairvoyant schedule for `periods`, starting at `initial` shards.
pub fn clairvoyant(periods: &[Period], initial: u32) -> Result<Schedule, TooLarge> {
    let peak = periods.iter().map(|p| p.need).fold(0.0, f64::max);
    let top = (peak.ceil().max(1.0) as usize)
        .max(initial as usize)
        .min(STREAM_SHARD_CAP as usize);
    let cells = periods.len() as u64 * (CALLS_PER_DAY as u64 + 1) * top as u64;
    if cells > MAX_CELLS {
        return Err(TooLarge { cells });
    }
    let width = top + 1;
    let ks = CALLS_PER_DAY + 1;
    // Day boundaries: [start, end) of each day's periods.
    let mut days: Vec<(usize, usize)> = Vec::new();
    for (i, p) in periods.iter().enumerate() {
        match days.last_mut() {
            Some((_, end)) if periods[*end - 1].day == p.day => *end = i + 1,
            _ => days.push((i, i + 1)),
        }
    }
    // Backward over days, keeping the values at each day's start.
    let mut at_start: Vec<Vec<f64>> = vec![Vec::new(); days.len() + 1];
    at_start[days.len()] = vec![0.0; ks * width];
    for (d, &(a, b)) in days.iter().enumerate().rev() {
        let (v, _) = backward(&periods[a..b], &at_start[d + 1], top, true, false);
        at_start[d] = v;
    }
    // Forward, one day at a time.
    let mut n = (initial as usize).clamp(1, top);
    let mut shards = Vec::with_capacity(periods.len());
    let mut reshards = 0;
    for (d, &(a, b)) in days.iter().enumerate() {
        let (_, choices) = backward(&periods[a..b], &at_start[d + 1], top, true, true);
        let mut k = 0;
        for t in 0..(b - a) {
            let m = choices[(t * ks + k) * width + n] as usize;
            if m != n && m != 0 {
                n = m;
                k += 1;
                reshards += 1;
            }
            shards.push(n as u32);
        }
    }
    Ok(Schedule { shards, reshards })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn periods(needs: &[f64]) -> Vec<Period> {
        needs
            .iter()
            .enumerate()
            .map(|(i, &need)| Period {
                need,
                present: true,
                day: i as i64 / 288,
            })
            .collect()
    }

    #[test]
    fn follows_a_step_within_the_rules() {
        let mut needs = vec![1.0; 50];
        needs.extend([7.5; 50]);
        needs.extend([1.0; 50]);
        let s = clairvoyant(&periods(&needs), 1).unwrap();
        // 1 -> 2 -> 4 -> 8 before the step (no throttling), and back down after it.
        assert!(
            s.shards[50..100].iter().all(|&n| n >= 8),
            "{:?}",
            &s.shards[40..60]
        );
        for w in s.shards.windows(2) {
            assert!(w[1] <= 2 * w[0] && w[1] >= w[0].div_ceil(2), "{w:?}");
        }
        assert!(s.shards[149] <= 2);
    }

    fn total_cost(periods: &[Period], shards: &[u32]) -> f64 {
        periods
            .iter()
            .zip(shards)
            .map(|(p, n)| cost(p, *n as usize))
            .sum()
    }

    #[test]
    fn spends_exactly_the_ten_calls_a_day_that_pay() {
        // One day: 10 periods needing 2 shards, 10 needing 1, repeated (14 low blocks,
        // ending on a high one), from 2 shards. Each low block served at 1 shard saves 10
        // shard-periods for two calls (down, then up in time for the next high block);
        // throttling a high block at 1 shard costs 20 per period, never worth it. So the
        // bound takes 5 of the 14 low blocks: exactly 10 calls, 2*288 - 5*10 = 526
        // shard-periods, nothing throttled. A bound that never reshards (576) or ignores
        // the budget (28 calls, 436) fails.
        let needs: Vec<f64> = (0..288)
            .map(|i| if (i / 10) % 2 == 0 { 2.0 } else { 1.0 })
            .collect();
        let p = periods(&needs);
        let s = clairvoyant(&p, 2).unwrap();
        assert_eq!(s.reshards, 10);
        assert_eq!(s.shards.iter().map(|&n| u64::from(n)).sum::<u64>(), 526);
        assert_eq!(total_cost(&p, &s.shards), 526.0);
    }

    #[test]
    fn no_schedule_under_the_rules_is_cheaper_than_the_bound() {
        // Every legal schedule of 7 periods over 1 to 4 shards (one call at most before each
        // period, within [ceil(n/2), 2n]; 7 calls fit the day), by brute force.
        let needs = [1.0, 3.5, 0.2, 2.6, 4.0, 0.5, 1.7];
        let p = periods(&needs);
        for initial in 1..=4u32 {
            let bound = clairvoyant(&p, initial).unwrap();
            let mut best = f64::INFINITY;
            let mut stack = vec![(initial, 0usize, 0.0f64)];
            while let Some((n, t, spent)) = stack.pop() {
                if t == p.len() {
                    best = best.min(spent);
                    continue;
                }
                for m in n.div_ceil(2)..=(2 * n).min(4) {
                    stack.push((m, t + 1, spent + cost(&p[t], m as usize)));
                }
            }
            assert_eq!(total_cost(&p, &bound.shards), best, "from {initial}");
        }
    }

    #[test]
    fn a_spike_beyond_reach_is_partly_throttled_within_the_budget() {
        let mut needs = vec![2.0; 100];
        needs[50] = 5000.0;
        let s = clairvoyant(&periods(&needs), 2).unwrap();
        // Ten doublings from 2 reach 2048 at most; the bound pre-scales part of the way and
        // never spends an eleventh call.
        assert!(s.shards[50] > 2 && s.shards[50] < 5000, "{:?}", s.shards);
        assert!(s.reshards <= 10);
        for w in s.shards.windows(2) {
            assert!(w[1] <= 2 * w[0] && w[1] >= w[0].div_ceil(2), "{w:?}");
        }
    }
}
