//! Every 4xx of the connection, app and webhook contract, cross-project isolation, and
//! pagination, over HTTP against the local server.

mod support;

use std::collections::HashMap;

use integration_tests::zoom_emulator::{ZoomEmulator, ZoomUserSpec};
use serde_json::{Value, json};
use support::*;

const CLIENT_ID: &str = "rejections-client";
const CLIENT_SECRET: &str = "rejections-secret-51b2";

struct Setup {
    emulator: ZoomEmulator,
    server: LocalServer,
    api: Api,
    other: Api,
    app_id: String,
    _data_dir: DataDir,
}

async fn setup() -> Setup {
    let emulator = ZoomEmulator::start().await;
    emulator.register_app(CLIENT_ID, CLIENT_SECRET);
    let data_dir = DataDir::new();
    let project = create_project(&data_dir.0, "first");
    let other_project = create_project(&data_dir.0, "second");
    let env = HashMap::from([
        ("ZOOM_OAUTH_BASE_URL", emulator.base_url()),
        ("ZOOM_API_BASE_URL", emulator.base_url()),
    ]);
    let server = LocalServer::start(&data_dir.0, &env).await;
    let api = Api::new(&server.base_url, &project.api_key);
    let other = Api::new(&server.base_url, &other_project.api_key);
    let (status, app) = api
        .post("/api/v1/zoom_oauth_apps", &json!({"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "webhook_secret": "whsec"}))
        .await;
    assert_eq!(status, 201, "{app}");
    Setup {
        app_id: app["id"].as_str().unwrap().to_owned(),
        emulator,
        server,
        api,
        other,
        _data_dir: data_dir,
    }
}

impl Setup {
    async fn connect(&self, user_id: &str) -> Value {
        self.emulator.add_user(ZoomUserSpec::active(user_id));
        let code = self
            .emulator
            .issue_code(CLIENT_ID, user_id, REDIRECT_URI, ALL_SCOPES, None);
        let (status, connection) = self
            .api
            .post(
                "/api/v1/zoom_oauth_connections",
                &connection_body(&code, None),
            )
            .await;
        assert_eq!(status, 201, "{connection}");
        connection
    }
}

#[tokio::test]
async fn authentication_failures_are_401() {
    let setup = setup().await;
    let client = reqwest::Client::new();
    let url = format!("{}/api/v1/zoom_oauth_connections", setup.server.base_url);
    for header in [
        None,
        Some("Bearer abc"),
        Some("Token "),
        Some("Token unknown-key"),
        Some("Token a b"),
    ] {
        let mut request = client.get(&url);
        if let Some(header) = header {
            request = request.header("Authorization", header);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 401, "header {header:?}");
        let body: Value = response.json().await.unwrap();
        assert!(body["detail"].is_string(), "header {header:?}: {body}");
    }
}

#[tokio::test]
async fn connection_create_rejections() {
    let setup = setup().await;
    let api = &setup.api;
    let path = "/api/v1/zoom_oauth_connections";

    let (status, body) = api.post(path, &json!({"redirect_uri": REDIRECT_URI})).await;
    assert_eq!(status, 400);
    assert_eq!(body["authorization_code"][0], "This field is required.");

    let (status, body) = api
        .post(
            path,
            &json!({"authorization_code": "x", "redirect_uri": REDIRECT_URI, "color": "red"}),
        )
        .await;
    assert_eq!(status, 400);
    let message = body["non_field_errors"][0].as_str().unwrap();
    assert!(
        message.contains("color") && message.contains("authorization_code"),
        "{message}"
    );

    let (status, body) = api
        .post(path, &json!({"authorization_code": "x", "redirect_uri": REDIRECT_URI, "is_onbehalf_token_supported": "yes"}))
        .await;
    assert_eq!(status, 400);
    assert!(body["is_onbehalf_token_supported"].is_array(), "{body}");

    let (status, body) = api
        .post(path, &json!({"authorization_code": "x", "redirect_uri": REDIRECT_URI, "metadata": {"plan": 3}}))
        .await;
    assert_eq!(status, 400);
    assert!(
        body["metadata"][0].as_str().unwrap().contains("plan"),
        "{body}"
    );

    let (status, body) = api
        .post(
            path,
            &json!({"authorization_code": "x", "redirect_uri": REDIRECT_URI,
                    "is_local_recording_token_supported": false, "is_onbehalf_token_supported": false}),
        )
        .await;
    assert_eq!(status, 400, "{body}");

    let (status, body) = api
        .post(path, &connection_body("not-a-real-code", None))
        .await;
    assert_eq!(status, 400);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("authorization code"),
        "{body}"
    );

    // Scopes the capabilities need are missing.
    setup
        .emulator
        .add_user(ZoomUserSpec::active("uScopes000000000000001"));
    let code = setup.emulator.issue_code(
        CLIENT_ID,
        "uScopes000000000000001",
        REDIRECT_URI,
        &["user:read:user"],
        None,
    );
    let (status, body) = api.post(path, &connection_body(&code, None)).await;
    assert_eq!(status, 400);
    let message = body["error"].as_str().unwrap();
    assert!(
        message.contains("user:read:token")
            && message.contains("meeting:read:local_recording_token"),
        "{message}"
    );

    // An inactive user.
    let mut user = ZoomUserSpec::active("uInactive0000000000001");
    user.status = "inactive".into();
    setup.emulator.add_user(user);
    let code = setup.emulator.issue_code(
        CLIENT_ID,
        "uInactive0000000000001",
        REDIRECT_URI,
        ALL_SCOPES,
        None,
    );
    let (status, body) = api.post(path, &connection_body(&code, None)).await;
    assert_eq!(status, 400);
    assert!(
        body["error"].as_str().unwrap().contains("inactive"),
        "{body}"
    );

    // A redirect URI other than the one used at Zoom.
    let code = setup.emulator.issue_code(
        CLIENT_ID,
        "uScopes000000000000001",
        REDIRECT_URI,
        ALL_SCOPES,
        None,
    );
    let mut request = connection_body(&code, None);
    request["redirect_uri"] = json!("https://elsewhere.example/cb");
    let (status, _) = api.post(path, &request).await;
    assert_eq!(status, 400);

    // A body over 64 KiB.
    let (status, _) = api.post_raw(path, vec![b' '; 70 * 1024]).await;
    assert_eq!(status, 413);

    // Not JSON.
    let (status, body) = api.post_raw(path, b"{not json".to_vec()).await;
    assert_eq!(status, 400);
    assert!(body["error"].is_string());

    let (status, list) = api.get(path).await;
    assert_eq!(status, 200);
    assert_eq!(
        list["results"],
        json!([]),
        "no rejected request stored anything"
    );
}

#[tokio::test]
async fn projects_are_isolated() {
    let setup = setup().await;
    let connection = setup.connect("uIsolated000000000001").await;
    let id = connection["id"].as_str().unwrap();

    let (status, body) = setup
        .other
        .get(&format!("/api/v1/zoom_oauth_connections/{id}"))
        .await;
    assert_eq!(status, 404);
    assert_eq!(body["error"], "Zoom OAuth Connection not found");
    let (status, _) = setup
        .other
        .delete(&format!("/api/v1/zoom_oauth_connections/{id}"))
        .await;
    assert_eq!(status, 404);
    let (status, _) = setup
        .other
        .get(&format!("/api/v1/zoom_oauth_connections/{id}/meetings"))
        .await;
    assert_eq!(status, 404);
    let (_, list) = setup.other.get("/api/v1/zoom_oauth_connections").await;
    assert_eq!(list["results"], json!([]));
    let (status, _) = setup
        .other
        .get(&format!("/api/v1/zoom_oauth_apps/{}", setup.app_id))
        .await;
    assert_eq!(status, 404);

    // Another project's app id is a 400 on connection creation.
    let code = setup.emulator.issue_code(
        CLIENT_ID,
        "uIsolated000000000001",
        REDIRECT_URI,
        ALL_SCOPES,
        None,
    );
    let (status, body) = setup
        .other
        .post(
            "/api/v1/zoom_oauth_connections",
            &connection_body(&code, Some(&setup.app_id)),
        )
        .await;
    assert_eq!(status, 400);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("does not exist in this project"),
        "{body}"
    );
    // With no app of its own, the other project cannot pick a default either.
    let (status, body) = setup
        .other
        .post(
            "/api/v1/zoom_oauth_connections",
            &connection_body(&code, None),
        )
        .await;
    assert_eq!(status, 400, "{body}");

    // The connection is untouched.
    let (status, still) = setup
        .api
        .get(&format!("/api/v1/zoom_oauth_connections/{id}"))
        .await;
    assert_eq!(status, 200);
    assert_eq!(still["state"], "connected");
}

#[tokio::test]
async fn lists_paginate_with_cursors() {
    let setup = setup().await;
    let mut created = Vec::new();
    for index in 0..5 {
        let connection = setup.connect(&format!("uPage{index:017}")).await;
        created.push(connection["id"].as_str().unwrap().to_owned());
    }
    created.reverse(); // newest first

    let (status, first) = setup
        .api
        .get("/api/v1/zoom_oauth_connections?page_size=2")
        .await;
    assert_eq!(status, 200);
    let ids = |page: &Value| -> Vec<String> {
        page["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(ids(&first), created[0..2]);
    assert_eq!(first["previous"], Value::Null);
    let (_, second) = setup.api.get(first["next"].as_str().unwrap()).await;
    assert_eq!(ids(&second), created[2..4]);
    let (_, third) = setup.api.get(second["next"].as_str().unwrap()).await;
    assert_eq!(ids(&third), created[4..5]);
    assert_eq!(third["next"], Value::Null);
    let (_, back) = setup.api.get(third["previous"].as_str().unwrap()).await;
    assert_eq!(ids(&back), created[2..4]);

    let (status, filtered) = setup
        .api
        .get(&format!(
            "/api/v1/zoom_oauth_connections?user_id=uPage{:017}",
            3
        ))
        .await;
    assert_eq!(status, 200);
    assert_eq!(ids(&filtered), vec![created[1].clone()]);

    for bad in [
        "page_size=0",
        "page_size=101",
        "page_size=x",
        "cursor=garbage",
        "state=maybe",
        "colour=red",
    ] {
        let (status, body) = setup
            .api
            .get(&format!("/api/v1/zoom_oauth_connections?{bad}"))
            .await;
        assert_eq!(status, 400, "{bad}: {body}");
    }
}

#[tokio::test]
async fn app_rejections() {
    let setup = setup().await;
    let api = &setup.api;
    let (status, body) = api
        .post("/api/v1/zoom_oauth_apps", &json!({"client_id": CLIENT_ID}))
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["client_secret"][0], "This field is required.");
    let (status, _) = api
        .post(
            "/api/v1/zoom_oauth_apps",
            &json!({"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}),
        )
        .await;
    assert_eq!(status, 409, "a second app with the same client id");

    let path = format!("/api/v1/zoom_oauth_apps/{}", setup.app_id);
    let (status, body) = api.patch(&path, &json!({"client_id": "another"})).await;
    assert_eq!(status, 400);
    assert!(body["client_id"].is_array());
    let (status, body) = api
        .patch(&path, &json!({"client_secret": "wrong-secret"}))
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "Invalid client id or client secret");
    // A blank secret keeps the stored one.
    let (status, body) = api
        .patch(&path, &json!({"client_secret": "", "webhook_secret": " "}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["has_webhook_secret"], true);

    setup
        .emulator
        .set_app_secret(CLIENT_ID, "rotated-secret-99");
    let (status, body) = api
        .patch(&path, &json!({"client_secret": "rotated-secret-99"}))
        .await;
    assert_eq!(status, 200, "{body}");

    let (status, _) = api
        .get("/api/v1/zoom_oauth_apps/zoa_doesnotexist0000")
        .await;
    assert_eq!(status, 404);
    let (status, _) = api
        .delete("/api/v1/zoom_oauth_apps/zoa_AAAAAAAAAAAAAAAA")
        .await;
    assert_eq!(status, 404);
    let (status, _) = api
        .patch("/api/v1/zoom_oauth_apps/whatever", &json!({}))
        .await;
    assert_eq!(status, 404);

    // The webhook endpoint of an app without a webhook secret fails closed.
    setup
        .emulator
        .register_app("no-webhook-client", "nwh-secret");
    let (status, bare) = api
        .post(
            "/api/v1/zoom_oauth_apps",
            &json!({"client_id": "no-webhook-client", "client_secret": "nwh-secret"}),
        )
        .await;
    assert_eq!(status, 201);
    let (status, body) = send_zoom_event(
        &setup.server.base_url,
        bare["id"].as_str().unwrap(),
        "anything",
        now_seconds(),
        &fixture("url_validation.json"),
    )
    .await;
    assert_eq!(status, 400, "{body}");
}

#[tokio::test]
async fn zoom_webhook_rejections() {
    let setup = setup().await;
    let url = format!(
        "{}/external_webhooks/zoom/oauth_apps/{}",
        setup.server.base_url, setup.app_id
    );
    let client = reqwest::Client::new();
    let body = fixture("meeting_created.json");

    let response = client.post(&url).body(body.clone()).send().await.unwrap();
    assert_eq!(response.status(), 401, "missing headers");
    let response = client
        .post(&url)
        .header("x-zm-request-timestamp", now_seconds().to_string())
        .header("x-zm-signature", "v0=zz")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401, "malformed signature");
    let (status, _) = send_zoom_event(
        &setup.server.base_url,
        &setup.app_id,
        "whsec",
        now_seconds() + 400,
        &body,
    )
    .await;
    assert_eq!(status, 401, "timestamp from the future");
    let (status, _) = send_zoom_event(
        &setup.server.base_url,
        &setup.app_id,
        "whsec",
        now_seconds(),
        b"{not json",
    )
    .await;
    assert_eq!(status, 400, "signed but not JSON");
    let (status, answer) = send_zoom_event(
        &setup.server.base_url,
        &setup.app_id,
        "whsec",
        now_seconds(),
        br#"{"event":"meeting.started","payload":{}}"#,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(answer["status"], "ignored");
}

#[tokio::test]
async fn unknown_routes_and_methods() {
    let setup = setup().await;
    let (status, _) = setup.api.get("/api/v1/nothing-here").await;
    assert_eq!(status, 404);
    let response = reqwest::Client::new()
        .put(format!(
            "{}/api/v1/zoom_oauth_connections",
            setup.server.base_url
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
    let (status, _) = setup
        .api
        .get("/api/v1/zoom_oauth_connections/zoc_AAAAAAAAAAAAAAAA")
        .await;
    assert_eq!(status, 404);
    let (status, _) = setup
        .api
        .get("/api/v1/zoom_oauth_connections/not-an-id")
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn forged_cursor_is_400() {
    use base64::Engine;
    let setup = setup().await;
    let empty = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(br#"{"d":false,"p":{}}"#);
    let other_partition = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(br#"{"d":false,"p":{"pk":"CONN#x","sk":"CONN","gsi1pk":"PROJECT#proj_other#CONNS","gsi1sk":"z"}}"#);
    for cursor in [empty, other_partition] {
        for path in [
            "/api/v1/zoom_oauth_connections",
            "/api/v1/zoom_oauth_apps",
            "/api/v1/webhooks",
            "/api/v1/bots",
        ] {
            let (status, body) = setup.api.get(&format!("{path}?cursor={cursor}")).await;
            assert_eq!(status, 400, "{path}: {body}");
            assert_eq!(body["cursor"][0], "Invalid cursor.", "{path}: {body}");
        }
    }
}

#[tokio::test]
async fn extreme_zoom_timestamp_is_401() {
    let setup = setup().await;
    let body = fixture("url_validation.json");
    let timestamp = i64::MIN.to_string();
    let response = reqwest::Client::new()
        .post(format!(
            "{}/external_webhooks/zoom/oauth_apps/{}",
            setup.server.base_url, setup.app_id
        ))
        .header("x-zm-request-timestamp", &timestamp)
        .header("x-zm-signature", zoom_signature("whsec", &timestamp, &body))
        .body(body)
        .send()
        .await
        .expect("the server responds instead of dropping the connection");
    assert_eq!(response.status(), 401);
    let logs = setup.server.stop();
    assert!(!logs.contains("panicked"), "{logs}");
}

#[tokio::test]
async fn token_keyword_in_any_case() {
    let setup = setup().await;
    let response = reqwest::Client::new()
        .get(format!(
            "{}/api/v1/zoom_oauth_connections",
            setup.server.base_url
        ))
        .header("Authorization", format!("token {}", setup.api.api_key))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn head_and_allow_header() {
    let setup = setup().await;
    let client = reqwest::Client::new();
    let head = client
        .head(format!("{}/health", setup.server.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 200);
    assert!(head.bytes().await.unwrap().is_empty());
    let put = client
        .put(format!(
            "{}/api/v1/zoom_oauth_apps/{}",
            setup.server.base_url, setup.app_id
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 405);
    assert_eq!(put.headers()["allow"], "GET, HEAD, PATCH, DELETE");
}

#[tokio::test]
async fn refused_grant_is_revoked() {
    let setup = setup().await;
    setup
        .emulator
        .add_user(ZoomUserSpec::active("uRefused00000000000001"));
    let code = setup.emulator.issue_code(
        CLIENT_ID,
        "uRefused00000000000001",
        REDIRECT_URI,
        &["user:read:user"],
        None,
    );
    let (status, _) = setup
        .api
        .post(
            "/api/v1/zoom_oauth_connections",
            &connection_body(&code, None),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(
        setup.emulator.revoked_tokens().len(),
        1,
        "the refused grant does not stay at Zoom"
    );
}

#[tokio::test]
async fn port_zero_links_use_bound_port() {
    let data_dir = DataDir::new();
    let project = create_project(&data_dir.0, "port zero");
    let output = std::process::Command::new(BINARY)
        .arg("serve")
        .env("DATA_DIR", &data_dir.0)
        .env("PORT", "70000")
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(2),
        "an invalid PORT stops start-up"
    );
    assert!(String::from_utf8_lossy(&output.stderr).contains("PORT must be a port number"));

    let server = LocalServer::start_on_port(&data_dir.0, &HashMap::new(), 0).await;
    let api = Api::new(&server.base_url, &project.api_key);
    let (status, app) = api
        .post(
            "/api/v1/webhooks",
            &json!({"url": "http://127.0.0.1:9/hook", "triggers": ["bot.state_change"]}),
        )
        .await;
    assert_eq!(status, 201, "{app}");
    api.post(
        "/api/v1/webhooks",
        &json!({"url": "http://127.0.0.1:9/hook", "triggers": ["bot.state_change"]}),
    )
    .await;
    let (_, page) = api.get("/api/v1/webhooks?page_size=1").await;
    let next = page["next"].as_str().unwrap();
    assert!(
        next.starts_with(&server.base_url),
        "{next} should start with {}",
        server.base_url
    );
}
