//! The job-queue port on SQS: one standard queue per job kind, the job as a JSON body and
//! its kind in the `kind` message attribute. The consumer side is `crate::lambda_sqs`.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::types::MessageAttributeValue;

use crate::ports::queue::{Job, JobKind, JobQueue, MAX_DELAY, QueueError};

/// Name of the String message attribute that contains `JobKind::as_str()`.
pub const KIND_ATTRIBUTE: &str = "kind";

/// Queue URL for each job kind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueUrls {
    pub join_attempts: String,
    pub deliveries: String,
}

impl QueueUrls {
    pub fn for_kind(&self, kind: JobKind) -> &str {
        match kind {
            JobKind::JoinAttempt => &self.join_attempts,
            // The webhook sender runs every job kind, and maintenance is rare.
            JobKind::Delivery | JobKind::Maintenance => &self.deliveries,
        }
    }
}

#[derive(Clone, Debug)]
pub struct SqsQueue {
    client: Client,
    urls: QueueUrls,
}

impl SqsQueue {
    pub fn new(client: Client, urls: QueueUrls) -> Self {
        Self { client, urls }
    }
}

/// Converts `delay` to SQS `DelaySeconds`, rounded up to whole seconds so that a job never
/// becomes visible before its delay. Rejects delays over 900 s, the SQS maximum.
pub fn delay_seconds(delay: Duration) -> Result<i32, QueueError> {
    if delay > MAX_DELAY {
        return Err(QueueError::DelayTooLong(delay));
    }
    let seconds = delay.as_secs() + u64::from(delay.subsec_nanos() > 0);
    // At most 900 after the check above, so the conversion cannot fail.
    i32::try_from(seconds).map_err(|_| QueueError::DelayTooLong(delay))
}

#[async_trait]
impl JobQueue for SqsQueue {
    async fn enqueue(&self, job: &Job, delay: Duration) -> Result<(), QueueError> {
        let delay_seconds = delay_seconds(delay)?;
        let body =
            serde_json::to_string(job).map_err(|e| QueueError::Unavailable(e.to_string()))?;
        let kind = MessageAttributeValue::builder()
            .data_type("String")
            .string_value(job.kind().as_str())
            .build()
            .map_err(|e| QueueError::Unavailable(e.to_string()))?;
        self.client
            .send_message()
            .queue_url(self.urls.for_kind(job.kind()))
            .message_body(body)
            .delay_seconds(delay_seconds)
            .message_attributes(KIND_ATTRIBUTE, kind)
            .send()
            .await
            .map_err(|e| QueueError::Unavailable(DisplayErrorContext(e).to_string()))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delay_seconds_rounds_up() {
        let cases = [
            (Duration::ZERO, 0),
            (Duration::from_millis(1), 1),
            (Duration::from_millis(1_000), 1),
            (Duration::from_millis(1_001), 2),
            (Duration::from_secs(899) + Duration::from_nanos(1), 900),
            (MAX_DELAY, 900),
        ];
        for (delay, expected) in cases {
            assert_eq!(delay_seconds(delay).unwrap(), expected, "delay {delay:?}");
        }
    }

    #[test]
    fn delay_seconds_rejects_over_900_seconds() {
        for delay in [
            MAX_DELAY + Duration::from_nanos(1),
            Duration::from_secs(901),
            Duration::MAX,
        ] {
            assert!(
                matches!(delay_seconds(delay), Err(QueueError::DelayTooLong(d)) if d == delay),
                "delay {delay:?}"
            );
        }
    }

    #[test]
    fn queue_urls_select_by_kind() {
        let urls = QueueUrls {
            join_attempts: "join".to_owned(),
            deliveries: "delivery".to_owned(),
        };

        assert_eq!(urls.for_kind(JobKind::JoinAttempt), "join");
        assert_eq!(urls.for_kind(JobKind::Delivery), "delivery");
    }
}
