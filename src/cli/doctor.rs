//! `check-config` and `doctor`: see problems before deploying, and what a deployed function
//! will do differently or fail at.

use crate::cli::output::outln;
use crate::domain::settings::Settings;
use std::process::ExitCode;

/// Check the settings in this environment as the deployed function reads them.
///
/// The function never refuses to start over a setting: what it cannot use as set falls back
/// (logged, and the error metric on every invocation). This lists every such variable, with
/// what is used instead, and exits 1 if there is any.
#[derive(clap::Args)]
pub struct CheckConfigArgs {
    /// Print the problems as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn check_config(args: CheckConfigArgs) -> anyhow::Result<ExitCode> {
    let settings = crate::cli::tolerant_settings_from_env();
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&settings.fallbacks)?)?;
    } else if settings.fallbacks.is_empty() {
        outln!("settings ok: every variable is used as set")?;
    } else {
        for fallback in &settings.fallbacks {
            outln!("{fallback}")?;
        }
        outln!(
            "{} variable(s) not used as set; the deployed function starts anyway and reports them on every invocation",
            settings.fallbacks.len()
        )?;
    }
    Ok(if settings.fallbacks.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Read a deployed autoscaler function and list, per stream, what this autoscaler will do
/// differently or fail at: permissions its role lacks, alarms that do not match what the
/// function writes, settings that fall back, alarms that notify more than one target (an old
/// and a new function both acting). Point it at the Go Lambda before swapping its code, or at
/// this one after. Exits 1 when something will fail.
#[derive(clap::Args)]
pub struct DoctorArgs {
    /// The function's name or ARN.
    #[arg(long)]
    pub function: String,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub aws: super::AwsArgs,
}

pub async fn doctor(args: DoctorArgs) -> anyhow::Result<ExitCode> {
    use anyhow::Context;
    let aws = super::connect(&args.aws, &Settings::default()).await?;
    let report = crate::ops::doctor::doctor(&aws, &args.function)
        .await
        .with_context(|| format!("reading function {}", args.function))?;
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&report)?)?;
    } else {
        outln!("function {} ({})", report.function, report.function_arn)?;
        for fallback in &report.settings {
            outln!("  setting  {fallback}")?;
        }
        for f in &report.function_findings {
            outln!("  {:<8} {}", severity(f.severity), f.what)?;
        }
        for stream in &report.streams {
            if stream.findings.is_empty() {
                outln!("stream {}: ok", stream.stream)?;
                continue;
            }
            outln!("stream {}:", stream.stream)?;
            for f in &stream.findings {
                outln!("  {:<8} {}", severity(f.severity), f.what)?;
            }
        }
        outln!(
            "{} stream(s), {} finding(s) that fail, {} setting(s) not used as set",
            report.streams.len(),
            report.fails(),
            report.settings.len()
        )?;
    }
    Ok(if report.fails() == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn severity(severity: crate::ops::doctor::Severity) -> &'static str {
    match severity {
        crate::ops::doctor::Severity::Fails => "FAILS",
        crate::ops::doctor::Severity::Differs => "differs",
    }
}
