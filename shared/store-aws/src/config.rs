//! One SDK configuration for every client, with retries and timeouts chosen here.

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};

/// Where the AWS services are. In Lambda everything comes from the environment; tests point
/// `endpoint_url` at a local `moto_server`.
#[derive(Debug, Clone, Default)]
pub struct AwsSettings {
    /// Overrides every service's endpoint (also read from `AWS_ENDPOINT_URL` by the SDK).
    pub endpoint_url: Option<String>,
    /// Overrides the region from the environment.
    pub region: Option<String>,
    /// Static credentials instead of the default chain (tests only).
    pub static_credentials: Option<(String, String)>,
}

/// Attempts per call, the first included. The SDK's standard mode retries throttling,
/// transient network errors and 5xx with exponential backoff and jitter.
pub const MAX_ATTEMPTS: u32 = 4;
pub const INITIAL_BACKOFF: Duration = Duration::from_millis(50);
pub const MAX_BACKOFF: Duration = Duration::from_secs(2);
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// One attempt of one call; S3 transfers of large parts override this per call site.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// A whole call, retries included. Kept under the shortest Lambda timeout of the stack so a
/// stuck call surfaces as an error in the logs, not as a Lambda timeout.
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(25);

pub fn retry_config() -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(MAX_ATTEMPTS)
        .with_initial_backoff(INITIAL_BACKOFF)
        .with_max_backoff(MAX_BACKOFF)
}

pub fn timeout_config() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .operation_attempt_timeout(ATTEMPT_TIMEOUT)
        .operation_timeout(OPERATION_TIMEOUT)
        .build()
}

/// The shared configuration: the default provider chain (environment, Lambda role) with our
/// retry and timeout policy.
pub async fn sdk_config(settings: &AwsSettings) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .retry_config(retry_config())
        .timeout_config(timeout_config());
    if let Some(url) = &settings.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    if let Some(region) = &settings.region {
        loader = loader.region(Region::new(region.clone()));
    }
    if let Some((key, secret)) = &settings.static_credentials {
        loader = loader.credentials_provider(aws_sdk_s3::config::Credentials::new(
            key, secret, None, None, "static",
        ));
    }
    loader.load().await
}
