//! The in-process queue consumer: polls due jobs, runs them, and moves jobs that keep
//! failing to the dead-letter table, as SQS's redrive policy does.

use std::sync::Arc;
use std::time::Duration;

use shared::adapters::sqlite::SqliteQueue;
use shared::services::Services;
use shared::services::jobs::run_job;
use shared::services::keeper;
use tokio::sync::{Semaphore, watch};

const POLL_INTERVAL: Duration = Duration::from_millis(200);
/// A received job stays hidden this long; a worker that dies mid-job releases it then. It
/// exceeds the longest job, a join attempt of up to 30 s token callback plus 30 s runner.
const VISIBILITY_TIMEOUT: Duration = Duration::from_secs(120);
/// Jobs running at once. Each mostly waits on the network, so this bounds open
/// connections rather than CPU.
const MAX_CONCURRENT_JOBS: usize = 32;
/// Receives before a failing job is moved to the dead-letter table.
const MAX_RECEIVES: u32 = 5;
const BATCH_SIZE: usize = 10;
/// How often the keeper runs, as the Lambda deployment's schedule does.
const KEEPER_INTERVAL: Duration = Duration::from_secs(3600);

/// Runs the token keeper once shortly after start and then every hour.
pub async fn run_keeper(services: Arc<Services>, mut shutdown: watch::Receiver<bool>) {
    let mut delay = Duration::from_secs(5);
    loop {
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = shutdown.changed() => return,
        }
        keeper::run(&services).await;
        delay = KEEPER_INTERVAL;
    }
}

/// Polls due jobs and runs up to `MAX_CONCURRENT_JOBS` of them at once, so a slow
/// receiver, runner or token callback of one project delays only its own job.
pub async fn run(services: Arc<Services>, queue: SqliteQueue, mut shutdown: watch::Receiver<bool>) {
    let permits = Arc::new(Semaphore::new(MAX_CONCURRENT_JOBS));
    loop {
        if *shutdown.borrow() {
            break;
        }
        let free = permits.available_permits().min(BATCH_SIZE);
        if free > 0 {
            match queue.receive(free, VISIBILITY_TIMEOUT) {
                Ok(jobs) if !jobs.is_empty() => {
                    for received in jobs {
                        let Ok(permit) = permits.clone().acquire_owned().await else {
                            return;
                        };
                        let services = services.clone();
                        let queue = queue.clone();
                        tokio::spawn(async move {
                            process(&services, &queue, received).await;
                            drop(permit);
                        });
                    }
                    continue;
                }
                Ok(_) => {}
                Err(error) => tracing::error!(%error, "receiving jobs failed"),
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(POLL_INTERVAL) => {}
            _ = shutdown.changed() => {}
        }
    }
    // Let running jobs finish before the process exits.
    let _ = permits.acquire_many(MAX_CONCURRENT_JOBS as u32).await;
}

async fn process(
    services: &Services,
    queue: &SqliteQueue,
    received: shared::adapters::sqlite::ReceivedJob,
) {
    let receipt = received.receipt;
    let outcome = match &received.job {
        Ok(job) => run_job(services, job)
            .await
            .map_err(|error| error.to_string()),
        Err(error) => Err(format!("unreadable job body: {error}")),
    };
    let result = match outcome {
        Ok(()) => queue.acknowledge(receipt),
        Err(error) if received.receive_count >= MAX_RECEIVES => {
            tracing::error!(receipt, receive_count = received.receive_count, %error, "job failed too often; moved to the dead-letter table");
            queue.move_to_dead_letter(receipt)
        }
        Err(error) => {
            tracing::warn!(receipt, receive_count = received.receive_count, %error, "job failed; it runs again after the visibility timeout");
            Ok(())
        }
    };
    if let Err(error) = result {
        tracing::error!(receipt, %error, "updating the job queue failed");
    }
}
