//! The sized policy's reads: a stream's recent load from CloudWatch (GetMetricData), turned
//! into the [`Usage`] that [`crate::domain::sizing`] decides from. When the metrics cannot be
//! read (the upstream role denies GetMetricData; CloudWatch throttles), the decision falls
//! back to doubling/halving, and the reason is logged once per process, not on every event.
//!
//! Also one stream's scheduled evaluation ([`Autoscaler::evaluate_stream`]): sized by
//! [`schedule::evaluate`] from its own history, without waiting for an alarm. The scheduled
//! run evaluates the whole fleet from bulk reads (`scheduled.rs`) and shares [`observe`] and
//! [`Autoscaler::evaluate_observed`] with it.

use crate::aws::{
    merge_incoming, merge_iterator_ages, merge_points, AwsError, AwsPort, ExistingAlarm,
    IncomingMetric, IncomingPoint, IncomingSeries, StreamSummary,
};
use crate::domain::event::{AlarmPair, Direction};
use crate::domain::execution;
use crate::domain::history::ReshardHistory;
use crate::domain::policy::{AlarmsState, Observed, StreamState, Trigger};
use crate::domain::schedule::{self, Evaluation};
use crate::domain::settings::{tag, ScalingPolicy, Settings};
use crate::domain::sizing::{self, Usage};
use crate::ops::outcome::{AlarmOutcome, Autoscaler, Outcome};
use chrono::{DateTime, Duration, Utc};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};

static FALLBACK_LOGGED: AtomicBool = AtomicBool::new(false);

/// The start of the period holding `t`, on CloudWatch's grid (multiples of the period).
fn floor_to(t: DateTime<Utc>, period_secs: i64) -> DateTime<Utc> {
    let secs = t.timestamp().div_euclid(period_secs) * period_secs;
    DateTime::from_timestamp(secs, 0).unwrap_or(t)
}

/// The window the sized policy reads: its longest look-back, ending with the last whole
/// period before `now` (a period still in progress would look like a drop in load).
pub fn usage_window(settings: &Settings, now: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
    let period = i64::from(settings.period_mins.max(1)) * 60;
    let end = floor_to(now, period);
    let start = floor_to(
        end - Duration::minutes(sizing::history_mins(&settings.sizing)),
        period,
    );
    (start, end)
}

/// What one stream's metrics say over a window: its load, the records refused for want of
/// capacity and how far its consumers lag.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StreamMetrics {
    pub incoming: Vec<IncomingPoint>,
    /// The Maximum of `GetRecords.IteratorAgeMilliseconds` per period (start, milliseconds).
    pub iterator_ages: Vec<(DateTime<Utc>, f64)>,
    /// The Sum of `WriteProvisionedThroughputExceeded` per period (start, records refused).
    pub throttled: Vec<(DateTime<Utc>, f64)>,
}

impl StreamMetrics {
    /// The [`Usage`] these datapoints make over [start, end) in periods of `period_secs`:
    /// the admitted load, or with `see_throttled` the demand ([`StreamMetrics::demand`]).
    pub fn usage(
        &self,
        period_secs: i64,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        see_throttled: bool,
    ) -> Usage<'static> {
        let points = if see_throttled {
            self.demand()
        } else {
            self.incoming.clone()
        };
        let sums: Vec<_> = points
            .iter()
            .map(|p| (p.start, p.bytes, p.records))
            .collect();
        Usage::from_sums(period_secs, start, end, &sums).with_iterator_ages(&self.iterator_ages)
    }

    /// Each period's demand, as the replay's trace holds it: the admitted records plus the
    /// throttled ones, and the bytes scaled alike (a refused record is taken to be of the
    /// period's average size; with none admitted, the bytes are unknown and left as they
    /// are). A period without a throttled datapoint is its admitted load.
    pub fn demand(&self) -> Vec<IncomingPoint> {
        let throttled: HashMap<DateTime<Utc>, f64> = self.throttled.iter().copied().collect();
        self.incoming
            .iter()
            .map(|p| match throttled.get(&p.start) {
                Some(&refused) if refused.is_finite() && refused > 0.0 => {
                    let records = p.records + refused;
                    let bytes = if p.records > 0.0 {
                        p.bytes * records / p.records
                    } else {
                        p.bytes
                    };
                    IncomingPoint {
                        records,
                        bytes,
                        ..*p
                    }
                }
                _ => *p,
            })
            .collect()
    }
}

/// Whether the live sizing sees the demand behind throttled periods, as the replay's
/// `see_throttled` does (the throttled series is read either way).
pub fn sees_throttled(_settings: &Settings) -> bool {
    false
}

/// The load, throttled records and iterator age of up to
/// [`crate::aws::METRIC_STREAMS_PER_CALL`] streams per
/// `period_secs` in [start, end): one GetMetricData request, in as many pages as CloudWatch
/// cuts it into. A stream without a datapoint is absent.
pub async fn read_metrics<P: AwsPort>(
    aws: &P,
    streams: &[String],
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    period_secs: u32,
) -> Result<HashMap<String, StreamMetrics>, AwsError> {
    let mut series: Vec<IncomingSeries> = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let page = aws
            .incoming_metrics_page(streams, start, end, period_secs, next.as_deref())
            .await?;
        series.extend(page.items);
        match page.next {
            Some(token) => next = Some(token),
            None => break,
        }
    }
    Ok(by_stream(series))
}

/// A GetMetricData answer's series, merged by stream: each stream's load and iterator ages
/// (a stream with ages but no load datapoint is kept, with no load).
pub fn by_stream(series: Vec<IncomingSeries>) -> HashMap<String, StreamMetrics> {
    let mut ages = merge_iterator_ages(&series);
    let mut throttled = merge_points(&series, IncomingMetric::Throttled);
    let mut out: HashMap<String, StreamMetrics> = merge_incoming(series)
        .into_iter()
        .map(|(stream, incoming)| {
            let iterator_ages = ages.remove(&stream).unwrap_or_default();
            let metrics = StreamMetrics {
                incoming,
                iterator_ages,
                throttled: throttled.remove(&stream).unwrap_or_default(),
            };
            (stream, metrics)
        })
        .collect();
    for (stream, iterator_ages) in ages {
        out.entry(stream).or_default().iterator_ages = iterator_ages;
    }
    for (stream, refused) in throttled {
        out.entry(stream).or_default().throttled = refused;
    }
    out
}

/// The stream's recent load and lag, or `None` when the policy does not use them or they
/// cannot be read. Read as the scheduled run reads them (the same queries), so the lag guard
/// holds for an alarm action's sized decision too.
pub async fn read_usage<P: AwsPort>(
    aws: &P,
    settings: &Settings,
    stream: &str,
    now: DateTime<Utc>,
) -> Option<Usage<'static>> {
    if settings.scaling_policy != ScalingPolicy::Sized {
        return None;
    }
    let period = settings.period_mins.max(1) * 60;
    let (start, end) = usage_window(settings, now);
    let streams = [stream.to_string()];
    match read_metrics(aws, &streams, start, end, period).await {
        Ok(mut metrics) => {
            let metrics = metrics.remove(stream).unwrap_or_default();
            let see_throttled = sees_throttled(settings);
            Some(metrics.usage(i64::from(period), start, end, see_throttled))
        }
        Err(err) => {
            metrics_unreadable(stream, &err);
            None
        }
    }
}

/// Logs, once per process, that the metrics cannot be read and what is done without them.
pub(crate) fn metrics_unreadable(stream: &str, err: &AwsError) {
    if !FALLBACK_LOGGED.swap(true, Ordering::Relaxed) {
        tracing::warn!(
            stream = %stream,
            error = %err,
            "SCALING_POLICY=sized cannot read the stream's metrics (GetMetricData); deciding by doubling/halving until it can (logged once)"
        );
    }
}

/// Why an evaluation without metrics does nothing: the alarms still act, by doubling/halving.
pub(crate) const METRICS_UNREADABLE: &str = "metrics unreadable: left to the alarms";

/// What [`schedule::evaluate`] needs of one stream, from its record (however read: its own
/// DescribeStreamSummary and ListTagsForStream, or the fleet's bulk reads), its tags and its
/// alarm pair as it exists. A tag that cannot be read is the error.
pub fn observe(
    settings: &Settings,
    stream: &str,
    summary: &StreamSummary,
    tags: &HashMap<String, String>,
    alarms: &HashMap<String, ExistingAlarm>,
    headroom: Option<u32>,
) -> Result<Observed, String> {
    let stream_settings = settings
        .for_stream(stream, tags)
        .map_err(|e| e.to_string())?;
    let history = match tags.get(tag::RESHARD_HISTORY) {
        Some(value) => ReshardHistory::parse(stream, value).map_err(|e| e.to_string())?,
        None => ReshardHistory::default(),
    };
    let pair = AlarmPair::new(stream);
    let kept = |direction| {
        alarms
            .get(&pair.name(direction))
            .map(ExistingAlarm::kept)
            .unwrap_or_default()
    };
    Ok(Observed {
        stream: StreamState {
            name: stream.to_string(),
            status: summary.status,
            mode: summary.mode,
            open_shards: summary.open_shards,
            settings: stream_settings,
            history,
        },
        alarms: AlarmsState {
            last_scaled: None,
            kept_up: kept(Direction::Up),
            kept_down: kept(Direction::Down),
        },
        account_headroom: headroom,
    })
}

/// What a scheduled evaluation of one stream did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StreamEvaluation {
    pub stream: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evaluation: Option<Evaluation>,
    /// The reshard's execution, when there was one (as an alarm action reports it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<AlarmOutcome>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl StreamEvaluation {
    fn new(stream: &str) -> Self {
        StreamEvaluation {
            stream: stream.to_string(),
            evaluation: None,
            outcome: None,
            error: None,
        }
    }

    /// A stream decided with nothing to carry out.
    pub(crate) fn decided(stream: &str, evaluation: Evaluation) -> Self {
        StreamEvaluation {
            evaluation: Some(evaluation),
            ..StreamEvaluation::new(stream)
        }
    }

    /// A stream that could not be evaluated, and why.
    pub(crate) fn failed(stream: &str, error: String) -> Self {
        StreamEvaluation {
            error: Some(error),
            ..StreamEvaluation::new(stream)
        }
    }
}

impl<P: AwsPort> Autoscaler<P> {
    /// Sizes one stream from its recent load and reshards it if [`schedule::evaluate`] says so,
    /// reading it on its own (DescribeStreamSummary, ListTagsForStream, DescribeAlarms,
    /// GetMetricData). `headroom`: the shards the account may still open (`None`: unknown).
    pub async fn evaluate_stream(&self, stream: &str, headroom: Option<u32>) -> StreamEvaluation {
        let now = self.aws.now();
        let pair = AlarmPair::new(stream);
        let names = [pair.name(Direction::Up), pair.name(Direction::Down)];
        let (summary, tags, alarms, usage) = tokio::join!(
            self.aws.stream_summary(stream),
            self.aws.stream_tags(stream),
            self.aws.describe_alarms(&names),
            read_usage(&self.aws, &self.settings, stream, now)
        );
        let gathered = (|| -> Result<_, String> {
            let (summary, tags, alarms) = (
                summary.map_err(|e| e.to_string())?,
                tags.map_err(|e| e.to_string())?,
                alarms.map_err(|e| e.to_string())?,
            );
            let observed = observe(&self.settings, stream, &summary, &tags, &alarms, headroom)?;
            Ok((observed, alarms))
        })();
        let (observed, alarms) = match gathered {
            Ok(g) => g,
            Err(err) => return StreamEvaluation::failed(stream, err),
        };
        let Some(usage) = usage else {
            // Logged once by read_usage.
            return StreamEvaluation::failed(stream, METRICS_UNREADABLE.into());
        };
        self.evaluate_observed(&observed, &alarms, &usage, now)
            .await
    }

    /// Evaluates a stream as observed and carries out the reshard it calls for (a dry run
    /// only reports it). `alarms`: at least the stream's pair, for their ARNs.
    pub(crate) async fn evaluate_observed(
        &self,
        observed: &Observed,
        alarms: &HashMap<String, ExistingAlarm>,
        usage: &Usage<'_>,
        now: DateTime<Utc>,
    ) -> StreamEvaluation {
        let stream = observed.stream.name.as_str();
        let pair = AlarmPair::new(stream);
        let mut result = StreamEvaluation::new(stream);
        let evaluation = schedule::evaluate(&pair, observed, usage, &self.settings, now);
        if let Evaluation::Scale { plan, .. } = &evaluation {
            let mut outcome = AlarmOutcome::new(0, Outcome::DryRun, "scheduled evaluation");
            outcome.stream = Some(stream.to_string());
            outcome.action = Some(plan.direction);
            outcome.from = Some(plan.from);
            outcome.to = Some(plan.to);
            if !self.settings.dry_run {
                // The reshard is executed as an alarm action's is; the alarm named is the one
                // of the reshard's direction, which a failure resets to OK (harmless: it
                // re-evaluates at the next period).
                let trigger = Trigger {
                    pair: pair.clone(),
                    direction: plan.direction,
                    alarm_name: pair.name(plan.direction),
                    stream: stream.to_string(),
                    state_change_time: now,
                };
                let steps =
                    execution::scale_steps(plan, |name| alarms.get(name).map(|a| a.arn.clone()));
                self.scale(
                    &trigger,
                    plan,
                    &steps,
                    &observed.stream.history,
                    &mut outcome,
                )
                .await;
            }
            result.outcome = Some(outcome);
        }
        result.evaluation = Some(evaluation);
        result
    }
}
