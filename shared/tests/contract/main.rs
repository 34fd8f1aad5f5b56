//! Contract tests of the storage, secret and queue ports.
//!
//! Every contract is an async function over the port, run once against the embedded
//! backend (SQLite, a local AES key) and once against the AWS adapters on a moto server.
//! Run them with `infra/scripts/with-moto.sh cargo test -p shared --test contract`, which
//! starts moto and sets `MOTO_ENDPOINT`. Each test creates its own uniquely named table,
//! key or queues, so the tests run in parallel on one server without resetting it.

mod queue;
mod secrets;
mod store;

use aws_config::SdkConfig;
use shared::adapters::aws::sdk_config_for_endpoint;

/// Returns the moto endpoint, or panics with the command that provides one.
fn moto_endpoint() -> String {
    match std::env::var("MOTO_ENDPOINT") {
        Ok(endpoint) if !endpoint.is_empty() => endpoint,
        _ => panic!(
            "MOTO_ENDPOINT is not set. Run the contract tests through the moto wrapper: \
             infra/scripts/with-moto.sh cargo test -p shared --test contract"
        ),
    }
}

async fn moto_config() -> SdkConfig {
    sdk_config_for_endpoint(&moto_endpoint()).await
}

/// Returns `prefix` followed by a random suffix, valid as a table, queue or alias name.
fn unique_name(prefix: &str) -> String {
    format!("{prefix}-{:016x}", rand::random::<u64>())
}

fn now_seconds() -> i64 {
    chrono::Utc::now().timestamp()
}
