//! Contract of the `JobQueue` port, plus the SQS message format and redrive policy that
//! the Lambda consumers rely on.

use std::time::{Duration, Instant};

use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use shared::adapters::sqlite::{SqliteDb, SqliteQueue};
use shared::adapters::sqs::{KIND_ATTRIBUTE, QueueUrls, SqsQueue};
use shared::ports::queue::{Job, JobQueue, MAX_DELAY, QueueError};

use crate::{moto_config, unique_name};

/// Visibility timeout of test receives on the embedded queue. Jobs are acknowledged at
/// once, so it only has to outlast the test.
const EMBEDDED_VISIBILITY: Duration = Duration::from_secs(60);

/// The consumer side of a backend, which the port leaves to each backend.
enum Receiver {
    Embedded(SqliteQueue),
    Sqs {
        client: aws_sdk_sqs::Client,
        urls: QueueUrls,
    },
}

impl Receiver {
    /// Receives every job that is due now and deletes it from the queue.
    async fn take_due(&self) -> Vec<Job> {
        match self {
            Receiver::Embedded(queue) => {
                let mut jobs = Vec::new();
                for received in queue.receive(10, EMBEDDED_VISIBILITY).expect("receive") {
                    queue.acknowledge(received.receipt).expect("acknowledge");
                    jobs.push(received.job.expect("valid job body"));
                }
                jobs
            }
            Receiver::Sqs { client, urls } => {
                let mut jobs = Vec::new();
                for url in [&urls.join_attempts, &urls.deliveries] {
                    let output = client
                        .receive_message()
                        .queue_url(url)
                        .max_number_of_messages(10)
                        .wait_time_seconds(0)
                        .send()
                        .await
                        .expect("ReceiveMessage");
                    for message in output.messages() {
                        client
                            .delete_message()
                            .queue_url(url)
                            .receipt_handle(message.receipt_handle().expect("receipt handle"))
                            .send()
                            .await
                            .expect("DeleteMessage");
                        let body = message.body().expect("message body");
                        jobs.push(serde_json::from_str(body).expect("valid job body"));
                    }
                }
                jobs
            }
        }
    }
}

fn embedded() -> (SqliteQueue, Receiver) {
    let db = SqliteDb::in_memory().expect("in-memory SQLite database");
    (db.queue(), Receiver::Embedded(db.queue()))
}

async fn create_queue(
    client: &aws_sdk_sqs::Client,
    name: &str,
    redrive_policy: Option<String>,
) -> String {
    let output = client
        .create_queue()
        .queue_name(name)
        .set_attributes(redrive_policy.map(|policy| {
            [(QueueAttributeName::RedrivePolicy, policy)]
                .into_iter()
                .collect()
        }))
        .send()
        .await
        .unwrap_or_else(|error| panic!("creating queue {name} on moto failed: {error:?}"));
    output.queue_url().expect("queue URL").to_owned()
}

async fn sqs_client() -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::new(&moto_config().await)
}

async fn sqs() -> (SqsQueue, Receiver) {
    let client = sqs_client().await;
    let urls = QueueUrls {
        join_attempts: create_queue(&client, &unique_name("join-attempts"), None).await,
        deliveries: create_queue(&client, &unique_name("deliveries"), None).await,
    };
    (
        SqsQueue::new(client.clone(), urls.clone()),
        Receiver::Sqs { client, urls },
    )
}

/// Runs the contract `$name` against each backend, as the tests `$name::embedded` and
/// `$name::sqs`.
macro_rules! queue_contract {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test]
                async fn embedded() {
                    let (queue, receiver) = super::embedded();
                    super::$name(&queue, &receiver).await;
                }

                #[tokio::test]
                async fn sqs() {
                    let (queue, receiver) = super::sqs().await;
                    super::$name(&queue, &receiver).await;
                }
            }
        )*
    };
}

queue_contract!(delayed_job_becomes_due_later, delay_over_maximum_rejected);

async fn delayed_job_becomes_due_later(queue: &dyn JobQueue, receiver: &Receiver) {
    let immediate = Job::JoinAttempt {
        bot_id: "bot-1".to_owned(),
        attempt: 1,
    };
    let delayed = Job::Delivery {
        delivery_id: "delivery-1".to_owned(),
    };
    let start = Instant::now();
    queue
        .enqueue(&immediate, Duration::ZERO)
        .await
        .expect("enqueue without delay");
    queue
        .enqueue(&delayed, Duration::from_secs(2))
        .await
        .expect("enqueue with 2 s delay");

    let first = receiver.take_due().await;
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "the first receive came too late to see the delay: {:?}",
        start.elapsed()
    );
    assert_eq!(first, [immediate]);

    // Poll every 200 ms for up to 6 s.
    let mut later = Vec::new();
    while later.is_empty() && start.elapsed() < Duration::from_secs(6) {
        tokio::time::sleep(Duration::from_millis(200)).await;
        later = receiver.take_due().await;
    }
    let elapsed = start.elapsed();
    assert_eq!(later, [delayed], "after {elapsed:?}");
    // The embedded queue compares wall-clock milliseconds, which may run a little apart
    // from the monotonic clock measured here.
    assert!(
        elapsed >= Duration::from_millis(1_900),
        "delayed job was due after {elapsed:?}"
    );
    assert!(
        receiver.take_due().await.is_empty(),
        "a job was received twice"
    );
}

async fn delay_over_maximum_rejected(queue: &dyn JobQueue, receiver: &Receiver) {
    let job = Job::JoinAttempt {
        bot_id: "bot-2".to_owned(),
        attempt: 3,
    };

    for delay in [
        MAX_DELAY + Duration::from_millis(1),
        Duration::from_secs(901),
    ] {
        let result = queue.enqueue(&job, delay).await;
        assert!(
            matches!(result, Err(QueueError::DelayTooLong(rejected)) if rejected == delay),
            "delay {delay:?}: {result:?}"
        );
    }
    queue
        .enqueue(&job, MAX_DELAY)
        .await
        .expect("the maximum delay is accepted");
    assert!(
        receiver.take_due().await.is_empty(),
        "a job delayed by 900 s was due at once"
    );
}

#[tokio::test]
async fn sqs_messages_carry_kind_attribute() {
    let (queue, receiver) = sqs().await;
    let Receiver::Sqs { client, urls } = receiver else {
        unreachable!("sqs() returns an SQS receiver");
    };
    let jobs = [
        Job::JoinAttempt {
            bot_id: "bot-3".to_owned(),
            attempt: 2,
        },
        Job::Delivery {
            delivery_id: "delivery-3".to_owned(),
        },
    ];

    for job in &jobs {
        queue.enqueue(job, Duration::ZERO).await.expect("enqueue");
    }

    for job in &jobs {
        let url = urls.for_kind(job.kind());
        let output = client
            .receive_message()
            .queue_url(url)
            .message_attribute_names("All")
            .max_number_of_messages(10)
            .send()
            .await
            .expect("ReceiveMessage");
        let messages = output.messages();
        assert_eq!(
            messages.len(),
            1,
            "messages on the {} queue",
            job.kind().as_str()
        );
        let message = &messages[0];
        let kind = message
            .message_attributes()
            .and_then(|attributes| attributes.get(KIND_ATTRIBUTE))
            .expect("kind attribute");
        assert_eq!(kind.data_type(), "String");
        assert_eq!(kind.string_value(), Some(job.kind().as_str()));
        let body: Job = serde_json::from_str(message.body().expect("body")).expect("job body");
        assert_eq!(&body, job);
    }
}

#[tokio::test]
async fn sqs_redrive_moves_message_to_dead_letter_queue() {
    let client = sqs_client().await;
    let dead_letter_url = create_queue(&client, &unique_name("dead-letters"), None).await;
    let attributes = client
        .get_queue_attributes()
        .queue_url(&dead_letter_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("GetQueueAttributes");
    let dead_letter_arn = attributes
        .attributes()
        .and_then(|attributes| attributes.get(&QueueAttributeName::QueueArn))
        .expect("queue ARN")
        .clone();
    let redrive_policy = serde_json::json!({
        "deadLetterTargetArn": dead_letter_arn,
        "maxReceiveCount": "2",
    })
    .to_string();
    let url = create_queue(&client, &unique_name("join-attempts"), Some(redrive_policy)).await;
    let queue = SqsQueue::new(
        client.clone(),
        QueueUrls {
            join_attempts: url.clone(),
            deliveries: url.clone(),
        },
    );
    let job = Job::JoinAttempt {
        bot_id: "bot-4".to_owned(),
        attempt: 1,
    };
    queue.enqueue(&job, Duration::ZERO).await.expect("enqueue");

    // A visibility timeout of 0 returns the message to the queue at once, as a failed
    // Lambda invocation does after its visibility timeout.
    for expected_count in ["1", "2"] {
        let output = client
            .receive_message()
            .queue_url(&url)
            .visibility_timeout(0)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await
            .expect("ReceiveMessage");
        let messages = output.messages();
        assert_eq!(messages.len(), 1, "receive number {expected_count}");
        let count = messages[0]
            .attributes()
            .and_then(|attributes| {
                attributes.get(&MessageSystemAttributeName::ApproximateReceiveCount)
            })
            .map(String::as_str);
        assert_eq!(count, Some(expected_count));
    }

    let third = client
        .receive_message()
        .queue_url(&url)
        .send()
        .await
        .expect("ReceiveMessage");
    assert!(
        third.messages().is_empty(),
        "the message stayed after 2 receives"
    );

    let dead = client
        .receive_message()
        .queue_url(&dead_letter_url)
        .send()
        .await
        .expect("ReceiveMessage on the dead-letter queue");
    let messages = dead.messages();
    assert_eq!(messages.len(), 1, "messages in the dead-letter queue");
    let body: Job = serde_json::from_str(messages[0].body().expect("body")).expect("job body");
    assert_eq!(body, job);
}
