//! The AWS backend on a moto server, the Zoom emulator, and real Lambda event JSON for
//! driving function handlers in-process.

#![allow(dead_code)]

use std::sync::Arc;

use aws_config::SdkConfig;
use integration_tests::zoom_emulator::ZoomEmulator;
use serde_json::{Value, json};
use shared::adapters::aws::sdk_config_for_endpoint;
use shared::adapters::dynamodb::{DynamoStore, create_table};
use shared::adapters::kms::KmsSecretBox;
use shared::adapters::outbound_http::ReqwestOutbound;
use shared::adapters::sqs::{QueueUrls, SqsQueue};
use shared::adapters::zoom_http::ZoomHttp;
use shared::ports::clock::{RandomIds, SystemClock};
use shared::services::{Services, Settings};

pub const PUBLIC_BASE_URL: &str = "https://obf.example.com";

pub fn moto_endpoint() -> String {
    match std::env::var("MOTO_ENDPOINT") {
        Ok(endpoint) if !endpoint.is_empty() => endpoint,
        _ => panic!(
            "MOTO_ENDPOINT is not set. Run the tests through the moto wrapper: \
             infra/scripts/with-moto.sh cargo test -p integration-tests"
        ),
    }
}

pub fn unique_name(prefix: &str) -> String {
    format!("{prefix}-{:016x}", rand::random::<u64>())
}

/// A fresh table, KMS key and pair of queues (each with a dead-letter queue) on moto.
pub struct MotoBackend {
    pub sdk: SdkConfig,
    pub table: String,
    pub key_id: String,
    pub queues: QueueUrls,
    pub sqs: aws_sdk_sqs::Client,
}

impl MotoBackend {
    pub async fn create() -> Self {
        let sdk = sdk_config_for_endpoint(&moto_endpoint()).await;
        let dynamo = aws_sdk_dynamodb::Client::new(&sdk);
        let table = unique_name("records");
        create_table(&dynamo, &table)
            .await
            .expect("create table on moto");

        let kms = aws_sdk_kms::Client::new(&sdk);
        let key = kms
            .create_key()
            .send()
            .await
            .expect("create KMS key on moto");
        let key_id = key.key_metadata().unwrap().key_id().to_owned();

        let sqs = aws_sdk_sqs::Client::new(&sdk);
        let mut urls = Vec::new();
        for name in ["join", "delivery"] {
            let dead_letter = sqs
                .create_queue()
                .queue_name(unique_name(&format!("{name}-dlq")))
                .send()
                .await
                .unwrap();
            let dead_letter_url = dead_letter.queue_url().unwrap().to_owned();
            let attributes = sqs
                .get_queue_attributes()
                .queue_url(&dead_letter_url)
                .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
                .send()
                .await
                .unwrap();
            let arn = attributes.attributes().unwrap()
                [&aws_sdk_sqs::types::QueueAttributeName::QueueArn]
                .clone();
            let queue = sqs
                .create_queue()
                .queue_name(unique_name(name))
                .attributes(
                    aws_sdk_sqs::types::QueueAttributeName::RedrivePolicy,
                    json!({"deadLetterTargetArn": arn, "maxReceiveCount": "3"}).to_string(),
                )
                .attributes(
                    aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout,
                    "1",
                )
                .send()
                .await
                .unwrap();
            urls.push(queue.queue_url().unwrap().to_owned());
        }
        let queues = QueueUrls {
            join_attempts: urls[0].clone(),
            deliveries: urls[1].clone(),
        };
        Self {
            sdk,
            table,
            key_id,
            queues,
            sqs,
        }
    }

    pub fn services(&self, emulator: &ZoomEmulator, settings: Settings) -> Services {
        Services {
            store: Arc::new(DynamoStore::new(
                aws_sdk_dynamodb::Client::new(&self.sdk),
                &self.table,
            )),
            secrets: Arc::new(KmsSecretBox::new(
                aws_sdk_kms::Client::new(&self.sdk),
                &self.key_id,
            )),
            queue: Arc::new(SqsQueue::new(self.sqs.clone(), self.queues.clone())),
            zoom: Arc::new(ZoomHttp::new(&emulator.base_url(), &emulator.base_url()).unwrap()),
            outbound: Arc::new(ReqwestOutbound::new(true).unwrap()),
            clock: Arc::new(SystemClock),
            ids: Arc::new(RandomIds),
            settings,
        }
    }

    /// Receives up to ten messages of `queue_url` as a Lambda SQS event.
    pub async fn receive_event(&self, queue_url: &str, wait_seconds: i32) -> Value {
        let output = self
            .sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(wait_seconds)
            .message_attribute_names("All")
            .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::All)
            .send()
            .await
            .unwrap();
        let records: Vec<Value> = output
            .messages()
            .iter()
            .map(|message| {
                let attributes: serde_json::Map<String, Value> = message
                    .attributes()
                    .map(|map| {
                        map.iter()
                            .map(|(k, v)| (k.as_str().to_owned(), Value::String(v.clone())))
                            .collect()
                    })
                    .unwrap_or_default();
                json!({
                    "messageId": message.message_id(),
                    "receiptHandle": message.receipt_handle(),
                    "body": message.body(),
                    "attributes": attributes,
                    "messageAttributes": {},
                    "md5OfBody": message.md5_of_body(),
                    "eventSource": "aws:sqs",
                    "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:queue",
                    "awsRegion": "us-east-1"
                })
            })
            .collect();
        json!({ "Records": records })
    }
}

pub fn settings() -> Settings {
    Settings {
        public_base_url: PUBLIC_BASE_URL.into(),
        zoom_oauth_base_url: "http://unused.invalid".into(),
        allow_private_urls: true,
        bot_runner_url: None,
        bot_runner_secret: None,
        delivery_max_attempts: 3,
    }
}

/// Builds an API Gateway HTTP API (payload format 2.0) event, as Lambda receives it.
pub fn http_event(
    method: &str,
    path_and_query: &str,
    api_key: Option<&str>,
    body: Option<&Value>,
) -> String {
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    let mut headers = json!({
        "accept": "application/json",
        "content-type": "application/json",
        "host": "abc123.execute-api.us-east-1.amazonaws.com",
        "user-agent": "integration-test",
        "x-forwarded-proto": "https",
    });
    if let Some(key) = api_key {
        headers["authorization"] = json!(format!("Token {key}"));
    }
    let mut event = json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123",
            "domainName": "abc123.execute-api.us-east-1.amazonaws.com",
            "domainPrefix": "abc123",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.7",
                "userAgent": "integration-test"
            },
            "requestId": format!("req-{:x}", rand::random::<u32>()),
            "routeKey": "$default",
            "stage": "$default",
            "time": "04/Dec/2026:20:00:00 +0000",
            "timeEpoch": 1796414400000u64
        },
        "isBase64Encoded": false
    });
    if !query.is_empty() {
        let params: serde_json::Map<String, Value> = url::form_urlencoded::parse(query.as_bytes())
            .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
            .collect();
        event["queryStringParameters"] = Value::Object(params);
    }
    if let Some(body) = body {
        event["body"] = json!(body.to_string());
    }
    event.to_string()
}

/// Feeds an event through a function's Lambda handler; returns status and JSON body.
pub async fn invoke(
    services: &Services,
    function: shared::http::Function,
    event: &str,
) -> (u16, Value) {
    let request =
        lambda_http::request::from_str(event).expect("event JSON parses as a Lambda HTTP request");
    let response = shared::http::lambda::handle_event(services, function, request).await;
    let status = response.status().as_u16();
    let body = match response.body() {
        lambda_http::Body::Text(text) if !text.is_empty() => serde_json::from_str(text).unwrap(),
        lambda_http::Body::Binary(bytes) if !bytes.is_empty() => {
            serde_json::from_slice(bytes).unwrap()
        }
        _ => Value::Null,
    };
    (status, body)
}
