//! The `kinesis-autoscaler` binary: the command line (and, started by the Lambda runtime
//! without arguments, the function, as before the split; `kinesis-autoscaler-lambda` is the
//! function's own, smaller binary). Everything lives in the library.

fn main() -> std::process::ExitCode {
    kinesis_autoscaler::cli::main()
}
