//! The load benchmark: M customer apps at once, each checking out, extending and checking in
//! through the local HTTP API (the template's JWT authorizer, checkout-proxy on lambda-host with
//! the template's reserved concurrency) against the release license-manager-local, without and
//! with emulated License Manager quotas, beside the boto3 baseline behind the same API.
//!
//! The apps move in three phases (every app checks out, then every app extends, then every app
//! checks in), so that between phases the seats License Manager has drawn can be counted:
//! after the checkouts they must equal the successful checkouts, after the check-ins zero.

pub mod apps;
pub mod report;
pub mod runs;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use clap::Parser;
use local_stack::app::{App, AppOptions, LOCAL_AUDIENCE};
use local_stack::event_sources::MotoClients;
use local_stack::issuer::TokenRequest;
use local_test_kit::checkout::issue_customer_license;
use local_test_kit::clients::Clients;
use local_test_kit::moto::{MotoServer, free_loopback_addr};
use local_test_kit::resources::create_infra;
use tokio::process::{Child, Command};

use crate::load::apps::{AppPlan, Phase, Sample};
pub use crate::load::runs::{Run, Side};

/// The function under load (its binary).
pub const FUNCTION: &str = "checkout-proxy";

/// What to run and where things are.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "bench-load",
    about = "M customer apps at once through the local HTTP API, with and without License Manager quotas"
)]
pub struct LoadOptions {
    /// The repository and the programs run (a function's bootstrap may also be
    /// `<lambda dir>/<binary>`).
    #[command(flatten)]
    pub programs: crate::Programs,
    /// How many customer apps run at once (comma-separated: one run per count).
    #[arg(long, value_delimiter = ',', default_value = "50,200")]
    pub apps: Vec<usize>,
    /// The emulated quotas of the runs with quotas (`Operation=N` per second per account).
    #[arg(
        long = "quota",
        value_delimiter = ',',
        default_value = "CheckoutLicense=20,ExtendLicenseConsumption=20,CheckInLicense=20"
    )]
    pub quotas: Vec<String>,
    /// Where logs go.
    #[arg(long)]
    pub work_dir: PathBuf,
    /// Where results.md (its load section), load.json and load.svg are written.
    #[arg(long, default_value = "bench")]
    pub out_dir: PathBuf,
}

/// Runs every (side, apps, quotas) combination and writes the results.
pub async fn run(options: LoadOptions) -> Result<Vec<Run>> {
    std::fs::create_dir_all(&options.work_dir)?;
    let load_before = crate::load_average();
    let started = Instant::now();
    let mut runs = Vec::new();
    for &apps in &options.apps {
        for quotas in [Vec::new(), options.quotas.clone()] {
            for side in [Side::Rust, Side::Boto3] {
                eprintln!(
                    "==> load: {side:?}, {apps} apps, {}",
                    if quotas.is_empty() {
                        "no quotas".to_owned()
                    } else {
                        quotas.join(" ")
                    }
                );
                let run = run_one(&options, side, apps, &quotas)
                    .await
                    .with_context(|| format!("{side:?} with {apps} apps"))?;
                eprintln!("{}", report::summary_line(&run));
                runs.push(run);
            }
        }
    }
    let machine = crate::machine(load_before);
    report::write(&options.out_dir, &machine, started.elapsed(), &runs)?;
    Ok(runs)
}

/// One run, in a fresh world: moto, the emulator, the stack's app.
async fn run_one(options: &LoadOptions, side: Side, apps: usize, quotas: &[String]) -> Result<Run> {
    let label = format!(
        "{side:?}-{apps}-{}",
        if quotas.is_empty() { "free" } else { "quotas" }
    );
    let work_dir = options.work_dir.join(label.to_lowercase());
    std::fs::create_dir_all(&work_dir)?;
    let moto = MotoServer::start(&options.programs.moto_server, &work_dir.join("moto.log")).await?;
    let outcome = async {
        let (mut emulator, emulator_url) =
            start_emulator(&options.programs.emulator, quotas, &work_dir).await?;
        let outcome = with_world(
            options,
            side,
            apps,
            quotas,
            &work_dir,
            &moto.url(),
            &emulator_url,
        )
        .await;
        // An error means it has already exited.
        let _ = emulator.kill().await;
        outcome
    }
    .await;
    moto.stop().await;
    outcome
}

#[allow(clippy::too_many_arguments)]
async fn with_world(
    options: &LoadOptions,
    side: Side,
    apps: usize,
    quotas: &[String],
    work_dir: &Path,
    moto_url: &str,
    emulator_url: &str,
) -> Result<Run> {
    let clients = Clients::connect(moto_url, emulator_url).await;
    let infra = create_infra(&clients).await?;
    let bin_dir = bin_dir(options, side, work_dir)?;
    let customers: Vec<String> = (0..apps).map(|i| format!("load-customer-{i:03}")).collect();
    let mut licenses = Vec::new();
    for customer in &customers {
        licenses.push(issue_customer_license(&clients.customer, customer, 1).await?);
    }
    let app_options = AppOptions {
        template: options.programs.repo.join("template.yaml"),
        bin_dir,
        work_dir: work_dir.to_path_buf(),
        api_port: 0,
        issuer_port: 0,
        parameters: BTreeMap::new(),
        schedules: false,
        concurrency: BTreeMap::new(),
    };
    let moto_clients = MotoClients {
        events: clients.events.clone(),
        sqs: clients.sqs.clone(),
    };
    let app = App::start(&app_options, &infra, &moto_clients, moto_url, emulator_url).await?;
    let outcome = drive(&app, &clients, &customers, &licenses).await;
    let function = app
        .runtime
        .function(FUNCTION)
        .context("the template has no checkout-proxy")?;
    let usage = function.host.usage();
    let concurrency = function.host.config().concurrency.get();
    app.stop().await;
    let (
        samples,
        seconds,
        seats_after_checkout,
        seats_after_checkin,
        leases_held,
        environment_rss_kib,
    ) = outcome?;
    let apps_ok = |phase: Phase| {
        samples
            .iter()
            .filter(|sample| sample.phase == phase && sample.last && sample.ok())
            .count()
    };
    Ok(Run {
        side,
        apps,
        quotas: quotas.to_vec(),
        concurrency,
        seconds,
        completed_apps: apps_ok(Phase::CheckIn),
        checkouts: apps_ok(Phase::Checkout),
        samples,
        seats_after_checkout,
        seats_after_checkin,
        leases_held,
        cold_starts: usage.cold_starts,
        throttles: usage.throttles,
        peak_running: usage.peak_running,
        environment_rss_kib,
    })
}

type Driven = (Vec<Sample>, f64, i64, i64, usize, Vec<u64>);

/// Rounds of check-in after the first for apps whose check-in failed.
const CHECK_IN_ROUNDS: usize = 2;

/// Runs the apps' three phases, counting the seats drawn after the first and the last.
async fn drive(
    app: &App,
    clients: &Clients,
    customers: &[String],
    licenses: &[String],
) -> Result<Driven> {
    let api = app
        .stack_file
        .api_url
        .clone()
        .context("the template has no HTTP API")?;
    let mut records = app.subscribe();
    let peak: std::sync::Arc<std::sync::Mutex<BTreeMap<u32, u64>>> = std::sync::Arc::default();
    let rss = tokio::spawn({
        let peak = peak.clone();
        async move {
            loop {
                match records.recv().await {
                    Ok(record) => {
                        if let (Some(pid), Some(kib)) =
                            (record.invocation.pid, record.invocation.max_rss_kib)
                        {
                            let mut peak = peak
                                .lock()
                                .unwrap_or_else(std::sync::PoisonError::into_inner);
                            let entry = peak.entry(pid).or_default();
                            *entry = (*entry).max(kib);
                        }
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                }
            }
        }
    });
    let plans = customers
        .iter()
        .enumerate()
        .map(|(index, customer)| {
            let token = app
                .issuer
                .mint(TokenRequest::new(customer.clone(), LOCAL_AUDIENCE))?;
            Ok(AppPlan {
                api: api.clone(),
                token,
                node: format!("node-{index:03}"),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let started = Instant::now();
    let (samples, tokens) = apps::phase(&plans, Phase::Checkout, &vec![None; plans.len()]).await;
    let after_checkout = seats_drawn(clients, licenses).await?;
    let (extended, _) = apps::phase(&plans, Phase::Extend, &tokens).await;
    // An app whose check-in failed (its retries ran out) tries again later, as an app
    // releasing its seat does: up to two more rounds.
    let (mut checked_in, mut held) = apps::phase(&plans, Phase::CheckIn, &tokens).await;
    for _ in 0..CHECK_IN_ROUNDS {
        if held.iter().all(Option::is_none) {
            break;
        }
        let (more, still) = apps::phase(&plans, Phase::CheckIn, &held).await;
        checked_in.extend(more);
        held = still;
    }
    let seconds = started.elapsed().as_secs_f64();
    let after_checkin = seats_drawn(clients, licenses).await?;
    // Let the last records reach the collector, then stop it.
    tokio::time::sleep(Duration::from_millis(200)).await;
    rss.abort();
    let peak = std::mem::take(
        &mut *peak
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner),
    );
    let mut all = samples;
    all.extend(extended);
    all.extend(checked_in);
    let leases_held = held.iter().filter(|lease| lease.is_some()).count();
    Ok((
        all,
        seconds,
        after_checkout,
        after_checkin,
        leases_held,
        peak.into_values().collect(),
    ))
}

/// The Users seats License Manager counts as drawn across `licenses`.
async fn seats_drawn(clients: &Clients, licenses: &[String]) -> Result<i64> {
    let mut drawn = 0;
    for arn in licenses {
        let usage = clients
            .customer
            .license_manager
            .get_license_usage()
            .license_arn(arn)
            .send()
            .await
            .map_err(local_test_kit::clients::sdk_error)
            .with_context(|| format!("GetLicenseUsage of {arn}"))?;
        for entitlement in usage
            .license_usage()
            .map(|usage| usage.entitlement_usages())
            .unwrap_or_default()
        {
            if entitlement.name() == "Users" {
                drawn += entitlement.consumed_value().parse::<i64>().unwrap_or(0);
            }
        }
    }
    Ok(drawn)
}

/// The bootstraps the app runs: each function's release bootstrap; for the baseline,
/// checkout-proxy is the boto3 handler under awslambdaric instead.
fn bin_dir(options: &LoadOptions, side: Side, work_dir: &Path) -> Result<PathBuf> {
    let dir = work_dir.join("bin");
    std::fs::create_dir_all(&dir)?;
    for binary in [
        "grant-acceptor",
        "soft-limit-monitor",
        "license-events",
        FUNCTION,
    ] {
        let link = dir.join(binary);
        let _ = std::fs::remove_file(&link);
        if side == Side::Boto3 && binary == FUNCTION {
            let python = std::path::absolute(&options.programs.python)?;
            std::fs::copy(
                options.programs.repo.join("bench/baseline/handler.py"),
                dir.join("handler.py"),
            )?;
            std::fs::write(
                &link,
                format!(
                    "#!/bin/sh\n# The boto3 baseline standing for checkout-proxy.\n\
                     BASELINE_OF=checkout-proxy exec {} -m awslambdaric handler.handler\n",
                    python.display()
                ),
            )?;
            set_executable(&link)?;
            continue;
        }
        let bootstrap = [
            options.programs.lambda_dir.join(binary).join("bootstrap"),
            options.programs.lambda_dir.join(binary),
        ]
        .into_iter()
        .find(|path| path.is_file())
        .with_context(|| {
            format!(
                "no release bootstrap of {binary} in {} (make bench builds them)",
                options.programs.lambda_dir.display()
            )
        })?;
        std::os::unix::fs::symlink(std::path::absolute(bootstrap)?, &link)?;
    }
    Ok(dir)
}

fn set_executable(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))?;
    Ok(())
}

/// Starts the release emulator with `quotas` on a free port.
async fn start_emulator(bin: &Path, quotas: &[String], work_dir: &Path) -> Result<(Child, String)> {
    let addr = free_loopback_addr()?;
    let log = std::fs::File::create(work_dir.join("license-manager-local.log"))?;
    let mut command = Command::new(bin);
    command
        .args(["--host", "127.0.0.1", "--port", &addr.port().to_string()])
        .args(["--account-id", local_test_kit::clients::CUSTOMER_ACCOUNT]);
    for quota in quotas {
        command.args(["--rate-limit", quota]);
    }
    let child = command
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("cannot start {}", bin.display()))?;
    let started = Instant::now();
    while tokio::net::TcpStream::connect(addr).await.is_err() {
        if started.elapsed() > Duration::from_secs(10) {
            bail!("license-manager-local did not listen on {addr} within 10 s");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok((child, format!("http://{addr}")))
}
