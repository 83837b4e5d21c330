//! `wire`, `unwire` and `status`: arguments, and printing for people or scripts.

use crate::aws::paced::{Paced, RECONCILE_SHARE};
use crate::aws::AwsClients;
use crate::cli::tables::status_table;
use crate::domain::settings::Settings;
use crate::ops::fleet_wiring;
use crate::ops::wiring::{
    managed_streams, stream_status, unwire_stream, wire_stream, StreamTagFlags, UnwireReport,
    WireOptions, WireReport, WiringError,
};
use chrono::Utc;
use serde::Serialize;
use std::io::IsTerminal;
use std::process::ExitCode;

/// Connect streams to the autoscaler: write their scale-up / scale-down alarms.
///
/// Creates or updates each stream's `<stream>-scale-up` / `<stream>-scale-down` alarms
/// for its current open shard count, publishing to the autoscaler's SNS topic.
///
/// The alarms are built by the code the Lambda uses to rewrite them after a reshard, from
/// the same environment variables (SCALE_UP_THRESHOLD, SCALE_PERIOD_MINS, MIN_SHARDS, ...;
/// see README.md), so run `wire` with the Lambda's settings: a wired alarm then equals a
/// rewritten one. Descriptions and extra actions of existing alarms are kept. Only what
/// differs is written: wiring again reports "unchanged". Streams must be PROVISIONED and
/// ACTIVE.
///
/// Per-stream settings given as flags are written as stream tags (AutoscalerMinShards,
/// AutoscalerMaxShards, AutoscalerConsumerFunction, AutoscalerLambdasPerShard) before the
/// alarms, and apply to every stream named.
#[derive(clap::Args, Debug, Clone)]
pub struct WireArgs {
    /// The streams to wire.
    #[arg(required_unless_present_any = ["prefix", "all"], value_name = "STREAM")]
    pub streams: Vec<String>,
    /// Wire every PROVISIONED, ACTIVE stream whose name starts with P (a fleet; progress
    /// on a terminal). Paced at half of PutMetricAlarm's quota: about 1.5 streams a second.
    #[arg(long, value_name = "P", conflicts_with_all = ["streams", "all"])]
    pub prefix: Option<String>,
    /// Wire every PROVISIONED, ACTIVE stream within MANAGED_STREAM_PREFIX.
    #[arg(long, conflicts_with = "streams")]
    pub all: bool,
    /// The SNS topic that invokes the autoscaler Lambda: the stack's AutoscalerTopicArn
    /// output (`aws cloudformation describe-stacks --stack-name NAME --query
    /// "Stacks[0].Outputs[?OutputKey=='AutoscalerTopicArn'].OutputValue" --output text`).
    /// Without it, the actions of the stream's existing alarms are reused; a stream with
    /// no alarm yet is then an error.
    #[arg(long, env = "KINESIS_AUTOSCALER_TOPIC_ARN", value_name = "ARN")]
    pub topic_arn: Option<String>,
    /// Print the alarm definitions and tags that would be written (JSON); write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Never scale below N shards (stream tag AutoscalerMinShards).
    #[arg(long, value_name = "N")]
    pub min_shards: Option<u32>,
    /// Never scale above N shards (stream tag AutoscalerMaxShards).
    #[arg(long, value_name = "N")]
    pub max_shards: Option<u32>,
    /// The Lambda function consuming the stream, whose reserved concurrency follows the
    /// shard count (stream tag AutoscalerConsumerFunction).
    #[arg(long, value_name = "NAME_OR_ARN")]
    pub consumer_function: Option<String>,
    /// Reserved concurrency of the consumer per shard (stream tag
    /// AutoscalerLambdasPerShard).
    #[arg(long, value_name = "N")]
    pub lambdas_per_shard: Option<u32>,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Disconnect streams from the autoscaler: delete their scale-up / scale-down alarms.
///
/// Alarms already gone are reported as "already absent"; the streams themselves are not
/// touched (they keep their shard count) unless --remove-tags is given.
#[derive(clap::Args, Debug, Clone)]
pub struct UnwireArgs {
    /// The streams to unwire.
    #[arg(required_unless_present_any = ["prefix", "all"], value_name = "STREAM")]
    pub streams: Vec<String>,
    /// Unwire every wired stream whose name starts with P (alarms deleted 100 a call).
    #[arg(long, value_name = "P", conflicts_with_all = ["streams", "all"])]
    pub prefix: Option<String>,
    /// Unwire every wired stream within MANAGED_STREAM_PREFIX.
    #[arg(long, conflicts_with = "streams")]
    pub all: bool,
    /// Also remove the autoscaler's stream tags: AutoscalerReshardHistory,
    /// AutoscalerMinShards, AutoscalerMaxShards, AutoscalerConsumerFunction,
    /// AutoscalerLambdasPerShard.
    #[arg(long)]
    pub remove_tags: bool,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Show where managed streams stand: shards, alarms, drift, reshards left today.
///
/// Per stream: open shards, mode and status, both alarms' state, threshold and the shard count their math is written for (drift is flagged when it is
/// not the open count, or when an alarm differs from what `wire` would write), the last
/// reshard, reshards used in the rolling 24 hours against MAX_RESHARDS_PER_DAY, and the
/// consumer function's reserved concurrency. Settings come from the same environment
/// variables as the Lambda.
#[derive(clap::Args, Debug, Clone)]
pub struct StatusArgs {
    /// The streams to show; by default every stream with a `<stream>-scale-up` alarm
    /// watching it.
    #[arg(value_name = "STREAM")]
    pub streams: Vec<String>,
    /// Without STREAMs, a fleet of more than 20 streams is summarised (streams by verdict,
    /// alarms by state, the streams needing attention); this lists every stream instead.
    #[arg(long)]
    pub every: bool,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Serialize)]
struct Failure {
    stream: String,
    error: String,
}

#[derive(Serialize)]
struct Output<'a, T: Serialize> {
    streams: &'a [T],
    errors: &'a [Failure],
}

fn print_json<T: Serialize>(streams: &[T], errors: &[Failure]) -> Result<(), WiringError> {
    let text = serde_json::to_string_pretty(&Output { streams, errors })
        .map_err(|e| WiringError::Output(e.to_string()))?;
    println!("{text}");
    Ok(())
}

/// Prints the per-stream reports (JSON, or one summary line each) and the failures; exits 1
/// when any stream failed.
fn finish<T: Serialize>(
    reports: &[T],
    errors: &[Failure],
    json: bool,
    summary: impl Fn(&T) -> String,
) -> Result<ExitCode, WiringError> {
    if json {
        print_json(reports, errors)?;
    } else {
        for report in reports {
            println!("{}", summary(report));
        }
    }
    for failure in errors {
        eprintln!("error: {}", failure.error);
    }
    Ok(exit_code(errors))
}

fn exit_code(errors: &[Failure]) -> ExitCode {
    if errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

async fn setup() -> Result<(Settings, Paced<AwsClients>), WiringError> {
    let settings = Settings::from_env()?;
    // Half of each API's quota: the Lambda's scale events share the account's quotas.
    let aws = Paced::new(
        AwsClients::load(&settings.throttle_retry).await,
        RECONCILE_SHARE,
    );
    Ok((settings, aws))
}

/// The prefix of `--prefix P` / `--all`, if one was given.
fn fleet_prefix<'a>(
    prefix: &'a Option<String>,
    all: bool,
    settings: &'a Settings,
) -> Option<&'a str> {
    prefix
        .as_deref()
        .or(all.then_some(settings.managed_stream_prefix.as_str()))
}

/// `done/total` on one line of a terminal's stderr; nothing when stderr is not a terminal.
fn progress(verb: &'static str) -> impl Fn(usize, usize) {
    let terminal = std::io::stderr().is_terminal();
    move |done, total| {
        if terminal {
            eprint!("\r{verb} {done}/{total}");
            if done == total {
                eprintln!();
            }
        }
    }
}

/// `wire`: exits 0 when every stream is wired, 1 when any failed (each error names its
/// stream; the others are still wired).
pub async fn wire(args: WireArgs) -> Result<ExitCode, WiringError> {
    let options = WireOptions {
        topic_arn: args.topic_arn.clone(),
        dry_run: args.dry_run,
        stream_tags: StreamTagFlags {
            min_shards: args.min_shards,
            max_shards: args.max_shards,
            consumer_function: args.consumer_function.clone(),
            lambdas_per_shard: args.lambdas_per_shard,
        },
    };
    options.stream_tags.tags()?;
    let (settings, aws) = setup().await?;
    let mut reports = Vec::new();
    let mut errors = Vec::new();
    if let Some(prefix) = fleet_prefix(&args.prefix, args.all, &settings) {
        let (streams, left_out) = fleet_wiring::streams_to_wire(&aws, &settings, prefix).await?;
        for (stream, why) in &left_out {
            eprintln!("skipped {stream}: {why}");
        }
        let results =
            fleet_wiring::wire_many(&aws, &settings, &streams, &options, progress("wired")).await;
        for (stream, result) in results {
            match result {
                Ok(report) => reports.push(report),
                Err(err) => errors.push(Failure {
                    stream,
                    error: err.to_string(),
                }),
            }
        }
    }
    for stream in &args.streams {
        match wire_stream(&aws, &settings, stream, &options).await {
            Ok(report) => reports.push(report),
            Err(err) => errors.push(Failure {
                stream: stream.clone(),
                error: err.to_string(),
            }),
        }
    }
    finish(
        &reports,
        &errors,
        args.json || args.dry_run,
        WireReport::summary,
    )
}

/// `unwire`: exits 0 when every stream's alarms are gone, 1 otherwise.
pub async fn unwire(args: UnwireArgs) -> Result<ExitCode, WiringError> {
    let (settings, aws) = setup().await?;
    let mut reports = Vec::new();
    let mut errors = Vec::new();
    if let Some(prefix) = fleet_prefix(&args.prefix, args.all, &settings) {
        reports = fleet_wiring::unwire_prefix(&aws, prefix, args.remove_tags, progress("deleted"))
            .await?;
    }
    for stream in &args.streams {
        match unwire_stream(&aws, stream, args.remove_tags).await {
            Ok(report) => reports.push(report),
            Err(err) => errors.push(Failure {
                stream: stream.clone(),
                error: err.to_string(),
            }),
        }
    }
    finish(&reports, &errors, args.json, UnwireReport::summary)
}

/// Fleets larger than this are summarised by `status` unless `--every` is given.
const FLEET_SUMMARY_ABOVE: usize = 20;

fn fleet_summary_text(summary: &fleet_wiring::FleetSummary) -> String {
    let pairs = |map: &dyn Fn() -> Vec<(String, usize)>| {
        map()
            .into_iter()
            .map(|(k, v)| format!("{v} {k}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut text = format!(
        "{} managed streams: {}\nalarms: {}\n",
        summary.managed_streams,
        pairs(&|| summary
            .streams
            .iter()
            .map(|(k, v)| (k.to_string(), *v))
            .collect()),
        pairs(&|| summary
            .alarms
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect()),
    );
    for (stream, why) in &summary.attention {
        text.push_str(&format!("  {stream}: {why}\n"));
    }
    text.push_str("(`status --every` lists every stream; `status STREAM` shows one)\n");
    text
}

/// `status`: exits 0 when every stream could be described, 1 otherwise (drift is
/// reported, not an error).
pub async fn status(args: StatusArgs) -> Result<ExitCode, WiringError> {
    let (settings, aws) = setup().await?;
    let streams = if args.streams.is_empty() {
        managed_streams(&aws).await?
    } else {
        args.streams.clone()
    };
    if args.streams.is_empty() && !args.every && streams.len() > FLEET_SUMMARY_ABOVE {
        let summary = fleet_wiring::fleet_summary(&aws, &settings, Utc::now()).await?;
        if args.json {
            let text = serde_json::to_string_pretty(&summary)
                .map_err(|e| WiringError::Output(e.to_string()))?;
            println!("{text}");
        } else {
            print!("{}", fleet_summary_text(&summary));
        }
        return Ok(ExitCode::SUCCESS);
    }
    let now = Utc::now();
    let mut reports = Vec::new();
    let mut errors = Vec::new();
    for stream in &streams {
        match stream_status(&aws, &settings, stream, now).await {
            Ok(report) => reports.push(report),
            Err(err) => errors.push(Failure {
                stream: stream.clone(),
                error: err.to_string(),
            }),
        }
    }
    if args.json {
        print_json(&reports, &errors)?;
    } else if streams.is_empty() {
        println!("no managed streams (none has a <stream>-scale-up alarm watching it)");
    } else {
        print!("{}", status_table(&reports));
    }
    for failure in &errors {
        eprintln!("error: {}", failure.error);
    }
    Ok(exit_code(&errors))
}
