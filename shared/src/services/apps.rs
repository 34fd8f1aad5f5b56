//! Registering, reading, changing and removing Zoom OAuth apps.

use std::time::Duration;

use crate::domain::app::ZoomOAuthApp;
use crate::domain::ids;
use crate::ports::queue::Job;
use crate::ports::secrets::EncryptionContext;
use crate::ports::store::Position;
use crate::ports::zoom::{ClientCredentials, ZoomError};
use crate::records::{Direction, RecordPage, apps, connections};
use crate::secret::SecretString;
use crate::services::crypto::{open, purpose, seal};
use crate::services::{ServiceError, Services};

#[derive(Debug)]
pub struct NewApp {
    pub client_id: String,
    pub client_secret: SecretString,
    pub webhook_secret: Option<SecretString>,
}

/// Secret changes of an app; `None` keeps the stored secret.
#[derive(Debug, Default)]
pub struct AppChanges {
    pub client_secret: Option<SecretString>,
    pub webhook_secret: Option<SecretString>,
}

fn secret_context(app: &ZoomOAuthApp, purpose: &'static str) -> EncryptionContext {
    EncryptionContext::new(&app.project_id, &app.id, purpose)
}

/// Checks credentials with a `client_credentials` grant. Any HTTP response other than 200
/// means the credentials are unusable; only a failure to reach Zoom is retryable.
async fn check_credentials(
    services: &Services,
    credentials: &ClientCredentials,
) -> Result<(), ServiceError> {
    match services.zoom.check_client_credentials(credentials).await {
        Ok(()) => Ok(()),
        Err(ZoomError::Transient {
            message,
            status: None,
            ..
        }) => Err(ServiceError::Unavailable(format!(
            "Could not reach Zoom to check the credentials: {message}"
        ))),
        Err(error) => {
            tracing::info!(client_id = %credentials.client_id, %error, "client credentials check failed");
            Err(ServiceError::BadRequest(
                "Invalid client id or client secret".into(),
            ))
        }
    }
}

pub async fn create_app(
    services: &Services,
    project_id: &str,
    new: NewApp,
) -> Result<ZoomOAuthApp, ServiceError> {
    let existing = apps::all(services.store.as_ref(), project_id).await?;
    if existing.iter().any(|app| app.client_id == new.client_id) {
        return Err(ServiceError::Conflict(format!(
            "An app with client id {} already exists in this project.",
            new.client_id
        )));
    }
    let credentials = ClientCredentials {
        client_id: new.client_id.clone(),
        client_secret: new.client_secret.clone(),
    };
    check_credentials(services, &credentials).await?;

    let now = services.clock.now();
    let mut app = ZoomOAuthApp {
        id: services.ids.object_id(ids::APP),
        project_id: project_id.to_owned(),
        client_id: new.client_id,
        client_secret_ciphertext: String::new(),
        webhook_secret_ciphertext: None,
        created_at: now,
        updated_at: now,
        last_verified_webhook_received_at: None,
        last_unverified_webhook_received_at: None,
    };
    app.client_secret_ciphertext = seal(
        services.secrets.as_ref(),
        &secret_context(&app, purpose::CLIENT_SECRET),
        &new.client_secret,
    )
    .await?;
    if let Some(webhook_secret) = &new.webhook_secret {
        app.webhook_secret_ciphertext = Some(
            seal(
                services.secrets.as_ref(),
                &secret_context(&app, purpose::WEBHOOK_SECRET),
                webhook_secret,
            )
            .await?,
        );
    }
    apps::insert(services.store.as_ref(), &app).await?;
    tracing::info!(project_id, app_id = %app.id, client_id = %app.client_id, "app created");
    Ok(app)
}

pub async fn get_app(
    services: &Services,
    project_id: &str,
    app_id: &str,
) -> Result<ZoomOAuthApp, ServiceError> {
    if !ids::has_shape(app_id, ids::APP) {
        return Err(ServiceError::NotFound("Zoom OAuth App"));
    }
    apps::get(services.store.as_ref(), project_id, app_id)
        .await?
        .map(|app| app.value)
        .ok_or(ServiceError::NotFound("Zoom OAuth App"))
}

pub async fn list_apps(
    services: &Services,
    project_id: &str,
    page_size: usize,
    start: Option<(Direction, Position)>,
) -> Result<RecordPage<ZoomOAuthApp>, ServiceError> {
    Ok(apps::list(services.store.as_ref(), project_id, page_size, start).await?)
}

/// Decrypts the client credentials of an app for a call to Zoom.
pub async fn credentials(
    services: &Services,
    app: &ZoomOAuthApp,
) -> Result<ClientCredentials, ServiceError> {
    let client_secret = open(
        services.secrets.as_ref(),
        &secret_context(app, purpose::CLIENT_SECRET),
        &app.client_secret_ciphertext,
    )
    .await?;
    Ok(ClientCredentials {
        client_id: app.client_id.clone(),
        client_secret,
    })
}

/// Decrypts the app's webhook secret token, if one is stored.
pub async fn webhook_secret(
    services: &Services,
    app: &ZoomOAuthApp,
) -> Result<Option<SecretString>, ServiceError> {
    match &app.webhook_secret_ciphertext {
        Some(sealed) => Ok(Some(
            open(
                services.secrets.as_ref(),
                &secret_context(app, purpose::WEBHOOK_SECRET),
                sealed,
            )
            .await?,
        )),
        None => Ok(None),
    }
}

pub async fn update_app(
    services: &Services,
    project_id: &str,
    app_id: &str,
    changes: AppChanges,
) -> Result<ZoomOAuthApp, ServiceError> {
    let stored = apps::get(services.store.as_ref(), project_id, app_id)
        .await?
        .filter(|_| ids::has_shape(app_id, ids::APP))
        .ok_or(ServiceError::NotFound("Zoom OAuth App"))?;
    let mut app = stored.value;

    let new_client_secret = changes.client_secret.filter(|secret| !secret.is_blank());
    if let Some(client_secret) = &new_client_secret {
        let credentials = ClientCredentials {
            client_id: app.client_id.clone(),
            client_secret: client_secret.clone(),
        };
        check_credentials(services, &credentials).await?;
        app.client_secret_ciphertext = seal(
            services.secrets.as_ref(),
            &secret_context(&app, purpose::CLIENT_SECRET),
            client_secret,
        )
        .await?;
    }
    if let Some(webhook_secret) = changes.webhook_secret.filter(|secret| !secret.is_blank()) {
        app.webhook_secret_ciphertext = Some(
            seal(
                services.secrets.as_ref(),
                &secret_context(&app, purpose::WEBHOOK_SECRET),
                &webhook_secret,
            )
            .await?,
        );
    }
    app.updated_at = services.clock.now();
    apps::update(services.store.as_ref(), &app, stored.version).await?;
    tracing::info!(
        project_id,
        app_id,
        client_secret_changed = new_client_secret.is_some(),
        "app updated"
    );

    // Revival refreshes each connection that was disconnected for invalid client
    // credentials, up to about 10 s apiece, so it runs as a job rather than inside this
    // request and its 30 s API limit.
    if new_client_secret.is_some() {
        let job = Job::ReviveConnections {
            app_id: app.id.clone(),
        };
        services.queue.enqueue(&job, Duration::ZERO).await?;
        tracing::info!(project_id, app_id, "connection revival queued");
    }
    Ok(app)
}

pub async fn delete_app(
    services: &Services,
    project_id: &str,
    app_id: &str,
) -> Result<(), ServiceError> {
    let app = get_app(services, project_id, app_id).await?;
    // Connection creation checks in its transaction that the app still exists, so no
    // connection can start after the delete.
    // NOTE: the count reads a global secondary index, which on DynamoDB is eventually
    // consistent, so a connection created just before this call may be missed and left
    // without its app. A connection counter on the app item would close the gap.
    let count = connections::count_of_app(services.store.as_ref(), &app.id).await?;
    if count > 0 {
        return Err(ServiceError::Conflict(format!(
            "Cannot delete the app while {count} connection(s) use it; delete those connections first."
        )));
    }
    apps::delete(services.store.as_ref(), &app.id).await?;
    tracing::info!(project_id, app_id, "app deleted");
    Ok(())
}
