//! The daily tuning's choice as a stream keeps it: the `AutoscalerTuned` tag (the chosen
//! parameters, the day they were chosen, whether the budget was met on the history, and the
//! advice where it was not), and the settings a stream's decisions then use.
//!
//! The tag is compact `key=value` words, within Kinesis' 256 characters a tag value and its
//! characters (letters, digits, space, `_ . / = + - % @`). Every parameter is written, not
//! only those that differ from the default, so that a later default does not change what a
//! stream was tuned to. A tag that does not parse is an error naming the stream and the tag:
//! the caller reports it and decides with the settings as if there were no tag.

use crate::domain::settings::{tag, ScalingPolicy, Settings, StreamTagError};
use crate::domain::sizing::Params;
use crate::domain::tuning::{Advice, Policy};
use chrono::NaiveDate;
use serde::Serialize;

/// Kinesis' longest tag value.
pub const TAG_VALUE_MAX: usize = 256;

/// One stream's tuning, as its tag holds it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TunedTag {
    /// The UTC day the choice was made.
    pub day: NaiveDate,
    /// The candidate's name (`default`, `lean`, ..., `upstream`).
    pub candidate: String,
    /// Whether the choice met the stream's throttling budget on its history.
    pub met: bool,
    pub policy: Policy,
    /// What would meet the budget, where no candidate did.
    pub advice: Option<Advice>,
}

/// What a well-formed tag looks like, for errors.
const EXPECTED: &str = "words key=value: day=YYYY-MM-DD set=NAME met=yes|no, the sized parameters (usage up sustain upwin downwin downq saving burst patdays patq hold pre seen, and min where the set stands on a floor) and optional advice (budget od now floor floorcost), as the daily tuning writes them";

fn yes_no(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

impl TunedTag {
    /// The tag's value: at most [`TAG_VALUE_MAX`] characters (the advice is left out when it
    /// would not fit).
    pub fn render(&self) -> String {
        let mut words = vec![
            format!("day={}", self.day.format("%Y-%m-%d")),
            format!("set={}", self.candidate),
            format!("met={}", yes_no(self.met)),
        ];
        if let Policy::Sized {
            target_usage,
            params: p,
            floor,
        } = self.policy
        {
            words.extend([
                format!("usage={target_usage}"),
                format!("up={}", p.up_trigger),
                format!("sustain={}", p.up_sustain),
                format!("upwin={}", p.up_window_mins),
                format!("downwin={}", p.down_window_mins),
                format!("downq={}", p.down_quantile),
                format!("saving={}", p.down_min_saving),
                format!("burst={}", p.burst_cap),
                format!("patdays={}", p.pattern_days),
                format!("patq={}", p.pattern_quantile),
                format!("hold={}", p.hold_ahead_mins),
                format!("pre={}", p.prescale_ahead_mins),
                format!("seen={}", yes_no(p.see_throttled)),
            ]);
            if floor > 0 {
                words.push(format!("min={floor}"));
            }
        }
        let base = words.join(" ");
        let Some(a) = &self.advice else {
            return base;
        };
        let mut advice = vec![
            format!("budget={}", a.budget_fraction),
            format!("od={:.2}", a.on_demand_monthly_usd),
            format!("now={:.2}", a.chosen_monthly_usd),
        ];
        if let (Some(n), Some(usd)) = (a.floor_shards, a.floor_monthly_usd) {
            advice.push(format!("floor={n} floorcost={usd:.2}"));
        }
        let full = format!("{base} {}", advice.join(" "));
        if full.len() <= TAG_VALUE_MAX {
            full
        } else {
            base
        }
    }

    /// Reads `stream`'s tag value; an error names the stream, the tag and the value.
    pub fn parse(stream: &str, value: &str) -> Result<TunedTag, StreamTagError> {
        let bad = |why: String| StreamTagError {
            stream: stream.to_string(),
            tag: tag::TUNED,
            value: value.to_string(),
            expected: format!("{EXPECTED} ({why})"),
        };
        let (mut day, mut candidate, mut met) = (None, None, None);
        let (mut usage, mut params, mut sized) = (None, Params::default(), false);
        let mut floor = 0_i64;
        let mut advice = AdviceWords::default();
        for word in value.split_whitespace() {
            let (key, text) = word
                .split_once('=')
                .ok_or_else(|| bad(format!("{word:?} is not key=value")))?;
            let number = || -> Result<f64, StreamTagError> {
                text.parse::<f64>()
                    .ok()
                    .filter(|v| v.is_finite() && *v >= 0.0)
                    .ok_or_else(|| bad(format!("{key}={text:?} is not a number")))
            };
            let whole = || -> Result<i64, StreamTagError> {
                text.parse::<i64>()
                    .ok()
                    .filter(|v| *v >= 0)
                    .ok_or_else(|| bad(format!("{key}={text:?} is not a whole number")))
            };
            sized |= SIZED_KEYS.contains(&key);
            match key {
                "day" => {
                    let parsed = NaiveDate::parse_from_str(text, "%Y-%m-%d")
                        .map_err(|_| bad(format!("day={text:?} is not a date")))?;
                    day = Some(parsed);
                }
                "set" if !text.is_empty() => candidate = Some(text.to_string()),
                "met" => match text {
                    "yes" => met = Some(true),
                    "no" => met = Some(false),
                    _ => return Err(bad(format!("met={text:?} is neither yes nor no"))),
                },
                "usage" => usage = Some(number()?),
                "up" => params.up_trigger = number()?,
                "sustain" => params.up_sustain = whole()? as usize,
                "upwin" => params.up_window_mins = whole()?,
                "downwin" => params.down_window_mins = whole()?,
                "downq" => params.down_quantile = number()?,
                "saving" => params.down_min_saving = number()?,
                "burst" => params.burst_cap = number()?,
                "patdays" => params.pattern_days = whole()?,
                "patq" => params.pattern_quantile = number()?,
                "hold" => params.hold_ahead_mins = whole()?,
                "pre" => params.prescale_ahead_mins = whole()?,
                "min" => floor = whole()?,
                "seen" => match text {
                    "yes" => params.see_throttled = true,
                    "no" => params.see_throttled = false,
                    _ => return Err(bad(format!("seen={text:?} is neither yes nor no"))),
                },
                "budget" => advice.budget = Some(number()?),
                "od" => advice.on_demand = Some(number()?),
                "now" => advice.chosen = Some(number()?),
                "floor" => advice.floor = Some(whole()?),
                "floorcost" => advice.floor_cost = Some(number()?),
                _ => return Err(bad(format!("unknown word {word:?}"))),
            }
        }
        let day = day.ok_or_else(|| bad("no day".into()))?;
        let candidate = candidate.ok_or_else(|| bad("no set".into()))?;
        let met = met.ok_or_else(|| bad("no met".into()))?;
        let policy = match (candidate.as_str(), usage) {
            ("upstream", _) if !sized => Policy::Upstream,
            (_, Some(target_usage)) if target_usage > 0.0 && target_usage <= 1.0 => Policy::Sized {
                target_usage,
                params,
                floor: u32::try_from(floor)
                    .map_err(|_| bad(format!("min={floor} is too large")))?,
            },
            _ => return Err(bad("a sized set needs usage in (0, 1]".into())),
        };
        Ok(TunedTag {
            day,
            candidate,
            met,
            policy,
            advice: advice.advice(),
        })
    }
}

/// The sized policy's words.
const SIZED_KEYS: [&str; 14] = [
    "usage", "up", "sustain", "upwin", "downwin", "downq", "saving", "burst", "patdays", "patq",
    "hold", "pre", "seen", "min",
];

#[derive(Default)]
struct AdviceWords {
    budget: Option<f64>,
    on_demand: Option<f64>,
    chosen: Option<f64>,
    floor: Option<i64>,
    floor_cost: Option<f64>,
}

impl AdviceWords {
    fn advice(&self) -> Option<Advice> {
        let floor = self.floor.and_then(|n| u32::try_from(n).ok());
        Some(Advice {
            budget_fraction: self.budget?,
            floor_shards: floor,
            floor_monthly_usd: floor.and(self.floor_cost),
            on_demand_monthly_usd: self.on_demand?,
            chosen_monthly_usd: self.chosen?,
            basis: crate::domain::tuning::AdviceBasis::History,
        })
    }
}

/// Settings that decide as `policy` does: its scaling policy, and for a sized one its target
/// usage and rules of thumb. The replay's candidates and the live stream's tuning apply a
/// policy this one way.
pub fn apply_policy(settings: &mut Settings, policy: &Policy) {
    match *policy {
        Policy::Sized {
            target_usage,
            params,
            ..
        } => {
            settings.scaling_policy = ScalingPolicy::Sized;
            settings.target_usage = target_usage;
            // A user's own `see_throttled` (the function reads WriteProvisionedThroughput-
            // Exceeded for every stream) holds whatever the candidate says.
            let see_throttled = params.see_throttled || settings.sizing.see_throttled;
            settings.sizing = Params {
                see_throttled,
                ..params
            };
        }
        Policy::Upstream => settings.scaling_policy = ScalingPolicy::Upstream,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::tuning::candidates;

    fn day() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 12, 6).unwrap()
    }

    #[test]
    fn every_candidate_round_trips_within_kinesis_tag_limits() {
        let worst_advice = Advice {
            budget_fraction: 0.000_123_456_789,
            floor_shards: Some(10_000),
            floor_monthly_usd: Some(108_000.123),
            on_demand_monthly_usd: 9_999_999.99,
            chosen_monthly_usd: 1_234_567.89,
            basis: crate::domain::tuning::AdviceBasis::History,
        };
        let on_floors = candidates()
            .into_iter()
            .flat_map(|c| [0, 10_000].map(|floor| (c.name, c.policy.with_floor(floor))));
        for (name, policy) in on_floors {
            for advice in [None, Some(worst_advice)] {
                let tuned = TunedTag {
                    day: day(),
                    candidate: name.to_string(),
                    met: advice.is_none(),
                    policy,
                    advice,
                };
                let value = tuned.render();
                assert!(
                    value.len() <= TAG_VALUE_MAX,
                    "{} chars: {value}",
                    value.len()
                );
                assert!(
                    value
                        .chars()
                        .all(|c| c.is_alphanumeric() || " _./=+-%@".contains(c)),
                    "{value}"
                );
                let back = TunedTag::parse("s", &value).unwrap();
                assert_eq!(back.policy, tuned.policy, "{value}");
                assert_eq!((back.day, back.met), (day(), tuned.met));
                assert_eq!(back.candidate, name);
                let cents = |x: f64| (x * 100.0).round();
                assert_eq!(
                    back.advice
                        .map(|a| (a.floor_shards, cents(a.on_demand_monthly_usd))),
                    advice.map(|a| (a.floor_shards, cents(a.on_demand_monthly_usd)))
                );
            }
        }
    }

    #[test]
    fn a_bad_tag_names_the_stream_and_the_tag_and_what_is_wrong() {
        for (value, why) in [
            ("", "no day"),
            ("day=2026-13-01 set=lean met=yes usage=0.8", "not a date"),
            (
                "day=2026-12-06 set=lean met=maybe usage=0.8",
                "neither yes nor no",
            ),
            (
                "day=2026-12-06 set=lean met=yes usage=0.8 up=fast",
                "not a number",
            ),
            (
                "day=2026-12-06 set=lean met=yes usage=0.8 colour=red",
                "unknown word",
            ),
            ("day=2026-12-06 set=lean met=yes", "needs usage"),
            ("day=2026-12-06 set=lean met=yes usage=1.5", "needs usage"),
            (
                "day=2026-12-06 set=lean met=yes usage=0.8 hold=-1",
                "not a whole number",
            ),
            ("lean", "not key=value"),
        ] {
            let err = TunedTag::parse("orders", value).unwrap_err().to_string();
            assert!(
                err.contains("stream orders") && err.contains(tag::TUNED) && err.contains(why),
                "{value:?}: {err}"
            );
        }
    }
}
