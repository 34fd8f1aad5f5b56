//! Runs on an EventBridge schedule: keeps refresh tokens from expiring and re-syncs the
//! meeting lists of local-recording connections.

use lambda_runtime::{LambdaEvent, service_fn};
use shared::runtime::{Error, start};
use shared::services::keeper;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let services = start().await?;
    let services = &services;
    lambda_runtime::run(service_fn(
        move |_event: LambdaEvent<serde_json::Value>| async move {
            let report = keeper::run(services).await;
            Ok::<_, Error>(serde_json::json!({
                "refreshed": report.refreshed,
                "synced": report.synced,
                "failed": report.failed,
                "disconnected": report.disconnected,
            "requeued_deliveries": report.requeued_deliveries,
            }))
        },
    ))
    .await
}
