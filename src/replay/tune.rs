//! Tuning on a stream's own history, and the walk-forward replay of it.
//!
//! [`tune_on`] replays every candidate of [`tuning::candidates`] on a history with the
//! engine `simulate` uses and lets [`tuning::choose`] pick. [`simulate_tuned`] replays a
//! trace as a stream tuned once a day would have run: at the start of each UTC day it tunes
//! on the [`HISTORY_DAYS`] before that day only (never on the day itself or later), and the
//! first [`FIRST_TUNED_DAY`] days run the defaults. So its figures are what the stream would
//! have had, and a trace's first part replays the same whatever follows it (tested).
//!
//! The history a candidate is replayed on is the trace's demand. The live function sees the
//! admitted records plus `WriteProvisionedThroughputExceeded`'s throttled ones, the same
//! demand in this model (it has no retries).

use crate::domain::tuning::{self, Advice, AdviceBasis, Candidate, Choice, Measured, Policy};
pub use crate::domain::tuning::{Tuned, TuningSummary};
use crate::replay::simulate::{self, apply_policy, Options, Outcome, SimError, Variant};
use crate::replay::trace::Trace;
use chrono::{DateTime, Duration, Utc};
use std::collections::BTreeMap;

/// Days of history each tuning replays (CloudWatch keeps 5-minute data for 63 days).
pub const HISTORY_DAYS: i64 = 14;
/// Days of history before the first tuning: the recurring-load rules compare two days.
pub const FIRST_TUNED_DAY: i64 = 2;

fn measured(outcome: &Outcome) -> Measured {
    let s = &outcome.summary;
    Measured {
        records: s.records_total,
        throttled_records: s.records_throttled,
        shard_hours: s.shard_hours,
        cost_usd: s.provisioned_cost_usd,
        reshards: s.reshards,
    }
}

/// Options that replay `policy` on a history from `initial` shards: no tuning, no timeline;
/// a policy's floor raises the minimum (and the start) as the live stream's tag does.
fn candidate_options(base: &Options, policy: &Policy, initial: Option<u32>) -> Options {
    options_on_floor(base, policy, initial, policy.floor())
}

/// [`candidate_options`] standing on `floor` shards whatever the policy (upstream's has no
/// floor of its own, but `AutoscalerMinShards` holds under it too).
fn options_on_floor(base: &Options, policy: &Policy, initial: Option<u32>, floor: u32) -> Options {
    let mut opts = Options {
        variant: Variant::Ours,
        keep_timeline: false,
        tune: false,
        initial_shards: initial.map(|n| n.max(floor)),
        ..base.clone()
    };
    apply_policy(&mut opts.settings, policy);
    opts.settings.min_shards = opts.settings.min_shards.max(floor);
    opts.settings.max_shards = opts.settings.max_shards.max(floor);
    opts
}

/// Replays every candidate on `history` and chooses by `base.settings.throttle_budget`;
/// `throttled_as_run` is what the stream itself throttled on the history (the budget's
/// unspent part may be spent: [`tuning::unspent`]).
/// Each replay starts from `initial` shards, the count the stream has when the choice takes
/// effect (`None`: what the history's first period needs): a candidate is judged from the
/// state it would take over, so one that cannot leave that state (upstream's doubling and
/// halving, stuck above a load its scale-down alarm never sees fall) pays for it.
pub fn tune_on(
    history: &Trace,
    base: &Options,
    initial: Option<u32>,
    incumbent: Option<&str>,
    throttled_as_run: Option<f64>,
) -> Result<Tuned, SimError> {
    let all = tuning::candidates();
    let upstream = all
        .iter()
        .position(|c| c.policy == Policy::Upstream)
        .unwrap_or(all.len() - 1);
    let mut figures = Vec::with_capacity(all.len());
    for candidate in &all {
        let opts = candidate_options(base, &candidate.policy, initial);
        let outcome = simulate::simulate(history, &opts)?;
        figures.push(measured(&outcome));
    }
    // The budget's reference: the Go Lambda on the same history from the count the
    // history's first period needs (the state upstream would have been in), as
    // `bench-policy` and the targets compare with.
    let reference = measured(&simulate::simulate(
        history,
        &Options {
            variant: Variant::Upstream,
            ..candidate_options(base, &Policy::Upstream, None)
        },
    )?);
    let incumbent = incumbent.and_then(|name| all.iter().position(|c| c.name == name));
    let budget = base.settings.throttle_budget;
    let choice = tuning::choose_against(
        budget,
        &figures,
        &reference,
        throttled_as_run,
        upstream,
        incumbent,
    )
    .unwrap_or(Choice {
        index: 0,
        met: false,
        allowed_throttled: 0.0,
    });
    let tuned = Tuned {
        candidate: all[choice.index],
        choice,
        measured: figures[choice.index],
        upstream: reference,
    };
    on_a_floor(history, base, initial, tuned)
}

/// Where no candidate met the budget, the fallback set standing on a floor: bursts at random
/// times are served by standing capacity, which no reshard brings in time.
/// - The smallest floor that meets the budget on the history, when that costs no more than
///   the budget allows (the advice's floor, taken where it is affordable): met.
/// - Otherwise the largest floor at no more than upstream's cost, where it cuts the
///   throttling by at least the share it adds to the cost ([`worth`]): still unmet (the advice says what would meet it), but upstream's
///   cost is spent on what serves the bursts rather than left unspent (bursty-daily drawn
///   with seed base 3000: 1.910% against 2.129%; BENCHMARKS.md, *Throttling budget*).
///
/// Only the fallback: a floor under a cheaper set that just meets the history was tried on
/// every choice and overshot the next days (bursty-daily 2.399% against upstream's 2.158%).
fn on_a_floor(
    history: &Trace,
    base: &Options,
    initial: Option<u32>,
    tuned: Tuned,
) -> Result<Tuned, SimError> {
    let policy = tuned.candidate.policy;
    if tuned.choice.met || policy == Policy::Upstream {
        return Ok(tuned);
    }
    let floors = Floors::new(history, base, policy, initial);
    let cap = tuning::cost_cap(base.settings.throttle_budget) * tuned.upstream.cost_usd;
    let affordable = |m: &Measured| tuning::at_most(m.cost_usd, cap);
    let on = |floor: u32, measured: Measured, met: bool| Tuned {
        candidate: Candidate {
            policy: policy.with_floor(floor),
            ..tuned.candidate
        },
        choice: Choice {
            met,
            ..tuned.choice
        },
        measured,
        ..tuned
    };
    let meets = floors.smallest_within(tuned.choice.allowed_throttled)?;
    if let Some((floor, measured)) = meets.filter(|(_, m)| affordable(m)) {
        return Ok(on(floor, measured, true));
    }
    // Unmet, the fallback never costs more than upstream's, whatever the budget allows.
    match floors.largest_within_cost(tuned.upstream.cost_usd)? {
        Some((floor, measured)) if worth(&tuned.measured, &measured) => {
            Ok(on(floor, measured, false))
        }
        _ => Ok(tuned),
    }
}

/// Whether `floored` is worth its cost over `plain`: it cuts the throttled records by at
/// least the share it adds to the cost (on ec2-network-in, a floor at upstream's cost cut
/// 52.3% to 52.2% for 20% more: not worth it).
fn worth(plain: &Measured, floored: &Measured) -> bool {
    if plain.throttled_records <= 0.0 || plain.cost_usd <= 0.0 {
        return false;
    }
    let saved = (plain.throttled_records - floored.throttled_records) / plain.throttled_records;
    let added = (floored.cost_usd - plain.cost_usd) / plain.cost_usd;
    saved > 0.0 && saved >= added
}

/// Per 30 days, from a replay's figure over `periods` of `period_secs`.
fn monthly(usd: f64, periods: u64, period_secs: i64) -> f64 {
    let hours = periods as f64 * period_secs as f64 / 3600.0;
    if hours > 0.0 {
        usd * 30.0 * 24.0 / hours
    } else {
        0.0
    }
}

/// A policy replayed on a history standing on floors, from `initial` shards, searched by
/// bisection: throttling falls and cost rises as the floor rises (more shards never throttle
/// more in this model). The search runs from the stream's own minimum (below it a floor
/// changes nothing) to what the history's busiest period needs, within the maximum.
struct Floors<'a> {
    history: &'a Trace,
    base: &'a Options,
    policy: Policy,
    initial: Option<u32>,
    lowest: u32,
    highest: u32,
}

impl<'a> Floors<'a> {
    fn new(history: &'a Trace, base: &'a Options, policy: Policy, initial: Option<u32>) -> Self {
        let period_secs = f64::from(base.settings.period_mins) * 60.0;
        let peak = history
            .rows
            .iter()
            .map(|r| simulate::needed_shards(r.incoming_bytes, r.incoming_records, period_secs))
            .fold(0.0, f64::max);
        let highest = (peak.ceil() as u32).clamp(1, base.settings.max_shards);
        Floors {
            history,
            base,
            policy,
            initial,
            lowest: base.settings.min_shards.clamp(1, highest),
            highest,
        }
    }

    fn replay(&self, floor: u32) -> Result<Measured, SimError> {
        let policy = self.policy.with_floor(floor);
        let opts = options_on_floor(self.base, &policy, self.initial, floor);
        simulate::simulate(self.history, &opts).map(|out| measured(&out))
    }

    /// The smallest floor under which the policy throttles at most `allowed` records, with
    /// its figures; `None` when the highest does not.
    fn smallest_within(&self, allowed: f64) -> Result<Option<(u32, Measured)>, SimError> {
        let (mut lo, mut hi) = (self.lowest, self.highest);
        let top = self.replay(hi)?;
        if top.throttled_records > allowed {
            return Ok(None);
        }
        let mut found = (hi, top);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let out = self.replay(mid)?;
            if out.throttled_records <= allowed {
                found = (mid, out);
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        Ok(Some(found))
    }

    /// The largest floor above the stream's minimum whose cost is at most `cap`, with its
    /// figures; `None` when none is.
    fn largest_within_cost(&self, cap: f64) -> Result<Option<(u32, Measured)>, SimError> {
        let (mut lo, mut hi) = (self.lowest + 1, self.highest);
        let mut found = None;
        while lo <= hi {
            let mid = lo + (hi - lo) / 2;
            let out = self.replay(mid)?;
            if tuning::at_most(out.cost_usd, cap) {
                found = Some((mid, out));
                lo = mid + 1;
            } else {
                hi = mid - 1;
            }
        }
        Ok(found)
    }
}

/// What would meet the budget on `history` where `tuned` does not: the smallest floor
/// (`AutoscalerMinShards`) under which the chosen candidate meets it (`Floors`),
/// and on-demand mode, both priced from the same replay.
pub fn advise(
    history: &Trace,
    base: &Options,
    tuned: &Tuned,
    initial: Option<u32>,
) -> Result<Advice, SimError> {
    let allowed = tuned.choice.allowed_throttled;
    let opts = candidate_options(base, &tuned.candidate.policy, initial);
    let chosen = simulate::simulate(history, &opts)?;
    let s = &chosen.summary;
    let month = |usd| monthly(usd, s.periods, s.period_secs);
    let budget_fraction = if s.records_total > 0.0 {
        allowed / s.records_total
    } else {
        0.0
    };
    let floor =
        Floors::new(history, base, tuned.candidate.policy, initial).smallest_within(allowed)?;
    Ok(Advice {
        budget_fraction,
        floor_shards: floor.map(|(n, _)| n),
        floor_monthly_usd: floor.map(|(_, m)| month(m.cost_usd)),
        on_demand_monthly_usd: month(s.on_demand_cost_usd),
        chosen_monthly_usd: month(s.provisioned_cost_usd),
        basis: AdviceBasis::History,
    })
}

/// Where a walk-forward replay as a whole throttled more than its budget allows on the
/// whole trace (a stated fraction, or the Go Lambda's throttling on it) though the last
/// tuning met it on its history: what would have met it over the replay, the set in force
/// at the end on the smallest floor that does ([`Floors`]) and on-demand mode. So a
/// replay that misses a budget always says so. `None` where the replay kept the budget.
fn advise_on_replay(
    trace: &Trace,
    opts: &Options,
    outcome: &Outcome,
    last: &Tuned,
) -> Result<Option<Advice>, SimError> {
    let s = &outcome.summary;
    let reference = measured(&simulate::simulate(
        trace,
        &Options {
            variant: Variant::Upstream,
            ..candidate_options(opts, &Policy::Upstream, opts.initial_shards)
        },
    )?);
    let allowed = tuning::allowed_throttled(opts.settings.throttle_budget, &reference);
    if tuning::at_most(s.records_throttled, allowed) || s.records_total <= 0.0 {
        return Ok(None);
    }
    let policy = last.candidate.policy.with_floor(0);
    // A floor at the stream's own minimum is no floor: the set kept all along would have met
    // it, and the miss is the tuning's switching; only on-demand mode is named then.
    let floor = Floors::new(trace, opts, policy, opts.initial_shards)
        .smallest_within(allowed)?
        .filter(|(n, _)| *n > opts.settings.min_shards);
    let month = |usd| monthly(usd, s.periods, s.period_secs);
    Ok(Some(Advice {
        budget_fraction: allowed / s.records_total,
        floor_shards: floor.map(|(n, _)| n),
        floor_monthly_usd: floor.map(|(_, m)| month(m.cost_usd)),
        on_demand_monthly_usd: month(s.on_demand_cost_usd),
        chosen_monthly_usd: month(s.provisioned_cost_usd),
        basis: AdviceBasis::Replay,
    }))
}

/// The rows of `trace` in `[from, to)`.
fn window(trace: &Trace, from: DateTime<Utc>, to: DateTime<Utc>) -> Trace {
    let a = trace.rows.partition_point(|r| r.timestamp < from);
    let b = trace.rows.partition_point(|r| r.timestamp < to);
    Trace {
        rows: trace.rows[a..b.max(a)].to_vec(),
        period_secs: trace.period_secs,
    }
}

fn day_of(t: DateTime<Utc>) -> i64 {
    t.timestamp().div_euclid(86_400)
}

/// Replays `trace` as `simulate` does: tuned walk-forward when `opts.tune` (and ours),
/// with fixed parameters otherwise. The entry point every replay of a user's settings uses.
pub fn replay(trace: &Trace, opts: &Options) -> Result<Outcome, SimError> {
    if opts.tune && opts.variant == Variant::Ours {
        simulate_tuned(trace, opts)
    } else {
        simulate::simulate(trace, opts)
    }
}

/// The walk-forward replay's throttled records so far at each UTC midnight, so that what
/// the stream throttled on a history, as it ran, is a difference of two (the live function
/// reads it from `WriteProvisionedThroughputExceeded`).
#[derive(Default)]
struct Ledger(Vec<(DateTime<Utc>, f64)>);

impl Ledger {
    fn mark(&mut self, midnight: DateTime<Utc>, throttled_so_far: f64) {
        self.0.push((midnight, throttled_so_far));
    }

    /// Records throttled from the last midnight at or before `from` (the replay's start
    /// before the first) until now, when `throttled_so_far` have been.
    fn since(&self, from: DateTime<Utc>, throttled_so_far: f64) -> f64 {
        let before = self
            .0
            .iter()
            .rev()
            .find(|(midnight, _)| *midnight <= from)
            .map_or(0.0, |(_, total)| *total);
        throttled_so_far - before
    }
}

/// Replays `trace` tuned walk-forward (see the module's documentation), with the tuning
/// and, where the last days' tuning met no budget or the replay as a whole missed it, the
/// advice in the summary.
pub fn simulate_tuned(trace: &Trace, opts: &Options) -> Result<Outcome, SimError> {
    let Some(first) = trace.rows.first().map(|r| r.timestamp) else {
        return simulate::run(trace, opts, |_, _| Ok(()));
    };
    let mut summary = TuningSummary {
        budget: opts.settings.throttle_budget,
        days_tuned: 0,
        days_met: 0,
        days_by_candidate: BTreeMap::new(),
        last: None,
    };
    // The day before the first, so the first period counts as a day of the defaults.
    let mut day = day_of(first) - 1;
    let mut in_force = "default";
    let mut ledger = Ledger::default();
    let mut outcome = simulate::run(trace, opts, |replay, at| {
        if day_of(at) == day {
            return Ok(());
        }
        day = day_of(at);
        let midnight = DateTime::from_timestamp(day * 86_400, 0).unwrap_or(at);
        ledger.mark(midnight, replay.throttled_so_far());
        if midnight - first >= Duration::days(FIRST_TUNED_DAY) {
            let from = midnight - Duration::days(HISTORY_DAYS);
            let history = window(trace, from, midnight);
            let had = ledger.since(from, replay.throttled_so_far());
            let shards = Some(replay.shards());
            let tuned = tune_on(&history, opts, shards, Some(in_force), Some(had))?;
            replay.retune(&tuned.candidate.policy);
            in_force = tuned.candidate.name;
            summary.days_tuned += 1;
            summary.days_met += u32::from(tuned.choice.met);
        }
        *summary
            .days_by_candidate
            .entry(in_force.to_string())
            .or_default() += 1;
        Ok(())
    })?;
    // What the stream would run next: the tuning on the trace's last days.
    let end = trace.rows.last().map_or(first, |r| r.timestamp) + Duration::seconds(1);
    let from = end - Duration::days(HISTORY_DAYS);
    let history = window(trace, from, end);
    let shards = Some(outcome.summary.final_shards);
    let had = ledger.since(from, outcome.summary.records_throttled);
    let last = tune_on(&history, opts, shards, Some(in_force), Some(had))?;
    outcome.summary.advice = if last.choice.met {
        advise_on_replay(trace, opts, &outcome, &last)?
    } else {
        Some(advise(&history, opts, &last, shards)?)
    };
    summary.last = Some(last);
    // The replay's own label names the last day's settings; the run is the tuning's.
    outcome.summary.variant = format!(
        "ours, tuned daily to THROTTLE_BUDGET={}{}",
        opts.settings.throttle_budget,
        if opts.schedule {
            ", scheduled evaluation every 5 minutes"
        } else {
            ", alarms only"
        }
    );
    outcome.summary.tuning = Some(summary);
    Ok(outcome)
}

/// One line for a table: days met, the last choice, the advice.
pub fn brief(t: &TuningSummary, advice: Option<&Advice>) -> String {
    let mut out = format!("met {}/{} d", t.days_met, t.days_tuned);
    if let Some(last) = &t.last {
        out.push_str(&format!("; now {}", last.candidate.name));
        let floor = last.candidate.policy.floor();
        if floor > 0 {
            out.push_str(&format!(" on floor {floor}"));
        }
    }
    if let Some(a) = advice {
        let over = match a.basis {
            AdviceBasis::History => "advice",
            AdviceBasis::Replay => "over the replay",
        };
        out.push_str(&format!("; {over}:"));
        if let Some(n) = a.floor_shards {
            out.push_str(&format!(" floor {n};"));
        }
        out.push_str(&format!(
            " on-demand ${:.0}/mo vs ${:.0}/mo",
            a.on_demand_monthly_usd, a.chosen_monthly_usd
        ));
    }
    out
}

/// The plot's caption of `advice`.
pub fn advice_caption(a: &Advice) -> String {
    match a.floor_shards {
        Some(n) => format!(
            " (budget unmet: floor {n} ${:.0}/mo or on-demand ${:.0}/mo)",
            a.floor_monthly_usd.unwrap_or(f64::NAN),
            a.on_demand_monthly_usd
        ),
        None => format!(
            " (budget unmet: on-demand ${:.0}/mo)",
            a.on_demand_monthly_usd
        ),
    }
}

/// The tuning and the advice, for `simulate`'s human report (empty without tuning).
pub fn describe(s: &crate::replay::simulate::Summary) -> String {
    let Some(t) = &s.tuning else {
        return String::new();
    };
    let mut out = format!(
        "tuning: THROTTLE_BUDGET={}; {} of {} tuned days chose a set that met it on the 14 days before; days per set: {}\n",
        t.budget,
        t.days_met,
        t.days_tuned,
        t.days_by_candidate
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    if let Some(last) = &t.last {
        out.push_str(&format!(
            "next: {} ({}), {:.3}% throttled on the last 14 days against upstream's {:.3}%\n",
            last.candidate.name,
            serde_json::to_string(&last.candidate.policy).unwrap_or_default(),
            100.0 * last.measured.throttled_fraction(),
            100.0 * last.upstream.throttled_fraction()
        ));
    }
    if let Some(a) = &s.advice {
        out.push_str(&format!("advice: {a}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::settings::Settings;
    use crate::domain::tuning::ThrottleBudget;
    use crate::replay::trace::Row;

    /// `days` of 5-minute periods: a daily ramp to `peak` shards of load from a base of 1.
    fn daily(days: i64, peak: f64) -> Vec<Row> {
        let start = DateTime::from_timestamp(1_767_225_600, 0).unwrap();
        (0..days * 288)
            .map(|i| {
                let minute = (i * 5) % 1440;
                let need = if (600..900).contains(&minute) {
                    peak
                } else {
                    1.0
                };
                let records = need * 300_000.0 * 0.9;
                Row {
                    timestamp: start + Duration::minutes(5 * i),
                    incoming_bytes: records * 100.0,
                    incoming_records: records,
                    iterator_age_ms: None,
                }
            })
            .collect()
    }

    fn tuned_opts() -> Options {
        Options {
            tune: true,
            ..Options::new(Settings::default())
        }
    }

    #[test]
    fn the_first_half_replays_the_same_whatever_the_second_half_holds() {
        let mut calm = daily(6, 4.0);
        let mut wild = calm.clone();
        for (i, row) in wild.iter_mut().enumerate().skip(3 * 288) {
            let factor = if i % 7 == 0 { 12.0 } else { 0.3 };
            row.incoming_records *= factor;
            row.incoming_bytes *= factor;
        }
        calm.truncate(6 * 288);
        let run = |rows: Vec<Row>| {
            replay(
                &Trace {
                    rows,
                    period_secs: Some(300),
                },
                &tuned_opts(),
            )
            .unwrap()
        };
        let (a, b) = (run(calm), run(wild));
        let half = 3 * 288;
        assert_eq!(a.timeline[..half], b.timeline[..half]);
        let cut = a.timeline[half].timestamp;
        let before = |o: &Outcome| {
            o.reshards
                .iter()
                .filter(|r| r.at <= cut)
                .cloned()
                .collect::<Vec<_>>()
        };
        assert_eq!(before(&a), before(&b));
        // And the second halves differ, so the test can tell.
        assert_ne!(a.timeline[half..], b.timeline[half..]);
        let tuning = a.summary.tuning.as_ref().unwrap();
        assert_eq!(
            tuning.days_tuned, 4,
            "days 3 to 6 are tuned, 1 and 2 run defaults"
        );
    }

    #[test]
    fn an_impossible_budget_gets_advice_with_a_floor_that_meets_it() {
        // One-period bursts to 8x the base each hour: no reshard can catch them.
        let mut rows = daily(3, 1.0);
        for (i, row) in rows.iter_mut().enumerate() {
            if i % 12 == 6 {
                row.incoming_records *= 8.0;
                row.incoming_bytes *= 8.0;
            }
        }
        let trace = Trace {
            rows,
            period_secs: Some(300),
        };
        let mut opts = tuned_opts();
        opts.settings.throttle_budget = ThrottleBudget::Fraction(0.001);
        let out = replay(&trace, &opts).unwrap();
        let advice = out
            .summary
            .advice
            .unwrap_or_else(|| panic!("{:#?}", out.summary.tuning));
        let floor = advice.floor_shards.expect("a floor meets it");
        // 8 x 0.9 = 7.2 shards of load: 8 shards serve the bursts, 7 do not.
        assert_eq!(floor, 8);
        assert!(advice.on_demand_monthly_usd > 0.0);
        assert!(advice.floor_monthly_usd.unwrap() > advice.chosen_monthly_usd);
        // The fallback costs no more than upstream's on the same history.
        let last = out.summary.tuning.unwrap().last.unwrap();
        assert!(!last.choice.met);
        assert!(last.measured.cost_usd <= last.upstream.cost_usd * (1.0 + 1e-9));
    }

    #[test]
    fn a_replay_that_misses_a_stated_budget_says_what_would_have_met_it() {
        // A jump from 1 to 6 shards of load each day at 10:00: the first two days run the
        // defaults, which throttle at the jump; later days are tuned to meet the budget.
        let trace = Trace {
            rows: daily(6, 6.0),
            period_secs: Some(300),
        };
        let mut opts = tuned_opts();
        opts.settings.throttle_budget = ThrottleBudget::Fraction(0.001);
        let out = replay(&trace, &opts).unwrap();
        let s = &out.summary;
        assert!(s.tuning.as_ref().unwrap().last.as_ref().unwrap().choice.met);
        assert!(s.records_throttled > 0.001 * s.records_total, "{s:#?}");
        let advice = s.advice.expect("the miss is said");
        assert_eq!(advice.basis, AdviceBasis::Replay);
        assert_eq!(advice.budget_fraction, 0.001);
        // Above the base's 1 shard, at most the jump's 6 (5.4 shards of load); and the set
        // in force at the end on that floor, replayed on the whole trace, keeps the budget.
        let floor = advice.floor_shards.expect("a floor would have met it");
        assert!((2..=6).contains(&floor), "{floor}");
        let last = s.tuning.as_ref().unwrap().last.as_ref().unwrap();
        let on_floor = Floors::new(&trace, &opts, last.candidate.policy, None)
            .replay(floor)
            .unwrap();
        assert!(on_floor.throttled_records <= 0.001 * on_floor.records);
        // A budget the replay kept gets no advice.
        opts.settings.throttle_budget = ThrottleBudget::Fraction(0.5);
        assert_eq!(replay(&trace, &opts).unwrap().summary.advice, None);
    }

    /// `days` of a daily cycle (2 to 4 shards of load, as `scripts/holdout-traces.py`'s
    /// bursty-daily) with 3x bursts of 15 to 30 minutes at pseudo-random times, about four
    /// a day: too short for a reshard to catch.
    fn bursty(days: i64, seed: u64) -> Vec<Row> {
        let mut seed: u64 = seed;
        let mut next = move || {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            (seed >> 11) as f64 / (1u64 << 53) as f64
        };
        let mut rows = daily(days, 1.0);
        let mut burst_left = 0;
        for (i, row) in rows.iter_mut().enumerate() {
            let minute = (i as f64 * 5.0) % 1440.0;
            let mut level = if (360.0..1080.0).contains(&minute) {
                2.0 + 2.0 * (std::f64::consts::PI * (minute - 360.0) / 720.0).sin()
            } else {
                2.0
            };
            if burst_left == 0 && next() < 1.0 / 72.0 {
                burst_left = 3 + (next() * 4.0) as u32;
            }
            if burst_left > 0 {
                burst_left -= 1;
                level *= 3.0;
            }
            let factor = level * (0.95 + 0.1 * next()) / 0.9;
            row.incoming_records *= factor;
            row.incoming_bytes *= factor;
        }
        rows
    }

    /// Two weeks of [`bursty`] load, and the default settings without a timeline.
    fn bursty_fortnight() -> (Trace, Options) {
        let history = Trace {
            rows: bursty(14, 2),
            period_secs: Some(300),
        };
        let opts = Options {
            keep_timeline: false,
            ..Options::new(Settings::default())
        };
        (history, opts)
    }

    #[test]
    fn where_no_set_meets_the_budget_the_fallback_stands_on_the_smallest_affordable_floor() {
        let (history, opts) = bursty_fortnight();
        // From 3 shards, the count the sized policy leaves at midnight's base load.
        let tuned = tune_on(&history, &opts, Some(3), None, None).unwrap();
        let floor = tuned.candidate.policy.floor();
        assert!(tuned.choice.met && floor > 0, "{tuned:#?}");
        // Upstream's throttling at no more than its cost, and the same set without its
        // floor (or one shard lower) does not get there: the floor is what meets it.
        let allowed = tuned.choice.allowed_throttled;
        assert!(tuned.measured.throttled_records <= allowed);
        assert!(tuned.measured.cost_usd <= tuned.upstream.cost_usd);
        let floors = Floors::new(&history, &opts, tuned.candidate.policy, Some(3));
        for lower in [0, floor - 1] {
            let out = floors.replay(lower).unwrap();
            assert!(out.throttled_records > allowed, "floor {lower}");
        }
    }

    #[test]
    fn where_no_affordable_floor_meets_the_budget_the_most_standing_capacity_it_allows_runs() {
        // Random bursts, and a stream so far over its budget (it throttled 1e12 records)
        // that nothing is left: no floor at no more than upstream's cost meets it.
        let (history, opts) = bursty_fortnight();
        let tuned = tune_on(&history, &opts, Some(3), None, Some(1e12)).unwrap();
        assert_eq!(tuned.choice.allowed_throttled, 0.0);
        let floor = tuned.candidate.policy.floor();
        assert!(!tuned.choice.met && floor > 0, "{tuned:#?}");
        let cap = tuned.upstream.cost_usd;
        assert!(tuned.measured.cost_usd <= cap);
        // The largest such floor, and it cuts more throttling than it adds cost.
        let floors = Floors::new(&history, &opts, tuned.candidate.policy, Some(3));
        assert!(floors.replay(floor + 1).unwrap().cost_usd > cap);
        assert!(tuned.measured.throttled_records < floors.replay(0).unwrap().throttled_records);
    }

    #[test]
    fn tuned_replays_never_make_more_than_ten_reshards_in_a_day() {
        let mut rows = daily(4, 6.0);
        for (i, row) in rows.iter_mut().enumerate() {
            let factor = [1.0, 5.0, 0.2, 3.0][(i / 3) % 4];
            row.incoming_records *= factor;
            row.incoming_bytes *= factor;
        }
        let out = replay(
            &Trace {
                rows,
                period_secs: Some(300),
            },
            &tuned_opts(),
        )
        .unwrap();
        assert!(out.summary.reshards > 10, "the load asks for many reshards");
        assert!(out.summary.max_reshards_in_24h <= 10);
        assert_eq!(out.summary.reshards_over_daily_limit, 0);
        for r in &out.reshards {
            assert!(r.to >= r.from.div_ceil(2) && r.to <= r.from * 2, "{r:?}");
        }
    }
}
