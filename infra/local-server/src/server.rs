//! Building the embedded backend and serving the routes with axum.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use shared::adapters::local_secrets::LocalSecretBox;
use shared::adapters::outbound_http::ReqwestOutbound;
use shared::adapters::sqlite::{SqliteDb, SqliteQueue};
use shared::adapters::zoom_http::ZoomHttp;
use shared::http::{Function, MAX_BODY_BYTES, handle};
use shared::ports::clock::{RandomIds, SystemClock};
use shared::services::{Services, projects};

use crate::config::{LocalConfig, local_origin};
use crate::worker;

const DATABASE_FILE: &str = "local.sqlite3";
const KEY_FILE: &str = "secrets.key";

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Opens (or creates) the data folder and builds the services on it.
fn build(config: &LocalConfig) -> Result<(Services, SqliteQueue), BoxError> {
    std::fs::create_dir_all(&config.data_dir).map_err(|e| {
        format!(
            "cannot create data folder {}: {e}",
            config.data_dir.display()
        )
    })?;
    let db = SqliteDb::open(&config.data_dir.join(DATABASE_FILE))?;
    let secrets = LocalSecretBox::open_or_create(&config.data_dir.join(KEY_FILE))?;
    let zoom = ZoomHttp::new(
        &config.settings.zoom_oauth_base_url,
        &config.zoom_api_base_url,
    )?;
    let outbound = ReqwestOutbound::new(config.settings.allow_private_urls)?;
    let services = Services {
        store: Arc::new(db.store()),
        secrets: Arc::new(secrets),
        queue: Arc::new(db.queue()),
        zoom: Arc::new(zoom),
        outbound: Arc::new(outbound),
        clock: Arc::new(SystemClock),
        ids: Arc::new(RandomIds),
        settings: config.settings.clone(),
    };
    Ok((services, db.queue()))
}

pub async fn create_project(config: LocalConfig, name: &str) -> Result<(), BoxError> {
    let (services, _) = build(&config)?;
    let created = projects::create_project(&services, name).await?;
    // The only place the two secrets are ever shown.
    let line = serde_json::json!({
        "project_id": created.project_id,
        "api_key": created.api_key.expose(),
        "signing_secret": created.signing_secret.expose(),
    });
    println!("{line}");
    Ok(())
}

async fn route(State(services): State<Arc<Services>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    // One byte over the limit is enough for the router to return 413.
    let bytes = match axum::body::to_bytes(body, MAX_BODY_BYTES + 1).await {
        Ok(bytes) => bytes,
        Err(_) => bytes::Bytes::from(vec![b' '; MAX_BODY_BYTES + 1]),
    };
    let response = handle(
        &services,
        Function::All,
        http::Request::from_parts(parts, bytes),
    )
    .await;
    let (parts, body) = response.into_parts();
    Response::from_parts(parts, Body::from(body))
}

pub async fn serve(mut config: LocalConfig) -> Result<(), BoxError> {
    let address = SocketAddr::new(config.bind_addr, config.port);
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .map_err(|e| format!("cannot listen on {address}: {e}"))?;
    let bound = listener.local_addr()?;
    // With PORT=0 the kernel picks the port, and links must carry the real one.
    if !config.public_base_url_is_set {
        config.settings.public_base_url = local_origin(bound);
    }
    let (services, queue) = build(&config)?;
    let services = Arc::new(services);

    tracing::info!(
        address = %bound,
        public_base_url = %services.settings.public_base_url,
        data_dir = %absolute(&config.data_dir),
        zoom_oauth_base_url = %services.settings.zoom_oauth_base_url,
        zoom_api_base_url = %config.zoom_api_base_url,
        bot_runner_url = services.settings.bot_runner_url.as_deref().unwrap_or("(not set: bot launches fail)"),
        allow_private_urls = services.settings.allow_private_urls,
        "local server listening"
    );

    let shutdown = tokio::sync::watch::channel(false);
    if services.settings.bot_runner_url.is_some() && services.settings.bot_runner_secret.is_none() {
        tracing::warn!(
            "BOT_RUNNER_URL is set but BOT_RUNNER_SECRET is not; bot launches fail until it is set"
        );
    }
    let worker = tokio::spawn(worker::run(services.clone(), queue, shutdown.1.clone()));
    let keeper = tokio::spawn(worker::run_keeper(services.clone(), shutdown.1.clone()));

    let app = Router::new().fallback(route).with_state(services);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    let _ = shutdown.0.send(true);
    let _ = worker.await;
    let _ = keeper.await;
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM, so both an interactive stop and a process manager's stop
/// drain in-flight requests.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .expect("installing a SIGTERM handler succeeds on Unix");
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
    tracing::info!("shutting down");
}

fn absolute(path: &Path) -> String {
    std::fs::canonicalize(path)
        .unwrap_or_else(|_| path.to_path_buf())
        .display()
        .to_string()
}
