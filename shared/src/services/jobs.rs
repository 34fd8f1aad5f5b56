//! Runs one queued job, whichever consumer received it: the SQS-triggered functions or
//! the local server's queue poller.

use crate::ports::queue::Job;
use crate::services::{ServiceError, Services, webhooks};

pub async fn run_job(services: &Services, job: &Job) -> Result<(), ServiceError> {
    match job {
        Job::Delivery { delivery_id } => webhooks::deliver(services, delivery_id).await,
        Job::JoinAttempt { bot_id, attempt } => {
            tracing::warn!(
                bot_id,
                attempt,
                "join attempts are not handled by this build; dropping the job"
            );
            Ok(())
        }
    }
}
