//! The join worker on SQS served by moto: a launch queues a join attempt, and the same
//! message delivered twice produces one join ticket.

mod support;

use std::time::Duration;

use integration_tests::runner_fake::{RunnerFake, RunnerReply};
use integration_tests::zoom_emulator::{ZoomEmulator, ZoomUserSpec};
use serde_json::json;
use shared::http::Function;
use shared::secret::SecretString;
use shared::services::projects;
use support::*;

const CLIENT_ID: &str = "join-client";
const CLIENT_SECRET: &str = "join-client-secret-77";
const RUNNER_SECRET: &str = "runner-secret-for-tests";
const USER_ID: &str = "uJoin000000000000000001";

#[tokio::test]
async fn redelivered_join_message_yields_one_ticket() {
    let emulator = ZoomEmulator::start().await;
    emulator.register_app(CLIENT_ID, CLIENT_SECRET);
    emulator.add_user(ZoomUserSpec::active(USER_ID));
    let runner = RunnerFake::start(RUNNER_SECRET, vec![RunnerReply::joined()]).await;
    let backend = MotoBackend::create().await;
    let mut config = settings();
    config.bot_runner_url = Some(runner.url());
    config.bot_runner_secret = Some(SecretString::new(RUNNER_SECRET));
    let services = backend.services(&emulator, config);
    let project = projects::create_project(&services, "join").await.unwrap();
    let key = project.api_key.expose().to_owned();

    let app = json!({"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET});
    let (status, _) = invoke(
        &services,
        Function::ManageApps,
        &http_event("POST", "/api/v1/zoom_oauth_apps", Some(&key), Some(&app)),
    )
    .await;
    assert_eq!(status, 201);
    let code = emulator.issue_code(
        CLIENT_ID,
        USER_ID,
        "https://customer.example/cb",
        &["user:read:user", "user:read:token"],
        None,
    );
    let connection = json!({
        "authorization_code": code,
        "redirect_uri": "https://customer.example/cb",
        "is_local_recording_token_supported": false,
        "is_onbehalf_token_supported": true,
    });
    let (status, body) = invoke(
        &services,
        Function::OauthCallback,
        &http_event(
            "POST",
            "/api/v1/zoom_oauth_connections",
            Some(&key),
            Some(&connection),
        ),
    )
    .await;
    assert_eq!(status, 201, "{body}");

    let bot = json!({
        "meeting_url": "https://us05web.zoom.us/j/85012345678?pwd=AbC123.1",
        "bot_name": "Notetaker",
        "zoom_settings": {"onbehalf_token": {"zoom_oauth_connection_user_id": USER_ID}},
    });
    let (status, launched) = invoke(
        &services,
        Function::LaunchBot,
        &http_event("POST", "/api/v1/bots", Some(&key), Some(&bot)),
    )
    .await;
    assert_eq!(status, 201, "{launched}");
    let bot_id = launched["id"].as_str().unwrap().to_owned();

    // Receive the attempt twice: the first receive is not deleted, so after the 1 s
    // visibility timeout SQS delivers the same message again.
    let first = backend
        .receive_event(&backend.queues.join_attempts, 2)
        .await;
    assert_eq!(first["Records"].as_array().unwrap().len(), 1, "{first}");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let second = backend
        .receive_event(&backend.queues.join_attempts, 2)
        .await;
    assert_eq!(second["Records"].as_array().unwrap().len(), 1, "{second}");
    assert_eq!(
        first["Records"][0]["messageId"],
        second["Records"][0]["messageId"]
    );
    assert_eq!(
        second["Records"][0]["attributes"]["ApproximateReceiveCount"],
        "2"
    );

    let (one, two) = tokio::join!(
        shared::runtime::handle_sqs(&services, serde_json::from_value(first.clone()).unwrap()),
        shared::runtime::handle_sqs(&services, serde_json::from_value(second.clone()).unwrap()),
    );
    // A copy that arrives while the attempt is still running is reported as failed, so
    // SQS delivers it again later; by then it is dropped.
    let failures = one.batch_item_failures.len() + two.batch_item_failures.len();
    assert!(failures <= 1, "at most the in-flight copy fails");
    let again =
        shared::runtime::handle_sqs(&services, serde_json::from_value(second).unwrap()).await;
    assert!(
        again.batch_item_failures.is_empty(),
        "a copy after the outcome is dropped"
    );

    assert_eq!(runner.tickets().len(), 1, "one ticket for one attempt");
    assert_eq!(runner.rejected_count(), 0);
    let ticket = &runner.tickets()[0];
    assert_eq!(ticket["bot_id"], bot_id);
    assert_eq!(ticket["attempt"], 1);
    assert_eq!(ticket["meeting_number"], "85012345678");
    let minted = emulator.minted_tokens();
    assert_eq!(minted.len(), 1);
    assert_eq!(ticket["tokens"]["onbehalf_token"], minted[0].token);
    assert_eq!(minted[0].meeting_number.as_deref(), Some("85012345678"));

    let (status, stored) = invoke(
        &services,
        Function::LaunchBot,
        &http_event("GET", &format!("/api/v1/bots/{bot_id}"), Some(&key), None),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(stored["state"], "joined");
    assert_eq!(stored["join_attempts"], 1);
}
