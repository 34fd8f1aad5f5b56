//! The Zoom API port: OAuth grants on the OAuth origin and REST calls on the API origin.

use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;

use crate::secret::SecretString;

/// An app's OAuth client credentials.
#[derive(Clone, Debug)]
pub struct ClientCredentials {
    pub client_id: String,
    pub client_secret: SecretString,
}

/// Response of a successful `authorization_code` or `refresh_token` grant.
#[derive(Clone, Debug)]
pub struct TokenGrant {
    pub access_token: SecretString,
    pub refresh_token: SecretString,
    /// Seconds the access token stays valid, about 3599 at Zoom.
    pub expires_in: u64,
    /// Granted scopes, from the space-separated `scope` field.
    pub scopes: Vec<String>,
}

/// `GET /v2/users/me`, reduced to the fields the product reads.
#[derive(Clone, Debug, Deserialize)]
pub struct ZoomUser {
    pub id: String,
    #[serde(default)]
    pub account_id: String,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub pmi: Option<serde_json::Value>,
}

/// One meeting of `GET /v2/users/me/meetings`.
#[derive(Clone, Debug)]
pub struct ZoomMeeting {
    pub meeting_number: String,
    pub host_id: Option<String>,
}

#[derive(Clone, Debug)]
pub struct MeetingPage {
    pub meetings: Vec<ZoomMeeting>,
    /// Empty on the last page.
    pub next_page_token: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UserTokenKind {
    OnBehalf,
    Zak,
}

#[derive(Debug, thiserror::Error)]
pub enum ZoomError {
    /// `invalid_grant` or `invalid_client`: the stored credentials no longer work, so
    /// retrying cannot help.
    #[error("Zoom rejected the credentials: {error}{}", reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default())]
    CredentialsRejected {
        error: String,
        reason: Option<String>,
    },
    /// Another OAuth error, such as `invalid_request` for a reused authorization code.
    #[error("Zoom OAuth request failed: {error}{}", reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default())]
    OAuth {
        error: String,
        reason: Option<String>,
    },
    /// REST code 124: the access token is invalid or expired.
    #[error("Zoom rejected the access token (code 124)")]
    AccessTokenRejected,
    /// Another REST error with Zoom's `{code, message}` body.
    #[error("Zoom API returned HTTP {status}, code {code}: {message}")]
    Api {
        status: u16,
        code: i64,
        message: String,
    },
    /// 429, 5xx, timeouts and connection failures.
    #[error("Zoom is temporarily unavailable: {message}")]
    Transient {
        message: String,
        /// The HTTP status, or `None` when no response arrived (timeout, connection failure).
        status: Option<u16>,
        retry_after: Option<Duration>,
    },
    #[error("Zoom returned an unexpected response: {0}")]
    Unexpected(String),
}

impl ZoomError {
    pub fn is_transient(&self) -> bool {
        matches!(self, ZoomError::Transient { .. })
    }
}

#[async_trait]
pub trait ZoomApi: Send + Sync {
    /// Checks client credentials with a `client_credentials` grant.
    async fn check_client_credentials(
        &self,
        credentials: &ClientCredentials,
    ) -> Result<(), ZoomError>;
    async fn exchange_code(
        &self,
        credentials: &ClientCredentials,
        code: &str,
        redirect_uri: &str,
        code_verifier: Option<&str>,
    ) -> Result<TokenGrant, ZoomError>;
    /// Zoom rotates the refresh token on every call: only the returned one works later.
    async fn refresh(
        &self,
        credentials: &ClientCredentials,
        refresh_token: &SecretString,
    ) -> Result<TokenGrant, ZoomError>;
    async fn revoke(
        &self,
        credentials: &ClientCredentials,
        token: &SecretString,
    ) -> Result<(), ZoomError>;
    async fn current_user(&self, access_token: &SecretString) -> Result<ZoomUser, ZoomError>;
    async fn user_token(
        &self,
        access_token: &SecretString,
        kind: UserTokenKind,
        meeting_number: Option<&str>,
    ) -> Result<SecretString, ZoomError>;
    /// Must be called with the meeting host's access token.
    async fn local_recording_token(
        &self,
        access_token: &SecretString,
        meeting_number: &str,
    ) -> Result<SecretString, ZoomError>;
    async fn list_meetings(
        &self,
        access_token: &SecretString,
        next_page_token: Option<&str>,
    ) -> Result<MeetingPage, ZoomError>;
}
