use super::*;

fn m(throttled: f64, cost: f64, reshards: u64) -> Measured {
    Measured {
        records: 1_000_000.0,
        throttled_records: throttled,
        shard_hours: cost / 0.015,
        cost_usd: cost,
        reshards,
    }
}

#[test]
fn budget_parses_upstream_and_fractions_and_refuses_the_rest() {
    assert_eq!("upstream".parse(), Ok(ThrottleBudget::Upstream));
    assert_eq!(" Upstream ".parse(), Ok(ThrottleBudget::Upstream));
    assert_eq!("0.001".parse(), Ok(ThrottleBudget::Fraction(0.001)));
    assert_eq!("0".parse(), Ok(ThrottleBudget::Fraction(0.0)));
    for bad in ["1", "-0.1", "NaN", "2%", "half", ""] {
        assert!(bad.parse::<ThrottleBudget>().is_err(), "{bad}");
    }
}

#[test]
fn the_cheapest_candidate_within_the_budget_is_chosen() {
    // upstream throttles 2,000 of 1e6 (0.2%); candidate 1 is cheapest but throttles more.
    let measured = [
        m(1_500.0, 80.0, 20),
        m(2_500.0, 60.0, 20),
        m(2_000.0, 100.0, 8),
    ];
    let choice = choose(ThrottleBudget::Upstream, &measured, 2, None).unwrap();
    assert_eq!(choice.index, 0);
    assert!(choice.met);
    // An absolute budget of 0.3% admits candidate 1.
    let choice = choose(ThrottleBudget::Fraction(0.003), &measured, 2, None).unwrap();
    assert_eq!(choice.index, 1);
    // A budget met only at more than 1.5x upstream's cost is not met.
    let measured = [m(0.0, 151.0, 20), m(2_000.0, 100.0, 8)];
    let choice = choose(ThrottleBudget::Fraction(0.001), &measured, 1, None).unwrap();
    assert!(!choice.met);
    assert_eq!(choice.index, 1);
}

#[test]
fn the_candidate_in_force_stays_unless_another_is_clearly_cheaper() {
    let measured = [
        m(0.0, 100.0, 5),
        m(0.0, 98.0, 5),
        m(0.0, 90.0, 5),
        m(0.0, 120.0, 0),
    ];
    let pick = |m: &[Measured], incumbent| {
        choose(ThrottleBudget::Upstream, m, 3, incumbent)
            .unwrap()
            .index
    };
    let close = [
        m(0.0, 100.0, 5),
        m(0.0, 98.0, 5),
        m(0.0, 120.0, 0),
        m(0.0, 130.0, 0),
    ];
    assert_eq!(pick(&close, Some(0)), 0, "98 vs 100: within 3%, kept");
    assert_eq!(pick(&close, None), 1);
    assert_eq!(pick(&measured, Some(0)), 2, "90 vs 100: switched");
}

#[test]
fn a_tie_in_cost_goes_to_fewer_reshards() {
    let measured = [m(0.0, 80.0, 30), m(0.0, 80.5, 12), m(0.0, 100.0, 8)];
    assert_eq!(
        choose(ThrottleBudget::Upstream, &measured, 2, None)
            .unwrap()
            .index,
        1
    );
}

#[test]
fn under_the_upstream_budget_a_tiny_throttling_is_allowed_where_upstream_had_none() {
    // UPSTREAM_FLOOR is 0.1% of the 1e6 records: 900 is within, 1,100 is not.
    let measured = [m(900.0, 80.0, 3), m(0.0, 100.0, 0)];
    assert_eq!(
        choose(ThrottleBudget::Upstream, &measured, 1, None)
            .unwrap()
            .index,
        0
    );
    let measured = [m(1_100.0, 80.0, 3), m(0.0, 100.0, 0)];
    assert_eq!(
        choose(ThrottleBudget::Upstream, &measured, 1, None)
            .unwrap()
            .index,
        1
    );
}

#[test]
fn under_upstream_a_set_must_beat_upstreams_throttling_on_the_history_by_the_margin() {
    // The Go Lambda on the history: 100 at 2,000 throttled. Candidate 0 throttles 1,800,
    // less than upstream but not by the margin a noisy history needs (1,700 at most);
    // candidate 1 at 1,600 is chosen, at a higher cost.
    let measured = [
        m(1_800.0, 80.0, 3),
        m(1_600.0, 90.0, 3),
        m(2_000.0, 100.0, 1),
    ];
    let choice = choose(ThrottleBudget::Upstream, &measured, 2, None).unwrap();
    assert_eq!((choice.index, choice.met), (1, true));
    // A stated budget is the user's rate, used whole: 0.18% of the 1e6 records admits 0.
    let choice = choose(ThrottleBudget::Fraction(0.0018), &measured, 2, None).unwrap();
    assert_eq!((choice.index, choice.met), (0, true));
    // The 0.1% floor is not cut: where upstream throttled 400, 950 is still within.
    let measured = [m(950.0, 80.0, 3), m(400.0, 100.0, 1)];
    let choice = choose(ThrottleBudget::Upstream, &measured, 1, None).unwrap();
    assert_eq!((choice.index, choice.met), (0, true));
}

#[test]
fn under_the_upstream_budget_nothing_costlier_than_upstream_is_chosen() {
    // The Go Lambda on the history: 100 at 2,000 throttled. Candidate 0 throttles less
    // but costs 10% more; upstream's policy from the stream's state costs 150. The
    // default budget is "cheaper and never more throttled": neither meets it, and the
    // fallback (the least throttled at no more than upstream's cost) has nothing
    // affordable, so upstream's policy is kept, unmet.
    let measured = [m(1_500.0, 110.0, 3), m(0.0, 150.0, 0)];
    let go = m(2_000.0, 100.0, 1);
    let choice = choose_against(ThrottleBudget::Upstream, &measured, &go, None, 1, None).unwrap();
    assert_eq!((choice.index, choice.met), (1, false));
    // A stated budget may cost up to MAX_COST_VS_UPSTREAM.
    let choice = choose_against(
        ThrottleBudget::Fraction(0.0016),
        &measured,
        &go,
        None,
        1,
        None,
    )
    .unwrap();
    assert_eq!((choice.index, choice.met), (0, true));
}

#[test]
fn the_budget_is_upstream_from_its_own_state_not_from_the_streams() {
    // Replayed from the stream's current 12 shards, upstream's policy stays there
    // (cost 150, nothing throttled); the Go Lambda on the same history from the state
    // it would have been in has 6 shards (cost 100, 2,000 throttled). Against the
    // latter the sized candidate (90, 1,500) is within budget; against the former it
    // is not, and the stream would keep paying for 12 shards.
    let measured = [m(1_500.0, 90.0, 6), m(0.0, 150.0, 0)];
    let go = m(2_000.0, 100.0, 1);
    let choice = choose_against(ThrottleBudget::Upstream, &measured, &go, None, 1, None).unwrap();
    assert_eq!((choice.index, choice.met), (0, true));
    assert_eq!(choice.allowed_throttled, UPSTREAM_SHARE * 2_000.0);
    let own = choose(ThrottleBudget::Upstream, &measured, 1, None).unwrap();
    assert_eq!(own.index, 1);
}

#[test]
fn under_upstream_what_the_stream_left_unspent_is_spent_and_what_it_overspent_paid_back() {
    // The Go Lambda on the history: 100 at 2,000 throttled, of which a set may have
    // 1,700 there (UPSTREAM_SHARE). Candidate 0 is cheaper and throttles 2,600: over
    // upstream's, within the 1,700 plus the 1,000 the stream left unspent.
    assert_eq!(UPSTREAM_SHARE, 0.85);
    let measured = [m(2_600.0, 80.0, 3), m(1_000.0, 95.0, 3), m(0.0, 120.0, 0)];
    let go = m(2_000.0, 100.0, 1);
    let pick = |budget, had| {
        choose_against(budget, &measured, &go, had, 2, None)
            .map(|c| (c.index, c.allowed_throttled))
            .unwrap()
    };
    let upstream = ThrottleBudget::Upstream;
    assert_eq!(pick(upstream, Some(1_000.0)), (0, 2_700.0));
    // Spent all of it, or unknown: upstream's own throttling, less the margin.
    assert_eq!(pick(upstream, Some(2_000.0)), (1, 1_700.0));
    assert_eq!(pick(upstream, None), (1, 1_700.0));
    // Overspent by 500: paid back on the next choice (candidate 1 at 1,000 still fits).
    assert_eq!(pick(upstream, Some(2_500.0)), (1, 1_200.0));
    // Overspent by 1,500: nothing fits the 200 left; the least throttled affordable
    // set runs, unmet.
    let choice = choose_against(upstream, &measured, &go, Some(3_500.0), 2, None).unwrap();
    assert_eq!(
        (choice.index, choice.met, choice.allowed_throttled),
        (1, false, 200.0)
    );
    // Upstream's throttling below the floor (0.1% of records): the credit is on
    // upstream's 600, so at most 1,200, and the floor's 1,000 stays the least.
    let small = m(600.0, 100.0, 1);
    let allowed = |had| {
        choose_against(upstream, &measured, &small, Some(had), 2, None)
            .unwrap()
            .allowed_throttled
    };
    assert_eq!(allowed(0.0), 1_200.0);
    assert_eq!(allowed(500.0), 1_000.0);
    // A stated budget is a rate: nothing carries over.
    let stated = ThrottleBudget::Fraction(0.002);
    assert_eq!(pick(stated, Some(0.0)), (1, 2_000.0));
}

#[test]
fn where_none_meets_the_budget_the_least_throttled_at_no_more_than_upstream_cost_is_kept() {
    // Budget 0.1% = 1,000 records; nobody gets there. Candidate 0 throttles least but
    // costs more than upstream; candidate 1 is the least throttled affordable one.
    let measured = [
        m(5_000.0, 150.0, 40),
        m(9_000.0, 90.0, 10),
        m(12_000.0, 100.0, 8),
    ];
    let choice = choose(ThrottleBudget::Fraction(0.001), &measured, 2, None).unwrap();
    assert_eq!(choice.index, 1);
    assert!(!choice.met);
}

#[test]
fn the_candidates_hold_upstream_and_distinct_names() {
    let all = candidates();
    assert!(all.iter().any(|c| c.policy == Policy::Upstream));
    let mut names: Vec<_> = all.iter().map(|c| c.name).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), all.len());
}

#[test]
fn throttle_budget_is_read_named_in_errors_and_never_stops_the_function() {
    use crate::domain::settings::{tag, Settings};
    use std::collections::HashMap;
    let read = |value: &str| {
        let value = value.to_string();
        Settings::from_lookup(move |k| (k == "THROTTLE_BUDGET").then(|| value.clone()))
    };
    assert_eq!(
        read("0.002").unwrap().throttle_budget,
        ThrottleBudget::Fraction(0.002)
    );
    assert_eq!(read("").unwrap().throttle_budget, ThrottleBudget::Upstream);
    let err = read("5%").unwrap_err().to_string();
    assert!(
        err.contains("THROTTLE_BUDGET") && err.contains("\"5%\""),
        "{err}"
    );
    let tolerant =
        Settings::tolerant_from_lookup(|k| (k == "THROTTLE_BUDGET").then(|| "lots".to_string()));
    assert_eq!(tolerant.throttle_budget, ThrottleBudget::Upstream);
    assert!(tolerant
        .fallbacks
        .iter()
        .any(|f| f.variable == "THROTTLE_BUDGET"));
    // A stream's tag overrides the setting, and a bad tag names the stream and the tag.
    let settings = read("0.01").unwrap();
    let tags = HashMap::from([(tag::THROTTLE_BUDGET.to_string(), "upstream".to_string())]);
    assert_eq!(
        settings.budget_for_stream("s", &tags),
        Ok(ThrottleBudget::Upstream)
    );
    let bad = HashMap::from([(tag::THROTTLE_BUDGET.to_string(), "2".to_string())]);
    let err = settings
        .budget_for_stream("orders", &bad)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("orders") && err.contains(tag::THROTTLE_BUDGET),
        "{err}"
    );
}
