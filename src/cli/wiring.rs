//! `wire`, `unwire` and `status`: arguments, and printing for people or scripts.

use crate::aws::paced::{Paced, RECONCILE_SHARE};
use crate::aws::AwsClients;
use crate::cli::errors::{explain_wiring, Explained, UsageError};
use crate::cli::output::{eoutln, out, outln};
use crate::cli::tables::status_table_within;
use crate::cli::{connect, output, AwsArgs, Ui};
use crate::domain::settings::Settings;
use crate::ops::fleet_wiring;
use crate::ops::status::{managed_streams, stream_status};
use crate::ops::wiring::{
    unwire_stream, wire_stream, StreamTagFlags, UnwireReport, WireOptions, WireReport, WiringError,
};
use anyhow::Context as _;
use chrono::Utc;
use serde::Serialize;
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
    /// on a terminal). Paced at PutMetricAlarm's quota: about 1.5 streams a second.
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
    #[command(flatten)]
    pub aws: AwsArgs,
}

/// Disconnect streams from the autoscaler: delete their scale-up / scale-down alarms.
///
/// Alarms already gone are reported as "already absent", so unwiring twice is safe; the
/// streams themselves are not touched (they keep their shard count) unless --remove-tags is
/// given.
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
    /// Print what would be deleted; delete nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub aws: AwsArgs,
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
    #[command(flatten)]
    pub aws: AwsArgs,
}

#[derive(Serialize)]
struct Failure {
    stream: String,
    #[serde(flatten)]
    explained: Explained,
}

#[derive(Serialize)]
struct Output<'a, T: Serialize> {
    streams: &'a [T],
    errors: &'a [Failure],
}

fn print_json<T: Serialize>(streams: &[T], errors: &[Failure]) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(&Output { streams, errors })
        .context("cannot write the output")?;
    outln!("{text}")?;
    Ok(())
}

/// Prints the per-stream reports (JSON, or one summary line each) and the failures; exits 1
/// when any stream failed.
fn finish<T: Serialize>(
    reports: &[T],
    errors: &[Failure],
    json: bool,
    ui: &Ui,
    summary: impl Fn(&T) -> String,
) -> anyhow::Result<ExitCode> {
    if json {
        print_json(reports, errors)?;
    } else {
        for report in reports {
            outln!("{}", summary(report))?;
        }
    }
    report_failures(errors, ui);
    Ok(exit_code(errors))
}

fn report_failures(errors: &[Failure], ui: &Ui) {
    for failure in errors {
        ui.stream_failure(&failure.stream, &failure.explained);
    }
}

fn exit_code(errors: &[Failure]) -> ExitCode {
    if errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

async fn setup(aws: &AwsArgs) -> anyhow::Result<(Settings, Paced<AwsClients>)> {
    let settings = crate::cli::settings_from_env().context("invalid settings")?;
    // Half of each API's quota: the Lambda's scale events share the account's quotas.
    let clients = Paced::new(connect(aws, &settings).await?, RECONCILE_SHARE);
    Ok((settings, clients))
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

/// A progress bar for a fleet operation that reports `(done, total)`.
fn fleet_progress(what: &'static str) -> impl Fn(usize, usize) {
    let bar = std::cell::OnceCell::new();
    move |done, total| {
        let bar = bar.get_or_init(|| output::progress(total as u64, what));
        bar.set_position(done as u64);
        if done >= total {
            bar.finish_and_clear();
        }
    }
}

/// Runs `one` for every stream, with a progress bar on a terminal; failures are collected
/// with their explanation and the other streams go on.
async fn each_stream<T, F, Fut>(
    streams: &[String],
    what: &str,
    ui: &Ui,
    one: F,
) -> (Vec<T>, Vec<Failure>)
where
    F: Fn(String) -> Fut,
    Fut: std::future::Future<Output = Result<T, WiringError>>,
{
    let bar = output::progress(streams.len() as u64, what);
    let mut reports = Vec::new();
    let mut errors = Vec::new();
    for stream in streams {
        bar.set_message(stream.clone());
        match one(stream.clone()).await {
            Ok(report) => reports.push(report),
            Err(err) => errors.push(Failure {
                stream: stream.clone(),
                explained: explain_wiring(&err, &ui.context),
            }),
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    (reports, errors)
}

/// `wire`: exits 0 when every stream is wired, 1 when any failed (each error names its
/// stream; the others are still wired).
pub async fn wire(args: WireArgs, ui: &Ui) -> anyhow::Result<ExitCode> {
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
    options
        .stream_tags
        .tags()
        .map_err(|err| UsageError(err.to_string()))?;
    let (settings, aws) = setup(&args.aws).await?;
    let (mut reports, mut errors) = each_stream(&args.streams, "wire", ui, |stream| {
        let (aws, settings, options) = (&aws, &settings, &options);
        async move { wire_stream(aws, settings, &stream, options).await }
    })
    .await;
    if let Some(prefix) = fleet_prefix(&args.prefix, args.all, &settings) {
        let (streams, left_out) = fleet_wiring::streams_to_wire(&aws, &settings, prefix).await?;
        for (stream, why) in &left_out {
            eoutln!("skipped {stream}: {why}");
        }
        let results =
            fleet_wiring::wire_many(&aws, &settings, &streams, &options, fleet_progress("wire"))
                .await;
        for (stream, result) in results {
            match result {
                Ok(report) => reports.push(report),
                Err(err) => errors.push(Failure {
                    explained: explain_wiring(&err, &ui.context),
                    stream,
                }),
            }
        }
    }
    finish(
        &reports,
        &errors,
        args.json || args.dry_run,
        ui,
        WireReport::summary,
    )
}

/// `unwire`: exits 0 when every stream's alarms are gone (or, with --dry-run, could be
/// listed), 1 otherwise.
pub async fn unwire(args: UnwireArgs, ui: &Ui) -> anyhow::Result<ExitCode> {
    let (settings, aws) = setup(&args.aws).await?;
    let (mut reports, errors) = each_stream(&args.streams, "unwire", ui, |stream| {
        let aws = &aws;
        async move { unwire_stream(aws, &stream, args.remove_tags, args.dry_run).await }
    })
    .await;
    if let Some(prefix) = fleet_prefix(&args.prefix, args.all, &settings) {
        reports.extend(
            fleet_wiring::unwire_prefix(
                &aws,
                prefix,
                args.remove_tags,
                args.dry_run,
                fleet_progress("unwire"),
            )
            .await?,
        );
    }
    finish(&reports, &errors, args.json, ui, UnwireReport::summary)
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
pub async fn status(args: StatusArgs, ui: &Ui) -> anyhow::Result<ExitCode> {
    let (settings, aws) = setup(&args.aws).await?;
    let streams = if args.streams.is_empty() {
        managed_streams(&aws).await?
    } else {
        args.streams.clone()
    };
    if args.streams.is_empty() && !args.every && streams.len() > FLEET_SUMMARY_ABOVE {
        let summary = fleet_wiring::fleet_summary(&aws, &settings, Utc::now()).await?;
        if args.json {
            outln!(
                "{}",
                serde_json::to_string_pretty(&summary).context("cannot write the output")?
            )?;
        } else {
            out!("{}", fleet_summary_text(&summary))?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let now = Utc::now();
    let (reports, errors) = each_stream(&streams, "status", ui, |stream| {
        let (aws, settings) = (&aws, &settings);
        async move { stream_status(aws, settings, &stream, now).await }
    })
    .await;
    if args.json {
        print_json(&reports, &errors)?;
    } else if streams.is_empty() {
        outln!("no managed streams (none has a <stream>-scale-up alarm watching it)")?;
    } else if !reports.is_empty() {
        out!(
            "{}",
            status_table_within(&reports, output::terminal_width())
        )?;
    }
    report_failures(&errors, ui);
    Ok(exit_code(&errors))
}
