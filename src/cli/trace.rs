//! `trace export`: a stream's IncomingBytes / IncomingRecords from CloudWatch as a trace file.

use crate::cli::AwsArgs;
use clap::Subcommand;
use std::process::ExitCode;

#[derive(Subcommand, Debug)]
pub enum TraceCommand {
    /// Write a stream's traffic from CloudWatch as a trace CSV that `simulate --trace` reads.
    Export(ExportArgs),
}

impl TraceCommand {
    pub fn aws(&self) -> &AwsArgs {
        match self {
            TraceCommand::Export(args) => &args.aws,
        }
    }
}

#[derive(clap::Args, Debug)]
pub struct ExportArgs {
    /// The stream.
    #[arg(long, value_name = "NAME")]
    pub stream: String,
    #[command(flatten)]
    pub aws: AwsArgs,
}

pub async fn run(command: TraceCommand) -> anyhow::Result<ExitCode> {
    match command {
        TraceCommand::Export(_) => anyhow::bail!("not yet"),
    }
}
