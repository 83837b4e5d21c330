//! Two invocations for the same stream at once (the CLI racing the Lambda, or a Lambda without
//! its reserved concurrency of 1), through `scripts/aws_proxy.py` playing what moto does not:
//! a reshard keeps the stream UPDATING for a while, and AWS refuses another UpdateShardCount
//! meanwhile with ResourceInUseException.
//!
//! What must hold: at most one reshard reaches the stream, the count moves at most one step
//! of the 2x / half rule, the reshard history never under-counts (each reshard that happened
//! has an entry), and the alarms match the stream afterwards, at the latest after one
//! follow-up event.

mod common;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use chrono::Duration;
use common::proxy::Proxy;
use common::*;
use kinesis_autoscaler::aws::AwsClients;
use kinesis_autoscaler::domain::event::{AlarmPair, Direction};
use kinesis_autoscaler::domain::history::ReshardHistory;
use kinesis_autoscaler::domain::settings::{tag, Settings};
use kinesis_autoscaler::ops::scale::{AlarmOutcome, Autoscaler};

const START: u32 = 4;
/// How long the proxy keeps a resharded stream UPDATING.
const UPDATING_SECS: u64 = 1;

struct Race {
    aws: AwsClients,
    proxy: Proxy,
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
    let proxy = Proxy::start();
    let proxied = |settings: Settings| {
        let proxy = &proxy;
        async move {
            let retry = RetryConfig::standard().with_max_attempts(3);
            let aws = proxy.clients(retry, TimeoutConfig::disabled()).await;
            Autoscaler {
                aws,
                settings,
                function_name: "race".into(),
            }
        }
    };
    let first = proxied(settings.clone()).await;
    let second = proxied(settings).await;
    proxy.set_updating(UPDATING_SECS);
    Race {
        aws,
        proxy,
        stream,
        pair,
        first,
        second,
    }
}

impl Race {
    async fn run(&self, first: &str, second: &str) -> (AlarmOutcome, AlarmOutcome) {
        let (a, b) = tokio::join!(handle(&self.first, first), handle(&self.second, second));
        (a.alarms[0].clone(), b.alarms[0].clone())
    }

    /// UpdateShardCount calls that reached the stream.
    fn reshards(&self) -> usize {
        self.proxy
            .log()
            .iter()
            .filter(|e| e["action"] == "UpdateShardCount" && e["status"] == 200)
            .count()
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

    /// The invariants, then convergence (with a follow-up event if the race left stale alarms).
    async fn check(&self, label: &str, a: &AlarmOutcome, b: &AlarmOutcome, allowed: &[u32]) {
        let reshards = self.reshards();
        let open = open_shards(&self.aws, &self.stream).await;
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
        if let Err(stale) = self.alarms_match().await {
            tokio::time::sleep(std::time::Duration::from_millis(UPDATING_SECS * 1000 + 200)).await;
            let up = alarm_event(
                &self.pair.name(Direction::Up),
                &self.stream,
                "ALARM",
                just_now(),
            );
            let next = handle(&self.first, &up).await;
            let fixed = self.alarms_match().await;
            assert!(
                fixed.is_ok(),
                "{label}: stale ({stale}) and still after a follow-up {:?}: {fixed:?}",
                next.alarms[0]
            );
        }
    }
}

#[tokio::test]
async fn a_duplicate_delivery_handled_twice_at_once_scales_once() {
    let race = race_setup("race-dup").await;
    let event = alarm_event(
        &race.pair.name(Direction::Up),
        &race.stream,
        "ALARM",
        just_now(),
    );

    let (a, b) = race.run(&event, &event).await;

    race.check("up+up, same message", &a, &b, &[START, START * 2])
        .await;
}

#[tokio::test]
async fn two_scale_ups_at_once_scale_once() {
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

    race.check("up+up, different times", &a, &b, &[START, START * 2])
        .await;
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

    race.check("up+down", &a, &b, &[START / 2, START, START * 2])
        .await;
}
