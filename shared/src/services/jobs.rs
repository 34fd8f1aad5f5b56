//! Runs one queued job, whichever consumer received it: the SQS-triggered functions or
//! the local server's queue poller.

use crate::ports::queue::Job;
use crate::records::apps;
use crate::services::{ServiceError, Services, join, tokens, webhooks};

pub async fn run_job(services: &Services, job: &Job) -> Result<(), ServiceError> {
    match job {
        Job::Delivery { delivery_id } => webhooks::deliver(services, delivery_id).await,
        Job::JoinAttempt { bot_id, attempt } => join::run_attempt(services, bot_id, *attempt).await,
        Job::ReviveConnections { app_id } => {
            match apps::get_any(services.store.as_ref(), app_id).await? {
                Some(app) => tokens::revive_connections(services, &app.value).await,
                None => tracing::info!(app_id, "app deleted before its connections were revived"),
            }
            Ok(())
        }
    }
}
