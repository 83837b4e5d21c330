//! The replay docs/simulate.md shows cannot go stale: the output it quotes is what the
//! documented command prints today, and docs/replay-synthetic-spikes.png is the chart it
//! draws. `scripts/docs-images.sh` regenerates both.

use std::path::Path;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_kinesis-autoscaler");
const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const COMMAND: &str =
    "$ kinesis-autoscaler simulate --trace traces/synthetic-spikes.csv --plot spikes.png";
const STALE: &str = "stale: run scripts/docs-images.sh and commit docs/";

#[test]
fn the_documented_replay_prints_what_the_docs_quote_and_draws_their_chart() {
    let docs = std::fs::read_to_string(Path::new(ROOT).join("docs/simulate.md")).unwrap();
    let quoted: Vec<&str> = docs
        .lines()
        .skip_while(|l| *l != COMMAND)
        .skip(1)
        .take_while(|l| !l.starts_with("```"))
        .collect();
    assert!(
        !quoted.is_empty(),
        "docs/simulate.md lost the line {COMMAND:?}"
    );
    let plot = std::env::temp_dir().join(format!("docs-figures-{}.png", std::process::id()));
    let args: Vec<String> = COMMAND
        .split_whitespace()
        .skip(2)
        .map(|a| {
            if a == "spikes.png" {
                plot.display().to_string()
            } else {
                a.to_string()
            }
        })
        .collect();
    let out = Command::new(BIN)
        .current_dir(ROOT)
        .args(&args)
        .output()
        .unwrap();
    let drawn = std::fs::read(&plot);
    let _ = std::fs::remove_file(&plot);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = String::from_utf8_lossy(&out.stdout);
    assert_eq!(printed.lines().collect::<Vec<_>>(), quoted, "{STALE}");
    let committed =
        std::fs::read(Path::new(ROOT).join("docs/replay-synthetic-spikes.png")).unwrap();
    assert!(
        drawn.unwrap() == committed,
        "docs/replay-synthetic-spikes.png is {STALE}"
    );
}
