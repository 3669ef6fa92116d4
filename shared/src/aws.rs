//! The AWS SDK configuration, built once per cold start.

use aws_config::{BehaviorVersion, ConfigLoader, SdkConfig};
use aws_smithy_http_client::proxy::ProxyConfig;
use aws_smithy_http_client::tls::{Provider, TlsContext, TrustStore, rustls_provider::CryptoMode};
use aws_smithy_http_client::{Builder, ConnectorBuilder};
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

/// The loader every function uses: the SDK's defaults for the latest behaviour version, with
/// [`https_client`].
///
/// It resolves region and credentials the usual way and honours `AWS_ENDPOINT_URL` and the
/// per-service `AWS_ENDPOINT_URL_<SERVICE>` (e.g. `AWS_ENDPOINT_URL_LICENSE_MANAGER`), which is
/// how the local stack is reached.
pub fn sdk_config_loader() -> ConfigLoader {
    aws_config::defaults(BehaviorVersion::latest()).http_client(https_client())
}

/// Loads the SDK configuration from the environment; call once in `main`.
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
