//! The fault matrix: every AWS call of the scale-up and the scale-down sequence, times every
//! fault the loopback proxy (`scripts/aws_proxy.py`) can inject, against moto.
//!
//! Each cell: a fresh 4-shard stream with its wired alarm pair, the triggering alarm put in
//! ALARM, one fault on the 1st occurrence of one action, one ALARM event through the proxy.
//! Then the invariants: the shard count never goes beyond the 2x / half rule, at most one
//! reshard per event, the error metric exactly for faults the SDK's retry did not absorb, the
//! triggering alarm left able to fire again, and the alarms' math matching the stream's open
//! shard count (and the consumer's concurrency following it), either right away, after the
//! next event, or, where the damage is visible ("needs reconcile"), after one reconcile. The
//! matrix is printed (`--nocapture`) and written to `target/fault-matrix.txt`.

mod common;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use common::proxy::Proxy;
use common::*;
use kinesis_autoscaler::aws::{AwsClients, AwsPort};
use kinesis_autoscaler::domain::alarms::{self, AlarmTarget, KeptFields};
use kinesis_autoscaler::domain::event::{AlarmPair, Direction};
use kinesis_autoscaler::domain::settings::{tag, Settings};
use kinesis_autoscaler::ops::reconcile;
use kinesis_autoscaler::ops::scale::{Autoscaler, InvocationReport, Outcome};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const KINDS: [&str; 7] = [
    "throttle",
    "http500",
    "timeout",
    "drop_response",
    "LimitExceeded",
    "ResourceInUse",
    "AccessDenied",
];

/// The calls of a scale event in the order the handler makes them (see `src/handler.rs`).
const STEPS: [&str; 11] = [
    "DescribeAlarms",
    "ListTagsForResource",
    "DescribeStreamSummary",
    "ListTagsForStream",
    "DescribeLimits",
    "AddTagsToStream",
    "UpdateShardCount",
    "PutMetricAlarm",
    "PutFunctionConcurrency",
    "SetAlarmState",
    "TagResource",
];

const START_SHARDS: u32 = 4;

/// What AWS does to a retried UpdateShardCount whose first response was lost: the first
/// attempt started the reshard, so the retry finds the stream UPDATING.
const DROP_THEN_BUSY: &str = "drop_response, retry ResourceInUse";

// ---- the proxy ------------------------------------------------------------------------------

/// The autoscaler's clients, pointed at the proxy: 3 attempts with a tiny backoff and a 1 s
/// attempt time-out (the proxy holds a "timeout" call for 2 s), like
/// `AwsClients::load_with_attempt_timeout` but without touching `AWS_ENDPOINT_URL`.
async fn proxied_clients(proxy: &Proxy) -> AwsClients {
    let retry = RetryConfig::standard()
        .with_max_attempts(3)
        .with_initial_backoff(Duration::from_millis(5))
        .with_max_backoff(Duration::from_millis(20));
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(1))
        .operation_attempt_timeout(Duration::from_secs(1))
        .build();
    proxy.clients(retry, timeouts).await
}

/// Faults for the next event: no latency, held calls let go after 2 s.
fn inject(proxy: &Proxy, faults: Value) {
    proxy.configure(0, faults, 2);
}

// ---- one cell ------------------------------------------------------------------------------

/// Whether the standard retry absorbs `kind` on `action`: transient failures (except on
/// UpdateShardCount, see `aws::update_shard_count`); the
/// proxy's LimitExceeded is a throttling code for Kinesis (`LimitExceededException`) and
/// Lambda (`TooManyRequestsException`) but not for CloudWatch (`LimitExceeded`).
fn retried(action: &str, kind: &str) -> bool {
    match kind {
        DROP_THEN_BUSY => false,
        // A reshard that may have started is not retried: only throttling, a sure refusal.
        "http500" | "timeout" | "drop_response" if action == "UpdateShardCount" => false,
        "throttle" | "http500" | "timeout" | "drop_response" => true,
        "LimitExceeded" => !is_cloudwatch(action),
        _ => false,
    }
}

fn is_cloudwatch(action: &str) -> bool {
    matches!(
        action,
        "DescribeAlarms"
            | "ListTagsForResource"
            | "PutMetricAlarm"
            | "SetAlarmState"
            | "TagResource"
    )
}

/// A lost UpdateShardCount answer whose reshard happened: the handler looks at the stream,
/// sees the reshard, and carries on as if the answer had arrived.
fn recovered(action: &str, kind: &str) -> bool {
    action == "UpdateShardCount" && matches!(kind, "drop_response" | DROP_THEN_BUSY)
}

/// Faults that stop or damage an event and so must raise the error metric. A busy stream
/// (ResourceInUse on UpdateShardCount) is a refusal: the alarm fires again, no metric.
fn expects_metric(action: &str, kind: &str) -> bool {
    let busy = kind == "ResourceInUse" && action == "UpdateShardCount";
    !(retried(action, kind) || busy || recovered(action, kind))
}

fn target(direction: Direction, from: u32) -> u32 {
    match direction {
        Direction::Up => from * 2,
        Direction::Down => from.div_ceil(2),
    }
}

/// Both alarms written for `shards`: `s1` and the thresholds (disarming included).
async fn alarms_match(
    aws: &AwsClients,
    settings: &Settings,
    pair: &AlarmPair,
    stream: &str,
    shards: u32,
) -> Result<(), String> {
    let expected = alarms::build_pair(
        settings,
        &AlarmTarget {
            pair,
            stream,
            shards,
            min_shards: 1,
            max_shards: 10_000,
        },
        None,
        &KeptFields::default(),
        &KeptFields::default(),
    );
    for spec in [&expected.scale_up, &expected.scale_down] {
        let actual = alarm(aws, &spec.name).await.spec;
        if actual.shard_count() != Some(shards) || actual.threshold != spec.threshold {
            return Err(format!(
                "{}: s1={:?} threshold={} but the stream has {shards} open shards (threshold {})",
                spec.name,
                actual.shard_count(),
                actual.threshold,
                spec.threshold
            ));
        }
    }
    Ok(())
}

struct Cell {
    summary: String,
    failures: Vec<String>,
}

struct Bench<'a> {
    direct: &'a AwsClients,
    proxy: &'a Proxy,
    autoscaler: &'a Autoscaler,
    settings: &'a Settings,
    consumer: &'a str,
}

impl Bench<'_> {
    async fn run_cell(&self, direction: Direction, action: &str, kind: &str) -> Cell {
        let faults = if kind == DROP_THEN_BUSY {
            json!([
                {"action": action, "nth": 1, "kind": "drop_response"},
                {"action": action, "nth": 2, "kind": "ResourceInUse"},
            ])
        } else {
            json!([{"action": action, "nth": 1, "kind": kind}])
        };
        let aws = self.direct;
        let mut failures = Vec::new();
        let stream = unique(&format!("f{direction}-{}", action.to_lowercase()));
        create_stream(aws, &stream, START_SHARDS as i32).await;
        tag_stream(aws, &stream, tag::CONSUMER_FUNCTION, self.consumer).await;
        let pair = wire(aws, self.settings, &stream, START_SHARDS).await;
        let trigger = pair.name(direction);
        aws.set_alarm_state(&trigger, "ALARM", "fault matrix: the alarm fired")
            .await
            .expect("SetAlarmState ALARM");
        let to = target(direction, START_SHARDS);

        inject(self.proxy, faults);
        let began = Instant::now();
        let report = handle(
            self.autoscaler,
            &alarm_event(&trigger, &stream, "ALARM", just_now()),
        )
        .await;
        let log = self.proxy.log();
        inject(self.proxy, json!([]));

        let outcome = &report.alarms[0];
        // A held ("timeout") call is logged only when the proxy lets go of it, after the
        // client gave up; the time the event took shows it instead.
        let injected = if kind == DROP_THEN_BUSY {
            "drop_response"
        } else {
            kind
        };
        let hit = log
            .iter()
            .any(|e| e["action"] == action && e["fault"] == injected)
            || (kind == "timeout" && began.elapsed() >= Duration::from_millis(900));
        if !hit {
            failures.push(format!("the fault was never injected: log {log:?}"));
        }
        let after = open_shards(aws, &stream).await;
        // (a) never beyond the 2x / half rule.
        if after != START_SHARDS && after != to {
            failures.push(format!(
                "{after} open shards, expected {START_SHARDS} or {to}"
            ));
        }
        // (b) at most one reshard: UpdateShardCount calls that reached moto.
        let reshards = log
            .iter()
            .filter(|e| {
                e["action"] == "UpdateShardCount"
                    && (e["status"] == 200 || e["fault"] == "drop_response")
            })
            .count();
        let reshard_statuses: Vec<String> = log
            .iter()
            .filter(|e| e["action"] == "UpdateShardCount")
            .map(|e| format!("{}/{}", e["status"], e["fault"]))
            .collect();
        if reshards > 1 {
            failures.push(format!(
                "{reshards} UpdateShardCount calls reached the stream: {reshard_statuses:?}"
            ));
        }
        // (c) the error metric exactly when the fault stopped or damaged the event.
        let metric = !report.metric_lines.is_empty();
        let want_metric = expects_metric(action, kind);
        if metric != want_metric {
            failures.push(format!(
                "error metric {metric}, expected {want_metric}: {outcome:?}"
            ));
        }
        if (retried(action, kind) || recovered(action, kind))
            && (outcome.outcome != Outcome::Scaled || !outcome.errors.is_empty())
        {
            failures.push(format!(
                "a retried fault should end in a clean reshard: {outcome:?}"
            ));
        }
        // (d) the triggering alarm can fire again, unless the damage is visible.
        let state = alarm(aws, &trigger).await.state;
        let clean = outcome.outcome == Outcome::Scaled && outcome.errors.is_empty();
        let damaged = !outcome.errors.is_empty() && metric;
        if state == "ALARM" && !damaged {
            failures.push(format!("alarm {trigger} left in ALARM: {outcome:?}"));
        }
        if clean && state != "INSUFFICIENT_DATA" {
            failures.push(format!("alarm {trigger} in {state} after a clean reshard"));
        }
        // (e) the alarms match the stream, now, or visibly need the reconcile.
        let aligned = alarms_match(aws, self.settings, &pair, &stream, after).await;
        // The consumer's concurrency follows a reshard (the function is shared by the cells,
        // so only a cell that resharded says anything about it).
        let reserved = aws.function_concurrency(self.consumer).await;
        let concurrency_stale =
            after != START_SHARDS && reserved.as_ref().ok() != Some(&Some(after));
        let needs_reconcile = aligned.is_err() || state == "ALARM" || concurrency_stale;
        if needs_reconcile && !damaged {
            failures.push(format!(
                "silent damage: alarms {aligned:?}, alarm state {state}, consumer {reserved:?}: {outcome:?}"
            ));
        }
        // Then the next event, faults cleared: the system is still operable.
        let mut healed = String::new();
        if !needs_reconcile && after == START_SHARDS {
            let next = handle(
                self.autoscaler,
                &alarm_event(&trigger, &stream, "ALARM", just_now()),
            )
            .await;
            let then = open_shards(aws, &stream).await;
            if next.alarms[0].outcome != Outcome::Scaled || then != to {
                failures.push(format!(
                    "the next event did not scale {START_SHARDS} -> {to}: {:?}",
                    next.alarms[0]
                ));
            }
            if let Err(e) = alarms_match(aws, self.settings, &pair, &stream, then).await {
                failures.push(format!("after the next event: {e}"));
            }
            healed = ", next ok".into();
        }

        // What the next event cannot repair, one reconcile (an hour later, as scheduled) does.
        if needs_reconcile {
            let later = chrono::Utc::now() + chrono::Duration::hours(1);
            let streams = std::slice::from_ref(&stream);
            match reconcile::reconcile(aws, self.settings, streams, false, later).await {
                Err(e) => failures.push(format!("reconcile failed: {e}")),
                Ok(report) if report.failed() > 0 => {
                    failures.push(format!("reconcile failed: {report:?}"))
                }
                Ok(_) => {
                    let open = open_shards(aws, &stream).await;
                    if let Err(e) = alarms_match(aws, self.settings, &pair, &stream, open).await {
                        failures.push(format!("after reconcile: {e}"));
                    }
                    let state = alarm(aws, &trigger).await.state;
                    if state == "ALARM" {
                        failures.push(format!("after reconcile: {trigger} still in ALARM"));
                    }
                    let reserved = aws.function_concurrency(self.consumer).await;
                    if reserved.as_ref().ok() != Some(&Some(open)) {
                        failures.push(format!(
                            "after reconcile: consumer concurrency {reserved:?}, {open} shards"
                        ));
                    }
                    healed = ", reconciled".into();
                }
            }
        }

        let base = match outcome.outcome {
            Outcome::Scaled if clean && hit && retried(action, kind) => "scaled+retry".to_string(),
            Outcome::Scaled if clean && recovered(action, kind) => {
                "scaled (answer lost, stream checked)".to_string()
            }
            Outcome::Scaled if clean => "scaled".to_string(),
            Outcome::Scaled => "scaled/errors".to_string(),
            Outcome::Refused => format!("refused/reset {state}"),
            Outcome::Failed => format!("failed/reset {state}"),
            other => format!("{other:?}"),
        };
        let mut summary = base;
        if metric {
            summary.push_str("/metric");
        }
        if needs_reconcile {
            summary.push_str(", needs reconcile");
        }
        summary.push_str(&healed);
        if !failures.is_empty() {
            summary.push_str(" !!");
        }
        Cell { summary, failures }
    }
}

#[tokio::test]
async fn the_fault_matrix() {
    let started = Instant::now();
    let direct = clients().await;
    let proxy = Proxy::start();
    let settings = Settings::default();
    let consumer = unique("fault-consumer");
    create_consumer_function(&direct, &consumer).await;
    let autoscaler = Autoscaler {
        aws: proxied_clients(&proxy).await,
        settings: settings.clone(),
        function_name: "kinesis-autoscaler-faults".into(),
    };
    let bench = Bench {
        direct: &direct,
        proxy: &proxy,
        autoscaler: &autoscaler,
        settings: &settings,
        consumer: &consumer,
    };

    // The harness itself: without faults both directions scale cleanly.
    for direction in [Direction::Up, Direction::Down] {
        let stream = unique("fclean");
        create_stream(&direct, &stream, START_SHARDS as i32).await;
        let pair = wire(&direct, &settings, &stream, START_SHARDS).await;
        inject(&proxy, json!([]));
        let report: InvocationReport = handle(
            &autoscaler,
            &alarm_event(&pair.name(direction), &stream, "ALARM", just_now()),
        )
        .await;
        assert!(report.succeeded(), "{:?}", report.alarms);
        assert!(
            proxy.log().len() >= 8,
            "the autoscaler's calls go through the proxy"
        );
    }

    let mut rows = Vec::new();
    let mut failures = Vec::new();
    for direction in [Direction::Up, Direction::Down] {
        for action in STEPS {
            if direction == Direction::Down && action == "DescribeLimits" {
                continue; // scale-downs do not ask for the account's headroom
            }
            let mut cells = Vec::new();
            for kind in KINDS {
                let cell = bench.run_cell(direction, action, kind).await;
                for failure in &cell.failures {
                    failures.push(format!("{direction} {action} {kind}: {failure}"));
                }
                cells.push(cell.summary);
            }
            rows.push((format!("{direction}: {action}"), cells));
        }
    }
    let mut extra = Vec::new();
    for direction in [Direction::Up, Direction::Down] {
        let cell = bench
            .run_cell(direction, "UpdateShardCount", DROP_THEN_BUSY)
            .await;
        for failure in &cell.failures {
            failures.push(format!(
                "{direction} UpdateShardCount {DROP_THEN_BUSY}: {failure}"
            ));
        }
        extra.push(format!(
            "{direction}: UpdateShardCount, {DROP_THEN_BUSY}: {}",
            cell.summary
        ));
    }

    let mut table = format!(
        "Fault matrix: {START_SHARDS}-shard stream, fault on the 1st call of the step, 3 attempts, 1 s attempt time-out\n"
    );
    table.push_str(&format!("| {:<28} |", "step"));
    for kind in KINDS {
        table.push_str(&format!(" {kind:<36} |"));
    }
    table.push('\n');
    table.push_str(&format!("|{}|", "-".repeat(30)));
    for _ in KINDS {
        table.push_str(&format!("{}|", "-".repeat(38)));
    }
    table.push('\n');
    for (step, cells) in &rows {
        table.push_str(&format!("| {step:<28} |"));
        for cell in cells {
            table.push_str(&format!(" {cell:<36} |"));
        }
        table.push('\n');
    }
    for line in &extra {
        table.push_str(line);
        table.push('\n');
    }
    table.push_str(&format!("({:.1} s)\n", started.elapsed().as_secs_f64()));
    println!("{table}");
    let out = concat!(env!("CARGO_MANIFEST_DIR"), "/target/fault-matrix.txt");
    if let Err(e) = std::fs::write(out, &table) {
        eprintln!("could not write {out}: {e}");
    }
    assert!(
        failures.is_empty(),
        "{} cells broke an invariant:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
