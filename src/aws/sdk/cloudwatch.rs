//! AwsClients's cloudwatch calls (the port's methods delegate here).

use super::super::port::{
    AwsError, AwsResult, ExistingAlarm, IncomingMetric, IncomingSeries, Page, THROTTLED_METRIC,
};
use super::*;
use crate::domain::alarms::{AlarmSpec, ITERATOR_AGE_METRIC, ITERATOR_AGE_STAT};
use aws_sdk_cloudwatch::primitives::DateTime as SmithyDateTime;
use aws_sdk_cloudwatch::types as cw;
use std::collections::HashMap;

pub(super) async fn describe_alarms(
    clients: &AwsClients,
    names: &[String],
) -> AwsResult<HashMap<String, ExistingAlarm>> {
    let out = clients
        .cloudwatch
        .describe_alarms()
        .set_alarm_names(Some(names.to_vec()))
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("DescribeAlarms", &names.join(","), e))?;
    Ok(out
        .metric_alarms()
        .iter()
        .filter_map(existing_alarm)
        .map(|alarm| (alarm.spec.name.clone(), alarm))
        .collect())
}

pub(super) async fn alarms_with_prefix(
    clients: &AwsClients,
    prefix: &str,
) -> AwsResult<Vec<ExistingAlarm>> {
    let mut alarms = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let out = clients
            .cloudwatch
            .describe_alarms()
            .set_alarm_name_prefix(Some(prefix.to_string()).filter(|p| !p.is_empty()))
            .alarm_types(cw::AlarmType::MetricAlarm)
            .set_next_token(token.take())
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("DescribeAlarms", prefix, e))?;
        alarms.extend(out.metric_alarms().iter().filter_map(existing_alarm));
        match out.next_token() {
            Some(next) if !next.is_empty() => token = Some(next.to_string()),
            _ => return Ok(alarms),
        }
    }
}

pub(super) async fn alarms_page(
    clients: &AwsClients,
    prefix: &str,
    next: Option<&str>,
) -> AwsResult<Page<ExistingAlarm>> {
    let out = clients
        .cloudwatch
        .describe_alarms()
        .set_alarm_name_prefix(Some(prefix.to_string()).filter(|p| !p.is_empty()))
        .alarm_types(cw::AlarmType::MetricAlarm)
        .max_records(100)
        .set_next_token(next.map(str::to_string))
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("DescribeAlarms", prefix, e))?;
    Ok(Page {
        items: out
            .metric_alarms()
            .iter()
            .filter_map(existing_alarm)
            .collect(),
        next: out
            .next_token()
            .filter(|t| !t.is_empty())
            .map(str::to_string),
    })
}

pub(super) async fn alarm_tags(
    clients: &AwsClients,
    arn: &str,
) -> AwsResult<HashMap<String, String>> {
    let out = clients
        .cloudwatch
        .list_tags_for_resource()
        .resource_arn(arn)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("ListTagsForResource", arn, e))?;
    Ok(out
        .tags()
        .iter()
        .filter_map(|t| {
            Some((
                t.key()?.to_string(),
                t.value().unwrap_or_default().to_string(),
            ))
        })
        .collect())
}

pub(super) async fn put_alarm(
    clients: &AwsClients,
    spec: &AlarmSpec,
    tags: &[(String, String)],
) -> AwsResult<()> {
    let metrics = spec
        .metrics
        .iter()
        .map(|q| {
            let stat = q.metric.as_ref().map(|m| {
                cw::MetricStat::builder()
                    .metric(
                        cw::Metric::builder()
                            .namespace(&m.namespace)
                            .metric_name(&m.metric_name)
                            .dimensions(
                                cw::Dimension::builder()
                                    .name("StreamName")
                                    .value(&m.stream)
                                    .build(),
                            )
                            .build(),
                    )
                    .period(i32::try_from(m.period_secs).unwrap_or(i32::MAX))
                    .stat(&m.stat)
                    .build()
            });
            cw::MetricDataQuery::builder()
                .id(&q.id)
                .label(&q.label)
                .set_expression(q.expression.clone())
                .set_metric_stat(stat)
                .return_data(q.return_data)
                .build()
        })
        .collect();
    let count = |n: u32| i32::try_from(n).unwrap_or(i32::MAX);
    clients
        .cloudwatch
        .put_metric_alarm()
        .alarm_name(&spec.name)
        .set_alarm_description(spec.description.clone())
        .actions_enabled(spec.actions_enabled)
        .set_alarm_actions(Some(spec.alarm_actions.clone()))
        .set_ok_actions(Some(spec.ok_actions.clone()))
        .set_insufficient_data_actions(Some(spec.insufficient_data_actions.clone()))
        .evaluation_periods(count(spec.evaluation_periods))
        .datapoints_to_alarm(count(spec.datapoints_to_alarm))
        .threshold(spec.threshold)
        .comparison_operator(cw::ComparisonOperator::from(spec.comparison.as_str()))
        .treat_missing_data(&spec.treat_missing_data)
        .set_metrics(Some(metrics))
        .set_tags(Some(cw_tags(tags)).filter(|t| !t.is_empty()))
        .send()
        .await
        .map(|_| ())
        .map_err(|e| AwsError::from_sdk("PutMetricAlarm", &spec.name, e))
}

pub(super) async fn set_alarm_state(
    clients: &AwsClients,
    alarm: &str,
    state: &str,
    reason: &str,
) -> AwsResult<()> {
    clients
        .cloudwatch
        .set_alarm_state()
        .alarm_name(alarm)
        .state_value(cw::StateValue::from(state))
        .state_reason(reason)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| AwsError::from_sdk("SetAlarmState", alarm, e))
}

pub(super) async fn tag_alarm(
    clients: &AwsClients,
    arn: &str,
    tags: &[(String, String)],
) -> AwsResult<()> {
    clients
        .cloudwatch
        .tag_resource()
        .resource_arn(arn)
        .set_tags(Some(cw_tags(tags)))
        .send()
        .await
        .map(|_| ())
        .map_err(|e| AwsError::from_sdk("TagResource", arn, e))
}

pub(super) async fn delete_alarms(clients: &AwsClients, names: &[String]) -> AwsResult<()> {
    clients
        .cloudwatch
        .delete_alarms()
        .set_alarm_names(Some(names.to_vec()))
        .send()
        .await
        .map(|_| ())
        .map_err(|e| AwsError::from_sdk("DeleteAlarms", &names.join(","), e))
}

pub(super) async fn incoming_metrics_page(
    clients: &AwsClients,
    streams: &[String],
    start: chrono::DateTime<chrono::Utc>,
    end: chrono::DateTime<chrono::Utc>,
    period_secs: u32,
    next: Option<&str>,
) -> AwsResult<Page<IncomingSeries>> {
    // Query ids must start with a lower-case letter: `b<i>`, `r<i>`, `a<i>` and `t<i>` for
    // the i-th stream (`a`: the scale-down alarm's m3, for the lag guard; `t`: records
    // throttled, the demand a saturated period's IncomingRecords do not show).
    let query =
        |id: String, metric: &str, stream: &str| sum_query(&id, metric, stream, period_secs);
    let queries = streams
        .iter()
        .enumerate()
        .flat_map(|(i, stream)| {
            [
                query(format!("b{i}"), "IncomingBytes", stream),
                query(format!("r{i}"), "IncomingRecords", stream),
                stat_query(
                    &format!("a{i}"),
                    ITERATOR_AGE_METRIC,
                    ITERATOR_AGE_STAT,
                    stream,
                    period_secs,
                ),
                query(format!("t{i}"), THROTTLED_METRIC, stream),
            ]
        })
        .collect();
    let target = format!("{} streams", streams.len());
    let out = clients
        .cloudwatch
        .get_metric_data()
        .set_metric_data_queries(Some(queries))
        .start_time(SmithyDateTime::from_secs(start.timestamp()))
        .end_time(SmithyDateTime::from_secs(end.timestamp()))
        .scan_by(cw::ScanBy::TimestampAscending)
        .set_next_token(next.map(str::to_string))
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("GetMetricData", &target, e))?;
    let items = out
        .metric_data_results()
        .iter()
        .filter_map(|result| {
            let id = result.id()?;
            let metric = match id.get(..1)? {
                "b" => IncomingMetric::Bytes,
                "r" => IncomingMetric::Records,
                "a" => IncomingMetric::IteratorAge,
                "t" => IncomingMetric::Throttled,
                _ => return None,
            };
            let stream = streams.get(id.get(1..)?.parse::<usize>().ok()?)?;
            let points = result
                .timestamps()
                .iter()
                .zip(result.values())
                .filter_map(|(at, value)| {
                    Some((chrono::DateTime::from_timestamp(at.secs(), 0)?, *value))
                })
                .collect();
            Some(IncomingSeries {
                stream: stream.clone(),
                metric,
                points,
            })
        })
        .collect();
    let next = out
        .next_token()
        .filter(|t| !t.is_empty())
        .map(str::to_string);
    Ok(Page { items, next })
}
