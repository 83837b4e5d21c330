//! `kinesis-autoscaler handle --event FILE`: the real binary, the same code path as Lambda.

mod common;

use common::*;
use kinesis_autoscaler::domain::event::Direction;
use kinesis_autoscaler::domain::settings::Settings;
use std::io::Write;
use std::process::{Command, Output, Stdio};

fn run(args: &[&str], stdin: Option<&str>, env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_kinesis-autoscaler"));
    command
        .args(args)
        .envs(env.iter().copied())
        .env_remove("AWS_LAMBDA_RUNTIME_API");
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("the binary starts");
    if let Some(text) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }
    drop(child.stdin.take());
    child.wait_with_output().unwrap()
}

fn event_file(text: &str) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("{}.json", unique("event")));
    std::fs::write(&path, text).unwrap();
    path
}

async fn handle_scales_and_prints_the_outcome_as_json() {
    let aws = clients().await;
    let stream = unique("cli");
    create_stream(&aws, &stream, 1).await;
    let pair = wire(&aws, &Settings::default(), &stream, 1).await;
    fire(&aws, &pair.name(Direction::Up)).await;
    let path = event_file(&alarm_event(
        &pair.name(Direction::Up),
        &stream,
        "ALARM",
        just_now(),
    ));

    let out = run(&["handle", "--event", path.to_str().unwrap()], None, &[]);

    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(report["alarms"][0]["outcome"], "scaled");
    assert_eq!(report["alarms"][0]["from"], 1);
    assert_eq!(report["alarms"][0]["to"], 2);
    assert_eq!(open_shards(&aws, &stream).await, 2);
    let logs = String::from_utf8_lossy(&out.stderr);
    assert!(
        logs.contains("alarm handled") && logs.contains(&stream),
        "one summary line: {logs}"
    );
}

async fn handle_reads_stdin_and_a_refusal_is_handled() {
    let aws = clients().await;
    let stream = unique("clistdin");
    create_stream(&aws, &stream, 1).await;
    let pair = wire(&aws, &Settings::default(), &stream, 1).await;
    fire(&aws, &pair.name(Direction::Down)).await;

    let out = run(
        &["handle", "--event", "-"],
        Some(&alarm_event(
            &pair.name(Direction::Down),
            &stream,
            "ALARM",
            just_now(),
        )),
        &[],
    );

    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["alarms"][0]["outcome"], "refused");
}

fn handle_fails_on_an_unusable_event_and_changes_nothing() {
    let path = event_file("{\"Records\": [{\"Sns\": {\"Message\": \"{}\"}}]}");
    let out = run(&["handle", "--event", path.to_str().unwrap()], None, &[]);
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["alarms"][0]["outcome"], "invalid");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("FATAL_ERROR_KINESIS_SCALING"),
        "EMF line on stderr"
    );

    let out = run(&["handle", "--event", "/nonexistent/event.json"], None, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/event.json"));
}

fn an_invalid_setting_falls_back_and_is_reported_not_a_start_up_error() {
    let path = event_file("{\"Records\": []}");
    let out = run(
        &["handle", "--event", path.to_str().unwrap()],
        None,
        &[("SCALE_UP_THRESHOLD", "high")],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("SCALE_UP_THRESHOLD=\"high\""), "{stderr}");
    assert!(stderr.contains("FATAL_ERROR_KINESIS_SCALING"), "{stderr}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        report["settings_fallbacks"][0]["variable"],
        "SCALE_UP_THRESHOLD"
    );

    let out = run(&["check-config"], None, &[("SCALE_UP_THRESHOLD", "high")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("SCALE_UP_THRESHOLD"));
    let out = run(&["check-config"], None, &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn help_explains_the_subcommands() {
    let out = run(&["handle", "--help"], None, &[]);
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(
        help.contains("--event") && (help.contains("stdin") || help.contains("standard input")),
        "{help}"
    );
}

crate::on_emulators!(
    async: handle_scales_and_prints_the_outcome_as_json, handle_reads_stdin_and_a_refusal_is_handled;
    sync: handle_fails_on_an_unusable_event_and_changes_nothing, an_invalid_setting_falls_back_and_is_reported_not_a_start_up_error
);
