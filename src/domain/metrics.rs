//! Our CloudWatch metrics as Embedded Metric Format lines: in Lambda, a line on stdout becomes
//! a metric without a `PutMetricData` call (and without its IAM permission or latency).

use chrono::{DateTime, Utc};
use serde_json::json;

/// The metric upstream emits on every failure; alarm on it.
pub const FATAL_ERROR_METRIC: &str = "FATAL_ERROR_KINESIS_SCALING";
/// How many things a reconcile found wrong and fixed.
pub const DRIFT_FIXED_METRIC: &str = "DRIFT_FIXED";

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
}
