//! The binary as a new user meets it: no region, no credentials, a dead endpoint, an
//! access-denied answer. Each must end in at most three lines that name the cause and the
//! fix, without the SDK's internals, and exit 1; wrong usage exits 2.
//!
//! Every run starts from an empty environment (no AWS variables, no ~/.aws) so that what is
//! on the machine running the tests cannot leak in.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_kinesis-autoscaler");

/// A command with nothing from the environment but PATH and an empty HOME.
fn bare(home: &Path) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("AWS_CONFIG_FILE", home.join("no-config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", home.join("no-credentials"))
        // Keeps the run from waiting on IMDS timeouts off EC2; the region test runs once with
        // IMDS probing on to show that its warnings stay hidden.
        .env("AWS_EC2_METADATA_DISABLED", "true");
    cmd
}

fn with_credentials(cmd: &mut Command) -> &mut Command {
    cmd.env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("THROTTLE_RETRY_COUNT", "2")
        .env("THROTTLE_RETRY_MIN_SLEEP", "0")
}

/// An empty HOME for one test, removed when dropped (also when the test fails).
struct Home(PathBuf);

impl std::ops::Deref for Home {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for Home {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn home() -> Home {
    let dir = std::env::temp_dir().join(format!(
        "kinesis-autoscaler-cli-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    Home(dir)
}

fn stderr_of(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// At most three lines, naming the cause and the fix, no debug output, no colour.
fn assert_explained(out: &Output, cause: &str, fix: &str) {
    let err = stderr_of(out);
    assert_eq!(out.status.code(), Some(1), "exit code; stderr:\n{err}");
    let lines: Vec<&str> = err.lines().collect();
    assert!(
        (2..=3).contains(&lines.len()),
        "expected 2-3 lines, got {}:\n{err}",
        lines.len()
    );
    assert!(lines[0].starts_with("error: "), "{err}");
    assert!(lines[0].contains(cause), "cause {cause:?} missing:\n{err}");
    assert!(
        lines[1].starts_with("  fix: ") && lines[1].contains(fix),
        "fix {fix:?} missing:\n{err}"
    );
    for noise in ["WARN", "DispatchFailure", "ConnectorError", "\x1b["] {
        assert!(!err.contains(noise), "{noise:?} in:\n{err}");
    }
}

#[test]
fn no_region_says_to_pass_one() {
    let home = home();
    let out = with_credentials(&mut bare(&home))
        .env_remove("AWS_EC2_METADATA_DISABLED")
        .arg("status")
        .output()
        .unwrap();
    assert_explained(&out, "no AWS region is set", "--region");
}

#[test]
fn no_credentials_says_how_to_get_some() {
    let home = home();
    let out = bare(&home)
        .args(["status", "--region", "eu-west-1"])
        .output()
        .unwrap();
    assert_explained(&out, "no AWS credentials found", "aws configure");
    // A profile that does not exist is named.
    let out = bare(&home)
        .args(["status", "--region", "eu-west-1", "--profile", "nowhere"])
        .output()
        .unwrap();
    assert_explained(&out, "profile nowhere", "--profile");
}

#[test]
fn a_dead_endpoint_is_named_with_the_flag_to_check() {
    let home = home();
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let url = format!("http://127.0.0.1:{port}");
    let started = std::time::Instant::now();
    let out = with_credentials(&mut bare(&home))
        .args(["status", "--region", "eu-west-1", "--endpoint-url", &url])
        .output()
        .unwrap();
    assert_explained(
        &out,
        &format!("cannot reach {url}: connection refused"),
        "--endpoint-url",
    );
    // Not retried THROTTLE_RETRY_COUNT times with back-off: a refused connection is final.
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
    // One stream's failure names the stream.
    let out = with_credentials(&mut bare(&home))
        .args([
            "unwire",
            "orders",
            "--region",
            "eu-west-1",
            "--endpoint-url",
            &url,
        ])
        .output()
        .unwrap();
    assert_explained(&out, "error: orders: cannot reach", "--endpoint-url");
}

/// A stand-in for AWS that refuses everything as IAM would, in the protocol of the caller.
fn access_denied_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut length = 0usize;
            let mut json = false;
            let mut cbor = false;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                let lower = line.to_ascii_lowercase();
                if let Some(v) = lower.strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
                if lower.starts_with("x-amz-target:") {
                    json = true;
                }
                if lower.starts_with("smithy-protocol:") && lower.contains("rpc-v2-cbor") {
                    cbor = true;
                }
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            let denied = "User: arn:aws:iam::000000000000:user/tester is not authorized to perform";
            let (headers, body) = if cbor {
                // CloudWatch's Smithy RPC v2 CBOR protocol (a query-protocol client, such as
                // IAM's, gets XML below).
                let message = format!("{denied}: cloudwatch:DescribeAlarms on resource: arn:aws:cloudwatch:eu-west-1:000000000000:alarm:* because no identity-based policy allows the cloudwatch:DescribeAlarms action");
                (
                    "Content-Type: application/cbor\r\nsmithy-protocol: rpc-v2-cbor\r\n",
                    common::cbor_text_map(&[("__type", "AccessDenied"), ("message", &message)]),
                )
            } else if json {
                (
                    "Content-Type: application/x-amz-json-1.1\r\nx-amzn-ErrorType: AccessDeniedException\r\n",
                    format!(r#"{{"__type":"AccessDeniedException","message":"{denied}: kinesis:DescribeStreamSummary on resource: arn:aws:kinesis:eu-west-1:000000000000:stream/orders because no identity-based policy allows the kinesis:DescribeStreamSummary action"}}"#).into_bytes(),
                )
            } else {
                (
                    "Content-Type: text/xml\r\n",
                    format!("<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>{denied}: cloudwatch:DescribeAlarms on resource: arn:aws:cloudwatch:eu-west-1:000000000000:alarm:* because no identity-based policy allows the cloudwatch:DescribeAlarms action</Message></Error><RequestId>1</RequestId></ErrorResponse>").into_bytes(),
                )
            };
            let _ = write!(
                stream,
                "HTTP/1.1 403 Forbidden\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(&body);
        }
    });
    url
}

#[test]
fn access_denied_names_the_action_and_the_resource() {
    let home = home();
    let url = access_denied_server();
    let out = with_credentials(&mut bare(&home))
        .args(["status", "--region", "eu-west-1", "--endpoint-url", &url])
        .output()
        .unwrap();
    assert_explained(
        &out,
        "access denied: cloudwatch:DescribeAlarms on arn:aws:cloudwatch:eu-west-1:000000000000:alarm:*",
        "grant cloudwatch:DescribeAlarms",
    );
    // -v adds the whole chain.
    let out = with_credentials(&mut bare(&home))
        .args([
            "status",
            "-v",
            "--region",
            "eu-west-1",
            "--endpoint-url",
            &url,
        ])
        .output()
        .unwrap();
    assert!(stderr_of(&out).contains("DescribeAlarms failed: AccessDenied"));
}

#[test]
fn completions_print_for_each_shell() {
    let home = home();
    for shell in ["bash", "zsh", "fish"] {
        let out = bare(&home).args(["completions", shell]).output().unwrap();
        assert!(out.status.success(), "{shell}: {}", stderr_of(&out));
        let script = String::from_utf8_lossy(&out.stdout);
        assert!(script.contains("kinesis-autoscaler"), "{shell}");
        assert!(script.contains("endpoint-url"), "{shell}");
        assert!(script.contains("reconcile"), "{shell}");
    }
}

#[test]
fn wrong_usage_exits_2() {
    let home = home();
    for args in [&[][..], &["wire"][..], &["status", "--no-such-flag"][..]] {
        let out = bare(&home).args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr_of(&out));
    }
}

/// Runs the binary on a pseudo-terminal (util-linux `script`), so that it sees a TTY;
/// `None` where `script` is not installed.
fn on_a_terminal(home: &Path, no_color: bool) -> Option<String> {
    let mut script = Command::new("script");
    script
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("AWS_CONFIG_FILE", home.join("no-config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", home.join("no-credentials"))
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .args(["-qec", &format!("{BIN} status"), "/dev/null"]);
    if no_color {
        script.env("NO_COLOR", "1");
    }
    let out = script.output().ok()?;
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn colour_only_on_a_terminal_and_never_with_no_color() {
    let home = home();
    let Some(coloured) = on_a_terminal(&home, false) else {
        eprintln!("skipped: util-linux `script` is not installed");
        return;
    };
    assert!(
        coloured.contains("\x1b[1;31merror\x1b[0m: no AWS region is set"),
        "{coloured:?}"
    );
    let plain = on_a_terminal(&home, true).unwrap();
    assert!(plain.contains("error: no AWS region is set"), "{plain:?}");
    assert!(!plain.contains('\x1b'), "{plain:?}");
}
