//! `trace export`: a stream's IncomingBytes / IncomingRecords from CloudWatch as a trace file,
//! and the time window flags it shares with `simulate --stream`.

use crate::cli::output::eoutln;
use crate::cli::{connect, output, AwsArgs};
use crate::ops::export::{self, Export};
use crate::replay::trace;
use anyhow::Context as _;
use chrono::{DateTime, Duration, Utc};
use clap::Subcommand;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Subcommand, Debug)]
pub enum TraceCommand {
    /// Write a stream's traffic from CloudWatch as a trace CSV that `simulate --trace` reads.
    ///
    /// GetMetricData, Sum of IncomingBytes and IncomingRecords per 5 minutes (CloudWatch keeps
    /// 5-minute data 63 days; an older window gets its hourly data, 455 days, and says so).
    /// A period without a datapoint is left out (a gap), never filled in. Where the data came
    /// from, its resolution and anything partial are written as `#` lines at the top.
    Export(ExportArgs),
}

impl TraceCommand {
    pub fn aws(&self) -> &AwsArgs {
        match self {
            TraceCommand::Export(args) => &args.aws,
        }
    }
}

/// Which stretch of a stream's history to read.
#[derive(clap::Args, Debug, Clone, Default)]
#[command(next_help_heading = "Time window (with --stream)")]
pub struct WindowArgs {
    /// The last N days up to now [default: 14 when neither --start nor --end is given].
    #[arg(long, value_name = "N", conflicts_with_all = ["start", "end"])]
    pub days: Option<u32>,
    /// Start, RFC 3339, e.g. 2026-11-01T00:00:00Z.
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub start: Option<DateTime<Utc>>,
    /// End (excluded), RFC 3339 [default: now].
    #[arg(long, value_name = "TIME", value_parser = parse_time, requires = "start")]
    pub end: Option<DateTime<Utc>>,
}

fn parse_time(text: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("expected RFC 3339 like 2026-11-30T00:00:00Z: {e}"))
}

impl WindowArgs {
    /// `[start, end)` as asked for.
    pub fn range(&self, now: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
        match (self.start, self.end) {
            (Some(start), end) => (start, end.unwrap_or(now)),
            (None, _) => (
                now - Duration::days(i64::from(self.days.unwrap_or(14))),
                now,
            ),
        }
    }
}

#[derive(clap::Args, Debug)]
pub struct ExportArgs {
    /// The stream.
    #[arg(long, value_name = "NAME")]
    pub stream: String,
    #[command(flatten)]
    pub window: WindowArgs,
    /// Write the trace here instead of to standard output.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub aws: AwsArgs,
}

pub async fn run(command: TraceCommand) -> anyhow::Result<ExitCode> {
    match command {
        TraceCommand::Export(args) => export_command(args).await,
    }
}

/// Reads `stream`'s traffic in the window from CloudWatch, with a progress bar on a terminal;
/// the notes (resolution, gaps, anything partial) go to stderr. An export cut short by a
/// failed request comes back with its [`Export::failure`] set.
pub async fn fetch(stream: &str, window: &WindowArgs, aws: &AwsArgs) -> anyhow::Result<Export> {
    let settings = crate::cli::settings_from_env().context("invalid settings")?;
    let clients = connect(aws, &settings).await?;
    let now = Utc::now();
    let (start, end) = window.range(now);
    let window = export::window(start, end, now)?;
    let bar = output::progress(0, "GetMetricData");
    let exported = export::export(&clients, stream, window, |done, total| {
        bar.set_length(total);
        bar.set_position(done);
    })
    .await?;
    bar.finish_and_clear();
    for note in exported.notes() {
        eoutln!("{note}");
    }
    Ok(exported)
}

async fn export_command(args: ExportArgs) -> anyhow::Result<ExitCode> {
    if let Some(path) = &args.output {
        crate::cli::errors::FileError::check_writable(path, "the trace")?;
    }
    let mut exported = fetch(&args.stream, &args.window, &args.aws).await?;
    let notes = exported.notes();
    match &args.output {
        Some(path) => {
            let file =
                std::fs::File::create(path).map_err(|source| crate::cli::errors::FileError {
                    verb: "write",
                    what: "the trace",
                    path: path.clone(),
                    source,
                    hint: None,
                })?;
            trace::write(std::io::BufWriter::new(file), &notes, &exported.trace)
                .with_context(|| format!("writing {}", path.display()))?;
            eoutln!(
                "wrote {} rows to {}",
                exported.trace.rows.len(),
                path.display()
            );
        }
        None => trace::write(crate::cli::output::stdout(), &notes, &exported.trace)
            .context("writing the trace to standard output")?,
    }
    // The part that was read is written (marked partial); the failure still fails the command.
    match exported.failure.take() {
        Some(err) => Err(err.into()),
        None => Ok(ExitCode::SUCCESS),
    }
}
