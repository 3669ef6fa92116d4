//! A local OpenID Connect issuer that mints RS256 tokens for demo customers.
//!
//! The signing key is an RSA 2048 key kept as a PKCS#8 PEM file ([`KEY_FILE`]) in a directory
//! of the caller's choosing, generated on first use and reused afterwards, so tokens minted
//! by `local-stack token` stay valid across restarts of the stack. The issuer serves the two
//! documents a JWT authorizer reads: the discovery document and the JWKS.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
use aws_lc_rs::rsa::{KeyPair, KeySize};
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use jsonwebtoken::jwk::{Jwk, JwkSet, KeyAlgorithm, PublicKeyUse, ThumbprintHash};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Map, Value, json};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Name of the signing key file inside the key directory.
pub const KEY_FILE: &str = "issuer-key.pem";
/// Path of the OpenID Connect discovery document.
pub const DISCOVERY_PATH: &str = "/.well-known/openid-configuration";
/// Path of the JSON Web Key Set.
pub const JWKS_PATH: &str = "/.well-known/jwks.json";

/// What a minted token says: the customer (`sub`), the audience, how long it lives and any
/// further claims (for example a beneficiary claim or `scope`).
#[derive(Debug, Clone)]
pub struct TokenRequest {
    /// The `sub` claim.
    pub sub: String,
    /// The `aud` claim.
    pub audience: String,
    /// Lifetime: `exp` is `iat` plus this.
    pub ttl: Duration,
    /// Further claims; they cannot override `iss`, `sub`, `aud`, `iat`, `nbf` or `exp`.
    pub extra_claims: Map<String, Value>,
}

impl TokenRequest {
    /// A one-hour token for `sub` and `audience` without further claims.
    pub fn new(sub: impl Into<String>, audience: impl Into<String>) -> Self {
        Self {
            sub: sub.into(),
            audience: audience.into(),
            ttl: Duration::from_secs(3600),
            extra_claims: Map::new(),
        }
    }
}

/// The issuer's RSA key: signs tokens and publishes its public half as a JWK.
#[derive(Clone)]
pub struct SigningKey {
    encoding: EncodingKey,
    jwk: Jwk,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid())
            .finish()
    }
}

impl SigningKey {
    /// Loads `key_dir/issuer-key.pem`, or generates a 2048-bit key and writes it there
    /// (mode 0600, creating the directory) when the file does not exist.
    pub fn load_or_generate(key_dir: &Path) -> Result<Self> {
        let path = key_file(key_dir);
        let pem = if path.exists() {
            std::fs::read(&path)
                .with_context(|| format!("reading the issuer key {}", path.display()))?
        } else {
            let pem = generate_pkcs8_pem()?;
            write_private_file(&path, pem.as_bytes())?;
            pem.into_bytes()
        };
        Self::from_pem(&pem).with_context(|| {
            format!(
                "the issuer key {} is not a PKCS#8 RSA private key",
                path.display()
            )
        })
    }

    /// Loads `key_dir/issuer-key.pem`; fails when it does not exist.
    pub fn load(key_dir: &Path) -> Result<Self> {
        let path = key_file(key_dir);
        let pem = std::fs::read(&path).with_context(|| {
            format!(
                "reading the issuer key {} (start the local stack once to create it)",
                path.display()
            )
        })?;
        Self::from_pem(&pem).with_context(|| {
            format!(
                "the issuer key {} is not a PKCS#8 RSA private key",
                path.display()
            )
        })
    }

    fn from_pem(pem: &[u8]) -> Result<Self> {
        let encoding = EncodingKey::from_rsa_pem(pem)?;
        let mut jwk = Jwk::from_encoding_key(&encoding, Algorithm::RS256)?;
        // RFC 7638 thumbprint of the public key: stable for the key, different for another.
        let kid = jwk.thumbprint(ThumbprintHash::SHA256)?;
        jwk.common.key_id = Some(kid);
        jwk.common.public_key_use = Some(PublicKeyUse::Signature);
        jwk.common.key_algorithm = Some(KeyAlgorithm::RS256);
        Ok(Self { encoding, jwk })
    }

    /// The key id (`kid`) in the JWKS and in every token's header.
    pub fn kid(&self) -> &str {
        self.jwk.common.key_id.as_deref().unwrap_or_default()
    }

    /// The public key as a JWK (`kty`, `kid`, `use`, `alg`, `n`, `e`).
    pub fn jwk(&self) -> &Jwk {
        &self.jwk
    }

    /// Mints an RS256 token for `issuer_url` (the `iss` claim) from `request`.
    pub fn mint(&self, issuer_url: &str, request: &TokenRequest) -> Result<String> {
        let claims = token_claims(issuer_url, request, now_seconds()?)?;
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(self.kid().to_owned());
        Ok(jsonwebtoken::encode(&header, &claims, &self.encoding)?)
    }
}

/// Mints a token from the key file in `key_dir` without a running issuer (what
/// `local-stack token --sub customer-a` does). `issuer_url` must be the URL the stack's
/// issuer serves on, since the authorizer compares `iss` with it exactly.
pub fn mint_with_key_file(
    key_dir: &Path,
    issuer_url: &str,
    request: &TokenRequest,
) -> Result<String> {
    SigningKey::load(key_dir)?.mint(issuer_url, request)
}

/// The path of the signing key file in `key_dir`.
pub fn key_file(key_dir: &Path) -> PathBuf {
    key_dir.join(KEY_FILE)
}

/// A running local issuer; stops when dropped or on [`LocalIssuer::shutdown`].
#[derive(Debug)]
pub struct LocalIssuer {
    key: SigningKey,
    issuer_url: String,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl LocalIssuer {
    /// Loads or creates the key in `key_dir` and serves the discovery document and the JWKS
    /// on `addr` (a loopback address; port 0 picks a free one).
    pub async fn start(addr: SocketAddr, key_dir: &Path) -> Result<Self> {
        if !addr.ip().is_loopback() {
            bail!("the local issuer serves on loopback only, not on {addr}");
        }
        let key_dir = key_dir.to_owned();
        let key = tokio::task::spawn_blocking(move || SigningKey::load_or_generate(&key_dir))
            .await
            .context("generating the issuer key")??;
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding the local issuer to {addr}"))?;
        let local = listener.local_addr()?;
        let issuer_url = format!("http://{local}");
        let documents = Arc::new(Documents {
            discovery: discovery_document(&issuer_url),
            jwks: JwkSet {
                keys: vec![key.jwk().clone()],
            },
        });
        let app = axum::Router::new()
            .route(DISCOVERY_PATH, get(serve_discovery))
            .route(JWKS_PATH, get(serve_jwks))
            .with_state(documents);
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let server = axum::serve(listener, app).with_graceful_shutdown(async {
                let _ = stopped.await;
            });
            if let Err(error) = server.await {
                eprintln!("local issuer stopped: {error}");
            }
        });
        Ok(Self {
            key,
            issuer_url,
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// The issuer URL (`http://127.0.0.1:PORT`, no trailing slash): exactly the `iss` claim.
    pub fn issuer_url(&self) -> &str {
        &self.issuer_url
    }

    /// The key id of the signing key.
    pub fn kid(&self) -> &str {
        self.key.kid()
    }

    /// Mints an RS256 token with this issuer's `iss`.
    pub fn mint(&self, request: TokenRequest) -> Result<String> {
        self.key.mint(&self.issuer_url, &request)
    }

    /// Stops serving and waits for the server task to end.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for LocalIssuer {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

/// The two documents the issuer serves, built once.
struct Documents {
    discovery: Value,
    jwks: JwkSet,
}

async fn serve_discovery(State(documents): State<Arc<Documents>>) -> Response {
    crate::http_api::json_response(axum::http::StatusCode::OK, &documents.discovery)
}

async fn serve_jwks(State(documents): State<Arc<Documents>>) -> Response {
    crate::http_api::json_response(axum::http::StatusCode::OK, &json!(documents.jwks))
}

/// The OpenID Connect discovery document of an issuer that only mints tokens.
fn discovery_document(issuer_url: &str) -> Value {
    json!({
        "issuer": issuer_url,
        "jwks_uri": format!("{issuer_url}{JWKS_PATH}"),
        "response_types_supported": ["token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": ["none"],
        "claims_supported": ["iss", "sub", "aud", "iat", "nbf", "exp"],
    })
}

/// The registered claims of `request` over its extra claims (registered ones win).
fn token_claims(issuer_url: &str, request: &TokenRequest, now: u64) -> Result<Value> {
    let ttl = request.ttl.as_secs();
    if ttl == 0 {
        bail!("a token's lifetime must be at least one second");
    }
    let mut claims: BTreeMap<String, Value> = request
        .extra_claims
        .iter()
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect();
    let registered = [
        ("iss", json!(issuer_url)),
        ("sub", json!(request.sub)),
        ("aud", json!(request.audience)),
        ("iat", json!(now)),
        ("nbf", json!(now)),
        ("exp", json!(now.saturating_add(ttl))),
    ];
    for (name, value) in registered {
        claims.insert(name.to_owned(), value);
    }
    Ok(json!(claims))
}

fn now_seconds() -> Result<u64> {
    Ok(std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .context("the system clock is before 1970")?
        .as_secs())
}

/// A new RSA 2048 private key as a PKCS#8 PEM document (aws-lc-rs: fast even unoptimised).
fn generate_pkcs8_pem() -> Result<String> {
    let key = KeyPair::generate(KeySize::Rsa2048)
        .map_err(|_| anyhow::anyhow!("could not generate an RSA key for the local issuer"))?;
    let der: Pkcs8V1Der<'_> = key
        .as_der()
        .map_err(|_| anyhow::anyhow!("could not encode the local issuer's key as PKCS#8"))?;
    Ok(pem::encode(&pem::Pem::new("PRIVATE KEY", der.as_ref())))
}

/// Writes `contents` to a new file readable by its owner only, creating its directory.
fn write_private_file(path: &Path, contents: &[u8]) -> Result<()> {
    use std::io::Write as _;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating the key directory {}", dir.display()))?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("creating the issuer key {}", path.display()))?;
    file.write_all(contents)
        .with_context(|| format!("writing the issuer key {}", path.display()))?;
    Ok(())
}
