//! Access-token caching, the single-refresh lease, rotation, disconnection, revival after a
//! client secret change, the keeper, and delivery retries: services on the embedded
//! backend, Zoom emulated over real HTTP, time moved by a test clock.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use integration_tests::runner_fake::WebhookReceiver;
use integration_tests::zoom_emulator::{Endpoint, Failure, ZoomEmulator, ZoomUserSpec};
use shared::adapters::local_secrets::LocalSecretBox;
use shared::adapters::outbound_http::ReqwestOutbound;
use shared::adapters::sqlite::{SqliteDb, SqliteQueue};
use shared::adapters::zoom_http::ZoomHttp;
use shared::domain::connection::{Connection, ConnectionState};
use shared::domain::webhook::Trigger;
use shared::ports::clock::{Clock, RandomIds};
use shared::records::{connections as connection_records, tokens as token_records};
use shared::secret::SecretString;
use shared::services::apps::{AppChanges, NewApp};
use shared::services::connections::NewConnection;
use shared::services::tokens::{self, TokenError};
use shared::services::{Services, Settings, apps, connections, keeper, projects, webhooks};

const CLIENT_ID: &str = "lifecycle-client";
const CLIENT_SECRET: &str = "lifecycle-secret-3e4f";
const REDIRECT_URI: &str = "https://customer.example/cb";

/// A clock the test moves forward.
struct TestClock(Mutex<DateTime<Utc>>);

impl TestClock {
    fn advance(&self, by: chrono::Duration) {
        *self.0.lock().unwrap() += by;
    }
}

impl Clock for TestClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }
}

struct World {
    emulator: ZoomEmulator,
    services: Services,
    clock: Arc<TestClock>,
    queue: SqliteQueue,
    project_id: String,
    app_id: String,
}

async fn world() -> World {
    let emulator = ZoomEmulator::start().await;
    emulator.register_app(CLIENT_ID, CLIENT_SECRET);
    let db = SqliteDb::in_memory().unwrap();
    let clock = Arc::new(TestClock(Mutex::new(Utc::now())));
    let services = Services {
        store: Arc::new(db.store()),
        secrets: Arc::new(LocalSecretBox::from_key(&[9u8; 32]).unwrap()),
        queue: Arc::new(db.queue()),
        zoom: Arc::new(ZoomHttp::new(&emulator.base_url(), &emulator.base_url()).unwrap()),
        outbound: Arc::new(ReqwestOutbound::new(true).unwrap()),
        clock: clock.clone(),
        ids: Arc::new(RandomIds),
        settings: Settings {
            public_base_url: "http://127.0.0.1:1".into(),
            zoom_oauth_base_url: emulator.base_url(),
            allow_private_urls: true,
            bot_runner_url: None,
            bot_runner_secret: None,
            delivery_max_attempts: 2,
        },
    };
    let project = projects::create_project(&services, "lifecycle")
        .await
        .unwrap();
    let app = apps::create_app(
        &services,
        &project.project_id,
        NewApp {
            client_id: CLIENT_ID.into(),
            client_secret: SecretString::new(CLIENT_SECRET),
            webhook_secret: None,
        },
    )
    .await
    .unwrap();
    World {
        emulator,
        services,
        clock,
        queue: db.queue(),
        project_id: project.project_id,
        app_id: app.id,
    }
}

impl World {
    async fn connect(&self, user_id: &str) -> Connection {
        self.emulator.add_user(ZoomUserSpec::active(user_id));
        let code = self.emulator.issue_code(
            CLIENT_ID,
            user_id,
            REDIRECT_URI,
            &["user:read:user", "user:read:token"],
            None,
        );
        connections::create_connection(
            &self.services,
            &self.project_id,
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
        .unwrap()
    }

    async fn stored(&self, id: &str) -> Connection {
        connection_records::get_any(self.services.store.as_ref(), id)
            .await
            .unwrap()
            .unwrap()
            .value
    }

    async fn subscribe(&self) -> WebhookReceiver {
        let receiver = WebhookReceiver::start_unverified().await;
        let (_, secret) = webhooks::create_subscription(
            &self.services,
            &self.project_id,
            &receiver.url(),
            vec![Trigger::ConnectionStateChange],
        )
        .await
        .unwrap();
        receiver.set_secret(secret.expose());
        receiver
    }

    /// Runs every due delivery job once, as the queue consumer would.
    async fn run_due_jobs(&self) -> usize {
        let jobs = self.queue.receive(10, Duration::from_secs(30)).unwrap();
        let count = jobs.len();
        for received in jobs {
            shared::services::jobs::run_job(&self.services, &received.job.unwrap())
                .await
                .unwrap();
            self.queue.acknowledge(received.receipt).unwrap();
        }
        count
    }
}

#[tokio::test]
async fn cached_access_token_needs_no_refresh() {
    let w = world().await;
    let connection = w.connect("uCache00000000000000001").await;
    let token_calls = w.emulator.request_count(Endpoint::Token);
    let first = tokens::access_token(&w.services, &connection, None)
        .await
        .unwrap();
    let second = tokens::access_token(&w.services, &connection, None)
        .await
        .unwrap();
    assert_eq!(first, second);
    assert_eq!(w.emulator.request_count(Endpoint::Token), token_calls);
}

#[tokio::test]
async fn expiry_refreshes_once_for_concurrent_callers() {
    let w = world().await;
    let connection = w.connect("uExpiry0000000000000001").await;
    let before = tokens::access_token(&w.services, &connection, None)
        .await
        .unwrap();
    // 3599 s tokens are used until 300 s before expiry.
    w.clock.advance(chrono::Duration::seconds(3400));
    let token_calls = w.emulator.request_count(Endpoint::Token);

    let results = futures_join(&w, &connection).await;
    let fresh = results[0].clone();
    assert!(
        results.iter().all(|token| *token == fresh),
        "every caller gets the one new token"
    );
    assert_ne!(fresh, before);
    assert_eq!(
        w.emulator.request_count(Endpoint::Token),
        token_calls + 1,
        "exactly one refresh"
    );

    // The rotated refresh token is the one stored.
    let stored = tokens::stored_refresh_token(&w.services, &connection)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        Some(stored.expose().to_owned()),
        w.emulator
            .current_refresh_token("uExpiry0000000000000001", CLIENT_ID)
    );
}

async fn futures_join(w: &World, connection: &Connection) -> Vec<SecretString> {
    let (a, b, c, d) = tokio::join!(
        tokens::access_token(&w.services, connection, None),
        tokens::access_token(&w.services, connection, None),
        tokens::access_token(&w.services, connection, None),
        tokens::access_token(&w.services, connection, None),
    );
    vec![a.unwrap(), b.unwrap(), c.unwrap(), d.unwrap()]
}

#[tokio::test]
async fn rejected_access_token_is_replaced() {
    let w = world().await;
    let connection = w.connect("uRejected00000000000001").await;
    let cached = tokens::access_token(&w.services, &connection, None)
        .await
        .unwrap();
    let replaced = tokens::access_token(&w.services, &connection, Some(&cached))
        .await
        .unwrap();
    assert_ne!(cached, replaced);
}

#[tokio::test]
async fn transient_refresh_failure_keeps_connection() {
    let w = world().await;
    let connection = w.connect("uTransient000000000001").await;
    w.clock.advance(chrono::Duration::hours(2));
    w.emulator.fail_next(Endpoint::Token, Failure::Status(503));
    let error = tokens::access_token(&w.services, &connection, None)
        .await
        .unwrap_err();
    assert!(matches!(error, TokenError::Service(_)), "{error:?}");
    assert_eq!(
        w.stored(&connection.id).await.state,
        ConnectionState::Connected
    );
    // The lease was released, so the next call refreshes at once.
    tokens::access_token(&w.services, &connection, None)
        .await
        .unwrap();
}

#[tokio::test]
async fn invalid_grant_disconnects_once_with_one_webhook() {
    let w = world().await;
    let receiver = w.subscribe().await;
    let connection = w.connect("uInvalid00000000000001").await;
    w.clock.advance(chrono::Duration::hours(2));
    w.emulator.fail_next(Endpoint::Token, Failure::InvalidGrant);

    let (a, b) = tokio::join!(
        tokens::access_token(&w.services, &connection, None),
        tokens::access_token(&w.services, &connection, None),
    );
    assert!(matches!(a, Err(TokenError::Disconnected(_))), "{a:?}");
    assert!(matches!(b, Err(TokenError::Disconnected(_))), "{b:?}");
    let stored = w.stored(&connection.id).await;
    assert_eq!(stored.state, ConnectionState::Disconnected);
    assert!(
        stored
            .connection_failure_data
            .unwrap()
            .error
            .starts_with("invalid_grant")
    );
    assert!(
        token_records::get(w.services.store.as_ref(), &connection.id)
            .await
            .unwrap()
            .is_none(),
        "tokens deleted"
    );

    assert_eq!(w.run_due_jobs().await, 1, "one delivery queued");
    let deliveries = receiver
        .wait_for_deliveries(1, Duration::from_secs(5))
        .await;
    assert!(deliveries[0].signature_valid);
    assert_eq!(deliveries[0].body["data"]["state"], "disconnected");
    assert_eq!(
        deliveries[0].body["data"]["connection_failure_data"]["error"],
        "invalid_grant: Invalid Token!"
    );
}

#[tokio::test]
async fn client_secret_change_revives_connection() {
    let w = world().await;
    let receiver = w.subscribe().await;
    let connection = w.connect("uRevive000000000000001").await;

    // The secret is rotated at Zoom; the next refresh fails with invalid_client.
    w.emulator.set_app_secret(CLIENT_ID, "rotated-at-zoom");
    w.clock.advance(chrono::Duration::hours(2));
    let error = tokens::access_token(&w.services, &connection, None)
        .await
        .unwrap_err();
    assert!(
        matches!(error, TokenError::Disconnected(ref reason) if reason.starts_with("invalid_client")),
        "{error:?}"
    );
    assert!(
        token_records::get(w.services.store.as_ref(), &connection.id)
            .await
            .unwrap()
            .is_some(),
        "tokens kept"
    );

    let changes = AppChanges {
        client_secret: Some(SecretString::new("rotated-at-zoom")),
        webhook_secret: None,
    };
    apps::update_app(&w.services, &w.project_id, &w.app_id, changes)
        .await
        .unwrap();
    assert_eq!(
        w.stored(&connection.id).await.state,
        ConnectionState::Disconnected,
        "revival runs as a job, not in the request"
    );

    assert_eq!(
        w.run_due_jobs().await,
        2,
        "the disconnection's delivery and the revival"
    );
    let revived = w.stored(&connection.id).await;
    assert_eq!(revived.state, ConnectionState::Connected);
    assert_eq!(revived.connection_failure_data, None);
    assert_eq!(w.run_due_jobs().await, 1, "the revival's delivery");
    let deliveries = receiver
        .wait_for_deliveries(2, Duration::from_secs(5))
        .await;
    let states: Vec<_> = deliveries
        .iter()
        .map(|d| d.body["data"]["state"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(states, vec!["disconnected", "connected"]);
}

#[tokio::test]
async fn keeper_refreshes_old_refresh_tokens() {
    let w = world().await;
    let connection = w.connect("uKeeper000000000000001").await;
    let report = keeper::run(&w.services).await;
    assert_eq!(report.refreshed, 0, "a fresh connection needs nothing");

    let before = w
        .emulator
        .current_refresh_token("uKeeper000000000000001", CLIENT_ID);
    w.clock.advance(chrono::Duration::days(31));
    let report = keeper::run(&w.services).await;
    assert_eq!(report.refreshed, 1);
    let after = w
        .emulator
        .current_refresh_token("uKeeper000000000000001", CLIENT_ID);
    assert_ne!(before, after);
    let stored = tokens::stored_refresh_token(&w.services, &connection)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(Some(stored.expose().to_owned()), after);
}

#[tokio::test]
async fn failed_delivery_is_retried_then_abandoned() {
    let w = world().await;
    let receiver = w.subscribe().await;
    receiver.set_status(500);
    let connection = w.connect("uDelivery0000000000001").await;
    tokens::disconnect(&w.services, &connection.id, "app_deauthorized")
        .await
        .unwrap();

    assert_eq!(w.run_due_jobs().await, 1);
    assert_eq!(receiver.deliveries().len(), 1);
    assert_eq!(
        w.queue.pending_count().unwrap(),
        1,
        "a retry is queued with a delay"
    );
    assert_eq!(w.run_due_jobs().await, 0, "the retry is not due yet");
    assert_eq!(webhooks::retry_delay(1), Duration::from_secs(10));
}

#[tokio::test]
async fn keeper_requeues_lost_delivery() {
    let w = world().await;
    let receiver = w.subscribe().await;
    let connection = w.connect("uLost0000000000000000001").await;
    tokens::disconnect(&w.services, &connection.id, "app_deauthorized")
        .await
        .unwrap();

    // The queue message is lost: taken and dropped without running.
    for received in w.queue.receive(10, Duration::from_secs(30)).unwrap() {
        w.queue.acknowledge(received.receipt).unwrap();
    }
    assert_eq!(
        keeper::run(&w.services).await.requeued_deliveries,
        0,
        "not stale yet"
    );

    w.clock.advance(chrono::Duration::minutes(31));
    assert_eq!(keeper::run(&w.services).await.requeued_deliveries, 1);
    assert_eq!(w.run_due_jobs().await, 1);
    let deliveries = receiver
        .wait_for_deliveries(1, Duration::from_secs(5))
        .await;
    assert!(deliveries[0].signature_valid);
    assert_eq!(
        keeper::run(&w.services).await.requeued_deliveries,
        0,
        "a delivered one is done"
    );
}
