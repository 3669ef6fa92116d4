//! moto's server as a child process on a free loopback port.

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

/// How long moto's server may take to answer its first request.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);

/// A running moto server. Dropping it kills the process.
pub struct MotoServer {
    child: Child,
    addr: SocketAddr,
    log: PathBuf,
}

impl MotoServer {
    /// Starts `bin` on a free port of 127.0.0.1, its output going to `log`, and waits until it
    /// answers HTTP.
    pub async fn start(bin: &Path, log: &Path) -> Result<Self> {
        if !bin.is_file() {
            bail!(
                "moto's server was not found at {}: run `scripts/venv.sh dev` first \
                 (or point MOTO_SERVER at a moto_server executable)",
                bin.display()
            );
        }
        let addr = free_loopback_addr()?;
        let out = std::fs::File::create(log)
            .with_context(|| format!("cannot create moto's log file {}", log.display()))?;
        let err = out.try_clone()?;
        let child = Command::new(bin)
            .args(["--host", "127.0.0.1", "--port", &addr.port().to_string()])
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot start {}", bin.display()))?;
        let mut server = Self {
            child,
            addr,
            log: log.to_path_buf(),
        };
        server.wait_until_answering().await?;
        Ok(server)
    }

    /// The endpoint URL every moto-backed service is reached at.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Kills the server and waits for it to exit.
    pub async fn stop(mut self) {
        // An error here means it already exited, which is what we want.
        let _ = self.child.kill().await;
    }

    async fn wait_until_answering(&mut self) -> Result<()> {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "moto's server exited ({status}) before answering; its output is in {}",
                    self.log.display()
                );
            }
            if answers_http(self.addr).await {
                return Ok(());
            }
            if started.elapsed() > STARTUP_TIMEOUT {
                bail!(
                    "moto's server did not answer on {} within {:?}; its output is in {}",
                    self.addr,
                    STARTUP_TIMEOUT,
                    self.log.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// moto's server as `scripts/venv.sh dev` installs it: `$MOTO_SERVER`, else
/// `<workspace>/.venv/bin/moto_server`. Tests of every package find it this way, whatever
/// their working directory.
pub fn default_moto_server() -> PathBuf {
    std::env::var_os("MOTO_SERVER").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/moto_server"),
        PathBuf::from,
    )
}

/// A loopback address whose port was free a moment ago.
pub fn free_loopback_addr() -> Result<SocketAddr> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .context("cannot bind a free port on 127.0.0.1")?;
    Ok(listener.local_addr()?)
}

/// Whether something at `addr` answers a plain HTTP request with an HTTP status line.
async fn answers_http(addr: SocketAddr) -> bool {
    let probe = async {
        let mut stream = TcpStream::connect(addr).await?;
        stream
            .write_all(b"GET /moto-api/ HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .await?;
        let mut head = [0_u8; 8];
        stream.read_exact(&mut head).await?;
        std::io::Result::Ok(head.starts_with(b"HTTP/1."))
    };
    matches!(
        tokio::time::timeout(Duration::from_secs(2), probe).await,
        Ok(Ok(true))
    )
}
