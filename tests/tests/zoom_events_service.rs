//! Zoom events through the webhook function's router, on the embedded backend with a store
//! whose writes can be made to fail: outages, late deauthorizations, and deauthorization
//! of a connection that kept its tokens.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use integration_tests::zoom_emulator::{ZoomEmulator, ZoomUserSpec};
use shared::adapters::local_secrets::LocalSecretBox;
use shared::adapters::outbound_http::ReqwestOutbound;
use shared::adapters::sqlite::{SqliteDb, SqliteStore};
use shared::adapters::zoom_http::ZoomHttp;
use shared::domain::connection::ConnectionState;
use shared::http::{Function, handle};
use shared::ports::clock::{RandomIds, SystemClock};
use shared::ports::store::{Condition, Item, Key, Page, Query, Store, StoreError, WriteOp};
use shared::records::{connections as connection_records, meetings, tokens as token_records};
use shared::secret::SecretString;
use shared::services::apps::NewApp;
use shared::services::connections::NewConnection;
use shared::services::tokens;
use shared::services::{Services, Settings, apps, connections, projects};

/// The embedded store, with writes of meeting mappings failing while `down` is set.
struct FlakyStore {
    inner: SqliteStore,
    down: AtomicBool,
}

impl FlakyStore {
    fn check(&self, key: &Key) -> Result<(), StoreError> {
        if self.down.load(Ordering::SeqCst) && key.pk.starts_with("MEETING#") {
            return Err(StoreError::Unavailable("injected outage".into()));
        }
        Ok(())
    }
}

#[async_trait]
impl Store for FlakyStore {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        self.inner.get(key).await
    }
    async fn put(&self, item: Item, condition: Condition) -> Result<(), StoreError> {
        self.check(&item.key)?;
        self.inner.put(item, condition).await
    }
    async fn delete(&self, key: &Key, condition: Condition) -> Result<bool, StoreError> {
        self.inner.delete(key, condition).await
    }
    async fn transact(&self, operations: Vec<WriteOp>) -> Result<(), StoreError> {
        self.inner.transact(operations).await
    }
    async fn query(&self, query: Query) -> Result<Page, StoreError> {
        self.inner.query(query).await
    }
}

struct World {
    emulator: ZoomEmulator,
    store: Arc<FlakyStore>,
    services: Services,
    project_id: String,
    app_id: String,
    connection_id: String,
}

async fn world() -> World {
    let emulator = ZoomEmulator::start().await;
    emulator.register_app("outage-client", "outage-secret");
    emulator.add_user(ZoomUserSpec::active("uHoSt0123456789abcdefg"));
    let db = SqliteDb::in_memory().unwrap();
    let store = Arc::new(FlakyStore {
        inner: db.store(),
        down: AtomicBool::new(false),
    });
    let services = Services {
        store: store.clone(),
        secrets: Arc::new(LocalSecretBox::from_key(&[5u8; 32]).unwrap()),
        queue: Arc::new(db.queue()),
        zoom: Arc::new(ZoomHttp::new(&emulator.base_url(), &emulator.base_url()).unwrap()),
        outbound: Arc::new(ReqwestOutbound::new(true).unwrap()),
        clock: Arc::new(SystemClock),
        ids: Arc::new(RandomIds),
        settings: Settings {
            public_base_url: "http://127.0.0.1:1".into(),
            zoom_oauth_base_url: emulator.base_url(),
            allow_private_urls: true,
            bot_runner_url: None,
            bot_runner_secret: None,
            delivery_max_attempts: 3,
        },
    };
    let project = projects::create_project(&services, "outage").await.unwrap();
    let app = apps::create_app(
        &services,
        &project.project_id,
        NewApp {
            client_id: "outage-client".into(),
            client_secret: SecretString::new("outage-secret"),
            webhook_secret: Some(SecretString::new("fixture-webhook-secret-token")),
        },
    )
    .await
    .unwrap();
    let code = emulator.issue_code(
        "outage-client",
        "uHoSt0123456789abcdefg",
        "https://customer.example/cb",
        &[
            "user:read:user",
            "user:read:zak",
            "meeting:read:list_meetings",
            "meeting:read:local_recording_token",
        ],
        None,
    );
    let connection = connections::create_connection(
        &services,
        &project.project_id,
        NewConnection {
            authorization_code: SecretString::new(code),
            redirect_uri: "https://customer.example/cb".into(),
            zoom_oauth_app_id: None,
            is_local_recording_token_supported: true,
            is_onbehalf_token_supported: false,
            metadata: None,
            code_verifier: None,
        },
    )
    .await
    .unwrap();

    World {
        emulator,
        store,
        services,
        project_id: project.project_id,
        app_id: app.id,
        connection_id: connection.id,
    }
}

/// Builds a Zoom delivery of `body`, signed now with the app's webhook secret.
fn signed_delivery(app_id: &str, body: &[u8]) -> http::Request<bytes::Bytes> {
    let timestamp = chrono::Utc::now().timestamp().to_string();
    let signature =
        shared::signing::zoom_signature(b"fixture-webhook-secret-token", &timestamp, body);
    http::Request::builder()
        .method("POST")
        .uri(format!("/external_webhooks/zoom/oauth_apps/{app_id}"))
        .header("x-zm-request-timestamp", timestamp)
        .header("x-zm-signature", signature)
        .body(bytes::Bytes::from(body.to_vec()))
        .unwrap()
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/data/zoom/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

#[tokio::test]
async fn outage_answers_503_and_retry_succeeds() {
    let World {
        services,
        store,
        project_id,
        app_id,
        ..
    } = world().await;
    let body = fixture("meeting_created.json");
    let deliver = || signed_delivery(&app_id, &body);

    store.down.store(true, Ordering::SeqCst);
    let response = handle(&services, Function::ZoomWebhook, deliver()).await;
    assert_eq!(response.status(), 503);
    assert!(
        meetings::get(services.store.as_ref(), &project_id, "85012345678")
            .await
            .unwrap()
            .is_none()
    );

    store.down.store(false, Ordering::SeqCst);
    let response = handle(&services, Function::ZoomWebhook, deliver()).await;
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = serde_json::from_slice(response.body()).unwrap();
    assert_eq!(
        body["status"], "mapped",
        "the retry is not mistaken for a redelivery"
    );
    assert!(
        meetings::get(services.store.as_ref(), &project_id, "85012345678")
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test]
async fn late_deauthorization_is_ignored() {
    let w = world().await;
    let mut event: serde_json::Value =
        serde_json::from_slice(&fixture("app_deauthorized.json")).unwrap();
    event["payload"]["deauthorization_time"] = serde_json::json!("2020-01-01T00:00:00Z");
    let response = handle(
        &w.services,
        Function::ZoomWebhook,
        signed_delivery(&w.app_id, event.to_string().as_bytes()),
    )
    .await;
    assert_eq!(response.status(), 200);
    let stored = connection_records::get_any(w.services.store.as_ref(), &w.connection_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.value.state, ConnectionState::Connected);
    assert!(
        token_records::get(w.services.store.as_ref(), &w.connection_id)
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test]
async fn deauthorization_deletes_kept_tokens() {
    let w = world().await;
    // A connection disconnected for invalid client credentials keeps its tokens.
    tokens::disconnect(
        &w.services,
        &w.connection_id,
        "invalid_client: Invalid client_id or client_secret",
    )
    .await
    .unwrap();
    assert!(
        token_records::get(w.services.store.as_ref(), &w.connection_id)
            .await
            .unwrap()
            .is_some()
    );

    let response = handle(
        &w.services,
        Function::ZoomWebhook,
        signed_delivery(&w.app_id, &fixture("app_deauthorized.json")),
    )
    .await;
    assert_eq!(response.status(), 200);
    assert!(
        token_records::get(w.services.store.as_ref(), &w.connection_id)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        w.emulator.revoked_tokens().len(),
        0,
        "nothing to revoke: Zoom already dropped the grant"
    );
}
