//! Drop-in for the Go sample, for real: the `kinesis-autoscaler handle` binary against the
//! emulator behind `scripts/aws_proxy.py --allow`, which answers AccessDenied for every action
//! the upstream sample's role does not grant. Scale-up and scale-down through each of the three
//! trigger shapes, a forged event, tolerated settings, a stream at the 50-tag limit and the
//! refusal metric. Needs the emulators `scripts/test.sh` starts (the proxy routes CloudWatch
//! to LocalStack).

mod common;
mod dropin_support;

use chrono::{DateTime, Utc};
use common::unique;
use dropin_support::*;
use kinesis_autoscaler::aws::{AwsClients, AwsPort};
use kinesis_autoscaler::domain::degraded::UPSTREAM_ROLE_ACTIONS;
use kinesis_autoscaler::domain::metrics::{FATAL_ERROR_METRIC, REFUSED_METRIC, RESHARDS_METRIC};
use kinesis_autoscaler::domain::settings::{RetrySettings, Settings};
use serde_json::Value;
use std::process::Command;

fn moto() -> String {
    std::env::var("AWS_ENDPOINT_URL").unwrap_or_else(|_| {
        panic!("this test talks to a moto server: run scripts/test.sh, which starts one")
    })
}

/// The proxy playing IAM with the upstream role's allow-list, in front of every emulator.
struct UpstreamRole(common::Proxy);

impl UpstreamRole {
    fn start() -> UpstreamRole {
        UpstreamRole(common::Proxy::start(&[
            "--allow",
            &UPSTREAM_ROLE_ACTIONS.join(","),
        ]))
    }
}

/// The account's administrator: straight to moto, no role.
async fn admin() -> AwsClients {
    moto();
    AwsClients::load(&RetrySettings {
        min_sleep: std::time::Duration::from_millis(10),
        max_sleep: std::time::Duration::from_millis(50),
        count: 2,
    })
    .await
}

/// A stream of `shards` with its alarm pair wired for that count, publishing to the topic.
async fn wired_stream(aws: &AwsClients, prefix: &str, shards: u32) -> String {
    let stream = unique(prefix);
    common::create_stream(aws, &stream, shards).await;
    common::wire(aws, &Settings::default(), &stream, shards).await;
    stream
}

/// CloudWatch's side of an alarm firing: the alarm goes to ALARM, then its event is sent.
async fn fire(aws: &AwsClients, alarm: &str) -> DateTime<Utc> {
    aws.set_alarm_state(alarm, "ALARM", "test: threshold crossed")
        .await
        .expect("SetAlarmState");
    Utc::now()
}

async fn shards(aws: &AwsClients, stream: &str) -> u32 {
    aws.stream_summary(stream)
        .await
        .expect("DescribeStreamSummary")
        .open_shards
}

struct Handled {
    ok: bool,
    report: Value,
    metrics: Vec<String>,
    stderr: String,
}

/// `kinesis-autoscaler handle --event FILE` under the upstream role, with `env` set.
fn handle(role: &UpstreamRole, event: &str, env: &[(&str, &str)]) -> Handled {
    let path = std::env::temp_dir().join(format!("{}.json", unique("dropin-event")));
    std::fs::write(&path, event).expect("write the event");
    let out = Command::new(env!("CARGO_BIN_EXE_kinesis-autoscaler"))
        .args(["handle", "--event", path.to_str().expect("a UTF-8 path")])
        .env("AWS_ENDPOINT_URL", &role.0.url)
        .env_remove("AWS_ENDPOINT_URL_CLOUDWATCH")
        .env("THROTTLE_RETRY_COUNT", "2")
        .envs(env.iter().copied())
        .env_remove("AWS_LAMBDA_RUNTIME_API")
        .output()
        .expect("the binary runs");
    let _ = std::fs::remove_file(&path);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("JSON on stdout ({e}); stderr: {stderr}"));
    let metrics = stderr
        .lines()
        .filter(|l| l.starts_with('{') && l.contains("\"_aws\""))
        .map(str::to_string)
        .collect();
    Handled {
        ok: out.status.success(),
        report,
        metrics,
        stderr,
    }
}

async fn scale_up_and_down_through_every_shape_under_the_upstream_role() {
    let aws = admin().await;
    let role = UpstreamRole::start();
    for shape in SHAPES {
        let stream = wired_stream(&aws, "dropin", 2).await;
        let up = format!("{stream}-scale-up");
        let at = fire(&aws, &up).await;
        let handled = handle(&role, &event(shape, &up, &stream, "ALARM", at), &[]);
        assert!(handled.ok, "{shape:?}: {}", handled.stderr);
        assert_eq!(
            handled.report["alarms"][0]["outcome"], "scaled",
            "{shape:?}: {}",
            handled.report
        );
        assert_eq!(shards(&aws, &stream).await, 4, "{shape:?}");
        assert_eq!(
            handled.report["degraded"],
            serde_json::json!(["headroom_denied"]),
            "{shape:?}: DescribeLimits is not in the role"
        );
        assert!(
            handled
                .stderr
                .contains("kinesis:DescribeLimits is not granted"),
            "{shape:?}: logged with the permission: {}",
            handled.stderr
        );
        let reshards = metric_docs(&handled.metrics, RESHARDS_METRIC);
        assert_eq!(reshards.len(), 1, "{shape:?}");
        assert_eq!(reshards[0]["StreamName"], stream.as_str());
        assert_eq!(reshards[0]["Direction"], "up");

        let down = format!("{stream}-scale-down");
        let at = fire(&aws, &down).await;
        let handled = handle(&role, &event(shape, &down, &stream, "ALARM", at), &[]);
        assert!(handled.ok, "{shape:?}: {}", handled.stderr);
        assert_eq!(
            handled.report["alarms"][0]["outcome"], "scaled",
            "{shape:?}: {}",
            handled.report
        );
        assert_eq!(shards(&aws, &stream).await, 2, "{shape:?}");
        assert_eq!(
            metric_docs(&handled.metrics, RESHARDS_METRIC)[0]["Direction"],
            "down"
        );
    }
}

async fn a_forged_event_changes_nothing() {
    let aws = admin().await;
    let role = UpstreamRole::start();
    for shape in SHAPES {
        let stream = wired_stream(&aws, "forged", 2).await;
        let up = format!("{stream}-scale-up");
        aws.set_alarm_state(&up, "OK", "test: quiet")
            .await
            .expect("SetAlarmState");
        let handled = handle(&role, &event(shape, &up, &stream, "ALARM", Utc::now()), &[]);
        assert!(handled.ok, "a refusal is handled: {}", handled.stderr);
        let outcome = &handled.report["alarms"][0];
        assert_eq!(outcome["outcome"], "refused", "{shape:?}: {outcome}");
        assert_eq!(outcome["refusal"], "unconfirmed");
        assert_eq!(shards(&aws, &stream).await, 2, "{shape:?}: no reshard");
        let refused = metric_docs(&handled.metrics, REFUSED_METRIC);
        assert_eq!(refused.len(), 1, "{shape:?}");
        assert_eq!(refused[0]["Reason"], "unconfirmed");
        assert!(
            !handled.metrics.iter().any(|line| line.contains(&stream)),
            "{shape:?}: an unconfirmed event names no stream in a metric: {:?}",
            handled.metrics
        );
    }
}

async fn tolerated_settings_scale_and_are_reported() {
    let aws = admin().await;
    let role = UpstreamRole::start();
    let stream = wired_stream(&aws, "tolerant", 2).await;
    let up = format!("{stream}-scale-up");
    let at = fire(&aws, &up).await;
    let env = [
        ("SCALE_UP_THRESHOLD", "12"),
        ("SCALE_DOWN_THRESHOLD", "a quarter"),
        ("SCALE_UP_DATAPOINTS_REQUIRED", "9"),
        ("DRY_RUN", "false"),
    ];
    let handled = handle(&role, &event(Shape::Sns, &up, &stream, "ALARM", at), &env);
    assert!(handled.ok, "{}", handled.stderr);
    assert_eq!(
        handled.report["alarms"][0]["outcome"], "scaled",
        "{}",
        handled.report
    );
    assert_eq!(shards(&aws, &stream).await, 4);
    let variables: Vec<&str> = handled.report["settings_fallbacks"]
        .as_array()
        .expect("settings_fallbacks in the report")
        .iter()
        .filter_map(|f| f["variable"].as_str())
        .collect();
    assert_eq!(
        variables,
        [
            "SCALE_UP_THRESHOLD",
            "SCALE_DOWN_THRESHOLD",
            "SCALE_UP_DATAPOINTS_REQUIRED"
        ]
    );
    assert!(
        handled
            .stderr
            .contains("SCALE_DOWN_THRESHOLD=\"a quarter\""),
        "{}",
        handled.stderr
    );
    assert_eq!(metric_docs(&handled.metrics, FATAL_ERROR_METRIC).len(), 1);
    let alarm = aws
        .describe_alarms(std::slice::from_ref(&up))
        .await
        .expect("DescribeAlarms")
        .remove(&up)
        .expect("the alarm exists");
    assert_eq!(alarm.spec.threshold, 12.0, "used with its meaning");
    assert_eq!(alarm.spec.datapoints_to_alarm, 5, "what CloudWatch takes");

    // check-config stays strict and names the culprits.
    let out = Command::new(env!("CARGO_BIN_EXE_kinesis-autoscaler"))
        .arg("check-config")
        .envs(env.iter().copied())
        .output()
        .expect("the binary runs");
    assert!(!out.status.success());
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("SCALE_DOWN_THRESHOLD"), "{text}");
}

async fn a_stream_at_the_fifty_tag_limit_scales_and_a_refusal_is_counted() {
    let aws = admin().await;
    let role = UpstreamRole::start();
    let stream = wired_stream(&aws, "tagged", 2).await;
    for i in 0..50 {
        aws.tag_stream(&stream, &format!("team-{i}"), "x")
            .await
            .expect("AddTagsToStream");
    }
    let up = format!("{stream}-scale-up");
    let at = fire(&aws, &up).await;
    let handled = handle(
        &role,
        &event(Shape::AlarmAction, &up, &stream, "ALARM", at),
        &[],
    );
    assert!(handled.ok, "{}", handled.stderr);
    assert_eq!(
        handled.report["alarms"][0]["outcome"], "scaled",
        "{}",
        handled.report
    );
    assert_eq!(shards(&aws, &stream).await, 4);

    // At its maximum (a stream tag), the next scale-up is refused and counted by reason.
    let bounded = wired_stream(&aws, "bounded", 2).await;
    aws.tag_stream(&bounded, "AutoscalerMaxShards", "2")
        .await
        .expect("AddTagsToStream");
    let up = format!("{bounded}-scale-up");
    let at = fire(&aws, &up).await;
    let handled = handle(
        &role,
        &event(Shape::EventBridge, &up, &bounded, "ALARM", at),
        &[],
    );
    assert!(handled.ok, "{}", handled.stderr);
    assert_eq!(handled.report["alarms"][0]["outcome"], "refused");
    let refused = metric_docs(&handled.metrics, REFUSED_METRIC);
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0]["Reason"], "at_bound");
    assert_eq!(refused[0]["StreamName"], bounded.as_str());
    assert_eq!(shards(&aws, &bounded).await, 2);
}

/// A function in moto, as the Go sample deploys it: its role with the sample's policy, its
/// environment variables.
async fn deploy_go_sample(aws: &AwsClients, name: &str, env: &[(&str, &str)]) {
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    let role = aws
        .iam
        .create_role()
        .role_name(format!("{name}-role"))
        .assume_role_policy_document(trust)
        .send()
        .await
        .expect("CreateRole");
    let role_arn = role.role().map(|r| r.arn().to_string()).expect("role ARN");
    let policy = serde_json::json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Resource": format!("arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:*"),
         "Action": ["cloudwatch:DescribeAlarms", "cloudwatch:GetMetricData", "cloudwatch:ListMetrics",
                    "cloudwatch:PutMetricAlarm", "cloudwatch:PutMetricData", "cloudwatch:ListTagsForResource",
                    "cloudwatch:SetAlarmState", "cloudwatch:TagResource"]},
        {"Effect": "Allow", "Resource": format!("arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/*"),
         "Action": ["kinesis:DescribeStreamSummary", "kinesis:AddTagsToStream",
                    "kinesis:ListTagsForStream", "kinesis:UpdateShardCount"]}
    ]});
    aws.iam
        .put_role_policy()
        .role_name(format!("{name}-role"))
        .policy_name("scaling")
        .policy_document(policy.to_string())
        .send()
        .await
        .expect("PutRolePolicy");
    // The smallest valid zip archive: an end-of-central-directory record and nothing else.
    let mut empty_zip = b"PK\x05\x06".to_vec();
    empty_zip.resize(22, 0);
    let mut variables = aws_sdk_lambda::types::Environment::builder();
    for (k, v) in env {
        variables = variables.variables(*k, *v);
    }
    aws.lambda
        .create_function()
        .function_name(name)
        .runtime(aws_sdk_lambda::types::Runtime::Providedal2)
        .role(role_arn)
        .handler("bootstrap")
        .environment(variables.build())
        .code(
            aws_sdk_lambda::types::FunctionCode::builder()
                .zip_file(empty_zip.into())
                .build(),
        )
        .send()
        .await
        .expect("CreateFunction");
}

async fn doctor_reads_the_deployed_go_sample() {
    let aws = admin().await;
    let name = unique("go-scaler");
    let stream = wired_stream(&aws, "doctor", 2).await;
    // Scoped to this test's stream: the emulator is shared with other tests.
    deploy_go_sample(
        &aws,
        &name,
        &[
            ("SCALE_UP_THRESHOLD", "0.75"),
            ("SCALE_DOWN_EVALUATION_PERIOD", "sixty"),
            ("MANAGED_STREAM_PREFIX", &stream),
        ],
    )
    .await;

    let out = Command::new(env!("CARGO_BIN_EXE_kinesis-autoscaler"))
        .args(["doctor", "--function", &name, "--json"])
        .env_remove("AWS_LAMBDA_RUNTIME_API")
        .output()
        .expect("the binary runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("JSON on stdout ({e}); stderr: {stderr}"));
    assert!(
        out.status.success(),
        "nothing fails under the upstream role: {report:#}"
    );
    assert_eq!(
        report["settings"][0]["variable"],
        "SCALE_DOWN_EVALUATION_PERIOD"
    );
    assert!(
        report["function_findings"]
            .to_string()
            .contains("kinesis:DescribeLimits"),
        "{report:#}"
    );
    let ours = report["streams"]
        .as_array()
        .expect("streams")
        .iter()
        .find(|s| s["stream"] == stream.as_str())
        .unwrap_or_else(|| panic!("{stream} in {report:#}"));
    assert!(
        ours["findings"]
            .to_string()
            .contains("kinesis:RemoveTagsFromStream"),
        "{ours:#}"
    );
}

crate::on_emulators!(
    scale_up_and_down_through_every_shape_under_the_upstream_role,
    a_forged_event_changes_nothing,
    tolerated_settings_scale_and_are_reported,
    a_stream_at_the_fifty_tag_limit_scales_and_a_refusal_is_counted,
    doctor_reads_the_deployed_go_sample
);
