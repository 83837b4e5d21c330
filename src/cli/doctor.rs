//! `check-config` and `doctor`: see problems before deploying, and what a deployed function
//! will do differently or fail at.

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
    let settings = Settings::tolerant_from_env();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&settings.fallbacks)?);
    } else if settings.fallbacks.is_empty() {
        println!("settings ok: every variable is used as set");
    } else {
        for fallback in &settings.fallbacks {
            println!("{fallback}");
        }
        println!(
            "{} variable(s) not used as set; the deployed function starts anyway and reports them on every invocation",
            settings.fallbacks.len()
        );
    }
    Ok(if settings.fallbacks.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
