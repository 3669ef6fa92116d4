//! `local-stack`: starts moto's server and license-manager-local, runs the demo, stops both.
//! Everything lives in the library; this is wiring only.

use std::process::ExitCode;

use clap::Parser;
use local_stack::Cli;

#[tokio::main]
async fn main() -> ExitCode {
    match local_stack::main(Cli::parse()).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(err) => {
            eprintln!("local-stack: {err:#}");
            ExitCode::FAILURE
        }
    }
}
