//! A reader that stops early (`kinesis-autoscaler simulate ... | head`) ends the command
//! quietly, as it ends `ls`: exit 0, nothing on stderr, no panic. Every write of the command
//! line goes through `cli::output`, whose writes hand their error back instead of panicking
//! as `print!` does; a source check keeps it that way.

use std::path::Path;
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_kinesis-autoscaler");

/// Runs the binary with its stdout a pipe whose reader is gone before the first write, so
/// that every write fails with EPIPE.
fn with_reader_gone(args: &[&str]) -> Output {
    let mut child = Command::new(BIN)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("RUST_LOG")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    drop(child.stdout.take());
    child.wait_with_output().expect("the binary ends")
}

#[test]
fn a_reader_that_went_away_ends_each_command_quietly() {
    let trace = "tests/data/idle.csv";
    let commands: &[&[&str]] = &[
        &["simulate", "--trace", trace],
        &["simulate", "--trace", trace, "--json"],
        &["completions", "bash"],
        &["check-config"],
        &["check-config", "--json"],
    ];
    for args in commands {
        let out = with_reader_gone(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
        assert!(stderr.is_empty(), "{args:?} wrote to stderr: {stderr}");
    }
}

/// `print!` and friends panic on a closed pipe: the command line writes through
/// `cli::output`'s `out!` / `outln!` (and `eout!` / `eoutln!` for stderr) instead.
#[test]
fn the_command_line_prints_only_through_its_output_module() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/cli");
    let mut offenders = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("src/cli") {
        let path = entry.expect("an entry of src/cli").path();
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("a source file");
        for (number, line) in text.lines().enumerate() {
            let code = line.trim_start();
            if code.starts_with("//") {
                continue;
            }
            if ["print!(", "println!(", "eprint!(", "eprintln!("]
                .iter()
                .any(|m| code.contains(m))
            {
                offenders.push(format!("{}:{}: {code}", path.display(), number + 1));
            }
        }
    }
    assert!(offenders.is_empty(), "{}", offenders.join("\n"));
}
