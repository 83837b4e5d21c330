//! Shared by the integration tests: the two accounts a scenario runs against (the in-process
//! fake, and the moto server that `scripts/test.sh` starts), and builders for streams, wired
//! alarms and alarm events.
//!
//! A scenario written as `async fn name<A: Account>(aws: A)` and listed in
//! [`on_both_accounts!`] runs twice: `in_process::name` against [`FakeAws`], and
//! `emulator::name` through the real SDK against the emulators `scripts/test.sh` starts
//! (moto, and LocalStack for CloudWatch). A test that needs an emulator lives in a module or
//! file named for it and is `#[ignore = "needs an emulator: scripts/test.sh"]`: a plain
//! `cargo test` reports it as ignored rather than passing it without running it.
#![allow(dead_code)]

use aws_sdk_cloudwatch::types::{Dimension, MetricDatum, StandardUnit};
use chrono::{DateTime, Duration, Utc};
use kinesis_autoscaler::aws::fake::FakeAws;
use kinesis_autoscaler::aws::{AwsClients, AwsPort, ExistingAlarm};
use kinesis_autoscaler::domain::alarms::{self, AlarmTarget, KeptFields};
use kinesis_autoscaler::domain::event::{AlarmPair, Direction};
use kinesis_autoscaler::domain::settings::{RetrySettings, Settings};
use kinesis_autoscaler::ops::autoscaler::Autoscaler;
use kinesis_autoscaler::ops::outcome::InvocationReport;
use kinesis_autoscaler::ops::wiring::alarm_tags_for;
use serde_json::json;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};

pub const ACCOUNT: &str = "123456789012";
pub const REGION: &str = "us-east-1";

pub fn topic_arn() -> String {
    format!("arn:aws:sns:{REGION}:{ACCOUNT}:kinesis-autoscaler")
}

/// Runs each listed scenario (`async fn name<A: Account>(aws: A)`, defined in the calling
/// file) against the in-process fake, as `in_process::name`, and against the emulators through
/// the real SDK, as `emulator::name` (ignored unless run by `scripts/test.sh`). Tests for the
/// emulators alone (`async fn name()`) may follow `emulators only:`, in the same module.
#[macro_export]
macro_rules! on_both_accounts {
    ($($name:ident),* ; emulators only: $($only:ident),* $(,)?) => {
        mod in_process {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name($crate::common::fake_account()).await
                }
            )*
        }
        mod emulator {
            $(
                #[tokio::test]
                #[ignore = "needs an emulator: scripts/test.sh"]
                async fn $name() {
                    super::$name($crate::common::clients().await).await
                }
            )*
            $(
                #[tokio::test]
                #[ignore = "needs an emulator: scripts/test.sh"]
                async fn $only() {
                    super::$only().await
                }
            )*
        }
    };
    ($($name:ident),* $(,)?) => {
        $crate::on_both_accounts!($($name),* ; emulators only:);
    };
}

/// Runs each listed test (`async fn name()`, or after `sync:` a plain `fn name()`, defined in
/// the calling file), which needs the emulators, as `emulator::name`: ignored by a plain
/// `cargo test`, run by `scripts/test.sh`.
#[macro_export]
macro_rules! on_emulators {
    (async: $($name:ident),* ; sync: $($plain:ident),* $(,)?) => {
        mod emulator {
            $(
                #[tokio::test]
                #[ignore = "needs an emulator: scripts/test.sh"]
                async fn $name() {
                    super::$name().await
                }
            )*
            $(
                #[test]
                #[ignore = "needs an emulator: scripts/test.sh"]
                fn $plain() {
                    super::$plain()
                }
            )*
        }
    };
    ($($name:ident),* $(,)?) => {
        $crate::on_emulators!(async: $($name),* ; sync:);
    };
}

/// What a scenario needs of an account beside the port: making streams and functions the way
/// a user would, outside the autoscaler.
#[allow(async_fn_in_trait)]
pub trait Account: AwsPort + Clone + 'static {
    async fn new_stream(&self, name: &str, shards: u32);
    async fn new_on_demand_stream(&self, name: &str);
    /// A consumer function whose reserved concurrency can be set; its name or ARN.
    async fn new_function(&self, name: &str) -> String;
    async fn remove_stream(&self, name: &str);
    /// Puts an alarm in ALARM as CloudWatch does when its threshold is crossed: outside the
    /// autoscaler's view (no fault, no call in the log).
    async fn cloudwatch_sets_alarm(&self, alarm: &str);
}

/// The in-process account, on the wall clock like moto.
pub fn fake_account() -> FakeAws {
    FakeAws::default()
}

impl Account for FakeAws {
    async fn new_stream(&self, name: &str, shards: u32) {
        self.create_stream(name, shards);
    }

    async fn new_on_demand_stream(&self, name: &str) {
        self.create_on_demand_stream(name, 4);
    }

    async fn new_function(&self, name: &str) -> String {
        self.create_function(name);
        name.to_string()
    }

    async fn remove_stream(&self, name: &str) {
        self.delete_stream(name);
    }

    async fn cloudwatch_sets_alarm(&self, alarm: &str) {
        self.set_state(alarm, "ALARM");
    }
}

impl Account for AwsClients {
    async fn new_stream(&self, name: &str, shards: u32) {
        self.kinesis
            .create_stream()
            .stream_name(name)
            .shard_count(i32::try_from(shards).expect("a small shard count"))
            .send()
            .await
            .expect("CreateStream");
    }

    async fn new_on_demand_stream(&self, name: &str) {
        let on_demand = aws_sdk_kinesis::types::StreamModeDetails::builder()
            .stream_mode(aws_sdk_kinesis::types::StreamMode::OnDemand)
            .build()
            .expect("stream mode details");
        self.kinesis
            .create_stream()
            .stream_name(name)
            .stream_mode_details(on_demand)
            .send()
            .await
            .expect("CreateStream (ON_DEMAND)");
    }

    async fn new_function(&self, name: &str) -> String {
        create_moto_function(self, name).await
    }

    async fn remove_stream(&self, name: &str) {
        self.kinesis
            .delete_stream()
            .stream_name(name)
            .send()
            .await
            .expect("DeleteStream");
    }

    async fn cloudwatch_sets_alarm(&self, alarm: &str) {
        // Fresh clients: straight to the emulator, past any proxy a test put in front.
        let _ = clients()
            .await
            .set_alarm_state(alarm, "ALARM", "test: threshold crossed")
            .await;
    }
}

/// The emulator's endpoint (moto; CloudWatch may have its own, `AWS_ENDPOINT_URL_CLOUDWATCH`,
/// which the SDK honours); integration tests need one.
pub fn endpoint() -> String {
    std::env::var("AWS_ENDPOINT_URL").unwrap_or_else(|_| {
        panic!("integration tests talk to the emulators: run scripts/test.sh, which starts them, or set AWS_ENDPOINT_URL (and AWS_ENDPOINT_URL_CLOUDWATCH) and test credentials")
    })
}

/// Clients of the emulators. An attempt may take a minute: LocalStack's CloudWatch answers
/// GetMetricData in seconds when the whole suite runs at once (AWS's 10 s would fail calls
/// that are merely slow there).
pub async fn clients() -> AwsClients {
    endpoint();
    AwsClients::load_with_attempt_timeout(
        &RetrySettings {
            min_sleep: std::time::Duration::from_millis(10),
            max_sleep: std::time::Duration::from_millis(50),
            count: 2,
        },
        std::time::Duration::from_secs(60),
    )
    .await
}

/// `scripts/aws_proxy.py` in front of the emulators: one endpoint for every service (CloudWatch
/// routed to `AWS_ENDPOINT_URL_CLOUDWATCH` when set), for a client given a single URL, e.g.
/// the binary's `--endpoint-url`. Stopped when dropped.
pub struct Proxy {
    child: std::process::Child,
    pub url: String,
}

impl Proxy {
    /// Starts the proxy with `args` beside its upstreams (e.g. `--allow ACTIONS`).
    pub fn start(args: &[&str]) -> Proxy {
        use std::io::BufRead;
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/aws_proxy.py");
        let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_string());
        let mut command = std::process::Command::new(python);
        command.args([script, "--upstream", &endpoint()]).args(args);
        if let Ok(cloudwatch) = std::env::var("AWS_ENDPOINT_URL_CLOUDWATCH") {
            command.args(["--route", &format!("monitoring={cloudwatch}")]);
        }
        let mut child = command
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .expect("the proxy starts (python3 scripts/aws_proxy.py)");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().expect("proxy stdout"))
            .read_line(&mut line)
            .expect("the proxy prints its URL");
        let url = line.trim().to_string();
        assert!(url.starts_with("http://127.0.0.1:"), "proxy said {line:?}");
        Proxy { child, url }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A CBOR map of text keys to text values: an error body of the Smithy RPC v2 CBOR protocol
/// (CloudWatch's), written by hand for the few tests that answer in it.
pub fn cbor_text_map(fields: &[(&str, &str)]) -> Vec<u8> {
    fn head(major: u8, len: usize, out: &mut Vec<u8>) {
        match u16::try_from(len) {
            Ok(n) if n < 24 => out.push(major << 5 | n as u8),
            Ok(n) if n < 256 => out.extend([major << 5 | 24, n as u8]),
            Ok(n) => {
                out.push(major << 5 | 25);
                out.extend(n.to_be_bytes());
            }
            Err(_) => panic!("a short test message"),
        }
    }
    let mut out = Vec::new();
    head(5, fields.len(), &mut out);
    for text in fields.iter().flat_map(|(k, v)| [k, v]) {
        head(3, text.len(), &mut out);
        out.extend(text.as_bytes());
    }
    out
}

/// A name no other test in this moto server uses.
pub fn unique(prefix: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// The autoscaler, as the Lambda builds it, on `aws`'s account.
pub fn autoscaler<A: Account>(aws: &A, settings: Settings) -> Autoscaler<A> {
    Autoscaler::new(aws.clone(), settings, "kinesis-autoscaler-test")
}

pub async fn create_stream(aws: &impl Account, name: &str, shards: u32) {
    aws.new_stream(name, shards).await
}

pub async fn create_on_demand_stream(aws: &impl Account, name: &str) {
    aws.new_on_demand_stream(name).await
}

pub async fn create_consumer_function(aws: &impl Account, name: &str) -> String {
    aws.new_function(name).await
}

pub async fn delete_stream(aws: &impl Account, name: &str) {
    aws.remove_stream(name).await
}

pub async fn tag_stream(aws: &impl AwsPort, name: &str, key: &str, value: &str) {
    aws.tag_stream(name, key, value)
        .await
        .expect("AddTagsToStream");
}

pub async fn open_shards(aws: &impl AwsPort, name: &str) -> u32 {
    aws.stream_summary(name)
        .await
        .expect("DescribeStreamSummary")
        .open_shards
}

pub async fn stream_tags(aws: &impl AwsPort, name: &str) -> HashMap<String, String> {
    aws.stream_tags(name).await.expect("ListTagsForStream")
}

/// Wires the alarm pair the way `wire` does: the shared builder at the current count.
pub async fn wire(aws: &impl AwsPort, settings: &Settings, stream: &str, shards: u32) -> AlarmPair {
    let pair = AlarmPair::new(stream);
    let target = AlarmTarget {
        pair: &pair,
        stream,
        shards,
        min_shards: 1,
        max_shards: 10_000,
    };
    let specs = alarms::build_pair(
        settings,
        &target,
        Some(&topic_arn()),
        &KeptFields::default(),
        &KeptFields::default(),
    );
    for (spec, direction) in [
        (&specs.scale_up, Direction::Up),
        (&specs.scale_down, Direction::Down),
    ] {
        let tags: Vec<(String, String)> = alarm_tags_for(direction, &pair).into_iter().collect();
        aws.put_alarm(spec, &tags).await.expect("PutMetricAlarm");
    }
    pair
}

pub async fn alarm(aws: &impl AwsPort, name: &str) -> ExistingAlarm {
    let mut found = aws
        .describe_alarms(&[name.to_string()])
        .await
        .expect("DescribeAlarms");
    found
        .remove(name)
        .unwrap_or_else(|| panic!("alarm {name} does not exist"))
}

pub async fn alarm_tags(aws: &impl AwsPort, name: &str) -> HashMap<String, String> {
    aws.alarm_tags(&alarm_arn(name))
        .await
        .expect("ListTagsForResource")
}

pub fn alarm_arn(name: &str) -> String {
    format!("arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{name}")
}

/// An SNS event carrying one alarm notification, shaped as Lambda delivers it.
pub fn alarm_event(
    alarm_name: &str,
    stream: &str,
    state: &str,
    changed_at: DateTime<Utc>,
) -> String {
    sns_event(&[alarm_message(alarm_name, stream, state, changed_at)])
}

pub fn alarm_message(
    alarm_name: &str,
    stream: &str,
    state: &str,
    changed_at: DateTime<Utc>,
) -> serde_json::Value {
    let dims = json!([{"value": stream, "name": "StreamName"}]);
    json!({
        "AlarmName": alarm_name,
        "AlarmDescription": "Alarm to scale Kinesis stream",
        "AWSAccountId": ACCOUNT,
        "NewStateValue": state,
        "NewStateReason": "Threshold Crossed",
        "StateChangeTime": changed_at.format("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string(),
        "Region": "US East (N. Virginia)",
        "AlarmArn": alarm_arn(alarm_name),
        "OldStateValue": "OK",
        "Trigger": {
            "Period": 300, "EvaluationPeriods": 5, "ComparisonOperator": "GreaterThanOrEqualToThreshold",
            "Threshold": 0.75, "TreatMissingData": "ignore", "EvaluateLowSampleCountPercentile": "",
            "Metrics": [
                {"Id": "m1", "Label": "IncomingBytes", "ReturnData": false, "MetricStat": {"Metric": {"Dimensions": dims, "MetricName": "IncomingBytes", "Namespace": "AWS/Kinesis"}, "Period": 300, "Stat": "Sum"}},
                {"Id": "m2", "Label": "IncomingRecords", "ReturnData": false, "MetricStat": {"Metric": {"Dimensions": dims, "MetricName": "IncomingRecords", "Namespace": "AWS/Kinesis"}, "Period": 300, "Stat": "Sum"}},
                {"Id": "e6", "Expression": "MAX([e3,e4])", "Label": "MaxIncomingUsageFactor", "ReturnData": true}
            ]
        }
    })
}

pub fn sns_event(messages: &[serde_json::Value]) -> String {
    let records: Vec<_> = messages
        .iter()
        .enumerate()
        .map(|(i, message)| {
            let text = match message {
                serde_json::Value::String(raw) => raw.clone(),
                other => other.to_string(),
            };
            json!({
                "EventSource": "aws:sns", "EventVersion": "1.0",
                "EventSubscriptionArn": format!("{}:sub", topic_arn()),
                "Sns": {
                    "Type": "Notification", "MessageId": format!("message-{i}"), "TopicArn": topic_arn(),
                    "Subject": "ALARM", "Message": text, "Timestamp": "2026-11-23T10:15:44.812Z",
                    "SignatureVersion": "1", "Signature": "EXAMPLE", "SigningCertUrl": "EXAMPLE",
                    "UnsubscribeUrl": "EXAMPLE", "MessageAttributes": {}
                }
            })
        })
        .collect();
    json!({ "Records": records }).to_string()
}

/// A state change a moment ago: after any reshard made before this call.
pub fn just_now() -> DateTime<Utc> {
    Utc::now() - Duration::milliseconds(1)
}

/// Lets the wall clock move past the last reshard's millisecond, as an alarm's evaluation
/// periods would before it fires again (the in-process account answers within one).
pub async fn a_moment_later() {
    tokio::time::sleep(std::time::Duration::from_millis(3)).await;
}

/// Handles `event` as Lambda would, after CloudWatch's side of it: an alarm is in ALARM
/// when its notification is sent, and the handler acts only on alarms CloudWatch shows in
/// ALARM. So each alarm the event says is in ALARM is put there first, as CloudWatch would
/// (not through the autoscaler's faults or call log). Forged events are tested with
/// `handle_invocation`.
pub async fn handle<A: Account>(autoscaler: &Autoscaler<A>, event: &str) -> InvocationReport {
    let invocation =
        kinesis_autoscaler::domain::event::parse_invocation_text(event).expect("a parsable event");
    if let kinesis_autoscaler::domain::event::Invocation::Alarms(records) = &invocation {
        for notification in records.iter().flatten().filter(|n| n.is_alarm()) {
            autoscaler
                .aws
                .cloudwatch_sets_alarm(&notification.alarm_name)
                .await;
        }
    }
    autoscaler.handle_invocation(invocation).await
}

/// CloudWatch's side of an alarm firing: the alarm goes to ALARM (its event is sent after).
pub async fn fire(aws: &impl Account, alarm: &str) {
    aws.cloudwatch_sets_alarm(alarm).await
}

/// How many error-metric lines (`FATAL_ERROR_KINESIS_SCALING`) a report emits, beside its
/// reshard and refusal counts.
pub fn error_metrics(report: &InvocationReport) -> usize {
    report
        .metric_lines
        .iter()
        .filter(|l| l.contains(kinesis_autoscaler::domain::metrics::FATAL_ERROR_METRIC))
        .count()
}

/// Creates an IAM role in moto with a plain query-protocol POST (moto checks that a
/// function's role exists; the IAM SDK crate is not worth compiling for one call).
fn create_moto_role(name: &str) -> String {
    use std::io::{Read, Write};
    let endpoint = endpoint();
    let host = endpoint.trim_start_matches("http://").trim_end_matches('/');
    let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    let encoded: String = policy
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    let body = format!(
        "Action=CreateRole&Version=2010-05-08&RoleName={name}&AssumeRolePolicyDocument={encoded}"
    );
    let request = format!(
        "POST / HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/x-www-form-urlencoded\r\nAuthorization: AWS4-HMAC-SHA256 Credential=testing/20261123/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=0\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut socket = std::net::TcpStream::connect(host).expect("connect to moto");
    socket
        .write_all(request.as_bytes())
        .expect("send CreateRole");
    let mut answer = String::new();
    socket
        .read_to_string(&mut answer)
        .expect("read CreateRole answer");
    assert!(
        answer.starts_with("HTTP/1.1 200") || answer.contains("EntityAlreadyExists"),
        "CreateRole: {answer}"
    );
    format!("arn:aws:iam::{ACCOUNT}:role/{name}")
}

/// A consumer function in moto whose reserved concurrency the autoscaler can set.
async fn create_moto_function(aws: &AwsClients, name: &str) -> String {
    let role = create_moto_role(&format!("{name}-role"));
    // The smallest valid zip archive: an end-of-central-directory record and nothing else.
    let mut empty_zip = b"PK\x05\x06".to_vec();
    empty_zip.resize(22, 0);
    let out = aws
        .lambda
        .create_function()
        .function_name(name)
        .runtime(aws_sdk_lambda::types::Runtime::Python312)
        .role(role)
        .handler("consumer.handler")
        .code(
            aws_sdk_lambda::types::FunctionCode::builder()
                .zip_file(empty_zip.into())
                .build(),
        )
        .send()
        .await
        .expect("CreateFunction");
    out.function_arn().expect("function ARN").to_string()
}

/// A datapoint of `stream`'s AWS/Kinesis metric `metric` for the period starting at `at`.
pub fn kinesis_datum(
    stream: &str,
    metric: &str,
    at: DateTime<Utc>,
    value: f64,
    unit: Option<StandardUnit>,
) -> MetricDatum {
    MetricDatum::builder()
        .metric_name(metric)
        .dimensions(
            Dimension::builder()
                .name("StreamName")
                .value(stream)
                .build(),
        )
        .timestamp(aws_sdk_cloudwatch::primitives::DateTime::from_secs(
            at.timestamp(),
        ))
        .value(value)
        .set_unit(unit)
        .build()
}

/// PutMetricData of `data` in the AWS/Kinesis namespace, as Kinesis would publish it.
pub async fn put_kinesis_metrics(aws: &AwsClients, data: Vec<MetricDatum>) {
    aws.cloudwatch
        .put_metric_data()
        .namespace("AWS/Kinesis")
        .set_metric_data(Some(data))
        .send()
        .await
        .expect("PutMetricData");
}
