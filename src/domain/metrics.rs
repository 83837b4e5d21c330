//! Our CloudWatch metrics as Embedded Metric Format lines: in Lambda, a line on stdout becomes
//! a metric without a `PutMetricData` call (and without its IAM permission or latency).

use chrono::{DateTime, Utc};
use serde_json::json;

/// The metric upstream emits on every failure; alarm on it.
pub const FATAL_ERROR_METRIC: &str = "FATAL_ERROR_KINESIS_SCALING";
/// How many things a reconcile found wrong and fixed.
pub const DRIFT_FIXED_METRIC: &str = "DRIFT_FIXED";

/// Per stream (dimension `StreamName`, in the same namespace): the open shard count after
/// each alarm event and each reconcile. The dashboard's stream list and usage math read it.
pub const SHARD_COUNT_METRIC: &str = "ShardCount";
/// Per stream: reshards left in the rolling 24 h budget (MAX_RESHARDS_PER_DAY minus those
/// used), after each alarm event and each reconcile.
pub const RESHARDS_LEFT_METRIC: &str = "ReshardsLeft";
/// Per stream: 1 for each reshard an alarm event made (0 for an event that made none).
pub const RESHARDS_METRIC: &str = "Reshards";
/// Per stream: 1 for each alarm event the policy refused (limit, bound, stale, UPDATING).
pub const REFUSALS_METRIC: &str = "Refusals";

/// What one alarm event or one reconcile knows about a stream; `None` is left out of the
/// document (a reconcile makes no reshard decision, so it reports no reshard or refusal).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct StreamFigures {
    pub shard_count: Option<u32>,
    pub reshards_left: Option<u32>,
    pub reshards: Option<u32>,
    pub refusals: Option<u32>,
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
        (RESHARDS_METRIC, figures.reshards),
        (REFUSALS_METRIC, figures.refusals),
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
    json!({
        "_aws": {
            "Timestamp": at.timestamp_millis(),
            "CloudWatchMetrics": [{
                "Namespace": namespace,
                "Dimensions": [["FunctionName"]],
                "Metrics": [{"Name": metric, "Unit": "Count"}],
            }],
        },
        "FunctionName": function_name,
        metric: value,
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emf_document_names_namespace_dimension_and_value() {
        let at = DateTime::parse_from_rfc3339("2026-11-23T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let line = emf_line("KinesisAutoscaler", "scaler", FATAL_ERROR_METRIC, 1.0, at);
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
            reshards: Some(1),
            refusals: Some(0),
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
        assert_eq!(
            names,
            ["ShardCount", "ReshardsLeft", "Reshards", "Refusals"]
        );
        assert_eq!(doc["StreamName"], "orders");
        assert_eq!(doc["ShardCount"], 4);
        assert_eq!(doc["ReshardsLeft"], 7);
        assert_eq!(doc["Refusals"], 0);

        // A reconcile: gauges only.
        let gauges = StreamFigures {
            shard_count: Some(2),
            reshards_left: Some(10),
            ..StreamFigures::default()
        };
        let line = stream_emf_line("NS", "f", "s", &gauges, at).unwrap();
        assert!(!line.contains("Refusals") && !line.contains("\"Reshards\""));
        assert_eq!(
            stream_emf_line("NS", "f", "s", &StreamFigures::default(), at),
            None
        );
    }
}
