//! The fault matrix, in-process: every AWS call of the scale-up and the scale-down sequence,
//! times every fault the fake ([`FakeAws::inject`]) can inject, with paused time.
//!
//! Each cell: a fresh account with a 4-shard stream, its wired alarm pair, a consumer function
//! whose reserved concurrency follows the stream, the triggering alarm in ALARM, one fault on
//! the 1st call of one action, one ALARM event. Then the invariants: the shard count never goes
//! beyond the 2x / half rule, at most one reshard per event, the error metric exactly for
//! faults the event could not absorb, the triggering alarm left able to fire again, and the
//! alarms' math and the consumer's concurrency matching the stream's open shard count, either
//! right away, after the next event, or, where the damage is visible ("needs reconcile"), after
//! one reconcile. Then one more event must scale one step: the system is still operable.
//!
//! A crash ("the process dies right after this call", as a Lambda time-out or running out of
//! memory would) prints nothing: its report and metric lines are never emitted, so they are
//! not judged; what it left behind is, after the process is back.
//!
//! The SDK's retries sit below the port, so a fault here is what is left once they gave up;
//! which faults they absorb is pinned by the adapter's tests (`tests/sdk_adapter.rs`). The
//! matrix is printed (`--nocapture`) and written to `target/fault-matrix.txt`.

mod common;

use chrono::{DateTime, Duration, Utc};
use common::*;
use kinesis_autoscaler::aws::fake::{FakeAws, Fault};
use kinesis_autoscaler::aws::AwsPort;
use kinesis_autoscaler::domain::alarms::{self, AlarmTarget, KeptFields};
use kinesis_autoscaler::domain::event::{AlarmPair, Direction};
use kinesis_autoscaler::domain::settings::{tag, Settings};
use kinesis_autoscaler::ops::autoscaler::Autoscaler;
use kinesis_autoscaler::ops::fleet;
use kinesis_autoscaler::ops::outcome::Outcome;
use std::time::Instant;

const KINDS: [(&str, Fault); 7] = [
    ("throttle", Fault::Throttle),
    ("timeout", Fault::Timeout),
    ("answer lost", Fault::LoseAnswer),
    ("crash", Fault::Crash),
    ("LimitExceeded", Fault::Refuse("LimitExceededException")),
    ("ResourceInUse", Fault::Refuse("ResourceInUseException")),
    ("AccessDenied", Fault::Refuse("AccessDeniedException")),
];

/// The calls of a scale event in the order the executor makes them (see `src/ops/autoscaler/alarm.rs`).
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
const CONSUMER: &str = "consumer";
/// How long a reshard keeps the stream UPDATING, as AWS does (seconds to minutes).
const UPDATING: Duration = Duration::seconds(30);
/// Each call takes this long on tokio's (paused) clock, so the calls of a round interleave as
/// they do over the network and a fault lands in the middle of a round, not at its end.
const LATENCY: std::time::Duration = std::time::Duration::from_millis(20);

fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000, 0).expect("a valid time")
}

fn target(direction: Direction, from: u32) -> u32 {
    match direction {
        Direction::Up => from * 2,
        Direction::Down => from.div_ceil(2),
    }
}

/// A lost UpdateShardCount answer whose reshard happened: the executor looks at the stream,
/// sees it UPDATING, and carries on as if the answer had arrived.
fn recovered(action: &str, fault: Fault) -> bool {
    action == "UpdateShardCount" && fault == Fault::LoseAnswer
}

/// A busy stream is a refusal, not an error: the alarm fires again, no metric.
fn busy(action: &str, fault: Fault) -> bool {
    action == "UpdateShardCount" && fault == Fault::Refuse("ResourceInUseException")
}

/// Faults that stop or damage an event and so must raise the error metric.
fn expects_metric(action: &str, fault: Fault) -> bool {
    !(recovered(action, fault) || busy(action, fault) || degrades(action, fault))
}

/// Permissions beyond the Go sample's role are optional: denied, the event scales with less
/// (tags, history, headroom) and says so, without the error metric. DescribeLimits failing in
/// any way means "headroom unknown".
fn degrades(action: &str, fault: Fault) -> bool {
    let optional = matches!(
        action,
        "ListTagsForResource" | "ListTagsForStream" | "AddTagsToStream" | "DescribeLimits"
    );
    (optional && fault == Fault::Refuse("AccessDeniedException")) || action == "DescribeLimits"
}

/// Both alarms written for `shards`: `s1` and the thresholds (disarming included).
async fn alarms_match(
    aws: &FakeAws,
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

/// The alarm fires: CloudWatch puts it in ALARM and, a second later, the event arrives.
async fn fire(autoscaler: &Autoscaler<FakeAws>, alarm: &str, stream: &str) -> Outcome {
    let aws = &autoscaler.aws;
    aws.set_state(alarm, "ALARM");
    let changed = aws.now();
    aws.advance(Duration::seconds(1));
    let report = handle(autoscaler, &alarm_event(alarm, stream, "ALARM", changed)).await;
    report.alarms[0].outcome
}

struct Cell {
    summary: String,
    failures: Vec<String>,
}

async fn run_cell(direction: Direction, action: &'static str, fault: Fault) -> Cell {
    let settings = Settings::default();
    let aws = FakeAws::new(t0())
        .with_reshard_delay(UPDATING)
        .with_latency(LATENCY);
    let mut failures = Vec::new();
    let stream = "orders";
    aws.create_stream(stream, START_SHARDS);
    aws.create_function(CONSUMER);
    aws.put_function_concurrency(CONSUMER, START_SHARDS)
        .await
        .expect("set-up");
    tag_stream(&aws, stream, tag::CONSUMER_FUNCTION, CONSUMER).await;
    let pair = wire(&aws, &settings, stream, START_SHARDS).await;
    let trigger = pair.name(direction);
    let to = target(direction, START_SHARDS);
    let autoscaler = Autoscaler::new(aws.clone(), settings.clone(), "kinesis-autoscaler-faults");
    aws.advance(Duration::minutes(10));
    aws.set_state(&trigger, "ALARM");
    let changed = aws.now();
    aws.advance(Duration::seconds(1));
    aws.clear_calls();

    aws.inject(action, 0, fault);
    let report = handle(
        &autoscaler,
        &alarm_event(&trigger, stream, "ALARM", changed),
    )
    .await;
    let crashed = fault == Fault::Crash;
    if crashed {
        aws.restart();
    }
    let hit = aws.calls().iter().any(|c| c.action == action);
    if !hit {
        failures.push(format!("{action} was never called: {:?}", aws.calls()));
    }
    let outcome = &report.alarms[0];
    aws.advance(UPDATING);
    let after = open_shards(&aws, stream).await;
    // (a) never beyond the 2x / half rule.
    if after != START_SHARDS && after != to {
        failures.push(format!(
            "{after} open shards, expected {START_SHARDS} or {to}"
        ));
    }
    // (b) at most one reshard.
    let reshards = aws.stream(stream).map_or(0, |s| s.reshards.len());
    if reshards > 1 {
        failures.push(format!("{reshards} reshards for one event"));
    }
    // (c) the error metric exactly when the fault stopped or damaged the event (a crashed
    // process prints nothing, so there is no report to judge).
    let metric = report
        .metric_lines
        .iter()
        .any(|l| l.contains("FATAL_ERROR_KINESIS_SCALING"));
    if !crashed {
        let want = expects_metric(action, fault);
        if metric != want {
            failures.push(format!(
                "error metric {metric}, expected {want}: {outcome:?}"
            ));
        }
        if recovered(action, fault)
            && (outcome.outcome != Outcome::Scaled || !outcome.errors.is_empty())
        {
            failures.push(format!(
                "a lost answer whose reshard happened should end in a clean reshard: {outcome:?}"
            ));
        }
    }
    // (d) the triggering alarm can fire again, unless the damage is visible.
    let state = alarm(&aws, &trigger).await.state;
    let clean = !crashed && outcome.outcome == Outcome::Scaled && outcome.errors.is_empty();
    let damaged = crashed || (!outcome.errors.is_empty() && metric);
    if state == "ALARM" && !damaged {
        failures.push(format!("alarm {trigger} left in ALARM: {outcome:?}"));
    }
    if clean && state != "INSUFFICIENT_DATA" {
        failures.push(format!("alarm {trigger} in {state} after a clean reshard"));
    }
    // (e) the alarms and the consumer match the stream now, or visibly need the reconcile.
    let aligned = alarms_match(&aws, &settings, &pair, stream, after).await;
    let reserved = aws.reserved_concurrency(CONSUMER);
    let needs_reconcile = aligned.is_err() || state == "ALARM" || reserved != Some(after);
    // A permission the role lacks is said once per invocation, naming it (without the stream's
    // tags, the consumer they name is unknown until the reconcile reads them).
    let degraded = degrades(action, fault) && !outcome.degraded.is_empty();
    if needs_reconcile && !damaged && !degraded {
        failures.push(format!(
            "silent damage: alarms {aligned:?}, alarm state {state}, consumer {reserved:?}: {outcome:?}"
        ));
    }

    // What was left is repaired by the next event...
    let mut healed = String::new();
    if !needs_reconcile && after == START_SHARDS {
        aws.advance(Duration::minutes(5));
        let next = fire(&autoscaler, &trigger, stream).await;
        aws.advance(UPDATING);
        let then = open_shards(&aws, stream).await;
        if next != Outcome::Scaled || then != to {
            failures.push(format!(
                "the next event did not scale {START_SHARDS} -> {to}: {next:?}, {then} shards"
            ));
        }
        if let Err(e) = alarms_match(&aws, &settings, &pair, stream, then).await {
            failures.push(format!("after the next event: {e}"));
        }
        healed = ", next ok".into();
    }
    // ...or, where the next event cannot, by one reconcile (an hour later, as scheduled).
    if needs_reconcile {
        aws.advance(Duration::hours(1));
        let streams = [stream.to_string()];
        match fleet::reconcile(&aws, &settings, &streams, false, aws.now()).await {
            Err(e) => failures.push(format!("reconcile failed: {e}")),
            Ok(report) if report.failed() > 0 => {
                failures.push(format!("reconcile failed: {report:?}"))
            }
            Ok(_) => {
                let open = open_shards(&aws, stream).await;
                if let Err(e) = alarms_match(&aws, &settings, &pair, stream, open).await {
                    failures.push(format!("after reconcile: {e}"));
                }
                let state = alarm(&aws, &trigger).await.state;
                if state == "ALARM" {
                    failures.push(format!("after reconcile: {trigger} still in ALARM"));
                }
                let reserved = aws.reserved_concurrency(CONSUMER);
                if reserved != Some(open) {
                    failures.push(format!(
                        "after reconcile: consumer concurrency {reserved:?}, {open} shards"
                    ));
                }
                healed = ", reconciled".into();
            }
        }
    }
    // Still operable: the load persists, the alarm fires again, the stream moves one step.
    aws.advance(Duration::minutes(5));
    let before = open_shards(&aws, stream).await;
    let next = fire(&autoscaler, &trigger, stream).await;
    aws.advance(UPDATING);
    let then = open_shards(&aws, stream).await;
    if next != Outcome::Scaled || then != target(direction, before) {
        failures.push(format!(
            "then an event did not scale {before} -> {}: {next:?}, {then} shards",
            target(direction, before)
        ));
    }

    let base = if crashed {
        "crashed".to_string()
    } else {
        match outcome.outcome {
            Outcome::Scaled if clean && recovered(action, fault) => {
                "scaled (answer lost, stream checked)".to_string()
            }
            Outcome::Scaled if clean => "scaled".to_string(),
            Outcome::Scaled => "scaled/errors".to_string(),
            Outcome::Refused => format!("refused/reset {state}"),
            Outcome::Failed => format!("failed/reset {state}"),
            other => format!("{other:?}"),
        }
    };
    let mut summary = base;
    if metric && !crashed {
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

#[tokio::test(start_paused = true)]
async fn the_fault_matrix() {
    let started = Instant::now();
    // The harness itself: without faults both directions scale cleanly.
    for direction in [Direction::Up, Direction::Down] {
        let aws = FakeAws::new(t0());
        aws.create_stream("clean", START_SHARDS);
        let pair = wire(&aws, &Settings::default(), "clean", START_SHARDS).await;
        let autoscaler = Autoscaler::new(
            aws.clone(),
            Settings::default(),
            "kinesis-autoscaler-faults",
        );
        aws.advance(Duration::minutes(1));
        let outcome = fire(&autoscaler, &pair.name(direction), "clean").await;
        assert_eq!(outcome, Outcome::Scaled);
        assert_eq!(
            open_shards(&aws, "clean").await,
            target(direction, START_SHARDS)
        );
    }

    let mut rows = Vec::new();
    let mut failures = Vec::new();
    let mut cells = 0;
    for direction in [Direction::Up, Direction::Down] {
        for action in STEPS {
            if direction == Direction::Down && action == "DescribeLimits" {
                continue; // scale-downs do not ask for the account's headroom
            }
            let mut row = Vec::new();
            for (kind, fault) in KINDS {
                let cell = run_cell(direction, action, fault).await;
                cells += 1;
                for failure in &cell.failures {
                    failures.push(format!("{direction} {action} {kind}: {failure}"));
                }
                row.push(cell.summary);
            }
            rows.push((format!("{direction}: {action}"), row));
        }
    }

    let mut table = format!(
        "Fault matrix (in-process): {START_SHARDS}-shard stream, fault on the 1st call of the step, {cells} cells\n"
    );
    table.push_str(&format!("| {:<28} |", "step"));
    for (kind, _) in KINDS {
        table.push_str(&format!(" {kind:<42} |"));
    }
    table.push('\n');
    table.push_str(&format!("|{}|", "-".repeat(30)));
    for _ in KINDS {
        table.push_str(&format!("{}|", "-".repeat(44)));
    }
    table.push('\n');
    for (step, row) in &rows {
        table.push_str(&format!("| {step:<28} |"));
        for cell in row {
            table.push_str(&format!(" {cell:<42} |"));
        }
        table.push('\n');
    }
    table.push_str(&format!("({:.2} s)\n", started.elapsed().as_secs_f64()));
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
