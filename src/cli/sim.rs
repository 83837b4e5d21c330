//! The `simulate` and `bench-policy` subcommands: flags in, the library's replay, output out.

use crate::cli::errors::{FileError, UsageError};
use crate::cli::output::{eoutln, out, outln};
use crate::replay::bench;
use crate::replay::simulate::{self, Options, Prices, Variant};
use crate::replay::trace::Trace;
use crate::replay::{plot, trace};
use anyhow::Context;
use clap::Args;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum PolicyFlag {
    /// The autoscaler's policy, as the Lambda runs it.
    Ours,
    /// The upstream Go Lambda as deployed: doubling, from/2 halving, AWS's refusals.
    Upstream,
}

/// Replay an ingest trace through the autoscaler's alarms and policy.
///
/// Each policy flag sets the Lambda environment variable named in its help, and is validated
/// the same way; errors name that variable.
/// `simulate --help` groups its flags by meaning.
const INPUT: &str = "Input (one of)";
const POLICY: &str = "Policy";
const REPLAY: &str = "Replayed stream";
const PRICES: &str = "Prices";
const OUTPUT: &str = "Output";

#[derive(Args, Debug)]
#[command(group(clap::ArgGroup::new("input").required(true).args(["trace", "stream"])))]
pub struct SimulateArgs {
    /// The trace: CSV timestamp,incoming_bytes,incoming_records[,iterator_age_ms] (per-period
    /// Sums; the optional Maximum iterator age holds shrinks as the Lambda does).
    #[arg(long, value_name = "FILE", help_heading = INPUT)]
    trace: Option<PathBuf>,
    /// Replay this stream's traffic straight from CloudWatch (as `trace export` reads it;
    /// the same figures as `simulate --trace` on the exported file).
    #[arg(long, value_name = "NAME", help_heading = INPUT)]
    stream: Option<String>,
    #[command(flatten)]
    window: crate::cli::trace::WindowArgs,
    /// Shards at the start, 1 to 10000 [default: what the first row needs, within the
    /// bounds].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=10_000), help_heading = REPLAY)]
    initial_shards: Option<u32>,
    /// Period of the alarm datapoints in minutes (SCALE_PERIOD_MINS); must match the trace.
    #[arg(long, value_name = "MINUTES", help_heading = POLICY)]
    period_mins: Option<u32>,
    /// SCALE_UP_THRESHOLD [default: 0.75].
    #[arg(long, value_name = "USAGE", help_heading = POLICY)]
    scale_up_threshold: Option<f64>,
    /// SCALE_UP_EVALUATION_PERIOD [default: 5].
    #[arg(long, value_name = "N", help_heading = POLICY)]
    scale_up_evaluation_periods: Option<u32>,
    /// SCALE_UP_DATAPOINTS_REQUIRED [default: 5].
    #[arg(long, value_name = "N", help_heading = POLICY)]
    scale_up_datapoints: Option<u32>,
    /// SCALE_DOWN_THRESHOLD [default: 0.25].
    #[arg(long, value_name = "USAGE", allow_hyphen_values = true, help_heading = POLICY)]
    scale_down_threshold: Option<f64>,
    /// SCALE_DOWN_EVALUATION_PERIOD [default: 60].
    #[arg(long, value_name = "N", help_heading = POLICY)]
    scale_down_evaluation_periods: Option<u32>,
    /// SCALE_DOWN_DATAPOINTS_REQUIRED [default: 57].
    #[arg(long, value_name = "N", help_heading = POLICY)]
    scale_down_datapoints: Option<u32>,
    /// MIN_SHARDS [default: 1].
    #[arg(long, value_name = "N", help_heading = POLICY)]
    min_shards: Option<u32>,
    /// MAX_SHARDS [default: 10000].
    #[arg(long, value_name = "N", help_heading = POLICY)]
    max_shards: Option<u32>,
    /// MAX_RESHARDS_PER_DAY [default: 10].
    #[arg(long, value_name = "N", help_heading = POLICY)]
    max_reshards_per_day: Option<u32>,
    /// SCALE_UP_RESHARD_RESERVE [default: 2].
    #[arg(long, value_name = "N", help_heading = POLICY)]
    scale_up_reserve: Option<u32>,
    /// Periods a reshard takes (stream UPDATING, old count still serving).
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(0..=288), help_heading = REPLAY)]
    reshard_periods: u32,
    /// Whose code decides: ours (as the Lambda runs it) or the upstream Go Lambda's.
    #[arg(long, value_enum, default_value = "ours", help_heading = POLICY)]
    policy: PolicyFlag,
    /// SCALING_POLICY for --policy ours: sized or upstream [default: sized].
    #[arg(long, value_name = "sized|upstream", help_heading = POLICY)]
    scaling_policy: Option<String>,
    /// SCALE_TARGET_USAGE: the usage a sized reshard aims the recent peak at [default: 0.7].
    #[arg(long, value_name = "USAGE", help_heading = POLICY)]
    target_usage: Option<f64>,
    /// Leave out the scheduled evaluation (alarms only), as a deployment without the
    /// schedule rule runs.
    #[arg(long, help_heading = REPLAY)]
    no_schedule: bool,
    /// Tune the sized policy walk-forward to THROTTLE_BUDGET: each UTC day's parameters are
    /// chosen from the 14 days before it only (the first two days run the defaults).
    #[arg(long)]
    tune: bool,
    /// THROTTLE_BUDGET: `upstream` (no more throttling than doubling/halving) or a fraction
    /// of records (0.001 = 0.1%); implies --tune [default: upstream].
    #[arg(long, value_name = "upstream|F")]
    throttle_budget: Option<String>,
    /// Size from the demand behind a throttled period (admitted plus throttled records, as
    /// WriteProvisionedThroughputExceeded reports them), not only what was admitted.
    #[arg(long)]
    see_throttled: bool,
    /// USD per shard-hour (us-east-1, checked 2026-11).
    #[arg(long, value_name = "USD", default_value_t = Prices::default().shard_hour, value_parser = price, help_heading = PRICES)]
    price_shard_hour: f64,
    /// USD per million 25 KB PUT payload units (us-east-1, checked 2026-11).
    #[arg(long, value_name = "USD", default_value_t = Prices::default().put_units_million, value_parser = price, help_heading = PRICES)]
    price_put_units_million: f64,
    /// USD per on-demand stream-hour (us-east-1, checked 2026-11).
    #[arg(long, value_name = "USD", default_value_t = Prices::default().on_demand_stream_hour, value_parser = price, help_heading = PRICES)]
    price_on_demand_stream_hour: f64,
    /// USD per GB ingested on demand (us-east-1, checked 2026-11).
    #[arg(long, value_name = "USD", default_value_t = Prices::default().on_demand_gb, value_parser = price, help_heading = PRICES)]
    price_on_demand_gb: f64,
    /// Print the summary as one JSON object.
    #[arg(long, help_heading = OUTPUT)]
    json: bool,
    /// Write the per-period timeline CSV here.
    #[arg(long, value_name = "OUT.csv", help_heading = OUTPUT)]
    timeline: Option<PathBuf>,
    /// Write a chart here: PNG or SVG, by the extension.
    #[arg(long, value_name = "OUT.png|OUT.svg", help_heading = OUTPUT)]
    plot: Option<PathBuf>,
    /// Also draw this policy's provisioned shards on the chart, replayed on the same trace
    /// (e.g. --compare upstream: the Go Lambda's).
    #[arg(long, value_enum, value_name = "POLICY", requires = "plot", help_heading = OUTPUT)]
    compare: Option<PolicyFlag>,
    #[command(flatten)]
    aws: crate::cli::AwsArgs,
}

/// A price flag's value: a finite number, zero or more (clap reports anything else, exit 2).
fn price(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err("expected a price in USD, a number >= 0".into()),
    }
}

impl SimulateArgs {
    pub fn aws(&self) -> &crate::cli::AwsArgs {
        &self.aws
    }
}

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Folder of *.csv traces (default: the sample traces in the repository's traces/, when
    /// run from its root).
    #[arg(long, value_name = "DIR", default_value = "traces")]
    traces: PathBuf,
    /// THROTTLE_BUDGET the tuned row keeps to: `upstream` or a fraction of records.
    #[arg(long, value_name = "upstream|F", default_value = "upstream")]
    throttle_budget: String,
    /// The tuned row sizes from the demand behind throttled periods (see `simulate`).
    #[arg(long)]
    see_throttled: bool,
}

/// The Lambda variable each policy flag sets.
const FLAG_VARIABLES: [(&str, &str); 14] = [
    ("--throttle-budget", "THROTTLE_BUDGET"),
    ("--scaling-policy", "SCALING_POLICY"),
    ("--target-usage", "SCALE_TARGET_USAGE"),
    ("--period-mins", "SCALE_PERIOD_MINS"),
    ("--scale-up-threshold", "SCALE_UP_THRESHOLD"),
    (
        "--scale-up-evaluation-periods",
        "SCALE_UP_EVALUATION_PERIOD",
    ),
    ("--scale-up-datapoints", "SCALE_UP_DATAPOINTS_REQUIRED"),
    ("--scale-down-threshold", "SCALE_DOWN_THRESHOLD"),
    (
        "--scale-down-evaluation-periods",
        "SCALE_DOWN_EVALUATION_PERIOD",
    ),
    ("--scale-down-datapoints", "SCALE_DOWN_DATAPOINTS_REQUIRED"),
    ("--min-shards", "MIN_SHARDS"),
    ("--max-shards", "MAX_SHARDS"),
    ("--max-reshards-per-day", "MAX_RESHARDS_PER_DAY"),
    ("--scale-up-reserve", "SCALE_UP_RESHARD_RESERVE"),
];

/// The settings parser speaks of environment variables; name the flags too.
fn in_flag_terms(message: &str) -> String {
    let mut out = message
        .replace("environment variables ", "")
        .replace("environment variable ", "");
    for (flag, variable) in FLAG_VARIABLES {
        out = out
            .split(' ')
            .map(|word| {
                let bare = word.split('=').next().unwrap_or(word);
                if bare == variable {
                    word.replacen(variable, &format!("{flag} ({variable})"), 1)
                } else {
                    word.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join(" ");
    }
    out
}

fn variant_of(policy: PolicyFlag) -> Variant {
    match policy {
        PolicyFlag::Ours => Variant::Ours,
        PolicyFlag::Upstream => Variant::Upstream,
    }
}

pub(crate) fn options(args: &SimulateArgs) -> anyhow::Result<Options> {
    let mut vars: HashMap<&'static str, String> = HashMap::new();
    let mut set = |name: &'static str, value: Option<String>| {
        if let Some(v) = value {
            vars.insert(name, v);
        }
    };
    let s = |v: Option<u32>| v.map(|v| v.to_string());
    let f = |v: Option<f64>| v.map(|v| v.to_string());
    set("SCALE_PERIOD_MINS", s(args.period_mins));
    set("SCALE_UP_THRESHOLD", f(args.scale_up_threshold));
    set(
        "SCALE_UP_EVALUATION_PERIOD",
        s(args.scale_up_evaluation_periods),
    );
    set("SCALE_UP_DATAPOINTS_REQUIRED", s(args.scale_up_datapoints));
    set("SCALE_DOWN_THRESHOLD", f(args.scale_down_threshold));
    set(
        "SCALE_DOWN_EVALUATION_PERIOD",
        s(args.scale_down_evaluation_periods),
    );
    set(
        "SCALE_DOWN_DATAPOINTS_REQUIRED",
        s(args.scale_down_datapoints),
    );
    set("MIN_SHARDS", s(args.min_shards));
    set("MAX_SHARDS", s(args.max_shards));
    set("MAX_RESHARDS_PER_DAY", s(args.max_reshards_per_day));
    set("SCALE_UP_RESHARD_RESERVE", s(args.scale_up_reserve));
    set("SCALING_POLICY", args.scaling_policy.clone());
    set("SCALE_TARGET_USAGE", f(args.target_usage));
    set("THROTTLE_BUDGET", args.throttle_budget.clone());
    let settings = simulate::settings_from_vars(&vars).map_err(|err| {
        UsageError(format!(
            "invalid policy flags: {}",
            in_flag_terms(&err.to_string())
        ))
    })?;
    let mut settings = settings;
    settings.sizing.see_throttled = args.see_throttled;
    Ok(Options {
        settings,
        initial_shards: args.initial_shards,
        reshard_periods: args.reshard_periods,
        prices: Prices {
            shard_hour: args.price_shard_hour,
            put_units_million: args.price_put_units_million,
            on_demand_stream_hour: args.price_on_demand_stream_hour,
            on_demand_gb: args.price_on_demand_gb,
        },
        variant: variant_of(args.policy),
        schedule: !args.no_schedule,
        keep_timeline: true,
        tune: args.tune || args.throttle_budget.is_some(),
    })
}

pub async fn simulate(args: SimulateArgs) -> anyhow::Result<ExitCode> {
    let opts = options(&args)?;
    if let Some(path) = &args.plot {
        plot::format_of(path).map_err(|err| UsageError(err.to_string()))?;
        FileError::check_writable(path, "the plot")?;
    }
    if let Some(path) = &args.timeline {
        FileError::check_writable(path, "the timeline")?;
    }
    if let Some(target) = args.target_usage {
        if !(target.is_finite() && target > 0.0) {
            return Err(UsageError(format!(
                "--target-usage {target} is invalid: expected a number above 0"
            ))
            .into());
        }
    }
    let (trace, name) = match (&args.trace, &args.stream) {
        (Some(path), _) => (
            read_trace(path)?,
            path.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
        ),
        (None, Some(stream)) => {
            let exported = crate::cli::trace::fetch(stream, &args.window, &args.aws).await?;
            // A replay of part of the window would report figures for a window not asked for.
            if let Some(err) = exported.failure {
                return Err(err.into());
            }
            (exported.trace, format!("stream {stream}"))
        }
        // The "input" group requires one of them.
        (None, None) => return Err(UsageError("give --trace FILE or --stream NAME".into()).into()),
    };
    let outcome = crate::replay::tune::replay(&trace, &opts).with_context(|| name.clone())?;
    if let Some(path) = &args.timeline {
        let file = std::fs::File::create(path).map_err(|source| FileError {
            verb: "write",
            what: "the timeline",
            path: path.clone(),
            source,
            hint: None,
        })?;
        simulate::write_timeline(std::io::BufWriter::new(file), &outcome.timeline)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if let Some(path) = &args.plot {
        let mut title = format!("{name}: provisioned shards vs load");
        if let Some(advice) = &outcome.summary.advice {
            title.push_str(&crate::replay::tune::advice_caption(advice));
        }
        let compared = match args.compare {
            Some(policy) => Some(simulate::simulate(
                &trace,
                &Options {
                    variant: variant_of(policy),
                    ..opts.clone()
                },
            )?),
            None => None,
        };
        let compared = compared.as_ref().map(|outcome| plot::Compared {
            name: match outcome.summary.variant.as_str() {
                v if v.starts_with("upstream") => "upstream Go Lambda",
                _ => "ours",
            },
            outcome,
        });
        plot::write_compared(path, &outcome, compared, &title)?;
        eoutln!("plot written to {}", path.display());
    }
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&outcome.summary)?)?;
    } else {
        out!("{}", simulate::human_report(&outcome.summary))?;
        out!("{}", crate::replay::tune::describe(&outcome.summary))?;
        out!("{}", monthly_comparison(&trace, &opts)?)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The trace file: a missing or unreadable file says what to do, a bad row names its line.
fn read_trace(path: &Path) -> anyhow::Result<Trace> {
    match trace::read(path) {
        Ok(trace) => Ok(trace),
        Err(trace::TraceError::Io { source, .. }) => Err(FileError {
            verb: "read",
            what: "the trace",
            path: path.to_path_buf(),
            source,
            hint: Some(
                "`kinesis-autoscaler trace export --stream NAME -o FILE` writes a stream's trace; samples are in the repository's traces/".into(),
            ),
        }
        .into()),
        Err(err) => Err(anyhow::Error::new(err).context(format!("trace {}", path.display()))),
    }
}

/// Our policy, upstream's and on-demand on the same trace, in dollars per 30 days at the
/// prices in `opts`.
fn monthly_comparison(trace: &Trace, opts: &Options) -> anyhow::Result<String> {
    let run = |variant| {
        crate::replay::tune::replay(
            trace,
            &Options {
                variant,
                keep_timeline: false,
                ..opts.clone()
            },
        )
    };
    let ours = run(Variant::Ours)?.summary;
    let upstream = run(Variant::Upstream)?.summary;
    if ours.hours() <= 0.0 {
        return Ok(String::new());
    }
    let month = |usd: f64| ours.per_30_days(usd);
    let line = |label: &str, s: &simulate::Summary| {
        format!(
            "  {label:<20} {:>11}  ({:.3}% of records throttled, {} reshards)\n",
            format!("${:.2}", month(s.provisioned_cost_usd)),
            100.0 * s.throttled_fraction,
            s.reshards
        )
    };
    let prices_note = if opts.prices == Prices::default() {
        "us-east-1 list prices; --price-* flags for other regions"
    } else {
        "the --price-* flags given"
    };
    Ok(format!(
        "per 30 days at {prices_note}:\n{}{}  {:<20} {:>11}\n",
        line("ours", &ours),
        line("upstream Go Lambda", &upstream),
        "on demand",
        format!("${:.2}", month(ours.on_demand_cost_usd)),
    ))
}

/// [`bench::run`], with a bar per replay on a terminal.
fn bench_with_progress(
    dir: &Path,
    budget: crate::domain::tuning::ThrottleBudget,
    see_throttled: bool,
) -> Result<Vec<bench::BenchRow>, bench::BenchError> {
    let bar = std::cell::OnceCell::new();
    let mut started = 0;
    let rows = bench::run_with_progress(
        dir,
        &bench::policies_with(budget, see_throttled),
        |trace, policy| {
            if let Some(bar) = bar.get() {
                let bar: &indicatif::ProgressBar = bar;
                // The previous replay is done once the next one starts.
                if started > 0 {
                    bar.inc(1);
                }
                bar.set_message(format!("{trace}: {policy}"));
            }
            started += 1;
        },
        |replays| {
            let _ = bar.set(crate::cli::output::progress(replays as u64, "replay"));
        },
    )?;
    if let Some(bar) = bar.get() {
        bar.finish_and_clear();
    }
    Ok(rows)
}

pub fn bench_policy(args: BenchArgs) -> anyhow::Result<ExitCode> {
    let dir: &Path = &args.traces;
    let budget = simulate::settings_from_vars(&HashMap::from([(
        "THROTTLE_BUDGET",
        args.throttle_budget.clone(),
    )]))
    .map_err(|err| UsageError(in_flag_terms(&err.to_string())))?
    .throttle_budget;
    let results =
        bench_with_progress(dir, budget, args.see_throttled).map_err(|err| match err {
            bench::BenchError::Dir { source, .. } => FileError {
                verb: "list",
                what: "the traces folder",
                path: dir.to_path_buf(),
                source,
                hint: Some(
                    "run it from the repository's root (its traces/ folder), or pass --traces DIR"
                        .into(),
                ),
            }
            .into(),
            other => anyhow::Error::new(other),
        })?;
    outln!("Traces: {}\n", dir.display())?;
    out!("{}", bench::table(&results))?;
    let speed = bench::speed()?;
    outln!(
        "\nReplay speed: a synthetic one-year trace of 1-minute periods, generated in memory ({} rows, {} reshards under our defaults), replayed in {:.1} ms (best of 3): {:.1} million trace rows per second.",
        speed.periods,
        speed.reshards,
        speed.best_secs * 1e3,
        speed.periods as f64 / speed.best_secs / 1e6
    )?;
    outln!(
        "Without the scheduled evaluation (alarms only): {:.1} ms, {:.1} million trace rows per second.",
        speed.alarms_only_secs * 1e3,
        speed.periods as f64 / speed.alarms_only_secs / 1e6
    )?;
    Ok(ExitCode::SUCCESS)
}
