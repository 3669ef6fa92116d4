//! `fault-proxy`: the crash-point proxy as a process (see the library's documentation).

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;
use fault_proxy::{Fault, FaultMode, FaultProxy, ProxyOptions, Upstreams};

/// A fault-injecting proxy between AWS SDK clients and their endpoints (the emulator, moto).
#[derive(Debug, Parser)]
#[command(version)]
struct Cli {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:4700")]
    listen: SocketAddr,
    /// Where calls of every service go unless `--upstream` names it (e.g. moto).
    #[arg(long)]
    default_upstream: String,
    /// `SERVICE=URL`: calls of that service (SigV4 scope name, e.g. `license-manager`) go there.
    #[arg(long = "upstream", value_parser = service_url)]
    upstreams: Vec<(String, String)>,
    /// Inject a fault at this call number (from 1).
    #[arg(long, requires = "fault_mode")]
    fault_at: Option<u64>,
    /// How that call fails: `hold-request`, `drop-answer` or `error:STATUS:CODE`.
    #[arg(long, value_parser = fault_mode)]
    fault_mode: Option<FaultMode>,
    /// How every later call fails (same values; e.g. `hold-request` after a `drop-answer`: the
    /// caller died right after the effect).
    #[arg(long, requires = "fault_at", value_parser = fault_mode)]
    fault_after: Option<FaultMode>,
    /// Seconds a held call stays open at most (then 504).
    #[arg(long, default_value_t = 600)]
    hold_limit_seconds: u64,
}

fn service_url(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .filter(|(service, url)| !service.is_empty() && !url.is_empty())
        .map(|(service, url)| (service.to_owned(), url.to_owned()))
        .ok_or_else(|| format!("expected SERVICE=URL, got {s:?}"))
}

fn fault_mode(s: &str) -> Result<FaultMode, String> {
    match s.split(':').collect::<Vec<_>>().as_slice() {
        ["hold-request"] => Ok(FaultMode::HoldRequest),
        ["drop-answer"] => Ok(FaultMode::DropAnswer),
        ["error", status, code] if !code.is_empty() => Ok(FaultMode::Error {
            status: status
                .parse()
                .map_err(|_| format!("error status {status:?} is not a number"))?,
            code: (*code).to_owned(),
        }),
        _ => Err(format!(
            "expected hold-request, drop-answer or error:STATUS:CODE, got {s:?}"
        )),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "fault_proxy=info".into()),
        )
        .init();
    let cli = Cli::parse();
    let upstreams = cli
        .upstreams
        .into_iter()
        .fold(Upstreams::all_to(cli.default_upstream), |u, (s, url)| {
            u.with(s, url)
        });
    let proxy = FaultProxy::start(ProxyOptions {
        listen: cli.listen,
        upstreams,
        hold_limit: Duration::from_secs(cli.hold_limit_seconds),
    })
    .await?;
    if let (Some(call), Some(mode)) = (cli.fault_at, cli.fault_mode) {
        proxy.set_fault(Some(Fault {
            call,
            mode,
            sticky: false,
            after: cli.fault_after,
        }));
    }
    println!("fault-proxy listening on {}", proxy.url());
    tokio::signal::ctrl_c().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_modes_parse_and_bad_ones_say_what_is_expected() {
        assert_eq!(fault_mode("hold-request"), Ok(FaultMode::HoldRequest));
        assert_eq!(fault_mode("drop-answer"), Ok(FaultMode::DropAnswer));
        assert_eq!(
            fault_mode("error:400:AccessDeniedException"),
            Ok(FaultMode::Error {
                status: 400,
                code: "AccessDeniedException".into()
            })
        );
        assert!(
            fault_mode("error:abc:X")
                .unwrap_err()
                .contains("not a number")
        );
        assert!(fault_mode("explode").unwrap_err().contains("expected"));
        assert!(
            service_url("license-manager")
                .unwrap_err()
                .contains("SERVICE=URL")
        );
        assert_eq!(
            service_url("sts=http://127.0.0.1:1"),
            Ok(("sts".into(), "http://127.0.0.1:1".into()))
        );
    }
}
