//! Decisions on alarm events: the upstream rules, the budget and the sized targets.

use super::*;
use chrono::Duration;

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn now() -> DateTime<Utc> {
    at("2026-11-23T12:00:00Z")
}

fn limits() -> StreamSettings {
    StreamSettings {
        min_shards: 1,
        max_shards: 10_000,
        consumer_function: None,
        lambdas_per_shard: 1,
    }
}

fn trigger(direction: Direction) -> Trigger {
    let pair = AlarmPair::new("orders");
    Trigger {
        alarm_name: pair.name(direction),
        pair,
        direction,
        stream: "orders".into(),
        state_change_time: now() - Duration::minutes(1),
    }
}

fn observed(shards: u32) -> Observed {
    Observed {
        stream: StreamState {
            name: "orders".into(),
            status: StreamStatus::Active,
            mode: StreamMode::Provisioned,
            open_shards: shards,
            settings: limits(),
            history: ReshardHistory::default(),
        },
        alarms: AlarmsState::default(),
        account_headroom: Some(500),
    }
}

fn scale(decision: Decision) -> ScalePlan {
    match decision {
        Decision::Scale(plan) => plan,
        other => panic!("expected a reshard, got {other:?}"),
    }
}

fn refused(decision: Decision) -> (Refusal, Option<AlarmReset>) {
    match decision {
        Decision::Refuse { refusal, reset, .. } => (refusal, reset),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn up_doubles_down_halves_rounding_up_never_below_one() {
    for (from, up, down) in [
        (1, 2, 1),
        (2, 4, 1),
        (3, 6, 2),
        (5, 10, 3),
        (8, 16, 4),
        (9999, 10_000, 5000),
    ] {
        assert_eq!(
            target_shards(Direction::Up, from, &limits(), None),
            up,
            "up from {from}"
        );
        assert_eq!(
            target_shards(Direction::Down, from, &limits(), None),
            down,
            "down from {from}"
        );
    }
    assert_eq!(
        target_shards(Direction::Up, 10_000, &limits(), None),
        10_000
    );
}

#[test]
fn targets_respect_stream_bounds_and_account_headroom() {
    let bounded = StreamSettings {
        min_shards: 3,
        max_shards: 12,
        ..limits()
    };
    assert_eq!(target_shards(Direction::Up, 8, &bounded, None), 12);
    assert_eq!(target_shards(Direction::Down, 4, &bounded, None), 3);
    assert_eq!(target_shards(Direction::Up, 8, &limits(), Some(3)), 11);
    assert_eq!(target_shards(Direction::Up, 8, &limits(), Some(0)), 8);
    // Above the maximum already (set by hand): down still only halves.
    assert_eq!(target_shards(Direction::Down, 40, &bounded, None), 20);
}

#[test]
fn a_scale_up_plans_reshard_alarms_history_and_concurrency() {
    let mut state = observed(4);
    state.stream.settings.consumer_function = Some("orders-consumer".into());
    state.stream.settings.lambdas_per_shard = 5;
    state.alarms.kept_up.alarm_actions = vec!["arn:aws:sns:us-east-1:123456789012:own".into()];
    let plan = scale(plan(
        &trigger(Direction::Up),
        &state,
        &Settings::default(),
        now(),
    ));
    assert_eq!((plan.from, plan.to), (4, 8));
    assert_eq!(plan.alarms.scale_up.shard_count(), Some(8));
    assert_eq!(plan.alarms.scale_down.shard_count(), Some(8));
    assert_eq!(plan.alarms.scale_down.threshold, 0.25);
    assert_eq!(
        plan.alarms.scale_up.alarm_actions,
        ["arn:aws:sns:us-east-1:123456789012:own"],
        "the alarm's own actions, nothing added"
    );
    assert!(plan.alarms.scale_down.alarm_actions.is_empty());
    assert_eq!(plan.history.last(), Some(now()));
    assert_eq!(
        plan.concurrency,
        Some(ConcurrencyChange {
            function: "orders-consumer".into(),
            reserved: 40
        })
    );
}

#[test]
fn scaling_down_to_the_minimum_disarms_scale_down() {
    let plan = scale(plan(
        &trigger(Direction::Down),
        &observed(2),
        &Settings::default(),
        now(),
    ));
    assert_eq!(plan.to, 1);
    assert_eq!(plan.alarms.scale_down.threshold, -1.0);
    assert!(!plan.alarms.scale_up.is_disarmed());
}

#[test]
fn at_a_bound_the_event_is_refused_and_alarms_realigned() {
    let decision = plan(
        &trigger(Direction::Down),
        &observed(1),
        &Settings::default(),
        now(),
    );
    let Decision::Refuse {
        refusal,
        reset,
        realign,
    } = decision
    else {
        panic!()
    };
    assert_eq!(
        refusal,
        Refusal::AtBound {
            bound: "minimum",
            shards: 1
        }
    );
    assert_eq!(reset.unwrap().alarm, "orders-scale-down");
    assert!(realign.unwrap().scale_down.is_disarmed());

    let mut state = observed(16);
    state.stream.settings.max_shards = 16;
    let (refusal, _) = refused(plan(
        &trigger(Direction::Up),
        &state,
        &Settings::default(),
        now(),
    ));
    assert_eq!(
        refusal,
        Refusal::AtBound {
            bound: "maximum",
            shards: 16
        }
    );
}

#[test]
fn stale_and_duplicate_events_are_refused_to_insufficient_data() {
    let mut state = observed(4);
    state.alarms.last_scaled = Some(now() - Duration::minutes(1));
    let (refusal, reset) = refused(plan(
        &trigger(Direction::Up),
        &state,
        &Settings::default(),
        now(),
    ));
    assert!(matches!(refusal, Refusal::Stale { .. }), "{refusal:?}");
    assert_eq!(reset.unwrap().state, ResetState::InsufficientData);

    // The history's mark (written before the reshard) catches a duplicate delivery even
    // when the alarm tags were never written.
    let mut state = observed(8);
    state.stream.history = ReshardHistory::new(vec![now() - Duration::seconds(30)]);
    let (refusal, _) = refused(plan(
        &trigger(Direction::Up),
        &state,
        &Settings::default(),
        now(),
    ));
    assert!(matches!(refusal, Refusal::Stale { .. }));

    // An event after the last reshard goes ahead.
    let mut state = observed(8);
    state.alarms.last_scaled = Some(now() - Duration::minutes(2));
    assert!(matches!(
        plan(&trigger(Direction::Up), &state, &Settings::default(), now()),
        Decision::Scale(_)
    ));
}

#[test]
fn on_demand_streams_are_never_touched() {
    let mut state = observed(4);
    state.stream.mode = StreamMode::OnDemand;
    assert_eq!(
        refused(plan(
            &trigger(Direction::Up),
            &state,
            &Settings::default(),
            now()
        )),
        (Refusal::OnDemand, None)
    );
}

#[test]
fn an_updating_stream_resets_the_alarm_to_ok() {
    let mut state = observed(4);
    state.stream.status = StreamStatus::Updating;
    let (refusal, reset) = refused(plan(
        &trigger(Direction::Up),
        &state,
        &Settings::default(),
        now(),
    ));
    assert_eq!(refusal, Refusal::NotActive(StreamStatus::Updating));
    assert_eq!(reset.unwrap().state, ResetState::Ok);
}

#[test]
fn the_daily_limit_is_enforced_with_a_reserve_for_scale_ups() {
    let history = |n: i64| {
        ReshardHistory::new(
            (0..n)
                .map(|i| now() - Duration::hours(23) + Duration::minutes(i))
                .collect(),
        )
    };
    let settings = Settings::default();
    let with = |n| {
        let mut s = observed(8);
        s.stream.history = history(n);
        s
    };
    // 7 used: a scale-down would leave 2, the reserve: allowed. 8 used: refused.
    assert!(matches!(
        plan(&trigger(Direction::Down), &with(7), &settings, now()),
        Decision::Scale(_)
    ));
    let (r, reset) = refused(plan(&trigger(Direction::Down), &with(8), &settings, now()));
    assert_eq!(
        r,
        Refusal::ReservedForScaleUp {
            used: 8,
            limit: 10,
            reserve: 2
        }
    );
    assert_eq!(reset.unwrap().state, ResetState::Ok);
    // Scale-ups may use the reserve, but never an 11th reshard.
    assert!(matches!(
        plan(&trigger(Direction::Up), &with(9), &settings, now()),
        Decision::Scale(_)
    ));
    assert_eq!(
        refused(plan(&trigger(Direction::Up), &with(10), &settings, now())).0,
        Refusal::DailyLimit {
            used: 10,
            limit: 10
        }
    );
    // Entries older than 24 h no longer count.
    assert!(matches!(
        plan(
            &trigger(Direction::Up),
            &with(10),
            &settings,
            now() + Duration::hours(2)
        ),
        Decision::Scale(_)
    ));
}

#[test]
fn no_account_headroom_is_refused_and_needs_attention() {
    let mut state = observed(4);
    state.account_headroom = Some(0);
    let (r, _) = refused(plan(
        &trigger(Direction::Up),
        &state,
        &Settings::default(),
        now(),
    ));
    assert_eq!(r, Refusal::NoAccountHeadroom);
    assert!(r.needs_attention());
}

#[test]
fn triage_ignores_other_states_and_names() {
    let notification = |name: &str, state: &str| AlarmNotification {
        message_id: "m".into(),
        topic_arn: None,
        alarm_name: name.into(),
        alarm_arn: format!("arn:aws:cloudwatch:us-east-1:123456789012:alarm:{name}"),
        new_state: state.into(),
        state_change_time: now(),
        stream: "orders".into(),
    };
    assert_eq!(
        triage(&notification("orders-scale-up", "OK"), &Settings::default()),
        Err(Ignored::NotInAlarm("OK".into()))
    );
    assert_eq!(
        triage(&notification("orders-high", "ALARM"), &Settings::default()),
        Err(Ignored::NotAScalingAlarm)
    );
    let t = triage(
        &notification("orders-scale-down", "ALARM"),
        &Settings::default(),
    )
    .unwrap();
    let scoped = Settings {
        managed_stream_prefix: "prod-".into(),
        ..Settings::default()
    };
    assert!(matches!(
        triage(&notification("orders-scale-up", "ALARM"), &scoped),
        Err(Ignored::NotManaged(..))
    ));
    assert_eq!(
        (t.direction, t.partner_alarm()),
        (Direction::Down, "orders-scale-up".to_string())
    );
}

fn usage_of(needs: &[f64]) -> Usage<'static> {
    Usage {
        period_secs: 300,
        start: now() - Duration::minutes(5 * needs.len() as i64),
        needs: std::borrow::Cow::Owned(needs.iter().map(|n| Some(*n)).collect()),
        lag_mins: std::borrow::Cow::Borrowed(&[]),
    }
}

#[test]
fn sized_alarm_actions_go_to_the_measured_need_or_refuse() {
    let settings = Settings::default();
    // Scale-up: the last two periods at 3.9 and 4.0 of 4 shards: to 6, not 8.
    let mut needs = vec![2.0; 20];
    needs.extend([3.9, 4.0]);
    let usage = usage_of(&needs);
    let p = scale(plan_sized(
        &trigger(Direction::Up),
        &observed(4),
        Some(&usage),
        &settings,
        now(),
    ));
    assert_eq!((p.from, p.to), (4, 6));
    assert_eq!(p.alarms.scale_up.shard_count(), Some(6));
    // Scale-down: an hour at 1.0 of 8 shards: halving is the limit, to 4; from 6, to 2
    // is beyond half, so 3.
    let quiet = usage_of(&[1.0; 14]);
    let down = |n| {
        plan_sized(
            &trigger(Direction::Down),
            &observed(n),
            Some(&quiet),
            &settings,
            now(),
        )
    };
    assert_eq!(scale(down(8)).to, 4);
    assert_eq!(scale(down(6)).to, 3);
    // The load fits: refused, and the alarm must see a fresh window before firing again.
    let (refusal, reset) = refused(down(2));
    assert!(matches!(refusal, Refusal::Sized { .. }), "{refusal:?}");
    assert_eq!(reset.unwrap().state, ResetState::InsufficientData);
}

#[test]
fn a_sized_scale_down_alarm_action_keeps_the_lag_guard() {
    let settings = Settings::default();
    // An hour at 1.0 of 8 shards, consumers 40 minutes behind (the limit is 30).
    let behind = Usage {
        lag_mins: std::borrow::Cow::Owned(vec![Some(40.0); 14]),
        ..usage_of(&[1.0; 14])
    };
    let (refusal, reset) = refused(plan_sized(
        &trigger(Direction::Down),
        &observed(8),
        Some(&behind),
        &settings,
        now(),
    ));
    assert!(
        matches!(
            refusal,
            Refusal::Sized {
                hold: sizing::Hold::ConsumersBehind { .. },
                ..
            }
        ),
        "{refusal:?}"
    );
    assert_eq!(reset.unwrap().state, ResetState::InsufficientData);
}

#[test]
fn without_metrics_or_with_the_upstream_policy_it_doubles_and_halves() {
    let settings = Settings::default();
    let quiet = usage_of(&[1.0; 14]);
    // No datapoints read (GetMetricData denied): doubling.
    assert_eq!(
        scale(plan_sized(
            &trigger(Direction::Up),
            &observed(4),
            None,
            &settings,
            now()
        ))
        .to,
        8
    );
    // Datapoints, but none recent: doubling too (the alarm saw the load).
    let stale = Usage {
        start: now() - Duration::hours(3),
        ..quiet.clone()
    };
    assert_eq!(
        scale(plan_sized(
            &trigger(Direction::Up),
            &observed(4),
            Some(&stale),
            &settings,
            now()
        ))
        .to,
        8
    );
    let upstream = Settings {
        scaling_policy: ScalingPolicy::Upstream,
        ..Settings::default()
    };
    assert_eq!(
        scale(plan_sized(
            &trigger(Direction::Down),
            &observed(8),
            Some(&quiet),
            &upstream,
            now()
        ))
        .to,
        4
    );
    assert_eq!(
        scale(plan_sized(
            &trigger(Direction::Down),
            &observed(6),
            Some(&quiet),
            &upstream,
            now()
        ))
        .to,
        3
    );
}
