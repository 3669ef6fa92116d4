//! The AWS SDK configuration, built once per cold start.

use aws_config::{BehaviorVersion, ConfigLoader, SdkConfig};

/// The loader every function uses: the SDK's defaults for the latest behaviour version.
///
/// It resolves region and credentials the usual way and honours `AWS_ENDPOINT_URL` and the
/// per-service `AWS_ENDPOINT_URL_<SERVICE>` (e.g. `AWS_ENDPOINT_URL_LICENSE_MANAGER`), which is
/// how the local stack is reached.
pub fn sdk_config_loader() -> ConfigLoader {
    aws_config::defaults(BehaviorVersion::latest())
}

/// Loads the SDK configuration from the environment; call once in `main`.
pub async fn load_sdk_config() -> SdkConfig {
    sdk_config_loader().load().await
}
