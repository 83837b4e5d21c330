//! Our CloudWatch metrics as Embedded Metric Format lines: in Lambda, a line on stdout becomes
//! a metric without a `PutMetricData` call (and without its IAM permission or latency).
//!
//! What a user can alarm on or graph, all in `ERROR_METRIC_NAMESPACE`:
//!
//! | metric | dimension sets |
//! | --- | --- |
//! | `FATAL_ERROR_KINESIS_SCALING` | `FunctionName` (upstream's), and `FunctionName, StreamName` when a stream is known |
//! | `SCALING_REFUSED` | `StreamName, Reason`, `StreamName` (the dashboard's), and `Reason` alone (every stream); `Reason` only for an event CloudWatch did not confirm |
//! | `RESHARDS` | `StreamName, Direction`, `StreamName`, and `Direction` alone |
//! | `ShardCount`, `ReshardsLeft` | `StreamName`: after each alarm event and each reconcile |
//! | `DRIFT_FIXED` | `FunctionName` |

use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};

/// The metric upstream emits on every failure; alarm on it.
pub const FATAL_ERROR_METRIC: &str = "FATAL_ERROR_KINESIS_SCALING";
/// How many things a reconcile found wrong and fixed.
pub const DRIFT_FIXED_METRIC: &str = "DRIFT_FIXED";
/// A stream wanted to scale and a rule or AWS said no (dimension `Reason`).
pub const REFUSED_METRIC: &str = "SCALING_REFUSED";
/// A reshard was made (dimension `Direction`: `up` or `down`).
pub const RESHARDS_METRIC: &str = "RESHARDS";
/// Streams the daily tuning chose parameters for in a scheduled run.
pub const STREAMS_TUNED_METRIC: &str = "STREAMS_TUNED";
/// Of those, the streams whose choice met their throttling budget on their history.
pub const TUNING_BUDGET_MET_METRIC: &str = "TUNING_BUDGET_MET";
/// Of those, the streams no candidate met the budget for.
pub const TUNING_BUDGET_NOT_MET_METRIC: &str = "TUNING_BUDGET_NOT_MET";
/// Of those, the streams given advice (a floor or on-demand mode).
pub const TUNING_ADVICE_METRIC: &str = "TUNING_ADVICE";
/// Of those that met it, the streams that meet it standing on a tuned floor (`min=N`).
pub const TUNING_ON_FLOOR_METRIC: &str = "TUNING_ON_FLOOR";
/// Streams the tuning reached but kept as they were (history too short or unreadable).
pub const TUNING_KEPT_METRIC: &str = "TUNING_KEPT";

/// Per stream (dimension `StreamName`, in the same namespace): the open shard count after
/// each alarm event and each reconcile. The dashboard's stream list and usage math read it.
pub const SHARD_COUNT_METRIC: &str = "ShardCount";
/// Per stream: reshards left in the rolling 24 h budget (MAX_RESHARDS_PER_DAY minus those
/// used), after each alarm event and each reconcile.
pub const RESHARDS_LEFT_METRIC: &str = "ReshardsLeft";

/// What one alarm event or one reconcile knows about a stream's state (its reshards and
/// refusals are counted by `RESHARDS` and `SCALING_REFUSED`); `None` is left out.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct StreamFigures {
    pub shard_count: Option<u32>,
    pub reshards_left: Option<u32>,
}

/// One EMF document with the stream's figures as metrics of dimension `StreamName`
/// (`FunctionName` rides along as a property, searchable in Logs Insights), or `None` when
/// there is no figure to report.
pub fn stream_emf_line(
    namespace: &str,
    function_name: &str,
    stream: &str,
    figures: &StreamFigures,
    at: DateTime<Utc>,
) -> Option<String> {
    let values = [
        (SHARD_COUNT_METRIC, figures.shard_count),
        (RESHARDS_LEFT_METRIC, figures.reshards_left),
    ];
    let present: Vec<(&str, u32)> = values
        .iter()
        .filter_map(|(name, value)| value.map(|v| (*name, v)))
        .collect();
    if present.is_empty() {
        return None;
    }
    let mut doc = json!({
        "_aws": {
            "Timestamp": at.timestamp_millis(),
            "CloudWatchMetrics": [{
                "Namespace": namespace,
                "Dimensions": [["StreamName"]],
                "Metrics": present
                    .iter()
                    .map(|(name, _)| json!({"Name": name, "Unit": "Count"}))
                    .collect::<Vec<_>>(),
            }],
        },
        "StreamName": stream,
        "FunctionName": function_name,
    });
    for (name, value) in present {
        doc[name] = json!(value);
    }
    Some(doc.to_string())
}

/// One EMF document carrying `metric` = `value` (Count), dimension `FunctionName`.
pub fn emf_line(
    namespace: &str,
    function_name: &str,
    metric: &str,
    value: f64,
    at: DateTime<Utc>,
) -> String {
    emf(
        namespace,
        metric,
        value,
        &[("FunctionName", function_name)],
        &[&["FunctionName"]],
        at,
    )
}

/// `FATAL_ERROR_KINESIS_SCALING` = 1 for one failure, per function and, when known, per stream.
pub fn error_line(
    namespace: &str,
    function_name: &str,
    stream: Option<&str>,
    at: DateTime<Utc>,
) -> String {
    match stream {
        Some(stream) => emf(
            namespace,
            FATAL_ERROR_METRIC,
            1.0,
            &[("FunctionName", function_name), ("StreamName", stream)],
            &[&["FunctionName"], &["FunctionName", "StreamName"]],
            at,
        ),
        None => emf_line(namespace, function_name, FATAL_ERROR_METRIC, 1.0, at),
    }
}

/// `SCALING_REFUSED` = 1 for one refused scale event of `stream`, with its reason (a stable
/// snake_case key such as `daily_limit` or `unconfirmed`). `stream` is `None` when CloudWatch
/// did not confirm the stream the event named: then the metric has the `Reason` dimension
/// only, so that a forged message cannot mint a metric per name it makes up.
pub fn refusal_line(
    namespace: &str,
    stream: Option<&str>,
    reason: &str,
    at: DateTime<Utc>,
) -> String {
    match stream {
        Some(stream) => emf(
            namespace,
            REFUSED_METRIC,
            1.0,
            &[("StreamName", stream), ("Reason", reason)],
            &[&["StreamName", "Reason"], &["StreamName"], &["Reason"]],
            at,
        ),
        None => emf(
            namespace,
            REFUSED_METRIC,
            1.0,
            &[("Reason", reason)],
            &[&["Reason"]],
            at,
        ),
    }
}

/// `RESHARDS` = 1 for one reshard of `stream` in `direction` (`up` or `down`).
pub fn reshard_line(namespace: &str, stream: &str, direction: &str, at: DateTime<Utc>) -> String {
    emf(
        namespace,
        RESHARDS_METRIC,
        1.0,
        &[("StreamName", stream), ("Direction", direction)],
        &[
            &["StreamName", "Direction"],
            &["StreamName"],
            &["Direction"],
        ],
        at,
    )
}

/// One EMF document: `metric` = `value` (Count) with the given dimension values, published
/// under each of `dimension_sets`.
fn emf(
    namespace: &str,
    metric: &str,
    value: f64,
    dimensions: &[(&str, &str)],
    dimension_sets: &[&[&str]],
    at: DateTime<Utc>,
) -> String {
    let mut doc = Map::new();
    doc.insert(
        "_aws".into(),
        json!({
            "Timestamp": at.timestamp_millis(),
            "CloudWatchMetrics": [{
                "Namespace": namespace,
                "Dimensions": dimension_sets,
                "Metrics": [{"Name": metric, "Unit": "Count"}],
            }],
        }),
    );
    for (name, dimension_value) in dimensions {
        doc.insert((*name).to_string(), Value::from(*dimension_value));
    }
    doc.insert(metric.to_string(), Value::from(value));
    Value::Object(doc).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-23T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn emf_document_names_namespace_dimension_and_value() {
        let line = emf_line("KinesisAutoscaler", "scaler", FATAL_ERROR_METRIC, 1.0, at());
        let doc: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(
            doc["_aws"]["CloudWatchMetrics"][0]["Namespace"],
            "KinesisAutoscaler"
        );
        assert_eq!(
            doc["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"],
            FATAL_ERROR_METRIC
        );
        assert_eq!(doc["_aws"]["Timestamp"], 1_795_435_200_000_i64);
        assert_eq!(doc["FunctionName"], "scaler");
        assert_eq!(doc[FATAL_ERROR_METRIC], 1.0);
        assert!(!line.contains('\n'));
    }

    #[test]
    fn stream_figures_are_metrics_of_the_stream() {
        let at = DateTime::parse_from_rfc3339("2026-11-23T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let figures = StreamFigures {
            shard_count: Some(4),
            reshards_left: Some(7),
        };
        let line = stream_emf_line("KinesisAutoscaler", "scaler", "orders", &figures, at).unwrap();
        let doc: serde_json::Value = serde_json::from_str(&line).unwrap();
        let directive = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Dimensions"], json!([["StreamName"]]));
        let names: Vec<&str> = directive["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["Name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["ShardCount", "ReshardsLeft"]);
        assert_eq!(doc["StreamName"], "orders");
        assert_eq!(doc["ShardCount"], 4);
        assert_eq!(doc["ReshardsLeft"], 7);

        let count_only = StreamFigures {
            shard_count: Some(2),
            ..StreamFigures::default()
        };
        let line = stream_emf_line("NS", "f", "s", &count_only, at).unwrap();
        assert!(!line.contains("ReshardsLeft"));
        assert_eq!(
            stream_emf_line("NS", "f", "s", &StreamFigures::default(), at),
            None
        );
    }

    #[test]
    fn refusals_and_reshards_carry_the_stream_and_their_reason_or_direction() {
        let doc: Value =
            serde_json::from_str(&refusal_line("NS", Some("orders"), "daily_limit", at())).unwrap();
        assert_eq!(doc["StreamName"], "orders");
        assert_eq!(doc["Reason"], "daily_limit");
        assert_eq!(doc[REFUSED_METRIC], 1.0);
        assert_eq!(
            doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([["StreamName", "Reason"], ["StreamName"], ["Reason"]])
        );
        let unconfirmed = refusal_line("NS", None, "unconfirmed", at());
        let doc: Value = serde_json::from_str(&unconfirmed).unwrap();
        assert_eq!(
            doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([["Reason"]])
        );
        assert!(!unconfirmed.contains("StreamName"), "{unconfirmed}");
        let doc: Value = serde_json::from_str(&reshard_line("NS", "orders", "up", at())).unwrap();
        assert_eq!(doc["Direction"], "up");
        assert_eq!(doc[RESHARDS_METRIC], 1.0);
        let doc: Value =
            serde_json::from_str(&error_line("NS", "scaler", Some("orders"), at())).unwrap();
        assert_eq!(
            doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([["FunctionName"], ["FunctionName", "StreamName"]]),
            "upstream's dimension set stays, so an alarm on it keeps working"
        );
        assert_eq!(doc["StreamName"], "orders");
    }
}
