//! Test support (feature `testing`): moto's server as a child process and SDK configurations
//! pointed at local endpoints. Used by this crate's integration tests and by the functions'.

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::config::Credentials;

/// The region every local endpoint is used in.
pub const REGION: &str = "us-east-1";
/// The account moto answers as.
pub const MOTO_ACCOUNT: &str = "123456789012";

/// An SDK configuration for a local endpoint, with static credentials whose access key id is
/// `access_key_id` (the License Manager emulator takes a 12-digit one as the caller's account).
pub async fn local_sdk_config(endpoint_url: &str, access_key_id: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .endpoint_url(endpoint_url)
        .credentials_provider(Credentials::new(
            access_key_id,
            "local-secret-key",
            None,
            None,
            "local",
        ))
        .load()
        .await
}

/// Where moto's server is: `$MOTO_SERVER`, else `<workspace>/.venv/bin/moto_server`.
pub fn moto_server_path() -> PathBuf {
    std::env::var_os("MOTO_SERVER").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/moto_server"),
        PathBuf::from,
    )
}

/// moto's server, started on a free loopback port and killed when dropped.
#[derive(Debug)]
pub struct MotoServer {
    child: Child,
    address: SocketAddr,
}

impl MotoServer {
    /// Starts moto's server and waits until it accepts connections.
    ///
    /// Panics with instructions when moto is not installed: tests that need it must fail
    /// loudly, never skip.
    pub fn start() -> Self {
        let path = moto_server_path();
        assert!(
            path.exists(),
            "moto's server is not installed at {}: run `scripts/venv.sh dev` (`make test` does) \
             or set MOTO_SERVER to its path",
            path.display()
        );
        let port = free_port();
        let child = Command::new(&path)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|error| panic!("could not start {}: {error}", path.display()));
        let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let server = Self { child, address };
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_err() {
            assert!(
                Instant::now() < deadline,
                "moto's server did not start on {address} within 30 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    /// The server's endpoint URL.
    pub fn endpoint_url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// An SDK configuration pointed at this server.
    pub async fn sdk_config(&self) -> SdkConfig {
        local_sdk_config(&self.endpoint_url(), "testing").await
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .unwrap_or_else(|error| panic!("no free loopback port: {error}"))
}
