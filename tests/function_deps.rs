//! The deployed function (`kinesis-autoscaler-lambda`, built `--no-default-features`) links
//! none of the command line's crates: they would cost megabytes and bring unmaintained code
//! into production. Read from `cargo tree` (offline, about a second), for the features the
//! function is built with and, as a check of the check, for the CLI's.

use std::collections::BTreeSet;
use std::process::Command;

/// Crates only the command line may link: the chart and its font, progress bars, argument
/// parsing and shell completions, and the IAM client of `doctor`.
const CLI_ONLY: &[&str] = &[
    "plotters",
    "ab_glyph",
    "indicatif",
    "clap",
    "clap_complete",
    "aws-sdk-iam",
];

/// The package names of the crate's normal (linked) dependency tree.
fn linked_packages(extra: &[&str]) -> BTreeSet<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "tree",
            "--offline",
            "--locked",
            "-e",
            "normal",
            "--prefix",
            "none",
            "--format",
            "{p}",
        ])
        .args(extra)
        .output()
        .expect("cargo runs");
    assert!(
        out.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

#[test]
fn the_function_links_none_of_the_command_lines_crates() {
    let function = linked_packages(&["--no-default-features"]);
    assert!(
        function.contains("lambda_runtime") && function.contains("aws-sdk-kinesis"),
        "not the function's tree: {function:?}"
    );
    let found: Vec<_> = CLI_ONLY
        .iter()
        .filter(|name| function.contains(**name))
        .collect();
    assert!(
        found.is_empty(),
        "the function (--no-default-features) links {found:?}: keep them behind feature `cli`"
    );

    // The same check on the command line's tree finds every one of them.
    let cli = linked_packages(&[]);
    let missing: Vec<_> = CLI_ONLY
        .iter()
        .filter(|name| !cli.contains(**name))
        .collect();
    assert!(
        missing.is_empty(),
        "{missing:?} left the CLI's tree: update CLI_ONLY"
    );
}
