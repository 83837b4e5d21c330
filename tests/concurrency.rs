//! Two invocations for the same stream at once (the CLI racing the Lambda, or a Lambda without
//! its reserved concurrency of 1), in-process: the fake plays what moto does not, a reshard
//! keeps the stream UPDATING for a while and AWS refuses another UpdateShardCount meanwhile
//! with ResourceInUseException. Calls take network-like latency on tokio's paused clock, so
//! the two invocations interleave call by call.
//!
//! What must hold: at most one reshard reaches the stream, the count moves at most one step
//! of the 2x / half rule, the reshard history never under-counts (each reshard that happened
//! has an entry), and the alarms match the stream afterwards, at the latest after one
//! follow-up event.

mod common;

use chrono::{DateTime, Duration, Utc};
use common::*;
use kinesis_autoscaler::aws::fake::FakeAws;
use kinesis_autoscaler::domain::event::{AlarmPair, Direction};
use kinesis_autoscaler::domain::history::ReshardHistory;
use kinesis_autoscaler::domain::settings::{tag, Settings};
use kinesis_autoscaler::ops::autoscaler::Autoscaler;
use kinesis_autoscaler::ops::outcome::AlarmOutcome;

const START: u32 = 4;
const STREAM: &str = "orders";
/// How long the fake keeps a resharded stream UPDATING.
const UPDATING: Duration = Duration::seconds(30);

fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000, 0).expect("a valid time")
}

struct Race {
    aws: FakeAws,
    pair: AlarmPair,
    first: Autoscaler<FakeAws>,
    second: Autoscaler<FakeAws>,
}

/// Two autoscalers (two Lambda instances) on one account; both alarms went to ALARM a
/// minute ago.
async fn race_setup() -> Race {
    let aws = FakeAws::new(t0())
        .with_reshard_delay(UPDATING)
        .with_latency(LATENCY);
    aws.create_stream(STREAM, START);
    let settings = Settings::default();
    let pair = wire(&aws, &settings, STREAM, START).await;
    aws.advance(Duration::minutes(10));
    // Both fired: whatever the race, neither may be left in ALARM, where it would never
    // notify again.
    aws.set_state(&pair.name(Direction::Up), "ALARM");
    aws.set_state(&pair.name(Direction::Down), "ALARM");
    let instance = |settings: Settings| Autoscaler::new(aws.clone(), settings, "race");
    Race {
        first: instance(settings.clone()),
        second: instance(settings),
        aws,
        pair,
    }
}

impl Race {
    fn event(&self, direction: Direction, changed: DateTime<Utc>) -> String {
        alarm_event(&self.pair.name(direction), STREAM, "ALARM", changed)
    }

    /// Both events at once, the second arriving `lag` after the first.
    async fn run(
        &self,
        first: &str,
        second: &str,
        lag: std::time::Duration,
    ) -> (AlarmOutcome, AlarmOutcome) {
        let (a, b) = tokio::join!(handle(&self.first, first), async {
            tokio::time::sleep(lag).await;
            handle(&self.second, second).await
        });
        (a.alarms[0].clone(), b.alarms[0].clone())
    }

    fn reshards(&self) -> usize {
        self.aws.stream(STREAM).map_or(0, |s| s.reshards.len())
    }

    async fn history_len(&self) -> usize {
        stream_tags(&self.aws, STREAM)
            .await
            .get(tag::RESHARD_HISTORY)
            .map(|v| {
                ReshardHistory::parse(STREAM, v)
                    .expect("a history we wrote")
                    .times()
                    .len()
            })
            .unwrap_or(0)
    }

    /// `Ok(n)` when both alarms are written for the stream's `n` open shards.
    async fn alarms_match(&self) -> Result<u32, String> {
        let open = open_shards(&self.aws, STREAM).await;
        for direction in [Direction::Up, Direction::Down] {
            let found = alarm(&self.aws, &self.pair.name(direction))
                .await
                .spec
                .shard_count();
            if found != Some(open) {
                return Err(format!(
                    "{direction} alarm has s1={found:?}, the stream {open} open shards"
                ));
            }
        }
        Ok(open)
    }

    /// The invariants, then convergence (with a follow-up event if the race left stale alarms).
    async fn check(&self, label: &str, a: &AlarmOutcome, b: &AlarmOutcome, allowed: &[u32]) {
        self.aws.advance(UPDATING);
        let reshards = self.reshards();
        let open = open_shards(&self.aws, STREAM).await;
        let history = self.history_len().await;
        println!(
            "{label}: first {:?} {:?}->{:?} ({}); second {:?} {:?}->{:?} ({}); {reshards} reshard(s), {open} open shards, {history} history entries",
            a.outcome, a.from, a.to, a.reason, b.outcome, b.from, b.to, b.reason
        );
        assert!(
            reshards <= 1,
            "{label}: {reshards} reshards reached the stream"
        );
        assert!(
            allowed.contains(&open),
            "{label}: {open} shards, expected one of {allowed:?}"
        );
        assert!(
            history >= reshards,
            "{label}: {history} history entries for {reshards} reshard(s)"
        );
        for (alarm_name, outcome) in [(&a.alarm, a), (&b.alarm, b)] {
            let name = alarm_name.as_deref().expect("the alarm's name");
            let state = alarm(&self.aws, name).await.state;
            assert_ne!(state, "ALARM", "{label}: {name} left in ALARM: {outcome:?}");
        }
        if let Err(stale) = self.alarms_match().await {
            self.aws.advance(Duration::minutes(5));
            let next = handle(&self.first, &self.event(Direction::Up, self.aws.now())).await;
            let fixed = self.alarms_match().await;
            assert!(
                fixed.is_ok(),
                "{label}: stale ({stale}) and still after a follow-up {:?}: {fixed:?}",
                next.alarms[0]
            );
        }
    }
}

/// Each call's way to AWS, on tokio's paused clock.
const LATENCY: std::time::Duration = std::time::Duration::from_millis(10);

/// The second invocation arrives with the first, or lags it by part of a call (both gather
/// before either records its reshard: the two reach UpdateShardCount, one meets the other's
/// UPDATING window), or by whole rounds of calls (its gather sees the first's record).
fn lags() -> impl Iterator<Item = std::time::Duration> {
    [0, 1, 3, 5, 7, 9, 10, 15, 20, 30, 40, 50, 60]
        .map(std::time::Duration::from_millis)
        .into_iter()
}

#[tokio::test(start_paused = true)]
async fn a_duplicate_delivery_handled_twice_at_once_scales_once() {
    for lag in lags() {
        let race = race_setup().await;
        let changed = race.aws.now() - Duration::minutes(1);
        let event = race.event(Direction::Up, changed);

        let (a, b) = race.run(&event, &event, lag).await;

        race.check(
            &format!("up+up, same message, lag {lag:?}"),
            &a,
            &b,
            &[START, START * 2],
        )
        .await;
    }
}

#[tokio::test(start_paused = true)]
async fn two_scale_ups_at_once_scale_once() {
    for lag in lags() {
        let race = race_setup().await;
        let earlier = race.event(Direction::Up, race.aws.now() - Duration::seconds(90));
        let later = race.event(Direction::Up, race.aws.now() - Duration::seconds(60));

        let (a, b) = race.run(&earlier, &later, lag).await;

        race.check(
            &format!("up+up, different times, lag {lag:?}"),
            &a,
            &b,
            &[START, START * 2],
        )
        .await;
    }
}

#[tokio::test(start_paused = true)]
async fn a_scale_up_racing_a_scale_down_moves_one_step() {
    for lag in lags() {
        let race = race_setup().await;
        let changed = race.aws.now() - Duration::minutes(1);
        let up = race.event(Direction::Up, changed);
        let down = race.event(Direction::Down, changed);

        let (a, b) = race.run(&up, &down, lag).await;

        race.check(
            &format!("up+down, lag {lag:?}"),
            &a,
            &b,
            &[START / 2, START, START * 2],
        )
        .await;
    }
}
