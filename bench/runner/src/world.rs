//! What the functions talk to: moto's server and the release license-manager-local, each a
//! child process on a free loopback port, with the table, bus and license the cases need.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use aws_sdk_licensemanager::types::{
    ConsumptionConfiguration, DatetimeRange, Entitlement, EntitlementUnit, Issuer,
    ProvisionalConfiguration,
};
use local_test_kit::clients::{REGION, sdk_config, sdk_error};
use local_test_kit::moto::{MotoServer, free_loopback_addr};
use local_test_kit::resources::create_state_table;
use tokio::process::{Child, Command};

/// The account of the sweeping functions: it holds nothing, so a warm sweep is the function's
/// own cost plus its list calls, not the size of someone's data.
pub const SWEEP_ACCOUNT: &str = "444455556666";
/// The account that owns the checkout license (the emulator's default account).
pub const CHECKOUT_ACCOUNT: &str = "123456789012";
/// The customer the checkouts are made for (the JWT `sub` claim).
pub const BENEFICIARY: &str = "bench-customer";
/// The product of the checkout license.
pub const SKU: &str = "bench-sku";
/// The issuer of the checkout license.
pub const ISSUER: &str = "Acme";
/// The unlimited entitlement every checkout draws.
pub const ENTITLEMENT: &str = "Access";
/// The state table (in each account).
pub const STATE_TABLE: &str = "bench-state";
/// The project's bus (in each account).
pub const BUS: &str = "bench-bus";

/// moto and the emulator, running.
pub struct World {
    moto: MotoServer,
    emulator: Child,
    emulator_url: String,
}

impl World {
    /// Starts moto (`moto_bin`) and the emulator (`emulator_bin`), logs under `log_dir`, and
    /// creates the state table and bus of both accounts and the checkout license.
    pub async fn start(moto_bin: &Path, emulator_bin: &Path, log_dir: &Path) -> Result<Self> {
        let moto = MotoServer::start(moto_bin, &log_dir.join("moto.log")).await?;
        let addr = free_loopback_addr()?;
        let log = std::fs::File::create(log_dir.join("license-manager-local.log"))?;
        let emulator = Command::new(emulator_bin)
            .args(["--host", "127.0.0.1", "--port", &addr.port().to_string()])
            .args(["--account-id", CHECKOUT_ACCOUNT])
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| {
                format!(
                    "cannot start {} (make bench builds it: cargo build --release -p license-manager-local)",
                    emulator_bin.display()
                )
            })?;
        let world = Self {
            moto,
            emulator,
            emulator_url: format!("http://{addr}"),
        };
        let started = Instant::now();
        while tokio::net::TcpStream::connect(addr).await.is_err() {
            if started.elapsed() > Duration::from_secs(10) {
                bail!("license-manager-local did not listen on {addr} within 10 s");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        for account in [SWEEP_ACCOUNT, CHECKOUT_ACCOUNT] {
            let config = sdk_config(account).await;
            let dynamodb = world.dynamodb(account).await;
            // moto may keep one account for every access key: then the second is there.
            already_there(create_state_table(&dynamodb, STATE_TABLE).await)
                .with_context(|| format!("state table of {account}"))?;
            let events = aws_sdk_eventbridge::Client::from_conf(
                aws_sdk_eventbridge::config::Builder::from(&config)
                    .endpoint_url(world.moto.url())
                    .build(),
            );
            already_there(
                events
                    .create_event_bus()
                    .name(BUS)
                    .send()
                    .await
                    .map_err(sdk_error),
            )
            .with_context(|| format!("bus of {account}"))?;
        }
        world.issue_checkout_license().await?;
        Ok(world)
    }

    /// The endpoints every function (and the baseline) is given, as the local stack gives them.
    pub fn endpoints(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            ("AWS_ENDPOINT_URL".to_owned(), self.moto.url()),
            (
                "AWS_ENDPOINT_URL_LICENSE_MANAGER".to_owned(),
                self.emulator_url.clone(),
            ),
        ])
    }

    /// A License Manager client of `account`, straight to the emulator.
    pub async fn license_manager(&self, account: &str) -> aws_sdk_licensemanager::Client {
        aws_sdk_licensemanager::Client::from_conf(
            aws_sdk_licensemanager::config::Builder::from(&sdk_config(account).await)
                .endpoint_url(&self.emulator_url)
                .build(),
        )
    }

    /// A DynamoDB client of `account`, to moto.
    pub async fn dynamodb(&self, account: &str) -> aws_sdk_dynamodb::Client {
        aws_sdk_dynamodb::Client::from_conf(
            aws_sdk_dynamodb::config::Builder::from(&sdk_config(account).await)
                .endpoint_url(self.moto.url())
                .build(),
        )
    }

    /// Stops both servers.
    pub async fn stop(mut self) {
        // Errors mean the process has already exited.
        let _ = self.emulator.kill().await;
        self.moto.stop().await;
    }

    /// The license the checkouts draw from: issued by the checkout account to [`BENEFICIARY`],
    /// one unlimited entitlement, provisional checkouts.
    async fn issue_checkout_license(&self) -> Result<()> {
        let client = self.license_manager(CHECKOUT_ACCOUNT).await;
        client
            .create_license()
            .license_name("bench license")
            .product_name("bench product")
            .product_sku(SKU)
            .beneficiary(BENEFICIARY)
            .home_region(REGION)
            .issuer(Issuer::builder().name(ISSUER).build()?)
            .validity(
                DatetimeRange::builder()
                    .begin("2026-01-01T00:00:00Z")
                    .build()?,
            )
            .entitlements(
                Entitlement::builder()
                    .name(ENTITLEMENT)
                    .unit(EntitlementUnit::None)
                    .value("Enabled")
                    .build()?,
            )
            .consumption_configuration(
                ConsumptionConfiguration::builder()
                    .provisional_configuration(
                        ProvisionalConfiguration::builder()
                            .max_time_to_live_in_minutes(60)
                            .build()?,
                    )
                    .build(),
            )
            .client_token(uuid::Uuid::new_v4().simple().to_string())
            .send()
            .await
            .map_err(sdk_error)
            .context("creating the checkout license")?;
        Ok(())
    }
}

/// Success, or a failure because the resource exists already.
fn already_there<T>(result: Result<T>) -> Result<()> {
    match result {
        Err(error) if error.to_string().contains("already exists") => Ok(()),
        other => other.map(drop),
    }
}

/// The issuer fingerprint of the checkout license (`KEY_FINGERPRINT` of checkout-proxy).
pub fn key_fingerprint() -> String {
    format!("aws:{CHECKOUT_ACCOUNT}:{ISSUER}:issuer-fingerprint")
}
