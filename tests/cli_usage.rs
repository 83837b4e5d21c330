//! The binary as a new user meets it without AWS: trace rows named by line (in CRLF files
//! too, as the sample traces are), files that cannot be read or written named with what to
//! do, bad flag values refused once with exit code 2, `simulate --help` grouped by meaning,
//! and an emulator user told that any keys do.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_kinesis-autoscaler");
const HEADER: &str = "timestamp,incoming_bytes,incoming_records";

/// A fresh folder for one test, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "kinesis-autoscaler-files-{name}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    /// Writes a trace of 5-minute rows (`offsets` in seconds from the start), CRLF line ends.
    fn trace(&self, name: &str, rows: &[(i64, &str)]) -> PathBuf {
        let start = chrono::DateTime::from_timestamp(1_396_310_400, 0).unwrap();
        let mut text = format!("{HEADER}\r\n");
        for (offset, values) in rows {
            let t = start + chrono::Duration::seconds(*offset);
            text.push_str(&format!(
                "{},{values}\r\n",
                t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ));
        }
        let path = self.0.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn run(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .current_dir(dir)
        .env_remove("RUST_LOG")
        .args(args)
        .output()
        .unwrap()
}

fn stderr_of(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Exit 1, an error line containing `cause`, and a fix line containing `fix`; no debug dump.
fn assert_explained(out: &Output, cause: &str, fix: &str) {
    let err = stderr_of(out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 2, "{err}");
    assert!(
        lines[0].starts_with("error: ") && lines[0].contains(cause),
        "{err}"
    );
    assert!(
        lines[1].starts_with("  fix: ") && lines[1].contains(fix),
        "{err}"
    );
    for debug in ["Os {", "IoError", "kind:", "Error("] {
        assert!(!err.contains(debug), "{debug:?} in {err}");
    }
}

fn quiet_day(count: i64) -> Vec<(i64, &'static str)> {
    (0..count).map(|i| (300 * i, "1000,10")).collect()
}

#[test]
fn trace_errors_name_the_file_and_the_line_of_a_crlf_file() {
    let dir = Scratch::new("rows");
    let mut rows = quiet_day(4);
    rows[2].1 = "lots,10";
    let bad = dir.trace("bad.csv", &rows);
    let out = run(&dir.0, &["simulate", "--trace", bad.to_str().unwrap()]);
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("bad.csv: line 4: incoming_bytes"), "{err}");

    // A row 150 s off the 5-minute grid is named by line and timestamp; no --period-mins hint.
    let mut rows = quiet_day(12);
    rows[6].0 += 150;
    let off = dir.trace("off-grid.csv", &rows);
    let out = run(&dir.0, &["simulate", "--trace", off.to_str().unwrap()]);
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("off-grid.csv: line 8: timestamp 2014-04-01T00:32:30+00:00 is off"),
        "{err}"
    );
    assert!(!err.contains("--period-mins"), "{err}");
}

#[test]
fn a_missing_trace_is_named_with_what_to_do() {
    let dir = Scratch::new("missing");
    let out = run(&dir.0, &["simulate", "--trace", "nope.csv"]);
    assert_explained(&out, "cannot read the trace nope.csv", "trace export");
}

#[test]
fn a_plot_into_a_missing_folder_says_the_path_and_a_written_one_where() {
    let dir = Scratch::new("plot");
    let trace = dir.trace("t.csv", &quiet_day(30));
    let trace = trace.to_str().unwrap();
    let out = run(
        &dir.0,
        &["simulate", "--trace", trace, "--plot", "charts/a.png"],
    );
    assert_explained(
        &out,
        "cannot write the plot charts/a.png",
        "mkdir -p charts",
    );
    let out = run(&dir.0, &["simulate", "--trace", trace, "--plot", "a.svg"]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(stderr_of(&out).contains("plot written to a.svg"));
    assert!(dir.0.join("a.svg").exists());
    let out = run(
        &dir.0,
        &["simulate", "--trace", trace, "--timeline", "no/t.csv"],
    );
    assert_explained(&out, "cannot write the timeline no/t.csv", "mkdir -p no");
    // Checked before any AWS call: no credentials or region are needed to be told.
    let out = run(
        &dir.0,
        &[
            "trace",
            "export",
            "--stream",
            "orders",
            "-o",
            "no/orders.csv",
        ],
    );
    assert_explained(&out, "cannot write the trace no/orders.csv", "mkdir -p no");
}

#[test]
fn bench_policy_outside_the_repository_says_the_cause_once_and_the_flag() {
    let dir = Scratch::new("bench");
    let out = run(&dir.0, &["bench-policy"]);
    assert_explained(&out, "cannot list the traces folder traces", "--traces DIR");
    assert_eq!(stderr_of(&out).matches("No such file").count(), 1);
}

#[test]
fn bad_flag_values_exit_2_and_say_one_thing() {
    let dir = Scratch::new("flags");
    let trace = dir.trace("t.csv", &quiet_day(3));
    let trace = trace.to_str().unwrap();
    for (flag, says) in [
        ("--price-shard-hour=-1", "a number >= 0"),
        ("--price-on-demand-gb=abc", "a number >= 0"),
        ("--initial-shards=-1", "not in 1..=10000"),
        ("--initial-shards=0", "not in 1..=10000"),
        ("--reshard-periods=999", "not in 0..=288"),
    ] {
        let out = run(&dir.0, &["simulate", "--trace", trace, flag]);
        let err = stderr_of(&out);
        assert_eq!(out.status.code(), Some(2), "{flag}: {err}");
        assert!(err.starts_with("error: invalid value"), "{flag}: {err}");
        assert_eq!(err.matches(says).count(), 1, "{flag}: {err}");
    }
}

#[test]
fn an_emulator_user_without_credentials_is_told_that_any_keys_do() {
    let dir = Scratch::new("emulator");
    let out = Command::new(BIN)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", &dir.0)
        .env("AWS_CONFIG_FILE", dir.0.join("no-config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", dir.0.join("no-credentials"))
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .args([
            "status",
            "--region",
            "us-east-1",
            "--endpoint-url",
            "http://127.0.0.1:1",
        ])
        .output()
        .unwrap();
    assert_explained(
        &out,
        "no AWS credentials found",
        "AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test",
    );
    assert!(!stderr_of(&out).contains("aws configure"));
}

#[test]
fn simulate_help_groups_its_flags_and_shows_the_required_input() {
    let dir = Scratch::new("help");
    let out = run(&dir.0, &["simulate", "--help"]);
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(
        help.contains(
            "Usage: kinesis-autoscaler simulate [OPTIONS] <--trace <FILE>|--stream <NAME>>"
        ),
        "{help}"
    );
    let headings: Vec<&str> = help
        .lines()
        .filter(|l| l.ends_with(':') && !l.starts_with(' '))
        .collect();
    assert_eq!(
        headings,
        [
            "Options:",
            "Input (one of):",
            "Time window (with --stream):",
            "Replayed stream:",
            "Policy:",
            "Prices:",
            "Output:",
            "AWS options:"
        ],
        "{help}"
    );
    // Each heading holds a handful of flags, not two dozen.
    let mut flags_under = std::collections::HashMap::new();
    let mut heading = "";
    for line in help.lines() {
        if headings.contains(&line) {
            heading = line;
        } else if line.starts_with("      --") {
            *flags_under.entry(heading).or_insert(0) += 1;
        }
    }
    assert!(flags_under.values().all(|n| *n <= 15), "{flags_under:?}");
    assert_eq!(flags_under["Output:"], 4, "{help}");

    let out = run(&dir.0, &["simulate"]);
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("<--trace <FILE>|--stream <NAME>>"), "{err}");
}

#[test]
fn compare_upstream_draws_its_shards_beside_ours() {
    let dir = Scratch::new("compare");
    let rows: Vec<(i64, &str)> = (0..300)
        .map(|i| {
            (
                300 * i,
                if (100..140).contains(&i) {
                    "900000000,900000"
                } else {
                    "1000,10"
                },
            )
        })
        .collect();
    let trace = dir.trace("t.csv", &rows);
    let trace = trace.to_str().unwrap();
    let out = run(
        &dir.0,
        &["simulate", "--trace", trace, "--compare", "upstream"],
    );
    assert_eq!(out.status.code(), Some(2), "--compare needs --plot");
    let out = run(
        &dir.0,
        &[
            "simulate",
            "--trace",
            trace,
            "--plot",
            "c.svg",
            "--compare",
            "upstream",
        ],
    );
    assert!(out.status.success(), "{}", stderr_of(&out));
    let svg = std::fs::read_to_string(dir.0.join("c.svg")).unwrap();
    assert!(svg.contains("upstream Go Lambda: provisioned shards"));
    assert!(svg.contains("upstream Go Lambda (grey line)"));
}
