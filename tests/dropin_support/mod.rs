//! The three ways an alarm's state change reaches the function, as test events: an SNS
//! notification, the alarm's own Lambda action, an EventBridge `CloudWatch Alarm State
//! Change`. Shaped as AWS documents them (see tests/fixtures/ for full examples).
#![allow(dead_code)]

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

pub const ACCOUNT: &str = "123456789012";
pub const REGION: &str = "us-east-1";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    Sns,
    AlarmAction,
    EventBridge,
}

pub const SHAPES: [Shape; 3] = [Shape::Sns, Shape::AlarmAction, Shape::EventBridge];

pub fn alarm_arn(name: &str) -> String {
    format!("arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{name}")
}

pub fn topic_arn() -> String {
    format!("arn:aws:sns:{REGION}:{ACCOUNT}:kinesis-autoscaler")
}

fn time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string()
}

/// One event of `shape` claiming `alarm` (on `stream`) went to `state` at `at`.
pub fn event(shape: Shape, alarm: &str, stream: &str, state: &str, at: DateTime<Utc>) -> String {
    match shape {
        Shape::Sns => sns(&[(alarm, stream, state, at)]),
        Shape::AlarmAction => json!({
            "source": "aws.cloudwatch",
            "alarmArn": alarm_arn(alarm),
            "accountId": ACCOUNT,
            "time": time(at),
            "region": REGION,
            "alarmData": alarm_data(alarm, stream, state, at),
        })
        .to_string(),
        Shape::EventBridge => json!({
            "version": "0",
            "id": format!("event-{alarm}-{}", at.timestamp_millis()),
            "detail-type": "CloudWatch Alarm State Change",
            "source": "aws.cloudwatch",
            "account": ACCOUNT,
            "time": at.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            "region": REGION,
            "resources": [alarm_arn(alarm)],
            "detail": alarm_data(alarm, stream, state, at),
        })
        .to_string(),
    }
}

/// An SNS event with one record per (alarm, stream, state, time).
pub fn sns(records: &[(&str, &str, &str, DateTime<Utc>)]) -> String {
    let records: Vec<Value> = records
        .iter()
        .enumerate()
        .map(|(i, (alarm, stream, state, at))| {
            let dims = json!([{"value": stream, "name": "StreamName"}]);
            let message = json!({
                "AlarmName": alarm, "AlarmDescription": null, "AWSAccountId": ACCOUNT,
                "NewStateValue": state, "NewStateReason": "Threshold Crossed",
                "StateChangeTime": time(*at), "Region": "US East (N. Virginia)",
                "AlarmArn": alarm_arn(alarm), "OldStateValue": "OK",
                "Trigger": {"Period": 300, "EvaluationPeriods": 5, "Metrics": [
                    {"Id": "m1", "Label": "IncomingBytes", "ReturnData": false, "MetricStat": {"Metric": {"Dimensions": dims, "MetricName": "IncomingBytes", "Namespace": "AWS/Kinesis"}, "Period": 300, "Stat": "Sum"}},
                    {"Id": "e6", "Expression": "MAX([e3,e4])", "Label": "MaxIncomingUsageFactor", "ReturnData": true}
                ]}
            });
            json!({"EventSource": "aws:sns", "EventVersion": "1.0", "Sns": {
                "Type": "Notification", "MessageId": format!("message-{i}"), "TopicArn": topic_arn(),
                "Subject": "ALARM", "Message": message.to_string(), "Timestamp": "2026-11-23T10:15:44.812Z"
            }})
        })
        .collect();
    json!({ "Records": records }).to_string()
}

fn alarm_data(alarm: &str, stream: &str, state: &str, at: DateTime<Utc>) -> Value {
    let dims = json!({"StreamName": stream});
    json!({
        "alarmName": alarm,
        "state": {"value": state, "reason": "Threshold Crossed", "timestamp": time(at)},
        "previousState": {"value": "OK", "reason": "", "timestamp": time(at - chrono::Duration::minutes(30))},
        "configuration": {"description": "Alarm to scale Kinesis stream", "metrics": [
            {"id": "m1", "label": "IncomingBytes", "returnData": false, "metricStat": {"metric": {"namespace": "AWS/Kinesis", "name": "IncomingBytes", "dimensions": dims}, "period": 300, "stat": "Sum"}},
            {"id": "m2", "label": "IncomingRecords", "returnData": false, "metricStat": {"metric": {"namespace": "AWS/Kinesis", "name": "IncomingRecords", "dimensions": dims}, "period": 300, "stat": "Sum"}},
            {"id": "e6", "expression": "MAX([e3,e4])", "label": "MaxIncomingUsageFactor", "returnData": true}
        ]}
    })
}

/// The metric lines of a report, parsed, that carry `metric`.
pub fn metric_docs(lines: &[String], metric: &str) -> Vec<Value> {
    lines
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|doc| doc.get(metric).is_some())
        .collect()
}
