//! The consumer side of the SQS job queues: turns a Lambda SQS event into `Job`s and the
//! handler's results into a partial batch response.
//!
//! The event source mapping must enable `ReportBatchItemFailures`. Lambda then deletes the
//! messages that succeeded, and the failed ones become visible again after the visibility
//! timeout. The queue's redrive policy moves a message to the dead-letter queue after
//! `maxReceiveCount` receives.

use std::future::Future;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};

use crate::ports::queue::Job;

/// Delivery details of one message, for handlers that act on repeated receives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReceiveInfo {
    pub message_id: String,
    /// SQS `ApproximateReceiveCount`: 1 on the first delivery. It can exceed the number of
    /// handler runs, because a receive that Lambda never passed to a handler still counts.
    pub receive_count: u32,
}

/// A failed job. SQS delivers the message again after its visibility timeout.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct JobFailure {
    pub message: String,
}

impl JobFailure {
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }
}

/// Runs `handler` on every message of `event`, one message after another, and returns a
/// batch response that lists the messages that failed or whose body is not a `Job`.
///
/// Messages run sequentially so the handler's future needs neither `Send` nor `'static`,
/// and a batch puts no more concurrent load on Zoom and DynamoDB than one job does. The
/// event source mapping's batch size therefore bounds the run time: keep it small enough
/// that batch size times the slowest job fits the function timeout.
pub async fn handle_batch<F, Fut>(event: SqsEvent, handler: F) -> SqsBatchResponse
where
    F: Fn(Job, ReceiveInfo) -> Fut,
    Fut: Future<Output = Result<(), JobFailure>>,
{
    let mut response = SqsBatchResponse::default();
    for message in event.records {
        if let Err(message_id) = handle_message(message, &handler).await {
            // SQS always sets a message id. Were one missing, the empty identifier would
            // make Lambda retry the whole batch, which is better than losing the message.
            response.add_failure(message_id);
        }
    }
    response
}

/// Handles one message and returns its id as the error when it must be retried.
async fn handle_message<F, Fut>(message: SqsMessage, handler: &F) -> Result<(), String>
where
    F: Fn(Job, ReceiveInfo) -> Fut,
    Fut: Future<Output = Result<(), JobFailure>>,
{
    let message_id = message.message_id.unwrap_or_default();
    if message_id.is_empty() {
        tracing::error!("SQS message has no message id");
    }
    let receive_count = receive_count(
        &message_id,
        message.attributes.get("ApproximateReceiveCount"),
    );

    // The body is not logged: it is small, but a malformed one could contain anything.
    let body = message.body.unwrap_or_default();
    let job: Job = match serde_json::from_str(&body) {
        Ok(job) => job,
        Err(error) => {
            tracing::error!(
                message_id,
                receive_count,
                body_bytes = body.len(),
                %error,
                "SQS message body is not a valid job, so it will reach the dead-letter queue after maxReceiveCount receives"
            );
            return Err(message_id);
        }
    };

    let kind = job.kind().as_str();
    let info = ReceiveInfo {
        message_id: message_id.clone(),
        receive_count,
    };
    if let Err(error) = handler(job, info).await {
        tracing::error!(
            message_id,
            receive_count,
            kind,
            %error,
            "job failed; SQS will deliver it again after the visibility timeout"
        );
        return Err(message_id);
    }
    Ok(())
}

/// Parses `ApproximateReceiveCount`, falling back to 1 (this receive) when Lambda did not
/// send it or sent something other than a positive integer.
fn receive_count(message_id: &str, attribute: Option<&String>) -> u32 {
    match attribute.map(|value| value.parse::<u32>()) {
        Some(Ok(count)) if count > 0 => count,
        other => {
            tracing::warn!(
                message_id,
                attribute = ?attribute,
                parsed = ?other,
                "ApproximateReceiveCount is missing or invalid; assuming 1"
            );
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    fn record(message_id: &str, body: &str, receive_count: &str) -> serde_json::Value {
        serde_json::json!({
            "messageId": message_id,
            "receiptHandle": format!("receipt-{message_id}"),
            "body": body,
            "attributes": {
                "ApproximateReceiveCount": receive_count,
                "SentTimestamp": "1700000000000",
                "SenderId": "AIDAEXAMPLE",
                "ApproximateFirstReceiveTimestamp": "1700000000001"
            },
            "messageAttributes": {
                "kind": {"stringValue": "join_attempt", "dataType": "String"}
            },
            "md5OfBody": "00000000000000000000000000000000",
            "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:join-attempts",
            "awsRegion": "us-east-1"
        })
    }

    fn event(records: Vec<serde_json::Value>) -> SqsEvent {
        serde_json::from_value(serde_json::json!({ "Records": records })).unwrap()
    }

    fn failed_ids(response: &SqsBatchResponse) -> Vec<&str> {
        response
            .batch_item_failures
            .iter()
            .map(|failure| failure.item_identifier.as_str())
            .collect()
    }

    #[tokio::test]
    async fn handle_batch_reports_failed_and_invalid_messages() {
        let succeeding = Job::JoinAttempt {
            bot_id: "bot-1".to_owned(),
            attempt: 1,
        };
        let failing = Job::Delivery {
            delivery_id: "delivery-1".to_owned(),
        };
        let event = event(vec![
            record("m-ok", &serde_json::to_string(&succeeding).unwrap(), "1"),
            record("m-fail", &serde_json::to_string(&failing).unwrap(), "3"),
            record("m-invalid", "{\"kind\":\"unknown\"}", "2"),
        ]);
        let calls = Mutex::new(Vec::new());

        let response = handle_batch(event, |job, info| {
            calls.lock().unwrap().push((job.clone(), info));
            async move {
                match job {
                    Job::Delivery { .. } => Err(JobFailure::new("endpoint returned 503")),
                    Job::JoinAttempt { .. } | Job::ReviveConnections { .. } => Ok(()),
                }
            }
        })
        .await;

        assert_eq!(failed_ids(&response), ["m-fail", "m-invalid"]);
        let calls = calls.into_inner().unwrap();
        assert_eq!(
            calls.len(),
            2,
            "the invalid body must not reach the handler"
        );
        assert_eq!(
            calls[0],
            (
                succeeding,
                ReceiveInfo {
                    message_id: "m-ok".to_owned(),
                    receive_count: 1
                }
            )
        );
        assert_eq!(
            calls[1],
            (
                failing,
                ReceiveInfo {
                    message_id: "m-fail".to_owned(),
                    receive_count: 3
                }
            )
        );
    }

    #[tokio::test]
    async fn handle_batch_of_successes_reports_nothing() {
        let job = Job::JoinAttempt {
            bot_id: "bot-2".to_owned(),
            attempt: 2,
        };
        let body = serde_json::to_string(&job).unwrap();
        let event = event(vec![record("a", &body, "1"), record("b", &body, "1")]);

        let response = handle_batch(event, |_, _| async { Ok(()) }).await;

        assert!(response.batch_item_failures.is_empty());
    }

    #[tokio::test]
    async fn batch_response_json_has_item_identifier() {
        let event = event(vec![record("m-bad", "not json", "1")]);

        let response = handle_batch(event, |_, _| async { Ok(()) }).await;

        assert_eq!(
            serde_json::to_value(&response).unwrap(),
            serde_json::json!({"batchItemFailures": [{"itemIdentifier": "m-bad"}]})
        );
    }

    #[test]
    fn receive_count_falls_back_to_one() {
        assert_eq!(receive_count("m", Some(&"4".to_owned())), 4);
        assert_eq!(receive_count("m", None), 1);
        assert_eq!(receive_count("m", Some(&"0".to_owned())), 1);
        assert_eq!(receive_count("m", Some(&"many".to_owned())), 1);
    }
}
