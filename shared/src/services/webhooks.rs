//! Outgoing webhooks: subscriptions, the state-change envelopes, and signed deliveries with
//! retries through the job queue.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use crate::domain::connection::Connection;
use crate::domain::ids;
use crate::domain::outbound_url::check_outbound_url;
use crate::domain::time::format_timestamp;
use crate::domain::webhook::{Delivery, DeliveryAttempt, DeliveryState, Subscription, Trigger};
use crate::ports::outbound::OutboundRequest;
use crate::ports::queue::Job;
use crate::ports::secrets::EncryptionContext;
use crate::ports::store::{Position, StoreError};
use crate::records::webhooks as records;
use crate::records::{Direction, RecordPage};
use crate::secret::SecretString;
use crate::services::crypto::{open, purpose, seal};
use crate::services::{FieldErrors, ServiceError, Services};
use crate::signing::{canonical_json, sign_body};

/// Time a receiver has to respond to a delivery.
pub const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);

fn secret_context(subscription: &Subscription) -> EncryptionContext {
    EncryptionContext::new(
        &subscription.project_id,
        &subscription.id,
        purpose::SUBSCRIPTION_SECRET,
    )
}

pub async fn create_subscription(
    services: &Services,
    project_id: &str,
    url: &str,
    triggers: Vec<Trigger>,
) -> Result<(Subscription, SecretString), ServiceError> {
    let url = check_outbound_url(url, services.settings.allow_private_urls)
        .await
        .map_err(|error| ServiceError::Invalid(FieldErrors::single("url", error.to_string())))?;
    let secret = SecretString::new(STANDARD.encode(services.ids.bytes(32)));
    let mut subscription = Subscription {
        id: services.ids.object_id(ids::WEBHOOK),
        project_id: project_id.to_owned(),
        url: url.to_string(),
        triggers,
        secret_ciphertext: String::new(),
        created_at: services.clock.now(),
    };
    subscription.secret_ciphertext = seal(
        services.secrets.as_ref(),
        &secret_context(&subscription),
        &secret,
    )
    .await?;
    records::insert_subscription(services.store.as_ref(), &subscription).await?;
    tracing::info!(project_id, subscription_id = %subscription.id, "webhook subscription created");
    Ok((subscription, secret))
}

pub async fn get_subscription(
    services: &Services,
    project_id: &str,
    id: &str,
) -> Result<Subscription, ServiceError> {
    if !ids::has_shape(id, ids::WEBHOOK) {
        return Err(ServiceError::NotFound("Webhook"));
    }
    records::get_subscription(services.store.as_ref(), project_id, id)
        .await?
        .ok_or(ServiceError::NotFound("Webhook"))
}

pub async fn list_subscriptions(
    services: &Services,
    project_id: &str,
    page_size: usize,
    start: Option<(Direction, Position)>,
) -> Result<RecordPage<Subscription>, ServiceError> {
    Ok(records::list_subscriptions(services.store.as_ref(), project_id, page_size, start).await?)
}

pub async fn delete_subscription(
    services: &Services,
    project_id: &str,
    id: &str,
) -> Result<(), ServiceError> {
    let subscription = get_subscription(services, project_id, id).await?;
    records::delete_subscription(services.store.as_ref(), &subscription.id).await?;
    tracing::info!(
        project_id,
        subscription_id = id,
        "webhook subscription deleted"
    );
    Ok(())
}

/// Builds the `data` of a connection state change.
pub fn connection_state_data(connection: &Connection) -> Value {
    json!({
        "state": connection.state.as_str(),
        "connection_failure_data": connection.failure_json(),
        "last_successful_sync_at": connection.last_successful_sync_at.map(format_timestamp),
        "last_attempted_sync_at": connection.last_attempted_sync_at.map(format_timestamp),
    })
}

/// Queues a `zoom_oauth_connection.state_change` delivery to every subscriber. Callers
/// call it once per transition they wrote; failures are logged, never returned, because
/// the transition itself already happened.
pub async fn connection_state_changed(services: &Services, connection: &Connection) {
    let envelope_fields = json!({
        "trigger": Trigger::ConnectionStateChange.as_str(),
        "zoom_oauth_connection_id": connection.id,
        "zoom_oauth_connection_metadata": connection.metadata.as_ref().map(|m| m.to_json()),
        "user_id": connection.user_id,
        "account_id": connection.account_id,
        "data": connection_state_data(connection),
    });
    emit(
        services,
        &connection.project_id,
        Trigger::ConnectionStateChange,
        envelope_fields,
    )
    .await;
}

/// Queues a delivery of `envelope_fields` (the envelope without `idempotency_key`) to every
/// subscriber of `trigger`. Returns the number of deliveries queued.
pub async fn emit(
    services: &Services,
    project_id: &str,
    trigger: Trigger,
    envelope_fields: Value,
) -> usize {
    let subscribers = match records::subscribers(services.store.as_ref(), project_id, trigger).await
    {
        Ok(subscribers) => subscribers,
        Err(error) => {
            tracing::error!(project_id, trigger = trigger.as_str(), %error, "reading webhook subscriptions failed; no delivery queued");
            return 0;
        }
    };
    let mut queued = 0;
    for subscription in subscribers {
        let delivery_id = services.ids.object_id(ids::DELIVERY);
        let mut envelope = envelope_fields.clone();
        envelope["idempotency_key"] = Value::String(delivery_id.clone());
        let delivery = Delivery {
            id: delivery_id.clone(),
            project_id: project_id.to_owned(),
            subscription_id: subscription.id.clone(),
            trigger,
            envelope,
            state: DeliveryState::Pending,
            attempts: Vec::new(),
            created_at: services.clock.now(),
        };
        if let Err(error) = records::insert_delivery(services.store.as_ref(), &delivery).await {
            tracing::error!(project_id, delivery_id, %error, "storing a delivery failed");
            continue;
        }
        let job = Job::Delivery {
            delivery_id: delivery_id.clone(),
        };
        if let Err(error) = services.queue.enqueue(&job, Duration::ZERO).await {
            tracing::error!(project_id, delivery_id, %error, "queueing a delivery failed");
            continue;
        }
        tracing::info!(project_id, delivery_id, subscription_id = %subscription.id, trigger = trigger.as_str(), "delivery queued");
        queued += 1;
    }
    queued
}

/// A pending delivery older than this has outlived every retry delay (at most 900 s each),
/// so its queue message was lost, for example after a failed send to the queue.
pub const LOST_AFTER_MINUTES: i64 = 30;

/// Queues again the pending deliveries that no queue message will run any more. A
/// delivery queued twice is sent once, because each attempt is claimed with a conditional
/// write and a finished delivery is dropped. Returns the number queued.
pub async fn requeue_lost(services: &Services, limit: usize) -> Result<usize, ServiceError> {
    let before = services.clock.now() - chrono::Duration::minutes(LOST_AFTER_MINUTES);
    let lost = records::stale_pending(services.store.as_ref(), before, limit).await?;
    for delivery in &lost {
        let job = Job::Delivery {
            delivery_id: delivery.id.clone(),
        };
        services.queue.enqueue(&job, Duration::ZERO).await?;
        tracing::warn!(delivery_id = %delivery.id, project_id = %delivery.project_id, "pending delivery had no queued job; queued again");
    }
    Ok(lost.len())
}

/// Delay before retry number `attempt` (the first retry is 1): 10 s tripling per retry,
/// at most the queue's 900 s.
pub fn retry_delay(attempt: u32) -> Duration {
    let seconds = 10u64.saturating_mul(3u64.saturating_pow(attempt.saturating_sub(1)));
    Duration::from_secs(seconds.min(900))
}

/// Sends one attempt of a delivery. A dead or slow receiver only delays its own delivery:
/// a failed attempt is re-queued with a delay, and the job itself succeeds.
pub async fn deliver(services: &Services, delivery_id: &str) -> Result<(), ServiceError> {
    let store = services.store.as_ref();
    let Some(stored) = records::get_delivery(store, delivery_id).await? else {
        tracing::warn!(delivery_id, "delivery not found; dropping the job");
        return Ok(());
    };
    let mut delivery = stored.value;
    if delivery.state != DeliveryState::Pending {
        tracing::info!(delivery_id, state = ?delivery.state, "delivery already finished; dropping the job");
        return Ok(());
    }

    let Some(subscription) =
        records::get_subscription(store, &delivery.project_id, &delivery.subscription_id).await?
    else {
        delivery.state = DeliveryState::Failed;
        records::update_delivery(store, &delivery, stored.version).await?;
        tracing::info!(delivery_id, "subscription deleted; delivery abandoned");
        return Ok(());
    };

    // Claim the attempt before sending, so a racing worker with the same job finds a newer
    // version and sends nothing.
    delivery.attempts.push(DeliveryAttempt {
        at: services.clock.now(),
        status: None,
        error: Some("in flight".into()),
    });
    let claimed = match records::update_delivery(store, &delivery, stored.version).await {
        Ok(version) => version,
        Err(StoreError::ConditionFailed) => {
            tracing::info!(delivery_id, "delivery claimed by another worker");
            return Ok(());
        }
        Err(error) => return Err(error.into()),
    };

    let outcome = send(services, &subscription, &delivery.envelope).await;
    let attempt_number = delivery.attempts.len() as u32;
    let last = delivery
        .attempts
        .last_mut()
        .expect("an attempt was just pushed");
    match &outcome {
        Ok(status) => {
            last.status = Some(*status);
            last.error = None;
        }
        Err(error) => last.error = Some(error.clone()),
    }
    let succeeded = matches!(outcome, Ok(status) if (200..300).contains(&status));
    let max_attempts = services.settings.delivery_max_attempts;
    delivery.state = if succeeded {
        DeliveryState::Delivered
    } else if attempt_number >= max_attempts {
        DeliveryState::Failed
    } else {
        DeliveryState::Pending
    };
    records::update_delivery(store, &delivery, claimed).await?;

    match delivery.state {
        DeliveryState::Delivered => {
            tracing::info!(delivery_id, attempt = attempt_number, "delivery succeeded")
        }
        DeliveryState::Failed => {
            tracing::warn!(delivery_id, attempt = attempt_number, outcome = ?outcome, "delivery failed for good")
        }
        DeliveryState::Pending => {
            let delay = retry_delay(attempt_number);
            tracing::warn!(delivery_id, attempt = attempt_number, outcome = ?outcome, retry_in_seconds = delay.as_secs(), "delivery failed; retrying");
            services
                .queue
                .enqueue(
                    &Job::Delivery {
                        delivery_id: delivery_id.to_owned(),
                    },
                    delay,
                )
                .await?;
        }
    }
    Ok(())
}

async fn send(
    services: &Services,
    subscription: &Subscription,
    envelope: &Value,
) -> Result<u16, String> {
    let secret = open(
        services.secrets.as_ref(),
        &secret_context(subscription),
        &subscription.secret_ciphertext,
    )
    .await
    .map_err(|error| error.to_string())?;
    let key = STANDARD
        .decode(secret.expose())
        .map_err(|_| "stored subscription secret is not base64".to_owned())?;
    let body = canonical_json(envelope);
    let signature = sign_body(&key, &body);
    let request = OutboundRequest {
        url: subscription.url.clone(),
        body,
        headers: vec![("X-Webhook-Signature".into(), signature)],
        timeout: DELIVERY_TIMEOUT,
        customer_url: true,
    };
    services
        .outbound
        .post(request)
        .await
        .map(|response| response.status)
        .map_err(|error| error.to_string())
}
