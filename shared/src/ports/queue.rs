//! The job-queue port: delayed work items. SQS in production (one queue per job kind),
//! a table of due jobs in the embedded backend.

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// SQS rejects a `DelaySeconds` above 900.
pub const MAX_DELAY: Duration = Duration::from_secs(900);

/// A unit of delayed work. The serialized form is the message body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Job {
    /// Join attempt number `attempt` (counting from 1) of a bot.
    JoinAttempt { bot_id: String, attempt: u32 },
    /// One delivery of an outgoing webhook, retried by re-queueing with a delay.
    Delivery { delivery_id: String },
    /// Reconnecting an app's connections after its client secret changed.
    ReviveConnections { app_id: String },
}

impl Job {
    /// Returns the job kind, sent as the `kind` message attribute.
    pub fn kind(&self) -> JobKind {
        match self {
            Job::JoinAttempt { .. } => JobKind::JoinAttempt,
            Job::Delivery { .. } => JobKind::Delivery,
            Job::ReviveConnections { .. } => JobKind::Maintenance,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum JobKind {
    JoinAttempt,
    Delivery,
    /// Occasional background work, consumed with the deliveries.
    Maintenance,
}

impl JobKind {
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::JoinAttempt => "join_attempt",
            JobKind::Delivery => "delivery",
            JobKind::Maintenance => "maintenance",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("delay of {0:?} exceeds the queue maximum of 900 s")]
    DelayTooLong(Duration),
    #[error("queue request failed: {0}")]
    Unavailable(String),
}

#[async_trait]
pub trait JobQueue: Send + Sync {
    /// Makes `job` visible to its consumer after `delay` (0..=900 s).
    async fn enqueue(&self, job: &Job, delay: Duration) -> Result<(), QueueError>;
}
