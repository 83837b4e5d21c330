//! The `kinesis-autoscaler` binary: the Lambda function when started by the Lambda runtime
//! without arguments, a command-line tool otherwise. Everything lives in the library.

fn main() -> std::process::ExitCode {
    kinesis_autoscaler::cli::main()
}
