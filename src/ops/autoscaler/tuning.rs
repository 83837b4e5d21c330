//! The daily tuning in the scheduled run: each managed stream is tuned once a UTC day on its
//! own last [`HISTORY_DAYS`] days, with the replay `simulate --tune` runs
//! ([`tune::tune_on`], [`tune::advise`]), and the choice kept in its `AutoscalerTuned` tag
//! ([`TunedTag`]), which its decisions then use ([`Settings::policy_for_stream`]).
//!
//! - **Spread over the day**: the streams are taken in name order from the cursor
//!   ([`TUNING_CURSOR_TAG`]: the day and the last stream reached, in the function's tags,
//!   read by the sweep's GetFunction), `ceil(left / ticks left today)` a run, so the day's
//!   288 ticks share them evenly and a missed tick is caught up. A stream whose tag already
//!   names today is not tuned again; the cursor's day starting over tunes each once a day.
//! - **Reads**: the history of [`STREAMS_PER_REQUEST`] streams a GetMetricData request (4
//!   queries a stream of 14 days' 5-minute datapoints, under CloudWatch's 100,800 a
//!   request), turned into the trace `trace export` builds ([`export::trace_in`]: admitted
//!   plus throttled records, the demand the replay models); one ListShards a stream for the
//!   count the choice takes over.
//! - **What changes nothing**: a history shorter than [`FIRST_TUNED_DAY`] days, an unreadable
//!   one (GetMetricData failed), a replay error, a failed tag write: the stream keeps the
//!   settings it has, and the day moves on (it is tuned again tomorrow). A dry run chooses
//!   and reports, and writes no tag.

use super::Autoscaler;
use crate::aws::AwsPort;
use crate::domain::metrics::{self, FATAL_ERROR_METRIC};
use crate::domain::settings::{tag, Settings};
use crate::domain::tuned::TunedTag;
use crate::ops::export::{self, trace_in, Window};
use crate::ops::fleet::{FleetSnapshot, TUNING_CURSOR_TAG};
use crate::ops::outcome::{TuningOutcome, TuningReport};
use crate::ops::usage::{read_metrics, StreamMetrics};
use crate::replay::options::Options;
use crate::replay::trace::Trace;
use crate::replay::tune::{self, FIRST_TUNED_DAY, HISTORY_DAYS};
use chrono::{DateTime, Duration, NaiveDate, Timelike, Utc};
use std::collections::HashMap;
use tokio::time::Instant;

/// Streams whose history one GetMetricData reads: 4 queries a stream of 14 days of 5-minute
/// datapoints (4,032 each) is 16,128 datapoints; 6 streams are 96,768, within the 100,800
/// CloudWatch answers a request (so one page each).
pub const STREAMS_PER_REQUEST: usize = 6;

/// The scheduled run's ticks a day (`rate(5 minutes)`).
pub const TICKS_PER_DAY: i64 = 288;

/// How long a run tunes at most, after its evaluation: the run stays within its tick.
pub const TUNING_SLICE: std::time::Duration = std::time::Duration::from_secs(30);

/// The cursor's value: the day and the last stream reached.
fn cursor_value(day: NaiveDate, stream: &str) -> String {
    format!("{} {stream}", day.format("%Y-%m-%d"))
}

/// The stream the cursor says `today`'s tuning reached (`None`: today's starts at the first).
fn reached_today(cursor: Option<&str>, today: NaiveDate) -> Option<&str> {
    let (day, stream) = cursor?.split_once(' ')?;
    let day = NaiveDate::parse_from_str(day, "%Y-%m-%d").ok()?;
    (day == today).then_some(stream)
}

/// The streams this run tunes: after the cursor, in name order, not tuned today already nor
/// kept on upstream's policy by their own `AutoscalerScalingPolicy` tag (the tuning would
/// not be used), `ceil(left / ticks left today)` of them.
pub fn due_now(
    settings: &Settings,
    snapshot: &FleetSnapshot,
    cursor: Option<&str>,
    now: DateTime<Utc>,
) -> Vec<String> {
    let today = now.date_naive();
    let after = reached_today(cursor, today);
    let mut left: Vec<&String> = snapshot
        .managed
        .iter()
        .filter(|s| after.is_none_or(|a| s.as_str() > a))
        .filter(|s| {
            let tags = snapshot.stream_tags.get(s.as_str());
            let tuned = tags.and_then(|t| t.get(tag::TUNED));
            let upstream = tags
                .and_then(|t| t.get(tag::SCALING_POLICY))
                .is_some_and(|v| v.trim().eq_ignore_ascii_case("upstream"));
            !upstream && !tuned.is_some_and(|v| TunedTag::parse(s, v).is_ok_and(|t| t.day == today))
        })
        .filter(|s| settings.manages(s))
        .collect();
    left.sort_unstable();
    let tick = i64::from(now.hour() * 60 + now.minute()) / 5;
    let ticks_left = (TICKS_PER_DAY - tick).max(1) as usize;
    let take = left.len().div_ceil(ticks_left);
    left.into_iter().take(take).cloned().collect()
}

/// The 14 days before `now`, on the 5-minute grid.
fn history_window(now: DateTime<Utc>) -> Option<Window> {
    export::window(now - Duration::days(HISTORY_DAYS), now, now).ok()
}

impl<P: AwsPort> Autoscaler<P> {
    /// This run's share of the day's tuning (see the module's documentation); stops before
    /// `stop_at` and the invocation's deadline margin, keeping the cursor where it stopped.
    pub async fn daily_tuning(
        &self,
        snapshot: &FleetSnapshot,
        cursor: Option<&str>,
        stop_at: Instant,
    ) -> TuningReport {
        let now = self.aws.now();
        let due = due_now(&self.settings, snapshot, cursor, now);
        let mut report = TuningReport::default();
        let Some(window) = history_window(now) else {
            return report;
        };
        let deadline = self.limits.deadline();
        let too_late = || {
            let at = Instant::now();
            at >= stop_at || deadline.is_some_and(|d| at + crate::ops::fleet::DEADLINE_MARGIN >= d)
        };
        let mut reached: Option<&String> = None;
        for batch in due.chunks(STREAMS_PER_REQUEST) {
            if too_late() {
                report.not_reached += due.len() - report.streams.len();
                break;
            }
            let period = u32::try_from(window.resolution.period_secs()).unwrap_or(300);
            let answer = read_metrics(&self.aws, batch, window.start, window.end, period).await;
            let mut answer = match answer {
                Ok(answer) => answer,
                Err(err) => {
                    for stream in batch {
                        let why = format!("history unreadable ({err}); settings kept");
                        report.push(stream, TuningOutcome::Kept(why));
                    }
                    reached = batch.last();
                    continue;
                }
            };
            for stream in batch {
                let metrics = answer.remove(stream.as_str()).unwrap_or_default();
                let outcome = self.tune_stream(snapshot, stream, &window, metrics).await;
                report.push(stream, outcome);
                reached = Some(stream);
            }
        }
        if let Some(stream) = reached {
            let value = cursor_value(now.date_naive(), stream);
            if let Err(err) = self
                .aws
                .tag_function(&self.function_name, TUNING_CURSOR_TAG, &value)
                .await
            {
                tracing::warn!(error = %err, "cannot keep the tuning cursor; the next run starts today's tuning over (streams tuned today are skipped)");
            }
        }
        report
    }

    /// One stream: its trace, the replay of every candidate, the tag.
    async fn tune_stream(
        &self,
        snapshot: &FleetSnapshot,
        stream: &str,
        window: &Window,
        metrics: StreamMetrics,
    ) -> TuningOutcome {
        // What the stream throttled on the history as it ran (the budget's unspent part).
        let had: f64 = metrics
            .throttled
            .iter()
            .filter(|(at, _)| *at >= window.start && *at < window.end)
            .map(|(_, records)| records)
            .sum();
        let trace = match trace_in(window, metrics) {
            Ok(Some(trace)) => trace,
            Ok(None) => return TuningOutcome::Kept("no datapoints; settings kept".into()),
            Err(err) => return TuningOutcome::Kept(format!("history unusable ({err})")),
        };
        let span = trace.span_periods(window.resolution.period_secs());
        let days = span as f64 * window.resolution.period_secs() as f64 / 86_400.0;
        if days < FIRST_TUNED_DAY as f64 {
            let why = format!("{days:.1} days of history, {FIRST_TUNED_DAY} needed; settings kept");
            return TuningOutcome::Kept(why);
        }
        let no_tags = HashMap::new();
        let tags = snapshot.stream_tags.get(stream).unwrap_or(&no_tags);
        let base = match self.tuning_options(stream, tags) {
            Ok(base) => base,
            Err(why) => return TuningOutcome::Kept(why),
        };
        let incumbent = tags
            .get(tag::TUNED)
            .and_then(|v| TunedTag::parse(stream, v).ok())
            .map(|t| t.candidate);
        let initial = self.aws.open_shard_count(stream).await.ok();
        let chosen = choose(&trace, &base, initial, incumbent.as_deref(), Some(had));
        let tuned = match chosen {
            Ok(tuned) => TunedTag {
                day: self.aws.now().date_naive(),
                ..tuned
            },
            Err(err) => {
                return TuningOutcome::Kept(format!("replay failed ({err}); settings kept"))
            }
        };
        if !self.settings.dry_run {
            let value = tuned.render();
            if let Err(err) = self.aws.tag_stream(stream, tag::TUNED, &value).await {
                return TuningOutcome::Kept(format!("tag not written ({err}); settings kept"));
            }
        }
        tracing::info!(stream = %stream, tuned = %tuned.render(), "tuned");
        TuningOutcome::Tuned(Box::new(tuned))
    }

    /// The replay's options for `stream`: the global settings with its bounds and its
    /// throttling budget from its tags.
    fn tuning_options(
        &self,
        stream: &str,
        tags: &HashMap<String, String>,
    ) -> Result<Options, String> {
        // The stream's own bounds, without the floor the last tuning stood it on: each day's
        // choice starts from the user's minimum, or a floor could only ever rise.
        let mut untuned = tags.clone();
        untuned.remove(tag::TUNED);
        let limits = self
            .settings
            .for_stream(stream, &untuned)
            .map_err(|e| format!("{e}; settings kept"))?;
        let mut settings = self.settings.clone();
        settings.min_shards = limits.min_shards;
        settings.max_shards = limits.max_shards;
        settings.throttle_budget = self
            .settings
            .budget_for_stream(stream, tags)
            .unwrap_or_else(|err| {
                tracing::warn!("{err}; THROTTLE_BUDGET used");
                self.settings.throttle_budget
            });
        Ok(Options {
            keep_timeline: false,
            ..Options::new(settings)
        })
    }
}

/// The tuning of `history` as [`tune::simulate_tuned`] makes it each day, and the advice
/// where the budget is not met (the tag's day is the caller's); `throttled_as_run`: the
/// stream's own `WriteProvisionedThroughputExceeded` records on the history.
pub fn choose(
    history: &Trace,
    base: &Options,
    initial: Option<u32>,
    incumbent: Option<&str>,
    throttled_as_run: Option<f64>,
) -> Result<TunedTag, crate::replay::options::SimError> {
    let tuned = tune::tune_on(history, base, initial, incumbent, throttled_as_run)?;
    let advice = if tuned.choice.met {
        None
    } else {
        Some(tune::advise(history, base, &tuned, initial)?)
    };
    Ok(TunedTag {
        day: NaiveDate::default(),
        candidate: tuned.candidate.name.to_string(),
        met: tuned.choice.met,
        policy: tuned.candidate.policy,
        advice,
    })
}

impl<P: AwsPort> Autoscaler<P> {
    /// The run's tuning figures as metrics (one line each), a failed run in the error metric.
    pub(crate) fn tuning_metrics(&self, tuning: &TuningReport) -> Vec<String> {
        let line = |name: &str, value: usize| self.metric(name, value);
        let mut lines = vec![
            line(metrics::STREAMS_TUNED_METRIC, tuning.tuned()),
            line(metrics::TUNING_BUDGET_MET_METRIC, tuning.met()),
            line(
                metrics::TUNING_BUDGET_NOT_MET_METRIC,
                tuning.tuned() - tuning.met(),
            ),
            line(metrics::TUNING_ADVICE_METRIC, tuning.advised()),
            line(metrics::TUNING_ON_FLOOR_METRIC, tuning.on_floor()),
            line(metrics::TUNING_KEPT_METRIC, tuning.kept()),
        ];
        if tuning.streams.is_empty() && tuning.not_reached > 0 {
            lines.push(line(FATAL_ERROR_METRIC, 1));
        }
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot(n: usize) -> FleetSnapshot {
        FleetSnapshot {
            managed: (0..n).map(|i| format!("s{i:05}")).collect(),
            alarms: HashMap::new(),
            listed: HashMap::new(),
            unconfirmed: HashMap::new(),
            stream_tags: HashMap::new(),
            alarm_tags: HashMap::new(),
        }
    }

    fn at(hour: u32, minute: u32) -> DateTime<Utc> {
        DateTime::from_timestamp(1_796_515_200 + i64::from(hour * 3600 + minute * 60), 0).unwrap()
    }

    #[test]
    fn the_day_is_spread_over_its_ticks_and_a_new_day_starts_over() {
        let settings = Settings::default();
        let fleet = snapshot(10_000);
        let first = due_now(&settings, &fleet, None, at(0, 0));
        assert_eq!(first.len(), 35, "ceil(10,000 / 288)");
        assert_eq!(first[0], "s00000");
        // Half the day gone, nothing tuned: the rest share the 144 ticks left.
        assert_eq!(due_now(&settings, &fleet, None, at(12, 0)).len(), 70);
        // After the cursor only; the last tick takes all that is left.
        let cursor = cursor_value(at(0, 0).date_naive(), "s09989");
        let last = due_now(&settings, &fleet, Some(&cursor), at(23, 55));
        assert_eq!(
            last,
            (9990..10_000)
                .map(|i| format!("s{i:05}"))
                .collect::<Vec<_>>()
        );
        // Yesterday's cursor: today starts at the first stream.
        let tomorrow = at(0, 0) + Duration::days(1);
        assert_eq!(
            due_now(&settings, &fleet, Some(&cursor), tomorrow)[0],
            "s00000"
        );
        // A stream its user keeps on upstream's policy is not tuned.
        let mut fleet = snapshot(2);
        let upstream = HashMap::from([(tag::SCALING_POLICY.to_string(), "upstream".into())]);
        fleet.stream_tags.insert("s00000".into(), upstream);
        assert_eq!(due_now(&settings, &fleet, None, at(23, 55)), ["s00001"]);
    }
}
