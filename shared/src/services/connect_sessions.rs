//! The hosted OAuth flow: an authorize URL with a single-use state and a PKCE challenge,
//! and the callback that turns Zoom's redirect into a connection.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use sha2::{Digest, Sha256};

use crate::domain::metadata::Metadata;
use crate::domain::outbound_url::check_outbound_url;
use crate::ports::secrets::EncryptionContext;
use crate::records::oauth_states::{self, PendingAuthorization};
use crate::secret::SecretString;
use crate::services::connections::{NewConnection, create_connection_or_fail, resolve_app};
use crate::services::crypto::{open, seal};
use crate::services::{FieldErrors, ServiceError, Services};

/// A Zoom authorization code lives about 5 minutes; the state gets twice that, for the
/// time the user spends on Zoom's consent page.
pub const STATE_LIFETIME_MINUTES: i64 = 10;
const CODE_VERIFIER_PURPOSE: &str = "code_verifier";

#[derive(Debug)]
pub struct NewConnectSession {
    pub zoom_oauth_app_id: Option<String>,
    pub success_url: String,
    pub failure_url: String,
    pub metadata: Option<Metadata>,
    pub is_local_recording_token_supported: bool,
    pub is_onbehalf_token_supported: bool,
}

#[derive(Debug)]
pub struct ConnectSession {
    pub authorize_url: String,
    pub expires_at: DateTime<Utc>,
}

/// Returns the redirect URI registered at Zoom for the hosted flow.
pub fn callback_url(services: &Services) -> String {
    format!("{}/oauth/zoom/callback", services.settings.public_base_url)
}

fn state_hash(state: &str) -> String {
    hex::encode(Sha256::digest(state.as_bytes()))
}

pub async fn create_session(
    services: &Services,
    project_id: &str,
    request: NewConnectSession,
) -> Result<ConnectSession, ServiceError> {
    let allow_private = services.settings.allow_private_urls;
    let mut errors = FieldErrors::default();
    for (field, url) in [
        ("success_url", &request.success_url),
        ("failure_url", &request.failure_url),
    ] {
        if let Err(error) = check_outbound_url(url, allow_private).await {
            errors.add(field, error.to_string());
        }
    }
    if !request.is_local_recording_token_supported && !request.is_onbehalf_token_supported {
        errors.add(
            "non_field_errors",
            "At least one of is_local_recording_token_supported and is_onbehalf_token_supported must be true.",
        );
    }
    errors.into_result()?;
    let app = resolve_app(services, project_id, request.zoom_oauth_app_id.as_deref()).await?;

    // The state is 43 characters from the CSPRNG (about 256 bits), stored only as a hash,
    // so it cannot be guessed and a leaked table does not reveal live states.
    let state = services.ids.token(43);
    let code_verifier = SecretString::new(services.ids.token(64));
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(code_verifier.expose().as_bytes()));
    let hash = state_hash(&state);
    let context = EncryptionContext::new(project_id, &hash, CODE_VERIFIER_PURPOSE);
    let now = services.clock.now();
    let expires_at = now + Duration::minutes(STATE_LIFETIME_MINUTES);
    let redirect_uri = callback_url(services);

    let pending = PendingAuthorization {
        project_id: project_id.to_owned(),
        zoom_oauth_app_id: app.id.clone(),
        success_url: request.success_url,
        failure_url: request.failure_url,
        metadata: request.metadata,
        is_local_recording_token_supported: request.is_local_recording_token_supported,
        is_onbehalf_token_supported: request.is_onbehalf_token_supported,
        code_verifier_ciphertext: seal(services.secrets.as_ref(), &context, &code_verifier).await?,
        redirect_uri: redirect_uri.clone(),
    };
    oauth_states::insert(
        services.store.as_ref(),
        &hash,
        &pending,
        expires_at.timestamp(),
    )
    .await?;

    // Zoom takes no `scope` parameter here: scopes come from the app's configuration.
    let mut authorize_url = url::Url::parse(&format!(
        "{}/oauth/authorize",
        services.settings.zoom_oauth_base_url
    ))
    .map_err(|error| ServiceError::Internal(format!("ZOOM_OAUTH_BASE_URL: {error}")))?;
    authorize_url
        .query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &app.client_id)
        .append_pair("redirect_uri", &redirect_uri)
        .append_pair("state", &state)
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");
    tracing::info!(project_id, app_id = %app.id, "connect session created");
    Ok(ConnectSession {
        authorize_url: authorize_url.to_string(),
        expires_at,
    })
}

/// Zoom's redirect back to the hosted flow.
#[derive(Debug, Default)]
pub struct CallbackParams {
    pub code: Option<String>,
    pub state: Option<String>,
    /// Set when the user declined at Zoom.
    pub error: Option<String>,
}

/// Handles the callback; returns the URL to redirect the browser to. A missing, expired or
/// replayed state is an error, because there is no customer URL to send the browser to.
pub async fn complete(services: &Services, params: CallbackParams) -> Result<String, ServiceError> {
    let invalid_state = || {
        ServiceError::BadRequest(
            "The authorization link is invalid, expired or already used; start again.".into(),
        )
    };
    let state = params
        .state
        .filter(|s| !s.is_empty())
        .ok_or_else(invalid_state)?;
    let hash = state_hash(&state);
    let pending = oauth_states::take(services.store.as_ref(), &hash)
        .await?
        .ok_or_else(invalid_state)?;

    let failure = |code: &str| with_query(&pending.failure_url, "error", code);
    if let Some(error) = params.error {
        tracing::info!(project_id = %pending.project_id, error = %error, "user did not authorize at Zoom");
        return Ok(failure(if error == "access_denied" {
            "access_denied"
        } else {
            "authorization_failed"
        }));
    }
    let Some(code) = params.code.filter(|c| !c.is_empty()) else {
        return Ok(failure("missing_code"));
    };

    let context = EncryptionContext::new(&pending.project_id, &hash, CODE_VERIFIER_PURPOSE);
    let code_verifier = open(
        services.secrets.as_ref(),
        &context,
        &pending.code_verifier_ciphertext,
    )
    .await?;
    let request = NewConnection {
        authorization_code: SecretString::new(code),
        redirect_uri: pending.redirect_uri.clone(),
        zoom_oauth_app_id: Some(pending.zoom_oauth_app_id.clone()),
        is_local_recording_token_supported: pending.is_local_recording_token_supported,
        is_onbehalf_token_supported: pending.is_onbehalf_token_supported,
        metadata: pending.metadata.clone(),
        code_verifier: Some(code_verifier.expose().to_owned()),
    };
    match create_connection_or_fail(services, &pending.project_id, request).await {
        Ok(connection) => Ok(with_query(
            &pending.success_url,
            "zoom_oauth_connection_id",
            &connection.id,
        )),
        Err(failure_reason) => {
            tracing::warn!(project_id = %pending.project_id, code = failure_reason.code, error = %failure_reason.error, "hosted authorization failed");
            Ok(failure(failure_reason.code))
        }
    }
}

fn with_query(base: &str, name: &str, value: &str) -> String {
    match url::Url::parse(base) {
        Ok(mut url) => {
            url.query_pairs_mut().append_pair(name, value);
            url.to_string()
        }
        Err(_) => base.to_owned(),
    }
}
