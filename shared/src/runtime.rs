//! Start-up of a Lambda function: JSON logs, configuration, AWS clients built once per
//! cold start, and the runtime loop for HTTP, SQS and scheduled events.

use std::sync::Arc;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{LambdaEvent, service_fn};

use crate::adapters::aws::load_sdk_config;
use crate::adapters::dynamodb::DynamoStore;
use crate::adapters::kms::KmsSecretBox;
use crate::adapters::outbound_http::ReqwestOutbound;
use crate::adapters::sqs::SqsQueue;
use crate::adapters::zoom_http::ZoomHttp;
use crate::config::LambdaConfig;
use crate::http::Function;
use crate::lambda_sqs::{JobFailure, handle_batch};
use crate::ports::clock::{RandomIds, SystemClock};
use crate::services::Services;
use crate::services::jobs::run_job;

pub type Error = lambda_runtime::Error;

/// Builds the AWS-backed services from `config`.
pub async fn aws_services(config: &LambdaConfig) -> Result<Services, Error> {
    let sdk = load_sdk_config(&config.aws).await;
    Ok(Services {
        store: Arc::new(DynamoStore::new(
            aws_sdk_dynamodb::Client::new(&sdk),
            &config.table_name,
        )),
        secrets: Arc::new(KmsSecretBox::new(
            aws_sdk_kms::Client::new(&sdk),
            &config.kms_key_id,
        )),
        queue: Arc::new(SqsQueue::new(
            aws_sdk_sqs::Client::new(&sdk),
            config.queues.clone(),
        )),
        zoom: Arc::new(ZoomHttp::new(
            &config.settings.zoom_oauth_base_url,
            &config.zoom_api_base_url,
        )?),
        outbound: Arc::new(ReqwestOutbound::new(config.settings.allow_private_urls)?),
        clock: Arc::new(SystemClock),
        ids: Arc::new(RandomIds),
        settings: config.settings.clone(),
    })
}

/// Sets up logging and reads the configuration; a bad configuration ends the process with
/// one message listing every problem.
pub async fn start() -> Result<Services, Error> {
    crate::telemetry::init_json();
    let config = LambdaConfig::from_env().map_err(|errors| {
        let message = format!("invalid configuration: {}", errors.join("; "));
        tracing::error!(problems = %message, "start-up failed");
        Error::from(message)
    })?;
    aws_services(&config).await
}

/// Runs an HTTP function (API Gateway HTTP API or function URL events).
pub async fn run_http(function: Function) -> Result<(), Error> {
    let services = start().await?;
    crate::http::lambda::run(services, function).await
}

/// Handles one SQS batch: each message is one job; failures are reported per item.
pub async fn handle_sqs(services: &Services, event: SqsEvent) -> SqsBatchResponse {
    handle_batch(event, |job, info| async move {
        tracing::info!(message_id = %info.message_id, receive_count = info.receive_count, job = ?job, "job received");
        run_job(services, &job).await.map_err(|error| JobFailure::new(error.to_string()))
    })
    .await
}

/// Runs an SQS-triggered function with partial batch responses.
pub async fn run_sqs() -> Result<(), Error> {
    let services = start().await?;
    let services = &services;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<_, Error>(handle_sqs(services, event.payload).await)
    }))
    .await
}
