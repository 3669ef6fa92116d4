//! license-client (`clients/license-client`): customer-a's app runs under `license-client
//! run`, which holds a seat while it runs and frees it when it exits; an app that crashes
//! leaves its seat held, visible in `license-client leases`, and another node of the same
//! customer frees it with `license-client release`; customer-b sees and frees nothing of
//! it; a borrowed token verifies offline against `GET /v1/keys`.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context as _, Result, ensure};
use serde_json::Value;

use local_test_kit::checkout::{CUSTOMER, OTHER_CUSTOMER, PRODUCT_SKU};
use local_test_kit::licenses::consumed;

use crate::app::{App, LOCAL_AUDIENCE};
use crate::context::{Context, Flow, FlowFuture};
use crate::issuer::TokenRequest;
use crate::report::{Recorder, done};

/// The flow.
pub const FLOW: Flow = Flow {
    title: "license-client: customer apps hold, keep alive and free their seats",
    steps: boxed,
};

fn boxed<'a>(context: &'a mut Context, recorder: &'a mut Recorder) -> FlowFuture<'a> {
    Box::pin(run(context, recorder))
}

/// `license-client` as one customer: the API URL and a minted token in its environment.
struct Cli {
    binary: PathBuf,
    url: String,
    token: String,
}

/// What a finished `license-client` printed and how it ended.
struct Ran {
    status: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Cli {
    fn new(app: &App, bin_dir: &Path, customer: &str) -> Result<Self> {
        let binary = bin_dir.join("license-client");
        ensure!(
            binary.is_file(),
            "{} is missing: build it with `cargo build -p license-client` (make demo does)",
            binary.display()
        );
        Ok(Self {
            binary,
            url: app
                .stack_file
                .api_url
                .clone()
                .context("the template has no HTTP API")?,
            token: app
                .issuer
                .mint(TokenRequest::new(customer, LOCAL_AUDIENCE))?,
        })
    }

    fn command(&self, args: &[&str]) -> tokio::process::Command {
        let mut command = tokio::process::Command::new(&self.binary);
        command
            .args(args)
            .env("LICENSE_API_URL", &self.url)
            .env("LICENSE_API_TOKEN", &self.token)
            .stdin(Stdio::null())
            .kill_on_drop(true);
        command
    }

    async fn run(&self, args: &[&str]) -> Result<Ran> {
        let output = self.command(args).output().await?;
        Ok(Ran {
            status: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        })
    }

    async fn leases(&self) -> Result<Vec<Value>> {
        let ran = self.run(&["leases"]).await?;
        ensure!(ran.status == Some(0), "leases failed: {}", ran.stderr);
        Ok(serde_json::from_str::<Value>(&ran.stdout)?
            .as_array()
            .cloned()
            .unwrap_or_default())
    }
}

/// The ARN of the license the stack's account issued `customer` as Contoso (the checkout
/// flow issues it).
async fn customer_license(lm: &aws_sdk_licensemanager::Client, customer: &str) -> Result<String> {
    let filter = |name: &str, value: &str| {
        aws_sdk_licensemanager::types::Filter::builder()
            .name(name)
            .values(value)
            .build()
    };
    let listed = lm
        .list_licenses()
        .filters(filter("Beneficiary", customer))
        .filters(filter(
            "Fingerprint",
            &local_test_kit::checkout::local_key_fingerprint(),
        ))
        .send()
        .await
        .map_err(local_test_kit::clients::sdk_error)?;
    listed
        .licenses()
        .iter()
        .filter(|license| license.product_sku() == Some(PRODUCT_SKU))
        .filter_map(|license| license.license_arn())
        .next_back()
        .map(str::to_owned)
        .with_context(|| {
            format!("no {PRODUCT_SKU} license of {customer}: the checkout flow issues it")
        })
}

/// The shell line of a `license-client` invocation, as a transcript shows it.
fn shown(args: &[&str]) -> String {
    let quoted: Vec<String> = args
        .iter()
        .map(|arg| {
            if arg.contains(' ') || arg.contains('$') {
                format!("'{arg}'")
            } else {
                (*arg).to_owned()
            }
        })
        .collect();
    format!("$ license-client {}", quoted.join(" "))
}

async fn run(context: &mut Context, recorder: &mut Recorder) -> Result<()> {
    let app = context.app.as_ref().context("the host flow did not run")?;
    let settings = context.settings.as_ref().context("no settings")?;
    let lm = &context.clients.customer.license_manager;
    let alice = Cli::new(app, &settings.app.bin_dir, CUSTOMER)?;
    let bob = Cli::new(app, &settings.app.bin_dir, OTHER_CUSTOMER)?;
    let license = customer_license(lm, CUSTOMER).await?;
    let in_use = || async { consumed(lm, &license, "Users").await };

    recorder
        .step(
            &format!("{CUSTOMER}'s app runs under `license-client run` (a seat while it runs)"),
            async {
                let args = [
                    "run",
                    "--sku",
                    PRODUCT_SKU,
                    "--entitlement",
                    "Users=1",
                    "--node-id",
                    "laptop-1",
                    "--",
                    "sh",
                    "-c",
                    "echo \"notes: working under lease ${LICENSE_LEASE_ID%${LICENSE_LEASE_ID#????????}}...\"; sleep 1; echo \"notes: saved, exiting\"",
                ];
                let ran = alice.run(&args).await?;
                ensure!(ran.status == Some(0), "run exited {:?}: {}", ran.status, ran.stderr);
                let used = in_use().await?;
                ensure!(used.starts_with("0 of "), "{used} seats in use after run");
                done(
                    (),
                    format!(
                        "{}\n{}{}exit 0; Users in use after: {used}",
                        shown(&args),
                        ran.stderr.replace("license-client:", "  license-client:"),
                        ran.stdout
                    ),
                )
            },
        )
        .await?;

    let lease_id = recorder
        .step(
            "the app on laptop-2 crashes while it holds a seat: the seat stays, listed",
            async {
                let pid_file = std::env::temp_dir()
                    .join(format!("license-client-demo-{}.pid", std::process::id()));
                let script = format!("echo $$ > {}; exec sleep 60", pid_file.display());
                let mut holder = alice
                    .command(&[
                        "run",
                        "--sku",
                        PRODUCT_SKU,
                        "--entitlement",
                        "Users=1",
                        "--node-id",
                        "laptop-2",
                        "--",
                        "sh",
                        "-c",
                        &script,
                    ])
                    .stderr(Stdio::null())
                    .spawn()?;
                for _ in 0..100 {
                    if pid_file.is_file() && !alice.leases().await?.is_empty() {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                // The crash: license-client and its app die without a word.
                holder.kill().await?;
                if let Ok(pid) = std::fs::read_to_string(&pid_file) {
                    let _ = tokio::process::Command::new("kill")
                        .arg(pid.trim())
                        .status()
                        .await;
                    let _ = std::fs::remove_file(&pid_file);
                }
                let leases = alice.leases().await?;
                ensure!(leases.len() == 1, "expected one lease: {leases:?}");
                let lease = &leases[0];
                let id = lease["leaseId"].as_str().context("no leaseId")?.to_owned();
                let used = in_use().await?;
                done(
                    id,
                    format!(
                        "$ license-client leases\n{}\nUsers in use: {used}",
                        serde_json::to_string_pretty(&leases)?
                    ),
                )
            },
        )
        .await?;

    recorder
        .step(
            &format!("{OTHER_CUSTOMER} neither sees nor frees it; laptop-1 frees it (`release`)"),
            async {
                let theirs = bob.leases().await?;
                ensure!(theirs.is_empty(), "{OTHER_CUSTOMER} sees {theirs:?}");
                let refused = bob.run(&["release", &lease_id]).await?;
                ensure!(
                    refused.status == Some(1),
                    "{OTHER_CUSTOMER}'s release: {}",
                    refused.stderr
                );
                let freed = alice.run(&["release", &lease_id]).await?;
                ensure!(freed.status == Some(0), "release failed: {}", freed.stderr);
                let used = in_use().await?;
                ensure!(
                    used.starts_with("0 of "),
                    "{used} seats in use after release"
                );
                ensure!(alice.leases().await?.is_empty(), "still listed");
                done(
                    (),
                    format!(
                        "{OTHER_CUSTOMER}: leases [] ; release -> exit 1, {}\
                         {CUSTOMER} on laptop-1: {}\n{}Users in use: {used}",
                        refused.stderr.trim_start_matches("license-client: "),
                        shown(&["release", &lease_id]),
                        freed.stderr,
                    ),
                )
            },
        )
        .await?;

    recorder
        .step(
            "a borrowed token verifies offline against GET /v1/keys (`borrow`, `verify`)",
            async {
                let borrowed = alice
                    .run(&[
                        "borrow",
                        "--license-arn",
                        &license,
                        "--entitlement",
                        "Users=1",
                        "--node-id",
                        "laptop-1",
                    ])
                    .await?;
                ensure!(
                    borrowed.status == Some(0),
                    "borrow failed: {}",
                    borrowed.stderr
                );
                let checkout: Value = serde_json::from_str(&borrowed.stdout)?;
                let signed = checkout["signedToken"].as_str().context("no signedToken")?;
                let verified = alice.run(&["verify", signed]).await?;
                ensure!(
                    verified.status == Some(0),
                    "verify failed: {}",
                    verified.stderr
                );
                let tampered = format!("{signed}x");
                let refused = alice.run(&["verify", &tampered]).await?;
                ensure!(refused.status == Some(65), "a tampered token verified");
                let token = checkout["licenseConsumptionToken"]
                    .as_str()
                    .context("no token")?;
                let checked_in = alice.run(&["checkin", token]).await?;
                ensure!(
                    checked_in.status == Some(0),
                    "checkin: {}",
                    checked_in.stderr
                );
                done(
                    (),
                    format!(
                        "$ license-client verify <signedToken>\n{}tampered: exit 65, {}",
                        verified.stdout,
                        refused.stderr.trim_start_matches("license-client: ")
                    ),
                )
            },
        )
        .await?;
    Ok(())
}
