//! FakeAws's kinesis calls (the port's methods delegate here).

use super::super::port::{
    AwsResult, ListedStream, Page, StreamSummary, TaggedResource, TAGGED_ALARM, TAGGED_STREAM,
};
use super::*;
use crate::domain::policy::{StreamMode, StreamStatus};
use crate::domain::settings::STREAM_SHARD_CAP;
use chrono::Duration;
use std::collections::{BTreeMap, HashMap};

pub(super) async fn stream_summary(fake: &FakeAws, stream: &str) -> AwsResult<StreamSummary> {
    fake.call("DescribeStreamSummary", stream, |s| {
        let st = s.stream("DescribeStreamSummary", stream)?;
        Ok(StreamSummary {
            status: if st.pending.is_some() {
                StreamStatus::Updating
            } else {
                StreamStatus::Active
            },
            mode: st.mode,
            open_shards: st.open_shards,
        })
    })
    .await
}

pub(super) async fn stream_tags(
    fake: &FakeAws,
    stream: &str,
) -> AwsResult<HashMap<String, String>> {
    fake.call("ListTagsForStream", stream, |s| {
        Ok(s.stream("ListTagsForStream", stream)?
            .tags
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    })
    .await
}

pub(super) async fn tag_stream(
    fake: &FakeAws,
    stream: &str,
    key: &str,
    value: &str,
) -> AwsResult<()> {
    fake.call("AddTagsToStream", stream, |s| {
        let st = s.stream("AddTagsToStream", stream)?;
        if !st.tags.contains_key(key) && st.tags.len() >= 50 {
            return Err(refused(
                "AddTagsToStream",
                stream,
                "InvalidArgumentException",
                "a stream has at most 50 tags",
            ));
        }
        st.tags.insert(key.to_string(), value.to_string());
        Ok(())
    })
    .await
}

pub(super) async fn untag_stream(fake: &FakeAws, stream: &str, key: &str) -> AwsResult<()> {
    fake.call("RemoveTagsFromStream", stream, |s| {
        s.stream("RemoveTagsFromStream", stream)?.tags.remove(key);
        Ok(())
    })
    .await
}

pub(super) async fn update_shard_count(fake: &FakeAws, stream: &str, target: u32) -> AwsResult<()> {
    const ACTION: &str = "UpdateShardCount";
    fake.call(ACTION, stream, |s| {
        let now = s.clock();
        let delay = s.reshard_delay;
        let limit = s.shard_limit;
        let in_account = s.open_shards_in_account();
        let st = s.stream(ACTION, stream)?;
        if st.mode == StreamMode::OnDemand {
            return Err(refused(
                ACTION,
                stream,
                "ValidationException",
                "the stream is ON_DEMAND",
            ));
        }
        if st.pending.is_some() {
            return Err(refused(
                ACTION,
                stream,
                "ResourceInUseException",
                &format!("Stream {stream} is currently being updated"),
            ));
        }
        let n = st.open_shards;
        if target < n.div_ceil(2) || target > n.saturating_mul(2) || target > STREAM_SHARD_CAP {
            return Err(refused(
                ACTION,
                stream,
                "InvalidArgumentException",
                &format!(
                    "target {target} is outside [{}, {}] for {n} open shards",
                    n.div_ceil(2),
                    n * 2
                ),
            ));
        }
        st.reshards.retain(|t| *t > now - Duration::hours(24));
        if st.reshards.len() >= RESHARDS_PER_DAY {
            return Err(refused(
                ACTION,
                stream,
                "LimitExceededException",
                "UpdateShardCount was called 10 times for this stream in 24 hours",
            ));
        }
        if let Some(limit) = limit {
            if target > n && in_account + (target - n) > limit {
                return Err(refused(
                    ACTION,
                    stream,
                    "LimitExceededException",
                    &format!("the account's shard limit of {limit} would be exceeded"),
                ));
            }
        }
        st.reshards.push(now);
        if delay > Duration::zero() {
            st.pending = Some((target, now + delay));
        } else {
            st.open_shards = target;
        }
        Ok(())
    })
    .await
}

pub(super) async fn list_streams_page(
    fake: &FakeAws,
    start_after: Option<&str>,
) -> AwsResult<Page<ListedStream>> {
    const PAGE: usize = 100;
    fake.call("ListStreams", start_after.unwrap_or(""), |s| {
        let from = start_after.map_or(std::ops::Bound::Unbounded, |a| {
            std::ops::Bound::Excluded(a.to_string())
        });
        let mut items: Vec<ListedStream> = s
            .streams
            .range((from, std::ops::Bound::Unbounded))
            .take(PAGE + 1)
            .map(|(name, st)| ListedStream {
                name: name.clone(),
                status: if st.pending.is_some() {
                    StreamStatus::Updating
                } else {
                    StreamStatus::Active
                },
                mode: st.mode,
                summarized: !s.names_only_listing,
            })
            .collect();
        let more = items.len() > PAGE;
        items.truncate(PAGE);
        let next = if more {
            items.last().map(|l| l.name.clone())
        } else {
            None
        };
        Ok(Page { items, next })
    })
    .await
}

pub(super) async fn open_shard_count(fake: &FakeAws, stream: &str) -> AwsResult<u32> {
    fake.call("ListShards", stream, |s| {
        Ok(s.stream("ListShards", stream)?.open_shards)
    })
    .await
}

pub(super) async fn account_headroom(fake: &FakeAws) -> AwsResult<u32> {
    fake.call("DescribeLimits", "account", |s| {
        let used = s.open_shards_in_account();
        Ok(s.shard_limit.unwrap_or(u32::MAX / 2).saturating_sub(used))
    })
    .await
}

pub(super) async fn tagged_resources_page(
    fake: &FakeAws,
    types: &[&str],
    next: Option<&str>,
) -> AwsResult<Page<TaggedResource>> {
    const PAGE: usize = 100;
    fake.call("GetResources", &types.join(","), |s| {
        // Streams, then alarms, in ARN order; the token is the last ARN of the page.
        let to_map = |tags: &BTreeMap<String, String>| -> HashMap<String, String> {
            tags.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
        };
        let mut all: Vec<TaggedResource> = Vec::new();
        if types.contains(&TAGGED_STREAM) {
            all.extend(
                s.streams
                    .iter()
                    .filter(|(_, st)| !st.tags.is_empty())
                    .map(|(name, st)| TaggedResource {
                        arn: format!("arn:aws:kinesis:{FAKE_REGION}:{FAKE_ACCOUNT}:stream/{name}"),
                        tags: to_map(&st.tags),
                    }),
            );
        }
        if types.contains(&TAGGED_ALARM) {
            all.extend(
                s.alarms
                    .iter()
                    .filter(|(_, a)| !a.tags.is_empty())
                    .map(|(name, a)| TaggedResource {
                        arn: FakeAws::alarm_arn(name),
                        tags: to_map(&a.tags),
                    }),
            );
        }
        let start = match next {
            Some(token) => all
                .iter()
                .position(|r| r.arn == token)
                .map_or(all.len(), |i| i + 1),
            None => 0,
        };
        let items: Vec<TaggedResource> = all.into_iter().skip(start).take(PAGE + 1).collect();
        let more = items.len() > PAGE;
        let mut items = items;
        items.truncate(PAGE);
        let next = if more {
            items.last().map(|r| r.arn.clone())
        } else {
            None
        };
        Ok(Page { items, next })
    })
    .await
}
