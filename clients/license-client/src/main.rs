//! `license-client`: the command line (see `license-client --help`).

#[tokio::main]
async fn main() -> std::process::ExitCode {
    license_client::cli::main().await
}
