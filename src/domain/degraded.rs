//! What the autoscaler does without a permission it would like: the upstream sample's role
//! grants less than this project can use, and every permission beyond that role is optional.
//! Each degradation names the permission that lifts it and what is lost meanwhile; the
//! handler logs each once per invocation and reports them.

use serde::Serialize;

/// What the role of `aws-samples/kinesis-auto-scaling` (`kinesis_scaling_cf.yaml`) lets the
/// function do. Its GetMetricData and PutMetricData grants are scoped to alarm ARNs, which
/// AWS does not honour for them, so they are effectively denied and not listed.
pub const UPSTREAM_ROLE_ACTIONS: &[&str] = &[
    "cloudwatch:DescribeAlarms",
    "cloudwatch:ListMetrics",
    "cloudwatch:PutMetricAlarm",
    "cloudwatch:ListTagsForResource",
    "cloudwatch:SetAlarmState",
    "cloudwatch:TagResource",
    "kinesis:DescribeStreamSummary",
    "kinesis:AddTagsToStream",
    "kinesis:ListTagsForStream",
    "kinesis:UpdateShardCount",
    "lambda:PutFunctionConcurrency",
    "lambda:DeleteFunctionConcurrency",
];

/// What a scale event needs: without one of these, scaling fails.
pub const REQUIRED_ACTIONS: &[&str] = &[
    "cloudwatch:DescribeAlarms",
    "cloudwatch:PutMetricAlarm",
    "cloudwatch:SetAlarmState",
    "kinesis:DescribeStreamSummary",
    "kinesis:UpdateShardCount",
];

/// What a scale event can use beyond [`REQUIRED_ACTIONS`], and what each buys.
pub const OPTIONAL_ACTIONS: &[(&str, &str)] = &[
    (
        "kinesis:DescribeLimits",
        "scale-ups capped at the account's shard headroom instead of refused by AWS",
    ),
    (
        "kinesis:ListTagsForStream",
        "per-stream bounds and consumer (tags), and the reshard history",
    ),
    (
        "kinesis:AddTagsToStream",
        "the reshard history: our daily budget with its scale-up reserve",
    ),
    (
        "kinesis:RemoveTagsFromStream",
        "taking a refused reshard's record back",
    ),
    (
        "cloudwatch:ListTagsForResource",
        "the alarm's LastScaledTimestamp: the stale-event guard",
    ),
    (
        "cloudwatch:TagResource",
        "writing LastScaledTimestamp after a reshard",
    ),
    (
        "lambda:PutFunctionConcurrency",
        "the consumer's reserved concurrency follows the shards",
    ),
    (
        "lambda:GetFunctionConcurrency",
        "reconcile reads the consumer's concurrency",
    ),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Degradation {
    /// DescribeLimits denied: the account's shard headroom is unknown.
    HeadroomDenied,
    /// DescribeLimits throttled (1 call a second per account) or failing.
    HeadroomUnavailable,
    /// ListTagsForResource denied: the alarm's `LastScaledTimestamp` is not read.
    AlarmTagsUnreadable,
    /// ListTagsForStream denied: per-stream settings and the reshard history are not read.
    StreamTagsUnreadable,
    /// AddTagsToStream denied: the reshard history is not recorded.
    HistoryDenied,
    /// The stream carries 50 tags, AWS's limit, and none is ours: the history has no room.
    HistoryNoRoom,
    /// DISCOVER_CONSUMERS is on but ListEventSourceMappings is denied.
    ConsumersUnreadable,
    /// A discovered consumer was not resized: it would leave the account fewer than 100
    /// unreserved concurrent executions (AWS's floor), or the floor could not be read.
    ConcurrencyFloor,
}

impl Degradation {
    /// The IAM permission that lifts it, if a permission does.
    pub fn permission(self) -> Option<&'static str> {
        match self {
            Degradation::HeadroomDenied => Some("kinesis:DescribeLimits"),
            Degradation::HeadroomUnavailable | Degradation::HistoryNoRoom => None,
            Degradation::AlarmTagsUnreadable => Some("cloudwatch:ListTagsForResource"),
            Degradation::StreamTagsUnreadable => Some("kinesis:ListTagsForStream"),
            Degradation::HistoryDenied => Some("kinesis:AddTagsToStream"),
            Degradation::ConsumersUnreadable => Some("lambda:ListEventSourceMappings"),
            Degradation::ConcurrencyFloor => None,
        }
    }

    /// What the autoscaler does instead.
    pub fn consequence(self) -> &'static str {
        match self {
            Degradation::HeadroomDenied | Degradation::HeadroomUnavailable => {
                "the account's shard headroom is unknown: scale-ups double within the stream's bounds, and AWS refuses one over the account's shard limit (reported, the alarm fires again)"
            }
            Degradation::AlarmTagsUnreadable => {
                "the alarm's LastScaledTimestamp tag is not read: stale and duplicate events are recognised by the stream's reshard history and the alarm's state only"
            }
            Degradation::StreamTagsUnreadable => {
                "stream tags are not read: the global settings apply (no per-stream bounds or consumer), and the daily budget is AWS's own 10 reshards"
            }
            Degradation::HistoryDenied => {
                "the reshard history tag is not written: the stale guard uses the alarms' LastScaledTimestamp tag, as upstream did, and the daily budget is AWS's own 10 reshards"
            }
            Degradation::HistoryNoRoom => {
                "the stream has 50 tags, AWS's limit: the reshard history is not written until one is removed; the stale guard uses the alarms' LastScaledTimestamp tag"
            }
            Degradation::ConsumersUnreadable => {
                "the stream's Lambda consumers are not found (DISCOVER_CONSUMERS): their reserved concurrency is left as it is"
            }
            Degradation::ConcurrencyFloor => {
                "a consumer's reserved concurrency was left as it is: raising it would leave the account fewer than 100 unreserved concurrent executions (or lambda:GetAccountSettings / GetFunctionConcurrency is not granted); raise the account's concurrency limit"
            }
        }
    }

    /// One log line's worth: what is lost and how to get it back.
    pub fn describe(self) -> String {
        match self.permission() {
            Some(permission) => format!(
                "{permission} is not granted: {}; grant it to lift this",
                self.consequence()
            ),
            None => self.consequence().to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_degradation_names_the_permission_that_lifts_it() {
        assert!(Degradation::HeadroomDenied
            .describe()
            .starts_with("kinesis:DescribeLimits is not granted"));
        assert!(Degradation::HistoryNoRoom.describe().contains("50 tags"));
        assert_eq!(Degradation::HeadroomUnavailable.permission(), None);
    }
}
