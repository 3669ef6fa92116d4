//! Starting and stopping the two servers of the local stack.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use anyhow::{Context as _, Result, anyhow};
use license_manager_local::organization::Organization;
use license_manager_local::{Config, Emulator};
use local_test_kit::clients::{CUSTOMER_ACCOUNT, REGION};
use local_test_kit::moto::MotoServer;

/// The organization the emulator is started with, written into the work directory too
/// (what `license-manager-local --organization FILE` reads).
pub const ORGANIZATION_FILE: &str = "organization.json";

/// The local organization: the stack's account is its management account.
pub fn local_organization() -> Organization {
    Organization {
        id: "o-localstack01".to_owned(),
        management_account: CUSTOMER_ACCOUNT.to_owned(),
        accounts: vec![CUSTOMER_ACCOUNT.to_owned()],
        organizational_units: Default::default(),
    }
}

/// Where and how to start the stack.
#[derive(Debug, Clone)]
pub struct StackOptions {
    /// moto's server executable.
    pub moto_server: PathBuf,
    /// Port of license-manager-local on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// The emulator's state file, if state should survive a restart.
    pub state_file: Option<PathBuf>,
    /// Directory for moto's log and the borrow public key.
    pub work_dir: PathBuf,
}

/// moto's server (child process) and license-manager-local (in-process), both on loopback.
pub struct Stack {
    moto: MotoServer,
    emulator: Emulator,
    public_key: PathBuf,
}

impl Stack {
    /// Starts moto's server, then the emulator with [`local_organization`]. If the emulator
    /// cannot start, moto is stopped.
    pub async fn start(options: &StackOptions) -> Result<Self> {
        Self::start_with(options, local_organization()).await
    }

    /// Like [`Stack::start`], with the emulator knowing `organization` (also written to
    /// [`ORGANIZATION_FILE`] in the work directory).
    pub async fn start_with(options: &StackOptions, organization: Organization) -> Result<Self> {
        std::fs::create_dir_all(&options.work_dir)
            .with_context(|| format!("cannot create {}", options.work_dir.display()))?;
        let moto =
            MotoServer::start(&options.moto_server, &options.work_dir.join("moto.log")).await?;
        let public_key = std::path::absolute(options.work_dir.join("borrow-public-key.pem"))?;
        let organization_file = options.work_dir.join(ORGANIZATION_FILE);
        std::fs::write(
            &organization_file,
            serde_json::to_vec_pretty(&organization)?,
        )
        .with_context(|| format!("cannot write {}", organization_file.display()))?;
        let config = Config {
            account_id: CUSTOMER_ACCOUNT.to_owned(),
            region: REGION.to_owned(),
            state_file: options.state_file.clone(),
            public_key_out: Some(public_key.clone()),
            // License Manager's own events go to the accounts' default buses on moto.
            events_endpoint: Some(moto.url()),
            organization: Some(organization),
            ..Config::default()
        };
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, options.port));
        let emulator = match Emulator::start(config, addr).await {
            Ok(emulator) => emulator,
            Err(err) => {
                moto.stop().await;
                let hint = if options.port == 0 {
                    ""
                } else {
                    " (is another one running? `--port 0` picks a free port)"
                };
                return Err(anyhow!(
                    "license-manager-local cannot start on {addr}{hint}: {err}"
                ));
            }
        };
        Ok(Self {
            moto,
            emulator,
            public_key,
        })
    }

    /// moto's endpoint URL (all services but License Manager).
    pub fn moto_url(&self) -> String {
        self.moto.url()
    }

    /// license-manager-local's endpoint URL.
    pub fn license_manager_url(&self) -> String {
        self.emulator.endpoint_url()
    }

    /// The PEM file holding the public key that verifies borrow tokens.
    pub fn public_key_path(&self) -> &PathBuf {
        &self.public_key
    }

    /// Stops the emulator, then moto's server.
    pub async fn stop(self) {
        self.emulator.shutdown().await;
        self.moto.stop().await;
    }
}
