//! Decisions of the sized policy on scenario loads.

use super::*;

const P: i64 = 300;

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-01-05T00:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

/// Usage of `needs` (one per 5-minute period from t0), decided at the end of the last.
fn usage(needs: Vec<Option<f64>>) -> Usage<'static> {
    Usage {
        period_secs: P,
        start: t0(),
        needs: Cow::Owned(needs),
        lag_mins: Cow::Borrowed(&[]),
    }
}

fn flat(n: usize, need: f64) -> Vec<Option<f64>> {
    vec![Some(need); n]
}

fn budget(used: u32) -> Budget {
    Budget {
        used,
        limit: 10,
        reserve: 2,
    }
}

fn decide_at(u: &Usage, shards: u32, used: u32, asked: Option<Direction>) -> Move {
    decide_bounded(
        u,
        shards,
        used,
        asked,
        Bounds {
            min: 1,
            max: 10_000,
        },
    )
}

fn decide_bounded(
    u: &Usage,
    shards: u32,
    used: u32,
    asked: Option<Direction>,
    bounds: Bounds,
) -> Move {
    decide(
        &Input {
            usage: u,
            shards,
            bounds,
            budget: budget(used),
            target_usage: 0.7,
            params: Params::default(),
            now: u.end(),
            lag_limit_mins: Some(30.0),
        },
        asked,
    )
}

fn to(m: Move) -> u32 {
    match m {
        Move::Reshard { to, .. } => to,
        other => panic!("expected a reshard, got {other:?}"),
    }
}

#[test]
fn a_sustained_rise_is_sized_to_its_peak_within_twice_the_shards() {
    // 4 shards; the last two periods at 3.9 and 4.0 (above 95%): 4.0 / 0.7 -> 6.
    let mut needs = flat(24, 2.0);
    needs.extend([Some(3.9), Some(4.0)]);
    assert_eq!(to(decide_at(&usage(needs.clone()), 4, 0, None)), 6);
    // The alarm path sizes the same.
    assert_eq!(to(decide_at(&usage(needs), 4, 0, Some(Direction::Up))), 6);
    // A need beyond 2N goes to 2N now; the next evaluation takes the next step.
    let mut needs = flat(24, 2.0);
    needs.extend([Some(4.0), Some(4.0)]);
    assert_eq!(to(decide_at(&usage(needs), 2, 0, None)), 4);
}

#[test]
fn a_one_period_burst_is_not_chased_even_at_a_thousand_times_the_median() {
    let mut needs = flat(24, 2.0);
    needs.push(Some(2000.0));
    assert_eq!(
        decide_at(&usage(needs.clone()), 4, 0, None),
        Move::Hold(Hold::Fits)
    );
    // Afterwards, capacity is kept for bursts only up to 3x the sustained load (6), not
    // for 2000: a stream at 64 shards halves.
    needs.extend(flat(3, 2.0));
    assert_eq!(to(decide_at(&usage(needs.clone()), 64, 0, None)), 32);
    assert_eq!(
        decide_at(&usage(needs.clone()), 8, 0, None),
        Move::Hold(Hold::Fits)
    );
    // Sustained for two periods it is load: the largest legal step, 2N.
    needs.extend([Some(2000.0), Some(2000.0)]);
    assert_eq!(to(decide_at(&usage(needs), 4, 0, None)), 8);
}

#[test]
fn an_idle_hour_scales_down_to_its_peak_within_half() {
    // 8 shards, the last hour peaks at 2.0: 2.0 / 0.7 -> 3, but at most halving -> 4.
    let u = usage(flat(24, 2.0));
    assert_eq!(to(decide_at(&u, 8, 0, None)), 4);
    assert_eq!(to(decide_at(&u, 8, 0, Some(Direction::Down))), 4);
    // From 4: to 3, a saving of a quarter.
    assert_eq!(to(decide_at(&u, 4, 0, None)), 3);
    // From 3: 3 is what the load needs; nothing to save.
    assert_eq!(decide_at(&u, 3, 0, None), Move::Hold(Hold::Fits));
    // A saving under a quarter is not worth a call: 2.6/0.7 -> 4 of 5.
    let u = usage(flat(24, 2.6));
    assert_eq!(decide_at(&u, 5, 0, None), Move::Hold(Hold::Fits));
}

#[test]
fn zero_traffic_goes_down_to_the_minimum_one_halving_at_a_time() {
    let u = usage(flat(24, 0.0));
    assert_eq!(to(decide_at(&u, 8, 0, None)), 4);
    assert_eq!(to(decide_at(&u, 2, 0, None)), 1);
    assert_eq!(decide_at(&u, 1, 0, None), Move::Hold(Hold::Fits));
    let bounded = Bounds { min: 3, max: 100 };
    assert_eq!(to(decide_bounded(&u, 8, 0, None, bounded)), 4);
    assert_eq!(to(decide_bounded(&u, 4, 0, None, bounded)), 3);
    assert_eq!(
        decide_bounded(&u, 3, 0, Some(Direction::Down), bounded),
        Move::Hold(Hold::AtBound)
    );
}

#[test]
fn gaps_are_missing_data_not_idleness() {
    // Most of the last hour missing: no scale-down, whatever the few datapoints say.
    let mut needs = flat(12, 6.0);
    needs.extend([
        None,
        None,
        None,
        None,
        None,
        None,
        None,
        None,
        None,
        Some(0.1),
    ]);
    let u = usage(needs);
    assert_eq!(decide_at(&u, 8, 0, None), Move::Hold(Hold::NoData));
    // No datapoint in the last three periods: no scale-up, and the alarm path says why
    // (the caller falls back to doubling, since the alarm saw the load).
    let mut needs = flat(12, 6.0);
    needs.extend([None, None, None]);
    let u = usage(needs);
    assert_eq!(decide_at(&u, 2, 0, None), Move::Hold(Hold::Fits));
    assert_eq!(
        decide_at(&u, 2, 0, Some(Direction::Up)),
        Move::Hold(Hold::NoData)
    );
    // Nothing at all.
    let u = usage(Vec::new());
    assert_eq!(
        decide_at(&u, 2, 0, Some(Direction::Down)),
        Move::Hold(Hold::NoData)
    );
}

/// Two days and a bit of a daily cycle: 1.5 shards of load, 6 from 09:00 to 18:00.
fn daily(until_mins: i64) -> Vec<Option<f64>> {
    (0..(2 * 1440 + until_mins) / 5)
        .map(|i| {
            let minute = (i * 5) % 1440;
            Some(if (540..1080).contains(&minute) {
                6.0
            } else {
                1.5
            })
        })
        .collect()
}

#[test]
fn a_ramp_seen_on_each_of_the_last_days_is_provisioned_ahead() {
    // Day 3, 08:40: the ramp at 09:00 happened on both previous days.
    let u = usage(daily(520));
    let m = decide_at(&u, 3, 0, None);
    assert!(
        matches!(
            m,
            Move::Reshard {
                to: 6,
                why: Reason::Recurring { .. }
            }
        ),
        "{m:?}"
    );
    // 07:00: the ramp is two hours off; no pre-scaling yet.
    assert_eq!(
        decide_at(&usage(daily(420)), 3, 0, None),
        Move::Hold(Hold::Fits)
    );
    // Pre-scaling is elective: not with only the reserve left.
    assert_eq!(decide_at(&u, 3, 8, None), Move::Hold(Hold::Fits));
}

#[test]
fn less_than_two_days_of_history_is_no_forecast() {
    // The same day-3 08:40, but the datapoints start at noon of day 1: only one day holds
    // the ramp, which is not a pattern yet.
    let needs = daily(520);
    let skip = 144; // 12 hours of 5-minute periods
    let u = Usage {
        period_secs: P,
        start: t0() + Duration::minutes(5 * skip as i64),
        needs: Cow::Owned(needs[skip..].to_vec()),
        lag_mins: Cow::Borrowed(&[]),
    };
    assert_eq!(u.end(), usage(daily(520)).end());
    assert_eq!(decide_at(&u, 3, 0, None), Move::Hold(Hold::Fits));
}

#[test]
fn a_recurring_ramp_holds_a_scale_down_that_would_be_undone() {
    // Day 3, 07:30 at 9 shards: the quiet hour alone says 3, but the ramp is due.
    let u = usage(daily(450));
    assert!(matches!(
        decide_at(&u, 9, 0, None),
        Move::Hold(Hold::RecurringLoad { .. })
    ));
    // 19:30: the day's load is over and tomorrow's is far: down.
    let u = usage(daily(1170));
    assert_eq!(to(decide_at(&u, 9, 0, None)), 5);
}

#[test]
fn a_spike_seen_on_one_day_only_is_not_replayed() {
    // Flat 1.5, with a 2-hour burst at 09:00 yesterday only.
    let needs: Vec<Option<f64>> = (0..(2 * 1440 + 520) / 5)
        .map(|i| {
            let minute = i * 5;
            Some(if (1440 + 540..1440 + 660).contains(&minute) {
                6.0
            } else {
                1.5
            })
        })
        .collect();
    assert_eq!(decide_at(&usage(needs), 3, 0, None), Move::Hold(Hold::Fits));
}

#[test]
fn the_budget_keeps_a_reserve_and_the_last_call_goes_all_the_way() {
    let idle = usage(flat(24, 0.5));
    // 7 used: a scale-down leaves the reserve of 2; 8 used: it would eat into it.
    assert_eq!(to(decide_at(&idle, 8, 7, None)), 4);
    assert_eq!(decide_at(&idle, 8, 8, None), Move::Hold(Hold::Reserve));
    let mut rising = flat(24, 2.0);
    rising.extend([Some(3.9), Some(4.0)]);
    let rising = usage(rising);
    // Scale-ups may use the reserve; the day's last call goes to 2N.
    assert_eq!(to(decide_at(&rising, 4, 8, None)), 6);
    assert_eq!(to(decide_at(&rising, 4, 9, None)), 8);
    assert_eq!(decide_at(&rising, 4, 10, None), Move::Hold(Hold::NoBudget));
}

#[test]
fn a_stream_outside_its_bounds_is_brought_back_in_legal_steps() {
    let u = usage(flat(24, 1.0));
    let bounds = Bounds { min: 10, max: 20 };
    // Below the minimum: up, at most doubling.
    let m = decide_bounded(&u, 3, 0, None, bounds);
    assert_eq!(
        m,
        Move::Reshard {
            to: 6,
            why: Reason::BelowMinimum
        }
    );
    assert_eq!(to(decide_bounded(&u, 6, 0, None, bounds)), 10);
    // Above the maximum: down, at most halving, whatever the load.
    let busy = usage(flat(24, 60.0));
    assert_eq!(
        decide_bounded(&busy, 100, 0, None, bounds),
        Move::Reshard {
            to: 50,
            why: Reason::AboveMaximum
        }
    );
    assert_eq!(to(decide_bounded(&busy, 30, 0, None, bounds)), 20);
    // Inside, a busy stream at the maximum holds.
    assert_eq!(
        decide_bounded(&busy, 20, 0, Some(Direction::Up), bounds),
        Move::Hold(Hold::AtBound)
    );
    // The account's headroom caps the way up (a max below the minimum): as far as it goes.
    let capped = Bounds { min: 10, max: 4 };
    assert_eq!(to(decide_bounded(&u, 3, 0, None, capped)), 4);
    assert_eq!(
        decide_bounded(&u, 4, 0, None, capped),
        Move::Hold(Hold::Fits)
    );
    // Bounds moves may use the reserve, never an 11th call.
    assert_eq!(to(decide_bounded(&u, 3, 9, None, bounds)), 6);
    assert_eq!(
        decide_bounded(&u, 3, 10, None, bounds),
        Move::Hold(Hold::NoBudget)
    );
}

#[test]
fn every_move_is_legal_whatever_the_load() {
    let loads = [0.0, 0.3, 1.0, 3.0, 40.0, 1e6];
    for &shards in &[1u32, 2, 3, 5, 9, 64, 10_000] {
        for &a in &loads {
            for &b in &loads {
                let mut needs = flat(20, a);
                needs.extend([Some(b), Some(b)]);
                let u = usage(needs);
                for asked in [None, Some(Direction::Up), Some(Direction::Down)] {
                    if let Move::Reshard { to, .. } = decide_at(&u, shards, 0, asked) {
                        assert!(
                            to != shards && to <= 2 * shards && to >= shards.div_ceil(2),
                            "{shards} -> {to} ({a}, {b}, {asked:?})"
                        );
                        assert!((1..=10_000).contains(&to));
                        match asked {
                            Some(Direction::Up) => assert!(to > shards),
                            Some(Direction::Down) => assert!(to < shards),
                            None => {}
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn metrics_are_read_onto_the_grid_and_only_up_to_now() {
    let at = |m: i64| t0() + Duration::minutes(m);
    let sums = [
        (at(0), 300.0 * 1024.0 * 1024.0, 0.0),
        (at(7), 1.0, 1.0), // off the grid: dropped
        (at(10), f64::NAN, -5.0),
        (at(60), 1e12, 1e12), // after the end: dropped
    ];
    let u = Usage::from_sums(P, at(0), at(15), &sums);
    assert_eq!(u.needs.len(), 3);
    assert_eq!(u.needs[0], Some(1.0));
    assert_eq!(u.needs[1], None);
    assert_eq!(u.needs[2], Some(0.0));
    assert_eq!(u.end(), at(15));
    // An evaluation earlier than the data's end (clock skew) sees only what came before.
    let mut needs = flat(24, 1.0);
    needs.extend([Some(9.0), Some(9.0)]);
    let u = usage(needs);
    let early = Input {
        usage: &u,
        shards: 2,
        bounds: Bounds { min: 1, max: 100 },
        budget: budget(0),
        target_usage: 0.7,
        params: Params::default(),
        now: u.end() - Duration::minutes(10),
        lag_limit_mins: Some(30.0),
    };
    assert_eq!(decide(&early, None), Move::Hold(Hold::Fits));
}

/// `usage` with the iterator age of each period (minutes) from `lags`.
fn lagging(needs: Vec<Option<f64>>, lags: Vec<Option<f64>>) -> Usage<'static> {
    Usage {
        lag_mins: Cow::Owned(lags),
        ..usage(needs)
    }
}

#[test]
fn consumers_at_or_over_the_limit_block_every_shrink_never_a_scale_up() {
    // An hour of 1 shard of load on 8: halved without lag.
    let idle = flat(12, 1.0);
    assert_eq!(to(decide_at(&usage(idle.clone()), 8, 0, None)), 4);
    // 30 minutes behind, once in the hour (the limit is 30): held, whether scheduled or
    // asked by the scale-down alarm, and above the maximum too.
    let mut lags = vec![Some(5.0); 12];
    lags[3] = Some(30.0);
    let behind = lagging(idle.clone(), lags);
    let held = Move::Hold(Hold::ConsumersBehind { age_mins: 30.0 });
    assert_eq!(decide_at(&behind, 8, 0, None), held);
    assert_eq!(decide_at(&behind, 8, 0, Some(Direction::Down)), held);
    let over_max = Bounds { min: 1, max: 4 };
    assert_eq!(decide_bounded(&behind, 8, 0, None, over_max), held);
    // Just under the limit, or a lag older than the down window: shrunk.
    let under = lagging(idle.clone(), vec![Some(29.9); 12]);
    assert_eq!(to(decide_at(&under, 8, 0, None)), 4);
    let mut old = vec![None; 24];
    old[0] = Some(300.0);
    let mut day = flat(12, 1.0);
    day.extend(idle);
    assert_eq!(to(decide_at(&lagging(day, old), 8, 0, None)), 4);
    // A scale-up is never blocked by lag.
    let busy = lagging(flat(12, 3.9), vec![Some(600.0); 12]);
    assert!(to(decide_at(&busy, 4, 0, None)) > 4);
    assert!(to(decide_at(&busy, 4, 0, Some(Direction::Up))) > 4);
}

#[test]
fn the_lag_guard_is_off_without_a_limit_and_reads_ages_on_the_grid() {
    let behind = lagging(flat(12, 1.0), vec![Some(600.0); 12]);
    let off = Input {
        usage: &behind,
        shards: 8,
        bounds: Bounds { min: 1, max: 100 },
        budget: budget(0),
        target_usage: 0.7,
        params: Params::default(),
        now: behind.end(),
        lag_limit_mins: None,
    };
    assert_eq!(to(decide(&off, None)), 4);
    // From GetMetricData's Maxima in milliseconds: off-grid points are dropped.
    let u = usage(flat(3, 1.0)).with_iterator_ages(&[
        (t0() + Duration::minutes(5), 2_400_000.0),
        (t0() + Duration::minutes(7), 9e9),
        (t0() - Duration::minutes(5), 9e9),
    ]);
    assert_eq!(&u.lag_mins[..], &[None, Some(40.0), None]);
}
