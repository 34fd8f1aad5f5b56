//! Each HTTP function's Lambda handler driven by real API Gateway HTTP API (payload 2.0)
//! events, and the SQS consumers by real SQS event JSON, with DynamoDB, KMS and SQS served
//! by moto. Run through `infra/scripts/with-moto.sh`.

mod support;

use std::time::Duration;

use integration_tests::runner_fake::WebhookReceiver;
use integration_tests::zoom_emulator::{ZoomEmulator, ZoomUserSpec};
use serde_json::{Value, json};
use shared::http::Function;
use shared::records::connections as connection_records;
use shared::services::{projects, tokens};
use support::*;

const CLIENT_ID: &str = "lambda-client";
const CLIENT_SECRET: &str = "lambda-client-secret-0c1d";
const WEBHOOK_SECRET: &str = "lambda-webhook-secret";
const REDIRECT_URI: &str = "https://customer.example/zoom/callback";
const SCOPES: &[&str] = &["user:read:user", "user:read:token"];

struct Harness {
    emulator: ZoomEmulator,
    backend: MotoBackend,
    services: shared::services::Services,
    api_key: String,
    app_id: String,
}

async fn harness() -> Harness {
    let emulator = ZoomEmulator::start().await;
    emulator.register_app(CLIENT_ID, CLIENT_SECRET);
    let backend = MotoBackend::create().await;
    let services = backend.services(&emulator, settings());
    let project = projects::create_project(&services, "lambda").await.unwrap();
    let api_key = project.api_key.expose().to_owned();

    let event = http_event(
        "POST",
        "/api/v1/zoom_oauth_apps",
        Some(&api_key),
        Some(
            &json!({"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "webhook_secret": WEBHOOK_SECRET}),
        ),
    );
    let (status, app) = invoke(&services, Function::ManageApps, &event).await;
    assert_eq!(status, 201, "{app}");
    assert_eq!(
        app["webhook_url"],
        format!(
            "{PUBLIC_BASE_URL}/external_webhooks/zoom/oauth_apps/{}",
            app["id"].as_str().unwrap()
        )
    );
    Harness {
        app_id: app["id"].as_str().unwrap().to_owned(),
        emulator,
        backend,
        services,
        api_key,
    }
}

impl Harness {
    async fn connect(&self, user_id: &str) -> Value {
        self.emulator.add_user(ZoomUserSpec::active(user_id));
        let code = self
            .emulator
            .issue_code(CLIENT_ID, user_id, REDIRECT_URI, SCOPES, None);
        let body = json!({
            "authorization_code": code,
            "redirect_uri": REDIRECT_URI,
            "is_local_recording_token_supported": false,
            "is_onbehalf_token_supported": true,
        });
        let event = http_event(
            "POST",
            "/api/v1/zoom_oauth_connections",
            Some(&self.api_key),
            Some(&body),
        );
        let (status, connection) = invoke(&self.services, Function::OauthCallback, &event).await;
        assert_eq!(status, 201, "{connection}");
        connection
    }
}

fn ids(page: &Value) -> Vec<String> {
    page["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn connections_create_list_two_pages_delete() {
    let h = harness().await;
    let mut created = Vec::new();
    for index in 0..3 {
        created.push(
            h.connect(&format!("uLambda{index:015}")).await["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    created.reverse();

    let event = http_event(
        "GET",
        "/api/v1/zoom_oauth_connections?page_size=2",
        Some(&h.api_key),
        None,
    );
    let (status, first) = invoke(&h.services, Function::ListConnections, &event).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(ids(&first), created[0..2]);
    let next = first["next"].as_str().unwrap();
    assert!(next.starts_with(PUBLIC_BASE_URL), "{next}");
    let next_path = next.strip_prefix(PUBLIC_BASE_URL).unwrap();
    let (status, second) = invoke(
        &h.services,
        Function::ListConnections,
        &http_event("GET", next_path, Some(&h.api_key), None),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(ids(&second), created[2..3]);
    assert_eq!(second["next"], Value::Null);

    let path = format!("/api/v1/zoom_oauth_connections/{}", created[0]);
    let (status, fetched) = invoke(
        &h.services,
        Function::ListConnections,
        &http_event("GET", &path, Some(&h.api_key), None),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(fetched["state"], "connected");

    let (status, _) = invoke(
        &h.services,
        Function::ListConnections,
        &http_event("DELETE", &path, Some(&h.api_key), None),
    )
    .await;
    assert_eq!(status, 200);
    let (status, body) = invoke(
        &h.services,
        Function::ListConnections,
        &http_event("GET", &path, Some(&h.api_key), None),
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(body["error"], "Zoom OAuth Connection not found");
    assert_eq!(
        h.emulator.revoked_tokens().len(),
        1,
        "the deleted connection's token is revoked at Zoom"
    );

    // A function serves only its own routes.
    let (status, _) = invoke(
        &h.services,
        Function::OauthCallback,
        &http_event(
            "GET",
            "/api/v1/zoom_oauth_connections",
            Some(&h.api_key),
            None,
        ),
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = invoke(
        &h.services,
        Function::ListConnections,
        &http_event("GET", "/api/v1/zoom_oauth_connections", None, None),
    )
    .await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn zoom_webhook_function_verifies_and_validates() {
    let h = harness().await;
    let body = r#"{"payload":{"plainToken":"abc"},"event_ts":1765119500000,"event":"endpoint.url_validation"}"#;
    let timestamp = chrono::Utc::now().timestamp().to_string();
    let signature =
        shared::signing::zoom_signature(WEBHOOK_SECRET.as_bytes(), &timestamp, body.as_bytes());
    let path = format!("/external_webhooks/zoom/oauth_apps/{}", h.app_id);
    let mut event: Value = serde_json::from_str(&http_event("POST", &path, None, None)).unwrap();
    event["body"] = json!(body);
    event["headers"]["x-zm-request-timestamp"] = json!(timestamp);
    event["headers"]["x-zm-signature"] = json!(signature);
    let (status, answer) = invoke(&h.services, Function::ZoomWebhook, &event.to_string()).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["plainToken"], "abc");
    assert_eq!(
        answer["encryptedToken"],
        shared::signing::zoom_url_validation_token(WEBHOOK_SECRET.as_bytes(), "abc")
    );

    event["headers"]["x-zm-signature"] = json!("v0=00");
    let (status, _) = invoke(&h.services, Function::ZoomWebhook, &event.to_string()).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn concurrent_disconnects_have_one_winner() {
    let h = harness().await;
    let connection = h.connect("uRace000000000000000001").await;
    let id = connection["id"].as_str().unwrap();
    let receiver = WebhookReceiver::start_unverified().await;
    let (status, subscription) = invoke(
        &h.services,
        Function::ManageApps,
        &http_event(
            "POST",
            "/api/v1/webhooks",
            Some(&h.api_key),
            Some(
                &json!({"url": receiver.url(), "triggers": ["zoom_oauth_connection.state_change"]}),
            ),
        ),
    )
    .await;
    assert_eq!(status, 201, "{subscription}");
    receiver.set_secret(subscription["secret"].as_str().unwrap());

    let (first, second) = tokio::join!(
        tokens::disconnect(&h.services, id, "invalid_grant: Invalid Token!"),
        tokens::disconnect(&h.services, id, "app_deauthorized"),
    );
    let winners = [first.unwrap(), second.unwrap()]
        .iter()
        .filter(|won| **won)
        .count();
    assert_eq!(winners, 1);
    let stored = connection_records::get_any(h.services.store.as_ref(), id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        stored.value.state,
        shared::domain::connection::ConnectionState::Disconnected
    );
    assert_eq!(
        stored.value.user_id, "uRace000000000000000001",
        "no field lost"
    );
    assert!(stored.value.is_onbehalf_token_supported, "no field lost");

    // Exactly one delivery was queued; the webhook-sender handler sends it, signed.
    let event = h
        .backend
        .receive_event(&h.backend.queues.deliveries, 2)
        .await;
    assert_eq!(event["Records"].as_array().unwrap().len(), 1, "{event}");
    let sqs_event = serde_json::from_value(event).expect("SQS event JSON parses");
    let response = shared::runtime::handle_sqs(&h.services, sqs_event).await;
    assert!(response.batch_item_failures.is_empty());
    let deliveries = receiver
        .wait_for_deliveries(1, Duration::from_secs(5))
        .await;
    assert!(deliveries[0].signature_valid);
    assert_eq!(
        deliveries[0].body["trigger"],
        "zoom_oauth_connection.state_change"
    );
    assert_eq!(deliveries[0].body["zoom_oauth_connection_id"], id);
    assert_eq!(deliveries[0].body["data"]["state"], "disconnected");
    let again = h
        .backend
        .receive_event(&h.backend.queues.deliveries, 1)
        .await;
    assert_eq!(again["Records"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn concurrent_connection_updates_leave_one_winner() {
    let h = harness().await;
    let connection = h.connect("uUpdate00000000000000001").await;
    let id = connection["id"].as_str().unwrap();
    let store = h.services.store.as_ref();
    let stored = connection_records::get_any(store, id)
        .await
        .unwrap()
        .unwrap();

    let mut left = stored.value.clone();
    left.metadata = Some(serde_json::from_value(json!({"writer": "left"})).unwrap());
    let mut right = stored.value.clone();
    right.is_local_recording_token_supported = true;
    let (a, b) = tokio::join!(
        connection_records::update(store, &left, stored.version),
        connection_records::update(store, &right, stored.version),
    );
    assert_eq!([a.is_ok(), b.is_ok()].iter().filter(|ok| **ok).count(), 1);
    let after = connection_records::get_any(store, id)
        .await
        .unwrap()
        .unwrap()
        .value;
    let expected = if a.is_ok() { &left } else { &right };
    assert_eq!(after.metadata, expected.metadata);
    assert_eq!(
        after.is_local_recording_token_supported,
        expected.is_local_recording_token_supported
    );
    assert_eq!(after.user_id, stored.value.user_id);
}

#[tokio::test]
async fn sqs_consumer_reports_poison_messages() {
    let h = harness().await;
    h.backend
        .sqs
        .send_message()
        .queue_url(&h.backend.queues.deliveries)
        .message_body("{not a job")
        .send()
        .await
        .unwrap();
    let event = h
        .backend
        .receive_event(&h.backend.queues.deliveries, 2)
        .await;
    let message_id = event["Records"][0]["messageId"]
        .as_str()
        .unwrap()
        .to_owned();
    let response =
        shared::runtime::handle_sqs(&h.services, serde_json::from_value(event).unwrap()).await;
    assert_eq!(response.batch_item_failures.len(), 1);
    assert_eq!(response.batch_item_failures[0].item_identifier, message_id);
}
