//! AWS SDK configuration shared by the DynamoDB, KMS and SQS adapters.

use std::time::Duration;

use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::config::Credentials;

/// Region and optional endpoint override for every AWS client of a process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AwsSettings {
    pub region: String,
    /// Endpoint for every service, such as a local moto server. `None` uses the regional
    /// AWS endpoints.
    pub endpoint_url: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum AwsSettingsError {
    #[error("AWS_REGION is not set; set it to the region of the table, key and queues")]
    MissingRegion,
}

impl AwsSettings {
    /// Reads `AWS_REGION` (required; Lambda always sets it) and `AWS_ENDPOINT_URL`
    /// (optional; an empty value counts as unset).
    pub fn from_env() -> Result<Self, AwsSettingsError> {
        let non_empty = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let region = non_empty("AWS_REGION").ok_or(AwsSettingsError::MissingRegion)?;
        Ok(Self {
            region,
            endpoint_url: non_empty("AWS_ENDPOINT_URL"),
        })
    }
}

/// Time limits of every AWS call. DynamoDB, KMS and SQS respond in milliseconds; the
/// limits stop a stuck call from using up a Lambda invocation or Zoom's 3 s webhook window.
/// The SDK's standard retry mode (3 attempts, exponential backoff) runs within them.
fn timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(2))
        .operation_attempt_timeout(Duration::from_secs(3))
        .operation_timeout(Duration::from_secs(8))
        .build()
}

/// Loads the SDK configuration for `settings`. Credentials come from the default provider
/// chain, which inside Lambda reads the environment variables of the execution role.
pub async fn load_sdk_config(settings: &AwsSettings) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(settings.region.clone()))
        .timeout_config(timeouts());
    if let Some(endpoint) = &settings.endpoint_url {
        loader = loader.endpoint_url(endpoint.clone());
    }
    loader.load().await
}

/// Builds an SDK configuration for a local test server at `endpoint`, with static test
/// credentials and region us-east-1, so that no credential chain or instance metadata
/// lookup runs.
pub async fn sdk_config_for_endpoint(endpoint: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::from_static("us-east-1"))
        .timeout_config(timeouts())
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new(
            "testing",
            "testing",
            None,
            None,
            "static-test-credentials",
        ))
        .load()
        .await
}
