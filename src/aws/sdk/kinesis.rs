//! AwsClients's kinesis calls (the port's methods delegate here).

use super::super::port::{
    AwsError, AwsResult, FailureKind, ListedStream, Page, StreamSummary, TaggedResource,
};
use super::*;
use crate::domain::policy::{StreamMode, StreamStatus};
use aws_config::retry::RetryConfig;
use aws_sdk_kinesis::types as kn;
use std::collections::HashMap;

pub(super) async fn stream_summary(clients: &AwsClients, stream: &str) -> AwsResult<StreamSummary> {
    let out = clients
        .kinesis
        .describe_stream_summary()
        .stream_name(stream)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("DescribeStreamSummary", stream, e))?;
    let invalid = |why: &str| AwsError {
        call: "DescribeStreamSummary",
        target: stream.to_string(),
        code: None,
        message: why.to_string(),
        kind: FailureKind::Refused,
    };
    let summary = out
        .stream_description_summary()
        .ok_or_else(|| invalid("no StreamDescriptionSummary in the answer"))?;
    let status = match summary.stream_status() {
        kn::StreamStatus::Active => StreamStatus::Active,
        kn::StreamStatus::Updating => StreamStatus::Updating,
        kn::StreamStatus::Creating => StreamStatus::Creating,
        kn::StreamStatus::Deleting => StreamStatus::Deleting,
        other => return Err(invalid(&format!("unknown stream status {other}"))),
    };
    let mode = match summary.stream_mode_details().map(|d| d.stream_mode()) {
        Some(kn::StreamMode::OnDemand) => StreamMode::OnDemand,
        _ => StreamMode::Provisioned,
    };
    let open_shards = u32::try_from(summary.open_shard_count())
        .map_err(|_| invalid("negative OpenShardCount in the answer"))?;
    Ok(StreamSummary {
        status,
        mode,
        open_shards,
    })
}

pub(super) async fn stream_tags(
    clients: &AwsClients,
    stream: &str,
) -> AwsResult<HashMap<String, String>> {
    let mut tags = HashMap::new();
    let mut start: Option<String> = None;
    loop {
        let out = clients
            .kinesis
            .list_tags_for_stream()
            .stream_name(stream)
            .set_exclusive_start_tag_key(start.take())
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("ListTagsForStream", stream, e))?;
        for tag in out.tags() {
            tags.insert(
                tag.key().to_string(),
                tag.value().unwrap_or_default().to_string(),
            );
        }
        match (out.has_more_tags(), out.tags().last()) {
            (true, Some(last)) => start = Some(last.key().to_string()),
            _ => return Ok(tags),
        }
    }
}

pub(super) async fn tag_stream(
    clients: &AwsClients,
    stream: &str,
    key: &str,
    value: &str,
) -> AwsResult<()> {
    clients
        .kinesis
        .add_tags_to_stream()
        .stream_name(stream)
        .tags(key, value)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| AwsError::from_sdk("AddTagsToStream", stream, e))
}

pub(super) async fn untag_stream(clients: &AwsClients, stream: &str, key: &str) -> AwsResult<()> {
    clients
        .kinesis
        .remove_tags_from_stream()
        .stream_name(stream)
        .tag_keys(key)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| AwsError::from_sdk("RemoveTagsFromStream", stream, e))
}

pub(super) async fn update_shard_count(
    clients: &AwsClients,
    stream: &str,
    target: u32,
) -> AwsResult<()> {
    let target_i32 = i32::try_from(target).unwrap_or(i32::MAX);
    clients
        .kinesis
        .update_shard_count()
        .stream_name(stream)
        .target_shard_count(target_i32)
        .scaling_type(kn::ScalingType::UniformScaling)
        // The SDK counts LimitExceededException as throttling; here it usually means a limit
        // that waiting seconds will not lift, so do not spend the full retry budget on it.
        .customize()
        .config_override(
            aws_sdk_kinesis::config::Config::builder()
                .retry_config(RetryConfig::standard().with_max_attempts(3))
                .retry_classifier(RetryOnlyThrottling),
        )
        .send()
        .await
        .map(|_| ())
        .map_err(|e| AwsError::from_sdk("UpdateShardCount", stream, e))
}

pub(super) async fn list_streams_page(
    clients: &AwsClients,
    start_after: Option<&str>,
) -> AwsResult<Page<ListedStream>> {
    let out = clients
        .kinesis
        .list_streams()
        .limit(100)
        .set_exclusive_start_stream_name(start_after.map(str::to_string))
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("ListStreams", start_after.unwrap_or(""), e))?;
    // The page is StreamNames; summaries are matched to it by name (moto sends the
    // summaries of every stream with each page; kinesis-mock sends none: a name without
    // one is listed all the same, its status and mode left to DescribeStreamSummary).
    let summaries: HashMap<&str, &kn::StreamSummary> = out
        .stream_summaries()
        .iter()
        .map(|s| (s.stream_name(), s))
        .collect();
    let mut items = Vec::new();
    for name in out.stream_names() {
        let Some(summary) = summaries.get(name.as_str()) else {
            items.push(ListedStream {
                name: name.clone(),
                status: StreamStatus::Active,
                mode: StreamMode::Provisioned,
                summarized: false,
            });
            continue;
        };
        let status = match summary.stream_status() {
            kn::StreamStatus::Active => StreamStatus::Active,
            kn::StreamStatus::Updating => StreamStatus::Updating,
            kn::StreamStatus::Creating => StreamStatus::Creating,
            _ => StreamStatus::Deleting,
        };
        let mode = match summary.stream_mode_details().map(|d| d.stream_mode()) {
            Some(kn::StreamMode::OnDemand) => StreamMode::OnDemand,
            _ => StreamMode::Provisioned,
        };
        items.push(ListedStream {
            name: name.clone(),
            status,
            mode,
            summarized: true,
        });
    }
    let next = if out.has_more_streams() {
        out.stream_names().last().cloned()
    } else {
        None
    };
    Ok(Page { items, next })
}

pub(super) async fn open_shard_count(clients: &AwsClients, stream: &str) -> AwsResult<u32> {
    let mut open = 0u32;
    let mut token: Option<String> = None;
    let filter = kn::ShardFilter::builder()
        .r#type(kn::ShardFilterType::AtLatest)
        .build()
        .map_err(|e| AwsError {
            call: "ListShards",
            target: stream.to_string(),
            code: None,
            message: e.to_string(),
            kind: FailureKind::Refused,
        })?;
    loop {
        // ListShards takes the stream name or a token, never both.
        let request = clients.kinesis.list_shards().max_results(10_000);
        let request = match token.take() {
            Some(token) => request.next_token(token),
            None => request.stream_name(stream).shard_filter(filter.clone()),
        };
        let out = request
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("ListShards", stream, e))?;
        // AT_LATEST lists open shards only; counting those without an ending sequence
        // number also holds where the filter is ignored (moto).
        let page_open = out
            .shards()
            .iter()
            .filter(|s| {
                s.sequence_number_range()
                    .and_then(|r| r.ending_sequence_number())
                    .is_none()
            })
            .count();
        open = open.saturating_add(u32::try_from(page_open).unwrap_or(u32::MAX));
        match out.next_token() {
            Some(next) if !next.is_empty() => token = Some(next.to_string()),
            _ => return Ok(open),
        }
    }
}

pub(super) async fn account_headroom(clients: &AwsClients) -> AwsResult<u32> {
    let out = clients
        .kinesis
        .describe_limits()
        // 1 call a second for the whole account: one quick retry here; the pacing
        // wrapper backs off with jitter beyond that, and keeps the answer 3 minutes.
        .customize()
        .config_override(
            aws_sdk_kinesis::config::Config::builder()
                .retry_config(RetryConfig::standard().with_max_attempts(2)),
        )
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("DescribeLimits", "account", e))?;
    Ok(u32::try_from(out.shard_limit().saturating_sub(out.open_shard_count())).unwrap_or(0))
}

pub(super) async fn tagged_resources_page(
    clients: &AwsClients,
    types: &[&str],
    next: Option<&str>,
) -> AwsResult<Page<TaggedResource>> {
    let out = clients
        .tagging
        .get_resources()
        .set_resource_type_filters(Some(types.iter().map(|t| t.to_string()).collect()))
        .resources_per_page(100)
        .set_pagination_token(next.map(str::to_string))
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("GetResources", &types.join(","), e))?;
    Ok(Page {
        items: out
            .resource_tag_mapping_list()
            .iter()
            .filter_map(|mapping| {
                Some(TaggedResource {
                    arn: mapping.resource_arn()?.to_string(),
                    tags: mapping
                        .tags()
                        .iter()
                        .map(|t| (t.key().to_string(), t.value().to_string()))
                        .collect(),
                })
            })
            .collect(),
        next: out
            .pagination_token()
            .filter(|t| !t.is_empty())
            .map(str::to_string),
    })
}
