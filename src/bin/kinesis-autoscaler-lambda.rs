//! The `kinesis-autoscaler-lambda` binary: the deployed function (`bootstrap`). Built without
//! the command line (`--no-default-features`), it links no clap, plotting, progress bars or
//! IAM client; everything lives in the library ([`kinesis_autoscaler::lambda::serve`]).

// The runtime's and the SDK's futures nest deeper than rustc's default layout query limit
// allows in a release build of this crate.
#![recursion_limit = "256"]

fn main() -> std::process::ExitCode {
    let Some(runtime) = kinesis_autoscaler::lambda::runtime() else {
        return std::process::ExitCode::FAILURE;
    };
    match runtime.block_on(kinesis_autoscaler::lambda::serve()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            std::process::ExitCode::FAILURE
        }
    }
}
