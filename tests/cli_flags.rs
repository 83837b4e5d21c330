//! The binary against the emulator, configured by flags alone: `--region` and
//! `--endpoint-url` work without AWS_REGION or AWS_ENDPOINT_URL, and every command that
//! changes AWS has a `--dry-run` that changes nothing and is safe to run twice.

mod common;

use kinesis_autoscaler::aws::{AwsClients, AwsPort};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_kinesis-autoscaler");

/// The binary with test credentials and no other AWS variable: region and endpoint come
/// from the flags (`endpoint`: one URL for every service, see [`common::Proxy`]).
fn run(endpoint: &str, args: &[&str]) -> Output {
    let home = std::env::temp_dir();
    Command::new(BIN)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", &home)
        .env("AWS_CONFIG_FILE", home.join("kinesis-autoscaler-no-config"))
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            home.join("kinesis-autoscaler-no-credentials"),
        )
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_ACCESS_KEY_ID", "123456789012")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .args(args)
        .args(["--region", common::REGION, "--endpoint-url", endpoint])
        .output()
        .unwrap()
}

async fn exists(aws: &AwsClients, alarm: &str) -> bool {
    aws.describe_alarms(&[alarm.to_string()])
        .await
        .expect("DescribeAlarms")
        .contains_key(alarm)
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

async fn flags_alone_reach_the_emulator_and_dry_runs_change_nothing() {
    let proxy = common::Proxy::start(&[]);
    let run = |args: &[&str]| run(&proxy.url, args);
    let aws = common::clients().await;
    let stream = common::unique("cli-flags");
    common::create_stream(&aws, &stream, 1).await;
    let topic = common::topic_arn();
    let up = format!("{stream}-scale-up");

    // wire --dry-run writes nothing.
    ok(&run(&["wire", &stream, "--topic-arn", &topic, "--dry-run"]));
    assert!(!exists(&aws, &up).await);

    // wire, then wire again: the second changes nothing.
    let first = ok(&run(&["wire", &stream, "--topic-arn", &topic]));
    assert!(first.contains(&stream), "{first}");
    assert!(exists(&aws, &up).await);
    let again = ok(&run(&["wire", &stream, "--topic-arn", &topic]));
    assert!(again.contains("unchanged"), "{again}");

    // Piped, a run over several streams prints its reports and nothing else: no progress bar.
    let second = common::unique("cli-flags");
    common::create_stream(&aws, &second, 1).await;
    let both = run(&["wire", &stream, &second, "--topic-arn", &topic]);
    ok(&both);
    assert!(
        both.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&both.stderr)
    );
    ok(&run(&["unwire", &second]));

    // status as JSON for scripts.
    let status: serde_json::Value =
        serde_json::from_str(&ok(&run(&["status", &stream, "--json"]))).unwrap();
    assert_eq!(status["streams"][0]["stream"], stream.as_str());

    // reconcile --dry-run: nothing drifted, nothing to fix.
    let report = ok(&run(&["reconcile", &stream, "--dry-run"]));
    assert!(report.contains("0 drift(s) to fix"), "{report}");

    // unwire --dry-run says what it would delete and deletes nothing.
    let dry = ok(&run(&["unwire", &stream, "--dry-run"]));
    assert!(dry.contains(&format!("{up} would be deleted")), "{dry}");
    assert!(exists(&aws, &up).await);

    // unwire twice: the second finds nothing to delete, and still succeeds.
    let gone = ok(&run(&["unwire", &stream]));
    assert!(gone.contains(&format!("{up} deleted")), "{gone}");
    assert!(!exists(&aws, &up).await);
    let twice = ok(&run(&["unwire", &stream]));
    assert!(twice.contains(&format!("{up} already absent")), "{twice}");
}

crate::on_emulators!(flags_alone_reach_the_emulator_and_dry_runs_change_nothing);
