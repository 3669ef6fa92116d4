//! The `license-client` command line: every route of the checkout API, offline verification
//! of a borrowed token, and `run`, which holds a seat while a command runs.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use serde::Serialize;

use crate::client::{BorrowRequest, CheckoutRequest, Client, Entitlement};
use crate::error::Error;
use crate::lease::{Lease, LeaseLost};
use crate::node::node_id;
use crate::verify::Verifier;

/// Exit status of an API refusal (4xx other than 401).
pub const EXIT_REFUSED: u8 = 1;
/// Exit status when a signed token does not verify (EX_DATAERR).
pub const EXIT_NOT_VERIFIED: u8 = 65;
/// Exit status when the API is unavailable, rate limited or unreachable after the retries
/// (EX_UNAVAILABLE).
pub const EXIT_UNAVAILABLE: u8 = 69;
/// Exit status of `run` when the lease was lost while the command ran (EX_TEMPFAIL).
pub const EXIT_LEASE_LOST: u8 = 75;
/// Exit status when the bearer token is refused (401, EX_NOPERM).
pub const EXIT_UNAUTHORIZED: u8 = 77;
/// Exit status of a configuration mistake (EX_CONFIG).
pub const EXIT_CONFIG: u8 = 78;

/// The command line.
#[derive(Debug, Parser)]
#[command(
    name = "license-client",
    version,
    about = "Check out, keep alive and free license seats through the checkout API",
    long_about = "Check out, keep alive and free license seats through the checkout API.\n\n\
                  Exit status: 0 done; 1 refused by the API (4xx); 65 a token that does not \
                  verify; 69 the API unavailable or rate limited after retries; 75 (run) the \
                  lease was lost; 77 the bearer token refused (401); 78 a configuration \
                  mistake. `run` exits with the command's status."
)]
pub struct Cli {
    #[command(flatten)]
    connection: Connection,
    #[command(subcommand)]
    command: Command,
}

/// Where the API is and who calls it.
#[derive(Debug, Args)]
struct Connection {
    /// The checkout API's URL (e.g. https://abc123.execute-api.us-east-1.amazonaws.com).
    #[arg(long, env = "LICENSE_API_URL", global = true)]
    api_url: Option<String>,
    /// The bearer token from your identity provider (never printed).
    #[arg(long, env = "LICENSE_API_TOKEN", hide_env_values = true, global = true)]
    token: Option<String>,
    /// A file holding the bearer token (read at start).
    #[arg(long, global = true, conflicts_with = "token")]
    token_file: Option<PathBuf>,
}

/// What a checkout takes.
#[derive(Debug, Args)]
struct Seat {
    /// The product SKU of your license.
    #[arg(long)]
    sku: String,
    /// An entitlement, NAME[=VALUE][:UNIT] (unit Count by default); repeatable.
    #[arg(long = "entitlement", required = true)]
    entitlements: Vec<String>,
    /// This app instance (default: a stable id of this machine).
    #[arg(long)]
    node_id: Option<String>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check out a PROVISIONAL seat (or --perpetual) and print the checkout as JSON.
    Checkout {
        #[command(flatten)]
        seat: Seat,
        /// Draw for good instead (cannot be checked in).
        #[arg(long)]
        perpetual: bool,
    },
    /// Extend a lease by its consumption token.
    Extend {
        /// The lease's licenseConsumptionToken.
        #[arg(value_name = "TOKEN")]
        consumption_token: String,
    },
    /// Check a lease in by its consumption token.
    Checkin {
        /// The lease's licenseConsumptionToken.
        #[arg(value_name = "TOKEN")]
        consumption_token: String,
    },
    /// List your live leases (any node's) as JSON.
    Leases,
    /// Free one of your leases by its id (e.g. a crashed node's).
    Release {
        /// The lease id, as `leases` lists it.
        lease_id: String,
    },
    /// Borrow from one of your licenses and print the checkout with its signed token.
    Borrow {
        /// The license to borrow from.
        #[arg(long)]
        license_arn: String,
        /// An entitlement, NAME[=VALUE][:UNIT]; repeatable.
        #[arg(long = "entitlement", required = true)]
        entitlements: Vec<String>,
        /// This app instance (default: a stable id of this machine).
        #[arg(long)]
        node_id: Option<String>,
    },
    /// Verify a signed token offline against the issuer's keys and your licenses.
    Verify {
        /// The signedToken of a borrow (or checkout).
        #[arg(value_name = "TOKEN")]
        signed_token: String,
        /// Clock skew tolerated, in seconds.
        #[arg(long, default_value_t = 300)]
        max_skew: u64,
    },
    /// Hold a seat while COMMAND runs: keep it alive, forward signals, free it when the
    /// command exits, and exit with its status.
    Run {
        #[command(flatten)]
        seat: Seat,
        /// The command and its arguments.
        #[arg(last = true, required = true)]
        command: Vec<String>,
    },
}

/// Runs the command line; the process's exit status.
pub async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            eprintln!("license-client: {error}");
            ExitCode::from(exit_status(&error))
        }
    }
}

/// The exit status of `error`.
pub fn exit_status(error: &Error) -> u8 {
    match error {
        Error::Api(problem) if problem.status == 401 => EXIT_UNAUTHORIZED,
        Error::Api(problem) if problem.status == 429 || problem.status >= 500 => EXIT_UNAVAILABLE,
        Error::Api(_) => EXIT_REFUSED,
        Error::Transport { .. } | Error::InvalidResponse(_) => EXIT_UNAVAILABLE,
        Error::Config(_) => EXIT_CONFIG,
        Error::Verification(_) => EXIT_NOT_VERIFIED,
    }
}

fn client(connection: &Connection) -> Result<Client, Error> {
    let url = connection
        .api_url
        .as_deref()
        .ok_or_else(|| Error::Config("no API URL: pass --api-url or set LICENSE_API_URL".into()))?;
    let token = match (&connection.token, &connection.token_file) {
        (Some(token), _) => token.clone(),
        (None, Some(path)) => std::fs::read_to_string(path)
            .map_err(|error| Error::Config(format!("--token-file {}: {error}", path.display())))?,
        (None, None) => {
            return Err(Error::Config(
                "no bearer token: pass --token or --token-file, or set LICENSE_API_TOKEN".into(),
            ));
        }
    };
    Client::new(url, &token)
}

fn entitlements(texts: &[String]) -> Result<Vec<Entitlement>, Error> {
    texts.iter().map(|text| Entitlement::parse(text)).collect()
}

fn print_json(value: &impl Serialize) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_default()
    );
}

async fn run(cli: Cli) -> Result<u8, Error> {
    let client = client(&cli.connection)?;
    match cli.command {
        Command::Checkout { seat, perpetual } => {
            let mut request = CheckoutRequest::provisional(
                &seat.sku,
                entitlements(&seat.entitlements)?,
                &node_id(seat.node_id.as_deref())?,
            );
            if perpetual {
                request.checkout_type = "PERPETUAL".into();
            }
            print_json(&client.checkout(&request).await?);
        }
        Command::Extend { consumption_token } => {
            print_json(&client.extend(&consumption_token).await?)
        }
        Command::Checkin { consumption_token } => client.check_in(&consumption_token).await?,
        Command::Leases => print_json(&client.leases().await?),
        Command::Release { lease_id } => {
            client.release(&lease_id).await?;
            eprintln!("license-client: lease {lease_id} released");
        }
        Command::Borrow {
            license_arn,
            entitlements: texts,
            node_id: node,
        } => {
            let request = BorrowRequest {
                license_arn,
                entitlements: entitlements(&texts)?,
                node_id: Some(node_id(node.as_deref())?),
            };
            print_json(&client.borrow(&request).await?);
        }
        Command::Verify {
            signed_token,
            max_skew,
        } => {
            let verifier = Verifier::fetch(&client)
                .await?
                .with_max_skew(std::time::Duration::from_secs(max_skew));
            let claims = verifier.verify(&signed_token)?;
            print_json(&serde_json::json!({
                "verified": true,
                "licenseArn": claims.license_arn,
                "entitlementsAllowed": claims.entitlements_allowed,
                "nodeId": claims.node_id,
                "expiration": claims
                    .expiration
                    .format(&time::format_description::well_known::Rfc3339)
                    .unwrap_or_default(),
            }));
        }
        Command::Run { seat, command } => return hold_while_running(client, seat, command).await,
    }
    Ok(0)
}

/// `run`: check out, start the command, keep the lease alive while it runs, forward
/// SIGINT, SIGTERM and SIGHUP to it, stop it (SIGTERM) if the lease is lost, check in when
/// it exits.
async fn hold_while_running(client: Client, seat: Seat, command: Vec<String>) -> Result<u8, Error> {
    let node = node_id(seat.node_id.as_deref())?;
    let request = CheckoutRequest::provisional(&seat.sku, entitlements(&seat.entitlements)?, &node);
    let mut lease = Lease::hold(client, request).await?;
    let lease_id = crate::lease_id(lease.token());
    eprintln!(
        "license-client: holding lease {lease_id} of {} on node {node}{}, expires {}",
        seat.sku,
        if lease.checkout().reused {
            " (reused)"
        } else {
            ""
        },
        lease.checkout().expiration.as_deref().unwrap_or("never"),
    );
    let (program, arguments) = command
        .split_first()
        .ok_or_else(|| Error::Config("run: no command after --".into()))?;
    let mut child = match tokio::process::Command::new(program)
        .args(arguments)
        .env("LICENSE_LEASE_ID", &lease_id)
        .env("LICENSE_NODE_ID", &node)
        .spawn()
    {
        Ok(child) => child,
        Err(error) => {
            lease.release().await?;
            return Err(Error::Config(format!(
                "run: cannot start {program}: {error}"
            )));
        }
    };
    let mut signals = Signals::new()?;
    let mut lost: Option<LeaseLost> = None;
    let status = loop {
        tokio::select! {
            status = child.wait() => break status,
            signal = signals.next() => {
                if let Some(pid) = child.id() {
                    forward(pid, signal);
                }
            }
            why = lease.lost(), if lost.is_none() => {
                eprintln!("license-client: {why}; stopping {program}");
                if let Some(pid) = child.id() {
                    forward(pid, SignalKind::Terminate);
                }
                lost = Some(why);
            }
        }
    };
    let status =
        status.map_err(|error| Error::Config(format!("run: waiting for {program}: {error}")))?;
    if lost.is_some() {
        drop(lease);
        return Ok(EXIT_LEASE_LOST);
    }
    match lease.release().await {
        Ok(()) => eprintln!("license-client: lease {lease_id} checked in"),
        Err(error) => eprintln!("license-client: check-in of lease {lease_id} failed: {error}"),
    }
    Ok(exit_code(&status))
}

/// The status to exit with for a command that ended with `status`: its code, or 128 + the
/// signal that killed it (as shells report it).
fn exit_code(status: &std::process::ExitStatus) -> u8 {
    if let Some(code) = status.code() {
        return u8::try_from(code).unwrap_or(1);
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt as _;
        if let Some(signal) = status.signal() {
            return u8::try_from(128 + signal).unwrap_or(1);
        }
    }
    1
}

/// The signals `run` forwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SignalKind {
    Interrupt,
    Terminate,
    Hangup,
}

#[cfg(unix)]
struct Signals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
    hangup: tokio::signal::unix::Signal,
}

#[cfg(unix)]
impl Signals {
    fn new() -> Result<Self, Error> {
        use tokio::signal::unix::{SignalKind as Kind, signal};
        let listen = |kind: Kind| {
            signal(kind)
                .map_err(|error| Error::Config(format!("cannot listen for signals: {error}")))
        };
        Ok(Self {
            interrupt: listen(Kind::interrupt())?,
            terminate: listen(Kind::terminate())?,
            hangup: listen(Kind::hangup())?,
        })
    }

    async fn next(&mut self) -> SignalKind {
        tokio::select! {
            _ = self.interrupt.recv() => SignalKind::Interrupt,
            _ = self.terminate.recv() => SignalKind::Terminate,
            _ = self.hangup.recv() => SignalKind::Hangup,
        }
    }
}

#[cfg(unix)]
fn forward(pid: u32, signal: SignalKind) {
    use rustix::process::{Pid, Signal, kill_process};
    let signal = match signal {
        SignalKind::Interrupt => Signal::INT,
        SignalKind::Terminate => Signal::TERM,
        SignalKind::Hangup => Signal::HUP,
    };
    if let Some(pid) = i32::try_from(pid).ok().and_then(Pid::from_raw) {
        // The command may have exited meanwhile: nothing to forward to then.
        let _ = kill_process(pid, signal);
    }
}

#[cfg(not(unix))]
struct Signals;

#[cfg(not(unix))]
impl Signals {
    fn new() -> Result<Self, Error> {
        Ok(Self)
    }

    async fn next(&mut self) -> SignalKind {
        let _ = tokio::signal::ctrl_c().await;
        SignalKind::Interrupt
    }
}

#[cfg(not(unix))]
fn forward(_pid: u32, _signal: SignalKind) {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{Problem, ProblemCode};

    fn api(status: u16, code: &str) -> Error {
        Error::Api(Problem {
            status,
            code: ProblemCode::parse(code),
            detail: String::new(),
            retry_after: None,
        })
    }

    #[test]
    fn each_kind_of_failure_has_its_exit_status() {
        assert_eq!(
            exit_status(&api(401, "missing-beneficiary")),
            EXIT_UNAUTHORIZED
        );
        assert_eq!(exit_status(&api(404, "lease-not-found")), EXIT_REFUSED);
        assert_eq!(
            exit_status(&api(409, "no-entitlements-allowed")),
            EXIT_REFUSED
        );
        assert_eq!(exit_status(&api(429, "rate-limited")), EXIT_UNAVAILABLE);
        assert_eq!(
            exit_status(&api(503, "service-unavailable")),
            EXIT_UNAVAILABLE
        );
        assert_eq!(exit_status(&Error::Config("x".into())), EXIT_CONFIG);
        assert_eq!(
            exit_status(&Error::Verification("x".into())),
            EXIT_NOT_VERIFIED
        );
    }

    #[test]
    fn the_command_line_takes_run_with_a_command_after_the_separator() {
        let cli = Cli::try_parse_from([
            "license-client",
            "--api-url",
            "http://127.0.0.1:4600",
            "run",
            "--sku",
            "contoso-notes-pro",
            "--entitlement",
            "Users=1",
            "--",
            "sleep",
            "1",
        ]);
        let Ok(Cli {
            command: Command::Run { seat, command },
            ..
        }) = cli
        else {
            panic!("not parsed as a run command");
        };
        assert_eq!((seat.sku.as_str(), command.len()), ("contoso-notes-pro", 2));
        assert!(Cli::try_parse_from(["license-client", "run", "--sku", "x"]).is_err());
        // A token argument is never taken for the bearer token.
        let cli = Cli::try_parse_from(["license-client", "--token", "bearer", "verify", "signed"]);
        let Ok(cli) = cli else {
            panic!("verify does not parse");
        };
        assert_eq!(cli.connection.token.as_deref(), Some("bearer"));
        assert!(
            matches!(cli.command, Command::Verify { signed_token, .. } if signed_token == "signed")
        );
    }
}
