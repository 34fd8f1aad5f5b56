//! The hosted OAuth flow over HTTP: connect session, Zoom's redirect back, success and
//! failure redirects, and single-use states.

mod support;

use std::collections::HashMap;

use integration_tests::zoom_emulator::{ZoomEmulator, ZoomUserSpec};
use serde_json::json;
use support::*;

const CLIENT_ID: &str = "hosted-client";
const CLIENT_SECRET: &str = "hosted-secret-9a8b";
const SUCCESS_URL: &str = "http://127.0.0.1:9/done?tenant=acme";
const FAILURE_URL: &str = "http://127.0.0.1:9/failed";

fn query_value(url: &str, name: &str) -> Option<String> {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

async fn follow_callback(base_url: &str, query: &str) -> (u16, Option<String>) {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let response = client
        .get(format!("{base_url}/oauth/zoom/callback?{query}"))
        .send()
        .await
        .unwrap();
    let location = response
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_owned());
    (response.status().as_u16(), location)
}

#[tokio::test]
async fn hosted_flow_creates_connection_once() {
    let emulator = ZoomEmulator::start().await;
    emulator.register_app(CLIENT_ID, CLIENT_SECRET);
    emulator.add_user(ZoomUserSpec::active("uHosted0000000000000001"));
    let data_dir = DataDir::new();
    let project = create_project(&data_dir.0, "hosted");
    let env = HashMap::from([
        ("ZOOM_OAUTH_BASE_URL", emulator.base_url()),
        ("ZOOM_API_BASE_URL", emulator.base_url()),
    ]);
    let server = LocalServer::start(&data_dir.0, &env).await;
    let api = Api::new(&server.base_url, &project.api_key);
    let (status, _) = api
        .post(
            "/api/v1/zoom_oauth_apps",
            &json!({"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}),
        )
        .await;
    assert_eq!(status, 201);

    let session_body = json!({
        "success_url": SUCCESS_URL,
        "failure_url": FAILURE_URL,
        "metadata": {"tenant": "acme"},
        "is_onbehalf_token_supported": true,
        "is_local_recording_token_supported": false,
    });
    let (status, session) = api
        .post("/api/v1/zoom_oauth_connect_sessions", &session_body)
        .await;
    assert_eq!(status, 201, "{session}");
    let authorize_url = session["authorize_url"].as_str().unwrap();
    assert!(
        authorize_url.starts_with(&format!("{}/oauth/authorize?", emulator.base_url())),
        "{authorize_url}"
    );
    assert_eq!(
        query_value(authorize_url, "client_id").as_deref(),
        Some(CLIENT_ID)
    );
    assert_eq!(
        query_value(authorize_url, "code_challenge_method").as_deref(),
        Some("S256")
    );
    assert_eq!(
        query_value(authorize_url, "scope"),
        None,
        "Zoom takes scopes from the app"
    );
    let redirect_uri = query_value(authorize_url, "redirect_uri").unwrap();
    assert_eq!(
        redirect_uri,
        format!("{}/oauth/zoom/callback", server.base_url)
    );
    let state = query_value(authorize_url, "state").unwrap();
    let challenge = query_value(authorize_url, "code_challenge").unwrap();
    assert!(session["expires_at"].as_str().unwrap().ends_with('Z'));

    // Zoom redirects back with a code bound to the PKCE challenge.
    let code = emulator.issue_code(
        CLIENT_ID,
        "uHosted0000000000000001",
        &redirect_uri,
        &["user:read:user", "user:read:token"],
        Some(challenge),
    );
    let query = format!("code={code}&state={state}");
    let (status, location) = follow_callback(&server.base_url, &query).await;
    assert_eq!(status, 302);
    let location = location.unwrap();
    assert!(
        location.starts_with("http://127.0.0.1:9/done?tenant=acme&zoom_oauth_connection_id=zoc_"),
        "{location}"
    );
    let connection_id = query_value(&location, "zoom_oauth_connection_id").unwrap();
    let (status, connection) = api
        .get(&format!("/api/v1/zoom_oauth_connections/{connection_id}"))
        .await;
    assert_eq!(status, 200);
    assert_eq!(connection["metadata"], json!({"tenant": "acme"}));
    assert_eq!(connection["is_onbehalf_token_supported"], true);

    // A replayed state creates nothing.
    let (status, location) = follow_callback(&server.base_url, &query).await;
    assert_eq!(status, 400);
    assert_eq!(location, None);
    let (status, _) = follow_callback(&server.base_url, "code=x&state=never-issued").await;
    assert_eq!(status, 400);
    let (status, _) = follow_callback(&server.base_url, "code=x").await;
    assert_eq!(status, 400);

    // Missing scopes and a declined consent go to the failure URL with an error code.
    let (_, session) = api
        .post("/api/v1/zoom_oauth_connect_sessions", &session_body)
        .await;
    let state = query_value(session["authorize_url"].as_str().unwrap(), "state").unwrap();
    let challenge =
        query_value(session["authorize_url"].as_str().unwrap(), "code_challenge").unwrap();
    let code = emulator.issue_code(
        CLIENT_ID,
        "uHosted0000000000000001",
        &redirect_uri,
        &["user:read:user"],
        Some(challenge),
    );
    let (status, location) =
        follow_callback(&server.base_url, &format!("code={code}&state={state}")).await;
    assert_eq!(status, 302);
    assert_eq!(
        location.as_deref(),
        Some("http://127.0.0.1:9/failed?error=missing_scopes")
    );

    let (_, session) = api
        .post("/api/v1/zoom_oauth_connect_sessions", &session_body)
        .await;
    let state = query_value(session["authorize_url"].as_str().unwrap(), "state").unwrap();
    let (status, location) = follow_callback(
        &server.base_url,
        &format!("error=access_denied&state={state}"),
    )
    .await;
    assert_eq!(status, 302);
    assert_eq!(
        location.as_deref(),
        Some("http://127.0.0.1:9/failed?error=access_denied")
    );

    // A PKCE verifier that does not match (a code issued for another challenge) fails.
    let (_, session) = api
        .post("/api/v1/zoom_oauth_connect_sessions", &session_body)
        .await;
    let state = query_value(session["authorize_url"].as_str().unwrap(), "state").unwrap();
    let code = emulator.issue_code(
        CLIENT_ID,
        "uHosted0000000000000001",
        &redirect_uri,
        &["user:read:user", "user:read:token"],
        Some("wrong-challenge".into()),
    );
    let (_, location) =
        follow_callback(&server.base_url, &format!("code={code}&state={state}")).await;
    assert_eq!(
        location.as_deref(),
        Some("http://127.0.0.1:9/failed?error=invalid_code")
    );

    let (_, list) = api.get("/api/v1/zoom_oauth_connections").await;
    assert_eq!(list["results"].as_array().unwrap().len(), 1);

    // Field validation.
    let (status, body) = api
        .post(
            "/api/v1/zoom_oauth_connect_sessions",
            &json!({"success_url": "ftp://x", "failure_url": "not a url"}),
        )
        .await;
    assert_eq!(status, 400);
    assert!(body["success_url"].is_array(), "{body}");
    assert!(body["failure_url"].is_array(), "{body}");
}
