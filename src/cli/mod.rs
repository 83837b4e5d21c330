//! The command line: every clap type and every table. The binary calls [`main`]; without a
//! subcommand inside Lambda it serves events instead.

use crate::aws::{AwsClients, AwsOptions};
use crate::cli::output::{eout, eoutln, out, outln};
use crate::domain::event;
use crate::domain::settings::Settings;
use crate::lambda;
use crate::ops::autoscaler::Autoscaler;
use anyhow::Context as _;
use clap::{ArgAction, Args, CommandFactory, Parser, Subcommand};
use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

pub mod completions;
pub mod doctor;
pub mod errors;
pub mod output;
pub mod report;
pub mod sim;
pub mod tables;
pub mod trace;
pub mod wiring;

use errors::{explain, UsageError};

/// Autoscaler for provisioned Kinesis data streams.
///
/// Started by the Lambda runtime (AWS_LAMBDA_RUNTIME_API set) without a subcommand, it serves
/// CloudWatch alarm notifications from SNS. Settings come from the environment variables of
/// the Go kinesis-auto-scaling Lambda (SCALE_UP_THRESHOLD, DRY_RUN, ...; see README.md), and
/// AWS access from the default AWS configuration (profiles, AWS_REGION, AWS_ENDPOINT_URL,
/// ...), which --profile, --region and --endpoint-url override.
///
/// Exit codes: 0 done, 1 failed (the error says what and how to fix it), 2 wrong usage.
#[derive(Parser)]
#[command(name = "kinesis-autoscaler", version, about, long_about)]
struct Cli {
    /// Say more: -v shows the full error chain and the AWS SDK's warnings and info logs, -vv
    /// debug logs (RUST_LOG, when set, decides instead).
    #[arg(short, long, action = ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    command: Option<Command>,
}

/// Where AWS calls go; each falls back to the usual environment variables and
/// ~/.aws/config, as the AWS CLI does.
#[derive(Args, Debug, Clone, Default)]
#[command(next_help_heading = "AWS options")]
pub struct AwsArgs {
    /// Profile in ~/.aws/config and ~/.aws/credentials [default: AWS_PROFILE, else "default"].
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,
    /// AWS region, e.g. eu-west-1 [default: AWS_REGION, else the profile's region].
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,
    /// Send every call here instead of AWS, e.g. an emulator such as moto or LocalStack
    /// [default: AWS_ENDPOINT_URL].
    #[arg(long, value_name = "URL")]
    pub endpoint_url: Option<String>,
}

impl AwsArgs {
    pub fn options(&self) -> AwsOptions {
        AwsOptions {
            profile: self.profile.clone(),
            region: self.region.clone(),
            endpoint_url: self.endpoint_url.clone(),
        }
    }

    /// What error messages may name: the flags, else the environment.
    fn error_context(&self) -> errors::Context {
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        errors::Context {
            profile: crate::aws::setup::effective_profile(&self.options()),
            region: self
                .region
                .clone()
                .or_else(|| env("AWS_REGION"))
                .or_else(|| env("AWS_DEFAULT_REGION")),
            endpoint_url: self
                .endpoint_url
                .clone()
                .or_else(|| env("AWS_ENDPOINT_URL")),
            retries: crate::cli::settings_from_env()
                .map(|s| s.throttle_retry.count)
                .unwrap_or(Settings::default().throttle_retry.count),
        }
    }
}

/// The clients for a command, from its AWS flags and the settings' retry policy. Fails, with
/// the fix, when no region or no credentials can be found.
pub async fn connect(aws: &AwsArgs, settings: &Settings) -> anyhow::Result<AwsClients> {
    Ok(AwsClients::load_for_cli(&settings.throttle_retry, &aws.options()).await?)
}

/// How a command reports failures of single streams while the others go on.
#[derive(Debug, Clone)]
pub struct Ui {
    pub verbose: bool,
    pub colour: bool,
    pub context: errors::Context,
}

impl Ui {
    /// Prints one stream's failure (what, then the fix) to stderr.
    pub fn stream_failure(&self, stream: &str, explained: &errors::Explained) {
        eout!(
            "{}",
            explained.render(Some(stream), self.verbose, self.colour)
        );
    }
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
        #[command(flatten)]
        aws: AwsArgs,
    },
    /// Replay an ingest trace (a file, or a stream's metrics from CloudWatch) through the
    /// alarms and the policy; see docs/simulate.md.
    // Boxed: its many flags make it several times the size of the other commands.
    Simulate(Box<sim::SimulateArgs>),
    /// Replay every trace under upstream's policy, ours and a proposal; print a Markdown table.
    BenchPolicy(sim::BenchArgs),
    /// Bring every managed stream (or the given ones) back in line with its real shard count:
    /// alarm math and thresholds, missing alarms, consumer concurrency, alarms stuck in ALARM.
    /// Changes nothing that is already right, so running it twice changes nothing the
    /// second time. The Lambda runs the same on its schedule.
    Reconcile(ReconcileArgs),
    Wire(wiring::WireArgs),
    Unwire(wiring::UnwireArgs),
    Status(wiring::StatusArgs),
    /// Ingest traces: export a stream's traffic from CloudWatch as a trace file.
    #[command(subcommand)]
    Trace(trace::TraceCommand),
    /// Print a shell completion script: `kinesis-autoscaler completions bash >
    /// ~/.local/share/bash-completion/completions/kinesis-autoscaler` (zsh: a file `_kinesis-autoscaler`
    /// in a folder of $fpath; fish: ~/.config/fish/completions/kinesis-autoscaler.fish).
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    CheckConfig(doctor::CheckConfigArgs),
    Doctor(doctor::DoctorArgs),
    Report(report::ReportArgs),
}

#[derive(Args, Debug, Clone)]
struct ReconcileArgs {
    /// Streams to check; default: every stream with a `<stream>-scale-up` alarm.
    streams: Vec<String>,
    /// Show the drift without fixing it.
    #[arg(long)]
    dry_run: bool,
    /// Print the report as JSON instead of a table.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    aws: AwsArgs,
}

impl Command {
    fn aws_args(&self) -> Option<&AwsArgs> {
        match self {
            Command::Handle { aws, .. } => Some(aws),
            Command::Reconcile(args) => Some(&args.aws),
            Command::Wire(args) => Some(&args.aws),
            Command::Unwire(args) => Some(&args.aws),
            Command::Status(args) => Some(&args.aws),
            Command::Simulate(args) => Some(args.aws()),
            Command::Trace(command) => Some(command.aws()),
            Command::Doctor(args) => Some(&args.aws),
            Command::Report(args) => Some(args.aws()),
            Command::BenchPolicy(_) | Command::Completions { .. } | Command::CheckConfig(_) => None,
        }
    }
}

/// Parses the command line and runs it: the whole binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let Some(runtime) = lambda::runtime() else {
        return ExitCode::FAILURE;
    };
    let verbose = cli.verbose > 0;
    let context = cli
        .command
        .as_ref()
        .and_then(Command::aws_args)
        .map(AwsArgs::error_context)
        .unwrap_or_default();
    let ui = Ui {
        verbose,
        colour: output::colour_stderr(),
        context,
    };
    let result = match cli.command {
        None if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some() => {
            runtime.block_on(serve_lambda())
        }
        None => Err(UsageError(
            "no subcommand given; see --help (without one, the binary only runs inside Lambda)"
                .into(),
        )
        .into()),
        Some(command) => {
            // `handle` is the Lambda's code path: its one summary line per alarm is the point.
            let ours = if matches!(command, Command::Handle { .. }) {
                "info"
            } else {
                "warn"
            };
            init_cli_logs(cli.verbose, ours, ui.colour);
            runtime.block_on(run(command, &ui))
        }
    };
    match result {
        Ok(code) => code,
        // The reader of our output has gone away (`... | head`): nothing left to say.
        Err(err) if output::is_reader_gone(&err) => ExitCode::SUCCESS,
        Err(err) => {
            eout!(
                "{}",
                explain(&err, &ui.context).render(None, ui.verbose, ui.colour)
            );
            if err.downcast_ref::<UsageError>().is_some() {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

/// Serves Lambda events as `kinesis-autoscaler-lambda` does: for functions deployed with the
/// command line's binary as their `bootstrap` before the two were split.
async fn serve_lambda() -> anyhow::Result<ExitCode> {
    lambda::serve().await.map_err(|e| anyhow::anyhow!(e))?;
    Ok(ExitCode::SUCCESS)
}

/// The strict reading of the settings (a bad value is an error naming its variable).
pub fn settings_from_env() -> Result<Settings, crate::domain::settings::SettingsError> {
    Settings::from_lookup(lambda::env_var)
}

/// The deployed function's tolerant reading: never fails, fallbacks in the settings.
pub fn tolerant_settings_from_env() -> Settings {
    Settings::tolerant_from_lookup(lambda::env_var)
}

/// Logs for people: our own warnings only (and `handle`'s summary lines), unless -v (the SDK's region and credential probing
/// warns about every source it tries, which is noise when a later one succeeds); colour only
/// on a terminal without NO_COLOR. RUST_LOG overrides the levels.
fn init_cli_logs(verbose: u8, our_level: &str, colour: bool) {
    let default = match verbose {
        0 => format!("kinesis_autoscaler={our_level}"),
        1 => "info".to_string(),
        _ => "debug".to_string(),
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_target(verbose > 0)
        .with_ansi(colour)
        .with_env_filter(filter)
        .init();
}

async fn run(command: Command, ui: &Ui) -> anyhow::Result<ExitCode> {
    match command {
        Command::Handle { event, aws } => handle(&event, &aws).await,
        Command::Simulate(args) => sim::simulate(*args).await,
        Command::BenchPolicy(args) => sim::bench_policy(args),
        Command::Reconcile(args) => reconcile(args).await,
        Command::Wire(args) => wiring::wire(args, ui).await,
        Command::Unwire(args) => wiring::unwire(args, ui).await,
        Command::Status(args) => wiring::status(args, ui).await,
        Command::Trace(command) => trace::run(command).await,
        Command::Completions { shell } => {
            let bin = "kinesis-autoscaler";
            out!("{}", completions::script(shell, &mut Cli::command(), bin))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::CheckConfig(args) => doctor::check_config(args),
        Command::Doctor(args) => doctor::doctor(args).await,
        Command::Report(args) => report::run(args).await,
    }
}

async fn handle(path: &PathBuf, aws_args: &AwsArgs) -> anyhow::Result<ExitCode> {
    let text = if path.as_os_str() == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("reading the event from stdin")?;
        text
    } else {
        std::fs::read_to_string(path).map_err(|source| errors::FileError {
            verb: "read",
            what: "the event file",
            path: path.clone(),
            source,
            hint: Some("`-` reads the event from standard input".into()),
        })?
    };
    // As the deployed function reads them: tolerant, fallbacks in the report.
    let settings = crate::cli::tolerant_settings_from_env();
    let invocation =
        event::parse_invocation_text(&text).with_context(|| format!("event {}", path.display()))?;
    // As in the Lambda: paced at the full quotas, DescribeLimits cached.
    let clients = connect(aws_args, &settings).await?;
    let function_name = std::env::var("AWS_LAMBDA_FUNCTION_NAME")
        .unwrap_or_else(|_| "kinesis-autoscaler-cli".into());
    let autoscaler = Autoscaler::paced(clients, settings, function_name);
    // The template's timeout: throttled calls are retried until then, as in the Lambda.
    autoscaler.limits.set_deadline(Some(
        tokio::time::Instant::now() + std::time::Duration::from_secs(900),
    ));
    let report = autoscaler.handle_invocation(invocation).await;
    for line in &report.metric_lines {
        eoutln!("{line}");
    }
    outln!("{}", serde_json::to_string_pretty(&report)?)?;
    Ok(if report.succeeded() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

async fn reconcile(args: ReconcileArgs) -> anyhow::Result<ExitCode> {
    let settings = crate::cli::settings_from_env().context("invalid settings")?;
    // Half of each API's quota: scale events share the account's quotas meanwhile.
    let aws = crate::aws::paced::Paced::new(
        connect(&args.aws, &settings).await?,
        crate::aws::paced::RECONCILE_SHARE,
    );
    let progress = output::spinner(if args.dry_run {
        "checking streams"
    } else {
        "reconciling streams"
    });
    let report = crate::ops::fleet::reconcile(
        &aws,
        &settings,
        &args.streams,
        args.dry_run,
        chrono::Utc::now(),
    )
    .await?;
    progress.finish_and_clear();
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&report)?)?;
    } else {
        // A fleet's table shows only the streams that were not in line.
        let mut shown = report.clone();
        if shown.streams.len() > 20 {
            shown
                .streams
                .retain(|s| s.verdict != crate::ops::reconcile::StreamVerdict::InLine);
        }
        out!("{}", tables::reconcile_table(&shown))?;
        let verb = if args.dry_run { "to fix" } else { "fixed" };
        outln!(
            "{} stream(s), {} drift(s) {verb}, {} failed",
            report.streams.len(),
            report.fixes(),
            report.failed()
        )?;
        if let Some(after) = &report.resume_after {
            outln!("stopped early: the next run continues after {after}")?;
        }
    }
    Ok(if report.failed() == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
