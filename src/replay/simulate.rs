//! (About 700 lines: the CloudWatch alarm model, the Kinesis model and the Lambda's actions
//! share one state, the [`Replay`]; options in `options.rs`, reports in `report.rs`, tests in
//! `simulate_tests.rs`.)
//!
//! Replays an ingest trace through the autoscaler's own decision code: the alarms that
//! [`alarms::build_pair`] defines are evaluated the way CloudWatch evaluates them, each alarm
//! action goes through [`policy::plan_sized`] with the datapoints the Lambda would read, each
//! scheduled tick through [`schedule::evaluate`], and the plan's reshard and alarm rewrite are
//! applied to the simulated stream. See `docs/simulate.md` for the model in full; in short:
//!
//! - Time is cut into the trace's periods (`P` minutes, which must equal `period_mins`). Every
//!   period yields one datapoint per alarm; a missing row counts as 0 (the alarms' `FILL(m,0)`).
//! - CloudWatch reports admitted load: a period above capacity shows the capacity. A datapoint
//!   is `min(max(bytes/(1 MiB*60*P), records/(1000*60*P)), shards) / s1`, with the `s1` of the
//!   alarm definition *currently* in force applied to every datapoint in the window. The
//!   scale-down alarm's iterator-age term is `e5 = age_mins*threshold/s2` from the trace's
//!   optional `iterator_age_ms` column (0 without it, as `FILL(m3,0)`); the sizing rules see
//!   the same ages, so the lag guard holds in the replay as in the Lambda.
//! - Alarms are evaluated once, at the end of each period: ALARM when at least
//!   `datapoints_to_alarm` of the last `evaluation_periods` datapoints breach. Only a
//!   transition into ALARM notifies the Lambda.
//! - A reset to INSUFFICIENT_DATA (both alarms after a reshard; the firing alarm after a stale
//!   event or at a bound) forgets the window: only datapoints of later periods count, so the
//!   alarm needs `datapoints_to_alarm` new breaching periods before it can fire again. A reset
//!   to OK keeps the window, so a refused alarm fires again at the next evaluation if the
//!   load still breaches (what the Lambda intends with that reset).
//! - The Lambda acts at the evaluation instant. A reshard takes `reshard_periods` periods:
//!   those periods still run on the old shard count and evaluations at their ends see the
//!   stream UPDATING (so [`policy::plan_sized`] refuses and resets to OK); the new count is in
//!   force from the following period. The scheduled evaluation skips an UPDATING stream.
//! - Throughput per period of `P` seconds with `S` shards: capacity `P*S*1000` records and
//!   `P*S` MiB; the admitted fraction is `min(1, cap_records/records, cap_bytes/bytes)`. This
//!   ignores bursts inside a period, so real throttling is at least what is reported.

use crate::domain::alarms::{self, AlarmPairSpec, AlarmTarget, Comparison, KeptFields};
use crate::domain::event::{AlarmPair, Direction};
use crate::domain::history::ReshardHistory;
use crate::domain::policy::{
    self, AlarmsState, Decision, Observed, Refusal, ResetState, ScalePlan, StreamMode, StreamState,
    StreamStatus, Trigger,
};
use crate::domain::schedule::{self, Evaluation};
use crate::domain::settings::{ScalingPolicy, Settings, StreamSettings, AWS_DAILY_RESHARD_LIMIT};
use crate::domain::sizing::{self, Usage};
pub use crate::replay::options::{
    settings_from_vars, Options, SimError, Variant, SCHEDULE_MINUTES,
};
use crate::replay::report::day_counts;
#[cfg(feature = "cli")]
pub use crate::replay::report::write_timeline;
pub use crate::replay::report::{
    human_report, Outcome, Prices, ReshardEvent, Summary, TimelineRow,
};
use crate::replay::trace::{Row, Trace};
use chrono::{DateTime, Duration, Utc};
use std::borrow::Cow;

const MIB: f64 = 1024.0 * 1024.0;
/// Provisioned streams bill PUT payload units of 25 KB.
const PUT_UNIT_BYTES: f64 = 25.0 * 1024.0;
/// On-demand streams bill ingest per record rounded up to 1 KB.
const ON_DEMAND_RECORD_ROUNDING: f64 = 1024.0;
const GB: f64 = 1024.0 * 1024.0 * 1024.0;
/// The name of the simulated stream (and alarm prefix).
pub const STREAM: &str = "simulated";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Ok,
    Alarm,
    InsufficientData,
}

/// One alarm of the pair as CloudWatch holds it.
#[derive(Debug, Clone)]
struct AlarmEval {
    state: State,
    /// First period whose datapoint counts (the one after the last reset to INSUFFICIENT_DATA).
    window_start: usize,
}

impl AlarmEval {
    fn reset(&mut self, state: ResetState, next_period: usize) {
        match state {
            ResetState::Ok => self.state = State::Ok,
            ResetState::InsufficientData => {
                self.state = State::InsufficientData;
                self.window_start = next_period;
            }
        }
    }
}

/// What the alarm evaluation needs of an [`alarms::AlarmSpec`], read once per rewrite.
#[derive(Debug, Clone, Copy)]
struct Rule {
    threshold: f64,
    comparison: Comparison,
    evaluation_periods: usize,
    datapoints_to_alarm: usize,
    s1: f64,
    /// The scale-down alarm's `MAX([e3,e4,e5])`: `e5 = lag_mins * threshold / s2`, this
    /// factor being `threshold / s2`; `None` for the scale-up alarm (`MAX([e3,e4])`).
    lag_factor: Option<f64>,
}

impl Rule {
    fn of(spec: &alarms::AlarmSpec, direction: Direction) -> Rule {
        Rule {
            threshold: spec.threshold,
            comparison: spec.comparison,
            evaluation_periods: spec.evaluation_periods as usize,
            datapoints_to_alarm: spec.datapoints_to_alarm as usize,
            // build_pair always writes s1; 1 only guards a hand-made spec.
            s1: f64::from(spec.shard_count().unwrap_or(1).max(1)),
            lag_factor: (direction == Direction::Down).then(|| {
                let s2 = spec.metrics.iter().find(|m| m.id == "s2");
                let s2 = s2.and_then(|m| m.expression.as_deref()?.parse::<f64>().ok());
                s2.map_or(0.0, |s2| spec.threshold / s2)
            }),
        }
    }
}

/// What invoked the simulated Lambda.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// An alarm's transition into ALARM (`trigger` is that alarm).
    Alarm,
    /// The scheduled evaluation (`trigger` only names the direction of its reshard).
    Schedule,
}

/// An invocation of the simulated Lambda and what it decided.
#[derive(Debug, Clone)]
pub struct Firing {
    pub source: Source,
    pub trigger: Trigger,
    pub observed: Observed,
    /// The datapoints the decision read (what GetMetricData would have returned).
    pub usage: Usage<'static>,
    pub now: DateTime<Utc>,
    /// The decision as applied (for [`Variant::Ours`], exactly what
    /// [`policy::plan_sized`] or [`schedule::evaluate`] returned).
    pub decision: Decision,
}

/// The simulated stream, its alarms and the running totals; advance it with [`Replay::step`].
pub struct Replay {
    opts: Options,
    limits: StreamSettings,
    pair: AlarmPair,
    start: DateTime<Utc>,
    period_secs: i64,
    initial_shards: u32,
    shards: u32,
    /// (first period of the new count, the new count) while a reshard is under way.
    pending: Option<(usize, u32)>,
    history: ReshardHistory,
    alarms: AlarmPairSpec,
    rules: [Rule; 2],
    evals: [AlarmEval; 2],
    /// Per-period usage in shards (`max(bytes/(MiB*60P), records/(1000*60P))`), gaps as 0.
    raw: Vec<f64>,
    /// The same, gaps as `None`: the datapoints GetMetricData would return.
    needs: Vec<Option<f64>>,
    /// The demand behind them (admitted plus throttled), for `Params::see_throttled`.
    demands: Vec<Option<f64>>,
    /// Per period, the trace's iterator age in minutes (`None`: no datapoint, no lag).
    lags: Vec<Option<f64>>,
    next_period: usize,
    totals: Totals,
    timeline: Vec<TimelineRow>,
    reshards: Vec<ReshardEvent>,
}

#[derive(Debug, Clone, Default)]
struct Totals {
    periods: u64,
    shard_periods: u64,
    oracle_shard_periods: u64,
    records: f64,
    throttled: f64,
    throttled_periods: u64,
    bytes: f64,
    put_units: f64,
    on_demand_bytes: f64,
    alarm_actions: u64,
    refusals: u64,
    refused_by_aws: u64,
    scheduled_reshards: u64,
}

/// Shards a period's load needs at 100% usage.
pub use crate::domain::sizing::needed_shards;

impl Replay {
    pub fn new(
        opts: Options,
        start: DateTime<Utc>,
        period_secs: i64,
        initial_shards: u32,
    ) -> Result<Replay, SimError> {
        opts.check()?;
        let limits = StreamSettings {
            min_shards: opts.settings.min_shards,
            max_shards: opts.settings.max_shards,
            consumer_function: None,
            lambdas_per_shard: 1,
        };
        let pair = AlarmPair::new(STREAM);
        let alarms = build_alarms(&opts.settings, &pair, &limits, initial_shards);
        let rules = [
            Rule::of(&alarms.scale_up, Direction::Up),
            Rule::of(&alarms.scale_down, Direction::Down),
        ];
        let fresh = AlarmEval {
            state: State::InsufficientData,
            window_start: 0,
        };
        Ok(Replay {
            opts,
            limits,
            pair,
            start,
            period_secs,
            initial_shards,
            shards: initial_shards,
            pending: None,
            history: ReshardHistory::default(),
            alarms,
            rules,
            evals: [fresh.clone(), fresh],
            raw: Vec::new(),
            needs: Vec::new(),
            demands: Vec::new(),
            lags: Vec::new(),
            next_period: 0,
            totals: Totals::default(),
            timeline: Vec::new(),
            reshards: Vec::new(),
        })
    }

    /// The alarm definitions currently in force.
    pub fn alarms(&self) -> &AlarmPairSpec {
        &self.alarms
    }

    /// Records throttled since the replay's start.
    pub fn throttled_so_far(&self) -> f64 {
        self.totals.throttled
    }

    /// The shard count serving the next period.
    pub fn shards(&self) -> u32 {
        match self.pending {
            Some((from, to)) if from <= self.next_period => to,
            _ => self.shards,
        }
    }

    pub fn history(&self) -> &ReshardHistory {
        &self.history
    }

    fn period_end(&self, period: usize) -> DateTime<Utc> {
        self.start + Duration::seconds(self.period_secs * (period as i64 + 1))
    }

    /// The state the Lambda's gather step would see after the evaluation ending `period`.
    pub fn observed(&self, period: usize) -> Observed {
        let updating = matches!(self.pending, Some((first, _)) if period < first);
        Observed {
            stream: StreamState {
                name: STREAM.to_string(),
                status: if updating {
                    StreamStatus::Updating
                } else {
                    StreamStatus::Active
                },
                mode: StreamMode::Provisioned,
                open_shards: self.shards,
                settings: self.limits.clone(),
                history: self.history.clone(),
            },
            alarms: AlarmsState::default(),
            account_headroom: None,
        }
    }

    pub fn trigger(&self, direction: Direction, at: DateTime<Utc>) -> Trigger {
        Trigger {
            pair: self.pair.clone(),
            direction,
            alarm_name: self.pair.name(direction),
            stream: STREAM.to_string(),
            state_change_time: at,
        }
    }

    /// Replays the next period; `row` is its trace row, `None` for a gap. Returns the alarm
    /// actions of the evaluation at the period's end.
    pub fn step(&mut self, row: Option<&Row>) -> Vec<Firing> {
        let period = self.next_period;
        if let Some((first, to)) = self.pending {
            if first <= period {
                self.shards = to;
                self.pending = None;
            }
        }
        let p = self.period_secs as f64;
        let (bytes, records) = row.map_or((0.0, 0.0), |r| (r.incoming_bytes, r.incoming_records));
        let need = needed_shards(bytes, records, p);
        if let Some(row) = row {
            self.account(row, need);
        }
        // CloudWatch counts what Kinesis admitted: a throttled period reports its capacity,
        // never the demand above it. Alarms and sizing both see that.
        let admitted = need.min(f64::from(self.shards));
        self.raw.push(admitted);
        self.needs.push(row.map(|_| admitted));
        self.demands.push(row.map(|_| need));
        let lag = row.and_then(|r| r.iterator_age_ms).map(|ms| ms / 60_000.0);
        self.lags.push(lag);
        let mut firings = self.evaluate(period);
        // Periods between ticks: 1 for periods of 5 minutes or more.
        let every = (SCHEDULE_MINUTES * 60 / self.period_secs.max(1)).max(1) as usize;
        let ticks_now = (self.next_period + 1).is_multiple_of(every);
        if self.opts.schedule && self.opts.variant == Variant::Ours && ticks_now {
            if let Some(firing) = self.tick(period) {
                firings.push(firing);
            }
        }
        self.next_period += 1;
        firings
    }

    fn account(&mut self, row: &Row, need: f64) {
        let t = &mut self.totals;
        let p = self.period_secs as f64;
        let s = f64::from(self.shards);
        let (bytes, records) = (row.incoming_bytes, row.incoming_records);
        let mut admitted: f64 = 1.0;
        if records > 0.0 {
            admitted = admitted.min(p * s * 1000.0 / records);
        }
        if bytes > 0.0 {
            admitted = admitted.min(p * s * MIB / bytes);
        }
        let throttled = records * (1.0 - admitted);
        t.periods += 1;
        t.shard_periods += u64::from(self.shards);
        t.oracle_shard_periods += (need.ceil() as u64).max(1);
        t.records += records;
        t.bytes += bytes;
        t.throttled += throttled;
        if throttled > 0.0 {
            t.throttled_periods += 1;
        }
        if records > 0.0 {
            let size = bytes / records;
            t.put_units += records * (size / PUT_UNIT_BYTES).ceil().max(1.0);
            t.on_demand_bytes += records
                * (size / ON_DEMAND_RECORD_ROUNDING).ceil().max(1.0)
                * ON_DEMAND_RECORD_ROUNDING;
        }
        if self.opts.keep_timeline {
            self.timeline.push(TimelineRow {
                timestamp: row.timestamp,
                shards: self.shards,
                incoming_bytes: bytes,
                incoming_records: records,
                throttled_records: throttled,
            });
        }
    }

    fn breaching(&self, rule: &Rule, window_start: usize, period: usize) -> (usize, usize) {
        let first = window_start.max((period + 1).saturating_sub(rule.evaluation_periods));
        let first = first.min(period + 1);
        let window = &self.raw[first..=period];
        let breaching = window
            .iter()
            .zip(&self.lags[first..=period])
            .filter(|(raw, lag)| {
                let mut usage = **raw / rule.s1;
                if let Some(factor) = rule.lag_factor {
                    // e5, with FILL(m3,0): a period without an iterator age is no lag.
                    usage = usage.max(lag.unwrap_or(0.0) * factor);
                }
                rule.comparison.holds(usage, rule.threshold)
            })
            .count();
        (breaching, window.len())
    }

    fn evaluate(&mut self, period: usize) -> Vec<Firing> {
        let mut firings = Vec::new();
        let now = self.period_end(period);
        for (i, direction) in [(0, Direction::Up), (1, Direction::Down)] {
            let rule = self.rules[i];
            let (breaching, seen) = self.breaching(&rule, self.evals[i].window_start, period);
            let next = if breaching >= rule.datapoints_to_alarm {
                State::Alarm
            } else if seen == 0 {
                State::InsufficientData
            } else {
                State::Ok
            };
            let entered = next == State::Alarm && self.evals[i].state != State::Alarm;
            self.evals[i].state = next;
            if entered {
                firings.push(self.act(direction, period, now));
            }
        }
        firings
    }

    /// The Lambda's handling of one alarm action: decide with `plan`, then apply the outcome.
    fn act(&mut self, direction: Direction, period: usize, now: DateTime<Utc>) -> Firing {
        self.totals.alarm_actions += 1;
        let trigger = self.trigger(direction, now);
        let observed = self.observed(period);
        let decision = self.decide(&trigger, &observed, period, now);
        match &decision {
            Decision::Scale(plan) => self.apply(plan, period, now),
            Decision::Refuse {
                reset,
                realign,
                refusal,
            } => {
                self.totals.refusals += 1;
                if matches!(refusal, Refusal::RefusedByAws(_)) {
                    self.totals.refused_by_aws += 1;
                }
                if let Some(alarms) = realign {
                    self.set_alarms(alarms.clone());
                }
                if let Some(reset) = reset {
                    let i = if reset.alarm == self.alarms.scale_up.name {
                        0
                    } else {
                        1
                    };
                    self.evals[i].reset(reset.state, period + 1);
                }
            }
        }
        Firing {
            source: Source::Alarm,
            trigger,
            observed,
            usage: self.owned_usage(period),
            now,
            decision,
        }
    }

    /// A reshard as the Lambda makes it: history tag, `UpdateShardCount`, both alarms
    /// rewritten and reset to INSUFFICIENT_DATA.
    fn apply(&mut self, plan: &ScalePlan, period: usize, now: DateTime<Utc>) {
        self.history = plan.history.clone();
        self.set_alarms(plan.alarms.clone());
        for eval in &mut self.evals {
            eval.reset(ResetState::InsufficientData, period + 1);
        }
        let first = period + 1 + self.opts.reshard_periods as usize;
        self.pending = Some((first, plan.to));
        self.reshards.push(ReshardEvent {
            at: now,
            direction: plan.direction,
            from: plan.from,
            to: plan.to,
        });
    }

    fn owned_usage(&self, period: usize) -> Usage<'static> {
        let usage = self.usage(period);
        Usage {
            needs: Cow::Owned(usage.needs.into_owned()),
            lag_mins: Cow::Owned(usage.lag_mins.into_owned()),
            ..usage
        }
    }

    /// The datapoints the Lambda reads at the end of `period` (the window of
    /// [`sizing::history_mins`], as `ops::usage` asks GetMetricData), never a later one.
    pub fn usage(&self, period: usize) -> Usage<'_> {
        let mins = sizing::history_mins(&self.opts.settings.sizing);
        let keep = (mins * 60 / self.period_secs) as usize;
        let end = (period + 1).min(self.needs.len());
        let first = end.saturating_sub(keep);
        let seen = if self.opts.settings.sizing.see_throttled {
            &self.demands
        } else {
            &self.needs
        };
        Usage {
            period_secs: self.period_secs,
            start: self.start + Duration::seconds(self.period_secs * first as i64),
            needs: Cow::Borrowed(&seen[first..end]),
            lag_mins: Cow::Borrowed(&self.lags[first..end]),
        }
    }

    /// The scheduled evaluation at the end of `period`, after the alarms' actions.
    fn tick(&mut self, period: usize) -> Option<Firing> {
        let now = self.period_end(period);
        let observed = self.observed(period);
        let evaluation = schedule::evaluate(
            &self.pair,
            &observed,
            &self.usage(period),
            &self.opts.settings,
            now,
        );
        let Evaluation::Scale { plan, .. } = evaluation else {
            return None;
        };
        self.totals.scheduled_reshards += 1;
        self.apply(&plan, period, now);
        Some(Firing {
            source: Source::Schedule,
            trigger: self.trigger(plan.direction, now),
            observed,
            usage: self.owned_usage(period),
            now,
            decision: Decision::Scale(*plan),
        })
    }

    /// Decides from now on as `policy` does (the walk-forward tuning's daily choice).
    /// A policy's floor raises the stream's minimum (never above its maximum) until the
    /// next choice; the settings' own minimum stays the base.
    pub fn retune(&mut self, policy: &crate::domain::tuning::Policy) {
        apply_policy(&mut self.opts.settings, policy);
        self.limits.min_shards = self
            .opts
            .settings
            .min_shards
            .max(policy.floor())
            .min(self.limits.max_shards);
    }

    fn set_alarms(&mut self, alarms: AlarmPairSpec) {
        self.rules = [
            Rule::of(&alarms.scale_up, Direction::Up),
            Rule::of(&alarms.scale_down, Direction::Down),
        ];
        self.alarms = alarms;
    }

    fn decide(
        &self,
        trigger: &Trigger,
        observed: &Observed,
        period: usize,
        now: DateTime<Utc>,
    ) -> Decision {
        let settings = &self.opts.settings;
        match self.opts.variant {
            Variant::Ours => {
                let usage = self.usage(period);
                policy::plan_sized(trigger, observed, Some(&usage), settings, now)
            }
            Variant::Upstream => {
                // Upstream counted no daily budget: an unlimited one makes plan skip the check.
                let unlimited = Settings {
                    max_reshards_per_day: u32::MAX / 2,
                    scale_up_reserve: 0,
                    scaling_policy: ScalingPolicy::Upstream,
                    ..settings.clone()
                };
                let mut decision = policy::plan(trigger, observed, &unlimited, now);
                if let Decision::Scale(plan) = &mut decision {
                    if plan.direction == Direction::Down {
                        plan.to = (plan.from / 2).max(self.limits.min_shards).max(1);
                        plan.alarms = build_alarms(settings, &self.pair, &self.limits, plan.to);
                    }
                    // What AWS answers UpdateShardCount; the Go Lambda's error handler then
                    // resets the alarm to OK and the next evaluation fires it again.
                    let rejected = if plan.to < plan.from.div_ceil(2) {
                        Some("InvalidArgumentException: below half the open shards")
                    } else if self.history.used_in_day(now) >= AWS_DAILY_RESHARD_LIMIT {
                        Some("LimitExceededException: 10 reshards in 24 hours")
                    } else {
                        None
                    };
                    if let Some(reason) = rejected {
                        return Decision::Refuse {
                            refusal: Refusal::RefusedByAws(reason.to_string()),
                            reset: Some(policy::AlarmReset {
                                alarm: trigger.alarm_name.clone(),
                                state: ResetState::Ok,
                                reason: reason.to_string(),
                            }),
                            realign: None,
                        };
                    }
                }
                decision
            }
        }
    }

    /// The totals so far, as the summary.
    pub fn finish(self, trace_span_periods: u64) -> Outcome {
        let t = &self.totals;
        let hours_per_period = self.period_secs as f64 / 3600.0;
        let shard_hours = t.shard_periods as f64 * hours_per_period;
        let oracle_shard_hours = t.oracle_shard_periods as f64 * hours_per_period;
        let p = &self.opts.prices;
        let put_cost = t.put_units / 1e6 * p.put_units_million;
        let (max_in_day, over) = day_counts(&self.reshards);
        let summary = Summary {
            variant: match self.opts.variant {
                Variant::Ours => format!(
                    "ours, SCALING_POLICY={}{}",
                    match self.opts.settings.scaling_policy {
                        ScalingPolicy::Sized => "sized",
                        ScalingPolicy::Upstream => "upstream",
                    },
                    if self.opts.schedule
                        && self.opts.settings.scaling_policy == ScalingPolicy::Sized
                    {
                        ", scheduled evaluation every 5 minutes"
                    } else {
                        ", alarms only"
                    }
                ),
                Variant::Upstream => self.opts.variant.label(),
            },
            periods: t.periods,
            missing_periods: trace_span_periods.saturating_sub(t.periods),
            period_secs: self.period_secs,
            initial_shards: self.initial_shards,
            final_shards: self.shards(),
            shard_hours,
            records_total: t.records,
            records_throttled: t.throttled,
            throttled_fraction: if t.records > 0.0 {
                t.throttled / t.records
            } else {
                0.0
            },
            throttled_periods: t.throttled_periods,
            bytes_total: t.bytes,
            reshards: self.reshards.len() as u64,
            scale_ups: self
                .reshards
                .iter()
                .filter(|r| r.direction == Direction::Up)
                .count() as u64,
            scale_downs: self
                .reshards
                .iter()
                .filter(|r| r.direction == Direction::Down)
                .count() as u64,
            max_reshards_in_24h: max_in_day,
            reshards_over_daily_limit: over,
            alarm_actions: t.alarm_actions,
            refusals: t.refusals,
            refused_by_aws: t.refused_by_aws,
            scheduled_reshards: t.scheduled_reshards,
            put_payload_units: t.put_units,
            provisioned_cost_usd: shard_hours * p.shard_hour + put_cost,
            on_demand_cost_usd: t.periods as f64 * hours_per_period * p.on_demand_stream_hour
                + t.on_demand_bytes / GB * p.on_demand_gb,
            oracle_shard_hours,
            oracle_provisioned_cost_usd: oracle_shard_hours * p.shard_hour + put_cost,
            prices: *p,
            tuning: None,
            advice: None,
        };
        Outcome {
            summary,
            timeline: self.timeline,
            reshards: self.reshards,
        }
    }
}

/// Settings that decide as a policy does (the live tuning applies it the same way).
pub use crate::domain::tuned::apply_policy;

fn build_alarms(
    settings: &Settings,
    pair: &AlarmPair,
    limits: &StreamSettings,
    shards: u32,
) -> AlarmPairSpec {
    alarms::build_pair(
        settings,
        &AlarmTarget::for_stream(pair, STREAM, shards, limits),
        None,
        &KeptFields::default(),
        &KeptFields::default(),
    )
}

/// The default initial shard count: what the first row needs, within the bounds.
pub fn default_initial_shards(trace: &Trace, settings: &Settings, period_secs: i64) -> u32 {
    let need = trace.rows.first().map_or(1.0, |r| {
        needed_shards(r.incoming_bytes, r.incoming_records, period_secs as f64)
    });
    let need = need
        .ceil()
        .clamp(1.0, f64::from(crate::domain::settings::STREAM_SHARD_CAP)) as u32;
    need.clamp(settings.min_shards, settings.max_shards)
}

/// Replays `trace` from start to end with the parameters in `opts` (never tuned: the tuned
/// replay, and the entry point that honours `opts.tune`, is `replay::tune::replay`).
pub fn simulate(trace: &Trace, opts: &Options) -> Result<Outcome, SimError> {
    run(trace, opts, |_, _| Ok(()))
}

/// Replays `trace`, calling `before(replay, start)` before each period (gaps included).
pub fn run(
    trace: &Trace,
    opts: &Options,
    mut before: impl FnMut(&mut Replay, DateTime<Utc>) -> Result<(), SimError>,
) -> Result<Outcome, SimError> {
    let period_secs = i64::from(opts.settings.period_mins) * 60;
    if let Some(trace_secs) = trace.period_secs {
        if trace_secs != period_secs {
            let hint = if trace_secs % 60 == 0 {
                (trace_secs / 60).to_string()
            } else {
                "<whole minutes>".into()
            };
            return Err(SimError::PeriodMismatch {
                trace_secs,
                period_mins: opts.settings.period_mins,
                hint,
            });
        }
    }
    let initial = opts
        .initial_shards
        .unwrap_or_else(|| default_initial_shards(trace, &opts.settings, period_secs));
    let Some(first) = trace.rows.first() else {
        let replay = Replay::new(opts.clone(), Utc::now(), period_secs, initial)?;
        return Ok(replay.finish(0));
    };
    let mut replay = Replay::new(opts.clone(), first.timestamp, period_secs, initial)?;
    replay.raw.reserve(trace.rows.len());
    let mut expected = first.timestamp;
    for row in &trace.rows {
        while expected < row.timestamp {
            before(&mut replay, expected)?;
            replay.step(None);
            expected += Duration::seconds(period_secs);
        }
        before(&mut replay, expected)?;
        replay.step(Some(row));
        expected += Duration::seconds(period_secs);
    }
    let span = replay.next_period as u64;
    Ok(replay.finish(span))
}

#[cfg(test)]
#[path = "simulate_tests.rs"]
mod tests;
