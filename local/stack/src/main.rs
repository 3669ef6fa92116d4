//! `local-stack`: starts moto's server and license-manager-local, runs the demo, stops both.
//! Everything lives in the library; this is wiring only.

use std::process::ExitCode;

use clap::Parser;
use local_stack::Cli;

#[tokio::main]
async fn main() -> ExitCode {
    // Warnings of the stack and the in-process emulator (failed publishes, polls) on stderr.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    match local_stack::main(Cli::parse()).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(err) => {
            eprintln!("local-stack: {err:#}");
            ExitCode::FAILURE
        }
    }
}
