//! The command line: every clap type and every table. The binary calls [`main`]; without a
//! subcommand inside Lambda it serves events instead.

use crate::aws::AwsClients;
use crate::domain::event;
use crate::domain::settings::Settings;
use crate::lambda;
use crate::ops::scale::Autoscaler;
use anyhow::Context;
use clap::{Parser, Subcommand};
use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

pub mod doctor;
pub mod sim;
pub mod tables;
pub mod wiring;

/// Autoscaler for provisioned Kinesis data streams.
///
/// Started by the Lambda runtime (AWS_LAMBDA_RUNTIME_API set) without a subcommand, it serves
/// CloudWatch alarm notifications from SNS. Settings come from the environment variables of
/// the Go kinesis-auto-scaling Lambda (SCALE_UP_THRESHOLD, DRY_RUN, ...; see README.md), and
/// AWS access from the default AWS configuration, AWS_ENDPOINT_URL included.
#[derive(Parser)]
#[command(version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Handle one Lambda event (an SNS event of CloudWatch alarm notifications, exactly as
    /// Lambda receives it) outside Lambda, through the same code path, and print the outcome
    /// as JSON. Exits 0 when every notification was handled (a refusal is handled), 1 when
    /// an event was unusable or an AWS call failed. Metric lines (EMF) go to stderr.
    Handle {
        /// The event file; `-` reads standard input.
        #[arg(long, value_name = "FILE")]
        event: PathBuf,
    },
    /// Replay an ingest trace through the alarms and the policy; see docs/simulate.md.
    Simulate(sim::SimulateArgs),
    /// Replay every trace under upstream's policy, ours and a proposal; print a Markdown table.
    BenchPolicy(sim::BenchArgs),
    /// Bring every managed stream (or the given ones) back in line with its real shard count:
    /// alarm math and thresholds, missing alarms, consumer concurrency, alarms stuck in ALARM.
    /// Changes nothing that is already right. The Lambda runs the same on its schedule.
    Reconcile {
        /// Streams to check; default: every stream with a `<stream>-scale-up` alarm.
        streams: Vec<String>,
        /// Show the drift without fixing it.
        #[arg(long)]
        dry_run: bool,
        /// Print the report as JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    Wire(wiring::WireArgs),
    Unwire(wiring::UnwireArgs),
    Status(wiring::StatusArgs),
    CheckConfig(doctor::CheckConfigArgs),
    Doctor(doctor::DoctorArgs),
}

/// Parses the command line and runs it: the whole binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let result = match cli.command {
        None if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some() => {
            runtime.block_on(serve_lambda())
        }
        None => Err(anyhow::anyhow!(
            "no subcommand given; see --help (without one, the binary only runs inside Lambda)"
        )),
        Some(command) => {
            init_cli_logs();
            runtime.block_on(run(command))
        }
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve_lambda() -> anyhow::Result<ExitCode> {
    lambda::init_json_logs();
    // Never refuse to start over a setting; what falls back is reported on every invocation.
    let settings = Settings::tolerant_from_env();
    // Boxed: the runtime's and the SDK's futures nest deeper than rustc's default layout limit.
    Box::pin(lambda::run(settings))
        .await
        .map_err(|e| anyhow::anyhow!(e))?;
    Ok(ExitCode::SUCCESS)
}

fn init_cli_logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_env_filter(filter)
        .init();
}

async fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Handle { event } => handle(&event).await,
        Command::Simulate(args) => sim::simulate(args),
        Command::BenchPolicy(args) => sim::bench_policy(args),
        Command::Reconcile {
            streams,
            dry_run,
            json,
        } => reconcile(&streams, dry_run, json).await,
        Command::Wire(args) => Ok(wiring::wire(args).await?),
        Command::Unwire(args) => Ok(wiring::unwire(args).await?),
        Command::Status(args) => Ok(wiring::status(args).await?),
        Command::CheckConfig(args) => doctor::check_config(args),
        Command::Doctor(args) => doctor::doctor(args).await,
    }
}

async fn handle(path: &PathBuf) -> anyhow::Result<ExitCode> {
    let text = if path.as_os_str() == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("reading the event from stdin")?;
        text
    } else {
        std::fs::read_to_string(path)
            .with_context(|| format!("reading the event file {}", path.display()))?
    };
    // As the deployed function reads them: tolerant, fallbacks in the report.
    let settings = Settings::tolerant_from_env();
    let invocation =
        event::parse_invocation_text(&text).with_context(|| format!("event {}", path.display()))?;
    let aws = AwsClients::load(&settings.throttle_retry).await;
    let function_name = std::env::var("AWS_LAMBDA_FUNCTION_NAME")
        .unwrap_or_else(|_| "kinesis-autoscaler-cli".into());
    let autoscaler = Autoscaler {
        aws,
        settings,
        function_name,
    };
    let report = autoscaler.handle_invocation(invocation).await;
    for line in &report.metric_lines {
        eprintln!("{line}");
    }
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(if report.succeeded() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

async fn reconcile(streams: &[String], dry_run: bool, json: bool) -> anyhow::Result<ExitCode> {
    let settings = Settings::from_env().context("invalid settings")?;
    let aws = AwsClients::load(&settings.throttle_retry).await;
    let report =
        crate::ops::reconcile::reconcile(&aws, &settings, streams, dry_run, chrono::Utc::now())
            .await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", tables::reconcile_table(&report));
        let verb = if dry_run { "to fix" } else { "fixed" };
        println!(
            "{} stream(s), {} drift(s) {verb}, {} failed",
            report.streams.len(),
            report.fixes(),
            report.failed()
        );
    }
    Ok(if report.failed() == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
