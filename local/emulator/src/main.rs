//! `license-manager-local` command line: parse options, start the emulator, wait for Ctrl-C.

use clap::{Parser, Subcommand};
use license_manager_local::organization::Organization;
use license_manager_local::quotas::RateLimit;
use license_manager_local::{Config, Emulator, Fault, coverage};
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// A local emulator of AWS License Manager (awsJson1_1 on `POST /`).
#[derive(Debug, Parser)]
#[command(name = "license-manager-local", version)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Address or host name to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Port to listen on (0 picks a free one).
    #[arg(long, default_value_t = 4599)]
    port: u16,
    /// Account of callers whose access key id is not 12 digits.
    #[arg(long, default_value = "123456789012")]
    account_id: String,
    /// Region used in license-configuration ARNs.
    #[arg(long, default_value = "us-east-1")]
    region: String,
    /// Persist state here (atomically) and reload it on start.
    #[arg(long)]
    state_file: Option<PathBuf>,
    /// Latency added to every call, in milliseconds.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Probability (0..=1) that a call fails with an injected fault.
    #[arg(long, default_value_t = 0.0)]
    fault_rate: f64,
    /// Faults to inject: throttle, internal.
    #[arg(long, value_delimiter = ',', default_value = "throttle,internal")]
    faults: Vec<Fault>,
    /// Emulate License Manager's request quotas: `Operation=N` limits the operation to N
    /// requests per second per account, answering RateLimitExceededException past it
    /// (repeatable, or comma-separated).
    #[arg(long = "rate-limit", value_delimiter = ',', value_name = "OPERATION=N")]
    rate_limits: Vec<RateLimit>,
    /// Seed making fault injection deterministic.
    #[arg(long)]
    seed: Option<u64>,
    /// Write the PEM public key that verifies borrow-checkout JWTs here.
    #[arg(long)]
    public_key_out: Option<PathBuf>,
    /// Publish License Manager's own events (best effort) with PutEvents to this
    /// EventBridge endpoint, e.g. moto's server (`http://127.0.0.1:5000`).
    #[arg(long, value_name = "URL")]
    events_endpoint: Option<String>,
    /// The AWS organization grants may name: a JSON file `{"id": "o-…", "managementAccount":
    /// "…", "accounts": ["…"], "organizationalUnits": {"ou-…": ["…"]}}` (OUs optional).
    #[arg(long, value_name = "FILE")]
    organization: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print docs/emulator-coverage.md (all operations of the model, implemented or not).
    Coverage,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::Coverage) = cli.command {
        print!("{}", coverage::coverage_markdown());
        return ExitCode::SUCCESS;
    }
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let organization = match cli
        .organization
        .as_deref()
        .map(Organization::load)
        .transpose()
    {
        Ok(organization) => organization,
        Err(e) => {
            eprintln!("license-manager-local: --organization: {e}");
            return ExitCode::from(2);
        }
    };
    let config = Config {
        account_id: cli.account_id,
        region: cli.region,
        state_file: cli.state_file,
        latency: Duration::from_millis(cli.latency_ms),
        fault_rate: cli.fault_rate,
        faults: cli.faults,
        seed: cli.seed,
        public_key_out: cli.public_key_out,
        events_endpoint: cli.events_endpoint,
        organization,
        rate_limits: cli.rate_limits,
    };
    if let Err(e) = config.validate() {
        eprintln!("license-manager-local: {e}");
        return ExitCode::from(2);
    }
    let addr: Option<SocketAddr> = (cli.host.as_str(), cli.port)
        .to_socket_addrs()
        .ok()
        .and_then(|mut addrs| addrs.next());
    let Some(addr) = addr else {
        eprintln!("license-manager-local: cannot resolve --host {}", cli.host);
        return ExitCode::from(2);
    };
    let emulator = match Emulator::start(config, addr).await {
        Ok(e) => e,
        Err(e) => {
            eprintln!("license-manager-local: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!(
        "license-manager-local listening on {}",
        emulator.endpoint_url()
    );
    let _ = tokio::signal::ctrl_c().await;
    emulator.shutdown().await;
    ExitCode::SUCCESS
}
