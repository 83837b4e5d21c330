//! What Lambda hands us: a CloudWatch alarm's state change, delivered one of three ways (an
//! SNS event of one or many records, the alarm's own Lambda action, or an EventBridge rule on
//! `CloudWatch Alarm State Change`), or an EventBridge scheduled event. Parsing is total:
//! every alarm either becomes an [`AlarmNotification`] or an [`EventError`] that says which
//! record and what was wrong. All three deliveries then take the same path, with the same
//! stale and duplicate guards; none is trusted on its word (see [`crate::domain::confirm`]).

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;

pub const SCALE_UP_SUFFIX: &str = "-scale-up";
pub const SCALE_DOWN_SUFFIX: &str = "-scale-down";
/// The time format of `StateChangeTime` in alarm messages and of the `LastScaledTimestamp` tag.
pub const ALARM_TIME_FORMAT: &str = "%Y-%m-%dT%H:%M:%S%.3f%z";

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum EventError {
    #[error("the event is not JSON: {0}")]
    NotJson(String),
    #[error("the event is none of: an SNS event (Records), a CloudWatch alarm action (source aws.cloudwatch with alarmData), an EventBridge CloudWatch Alarm State Change (detail), a scheduled EventBridge event")]
    UnknownShape,
    #[error("record {index}: {why}")]
    Record { index: usize, why: String },
    #[error("record {index}, alarm {alarm}: {why}")]
    Alarm {
        index: usize,
        alarm: String,
        why: String,
    },
}

/// Scale up or down; decided by the alarm's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Up,
    Down,
}

impl Direction {
    /// The value of the alarms' `ScaleAction` tag, as upstream writes it.
    pub fn tag_value(self) -> &'static str {
        match self {
            Direction::Up => "Up",
            Direction::Down => "Down",
        }
    }
}

impl std::fmt::Display for Direction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Direction::Up => "up",
            Direction::Down => "down",
        })
    }
}

/// The `<prefix>-scale-up` / `<prefix>-scale-down` pair an alarm belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlarmPair {
    pub prefix: String,
}

impl AlarmPair {
    pub fn new(prefix: impl Into<String>) -> Self {
        AlarmPair {
            prefix: prefix.into(),
        }
    }

    /// Splits an alarm name into its pair and direction; `None` for any other name.
    pub fn from_alarm_name(name: &str) -> Option<(AlarmPair, Direction)> {
        if let Some(prefix) = name.strip_suffix(SCALE_UP_SUFFIX) {
            Some((AlarmPair::new(prefix), Direction::Up))
        } else {
            name.strip_suffix(SCALE_DOWN_SUFFIX)
                .map(|prefix| (AlarmPair::new(prefix), Direction::Down))
        }
        .filter(|(pair, _)| !pair.prefix.is_empty())
    }

    pub fn name(&self, direction: Direction) -> String {
        match direction {
            Direction::Up => format!("{}{SCALE_UP_SUFFIX}", self.prefix),
            Direction::Down => format!("{}{SCALE_DOWN_SUFFIX}", self.prefix),
        }
    }
}

/// How an alarm's state change reached us.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Delivery {
    /// The Lambda function itself in the alarm's actions (`source: aws.cloudwatch`).
    AlarmAction,
    /// An EventBridge rule on `CloudWatch Alarm State Change`.
    EventBridge,
}

/// One CloudWatch alarm notification, understood.
#[derive(Debug, Clone, PartialEq)]
pub struct AlarmNotification {
    /// SNS's MessageId or EventBridge's event id; empty for a direct alarm action.
    pub message_id: String,
    /// The SNS topic that delivered it, for the report only: a rewritten alarm keeps its own
    /// actions, never this.
    pub topic_arn: Option<String>,
    pub alarm_name: String,
    /// As the message says: used to read the alarm's tags only when DescribeAlarms gives the
    /// same ARN.
    pub alarm_arn: String,
    pub new_state: String,
    /// As the message says: never used for a decision (CloudWatch's own time is).
    pub state_change_time: DateTime<Utc>,
    pub stream: String,
}

impl AlarmNotification {
    pub fn is_alarm(&self) -> bool {
        self.new_state == "ALARM"
    }
}

/// A Lambda invocation, classified.
#[derive(Debug)]
pub enum Invocation {
    /// Alarm state changes: one entry per SNS record, in order (one for the other deliveries).
    Alarms(Vec<Result<AlarmNotification, EventError>>),
    /// The EventBridge schedule that runs the reconcile.
    Scheduled,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SnsRecord {
    sns: SnsMessage,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SnsMessage {
    #[serde(default)]
    message_id: String,
    topic_arn: Option<String>,
    message: String,
}

/// The fields of a CloudWatch alarm message that we use; the rest is ignored, so alarms
/// with a null description or extra fields still parse.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AlarmMessage {
    alarm_name: String,
    alarm_arn: String,
    new_state_value: String,
    state_change_time: String,
    trigger: Option<Trigger>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Trigger {
    #[serde(default)]
    metrics: Vec<MetricQuery>,
    #[serde(default)]
    dimensions: Vec<Dimension>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct MetricQuery {
    metric_stat: Option<MetricStat>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct MetricStat {
    metric: Metric,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Metric {
    #[serde(default)]
    dimensions: Vec<Dimension>,
}

/// Alarm messages spell dimension keys in lower case; accept both spellings.
#[derive(Deserialize)]
struct Dimension {
    #[serde(alias = "Name")]
    name: String,
    #[serde(alias = "Value")]
    value: String,
}

/// Parses an invocation payload.
pub fn parse_invocation(payload: &Value) -> Result<Invocation, EventError> {
    if let Some(records) = payload.get("Records") {
        let records = records.as_array().ok_or(EventError::UnknownShape)?;
        return Ok(Invocation::Alarms(
            records
                .iter()
                .enumerate()
                .map(|(index, record)| parse_record(index, record))
                .collect(),
        ));
    }
    let source = payload.get("source").and_then(Value::as_str);
    let detail_type = payload.get("detail-type").and_then(Value::as_str);
    if source == Some("aws.cloudwatch") && payload.get("alarmData").is_some() {
        return Ok(Invocation::Alarms(vec![parse_alarm_data(
            Delivery::AlarmAction,
            payload,
            &payload["alarmData"],
        )]));
    }
    if detail_type == Some("CloudWatch Alarm State Change") {
        return Ok(Invocation::Alarms(vec![parse_alarm_data(
            Delivery::EventBridge,
            payload,
            payload.get("detail").unwrap_or(&Value::Null),
        )]));
    }
    if source == Some("aws.events") || detail_type == Some("Scheduled Event") {
        return Ok(Invocation::Scheduled);
    }
    Err(EventError::UnknownShape)
}

/// Parses raw event text (the CLI's `--event FILE`).
pub fn parse_invocation_text(text: &str) -> Result<Invocation, EventError> {
    let payload: Value =
        serde_json::from_str(text).map_err(|e| EventError::NotJson(e.to_string()))?;
    parse_invocation(&payload)
}

fn parse_record(index: usize, record: &Value) -> Result<AlarmNotification, EventError> {
    let record_error = |why: String| EventError::Record { index, why };
    let record: SnsRecord = serde_json::from_value(record.clone())
        .map_err(|e| record_error(format!("not an SNS record: {e}")))?;
    let message: AlarmMessage = serde_json::from_str(&record.sns.message).map_err(|e| {
        record_error(format!(
            "Sns.Message is not a CloudWatch alarm notification: {e}"
        ))
    })?;
    let alarm_error = |why: String| EventError::Alarm {
        index,
        alarm: message.alarm_name.clone(),
        why,
    };
    let state_change_time = parse_alarm_time(&message.state_change_time).ok_or_else(|| {
        alarm_error(format!(
            "StateChangeTime {:?} is not of the form 2006-01-02T15:04:05.000+0000",
            message.state_change_time
        ))
    })?;
    let stream = stream_name(message.trigger.as_ref()).map_err(alarm_error)?;
    Ok(AlarmNotification {
        message_id: record.sns.message_id,
        topic_arn: record.sns.topic_arn.filter(|arn| !arn.is_empty()),
        alarm_name: message.alarm_name,
        alarm_arn: message.alarm_arn,
        new_state: message.new_state_value,
        state_change_time,
        stream,
    })
}

/// The `alarmData` of a direct alarm action or the `detail` of an EventBridge alarm state
/// change: the same shape (`alarmName`, `state`, `configuration.metrics` with dimensions as a
/// map). `envelope` is the whole event, where the alarm's ARN, account and region are.
fn parse_alarm_data(
    delivery: Delivery,
    envelope: &Value,
    data: &Value,
) -> Result<AlarmNotification, EventError> {
    let index = 0;
    let text = |value: &Value| value.as_str().map(str::to_string);
    let alarm_name = text(&data["alarmName"]).ok_or_else(|| EventError::Record {
        index,
        why: match delivery {
            Delivery::EventBridge => "detail.alarmName is missing".to_string(),
            _ => "alarmData.alarmName is missing".to_string(),
        },
    })?;
    let alarm_error = |why: String| EventError::Alarm {
        index,
        alarm: alarm_name.clone(),
        why,
    };
    let new_state = text(&data["state"]["value"])
        .ok_or_else(|| alarm_error("state.value is missing".to_string()))?;
    let timestamp = text(&data["state"]["timestamp"])
        .ok_or_else(|| alarm_error("state.timestamp is missing".to_string()))?;
    let state_change_time = parse_alarm_time(&timestamp).ok_or_else(|| {
        alarm_error(format!(
            "state.timestamp {timestamp:?} is not of the form 2006-01-02T15:04:05.000+0000"
        ))
    })?;
    let alarm_arn = text(&envelope["alarmArn"])
        .or_else(|| text(&envelope["resources"][0]))
        .filter(|arn| arn.contains(":alarm:"))
        .or_else(|| {
            // Both shapes carry the account and region; the ARN follows from them.
            let account = text(&envelope["accountId"]).or_else(|| text(&envelope["account"]))?;
            let region = text(&envelope["region"])?;
            Some(format!(
                "arn:aws:cloudwatch:{region}:{account}:alarm:{alarm_name}"
            ))
        })
        .ok_or_else(|| alarm_error("the event names no alarm ARN, account or region".into()))?;
    let stream = stream_from_configuration(&data["configuration"]).map_err(alarm_error)?;
    Ok(AlarmNotification {
        message_id: text(&envelope["id"]).unwrap_or_default(),
        topic_arn: None,
        alarm_name,
        alarm_arn,
        new_state,
        state_change_time,
        stream,
    })
}

/// The one `StreamName` dimension of `configuration.metrics[].metricStat.metric.dimensions`
/// (a map in these shapes; a list of name/value pairs is accepted too).
fn stream_from_configuration(configuration: &Value) -> Result<String, String> {
    let metrics = configuration["metrics"]
        .as_array()
        .ok_or("configuration.metrics is missing: not a metric alarm")?;
    let mut streams: Vec<&str> = Vec::new();
    for query in metrics {
        let dimensions = &query["metricStat"]["metric"]["dimensions"];
        if let Some(map) = dimensions.as_object() {
            streams.extend(map.get("StreamName").and_then(Value::as_str));
        } else if let Some(list) = dimensions.as_array() {
            streams.extend(
                list.iter()
                    .filter(|d| d["name"] == "StreamName" || d["Name"] == "StreamName")
                    .filter_map(|d| d["value"].as_str().or(d["Value"].as_str())),
            );
        }
    }
    one_stream(streams)
}

fn one_stream(mut streams: Vec<&str>) -> Result<String, String> {
    streams.sort_unstable();
    streams.dedup();
    match streams.as_slice() {
        [stream] if !stream.is_empty() => Ok(stream.to_string()),
        [] | [_] => Err("no metric of the alarm has a StreamName dimension".to_string()),
        many => Err(format!(
            "the alarm's metrics name several streams ({}); an autoscaling alarm watches one",
            many.join(", ")
        )),
    }
}

/// The one `StreamName` dimension of the alarm's metrics.
fn stream_name(trigger: Option<&Trigger>) -> Result<String, String> {
    let trigger = trigger.ok_or("the message has no Trigger")?;
    let dimensions = trigger
        .metrics
        .iter()
        .filter_map(|query| query.metric_stat.as_ref())
        .flat_map(|stat| stat.metric.dimensions.iter())
        .chain(trigger.dimensions.iter());
    one_stream(
        dimensions
            .filter(|d| d.name == "StreamName")
            .map(|d| d.value.as_str())
            .collect(),
    )
}

/// Parses `2006-01-02T15:04:05.000+0000` (and tolerates RFC 3339).
pub fn parse_alarm_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_str(text, ALARM_TIME_FORMAT)
        .or_else(|_| DateTime::parse_from_rfc3339(text))
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

pub fn format_alarm_time(time: DateTime<Utc>) -> String {
    time.format("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> String {
        std::fs::read_to_string(format!(
            "{}/tests/fixtures/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    }

    fn alarms(text: &str) -> Vec<Result<AlarmNotification, EventError>> {
        match parse_invocation_text(text).unwrap() {
            Invocation::Alarms(records) => records,
            Invocation::Scheduled => panic!("not an SNS event"),
        }
    }

    #[test]
    fn parses_a_real_scale_up_notification() {
        let records = alarms(&fixture("sns-scale-up.json"));
        assert_eq!(records.len(), 1);
        let n = records[0].as_ref().unwrap();
        assert_eq!(n.alarm_name, "orders-scale-up");
        assert_eq!(n.stream, "orders");
        assert!(n.is_alarm());
        assert_eq!(
            format_alarm_time(n.state_change_time),
            "2026-11-23T10:15:44.775+0000"
        );
        assert_eq!(
            n.topic_arn.as_deref(),
            Some("arn:aws:sns:us-east-1:123456789012:kinesis-autoscaler")
        );
        assert_eq!(
            AlarmPair::from_alarm_name(&n.alarm_name),
            Some((AlarmPair::new("orders"), Direction::Up))
        );
    }

    #[test]
    fn every_record_is_parsed_and_a_bad_one_names_itself() {
        let records = alarms(&fixture("sns-two-records-one-malformed.json"));
        assert_eq!(records.len(), 2);
        assert!(records[0].is_ok());
        let err = records[1].as_ref().unwrap_err();
        assert!(matches!(err, EventError::Record { index: 1, .. }), "{err}");
    }

    #[test]
    fn an_alarm_without_stream_dimension_is_refused_by_name() {
        let records = alarms(&fixture("sns-alarm-without-stream.json"));
        let err = records[0].as_ref().unwrap_err();
        assert!(err.to_string().contains("cpu-scale-up"), "{err}");
        assert!(err.to_string().contains("StreamName"), "{err}");
    }

    #[test]
    fn scheduled_events_and_unknown_shapes() {
        let scheduled = r#"{"version":"0","id":"x","detail-type":"Scheduled Event","source":"aws.events","time":"2026-11-23T10:00:00Z","detail":{}}"#;
        assert!(matches!(
            parse_invocation_text(scheduled),
            Ok(Invocation::Scheduled)
        ));
        assert_eq!(
            parse_invocation_text("{\"hello\":1}").unwrap_err(),
            EventError::UnknownShape
        );
        assert!(matches!(
            parse_invocation_text("not json"),
            Err(EventError::NotJson(_))
        ));
    }

    #[test]
    fn a_direct_alarm_action_is_understood() {
        let records = alarms(&fixture("alarm-action-scale-up.json"));
        assert_eq!(records.len(), 1);
        let n = records[0].as_ref().unwrap();
        assert_eq!(n.alarm_name, "orders-scale-up");
        assert_eq!(
            n.alarm_arn,
            "arn:aws:cloudwatch:us-east-1:123456789012:alarm:orders-scale-up"
        );
        assert_eq!(n.stream, "orders");
        assert!(n.is_alarm());
        assert_eq!(n.topic_arn, None);
        assert_eq!(
            format_alarm_time(n.state_change_time),
            "2026-11-23T10:15:44.775+0000"
        );
    }

    #[test]
    fn an_eventbridge_alarm_state_change_is_understood() {
        let records = alarms(&fixture("eventbridge-scale-down.json"));
        let n = records[0].as_ref().unwrap();
        assert_eq!(n.alarm_name, "orders-scale-down");
        assert_eq!(
            n.alarm_arn,
            "arn:aws:cloudwatch:us-east-1:123456789012:alarm:orders-scale-down"
        );
        assert_eq!(n.stream, "orders");
        assert_eq!(n.message_id, "7bf73129-1428-4cd3-a780-95db273d1602");
        assert!(
            !matches!(
                parse_invocation_text(&fixture("eventbridge-scale-down.json")),
                Ok(Invocation::Scheduled)
            ),
            "an alarm state change is not the schedule"
        );
    }

    #[test]
    fn a_bad_direct_or_eventbridge_alarm_names_what_is_wrong() {
        let mut event: Value =
            serde_json::from_str(&fixture("eventbridge-scale-down.json")).unwrap();
        event["detail"]["configuration"]["metrics"] = serde_json::json!([]);
        let records = alarms(&event.to_string());
        let err = records[0].as_ref().unwrap_err();
        assert!(err.to_string().contains("orders-scale-down"), "{err}");
        assert!(err.to_string().contains("StreamName"), "{err}");

        let mut event: Value =
            serde_json::from_str(&fixture("alarm-action-scale-up.json")).unwrap();
        event["alarmData"]["state"]["timestamp"] = "yesterday".into();
        let records = alarms(&event.to_string());
        let err = records[0].as_ref().unwrap_err();
        assert!(err.to_string().contains("state.timestamp"), "{err}");

        // Without alarmArn, the ARN follows from account and region.
        let mut event: Value =
            serde_json::from_str(&fixture("alarm-action-scale-up.json")).unwrap();
        event.as_object_mut().unwrap().remove("alarmArn");
        let records = alarms(&event.to_string());
        assert_eq!(
            records[0].as_ref().unwrap().alarm_arn,
            "arn:aws:cloudwatch:us-east-1:123456789012:alarm:orders-scale-up"
        );
    }

    /// Every field of the direct and EventBridge fixtures, replaced by a value of each JSON
    /// type, parses to a notification or a named error: never a panic, never a guess.
    #[test]
    fn any_field_of_the_new_shapes_may_be_anything() {
        fn paths(value: &Value, at: String, out: &mut Vec<String>) {
            match value {
                Value::Object(map) => map.iter().for_each(|(k, v)| {
                    let here = format!("{at}/{}", k.replace('~', "~0").replace('/', "~1"));
                    out.push(here.clone());
                    paths(v, here, out);
                }),
                Value::Array(items) => items.iter().enumerate().for_each(|(i, v)| {
                    let here = format!("{at}/{i}");
                    out.push(here.clone());
                    paths(v, here, out);
                }),
                _ => {}
            }
        }
        for name in ["alarm-action-scale-up.json", "eventbridge-scale-down.json"] {
            let original: Value = serde_json::from_str(&fixture(name)).unwrap();
            let mut all = Vec::new();
            paths(&original, String::new(), &mut all);
            for path in &all {
                for replacement in [
                    Value::Null,
                    Value::from(7),
                    Value::from("x"),
                    serde_json::json!([]),
                    serde_json::json!({}),
                ] {
                    let mut event = original.clone();
                    if let Some(slot) = event.pointer_mut(path) {
                        *slot = replacement;
                    }
                    if let Ok(Invocation::Alarms(records)) = parse_invocation(&event) {
                        for record in records.into_iter().flatten() {
                            assert!(!record.stream.is_empty(), "{name} {path}");
                            assert!(record.alarm_arn.contains(":alarm:"), "{name} {path}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn alarm_names_map_to_pairs() {
        assert_eq!(
            AlarmPair::from_alarm_name("a-b-scale-down"),
            Some((AlarmPair::new("a-b"), Direction::Down))
        );
        assert_eq!(AlarmPair::from_alarm_name("-scale-up"), None);
        assert_eq!(AlarmPair::from_alarm_name("orders-scaleup"), None);
        assert_eq!(AlarmPair::new("x").name(Direction::Down), "x-scale-down");
    }

    #[test]
    fn alarm_times_round_trip() {
        let t = parse_alarm_time("2020-04-23T21:17:44.775+0000").unwrap();
        assert_eq!(format_alarm_time(t), "2020-04-23T21:17:44.775+0000");
        assert!(parse_alarm_time("yesterday").is_none());
    }
}
