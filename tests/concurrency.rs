//! Two invocations for the same stream at once (the CLI racing the Lambda, or a Lambda without
//! its reserved concurrency of 1), against moto.
//!
//! moto finishes a reshard instantly, so the second `UpdateShardCount` does not meet the
//! ResourceInUseException AWS would answer while the first reshard runs; these tests document
//! what happens here and hold the invariants that must survive either way: never more than one
//! step of the 2x / half rule from the starting count, and alarms that match the stream
//! afterwards, at the latest after one follow-up event.
//!
//! Observed on moto 5.2.5: both invocations report `Scaled` and both call UpdateShardCount;
//! up+up ends at 8 (the second call is a no-op), up+down ends at whichever ran last (4 -> 8 -> 2,
//! which AWS would refuse as more than halving), the alarms always match, and the history tag
//! holds one entry for two reshards: both invocations wrote "previous + now" over each other.
//! On AWS the loser gets ResourceInUseException and rolls the tag back to the previous value,
//! which can erase the winner's entry; the reserved concurrency of 1 is what prevents this.

mod common;

use chrono::Duration;
use common::*;
use kinesis_autoscaler::aws::AwsClients;
use kinesis_autoscaler::event::{AlarmPair, Direction};
use kinesis_autoscaler::handler::{AlarmOutcome, Autoscaler};
use kinesis_autoscaler::history::ReshardHistory;
use kinesis_autoscaler::settings::{tag, Settings};

const START: u32 = 4;

struct Race {
    aws: AwsClients,
    stream: String,
    pair: AlarmPair,
    first: Autoscaler,
    second: Autoscaler,
}

async fn race_setup(prefix: &str) -> Race {
    let aws = clients().await;
    let settings = Settings::default();
    let stream = unique(prefix);
    create_stream(&aws, &stream, START as i32).await;
    let pair = wire(&aws, &settings, &stream, START).await;
    Race {
        first: autoscaler(settings.clone()).await,
        second: autoscaler(settings.clone()).await,
        aws,
        stream,
        pair,
    }
}

impl Race {
    async fn run(&self, first: &str, second: &str) -> (AlarmOutcome, AlarmOutcome) {
        let (a, b) = tokio::join!(handle(&self.first, first), handle(&self.second, second));
        (a.alarms[0].clone(), b.alarms[0].clone())
    }

    /// `Ok(n)` when both alarms are written for the stream's `n` open shards.
    async fn alarms_match(&self) -> Result<u32, String> {
        let open = open_shards(&self.aws, &self.stream).await;
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

    async fn history_len(&self) -> usize {
        stream_tags(&self.aws, &self.stream)
            .await
            .get(tag::RESHARD_HISTORY)
            .map(|v| {
                ReshardHistory::parse(&self.stream, v)
                    .unwrap()
                    .times()
                    .len()
            })
            .unwrap_or(0)
    }

    /// If the race left the alarms stale, one follow-up scale-up event must fix them.
    async fn converge(&self, label: &str) -> String {
        match self.alarms_match().await {
            Ok(n) => format!("alarms match {n} shards"),
            Err(stale) => {
                let before = open_shards(&self.aws, &self.stream).await;
                let next = handle(
                    &self.first,
                    &alarm_event(
                        &self.pair.name(Direction::Up),
                        &self.stream,
                        "ALARM",
                        just_now(),
                    ),
                )
                .await;
                let after = self
                    .alarms_match()
                    .await
                    .unwrap_or_else(|e| panic!("{label}: still stale after a follow-up: {e}"));
                assert!(
                    after == before || after == before * 2,
                    "{label}: follow-up went {before} -> {after}"
                );
                format!(
                    "stale ({stale}); a follow-up event {:?} fixed them at {after} shards",
                    next.alarms[0].outcome
                )
            }
        }
    }
}

fn describe(label: &str, a: &AlarmOutcome, b: &AlarmOutcome, open: u32, history: usize) {
    println!(
        "{label}: first {:?} {:?}->{:?} ({}), second {:?} {:?}->{:?} ({}); {open} open shards, {history} history entries",
        a.outcome, a.from, a.to, a.reason, b.outcome, b.from, b.to, b.reason
    );
}

#[tokio::test]
async fn a_duplicate_delivery_handled_twice_at_once_scales_at_most_once() {
    let race = race_setup("race-dup").await;
    let event = alarm_event(
        &race.pair.name(Direction::Up),
        &race.stream,
        "ALARM",
        just_now(),
    );

    let (a, b) = race.run(&event, &event).await;

    let open = open_shards(&race.aws, &race.stream).await;
    describe(
        "up+up, same message",
        &a,
        &b,
        open,
        race.history_len().await,
    );
    assert!(open == START || open == START * 2, "{open} shards");
    let converged = race.converge("up+up, same message").await;
    println!("up+up, same message: {converged}");
    let open = open_shards(&race.aws, &race.stream).await;
    assert!(open <= START * 4, "{open} shards");
}

#[tokio::test]
async fn two_scale_ups_at_once_scale_at_most_once() {
    let race = race_setup("race-upup").await;
    let up = race.pair.name(Direction::Up);
    let earlier = alarm_event(
        &up,
        &race.stream,
        "ALARM",
        just_now() - Duration::seconds(30),
    );
    let later = alarm_event(&up, &race.stream, "ALARM", just_now());

    let (a, b) = race.run(&earlier, &later).await;

    let open = open_shards(&race.aws, &race.stream).await;
    describe(
        "up+up, different times",
        &a,
        &b,
        open,
        race.history_len().await,
    );
    assert!(open == START || open == START * 2, "{open} shards");
    println!(
        "up+up, different times: {}",
        race.converge("up+up, different times").await
    );
}

#[tokio::test]
async fn a_scale_up_racing_a_scale_down_moves_one_step() {
    let race = race_setup("race-updown").await;
    let up = alarm_event(
        &race.pair.name(Direction::Up),
        &race.stream,
        "ALARM",
        just_now(),
    );
    let down = alarm_event(
        &race.pair.name(Direction::Down),
        &race.stream,
        "ALARM",
        just_now(),
    );

    let (a, b) = race.run(&up, &down).await;

    let open = open_shards(&race.aws, &race.stream).await;
    describe("up+down", &a, &b, open, race.history_len().await);
    assert!(
        [START / 2, START, START * 2].contains(&open),
        "{open} shards, expected one of {}, {START}, {}",
        START / 2,
        START * 2
    );
    println!("up+down: {}", race.converge("up+down").await);
}
