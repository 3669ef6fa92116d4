//! The AWS SDK configuration, built once per cold start: every call bounded in time (an
//! attempt timeout and an operation timeout, [`CallBounds`]) and retried by one layer only.
//!
//! DynamoDB, EventBridge and KMS calls are retried by the SDK's standard strategy, within the
//! operation timeout. License Manager calls are retried by the call gate alone
//! ([`crate::calls`] turns the SDK's retries off for its client): it knows License Manager's
//! `RateLimitExceededException`, an HTTP 400 the SDK does not take for throttling, and it keeps
//! to the invocation's [`Deadline`](crate::deadline::Deadline).

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, ConfigLoader, SdkConfig};
use aws_smithy_http_client::proxy::ProxyConfig;
use aws_smithy_http_client::tls::{Provider, TlsContext, TrustStore, rustls_provider::CryptoMode};
use aws_smithy_http_client::{Builder, ConnectorBuilder};
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

/// How long one SDK call may take and how often the SDK tries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallBounds {
    /// One attempt (connect, send, read the answer) at most.
    pub attempt: Duration,
    /// The whole call, retries and their backoff included, at most.
    pub operation: Duration,
    /// Attempts of a call the SDK makes at most (License Manager's client: one, see
    /// [`crate::calls`]).
    pub max_attempts: u32,
}

/// The sweeping functions' bounds: a hung call is abandoned after 5 s and retried, a call
/// gives up after 12 s, well inside their minutes-long timeouts.
pub const SWEEP_CALLS: CallBounds = CallBounds {
    attempt: Duration::from_secs(5),
    operation: Duration::from_secs(12),
    max_attempts: 3,
};

/// The bounds of calls a person or an app waits on (checkout-proxy): 2 s an attempt, 4 s a
/// call; the request's own budget bounds them all together.
pub const INTERACTIVE_CALLS: CallBounds = CallBounds {
    attempt: Duration::from_secs(2),
    operation: Duration::from_secs(4),
    max_attempts: 2,
};

impl CallBounds {
    /// The SDK's timeout settings for these bounds.
    pub fn timeout_config(&self) -> TimeoutConfig {
        TimeoutConfig::builder()
            .operation_attempt_timeout(self.attempt)
            .operation_timeout(self.operation)
            .build()
    }

    /// The SDK's retry settings for these bounds (standard strategy, jittered backoff).
    pub fn retry_config(&self) -> RetryConfig {
        RetryConfig::standard().with_max_attempts(self.max_attempts.max(1))
    }
}

/// The loader every sweeping function uses: [`sdk_config_loader_with`] [`SWEEP_CALLS`].
pub fn sdk_config_loader() -> ConfigLoader {
    sdk_config_loader_with(SWEEP_CALLS)
}

/// The SDK's defaults for the latest behaviour version, with [`https_client`] and every call
/// bounded by `bounds`.
///
/// It resolves region and credentials the usual way and honours `AWS_ENDPOINT_URL` and the
/// per-service `AWS_ENDPOINT_URL_<SERVICE>` (e.g. `AWS_ENDPOINT_URL_LICENSE_MANAGER`), which is
/// how the local stack is reached.
pub fn sdk_config_loader_with(bounds: CallBounds) -> ConfigLoader {
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(https_client())
        .timeout_config(bounds.timeout_config())
        .retry_config(bounds.retry_config())
}

/// Loads the SDK configuration from the environment with [`SWEEP_CALLS`]; call once in `main`.
pub async fn load_sdk_config() -> SdkConfig {
    sdk_config_loader().load().await
}

/// The SDK's default HTTPS client (rustls on aws-lc, proxy settings from the environment),
/// except that it trusts Mozilla's root certificates built into the binary instead of the
/// system's.
///
/// Loading the system's roots opens and parses every file of the certificate bundle and of
/// the certificate directory during the cold start: on a Debian host that was 3-4 ms of a
/// function's 7-8 ms init (bench/results.md); the built-in roots cost one in-memory parse. The
/// roots of AWS's endpoints (Amazon Trust Services) are among them.
pub fn https_client() -> SharedHttpClient {
    let context = TlsContext::builder()
        .with_trust_store(TrustStore::empty().with_pem_certificate(root_certificates_pem()))
        .build()
        // Building a context only stores its parts: it does not fail.
        .unwrap_or_default();
    Builder::new().build_with_connector_fn(move |settings, components| {
        let mut connector = ConnectorBuilder::default()
            .tls_provider(Provider::Rustls(CryptoMode::AwsLc))
            .tls_context(context.clone());
        connector.set_connector_settings(settings.cloned());
        if let Some(components) = components {
            connector.set_sleep_impl(components.sleep_impl());
        }
        connector.set_proxy_config(Some(ProxyConfig::from_env()));
        connector.build()
    })
}

/// Mozilla's root certificates (the `webpki-root-certs` crate) as one PEM bundle.
fn root_certificates_pem() -> Vec<u8> {
    let mut pem = Vec::with_capacity(webpki_root_certs::TLS_SERVER_ROOT_CERTS.len() * 2048);
    for certificate in webpki_root_certs::TLS_SERVER_ROOT_CERTS {
        pem.extend_from_slice(b"-----BEGIN CERTIFICATE-----\n");
        for line in BASE64.encode(certificate.as_ref()).as_bytes().chunks(64) {
            pem.extend_from_slice(line);
            pem.push(b'\n');
        }
        pem.extend_from_slice(b"-----END CERTIFICATE-----\n");
    }
    pem
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The DER of each certificate in a PEM bundle.
    fn certificates(pem: &[u8]) -> Vec<Vec<u8>> {
        let text = std::str::from_utf8(pem).unwrap();
        text.split("-----END CERTIFICATE-----\n")
            .filter(|block| !block.is_empty())
            .map(|block| {
                let body: String = block
                    .trim_start_matches("-----BEGIN CERTIFICATE-----\n")
                    .lines()
                    .collect();
                BASE64.decode(body).unwrap()
            })
            .collect()
    }

    #[test]
    fn the_built_in_roots_are_every_mozilla_root_and_include_amazons() {
        let pem = root_certificates_pem();
        assert!(pem.split(|&b| b == b'\n').all(|line| line.len() <= 64));
        let ders = certificates(&pem);
        let expected: Vec<&[u8]> = webpki_root_certs::TLS_SERVER_ROOT_CERTS
            .iter()
            .map(|certificate| certificate.as_ref())
            .collect();
        assert!(expected.len() > 100, "{} roots", expected.len());
        assert_eq!(ders, expected);
        // AWS's endpoints chain to Amazon Trust Services' roots.
        for name in [
            "Amazon Root CA 1",
            "Amazon Root CA 2",
            "Starfield Services Root",
        ] {
            assert!(
                ders.iter().any(|der| der
                    .windows(name.len())
                    .any(|window| window == name.as_bytes())),
                "{name} is not among the built-in roots"
            );
        }
    }
}
