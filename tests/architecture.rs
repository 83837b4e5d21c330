//! The layout's rules, checked on the source as the compiler reads it (`architecture/check.rs`):
//!
//! - layers: `domain` <- `aws`, `replay` <- `ops` <- `lambda` <- `cli` <- the binaries; a
//!   module imports from its own layer and lower ones only, and `aws` and `replay` (one rank)
//!   not from each other;
//! - no module imports one that imports it back, directly or around a longer loop, re-exports
//!   (`pub use`, globs) followed to the module that defines the item;
//! - the domain does no I/O: no environment, files, sockets, processes, clocks, printing, async
//!   runtime or AWS SDK. Settings are read at the edge and handed in as a lookup.
//!
//! Each rule is shown to fail: the tests at the bottom inject a violation into a copy of
//! `src/` and expect the check to name it.

#[path = "architecture/check.rs"]
mod check;

use check::{cycles, direction_violations, Crate};
use std::path::{Path, PathBuf};

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every violation in the source tree at `src`: cycles, direction, I/O in the domain.
fn violations(src: &Path) -> Vec<String> {
    let krate = Crate::read(src).unwrap_or_else(|e| panic!("the source reads: {e}"));
    let edges = krate.edges();
    let mut found = cycles(&edges)
        .into_iter()
        .map(|c| format!("cycle: {c}"))
        .collect::<Vec<_>>();
    found.extend(direction_violations(&krate, &edges));
    found.extend(krate.domain_io());
    found
}

/// Files stay readable in one sitting: none in `src/` over 800 lines.
#[test]
fn no_source_file_is_over_800_lines() {
    fn walk(dir: &Path, long: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).expect("src/ lists") {
            let path = entry.expect("an entry of src/").path();
            if path.is_dir() {
                walk(&path, long);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let lines = std::fs::read_to_string(&path)
                    .expect("a source file reads")
                    .lines()
                    .count();
                if lines > 800 {
                    long.push(format!("{}: {lines} lines", path.display()));
                }
            }
        }
    }
    let mut long = Vec::new();
    walk(&src(), &mut long);
    assert!(long.is_empty(), "over 800 lines:\n{}", long.join("\n"));
}

#[test]
fn the_source_keeps_the_layers() {
    let found = violations(&src());
    assert!(found.is_empty(), "{}", found.join("\n"));
}

#[test]
fn the_check_reads_every_module_and_follows_re_exports() {
    let krate = Crate::read(&src()).expect("the source reads");
    assert!(krate.module_names().count() > 50, "modules found");
    // Every source file is in the module tree (none escapes the check).
    let mut files = Vec::new();
    let mut dirs = vec![src()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("readable").flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    let missed: Vec<_> = files
        .iter()
        .filter(|f| !krate.files().contains(*f))
        .collect();
    assert!(
        missed.is_empty(),
        "files outside the module tree: {missed:?}"
    );
    let edges = krate.edges();
    let has = |from: &str, to: &str| edges.iter().any(|e| e.from == from && e.to == to);
    assert!(
        has("ops::autoscaler::alarm", "ops::autoscaler::gather"),
        "a plain `use`"
    );
    // `crate::aws::{AwsError, AwsPort, ..}` goes through `pub use port::*` in aws/mod.rs to
    // aws::port; `crate::aws::AwsClients` through `pub use sdk::{..}` to aws::sdk.
    assert!(
        has("ops::autoscaler::alarm", "aws::port"),
        "a glob re-export"
    );
    assert!(has("ops::autoscaler", "aws::sdk"), "a named re-export");
    assert!(
        has("ops::autoscaler::alarm", "aws"),
        "the re-exporting module"
    );
}

/// A copy of `src/` in a fresh temporary directory, removed on drop.
struct Copy(PathBuf);

impl Copy {
    fn new(tag: &str) -> Copy {
        let root = std::env::temp_dir().join(format!(
            "architecture-{tag}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&root);
        copy_dir(&src(), &root);
        Copy(root)
    }

    /// Adds `line` to the top of `file` (relative to src/).
    fn inject(&self, file: &str, line: &str) {
        let path = self.0.join(file);
        let text = std::fs::read_to_string(&path).expect("a file of src/");
        // After the module's inner doc comments, which must stay first.
        let at = text
            .lines()
            .take_while(|l| l.starts_with("//!"))
            .map(|l| l.len() + 1)
            .sum::<usize>();
        std::fs::write(&path, format!("{}{line}\n{}", &text[..at], &text[at..])).expect("write");
    }
}

impl Drop for Copy {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create the copy");
    for entry in std::fs::read_dir(from).expect("readable").flatten() {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy a file");
        }
    }
}

fn assert_caught(found: &[String], expected: &str) {
    assert!(
        found.iter().any(|v| v.contains(expected)),
        "expected a violation containing {expected:?}, found:\n{}",
        found.join("\n")
    );
}

#[test]
fn a_domain_import_of_ops_fails() {
    let copy = Copy::new("domain-ops");
    copy.inject(
        "domain/policy.rs",
        "use crate::ops::autoscaler::Autoscaler;",
    );
    assert_caught(&violations(&copy.0), "domain::policy -> ops::autoscaler (");
    assert_caught(&violations(&copy.0), "domain may not import ops");
}

#[test]
fn a_domain_import_through_a_renamed_group_fails() {
    let copy = Copy::new("domain-group");
    copy.inject(
        "domain/history.rs",
        "use crate::{aws::{self as port_layer}, domain::event};",
    );
    assert_caught(&violations(&copy.0), "domain::history -> aws (");
}

#[test]
fn a_cycle_through_a_re_export_fails() {
    // aws::sdk implements the port; the port naming AwsClients (re-exported by aws/mod.rs
    // from aws::sdk) closes a loop that only resolving `pub use sdk::{..}` shows.
    let copy = Copy::new("cycle");
    copy.inject("aws/port.rs", "use crate::aws::AwsClients;");
    let found = violations(&copy.0);
    assert_caught(&found, "cycle: aws::port -> aws::sdk (");
}

#[test]
fn the_issue_s_import_of_ops_through_a_re_export_fails() {
    // The import the old check missed: an ops type through an ops module's `pub use`.
    let copy = Copy::new("issue-cycle");
    copy.inject(
        "aws/sdk/mod.rs",
        "use crate::ops::autoscaler::StreamEvaluation;",
    );
    let found = violations(&copy.0);
    assert_caught(&found, "aws::sdk -> ops::autoscaler (");
    assert_caught(&found, "aws::sdk -> ops::autoscaler::evaluate (");
    assert_caught(&found, "aws may not import ops");
}

#[test]
fn the_environment_in_the_domain_fails() {
    for (tag, line, expected) in [
        (
            "env-call",
            "fn leak() -> Option<String> { std::env::var(\"X\").ok() }",
            "names std::env::var",
        ),
        ("env-use", "use std::env;", "names std::env"),
        (
            "env-alias",
            "use std::env as e; fn leak() -> bool { e::var_os(\"X\").is_some() }",
            "names std::env::var_os",
        ),
        (
            "env-macro",
            "const X: Option<&str> = option_env!(\"X\");",
            "calls option_env!",
        ),
    ] {
        let copy = Copy::new(tag);
        copy.inject("domain/settings.rs", line);
        assert_caught(&violations(&copy.0), expected);
    }
}

#[test]
fn printing_files_sockets_and_clocks_in_the_domain_fail() {
    for (tag, line, expected) in [
        ("println", "fn say() { println!(\"x\"); }", "calls println!"),
        (
            "eprintln",
            "fn say() { eprintln!(\"x\"); }",
            "calls eprintln!",
        ),
        ("print", "fn say() { print!(\"x\"); }", "calls print!"),
        ("dbg", "fn say() -> u8 { dbg!(1) }", "calls dbg!"),
        (
            "fs",
            "fn read() { let _ = std::fs::read(\"x\"); }",
            "names std::fs::read",
        ),
        (
            "net",
            "use std::net::TcpStream;",
            "names std::net::TcpStream",
        ),
        (
            "clock",
            "fn at() -> chrono::DateTime<chrono::Utc> { chrono::Utc::now() }",
            "names chrono::Utc::now",
        ),
        (
            "tokio",
            "use tokio::time::sleep;",
            "names tokio::time::sleep",
        ),
        (
            "sdk",
            "type C = aws_sdk_kinesis::Client;",
            "names aws_sdk_kinesis::Client",
        ),
        (
            "in-macro",
            "fn s() -> String { format!(\"{:?}\", std::env::args()) }",
            "names std::env::args",
        ),
    ] {
        let copy = Copy::new(tag);
        copy.inject("domain/history.rs", line);
        assert_caught(&violations(&copy.0), expected);
    }
}

#[test]
fn a_file_that_does_not_parse_or_a_missing_module_fails() {
    let copy = Copy::new("broken");
    copy.inject("domain/history.rs", "fn (");
    let err = Crate::read(&copy.0).err().expect("a parse error");
    assert!(err.contains("history.rs: does not parse"), "{err}");
    let copy = Copy::new("missing");
    copy.inject("domain/mod.rs", "pub mod nowhere;");
    let err = Crate::read(&copy.0).err().expect("a missing module");
    assert!(err.contains("`mod nowhere` has no file"), "{err}");
}
