//! The per-stream half of the settings: a stream's tags over the global settings, its
//! throttling budget and daily reshard budget, and the shard ceiling. A child of
//! [`super`] so that the settings stay one concept in two files.

use super::*;

impl Settings {
    /// Whether `stream` is within `MANAGED_STREAM_PREFIX`.
    pub fn manages(&self, stream: &str) -> bool {
        stream.starts_with(&self.managed_stream_prefix)
    }

    /// The settings of one stream: the global ones, overridden by the stream's tags.
    pub fn for_stream(
        &self,
        stream: &str,
        tags: &HashMap<String, String>,
    ) -> Result<StreamSettings, StreamTagError> {
        let tag_error = |tag: &'static str, value: &str, expected: &str| StreamTagError {
            stream: stream.to_string(),
            tag,
            value: value.to_string(),
            expected: expected.to_string(),
        };
        let shard_tag = |tag: &'static str, default: u32| -> Result<u32, StreamTagError> {
            match tags.get(tag) {
                None => Ok(default),
                Some(value) => value
                    .trim()
                    .parse::<u32>()
                    .ok()
                    .filter(|v| (1..=STREAM_SHARD_CAP).contains(v))
                    .ok_or_else(|| {
                        tag_error(tag, value, "a whole number of shards from 1 to 10000")
                    }),
            }
        };
        let max_shards = shard_tag(tag::MAX_SHARDS, self.max_shards)?;
        let floor = self.tuned_floor(stream, tags).min(max_shards);
        let min_shards = shard_tag(tag::MIN_SHARDS, self.min_shards.max(floor))?;
        if min_shards > max_shards {
            return Err(tag_error(
                tag::MIN_SHARDS,
                &min_shards.to_string(),
                &format!("at most the maximum ({max_shards})"),
            ));
        }
        // Above Lambda's most batches per shard the tag is capped, not refused: the stream
        // still scales; the caller reports the cap ([`Settings::capped_stream_tags`]).
        let lambdas_per_shard = match tags.get(tag::LAMBDAS_PER_SHARD) {
            None => self.lambdas_per_shard,
            Some(value) => value
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|v| *v >= 1)
                .map(|v| u32::try_from(v.min(u64::from(MAX_LAMBDAS_PER_SHARD))).unwrap_or(1))
                .ok_or_else(|| {
                    tag_error(tag::LAMBDAS_PER_SHARD, value, "a whole number from 1 to 10")
                })?,
        };
        let consumer_function = tags
            .get(tag::CONSUMER_FUNCTION)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .or_else(|| self.processing_lambda.clone());
        Ok(StreamSettings {
            min_shards,
            max_shards,
            consumer_function,
            lambdas_per_shard,
        })
    }
}

impl Settings {
    /// The stream's throttling budget: its `AutoscalerThrottleBudget` tag, else
    /// `THROTTLE_BUDGET`.
    pub fn budget_for_stream(
        &self,
        stream: &str,
        tags: &HashMap<String, String>,
    ) -> Result<crate::domain::tuning::ThrottleBudget, StreamTagError> {
        match tags.get(tag::THROTTLE_BUDGET) {
            None => Ok(self.throttle_budget),
            Some(value) => value.parse().map_err(|()| StreamTagError {
                stream: stream.to_string(),
                tag: tag::THROTTLE_BUDGET,
                value: value.clone(),
                expected: crate::domain::tuning::BUDGET_EXPECTED.to_string(),
            }),
        }
    }

    /// The stream's tags that [`Settings::for_stream`] caps rather than uses as set, each as a
    /// sentence naming the stream, the tag, its value and what is used instead.
    pub fn capped_stream_tags(&self, stream: &str, tags: &HashMap<String, String>) -> Vec<String> {
        tags.get(tag::LAMBDAS_PER_SHARD)
            .filter(|value| {
                value
                    .trim()
                    .parse::<u64>()
                    .is_ok_and(|v| v > u64::from(MAX_LAMBDAS_PER_SHARD))
            })
            .map(|value| {
                format!(
                    "stream {stream}: tag {}={value:?} is above {MAX_LAMBDAS_PER_SHARD} (Lambda runs at most 10 batches per shard); {MAX_LAMBDAS_PER_SHARD} used",
                    tag::LAMBDAS_PER_SHARD
                )
            })
            .into_iter()
            .collect()
    }
}

impl Settings {
    /// The floor the daily tuning stood `stream` on (its tag's `min`), where the tuning is
    /// in force (`SCALING_POLICY=sized`, not pinned to upstream by the stream's tag); 0
    /// otherwise. A tag that does not parse is reported by [`Settings::policy_for_stream`].
    fn tuned_floor(&self, stream: &str, tags: &HashMap<String, String>) -> u32 {
        let pinned = tags
            .get(tag::SCALING_POLICY)
            .and_then(|v| v.trim().parse::<ScalingPolicy>().ok())
            .is_some_and(|p| p == ScalingPolicy::Upstream);
        if self.scaling_policy != ScalingPolicy::Sized || pinned {
            return 0;
        }
        tags.get(tag::TUNED)
            .and_then(|value| crate::domain::tuned::TunedTag::parse(stream, value).ok())
            .map_or(0, |tuned| tuned.policy.floor())
    }
}

/// The settings one stream's decisions use: the global ones, the daily tuning's choice over
/// them (with `SCALING_POLICY=sized`), the stream's own tags over that, field by field.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamPolicy {
    pub settings: Settings,
    /// The tuning in force, as its tag says (`None`: untuned, or a tag that does not parse).
    pub tuned: Option<crate::domain::tuned::TunedTag>,
    /// Tags not used, each a sentence naming the stream and the tag: reported, never fatal.
    pub problems: Vec<String>,
}

impl Settings {
    /// The settings `stream`'s decisions use, from its tags (`StreamPolicy`).
    pub fn policy_for_stream(&self, stream: &str, tags: &HashMap<String, String>) -> StreamPolicy {
        use crate::domain::tuned::{apply_policy, TunedTag};
        let mut settings = self.clone();
        let mut problems = Vec::new();
        let tuned = match tags.get(tag::TUNED) {
            Some(value) if self.scaling_policy == ScalingPolicy::Sized => {
                match TunedTag::parse(stream, value) {
                    Ok(tuned) => Some(tuned),
                    Err(err) => {
                        problems.push(format!("{err}; the settings are used as untuned"));
                        None
                    }
                }
            }
            _ => None,
        };
        if let Some(tuned) = &tuned {
            apply_policy(&mut settings, &tuned.policy);
        }
        let bad = |tag: &'static str, value: &String, expected: &str| StreamTagError {
            stream: stream.to_string(),
            tag,
            value: value.clone(),
            expected: expected.to_string(),
        };
        if let Some(value) = tags.get(tag::SCALING_POLICY) {
            match value.trim().parse::<ScalingPolicy>() {
                Ok(policy) => settings.scaling_policy = policy,
                Err(()) => problems.push(format!(
                    "{}; not used",
                    bad(tag::SCALING_POLICY, value, "sized or upstream")
                )),
            }
        }
        if let Some(value) = tags.get(tag::TARGET_USAGE) {
            match value.trim().parse::<f64>() {
                Ok(v) if (0.1..=1.0).contains(&v) => settings.target_usage = v,
                _ => problems.push(format!(
                    "{}; not used",
                    bad(tag::TARGET_USAGE, value, "a number from 0.1 to 1.0")
                )),
            }
        }
        StreamPolicy {
            settings,
            tuned,
            problems,
        }
    }
}

impl Settings {
    /// A stream's budget under these settings.
    pub fn budget(&self, history: &ReshardHistory, now: DateTime<Utc>) -> Budget {
        Budget::new(
            history,
            self.max_reshards_per_day,
            self.scale_up_reserve,
            now,
        )
    }
}

impl StreamSettings {
    /// The most shards the stream may have: its maximum, capped by AWS's per-stream limit
    /// (the one place that cap meets the settings).
    pub fn shard_ceiling(&self) -> u32 {
        self.max_shards.min(STREAM_SHARD_CAP)
    }
}
