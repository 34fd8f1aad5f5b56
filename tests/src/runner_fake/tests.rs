//! Tests of the runner fake and the webhook receiver over real HTTP.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::{RunnerFake, RunnerReply, SIGNATURE_HEADER, WebhookReceiver, sign};

const RUNNER_SECRET: &str = "runner-secret";

/// Outgoing-webhook vector from `tests/data/outgoing/SIGNATURE.md`: the secret is base64 of
/// the bytes 0x00..=0x1f, and this is the signature of the canonical envelope.
const VECTOR_SECRET: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const VECTOR_SIGNATURE: &str = "pxEyB6yLxAL78Kiww+IiyTyOcmCrxoY5R2sQQ6x8ibE=";
const VECTOR_BODY: &[u8] = include_bytes!("../../data/outgoing/state_change_canonical.json");

fn http() -> reqwest::Client {
    // No proxy, so requests go straight to the loopback server whatever the environment sets.
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("reqwest client builds")
}

async fn post(url: &str, body: &[u8], signature: Option<&str>) -> reqwest::Response {
    let mut request = http()
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_vec());
    if let Some(signature) = signature {
        request = request.header(SIGNATURE_HEADER, signature);
    }
    request.send().await.expect("request is sent")
}

/// Posts `ticket` signed with the runner secret and returns the status and JSON reply.
async fn post_ticket(runner: &RunnerFake, ticket: &Value) -> (StatusCode, Value) {
    let body = serde_json::to_vec(ticket).unwrap();
    let signature = sign(RUNNER_SECRET.as_bytes(), &body);
    let response = post(&runner.url(), &body, Some(&signature)).await;
    let status = response.status();
    let text = response.text().await.unwrap();
    let answer = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap()
    };
    (status, answer)
}

#[test]
fn sign_matches_known_vector() {
    let key =
        base64::Engine::decode(&base64::engine::general_purpose::STANDARD, VECTOR_SECRET).unwrap();

    assert_eq!(sign(&key, VECTOR_BODY), VECTOR_SIGNATURE);
}

#[tokio::test]
async fn runner_follows_script_then_repeats_last() {
    let runner = RunnerFake::start(
        RUNNER_SECRET,
        vec![RunnerReply::not_in_meeting(), RunnerReply::joined()],
    )
    .await;

    let mut answers = Vec::new();
    for attempt in 1..=3 {
        let (status, answer) =
            post_ticket(&runner, &json!({"bot_id": "bot_1", "attempt": attempt})).await;
        assert_eq!(status, StatusCode::OK);
        answers.push(answer);
    }

    assert_eq!(
        answers,
        [
            json!({"outcome": "authorized_user_not_in_meeting"}),
            json!({"outcome": "joined"}),
            json!({"outcome": "joined"}),
        ]
    );
    let attempts: Vec<Value> = runner
        .tickets()
        .iter()
        .map(|ticket| ticket["attempt"].clone())
        .collect();
    assert_eq!(attempts, [json!(1), json!(2), json!(3)]);
    assert_eq!(runner.rejected_count(), 0);
}

#[tokio::test]
async fn runner_rejects_bad_signatures() {
    let runner = RunnerFake::start(RUNNER_SECRET, vec![RunnerReply::joined()]).await;
    let body = br#"{"bot_id":"bot_1","attempt":1}"#;

    let unsigned = post(&runner.url(), body, None).await;
    let other_key = sign(b"another-secret", body);
    let wrong_key = post(&runner.url(), body, Some(&other_key)).await;
    let not_base64 = post(&runner.url(), body, Some("not base64!")).await;
    let tampered_signature = sign(RUNNER_SECRET.as_bytes(), body);
    let tampered = post(
        &runner.url(),
        br#"{"bot_id":"bot_2","attempt":1}"#,
        Some(&tampered_signature),
    )
    .await;

    assert_eq!(unsigned.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(wrong_key.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(not_base64.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(tampered.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(runner.rejected_count(), 4);
    assert!(runner.tickets().is_empty());
}

#[tokio::test]
async fn runner_status_and_delayed_replies() {
    let delay = Duration::from_millis(200);
    let runner = RunnerFake::start(
        RUNNER_SECRET,
        vec![
            RunnerReply::Status(503),
            RunnerReply::failed("ON_BEHALF_TOKEN_INVALID").delayed(delay),
        ],
    )
    .await;

    let (first, first_answer) = post_ticket(&runner, &json!({"attempt": 1})).await;
    let started = Instant::now();
    let (second, second_answer) = post_ticket(&runner, &json!({"attempt": 2})).await;

    assert_eq!(first, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(first_answer, Value::Null);
    assert!(started.elapsed() >= delay);
    assert_eq!(second, StatusCode::OK);
    assert_eq!(
        second_answer,
        json!({"outcome": "failed", "sub_type": "ON_BEHALF_TOKEN_INVALID"})
    );
    assert_eq!(runner.tickets().len(), 2);
}

#[tokio::test]
async fn runner_empty_script_replies_joined() {
    let runner = RunnerFake::start(RUNNER_SECRET, Vec::new()).await;

    let (status, answer) = post_ticket(&runner, &json!({"attempt": 1})).await;

    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer, json!({"outcome": "joined"}));
}

#[tokio::test]
async fn runner_wait_for_tickets_sees_late_ticket() {
    let runner = RunnerFake::start(RUNNER_SECRET, vec![RunnerReply::joined()]).await;
    let url = runner.url();
    let body = br#"{"attempt":1}"#;
    let signature = sign(RUNNER_SECRET.as_bytes(), body);
    let sender = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        post(&url, body, Some(&signature)).await.status()
    });

    let tickets = runner.wait_for_tickets(1, Duration::from_secs(10)).await;

    assert_eq!(tickets, [json!({"attempt": 1})]);
    assert_eq!(sender.await.unwrap(), StatusCode::OK);
}

#[tokio::test]
async fn receiver_verifies_known_vector() {
    let receiver = WebhookReceiver::start(VECTOR_SECRET).await;

    let signed = post(&receiver.url(), VECTOR_BODY, Some(VECTOR_SIGNATURE)).await;
    let wrong = post(&receiver.url(), VECTOR_BODY, Some(&sign(b"x", VECTOR_BODY))).await;
    let unsigned = post(&receiver.url(), VECTOR_BODY, None).await;

    assert_eq!(signed.status(), StatusCode::OK);
    assert_eq!(wrong.status(), StatusCode::OK);
    assert_eq!(unsigned.status(), StatusCode::OK);
    let deliveries = receiver.deliveries();
    assert_eq!(deliveries.len(), 3);
    assert!(deliveries[0].signature_valid);
    assert_eq!(deliveries[0].raw, VECTOR_BODY);
    assert_eq!(
        deliveries[0].body["trigger"],
        "zoom_oauth_connection.state_change"
    );
    assert_eq!(deliveries[0].signature.as_deref(), Some(VECTOR_SIGNATURE));
    assert!(!deliveries[1].signature_valid);
    assert!(!deliveries[2].signature_valid);
    assert_eq!(deliveries[2].signature, None);
}

#[tokio::test]
async fn receiver_verifies_after_secret_is_set() {
    let receiver = WebhookReceiver::start_unverified().await;

    post(&receiver.url(), VECTOR_BODY, Some(VECTOR_SIGNATURE)).await;
    receiver.set_secret(VECTOR_SECRET);
    post(&receiver.url(), VECTOR_BODY, Some(VECTOR_SIGNATURE)).await;

    let deliveries = receiver.deliveries();
    assert!(!deliveries[0].signature_valid);
    assert!(deliveries[0].verify(VECTOR_SECRET));
    assert!(deliveries[1].signature_valid);
}

#[tokio::test]
async fn receiver_uses_configured_status() {
    let receiver = WebhookReceiver::start(VECTOR_SECRET).await;
    receiver.set_status(500);

    let response = post(&receiver.url(), VECTOR_BODY, Some(VECTOR_SIGNATURE)).await;

    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(receiver.deliveries().len(), 1);
}

#[tokio::test]
async fn receiver_records_non_json_as_null() {
    let receiver = WebhookReceiver::start(VECTOR_SECRET).await;

    post(&receiver.url(), b"not json", None).await;

    let deliveries = receiver
        .wait_for_deliveries(1, Duration::from_secs(10))
        .await;
    assert_eq!(deliveries[0].body, Value::Null);
    assert_eq!(deliveries[0].raw, b"not json");
}

#[tokio::test]
#[should_panic(expected = "expected 1 deliveries")]
async fn receiver_wait_times_out() {
    let receiver = WebhookReceiver::start(VECTOR_SECRET).await;

    receiver
        .wait_for_deliveries(1, Duration::from_millis(50))
        .await;
}
