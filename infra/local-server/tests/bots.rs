//! Bots end to end: the local server binary, the Zoom emulator and the runner fake on free
//! loopback ports. Join attempts run through the server's own queue worker, so the waits
//! here follow the real backoff (3 s, then 6 s, …).
//!
//! The last test calls the join worker in process, on the embedded backend, to show that a
//! message handled twice produces one ticket.

mod support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use integration_tests::runner_fake::{RunnerFake, RunnerReply, WebhookReceiver, sign};
use integration_tests::zoom_emulator::{Endpoint, Failure, ZoomEmulator, ZoomUserSpec};
use serde_json::{Value, json};
use support::*;

const CLIENT_ID: &str = "ZmBoTcLiEnTiD02";
const CLIENT_SECRET: &str = "client-secret-bots-5d1e";
const WEBHOOK_SECRET: &str = "bots-webhook-secret-token";
const RUNNER_SECRET: &str = "runner-secret-bots-91c2";
const MEETING_NUMBER: &str = "85012345678";
const MEETING_URL: &str = "https://us02web.zoom.us/j/85012345678?pwd=AbC123.1";
const OBF_SCOPES: &[&str] = &["user:read:user", "user:read:token"];
const RECORDING_SCOPES: &[&str] = &[
    "user:read:user",
    "user:read:zak",
    "meeting:read:list_meetings",
    "meeting:read:local_recording_token",
];

/// The servers of one test. Fields drop in order, so the server stops before its data
/// folder is removed.
struct Stack {
    server: LocalServer,
    api: Api,
    project: ProjectKeys,
    emulator: ZoomEmulator,
    runner: RunnerFake,
    _data_dir: DataDir,
}

async fn start_stack(script: Vec<RunnerReply>) -> Stack {
    let emulator = ZoomEmulator::start().await;
    emulator.register_app(CLIENT_ID, CLIENT_SECRET);
    let runner = RunnerFake::start(RUNNER_SECRET, script).await;
    let data_dir = DataDir::new();
    let project = create_project(&data_dir.0, "bots");
    let env = HashMap::from([
        ("ZOOM_OAUTH_BASE_URL", emulator.base_url()),
        ("ZOOM_API_BASE_URL", emulator.base_url()),
        ("BOT_RUNNER_URL", runner.url()),
        ("BOT_RUNNER_SECRET", RUNNER_SECRET.to_owned()),
    ]);
    let server = LocalServer::start(&data_dir.0, &env).await;
    let api = Api::new(&server.base_url, &project.api_key);
    let (status, app) = api
        .post(
            "/api/v1/zoom_oauth_apps",
            &json!({"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "webhook_secret": WEBHOOK_SECRET}),
        )
        .await;
    assert_eq!(status, 201, "{app}");
    Stack {
        server,
        api,
        project,
        emulator,
        runner,
        _data_dir: data_dir,
    }
}

impl Stack {
    /// Authorizes `user_id` at the emulator and creates its connection.
    async fn connect(&self, user_id: &str, onbehalf: bool, local_recording: bool) -> Value {
        self.emulator.add_user(ZoomUserSpec::active(user_id));
        let mut scopes: Vec<&str> = Vec::new();
        if onbehalf {
            scopes.extend(OBF_SCOPES);
        }
        if local_recording {
            scopes.extend(RECORDING_SCOPES);
        }
        let code = self
            .emulator
            .issue_code(CLIENT_ID, user_id, REDIRECT_URI, &scopes, None);
        let (status, connection) = self
            .api
            .post(
                "/api/v1/zoom_oauth_connections",
                &json!({
                    "authorization_code": code,
                    "redirect_uri": REDIRECT_URI,
                    "is_onbehalf_token_supported": onbehalf,
                    "is_local_recording_token_supported": local_recording,
                }),
            )
            .await;
        assert_eq!(status, 201, "{connection}");
        connection
    }

    async fn launch(&self, request: &Value) -> Value {
        let (status, bot) = self.api.post("/api/v1/bots", request).await;
        assert_eq!(status, 201, "{bot}");
        bot
    }

    /// Polls the bot until its state is `state`.
    async fn wait_for_state(&self, bot_id: &str, state: &str, timeout: Duration) -> Value {
        let started = Instant::now();
        loop {
            let (status, bot) = self.api.get(&format!("/api/v1/bots/{bot_id}")).await;
            assert_eq!(status, 200, "{bot}");
            if bot["state"] == state {
                return bot;
            }
            assert!(
                started.elapsed() < timeout,
                "bot still {} after {timeout:?}, expected {state}: {bot}\nserver logs:\n{}",
                bot["state"],
                self.server.logs()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

fn obf_bot(user_id: &str) -> Value {
    json!({
        "meeting_url": MEETING_URL,
        "bot_name": "Notetaker",
        "metadata": {"deal": "42"},
        "zoom_settings": {"onbehalf_token": {"zoom_oauth_connection_user_id": user_id}},
        "recording_settings": {"format": "mp4"},
    })
}

fn timestamp(value: &Value) -> DateTime<Utc> {
    value
        .as_str()
        .unwrap_or_else(|| panic!("expected a timestamp, got {value}"))
        .parse()
        .unwrap()
}

#[tokio::test]
async fn obf_bot_waits_then_joins() {
    let stack = start_stack(vec![
        RunnerReply::not_in_meeting(),
        RunnerReply::not_in_meeting(),
        RunnerReply::joined(),
    ])
    .await;
    stack.connect("uObfUser000000000001", true, false).await;

    let bot = stack.launch(&obf_bot("uObfUser000000000001")).await;
    let bot_id = bot["id"].as_str().unwrap().to_owned();
    assert!(bot_id.starts_with("bot_"), "{bot_id}");
    assert_eq!(bot_id.len(), 20, "{bot_id}");
    assert_eq!(bot["state"], "joining");
    assert_eq!(bot["meeting_url"], MEETING_URL);
    assert_eq!(bot["metadata"], json!({"deal": "42"}));

    let joined = stack
        .wait_for_state(&bot_id, "joined", Duration::from_secs(30))
        .await;
    // Give a wrongly queued fourth attempt the time to show up.
    tokio::time::sleep(Duration::from_secs(1)).await;

    let tickets = stack.runner.tickets();
    assert_eq!(tickets.len(), 3, "{tickets:#?}");
    assert_eq!(
        stack.runner.rejected_count(),
        0,
        "every ticket's signature is valid"
    );
    let minted = stack.emulator.minted_tokens();
    let mut seen = Vec::new();
    for (index, ticket) in tickets.iter().enumerate() {
        assert_eq!(ticket["attempt"], index + 1);
        assert_eq!(ticket["bot_id"], bot_id.as_str());
        assert_eq!(ticket["meeting_number"], MEETING_NUMBER);
        assert_eq!(ticket["passcode"], "AbC123.1");
        assert_eq!(ticket["bot"]["recording_settings"]["format"], "mp4");
        let token = ticket["tokens"]["onbehalf_token"].as_str().unwrap();
        let mint = minted.iter().find(|m| m.token == token).unwrap_or_else(|| {
            panic!(
                "ticket {} carries a token the emulator never minted",
                index + 1
            )
        });
        assert_eq!(mint.kind, "onbehalf");
        assert_eq!(mint.user_id, "uObfUser000000000001");
        assert_eq!(mint.meeting_number.as_deref(), Some(MEETING_NUMBER));
        assert!(
            !seen.contains(&token),
            "ticket {} reuses a token",
            index + 1
        );
        seen.push(token);
    }

    assert_eq!(joined["join_attempts"], 3);
    assert!(joined["next_attempt_at"].is_null());
    let events: Vec<_> = joined["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        events,
        [
            "join_requested",
            "authorized_user_not_in_meeting",
            "bot_joined_meeting"
        ]
    );

    let (status, list) = stack.api.get("/api/v1/bots").await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["results"][0]["id"], bot_id.as_str());

    let logs = stack.server.logs();
    for token in &seen {
        assert!(!logs.contains(*token), "an OBF token reached the log");
        assert!(!joined.to_string().contains(*token));
    }
    assert!(
        !logs.contains(RUNNER_SECRET),
        "the runner secret reached the log"
    );
}

#[tokio::test]
async fn wait_timeout_fails_bot_once() {
    let stack = start_stack(vec![RunnerReply::not_in_meeting()]).await;
    stack.connect("uObfUser000000000002", true, false).await;
    let receiver = WebhookReceiver::start_unverified().await;
    let (status, subscription) = stack
        .api
        .post(
            "/api/v1/webhooks",
            &json!({"url": receiver.url(), "triggers": ["bot.state_change"]}),
        )
        .await;
    assert_eq!(status, 201, "{subscription}");
    receiver.set_secret(subscription["secret"].as_str().unwrap());

    let mut request = obf_bot("uObfUser000000000002");
    request["automatic_leave_settings"] =
        json!({"authorized_user_not_in_meeting_timeout_seconds": 5});
    let bot = stack.launch(&request).await;
    let bot_id = bot["id"].as_str().unwrap().to_owned();

    let failed = stack
        .wait_for_state(&bot_id, "fatal_error", Duration::from_secs(30))
        .await;
    let last_event = failed["events"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last_event["type"], "could_not_join");
    assert_eq!(
        last_event["sub_type"],
        "authorized_user_not_in_meeting_timeout_exceeded"
    );
    let deadline = timestamp(&failed["authorized_user_wait_deadline"]);
    // The wait ends at its deadline: a last job then fails the bot without a ticket.
    let ended_at = timestamp(&last_event["created_at"]);
    assert!(
        ended_at >= deadline,
        "ended at {ended_at}, deadline {deadline}"
    );
    assert!(
        ended_at <= deadline + chrono::Duration::seconds(3),
        "ended at {ended_at}, deadline {deadline}"
    );

    let tickets = stack.runner.tickets();
    assert!(tickets.len() >= 2, "{tickets:#?}");
    for (index, ticket) in tickets.iter().enumerate() {
        assert_eq!(ticket["attempt"], index + 1);
        let due = timestamp(&ticket["bot"]["next_attempt_at"]);
        assert!(
            due <= deadline,
            "attempt {} due at {due}, after the deadline {deadline}",
            index + 1
        );
        if index > 0 {
            assert_eq!(timestamp(&ticket["deadline"]), deadline);
        }
    }

    // Two transitions: joining → waiting, waiting → fatal_error.
    receiver
        .wait_for_deliveries(2, Duration::from_secs(15))
        .await;
    // Give a duplicate delivery the time to show up.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let deliveries = receiver.deliveries();
    assert_eq!(deliveries.len(), 2, "{deliveries:#?}");
    let timeouts: Vec<_> = deliveries
        .into_iter()
        .filter(|d| {
            d.body["data"]["event_sub_type"] == "authorized_user_not_in_meeting_timeout_exceeded"
        })
        .collect();
    assert_eq!(timeouts.len(), 1);
    let delivery = &timeouts[0];
    assert!(delivery.signature_valid);
    assert_eq!(delivery.body["trigger"], "bot.state_change");
    assert_eq!(delivery.body["bot_id"], bot_id.as_str());
    assert_eq!(delivery.body["bot_metadata"], json!({"deal": "42"}));
    assert_eq!(
        delivery.body["data"]["old_state"],
        "waiting_for_authorized_user"
    );
    assert_eq!(delivery.body["data"]["new_state"], "fatal_error");
    assert_eq!(delivery.body["data"]["event_type"], "could_not_join");
    assert!(delivery.body["idempotency_key"].is_string());
}

/// Disconnects a user's connection with a signed `app_deauthorized` event.
async fn deauthorize(stack: &Stack, app_id: &str, user_id: &str) {
    let body = json!({
        "event": "app_deauthorized",
        "event_ts": now_seconds() * 1000,
        "payload": {
            "account_id": "emu-account",
            "user_id": user_id,
            "client_id": CLIENT_ID,
            "deauthorization_time": "2026-12-09T10:11:12.000Z",
            "signature": "unused",
            "event_ts": "2026-12-09 10:11:12",
        },
    });
    let (status, answer) = send_zoom_event(
        &stack.server.base_url,
        app_id,
        WEBHOOK_SECRET,
        now_seconds(),
        body.to_string().as_bytes(),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
}

async fn expect_400(stack: &Stack, request: &Value) -> Value {
    let (status, body) = stack.api.post("/api/v1/bots", request).await;
    assert_eq!(status, 400, "request {request} got {body}");
    body
}

#[tokio::test]
async fn launch_rejects_unusable_requests() {
    let stack = start_stack(vec![RunnerReply::joined()]).await;
    let usable = "uObfUser000000000003";
    stack.connect(usable, true, false).await;
    let recording_only = stack.connect("uRecOnly000000000004", false, true).await;
    let disconnected = stack.connect("uDisconnected0000005", true, false).await;
    deauthorize(
        &stack,
        disconnected["zoom_oauth_app_id"].as_str().unwrap(),
        "uDisconnected0000005",
    )
    .await;

    // OBF checks at launch.
    let body = expect_400(&stack, &obf_bot("uNobody0000000000006")).await;
    let message = body["error"].as_str().unwrap();
    assert!(
        message.contains("uNobody0000000000006") && message.contains("No Zoom OAuth connection"),
        "{message}"
    );

    let body = expect_400(&stack, &obf_bot("uDisconnected0000005")).await;
    let message = body["error"].as_str().unwrap();
    assert!(
        message.contains("disconnected") && message.contains(disconnected["id"].as_str().unwrap()),
        "{message}"
    );

    let body = expect_400(&stack, &obf_bot("uRecOnly000000000004")).await;
    let message = body["error"].as_str().unwrap();
    assert!(
        message.contains("does not support on-behalf-of tokens")
            && message.contains(recording_only["id"].as_str().unwrap()),
        "{message}"
    );

    // Meeting URLs.
    for (url, expected) in [
        ("https://zoom.us/my/acme.team", "Personal links"),
        ("https://events.zoom.us/ev/AbC", "Zoom Events"),
        ("https://example.com/j/85012345678", "not a Zoom host"),
        ("http://zoom.us/j/85012345678", "must use https"),
        ("https://zoom.us/j/1234", "9 to 11 digits"),
        ("zoom.us/j/85012345678", "not a valid URL"),
        ("   ", "may not be blank"),
    ] {
        let mut request = obf_bot(usable);
        request["meeting_url"] = json!(url);
        let body = expect_400(&stack, &request).await;
        let message = body["meeting_url"][0].as_str().unwrap_or_default();
        assert!(message.contains(expected), "{url}: {body}");
    }
    let mut request = obf_bot(usable);
    request.as_object_mut().unwrap().remove("meeting_url");
    request.as_object_mut().unwrap().remove("bot_name");
    let body = expect_400(&stack, &request).await;
    assert_eq!(body["meeting_url"][0], "This field is required.");
    assert_eq!(body["bot_name"][0], "This field is required.");

    // Timeout bounds and types.
    for value in [
        json!(0),
        json!(7201),
        json!(-1),
        json!(true),
        json!(600.5),
        json!(60.0),
        json!("600"),
    ] {
        let mut request = obf_bot(usable);
        request["automatic_leave_settings"] =
            json!({"authorized_user_not_in_meeting_timeout_seconds": value});
        let body = expect_400(&stack, &request).await;
        let message = body["automatic_leave_settings"][0]
            .as_str()
            .unwrap_or_default();
        assert!(
            message.contains("authorized_user_not_in_meeting_timeout_seconds"),
            "{value}: {body}"
        );
    }

    // Unknown fields list the allowed ones.
    let mut request = obf_bot(usable);
    request["colour"] = json!("red");
    let body = expect_400(&stack, &request).await;
    let message = body["non_field_errors"][0].as_str().unwrap();
    assert!(message.contains("colour"), "{message}");
    assert!(
        message.contains("recording_settings") && message.contains("zoom_settings"),
        "{message}"
    );

    // A token callback URL must be a URL this service may call.
    let mut request = obf_bot(usable);
    request["callback_settings"] = json!({"zoom_tokens_url": "ftp://tokens.example/obf"});
    let body = expect_400(&stack, &request).await;
    assert!(
        body["callback_settings"][0]
            .as_str()
            .unwrap()
            .contains("zoom_tokens_url"),
        "{body}"
    );

    // Nothing above created a bot or sent a ticket; the boundary values are accepted.
    let (_, list) = stack.api.get("/api/v1/bots").await;
    assert_eq!(list["results"], json!([]), "{list}");
    for seconds in [1, 7200] {
        let mut request = obf_bot(usable);
        request["automatic_leave_settings"] =
            json!({"authorized_user_not_in_meeting_timeout_seconds": seconds});
        stack.launch(&request).await;
    }

    let (status, body) = stack.api.get("/api/v1/bots/bot_A1b2C3d4E5f6G7h8").await;
    assert_eq!((status, body), (404, json!({"error": "Bot not found"})));
    let (status, _) = stack.api.delete("/api/v1/bots").await;
    assert_eq!(status, 405);
}

#[tokio::test]
async fn launch_without_runner_url_fails() {
    let emulator = ZoomEmulator::start().await;
    let data_dir = DataDir::new();
    let project = create_project(&data_dir.0, "no runner");
    let env = HashMap::from([
        ("ZOOM_OAUTH_BASE_URL", emulator.base_url()),
        ("ZOOM_API_BASE_URL", emulator.base_url()),
    ]);
    let server = LocalServer::start(&data_dir.0, &env).await;
    let api = Api::new(&server.base_url, &project.api_key);

    let (status, body) = api
        .post(
            "/api/v1/bots",
            &json!({"meeting_url": MEETING_URL, "bot_name": "Notetaker"}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("BOT_RUNNER_URL"),
        "{body}"
    );
}

#[tokio::test]
async fn launch_without_runner_secret_fails() {
    let data_dir = DataDir::new();
    let project = create_project(&data_dir.0, "no runner secret");
    let env = HashMap::from([("BOT_RUNNER_URL", "http://127.0.0.1:9/runner".to_owned())]);
    let server = LocalServer::start(&data_dir.0, &env).await;
    let api = Api::new(&server.base_url, &project.api_key);

    let (status, body) = api
        .post(
            "/api/v1/bots",
            &json!({"meeting_url": MEETING_URL, "bot_name": "Notetaker"}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("BOT_RUNNER_SECRET"),
        "{body}"
    );
    assert!(
        server.logs().contains("BOT_RUNNER_SECRET is not"),
        "a start-up warning names it"
    );
}

/// A `zoom_tokens_url` receiver: checks each request's signature with the project's
/// signing secret and responds with two OBF tokens in one comma-separated string.
struct TokenCallback {
    key: Vec<u8>,
    requests: Mutex<Vec<Value>>,
    rejected: Mutex<usize>,
}

async fn respond_with_tokens(
    State(callback): State<Arc<TokenCallback>>,
    headers: HeaderMap,
    body: Bytes,
) -> axum::response::Response {
    let signature = headers
        .get("X-Webhook-Signature")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    if signature != sign(&callback.key, &body) {
        *callback.rejected.lock().unwrap() += 1;
        return StatusCode::UNAUTHORIZED.into_response();
    }
    callback
        .requests
        .lock()
        .unwrap()
        .push(serde_json::from_slice(&body).unwrap());
    axum::Json(json!({
        "onbehalf_token": "cb-obf-first, cb-obf-second",
        "zak_token": "cb-zak",
        "join_token": "  ",
    }))
    .into_response()
}

#[tokio::test]
async fn tokens_url_tokens_used_round_robin() {
    let stack = start_stack(vec![
        RunnerReply::not_in_meeting(),
        RunnerReply::not_in_meeting(),
        RunnerReply::joined(),
    ])
    .await;
    let callback = Arc::new(TokenCallback {
        key: STANDARD.decode(&stack.project.signing_secret).unwrap(),
        requests: Mutex::new(Vec::new()),
        rejected: Mutex::new(0),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let callback_url = format!("http://{}/zoom-tokens", listener.local_addr().unwrap());
    let router = Router::new()
        .fallback(respond_with_tokens)
        .with_state(callback.clone());
    tokio::spawn(async move { axum::serve(listener, router).await });

    let bot = stack
        .launch(&json!({
            "meeting_url": "https://zoom.us/w/85012345678?tk=registrant-abc",
            "bot_name": "Webinar notes",
            "metadata": {"deal": "7"},
            "callback_settings": {"zoom_tokens_url": callback_url},
        }))
        .await;
    let bot_id = bot["id"].as_str().unwrap().to_owned();
    stack
        .wait_for_state(&bot_id, "joined", Duration::from_secs(30))
        .await;

    let tickets = stack.runner.tickets();
    let picked: Vec<_> = tickets
        .iter()
        .map(|t| t["tokens"]["onbehalf_token"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(picked, ["cb-obf-first", "cb-obf-second", "cb-obf-first"]);
    for ticket in &tickets {
        let tokens = &ticket["tokens"];
        assert_eq!(tokens["zak_token"], "cb-zak");
        assert!(tokens["join_token"].is_null(), "a blank token is not used");
        assert!(tokens["app_privilege_token"].is_null());
        assert_eq!(tokens["registrant_token"], "registrant-abc");
    }
    assert!(
        stack.emulator.minted_tokens().is_empty(),
        "only the callback supplies tokens"
    );

    assert_eq!(*callback.rejected.lock().unwrap(), 0);
    let requests = callback.requests.lock().unwrap().clone();
    assert_eq!(requests.len(), 3);
    for (index, request) in requests.iter().enumerate() {
        assert_eq!(request["bot_id"], bot_id.as_str());
        assert_eq!(request["attempt"], index + 1);
        assert_eq!(request["meeting_number"], MEETING_NUMBER);
        assert_eq!(
            request["meeting_url"],
            "https://zoom.us/w/85012345678?tk=registrant-abc"
        );
        assert_eq!(request["bot_metadata"], json!({"deal": "7"}));
    }
    let logs = stack.server.logs();
    assert!(
        !logs.contains("cb-obf-first") && !logs.contains("cb-zak"),
        "a callback token reached the log"
    );
}

/// The join worker in process: the same attempt handled twice, at the same moment and
/// again afterwards, sends one ticket and mints one OBF token.
#[tokio::test]
async fn attempt_handled_twice_sends_one_ticket() {
    use shared::adapters::local_secrets::LocalSecretBox;
    use shared::adapters::outbound_http::ReqwestOutbound;
    use shared::adapters::sqlite::SqliteDb;
    use shared::adapters::zoom_http::ZoomHttp;
    use shared::domain::meeting_url::parse_meeting_url;
    use shared::ports::clock::{RandomIds, SystemClock};
    use shared::secret::SecretString;
    use shared::services::apps::{NewApp, create_app};
    use shared::services::bots::{NewBot, launch};
    use shared::services::connections::{NewConnection, create_connection};
    use shared::services::join::run_attempt;
    use shared::services::{Services, Settings, projects};

    let emulator = ZoomEmulator::start().await;
    emulator.register_app(CLIENT_ID, CLIENT_SECRET);
    emulator.add_user(ZoomUserSpec::active("uObfUser000000000007"));
    let runner = RunnerFake::start(RUNNER_SECRET, vec![RunnerReply::not_in_meeting()]).await;

    let db = SqliteDb::in_memory().unwrap();
    let services = Services {
        store: Arc::new(db.store()),
        secrets: Arc::new(LocalSecretBox::from_key(&[3u8; 32]).unwrap()),
        queue: Arc::new(db.queue()),
        zoom: Arc::new(ZoomHttp::new(&emulator.base_url(), &emulator.base_url()).unwrap()),
        outbound: Arc::new(ReqwestOutbound::new(true).unwrap()),
        clock: Arc::new(SystemClock),
        ids: Arc::new(RandomIds),
        settings: Settings {
            public_base_url: "http://127.0.0.1:1".into(),
            zoom_oauth_base_url: emulator.base_url(),
            allow_private_urls: true,
            bot_runner_url: Some(runner.url()),
            bot_runner_secret: Some(SecretString::new(RUNNER_SECRET)),
            delivery_max_attempts: 5,
        },
    };
    let project = projects::create_project(&services, "in process")
        .await
        .unwrap();
    let project_id = project.project_id.as_str();
    create_app(
        &services,
        project_id,
        NewApp {
            client_id: CLIENT_ID.into(),
            client_secret: SecretString::new(CLIENT_SECRET),
            webhook_secret: None,
        },
    )
    .await
    .unwrap();
    let code = emulator.issue_code(
        CLIENT_ID,
        "uObfUser000000000007",
        REDIRECT_URI,
        OBF_SCOPES,
        None,
    );
    create_connection(
        &services,
        project_id,
        NewConnection {
            authorization_code: SecretString::new(code),
            redirect_uri: REDIRECT_URI.into(),
            zoom_oauth_app_id: None,
            is_local_recording_token_supported: false,
            is_onbehalf_token_supported: true,
            metadata: None,
            code_verifier: None,
        },
    )
    .await
    .unwrap();
    let bot = launch(
        &services,
        project_id,
        NewBot {
            meeting_url: MEETING_URL.into(),
            parsed_url: parse_meeting_url(MEETING_URL).unwrap(),
            bot_name: "Notetaker".into(),
            metadata: None,
            onbehalf_user_id: Some("uObfUser000000000007".into()),
            authorized_user_timeout_seconds: 600,
            zoom_tokens_url: None,
            settings: serde_json::Map::new(),
        },
    )
    .await
    .unwrap();

    let (first, second) = tokio::join!(
        run_attempt(&services, &bot.id, 1),
        run_attempt(&services, &bot.id, 1)
    );
    // A copy that finds the attempt still running fails, so the queue retries it later.
    let failed = [&first, &second]
        .iter()
        .filter(|result| result.is_err())
        .count();
    assert!(failed <= 1, "{first:?} {second:?}");
    for result in [first, second] {
        if let Err(error) = result {
            assert!(error.to_string().contains("still running"), "{error}");
        }
    }
    run_attempt(&services, &bot.id, 1).await.unwrap();

    let tickets = runner.tickets();
    assert_eq!(tickets.len(), 1, "{tickets:#?}");
    assert_eq!(runner.rejected_count(), 0);
    let onbehalf: Vec<_> = emulator
        .minted_tokens()
        .into_iter()
        .filter(|m| m.kind == "onbehalf")
        .collect();
    assert_eq!(onbehalf.len(), 1, "a dropped duplicate mints nothing");
    assert_eq!(
        tickets[0]["tokens"]["onbehalf_token"],
        onbehalf[0].token.as_str()
    );
    assert_eq!(tickets[0]["attempt"], 1);
}

#[tokio::test]
async fn host_recording_token_is_optional() {
    let stack = start_stack(vec![RunnerReply::not_in_meeting(), RunnerReply::joined()]).await;
    // The host's meeting is found by the meeting sync that follows the authorization.
    stack
        .emulator
        .add_user(ZoomUserSpec::active("uRecHost000000000000001"));
    stack
        .emulator
        .add_meeting("uRecHost000000000000001", 85012345678, "Planning");
    let host = stack.connect("uRecHost000000000000001", false, true).await;
    let (_, meetings) = stack
        .api
        .get(&format!(
            "/api/v1/zoom_oauth_connections/{}/meetings",
            host["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(
        meetings["results"][0]["meeting_id"], MEETING_NUMBER,
        "{meetings}"
    );
    stack.connect("uRecGuest00000000000001", true, false).await;

    // The first attempt cannot get the host's token; the join goes ahead without it.
    stack
        .emulator
        .fail_next(Endpoint::LocalRecordingToken, Failure::Status(404));
    let bot = stack.launch(&obf_bot("uRecGuest00000000000001")).await;
    stack
        .wait_for_state(
            bot["id"].as_str().unwrap(),
            "joined",
            Duration::from_secs(20),
        )
        .await;

    let tickets = stack.runner.tickets();
    assert_eq!(tickets.len(), 2);
    assert!(
        tickets[0]["tokens"]["app_privilege_token"].is_null(),
        "{}",
        tickets[0]["tokens"]
    );
    assert!(tickets[0]["tokens"]["onbehalf_token"].is_string());
    let recording: Vec<_> = stack
        .emulator
        .minted_tokens()
        .into_iter()
        .filter(|minted| minted.kind == "local_recording")
        .collect();
    assert_eq!(recording.len(), 1);
    assert_eq!(recording[0].user_id, "uRecHost000000000000001");
    assert_eq!(recording[0].meeting_number.as_deref(), Some(MEETING_NUMBER));
    assert_eq!(
        tickets[1]["tokens"]["app_privilege_token"],
        recording[0].token.as_str()
    );
}
