//! Runs one queued job, whichever consumer received it: the SQS-triggered functions or
//! the local server's queue poller.

use crate::ports::queue::Job;
use crate::services::{ServiceError, Services, join, webhooks};

pub async fn run_job(services: &Services, job: &Job) -> Result<(), ServiceError> {
    match job {
        Job::Delivery { delivery_id } => webhooks::deliver(services, delivery_id).await,
        Job::JoinAttempt { bot_id, attempt } => join::run_attempt(services, bot_id, *attempt).await,
    }
}
