//! FakeAws's cloudwatch calls (the port's methods delegate here).

use super::super::port::{AwsResult, ExistingAlarm, IncomingMetric, IncomingSeries, Page};
use super::*;
use crate::domain::alarms::AlarmSpec;
use chrono::{DateTime, Utc};
use std::collections::HashMap;

pub(super) async fn describe_alarms(
    fake: &FakeAws,
    names: &[String],
) -> AwsResult<HashMap<String, ExistingAlarm>> {
    fake.call("DescribeAlarms", &names.join(","), |s| {
        Ok(names
            .iter()
            .filter_map(|n| s.alarms.get(n))
            .map(|a| (a.spec.name.clone(), existing(a)))
            .collect())
    })
    .await
}

pub(super) async fn alarms_with_prefix(
    fake: &FakeAws,
    prefix: &str,
) -> AwsResult<Vec<ExistingAlarm>> {
    fake.call("DescribeAlarms", prefix, |s| {
        Ok(s.alarms
            .range(prefix.to_string()..)
            .take_while(|(name, _)| name.starts_with(prefix))
            .map(|(_, a)| existing(a))
            .collect())
    })
    .await
}

pub(super) async fn alarms_page(
    fake: &FakeAws,
    prefix: &str,
    next: Option<&str>,
) -> AwsResult<Page<ExistingAlarm>> {
    const PAGE: usize = 100;
    fake.call("DescribeAlarms", prefix, |s| {
        // The token is the name of the last alarm of the previous page.
        let from = next.map_or(std::ops::Bound::Included(prefix.to_string()), |n| {
            std::ops::Bound::Excluded(n.to_string())
        });
        let mut items: Vec<ExistingAlarm> = s
            .alarms
            .range((from, std::ops::Bound::Unbounded))
            .take_while(|(name, _)| name.starts_with(prefix))
            .take(PAGE + 1)
            .map(|(_, a)| existing(a))
            .collect();
        let more = items.len() > PAGE;
        items.truncate(PAGE);
        let next = if more {
            items.last().map(|a| a.spec.name.clone())
        } else {
            None
        };
        Ok(Page { items, next })
    })
    .await
}

pub(super) async fn alarm_tags(fake: &FakeAws, arn: &str) -> AwsResult<HashMap<String, String>> {
    fake.call("ListTagsForResource", arn, |s| {
        Ok(s.alarm_by_arn("ListTagsForResource", arn)?
            .tags
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    })
    .await
}

pub(super) async fn put_alarm(
    fake: &FakeAws,
    spec: &AlarmSpec,
    tags: &[(String, String)],
) -> AwsResult<()> {
    fake.call("PutMetricAlarm", &spec.name, |s| {
        let now = s.clock();
        match s.alarms.get_mut(&spec.name) {
            Some(alarm) => {
                alarm.spec = spec.clone();
                alarm.writes += 1;
            }
            None => {
                s.alarms.insert(
                    spec.name.clone(),
                    FakeAlarm {
                        spec: spec.clone(),
                        state: "INSUFFICIENT_DATA".into(),
                        state_since: now,
                        tags: tags.iter().cloned().collect(),
                        writes: 1,
                    },
                );
            }
        }
        Ok(())
    })
    .await
}

pub(super) async fn set_alarm_state(
    fake: &FakeAws,
    alarm: &str,
    state: &str,
    _reason: &str,
) -> AwsResult<()> {
    fake.call("SetAlarmState", alarm, |s| {
        let now = s.clock();
        let found = s
            .alarms
            .get_mut(alarm)
            .ok_or_else(|| refused("SetAlarmState", alarm, "ResourceNotFound", "no such alarm"))?;
        if found.state != state {
            found.state = state.to_string();
            found.state_since = now;
        }
        Ok(())
    })
    .await
}

pub(super) async fn tag_alarm(
    fake: &FakeAws,
    arn: &str,
    tags: &[(String, String)],
) -> AwsResult<()> {
    fake.call("TagResource", arn, |s| {
        s.alarm_by_arn("TagResource", arn)?
            .tags
            .extend(tags.iter().cloned());
        Ok(())
    })
    .await
}

pub(super) async fn delete_alarms(fake: &FakeAws, names: &[String]) -> AwsResult<()> {
    fake.call("DeleteAlarms", &names.join(","), |s| {
        for name in names {
            s.alarms.remove(name);
        }
        Ok(())
    })
    .await
}

pub(super) async fn incoming_metrics_page(
    fake: &FakeAws,
    streams: &[String],
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    period_secs: u32,
    next: Option<&str>,
) -> AwsResult<Page<IncomingSeries>> {
    let target = format!("{} streams", streams.len());
    fake.call("GetMetricData", &target, |s| {
        if streams.len() * crate::aws::METRIC_QUERIES_PER_STREAM > METRIC_QUERIES_PER_CALL {
            return Err(refused(
                "GetMetricData",
                &target,
                "ValidationError",
                "The collection MetricDataQueries must not have a size greater than 500.",
            ));
        }
        // Every datapoint of the request in query order (bytes, records, iterator age,
        // throttled records of each stream), cut into pages of DATAPOINTS_PER_PAGE; the token is the offset.
        let mut all: Vec<(usize, IncomingMetric, DateTime<Utc>, f64)> = Vec::new();
        for (index, stream) in streams.iter().enumerate() {
            let points = s.incoming(stream, start, end, period_secs);
            all.extend(
                points
                    .iter()
                    .map(|p| (index, IncomingMetric::Bytes, p.start, p.bytes)),
            );
            all.extend(
                points
                    .iter()
                    .map(|p| (index, IncomingMetric::Records, p.start, p.records)),
            );
            let ages = s.iterator_age(stream, start, end, period_secs);
            all.extend(
                ages.into_iter()
                    .map(|(at, max)| (index, IncomingMetric::IteratorAge, at, max)),
            );
            let throttled = s.throttled(stream, start, end, period_secs);
            all.extend(
                throttled
                    .into_iter()
                    .map(|(at, sum)| (index, IncomingMetric::Throttled, at, sum)),
            );
        }
        let offset = match next {
            Some(token) => token
                .parse::<usize>()
                .map_err(|_| refused("GetMetricData", &target, "InvalidNextToken", "bad token"))?,
            None => 0,
        };
        let end_at = (offset + DATAPOINTS_PER_PAGE).min(all.len());
        let mut items: Vec<IncomingSeries> = Vec::new();
        for (index, metric, at, value) in all.get(offset..end_at).unwrap_or_default() {
            match items.last_mut() {
                Some(last) if last.stream == streams[*index] && last.metric == *metric => {
                    last.points.push((*at, *value));
                }
                _ => items.push(IncomingSeries {
                    stream: streams[*index].clone(),
                    metric: *metric,
                    points: vec![(*at, *value)],
                }),
            }
        }
        let next = (end_at < all.len()).then(|| end_at.to_string());
        Ok(Page { items, next })
    })
    .await
}
