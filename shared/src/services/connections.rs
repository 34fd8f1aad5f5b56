//! Creating a connection from an authorization code, and reading and deleting connections.

use crate::domain::app::ZoomOAuthApp;
use crate::domain::connection::{Connection, ConnectionState, missing_scopes};
use crate::domain::ids;
use crate::domain::meeting_mapping::{MappingSource, MeetingMapping};
use crate::domain::meeting_url::MeetingNumber;
use crate::domain::metadata::Metadata;
use crate::ports::store::{Position, StoreError};
use crate::ports::zoom::{ClientCredentials, TokenGrant, ZoomError};
use crate::records::connections::ConnectionFilter;
use crate::records::tokens::TokenSet;
use crate::records::{Direction, RecordPage, apps, connections, meetings};
use crate::secret::SecretString;
use crate::services::{ServiceError, Services, apps as app_service, tokens, webhooks};

/// A request to turn an authorization code into a connection.
#[derive(Debug)]
pub struct NewConnection {
    pub authorization_code: SecretString,
    pub redirect_uri: String,
    pub zoom_oauth_app_id: Option<String>,
    pub is_local_recording_token_supported: bool,
    pub is_onbehalf_token_supported: bool,
    pub metadata: Option<Metadata>,
    /// PKCE verifier of the hosted flow.
    pub code_verifier: Option<String>,
}

/// Picks the named app, or the project's only app when none is named.
pub async fn resolve_app(
    services: &Services,
    project_id: &str,
    app_id: Option<&str>,
) -> Result<ZoomOAuthApp, ServiceError> {
    if let Some(app_id) = app_id {
        return apps::get(services.store.as_ref(), project_id, app_id)
            .await?
            .filter(|_| ids::has_shape(app_id, ids::APP))
            .map(|app| app.value)
            .ok_or_else(|| {
                ServiceError::BadRequest(format!(
                    "Zoom OAuth app {app_id} does not exist in this project."
                ))
            });
    }
    let mut all = apps::all(services.store.as_ref(), project_id).await?;
    match all.len() {
        0 => Err(ServiceError::BadRequest(
            "This project has no Zoom OAuth app; register one with POST /api/v1/zoom_oauth_apps first.".into(),
        )),
        1 => Ok(all.remove(0)),
        n => Err(ServiceError::BadRequest(format!(
            "This project has {n} Zoom OAuth apps; set zoom_oauth_app_id to choose one."
        ))),
    }
}

/// Exchanges the code, checks scopes and user status, and creates or updates the
/// connection of (app, Zoom user). Returns the connection as stored.
pub async fn create_connection(
    services: &Services,
    project_id: &str,
    request: NewConnection,
) -> Result<Connection, ServiceError> {
    create_connection_or_fail(services, project_id, request)
        .await
        .map_err(|failure| failure.error)
}

/// Why a connection could not be created, with a short machine-readable code for the
/// hosted flow's `failure_url?error=<code>`.
#[derive(Debug)]
pub struct ConnectFailure {
    pub code: &'static str,
    pub error: ServiceError,
}

impl ConnectFailure {
    fn new(code: &'static str, error: ServiceError) -> Self {
        Self { code, error }
    }
}

impl From<ServiceError> for ConnectFailure {
    fn from(error: ServiceError) -> Self {
        let code = match &error {
            ServiceError::Unavailable(_) => "temporarily_unavailable",
            ServiceError::BadRequest(_) | ServiceError::Invalid(_) => "invalid_request",
            _ => "server_error",
        };
        Self { code, error }
    }
}

/// Like `create_connection`, with a failure code for each way it can fail.
pub async fn create_connection_or_fail(
    services: &Services,
    project_id: &str,
    request: NewConnection,
) -> Result<Connection, ConnectFailure> {
    if !request.is_local_recording_token_supported && !request.is_onbehalf_token_supported {
        return Err(ConnectFailure::from(ServiceError::BadRequest(
            "At least one of is_local_recording_token_supported and is_onbehalf_token_supported must be true.".into(),
        )));
    }
    let app = resolve_app(services, project_id, request.zoom_oauth_app_id.as_deref()).await?;
    let credentials = app_service::credentials(services, &app).await?;

    let grant = services
        .zoom
        .exchange_code(
            &credentials,
            request.authorization_code.expose(),
            &request.redirect_uri,
            request.code_verifier.as_deref(),
        )
        .await
        .map_err(|error| match error {
            ZoomError::Transient { .. } => ConnectFailure::new(
                "temporarily_unavailable",
                ServiceError::Unavailable(format!(
                    "Zoom did not respond to the code exchange; ask the user to authorize again: {error}"
                )),
            ),
            other => ConnectFailure::new(
                "invalid_code",
                ServiceError::BadRequest(format!("Zoom rejected the authorization code: {other}")),
            ),
        })?;

    let missing = missing_scopes(
        &grant.scopes,
        request.is_local_recording_token_supported,
        request.is_onbehalf_token_supported,
    );
    if !missing.is_empty() {
        revoke_refused_grant(services, &credentials, &grant).await;
        return Err(ConnectFailure::new(
            "missing_scopes",
            ServiceError::BadRequest(format!(
                "The authorization lacks scopes the requested capabilities need: {}. Add them to the Zoom app and authorize again.",
                missing.join(", ")
            )),
        ));
    }

    let user = match services.zoom.current_user(&grant.access_token).await {
        Ok(user) => user,
        Err(error) => {
            revoke_refused_grant(services, &credentials, &grant).await;
            return Err(ServiceError::from(error).into());
        }
    };
    let status = user.status.as_deref().unwrap_or("unknown");
    if status != "active" {
        revoke_refused_grant(services, &credentials, &grant).await;
        return Err(ConnectFailure::new(
            "inactive_user",
            ServiceError::BadRequest(format!(
                "The Zoom user's status is '{status}'; only active users can be connected."
            )),
        ));
    }

    let connection = upsert(
        services,
        project_id,
        &app,
        &user.id,
        &user.account_id,
        &request,
        &grant,
    )
    .await?;

    if connection.is_local_recording_token_supported {
        let pmi = user
            .pmi
            .as_ref()
            .and_then(|value| MeetingNumber::from_json(value).ok());
        sync_meetings(services, &connection, &grant.access_token, pmi).await;
    }
    Ok(
        connections::get_any(services.store.as_ref(), &connection.id)
            .await
            .map_err(ServiceError::from)?
            .map(|stored| stored.value)
            .unwrap_or(connection),
    )
}

/// Revokes a grant whose connection was refused, so no authorization stays behind at
/// Zoom without a record here. Best effort: the outcome is logged.
async fn revoke_refused_grant(
    services: &Services,
    credentials: &ClientCredentials,
    grant: &TokenGrant,
) {
    match services.zoom.revoke(credentials, &grant.access_token).await {
        Ok(()) => {
            tracing::info!(client_id = %credentials.client_id, "refused grant revoked at Zoom")
        }
        Err(error) => {
            tracing::warn!(client_id = %credentials.client_id, %error, "revoking a refused grant failed")
        }
    }
}

async fn upsert(
    services: &Services,
    project_id: &str,
    app: &ZoomOAuthApp,
    zoom_user_id: &str,
    account_id: &str,
    request: &NewConnection,
    grant: &TokenGrant,
) -> Result<Connection, ServiceError> {
    let now = services.clock.now();
    // Two attempts: a concurrent first authorization of the same user may win the insert,
    // and then this request updates that connection instead.
    for _ in 0..2 {
        if let Some(stored) =
            connections::find_by_user(services.store.as_ref(), &app.id, zoom_user_id).await?
        {
            let previous_state = stored.value.state;
            let mut connection = stored.value;
            connection.account_id = account_id.to_owned();
            connection.state = ConnectionState::Connected;
            connection.metadata = request.metadata.clone();
            connection.is_local_recording_token_supported =
                request.is_local_recording_token_supported;
            connection.is_onbehalf_token_supported = request.is_onbehalf_token_supported;
            connection.connection_failure_data = None;
            connection.updated_at = now;
            connection.authorized_at = Some(now);
            let token_set = tokens::seal_grant(services, &connection, grant, now).await?;
            match connections::replace_with_tokens(
                services.store.as_ref(),
                &connection,
                stored.version,
                &token_set,
            )
            .await
            {
                Ok(_) => {}
                Err(StoreError::ConditionFailed) => continue,
                Err(error) => return Err(error.into()),
            }
            tracing::info!(project_id, connection_id = %connection.id, app_id = %app.id, "connection reauthorized");
            if previous_state != ConnectionState::Connected {
                webhooks::connection_state_changed(services, &connection).await;
            }
            return Ok(connection);
        }

        let connection = Connection {
            id: services.ids.object_id(ids::CONNECTION),
            project_id: project_id.to_owned(),
            zoom_oauth_app_id: app.id.clone(),
            user_id: zoom_user_id.to_owned(),
            account_id: account_id.to_owned(),
            state: ConnectionState::Connected,
            metadata: request.metadata.clone(),
            is_local_recording_token_supported: request.is_local_recording_token_supported,
            is_onbehalf_token_supported: request.is_onbehalf_token_supported,
            connection_failure_data: None,
            created_at: now,
            updated_at: now,
            last_successful_sync_at: None,
            last_attempted_sync_at: None,
            authorized_at: Some(now),
        };
        let token_set: TokenSet = tokens::seal_grant(services, &connection, grant, now).await?;
        match connections::insert(services.store.as_ref(), &connection, &token_set).await {
            Ok(()) => {
                tracing::info!(project_id, connection_id = %connection.id, app_id = %app.id, "connection created");
                return Ok(connection);
            }
            Err(StoreError::ConditionFailed) => continue,
            Err(error) => return Err(error.into()),
        }
    }
    Err(ServiceError::Conflict(
        "The connection was changed by a concurrent authorization; retry.".into(),
    ))
}

/// Most meeting-list pages read in one sync, at 300 meetings a page.
const MAX_SYNC_PAGES: usize = 10;

/// Maps the user's scheduled meetings and PMI to the connection, so bots in those meetings
/// get the host's local recording token. Failures are recorded on the connection, not
/// returned, because a connection is usable without them.
pub async fn sync_meetings(
    services: &Services,
    connection: &Connection,
    access_token: &SecretString,
    pmi: Option<MeetingNumber>,
) {
    let started = services.clock.now();
    let mut mapped = 0usize;
    let mut outcome: Result<(), String> = Ok(());

    if let Some(pmi) = pmi {
        let mapping = MeetingMapping {
            project_id: connection.project_id.clone(),
            meeting_id: pmi.as_str().to_owned(),
            connection_id: connection.id.clone(),
            source: MappingSource::Pmi,
            updated_at: started,
        };
        if let Err(error) = meetings::put(services.store.as_ref(), &mapping).await {
            outcome = Err(error.to_string());
        }
    }

    let mut page_token: Option<String> = None;
    for _ in 0..MAX_SYNC_PAGES {
        if outcome.is_err() {
            break;
        }
        let page = match services
            .zoom
            .list_meetings(access_token, page_token.as_deref())
            .await
        {
            Ok(page) => page,
            Err(error) => {
                outcome = Err(error.to_string());
                break;
            }
        };
        for meeting in &page.meetings {
            let Ok(number) = MeetingNumber::parse(&meeting.meeting_number) else {
                continue;
            };
            let mapping = MeetingMapping {
                project_id: connection.project_id.clone(),
                meeting_id: number.as_str().to_owned(),
                connection_id: connection.id.clone(),
                source: MappingSource::Sync,
                updated_at: services.clock.now(),
            };
            if let Err(error) = meetings::put(services.store.as_ref(), &mapping).await {
                outcome = Err(error.to_string());
                break;
            }
            mapped += 1;
        }
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = Some(page.next_page_token);
    }

    match &outcome {
        Ok(()) => tracing::info!(connection_id = %connection.id, mapped, "meetings synced"),
        Err(error) => tracing::warn!(connection_id = %connection.id, %error, "meeting sync failed"),
    }
    record_sync(services, &connection.id, started, outcome.is_ok()).await;
}

async fn record_sync(
    services: &Services,
    connection_id: &str,
    at: chrono::DateTime<chrono::Utc>,
    succeeded: bool,
) {
    for _ in 0..3 {
        let Ok(Some(stored)) = connections::get_any(services.store.as_ref(), connection_id).await
        else {
            return;
        };
        let mut connection = stored.value;
        connection.last_attempted_sync_at = Some(at);
        if succeeded {
            connection.last_successful_sync_at = Some(at);
        }
        match connections::update(services.store.as_ref(), &connection, stored.version).await {
            Ok(_) => return,
            Err(StoreError::ConditionFailed) => continue,
            Err(error) => {
                tracing::warn!(connection_id, %error, "recording the sync time failed");
                return;
            }
        }
    }
}

pub async fn get_connection(
    services: &Services,
    project_id: &str,
    connection_id: &str,
) -> Result<Connection, ServiceError> {
    if !ids::has_shape(connection_id, ids::CONNECTION) {
        return Err(ServiceError::NotFound("Zoom OAuth Connection"));
    }
    connections::get(services.store.as_ref(), project_id, connection_id)
        .await?
        .map(|stored| stored.value)
        .ok_or(ServiceError::NotFound("Zoom OAuth Connection"))
}

pub async fn list_connections(
    services: &Services,
    project_id: &str,
    filter: &ConnectionFilter,
    page_size: usize,
    start: Option<(Direction, Position)>,
) -> Result<RecordPage<Connection>, ServiceError> {
    Ok(connections::list(
        services.store.as_ref(),
        project_id,
        filter,
        page_size,
        start,
    )
    .await?)
}

pub async fn list_meetings(
    services: &Services,
    project_id: &str,
    connection_id: &str,
    page_size: usize,
    start: Option<(Direction, Position)>,
) -> Result<RecordPage<MeetingMapping>, ServiceError> {
    let connection = get_connection(services, project_id, connection_id).await?;
    Ok(meetings::list(services.store.as_ref(), &connection.id, page_size, start).await?)
}

/// Deletes the connection, its tokens and meeting mappings, then revokes its token at Zoom.
/// The revocation is best effort: its outcome is logged, never returned.
pub async fn delete_connection(
    services: &Services,
    project_id: &str,
    connection_id: &str,
) -> Result<(), ServiceError> {
    let connection = get_connection(services, project_id, connection_id).await?;
    // Read the refresh token before the records go, so it can be revoked afterwards.
    let refresh_token = tokens::stored_refresh_token(services, &connection)
        .await
        .ok()
        .flatten();

    connections::delete(services.store.as_ref(), &connection).await?;
    let removed =
        meetings::delete_all_of_connection(services.store.as_ref(), &connection.id).await?;
    tracing::info!(
        project_id,
        connection_id,
        meeting_mappings_removed = removed,
        "connection deleted"
    );

    // Revoking after the delete means Zoom's `app_deauthorized` event finds no connection
    // and changes nothing.
    if let Some(refresh_token) = refresh_token {
        tokens::revoke_best_effort(services, &connection, &refresh_token).await;
    }
    Ok(())
}
