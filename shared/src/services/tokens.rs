//! Access tokens of connections: the encrypted cache, the single-refresh lease, and what
//! happens when Zoom rejects the stored credentials.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::domain::app::ZoomOAuthApp;
use crate::domain::connection::{Connection, ConnectionState, FailureData};
use crate::ports::secrets::EncryptionContext;
use crate::ports::store::StoreError;
use crate::ports::zoom::{TokenGrant, ZoomError};
use crate::records::tokens::{self as token_records, TokenSet};
use crate::records::{apps, connections};
use crate::secret::SecretString;
use crate::services::crypto::{open, purpose, seal};
use crate::services::{ServiceError, Services, apps as app_service, webhooks};

/// A cached access token is used until this long before it expires, so that a token handed
/// to a bot stays valid for the calls the bot makes right after.
const ACCESS_TOKEN_MARGIN_SECONDS: i64 = 300;
/// How long a refresh lease lasts. It covers the Zoom client's 10 s request timeout plus
/// the KMS and storage calls around it (8 s each at most), so a lease cannot lapse while
/// its refresh is still in flight.
const LEASE_SECONDS: i64 = 60;
/// Tries, and the first pause between them (doubled each time), of storing a rotated token
/// set after a storage outage.
const STORE_ROTATED_TRIES: u32 = 5;
const STORE_ROTATED_PAUSE: Duration = Duration::from_millis(200);
/// Pause between re-reads while another caller holds the lease.
const LEASE_POLL: Duration = Duration::from_millis(200);
/// Re-reads before giving up on a lease held by another caller (about 12 s).
const LEASE_POLLS: usize = 60;

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The connection is disconnected, now or before this call; the reason is Zoom's error.
    #[error("connection is disconnected: {0}")]
    Disconnected(String),
    #[error(transparent)]
    Service(#[from] ServiceError),
}

fn context(connection: &Connection, purpose: &'static str) -> EncryptionContext {
    EncryptionContext::new(&connection.project_id, &connection.id, purpose)
}

/// Encrypts a fresh grant into a token set.
pub async fn seal_grant(
    services: &Services,
    connection: &Connection,
    grant: &TokenGrant,
    now: DateTime<Utc>,
) -> Result<TokenSet, ServiceError> {
    let secrets = services.secrets.as_ref();
    Ok(TokenSet {
        refresh_token_ciphertext: seal(
            secrets,
            &context(connection, purpose::REFRESH_TOKEN),
            &grant.refresh_token,
        )
        .await?,
        access_token_ciphertext: Some(
            seal(
                secrets,
                &context(connection, purpose::ACCESS_TOKEN),
                &grant.access_token,
            )
            .await?,
        ),
        access_token_expires_at: Some(now + chrono::Duration::seconds(grant.expires_in as i64)),
        lease_id: None,
        lease_until: None,
        refreshed_at: Some(now),
    })
}

pub async fn stored_refresh_token(
    services: &Services,
    connection: &Connection,
) -> Result<Option<SecretString>, ServiceError> {
    let Some(tokens) = token_records::get(services.store.as_ref(), &connection.id).await? else {
        return Ok(None);
    };
    let token = open(
        services.secrets.as_ref(),
        &context(connection, purpose::REFRESH_TOKEN),
        &tokens.value.refresh_token_ciphertext,
    )
    .await?;
    Ok(Some(token))
}

/// Returns a valid access token of the connection, refreshing it when the cached one is
/// missing, about to expire, or equal to `rejected` (a token Zoom just rejected with 401).
pub async fn access_token(
    services: &Services,
    connection: &Connection,
    rejected: Option<&SecretString>,
) -> Result<SecretString, TokenError> {
    obtain(services, connection, rejected, false).await
}

/// Refreshes the connection's tokens even when the cached access token is still good,
/// which restarts the refresh token's lifetime.
pub async fn refresh_now(services: &Services, connection: &Connection) -> Result<(), TokenError> {
    obtain(services, connection, None, true).await.map(|_| ())
}

async fn obtain(
    services: &Services,
    connection: &Connection,
    rejected: Option<&SecretString>,
    force: bool,
) -> Result<SecretString, TokenError> {
    let started = services.clock.now();
    if connection.state == ConnectionState::Disconnected {
        return Err(TokenError::Disconnected(failure_reason(connection)));
    }
    let store = services.store.as_ref();

    for _ in 0..LEASE_POLLS {
        let now = services.clock.now();
        let Some(stored) = token_records::get(store, &connection.id)
            .await
            .map_err(ServiceError::from)?
        else {
            return Err(TokenError::Disconnected("no stored tokens".into()));
        };
        let mut tokens = stored.value;

        // A forced refresh is done once another caller refreshed after this call began.
        let refreshed_since_start = tokens.refreshed_at.is_some_and(|at| at >= started);
        if (!force || refreshed_since_start)
            && let Some(token) =
                usable_cached_token(services, connection, &tokens, now, rejected).await?
        {
            return Ok(token);
        }
        if tokens.lease_until.is_some_and(|until| until > now) {
            tokio::time::sleep(LEASE_POLL).await;
            continue;
        }

        let lease_id = services.ids.token(16);
        tokens.lease_id = Some(lease_id);
        tokens.lease_until = Some(now + chrono::Duration::seconds(LEASE_SECONDS));
        let leased_version =
            match token_records::replace(store, &connection.id, &tokens, stored.version).await {
                Ok(version) => version,
                Err(StoreError::ConditionFailed) => continue,
                Err(error) => return Err(ServiceError::from(error).into()),
            };
        match refresh_under_lease(services, connection, tokens, leased_version).await? {
            Some(token) => return Ok(token),
            None => continue,
        }
    }
    Err(ServiceError::Unavailable(format!(
        "timed out waiting for another refresh of connection {}",
        connection.id
    ))
    .into())
}

async fn usable_cached_token(
    services: &Services,
    connection: &Connection,
    tokens: &TokenSet,
    now: DateTime<Utc>,
    rejected: Option<&SecretString>,
) -> Result<Option<SecretString>, ServiceError> {
    let (Some(sealed), Some(expires_at)) = (
        &tokens.access_token_ciphertext,
        tokens.access_token_expires_at,
    ) else {
        return Ok(None);
    };
    if expires_at <= now + chrono::Duration::seconds(ACCESS_TOKEN_MARGIN_SECONDS) {
        return Ok(None);
    }
    let token = open(
        services.secrets.as_ref(),
        &context(connection, purpose::ACCESS_TOKEN),
        sealed,
    )
    .await?;
    if rejected.is_some_and(|rejected| rejected == &token) {
        return Ok(None);
    }
    Ok(Some(token))
}

/// Refreshes under the lease taken at `leased_version`. Returns `None` when a new
/// authorization replaced the token set meanwhile, so the caller starts over with it.
async fn refresh_under_lease(
    services: &Services,
    connection: &Connection,
    tokens: TokenSet,
    leased_version: u64,
) -> Result<Option<SecretString>, TokenError> {
    let store = services.store.as_ref();
    let app = apps::get_any(store, &connection.zoom_oauth_app_id)
        .await
        .map_err(ServiceError::from)?
        .ok_or_else(|| ServiceError::Internal("the connection's app is gone".into()))?;
    let credentials = app_service::credentials(services, &app.value).await?;
    let refresh_token = open(
        services.secrets.as_ref(),
        &context(connection, purpose::REFRESH_TOKEN),
        &tokens.refresh_token_ciphertext,
    )
    .await?;

    match services.zoom.refresh(&credentials, &refresh_token).await {
        Ok(grant) => {
            let fresh = seal_grant(services, connection, &grant, services.clock.now()).await?;
            if !store_rotated(services, connection, &tokens, leased_version, &fresh).await? {
                return Ok(None);
            }
            tracing::info!(connection_id = %connection.id, "access token refreshed");
            Ok(Some(grant.access_token))
        }
        Err(ZoomError::CredentialsRejected { error, reason }) => {
            let failure = match reason {
                Some(reason) => format!("{error}: {reason}"),
                None => error,
            };
            // A new authorization revokes the old token set at Zoom, so a rejection of a
            // set that was replaced meanwhile tells nothing about the connection.
            if !still_leased(services, connection, &tokens).await? {
                tracing::info!(connection_id = %connection.id, reason = %failure, "refresh of a replaced token set rejected; using the new set");
                return Ok(None);
            }
            tracing::warn!(connection_id = %connection.id, reason = %failure, "refresh rejected by Zoom");
            // With `invalid_client` the tokens stay, and a revival after a client secret
            // change must not wait for this lease to lapse. Other rejections delete the
            // tokens, and keeping the lease until then stops a waiting caller from trying
            // the rejected refresh token again.
            if failure.starts_with("invalid_client") {
                release_lease(services, connection, tokens, leased_version).await;
            }
            disconnect(services, &connection.id, &failure).await?;
            Err(TokenError::Disconnected(failure))
        }
        Err(error) => {
            tracing::warn!(connection_id = %connection.id, %error, "refresh failed; will retry later");
            release_lease(services, connection, tokens, leased_version).await;
            Err(ServiceError::from(error).into())
        }
    }
}

/// Reports whether the stored token set is still the one this caller leased.
async fn still_leased(
    services: &Services,
    connection: &Connection,
    leased: &TokenSet,
) -> Result<bool, TokenError> {
    let current = token_records::get(services.store.as_ref(), &connection.id)
        .await
        .map_err(ServiceError::from)?;
    Ok(current.is_some_and(|current| {
        current.value.lease_id.is_some() && current.value.lease_id == leased.lease_id
    }))
}

/// Stores a rotated token set. Zoom has already invalidated the old refresh token, so the
/// write is retried through conflicts and outages: losing it would disconnect the user.
/// Returns false when a new authorization replaced the set meanwhile; the new set wins.
async fn store_rotated(
    services: &Services,
    connection: &Connection,
    leased: &TokenSet,
    leased_version: u64,
    fresh: &TokenSet,
) -> Result<bool, TokenError> {
    let store = services.store.as_ref();
    let mut expected = leased_version;
    let mut last_error = String::new();
    for try_number in 0..STORE_ROTATED_TRIES {
        match token_records::replace(store, &connection.id, fresh, expected).await {
            Ok(_) => return Ok(true),
            Err(StoreError::ConditionFailed) => {
                let current = token_records::get(store, &connection.id)
                    .await
                    .map_err(ServiceError::from)?;
                match current {
                    Some(current)
                        if current.value.lease_id.is_some()
                            && current.value.lease_id == leased.lease_id =>
                    {
                        expected = current.version;
                    }
                    Some(_) => {
                        tracing::info!(connection_id = %connection.id, "token set replaced by a new authorization during a refresh; the refreshed tokens are dropped");
                        return Ok(false);
                    }
                    None => {
                        return Err(TokenError::Disconnected(
                            "connection deleted during refresh".into(),
                        ));
                    }
                }
            }
            Err(error) => {
                last_error = error.to_string();
                let pause = STORE_ROTATED_PAUSE * 2u32.pow(try_number);
                tracing::warn!(connection_id = %connection.id, try_number, error = %last_error, "storing the rotated refresh token failed; retrying");
                tokio::time::sleep(pause).await;
            }
        }
    }
    tracing::error!(connection_id = %connection.id, error = %last_error, "the rotated refresh token could not be stored; the connection will need a new authorization if it is lost");
    Err(ServiceError::Unavailable(format!(
        "storing the rotated refresh token of connection {} failed: {last_error}",
        connection.id
    ))
    .into())
}

async fn release_lease(
    services: &Services,
    connection: &Connection,
    mut tokens: TokenSet,
    leased_version: u64,
) {
    tokens.lease_id = None;
    tokens.lease_until = None;
    let store = services.store.as_ref();
    if let Err(error) = token_records::replace(store, &connection.id, &tokens, leased_version).await
    {
        tracing::warn!(connection_id = %connection.id, %error, "releasing the refresh lease failed; it lapses on its own");
    }
}

fn failure_reason(connection: &Connection) -> String {
    connection
        .connection_failure_data
        .as_ref()
        .map(|failure| failure.error.clone())
        .unwrap_or_else(|| "disconnected".into())
}

/// Marks the connection disconnected and, unless the app's client credentials were the
/// problem, deletes its tokens. Only the caller whose
/// conditional write flips the state sends the state-change webhook, so concurrent callers
/// produce exactly one. Returns whether this call made the change.
pub async fn disconnect(
    services: &Services,
    connection_id: &str,
    reason: &str,
) -> Result<bool, ServiceError> {
    let store = services.store.as_ref();
    for _ in 0..5 {
        let Some(stored) = connections::get_any(store, connection_id).await? else {
            return Ok(false);
        };
        if stored.value.state == ConnectionState::Disconnected {
            return Ok(false);
        }
        let mut connection = stored.value;
        let now = services.clock.now();
        connection.state = ConnectionState::Disconnected;
        connection.connection_failure_data = Some(FailureData {
            error: reason.to_owned(),
            timestamp: now,
        });
        connection.updated_at = now;
        match connections::update(store, &connection, stored.version).await {
            Ok(_) => {
                // With `invalid_client` the user's refresh token is still good, and keeping
                // it lets a corrected client secret revive the connection.
                if reason.starts_with("invalid_client") {
                    if let Err(error) = token_records::park(store, connection_id).await {
                        tracing::warn!(connection_id, %error, "taking the kept tokens out of the keeper's index failed");
                    }
                } else {
                    token_records::delete(store, connection_id).await?;
                }
                tracing::info!(connection_id, reason, "connection disconnected");
                webhooks::connection_state_changed(services, &connection).await;
                return Ok(true);
            }
            Err(StoreError::ConditionFailed) => continue,
            Err(error) => return Err(error.into()),
        }
    }
    Err(ServiceError::Conflict(format!(
        "connection {connection_id} kept changing while being disconnected"
    )))
}

/// Revokes a token at Zoom and logs the outcome; failures are not returned.
pub async fn revoke_best_effort(
    services: &Services,
    connection: &Connection,
    token: &SecretString,
) {
    let app = match apps::get_any(services.store.as_ref(), &connection.zoom_oauth_app_id).await {
        Ok(Some(app)) => app.value,
        Ok(None) => {
            tracing::warn!(connection_id = %connection.id, "token not revoked: the app is gone");
            return;
        }
        Err(error) => {
            tracing::warn!(connection_id = %connection.id, %error, "token not revoked: reading the app failed");
            return;
        }
    };
    let outcome = match app_service::credentials(services, &app).await {
        Ok(credentials) => services
            .zoom
            .revoke(&credentials, token)
            .await
            .map_err(|e| e.to_string()),
        Err(error) => Err(error.to_string()),
    };
    match outcome {
        Ok(()) => tracing::info!(connection_id = %connection.id, "token revoked at Zoom"),
        Err(error) => {
            tracing::warn!(connection_id = %connection.id, %error, "token revocation at Zoom failed")
        }
    }
}

/// After a client secret change, reconnects every connection of the app that was
/// disconnected for invalid client credentials and whose refresh token still works.
pub async fn revive_connections(services: &Services, app: &ZoomOAuthApp) {
    let Ok(all) = connections::of_app(services.store.as_ref(), &app.id).await else {
        tracing::warn!(app_id = %app.id, "listing connections to revive failed");
        return;
    };
    for connection in all.into_iter().filter(|c| {
        c.state == ConnectionState::Disconnected
            && c.connection_failure_data
                .as_ref()
                .is_some_and(|f| f.error.starts_with("invalid_client"))
    }) {
        let store = services.store.as_ref();
        let Ok(Some(stored)) = connections::get_any(store, &connection.id).await else {
            continue;
        };
        let mut revived = stored.value;
        revived.state = ConnectionState::Connected;
        match access_token(services, &revived, None).await {
            Ok(_) => {
                revived.connection_failure_data = None;
                revived.updated_at = services.clock.now();
                if connections::update(store, &revived, stored.version)
                    .await
                    .is_ok()
                {
                    tracing::info!(connection_id = %revived.id, "connection revived after a client secret change");
                    webhooks::connection_state_changed(services, &revived).await;
                }
            }
            Err(error) => {
                tracing::info!(connection_id = %revived.id, %error, "connection not revived");
            }
        }
    }
}
