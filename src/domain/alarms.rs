//! The one builder of the scale-up / scale-down alarm definitions. The Lambda's rewrite after
//! a reshard, the `wire` command and the simulator all call [`build`], so an alarm wired at N
//! shards and an alarm rewritten for N shards are the same alarm.
//!
//! The metric math is upstream's, term for term: `s1` is the shard count,
//! `e3 = e1/(1024*1024*60*P*s1)` and `e4 = e2/(1000*60*P*s1)` are the bytes and records usage
//! factors (1.0 = the stream's full write capacity), scale-up alarms on `MAX([e3,e4])`, and
//! scale-down adds `e5`, the maximum iterator age scaled so that `s2` minutes of lag equal the
//! threshold, and alarms on `MAX([e3,e4,e5])`.

use crate::domain::event::{AlarmPair, Direction};
use crate::domain::settings::{Settings, StreamSettings};
use serde::Serialize;

// The alarm tags the Go Lambda wrote and read, kept under the same names.
pub const TAG_SCALE_ACTION: &str = "ScaleAction";
pub const TAG_COMPLIMENTARY_ALARM: &str = "ComplimentaryAlarm";
pub const TAG_LAST_SCALED: &str = "LastScaledTimestamp";

/// When the alarm last resharded, from its [`TAG_LAST_SCALED`] tag: `Ok(None)` when unset or
/// empty (never); the error says what the tag holds and what it should.
pub fn last_scaled(
    alarm_tags: &std::collections::HashMap<String, String>,
) -> Result<Option<chrono::DateTime<chrono::Utc>>, String> {
    match alarm_tags.get(TAG_LAST_SCALED) {
        None => Ok(None),
        Some(value) if value.is_empty() => Ok(None),
        Some(value) => crate::domain::event::parse_alarm_time(value)
            .map(Some)
            .ok_or_else(|| {
                format!(
                    "tag {TAG_LAST_SCALED}={value:?} is not of the form 2006-01-02T15:04:05.000+0000"
                )
            }),
    }
}

/// The scale-down threshold once a stream is at its minimum: usage is never below -1, so the
/// alarm stays quiet (upstream's convention).
pub const DISARMED_SCALE_DOWN_THRESHOLD: f64 = -1.0;
/// The scale-up threshold once a stream is at its maximum: a million times the stream's
/// capacity is never reached, so the alarm stays quiet instead of firing into a refusal.
pub const DISARMED_SCALE_UP_THRESHOLD: f64 = 1_000_000.0;
pub const DEFAULT_DESCRIPTION: &str = "Alarm to scale Kinesis stream";
pub const KINESIS_NAMESPACE: &str = "AWS/Kinesis";
/// The scale-down alarm's `m3` (Maximum statistic): how far behind the slowest consumer is.
/// The scheduled run reads it too, for the same lag guard ([`crate::domain::sizing`]).
pub const ITERATOR_AGE_METRIC: &str = "GetRecords.IteratorAgeMilliseconds";
pub const ITERATOR_AGE_STAT: &str = "Maximum";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Comparison {
    GreaterThanOrEqualToThreshold,
    LessThanThreshold,
}

impl Comparison {
    pub fn as_str(self) -> &'static str {
        match self {
            Comparison::GreaterThanOrEqualToThreshold => "GreaterThanOrEqualToThreshold",
            Comparison::LessThanThreshold => "LessThanThreshold",
        }
    }

    pub fn holds(self, value: f64, threshold: f64) -> bool {
        match self {
            Comparison::GreaterThanOrEqualToThreshold => value >= threshold,
            Comparison::LessThanThreshold => value < threshold,
        }
    }
}

/// A `MetricStat` query on one of the stream's own metrics.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StreamMetric {
    pub namespace: String,
    pub metric_name: String,
    pub stream: String,
    pub period_secs: u32,
    pub stat: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricQuery {
    pub id: String,
    pub label: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expression: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metric: Option<StreamMetric>,
    pub return_data: bool,
}

/// What the rewrite keeps from an existing alarm: everything it does not own.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct KeptFields {
    pub description: Option<String>,
    pub alarm_actions: Vec<String>,
    pub ok_actions: Vec<String>,
    pub insufficient_data_actions: Vec<String>,
}

/// A complete `PutMetricAlarm` definition.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlarmSpec {
    pub name: String,
    pub description: Option<String>,
    pub actions_enabled: bool,
    pub alarm_actions: Vec<String>,
    pub ok_actions: Vec<String>,
    pub insufficient_data_actions: Vec<String>,
    pub evaluation_periods: u32,
    pub datapoints_to_alarm: u32,
    pub threshold: f64,
    pub comparison: Comparison,
    pub treat_missing_data: String,
    pub metrics: Vec<MetricQuery>,
}

impl AlarmSpec {
    /// The stream the alarm watches, read from its metric queries.
    pub fn stream(&self) -> Option<&str> {
        self.metrics
            .iter()
            .find_map(|q| q.metric.as_ref().map(|m| m.stream.as_str()))
    }

    /// The `StreamName` of each of its metrics (empty for a metric without one): what the
    /// identity rule ([`crate::domain::confirm`]) compares with the stream an event names.
    pub fn watched_streams(&self) -> Vec<&str> {
        self.metrics
            .iter()
            .filter_map(|q| q.metric.as_ref().map(|m| m.stream.as_str()))
            .collect()
    }

    /// The shard count the math is written for (`s1`).
    pub fn shard_count(&self) -> Option<u32> {
        self.metrics
            .iter()
            .find(|q| q.id == "s1")
            .and_then(|q| q.expression.as_deref())
            .and_then(|e| e.trim().parse().ok())
    }

    pub fn is_disarmed(&self) -> bool {
        match self.comparison {
            Comparison::GreaterThanOrEqualToThreshold => {
                self.threshold >= DISARMED_SCALE_UP_THRESHOLD
            }
            Comparison::LessThanThreshold => self.threshold <= DISARMED_SCALE_DOWN_THRESHOLD,
        }
    }
}

/// Both alarms of a stream, as they should be at one shard count.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlarmPairSpec {
    pub scale_up: AlarmSpec,
    pub scale_down: AlarmSpec,
}

/// Everything the definitions depend on besides the global settings.
#[derive(Debug, Clone, PartialEq)]
pub struct AlarmTarget<'a> {
    pub pair: &'a AlarmPair,
    pub stream: &'a str,
    pub shards: u32,
    pub min_shards: u32,
    pub max_shards: u32,
}

impl<'a> AlarmTarget<'a> {
    /// A stream's pair at `shards`, within the bounds of its settings (the maximum capped by
    /// AWS's per-stream limit).
    pub fn for_stream(
        pair: &'a AlarmPair,
        stream: &'a str,
        shards: u32,
        limits: &StreamSettings,
    ) -> Self {
        AlarmTarget {
            pair,
            stream,
            shards,
            min_shards: limits.min_shards,
            max_shards: limits.shard_ceiling(),
        }
    }
}

/// The threshold an alarm gets at `shards`: disarmed at the stream's bound.
pub fn effective_threshold(direction: Direction, settings: &Settings, t: &AlarmTarget) -> f64 {
    match direction {
        Direction::Up if t.shards >= t.max_shards => DISARMED_SCALE_UP_THRESHOLD,
        Direction::Up => settings.scale_up.threshold,
        Direction::Down if t.shards <= t.min_shards => DISARMED_SCALE_DOWN_THRESHOLD,
        Direction::Down => settings.scale_down.threshold,
    }
}

/// Builds both alarms for `target`, keeping what `kept_up` / `kept_down` carry over from the
/// existing alarms and making sure each publishes to `topic_arn`.
pub fn build_pair(
    settings: &Settings,
    target: &AlarmTarget,
    topic_arn: Option<&str>,
    kept_up: &KeptFields,
    kept_down: &KeptFields,
) -> AlarmPairSpec {
    AlarmPairSpec {
        scale_up: build(Direction::Up, settings, target, topic_arn, kept_up),
        scale_down: build(Direction::Down, settings, target, topic_arn, kept_down),
    }
}

pub fn build(
    direction: Direction,
    settings: &Settings,
    target: &AlarmTarget,
    topic_arn: Option<&str>,
    kept: &KeptFields,
) -> AlarmSpec {
    let period = settings.period_mins;
    let threshold = effective_threshold(direction, settings, target);
    let stream_metric = |id: &str, name: &str, stat: &str| MetricQuery {
        id: id.to_string(),
        label: name.to_string(),
        expression: None,
        metric: Some(StreamMetric {
            namespace: KINESIS_NAMESPACE.to_string(),
            metric_name: name.to_string(),
            stream: target.stream.to_string(),
            period_secs: 60 * period,
            stat: stat.to_string(),
        }),
        return_data: false,
    };
    let expression = |id: &str, expression: String, label: &str, return_data: bool| MetricQuery {
        id: id.to_string(),
        label: label.to_string(),
        expression: Some(expression),
        metric: None,
        return_data,
    };
    let down = direction == Direction::Down;

    let mut metrics = vec![
        stream_metric("m1", "IncomingBytes", "Sum"),
        stream_metric("m2", "IncomingRecords", "Sum"),
    ];
    if down {
        metrics.push(stream_metric("m3", ITERATOR_AGE_METRIC, ITERATOR_AGE_STAT));
    }
    metrics.push(expression(
        "e1",
        "FILL(m1,0)".into(),
        "FillMissingDataPointsWithZeroForIncomingBytes",
        false,
    ));
    metrics.push(expression(
        "e2",
        "FILL(m2,0)".into(),
        "FillMissingDataPointsWithZeroForIncomingRecords",
        false,
    ));
    metrics.push(expression(
        "e3",
        format!("e1/(1024*1024*60*{period}*s1)"),
        "IncomingBytesUsageFactor",
        false,
    ));
    metrics.push(expression(
        "e4",
        format!("e2/(1000*60*{period}*s1)"),
        "IncomingRecordsUsageFactor",
        false,
    ));
    if down {
        metrics.push(expression(
            "e5",
            format!("(FILL(m3,0)/1000/60)*({threshold:.5}/s2)"),
            "IteratorAgeAdjustedFactor",
            false,
        ));
        metrics.push(expression(
            "e6",
            "MAX([e3,e4,e5])".into(),
            "MaxIncomingUsageFactor",
            true,
        ));
    } else {
        metrics.push(expression(
            "e6",
            "MAX([e3,e4])".into(),
            "MaxIncomingUsageFactor",
            true,
        ));
    }
    metrics.push(expression(
        "s1",
        target.shards.to_string(),
        "ShardCount",
        false,
    ));
    if down {
        metrics.push(expression(
            "s2",
            settings.scale_down_min_iter_age_mins.to_string(),
            "IteratorAgeMinutesToBlockScaleDowns",
            false,
        ));
    }

    let mut alarm_actions = kept.alarm_actions.clone();
    if let Some(topic) = topic_arn {
        if !alarm_actions.iter().any(|a| a == topic) {
            alarm_actions.push(topic.to_string());
        }
    }
    let (alarm, comparison) = match direction {
        Direction::Up => (
            &settings.scale_up,
            Comparison::GreaterThanOrEqualToThreshold,
        ),
        Direction::Down => (&settings.scale_down, Comparison::LessThanThreshold),
    };
    AlarmSpec {
        name: target.pair.name(direction),
        description: Some(
            kept.description
                .clone()
                .unwrap_or_else(|| DEFAULT_DESCRIPTION.to_string()),
        ),
        actions_enabled: true,
        alarm_actions,
        ok_actions: kept.ok_actions.clone(),
        insufficient_data_actions: kept.insufficient_data_actions.clone(),
        evaluation_periods: alarm.evaluation_periods,
        datapoints_to_alarm: alarm.datapoints_to_alarm,
        threshold,
        comparison,
        treat_missing_data: "ignore".to_string(),
        metrics,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(pair: &AlarmPair, shards: u32) -> AlarmTarget<'_> {
        AlarmTarget {
            pair,
            stream: "orders",
            shards,
            min_shards: 1,
            max_shards: 64,
        }
    }

    fn expressions(spec: &AlarmSpec) -> Vec<(String, String)> {
        spec.metrics
            .iter()
            .filter_map(|q| q.expression.clone().map(|e| (q.id.clone(), e)))
            .collect()
    }

    #[test]
    fn scale_up_math_is_upstreams() {
        let pair = AlarmPair::new("orders");
        let spec = build(
            Direction::Up,
            &Settings::default(),
            &target(&pair, 4),
            Some("arn:topic"),
            &KeptFields::default(),
        );
        assert_eq!(spec.name, "orders-scale-up");
        assert_eq!(spec.comparison, Comparison::GreaterThanOrEqualToThreshold);
        assert_eq!(
            (
                spec.threshold,
                spec.evaluation_periods,
                spec.datapoints_to_alarm
            ),
            (0.75, 5, 5)
        );
        assert_eq!(
            expressions(&spec),
            [
                ("e1", "FILL(m1,0)"),
                ("e2", "FILL(m2,0)"),
                ("e3", "e1/(1024*1024*60*5*s1)"),
                ("e4", "e2/(1000*60*5*s1)"),
                ("e6", "MAX([e3,e4])"),
                ("s1", "4"),
            ]
            .map(|(a, b)| (a.to_string(), b.to_string()))
        );
        let m1 = spec.metrics[0].metric.as_ref().unwrap();
        assert_eq!(
            (
                m1.metric_name.as_str(),
                m1.stream.as_str(),
                m1.period_secs,
                m1.stat.as_str()
            ),
            ("IncomingBytes", "orders", 300, "Sum")
        );
        assert_eq!(spec.alarm_actions, ["arn:topic"]);
        assert_eq!(spec.metrics.iter().filter(|q| q.return_data).count(), 1);
        assert_eq!(spec.shard_count(), Some(4));
        assert_eq!(spec.stream(), Some("orders"));
    }

    #[test]
    fn scale_down_math_adds_iterator_age_and_uses_the_configured_period() {
        let pair = AlarmPair::new("orders");
        let settings = Settings {
            period_mins: 1,
            ..Settings::default()
        };
        let spec = build(
            Direction::Down,
            &settings,
            &target(&pair, 4),
            None,
            &KeptFields::default(),
        );
        let exprs = expressions(&spec);
        assert!(exprs.contains(&("e3".into(), "e1/(1024*1024*60*1*s1)".into())));
        assert!(exprs.contains(&("e5".into(), "(FILL(m3,0)/1000/60)*(0.25000/s2)".into())));
        assert!(exprs.contains(&("e6".into(), "MAX([e3,e4,e5])".into())));
        assert!(exprs.contains(&("s2".into(), "30".into())));
        let m3 = spec
            .metrics
            .iter()
            .find(|q| q.id == "m3")
            .unwrap()
            .metric
            .as_ref()
            .unwrap();
        assert_eq!((m3.stat.as_str(), m3.period_secs), ("Maximum", 60));
        assert_eq!(spec.comparison, Comparison::LessThanThreshold);
        assert_eq!(
            (spec.evaluation_periods, spec.datapoints_to_alarm),
            (60, 57)
        );
    }

    #[test]
    fn alarms_are_disarmed_at_the_bounds() {
        let pair = AlarmPair::new("orders");
        let settings = Settings::default();
        let at_min = build_pair(
            &settings,
            &target(&pair, 1),
            None,
            &KeptFields::default(),
            &KeptFields::default(),
        );
        assert_eq!(at_min.scale_down.threshold, -1.0);
        assert!(at_min.scale_down.is_disarmed());
        assert!(expressions(&at_min.scale_down)
            .contains(&("e5".into(), "(FILL(m3,0)/1000/60)*(-1.00000/s2)".into())));
        assert_eq!(at_min.scale_up.threshold, 0.75);
        let at_max = build_pair(
            &settings,
            &target(&pair, 64),
            None,
            &KeptFields::default(),
            &KeptFields::default(),
        );
        assert!(at_max.scale_up.is_disarmed());
        assert_eq!(at_max.scale_down.threshold, 0.25);
    }

    #[test]
    fn kept_fields_survive_and_the_topic_is_added_once() {
        let pair = AlarmPair::new("orders");
        let kept = KeptFields {
            description: Some("mine".into()),
            alarm_actions: vec!["arn:pager".into(), "arn:topic".into()],
            ok_actions: vec!["arn:ok".into()],
            insufficient_data_actions: vec!["arn:insufficient".into()],
        };
        let spec = build(
            Direction::Up,
            &Settings::default(),
            &target(&pair, 2),
            Some("arn:topic"),
            &kept,
        );
        assert_eq!(spec.description.as_deref(), Some("mine"));
        assert_eq!(spec.alarm_actions, ["arn:pager", "arn:topic"]);
        assert_eq!(spec.ok_actions, ["arn:ok"]);
        assert_eq!(spec.insufficient_data_actions, ["arn:insufficient"]);
    }
}
