//! End to end over HTTP: the local server and the Zoom emulator on free loopback ports,
//! from app registration through connections and Zoom events to deletion.

mod support;

use std::collections::HashMap;

use integration_tests::zoom_emulator::{ZoomEmulator, ZoomUserSpec};
use serde_json::{Value, json};
use support::*;

const CLIENT_ID: &str = "ZmAkEcLiEnTiD01";
const CLIENT_SECRET: &str = "client-secret-e2e-7f3a9c";
const WEBHOOK_SECRET: &str = "fixture-webhook-secret-token";
const HOST_ID: &str = "uHoSt0123456789abcdefg";
const ACCOUNT_ID: &str = "AcCt0123456789abcdefgh";

fn server_env(emulator: &ZoomEmulator) -> HashMap<&'static str, String> {
    HashMap::from([
        ("ZOOM_OAUTH_BASE_URL", emulator.base_url()),
        ("ZOOM_API_BASE_URL", emulator.base_url()),
    ])
}

async fn mapped_meetings(api: &Api, connection_id: &str) -> Vec<(String, String)> {
    let (status, body) = api
        .get(&format!(
            "/api/v1/zoom_oauth_connections/{connection_id}/meetings"
        ))
        .await;
    assert_eq!(status, 200, "{body}");
    let mut meetings: Vec<(String, String)> = body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["meeting_id"].as_str().unwrap().to_owned(),
                m["source"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    meetings.sort();
    meetings
}

#[tokio::test]
async fn walkthrough_from_code_to_deleted_connection() {
    let emulator = ZoomEmulator::start().await;
    emulator.register_app(CLIENT_ID, CLIENT_SECRET);
    emulator.add_user(ZoomUserSpec {
        id: HOST_ID.into(),
        account_id: ACCOUNT_ID.into(),
        status: "active".into(),
        pmi: Some(6505550199),
        email: "ada.host@example.com".into(),
    });
    emulator.add_meeting(HOST_ID, 81122233344, "Standup");

    let data_dir = DataDir::new();
    let project = create_project(&data_dir.0, "walkthrough");
    let server = LocalServer::start(&data_dir.0, &server_env(&emulator)).await;
    let api = Api::new(&server.base_url, &project.api_key);

    // Register the app; the emulator checks the credentials.
    let (status, body) = api
        .post("/api/v1/zoom_oauth_apps", &json!({"client_id": CLIENT_ID, "client_secret": "wrong", "webhook_secret": WEBHOOK_SECRET}))
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "Invalid client id or client secret");
    let (status, app) = api
        .post(
            "/api/v1/zoom_oauth_apps",
            &json!({"client_id": CLIENT_ID, "client_secret": format!("  {CLIENT_SECRET} "), "webhook_secret": WEBHOOK_SECRET}),
        )
        .await;
    assert_eq!(status, 201, "{app}");
    let app_id = app["id"].as_str().unwrap().to_owned();
    assert!(app_id.starts_with("zoa_"));
    assert_eq!(app["has_webhook_secret"], true);
    assert_eq!(
        app["webhook_url"],
        format!(
            "{}/external_webhooks/zoom/oauth_apps/{app_id}",
            server.base_url
        )
    );
    assert!(!app.to_string().contains(CLIENT_SECRET));

    // Exchange a code for a connection.
    let code = emulator.issue_code(CLIENT_ID, HOST_ID, REDIRECT_URI, ALL_SCOPES, None);
    let mut request = connection_body(&code, None);
    request["metadata"] = json!({"tenant": "acme"});
    let (status, connection) = api.post("/api/v1/zoom_oauth_connections", &request).await;
    assert_eq!(status, 201, "{connection}");
    let connection_id = connection["id"].as_str().unwrap().to_owned();
    assert!(connection_id.starts_with("zoc_"), "{connection_id}");
    assert_eq!(connection_id.len(), 20, "{connection_id}");
    assert_eq!(connection["user_id"], HOST_ID);
    assert_eq!(connection["account_id"], ACCOUNT_ID);
    assert_eq!(connection["state"], "connected");
    assert_eq!(connection["metadata"], json!({"tenant": "acme"}));
    assert_eq!(connection["zoom_oauth_app_id"], app_id);
    let refresh_token = emulator.current_refresh_token(HOST_ID, CLIENT_ID).unwrap();
    assert!(!connection.to_string().contains(&refresh_token));
    assert!(!connection.to_string().contains("emu-access-"));
    assert!(
        connection["last_successful_sync_at"].is_string(),
        "{connection}"
    );

    // The sync mapped the scheduled meeting and the PMI.
    assert_eq!(
        mapped_meetings(&api, &connection_id).await,
        vec![
            ("6505550199".into(), "pmi".into()),
            ("81122233344".into(), "sync".into())
        ]
    );

    // The same user authorizes again: same id, new metadata, 201.
    let code = emulator.issue_code(CLIENT_ID, HOST_ID, REDIRECT_URI, ALL_SCOPES, None);
    let mut request = connection_body(&code, Some(&app_id));
    request["metadata"] = json!({"tenant": "acme", "plan": "pro"});
    let (status, again) = api.post("/api/v1/zoom_oauth_connections", &request).await;
    assert_eq!(status, 201, "{again}");
    assert_eq!(again["id"], connection_id);
    assert_eq!(again["metadata"], json!({"tenant": "acme", "plan": "pro"}));

    let (status, list) = api.get("/api/v1/zoom_oauth_connections").await;
    assert_eq!(status, 200);
    assert_eq!(list["results"].as_array().unwrap().len(), 1);
    assert_eq!(list["next"], Value::Null);
    assert_eq!(list["previous"], Value::Null);
    let (status, fetched) = api
        .get(&format!("/api/v1/zoom_oauth_connections/{connection_id}"))
        .await;
    assert_eq!(status, 200);
    assert_eq!(fetched["id"], connection_id);

    // Zoom events, signed with the current time.
    let now = now_seconds();
    let (status, answer) = send_zoom_event(
        &server.base_url,
        &app_id,
        WEBHOOK_SECRET,
        now,
        &fixture("url_validation.json"),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(answer["plainToken"], "qgg8vlvZRS6UYooatFL8Aw");
    assert_eq!(
        answer["encryptedToken"],
        "51d23ff316792510cdd1c49a58634dc9789dc91cddd3a6c2df67e50e2c168461"
    );

    for name in [
        "meeting_created.json",
        "meeting_created_other_operator.json",
        "user_updated_pmi.json",
        "user_updated_email_only.json",
    ] {
        let (status, answer) = send_zoom_event(
            &server.base_url,
            &app_id,
            WEBHOOK_SECRET,
            now,
            &fixture(name),
        )
        .await;
        assert_eq!(status, 200, "{name}: {answer}");
    }
    assert_eq!(
        mapped_meetings(&api, &connection_id).await,
        vec![
            ("4155550123".into(), "pmi".into()),
            ("6505550199".into(), "pmi".into()),
            ("81122233344".into(), "sync".into()),
            ("85012345678".into(), "webhook".into()),
            // The operator has no connection, so the host's connection gets the meeting.
            ("91234567890".into(), "webhook".into()),
        ]
    );

    let (status, _) = send_zoom_event(
        &server.base_url,
        &app_id,
        WEBHOOK_SECRET,
        now,
        &fixture("meeting_deleted.json"),
    )
    .await;
    assert_eq!(status, 200);
    // A redelivery of an event already handled changes nothing.
    let (status, answer) = send_zoom_event(
        &server.base_url,
        &app_id,
        WEBHOOK_SECRET,
        now,
        &fixture("meeting_created.json"),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(answer["status"], "already_handled");
    let meetings = mapped_meetings(&api, &connection_id).await;
    assert!(
        !meetings.iter().any(|(id, _)| id == "85012345678"),
        "{meetings:?}"
    );
    assert_eq!(meetings.len(), 4);

    // Rejections: bad signature, stale timestamp, unknown app.
    let body = fixture("meeting_created.json");
    let (status, _) =
        send_zoom_event(&server.base_url, &app_id, "not-the-secret", now, &body).await;
    assert_eq!(status, 401);
    let (status, answer) =
        send_zoom_event(&server.base_url, &app_id, WEBHOOK_SECRET, now - 301, &body).await;
    assert_eq!(status, 401, "{answer}");
    let (status, _) = send_zoom_event(
        &server.base_url,
        "zoa_AAAAAAAAAAAAAAAA",
        WEBHOOK_SECRET,
        now,
        &body,
    )
    .await;
    assert_eq!(status, 400);
    let (_, app_now) = api.get(&format!("/api/v1/zoom_oauth_apps/{app_id}")).await;
    assert!(
        app_now["last_verified_webhook_received_at"].is_string(),
        "{app_now}"
    );
    assert!(
        app_now["last_unverified_webhook_received_at"].is_string(),
        "{app_now}"
    );

    // The app cannot go while the connection exists.
    let (status, body) = api
        .delete(&format!("/api/v1/zoom_oauth_apps/{app_id}"))
        .await;
    assert_eq!(status, 409);
    assert!(body["error"].as_str().unwrap().contains('1'), "{body}");

    // Deauthorization disconnects once and drops the tokens.
    let (status, answer) = send_zoom_event(
        &server.base_url,
        &app_id,
        WEBHOOK_SECRET,
        now,
        &fixture("app_deauthorized.json"),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    let (_, fetched) = api
        .get(&format!("/api/v1/zoom_oauth_connections/{connection_id}"))
        .await;
    assert_eq!(fetched["state"], "disconnected");
    assert_eq!(
        fetched["connection_failure_data"]["error"],
        "app_deauthorized"
    );
    let (_, disconnected) = api
        .get("/api/v1/zoom_oauth_connections?state=disconnected")
        .await;
    assert_eq!(disconnected["results"].as_array().unwrap().len(), 1);

    // Delete the connection, then the app.
    let (status, body) = api
        .delete(&format!("/api/v1/zoom_oauth_connections/{connection_id}"))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, Value::Null);
    let (status, body) = api
        .get(&format!("/api/v1/zoom_oauth_connections/{connection_id}"))
        .await;
    assert_eq!(status, 404);
    assert_eq!(body["error"], "Zoom OAuth Connection not found");
    let (status, _) = api
        .delete(&format!("/api/v1/zoom_oauth_apps/{app_id}"))
        .await;
    assert_eq!(status, 200);
    let (status, _) = api.get(&format!("/api/v1/zoom_oauth_apps/{app_id}")).await;
    assert_eq!(status, 404);

    // No secret of this run reached a log line.
    let logs = server.stop();
    assert!(logs.contains("local server listening"), "{logs}");
    for secret in [
        CLIENT_SECRET,
        WEBHOOK_SECRET,
        &project.api_key,
        &project.signing_secret,
        &refresh_token,
        "emu-access-",
        "emu-refresh-",
        "emu-code-",
    ] {
        assert!(
            !logs.contains(secret),
            "a secret starting {} appears in the logs",
            &secret[..6]
        );
    }
}

#[tokio::test]
async fn data_survives_restart() {
    let emulator = ZoomEmulator::start().await;
    emulator.register_app(CLIENT_ID, CLIENT_SECRET);
    emulator.add_user(ZoomUserSpec::active("uRestart000000000000001"));
    let data_dir = DataDir::new();
    let project = create_project(&data_dir.0, "restart");

    let server = LocalServer::start(&data_dir.0, &server_env(&emulator)).await;
    let api = Api::new(&server.base_url, &project.api_key);
    let (status, app) = api
        .post("/api/v1/zoom_oauth_apps", &json!({"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "webhook_secret": WEBHOOK_SECRET}))
        .await;
    assert_eq!(status, 201);
    let code = emulator.issue_code(
        CLIENT_ID,
        "uRestart000000000000001",
        REDIRECT_URI,
        ALL_SCOPES,
        None,
    );
    let (status, connection) = api
        .post(
            "/api/v1/zoom_oauth_connections",
            &connection_body(&code, None),
        )
        .await;
    assert_eq!(status, 201, "{connection}");
    let (_, before) = api.get("/api/v1/zoom_oauth_connections").await;
    server.stop();

    let server = LocalServer::start(&data_dir.0, &server_env(&emulator)).await;
    let api = Api::new(&server.base_url, &project.api_key);
    let (status, after) = api.get("/api/v1/zoom_oauth_connections").await;
    assert_eq!(status, 200, "the API key survives");
    assert_eq!(after, before);
    let (status, app_after) = api
        .get(&format!(
            "/api/v1/zoom_oauth_apps/{}",
            app["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(status, 200);
    assert_eq!(app_after["client_id"], CLIENT_ID);

    // The encrypted webhook secret still decrypts with the key file of the first run.
    let app_id = app["id"].as_str().unwrap();
    let (status, answer) = send_zoom_event(
        &server.base_url,
        app_id,
        WEBHOOK_SECRET,
        now_seconds(),
        &fixture("url_validation.json"),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert!(std::fs::metadata(data_dir.0.join("secrets.key")).is_ok());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(data_dir.0.join("secrets.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[tokio::test]
async fn project_created_while_serving() {
    let data_dir = DataDir::new();
    let first = create_project(&data_dir.0, "first");
    let server = LocalServer::start(&data_dir.0, &HashMap::new()).await;
    let second = create_project(&data_dir.0, "second");
    for keys in [&first, &second] {
        let (status, body) = Api::new(&server.base_url, &keys.api_key)
            .get("/api/v1/zoom_oauth_apps")
            .await;
        assert_eq!(status, 200, "{body}");
    }
    assert_ne!(first.project_id, second.project_id);
    assert!(second.project_id.starts_with("proj_"));
}
