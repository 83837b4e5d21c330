//! `doctor`: reads a deployed function (its configuration, its role's policies, the scaling
//! alarms of the streams it manages) and lists, per stream, what this autoscaler will do
//! differently from what is deployed, or fail at: missing permissions, alarms that do not
//! match the builder, settings that fall back, alarms that notify more than one target (the
//! old and the new function both acting on every alarm).

use crate::aws::{AwsError, AwsPort, ExistingAlarm, FunctionConfiguration};
use crate::domain::alarms::{AlarmSpec, AlarmTarget};
use crate::domain::degraded::{OPTIONAL_ACTIONS, REQUIRED_ACTIONS};
use crate::domain::event::{AlarmPair, Direction};
use crate::domain::fallback::SettingFallback;
use crate::domain::permissions::Grants;
use crate::domain::policy::StreamMode;
use crate::domain::settings::Settings;
use crate::ops::wiring::{desired_pair, same_definition};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Scaling this stream will fail.
    Fails,
    /// It works, differently from what is deployed, or with less than it could.
    Differs,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    pub severity: Severity,
    pub what: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StreamFindings {
    pub stream: String,
    pub findings: Vec<Finding>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DoctorReport {
    pub function: String,
    pub function_arn: String,
    /// Variables the function will not use as set.
    pub settings: Vec<SettingFallback>,
    /// Findings about the function as a whole (role, account-level permissions).
    pub function_findings: Vec<Finding>,
    pub streams: Vec<StreamFindings>,
}

impl DoctorReport {
    pub fn fails(&self) -> usize {
        self.function_findings
            .iter()
            .chain(self.streams.iter().flat_map(|s| &s.findings))
            .filter(|f| f.severity == Severity::Fails)
            .count()
    }
}

fn finding(severity: Severity, what: impl Into<String>) -> Finding {
    Finding {
        severity,
        what: what.into(),
    }
}

/// The ARN prefix `arn:PARTITION:SERVICE:REGION:ACCOUNT:` of the function's own resources.
fn arn_base(function_arn: &str, service: &str) -> String {
    let parts: Vec<&str> = function_arn.split(':').collect();
    match parts.as_slice() {
        [_, partition, _, region, account, ..] => {
            format!("arn:{partition}:{service}:{region}:{account}:")
        }
        _ => format!("arn:aws:{service}:*:*:"),
    }
}

pub async fn doctor(aws: &impl AwsPort, function: &str) -> Result<DoctorReport, AwsError> {
    let config = aws.function_configuration(function).await?;
    let settings = Settings::tolerant_from_lookup(|k| config.environment.get(k).cloned());
    let mut function_findings = Vec::new();
    let grants = match &config.role {
        None => {
            function_findings.push(finding(
                Severity::Differs,
                "the function has no role to read; permissions not checked",
            ));
            None
        }
        Some(role) => match aws.role_policies(role).await {
            Ok(documents) => Some(Grants::from_documents(&documents)),
            Err(err) => {
                function_findings.push(finding(
                    Severity::Differs,
                    format!("cannot read the role's policies ({err}); permissions not checked"),
                ));
                None
            }
        },
    };
    if let Some(grants) = &grants {
        if !grants.allows("kinesis:DescribeLimits", "*") {
            function_findings.push(finding(
                Severity::Differs,
                "kinesis:DescribeLimits not granted on \"*\": account headroom unknown; AWS refuses a scale-up over the account's shard limit",
            ));
        }
    }
    function_findings.extend(
        runtime_findings(&config)
            .into_iter()
            .map(|w| finding(Severity::Differs, w)),
    );

    let alarms = aws
        .alarms_with_prefix(&settings.managed_stream_prefix)
        .await?;
    let mut pairs: BTreeMap<String, HashMap<String, ExistingAlarm>> = BTreeMap::new();
    for alarm in alarms {
        let Some((pair, _)) = AlarmPair::from_alarm_name(&alarm.spec.name) else {
            continue;
        };
        if alarm.spec.stream() != Some(pair.prefix.as_str()) {
            continue;
        }
        pairs
            .entry(pair.prefix.clone())
            .or_default()
            .insert(alarm.spec.name.clone(), alarm);
    }
    let mut streams = Vec::new();
    for (stream, existing) in pairs {
        let findings =
            stream_findings(aws, &settings, &config, grants.as_ref(), &stream, &existing).await;
        streams.push(StreamFindings { stream, findings });
    }
    Ok(DoctorReport {
        function: function.to_string(),
        function_arn: config.arn,
        settings: settings.fallbacks,
        function_findings,
        streams,
    })
}

fn runtime_findings(config: &FunctionConfiguration) -> Vec<String> {
    let mut out = Vec::new();
    match config.runtime.as_deref() {
        Some("provided.al2023") | Some("provided.al2") => {}
        Some(other) => out.push(format!(
            "runtime {other}: this autoscaler runs on provided.al2023 (handler bootstrap); swap runtime and code together"
        )),
        None => {}
    }
    out
}

async fn stream_findings(
    aws: &impl AwsPort,
    settings: &Settings,
    config: &FunctionConfiguration,
    grants: Option<&Grants>,
    stream: &str,
    existing: &HashMap<String, ExistingAlarm>,
) -> Vec<Finding> {
    let mut findings = Vec::new();
    let pair = AlarmPair::new(stream);
    for direction in [Direction::Up, Direction::Down] {
        if !existing.contains_key(&pair.name(direction)) {
            findings.push(finding(
                Severity::Fails,
                format!("alarm {} is missing: wire {stream}", pair.name(direction)),
            ));
        }
    }
    for alarm in existing.values() {
        if let Some(f) = action_finding(&alarm.spec, &config.arn) {
            findings.push(f);
        }
    }
    if let Some(grants) = grants {
        findings.extend(permission_findings(grants, &config.arn, stream));
    }

    let summary = match aws.stream_summary(stream).await {
        Ok(summary) => summary,
        Err(err) => {
            findings.push(finding(
                Severity::Fails,
                format!("cannot read the stream: {err}"),
            ));
            return findings;
        }
    };
    if summary.mode == StreamMode::OnDemand {
        findings.push(finding(
            Severity::Differs,
            "ON_DEMAND: the autoscaler leaves it alone (unwire it)",
        ));
        return findings;
    }
    let tags = aws.stream_tags(stream).await.unwrap_or_default();
    let stream_settings = match settings.for_stream(stream, &tags) {
        Ok(s) => s,
        Err(err) => {
            findings.push(finding(Severity::Fails, err.to_string()));
            return findings;
        }
    };
    let target = AlarmTarget::for_stream(&pair, stream, summary.open_shards, &stream_settings);
    let desired = desired_pair(settings, &target, None, existing);
    for spec in [&desired.scale_up, &desired.scale_down] {
        if let Some(current) = existing.get(&spec.name) {
            if !same_definition(&current.spec, spec) {
                findings.push(finding(
                    Severity::Differs,
                    format!(
                        "alarm {} differs from what the function writes at {} shards ({}); its first rewrite, wire or reconcile aligns it",
                        spec.name,
                        summary.open_shards,
                        differences(&current.spec, spec).join(", ")
                    ),
                ));
            }
        }
    }
    findings.sort_by_key(|f| f.severity);
    findings
}

/// An alarm that notifies more than one target that can reach a function: if the old and
/// the new autoscaler are both behind them, both act on every alarm.
fn action_finding(spec: &AlarmSpec, function_arn: &str) -> Option<Finding> {
    let invoking: Vec<&String> = spec
        .alarm_actions
        .iter()
        .filter(|a| a.starts_with("arn:aws:sns:") || a.contains(":lambda:"))
        .collect();
    if invoking.len() > 1 {
        return Some(finding(
            Severity::Differs,
            format!(
                "alarm {} notifies {} targets ({}): if two autoscalers are behind them, both act on every alarm; remove the old one (docs/migrating.md)",
                spec.name,
                invoking.len(),
                invoking.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
            ),
        ));
    }
    if invoking.is_empty() {
        return Some(finding(
            Severity::Differs,
            format!(
                "alarm {} has no SNS or Lambda action: only an EventBridge rule (AlarmTrigger eventbridge) brings it to the function",
                spec.name
            ),
        ));
    }
    let direct_to_other = invoking[0].contains(":lambda:") && invoking[0] != function_arn;
    direct_to_other.then(|| {
        finding(
            Severity::Differs,
            format!(
                "alarm {} invokes another function: {}",
                spec.name, invoking[0]
            ),
        )
    })
}

fn permission_findings(grants: &Grants, function_arn: &str, stream: &str) -> Vec<Finding> {
    let stream_arn = format!("{}stream/{stream}", arn_base(function_arn, "kinesis"));
    let alarm_arn = |suffix: &str| {
        format!(
            "{}alarm:{stream}{suffix}",
            arn_base(function_arn, "cloudwatch")
        )
    };
    let resource_of = |action: &str| -> String {
        match action {
            "kinesis:DescribeLimits" => "*".to_string(),
            a if a.starts_with("kinesis:") => stream_arn.clone(),
            a if a.starts_with("cloudwatch:") => alarm_arn("-scale-up"),
            _ => "*".to_string(),
        }
    };
    let mut out = Vec::new();
    for action in REQUIRED_ACTIONS {
        if !grants.allows(action, &resource_of(action)) {
            out.push(finding(
                Severity::Fails,
                format!(
                    "{action} is not granted on {}: scaling fails",
                    resource_of(action)
                ),
            ));
        }
    }
    for (action, buys) in OPTIONAL_ACTIONS {
        // Account-level and consumer permissions are reported once, for the function.
        if action.starts_with("lambda:") || *action == "kinesis:DescribeLimits" {
            continue;
        }
        if !grants.allows(action, &resource_of(action)) {
            out.push(finding(
                Severity::Differs,
                format!("{action} not granted: without it, no {buys}"),
            ));
        }
    }
    out
}

/// The fields in which `current` differs from `desired`, named.
fn differences(current: &AlarmSpec, desired: &AlarmSpec) -> Vec<String> {
    let mut out = Vec::new();
    if current.threshold != desired.threshold {
        out.push(format!(
            "threshold {} -> {}",
            current.threshold, desired.threshold
        ));
    }
    if current.evaluation_periods != desired.evaluation_periods
        || current.datapoints_to_alarm != desired.datapoints_to_alarm
    {
        out.push(format!(
            "{} of {} -> {} of {} datapoints",
            current.datapoints_to_alarm,
            current.evaluation_periods,
            desired.datapoints_to_alarm,
            desired.evaluation_periods
        ));
    }
    if current.shard_count() != desired.shard_count() {
        out.push(format!(
            "math for {:?} -> {:?} shards",
            current.shard_count(),
            desired.shard_count()
        ));
    }
    if current.metrics != desired.metrics && current.shard_count() == desired.shard_count() {
        out.push("metric math or period".to_string());
    }
    if out.is_empty() {
        out.push("other fields".to_string());
    }
    out
}
