//! The Zoom tokens of one join attempt.
//!
//! Without a `zoom_tokens_url` the tokens come from this service's connections: the OBF
//! token of the named user's connection for the meeting number, and the local recording
//! token (`app_privilege_token`) of the connection mapped to the meeting, if any. With a
//! `zoom_tokens_url`, only the tokens that URL returns are used. Either way the link's `tk`
//! parameter becomes the `registrant_token`.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value, json};

use crate::domain::bot::{Bot, SUB_TYPE_CONNECTION_DISCONNECTED};
use crate::domain::connection::{Connection, ConnectionState};
use crate::ports::outbound::{OutboundError, OutboundRequest};
use crate::ports::zoom::{UserTokenKind, ZoomError};
use crate::records::{apps, connections, meetings};
use crate::secret::SecretString;
use crate::services::tokens::{self, TokenError};
use crate::services::{ServiceError, Services, projects};
use crate::signing::{canonical_json, sign_body};

/// Maximum time the `zoom_tokens_url` receiver has to respond.
pub const TOKENS_URL_TIMEOUT: Duration = Duration::from_secs(30);

/// Sub type of a bot whose OBF connection lost its `is_onbehalf_token_supported` flag.
pub const SUB_TYPE_ONBEHALF_UNSUPPORTED: &str = "zoom_oauth_connection_onbehalf_unsupported";
/// Sub type of a bot whose OBF token could not be minted for a reason other than a
/// disconnected connection or an outage, such as a Zoom API error or unreadable stored data.
pub const SUB_TYPE_ONBEHALF_TOKEN_FAILED: &str = "zoom_onbehalf_token_request_failed";
/// Sub type of a bot whose tokens could not be minted because Zoom or storage kept failing.
pub const SUB_TYPE_ZOOM_UNAVAILABLE: &str = "zoom_api_unavailable";
/// Sub type of a bot whose `zoom_tokens_url` kept timing out or responding with 5xx.
pub const SUB_TYPE_TOKENS_URL_UNAVAILABLE: &str = "zoom_tokens_url_unavailable";
/// Sub type of a bot whose `zoom_tokens_url` responded with 4xx or with a body that is not
/// a JSON object, or could not be called at all.
pub const SUB_TYPE_TOKENS_URL_FAILED: &str = "zoom_tokens_url_request_failed";

/// The tokens of one join ticket; absent ones are sent as null.
#[derive(Clone, Debug, Default)]
pub struct JoinTokens {
    pub onbehalf_token: Option<SecretString>,
    pub app_privilege_token: Option<SecretString>,
    pub zak_token: Option<SecretString>,
    pub join_token: Option<SecretString>,
    pub registrant_token: Option<SecretString>,
}

impl JoinTokens {
    /// Returns the `tokens` object of a join ticket. It exposes every token, so it may only go
    /// into the signed ticket body, never into a log or a response.
    pub fn ticket_json(&self) -> Value {
        let expose = |token: &Option<SecretString>| token.as_ref().map(|t| t.expose().to_owned());
        json!({
            "onbehalf_token": expose(&self.onbehalf_token),
            "app_privilege_token": expose(&self.app_privilege_token),
            "zak_token": expose(&self.zak_token),
            "join_token": expose(&self.join_token),
            "registrant_token": expose(&self.registrant_token),
        })
    }
}

/// Failure to mint the tokens of an attempt. The message never contains a token.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct MintError {
    /// The bot's event sub type if this failure ends the bot.
    pub sub_type: &'static str,
    pub message: String,
    /// Whether a later attempt may succeed.
    pub transient: bool,
}

impl MintError {
    fn fatal(sub_type: &'static str, message: impl Into<String>) -> Self {
        Self {
            sub_type,
            message: message.into(),
            transient: false,
        }
    }

    fn transient(sub_type: &'static str, message: impl Into<String>) -> Self {
        Self {
            sub_type,
            message: message.into(),
            transient: true,
        }
    }
}

/// The connection that mints a user's OBF tokens, or the reason there is none.
#[derive(Clone, Debug)]
pub enum OnBehalfConnection {
    Usable(Connection),
    NotFound,
    Disconnected(Connection),
    NotSupported(Connection),
}

impl OnBehalfConnection {
    /// Returns a sentence for API callers that states what is wrong and how to fix it, or
    /// `None` for a usable connection.
    pub fn problem(&self, user_id: &str) -> Option<String> {
        match self {
            OnBehalfConnection::Usable(_) => None,
            OnBehalfConnection::NotFound => Some(format!(
                "No Zoom OAuth connection of user '{user_id}' exists in this project. Have the user authorize your Zoom app, then create the connection with is_onbehalf_token_supported set to true."
            )),
            OnBehalfConnection::Disconnected(connection) => Some(format!(
                "Zoom OAuth connection {} of user '{user_id}' is disconnected ({}). Have the user authorize your Zoom app again.",
                connection.id,
                connection
                    .connection_failure_data
                    .as_ref()
                    .map(|failure| failure.error.as_str())
                    .unwrap_or("no reason recorded"),
            )),
            OnBehalfConnection::NotSupported(connection) => Some(format!(
                "Zoom OAuth connection {} of user '{user_id}' does not support on-behalf-of tokens. Create it again with is_onbehalf_token_supported set to true.",
                connection.id
            )),
        }
    }
}

/// Finds the connection of Zoom user `user_id` among the connections of the project's
/// apps. When several apps have one, a usable connection wins over a disconnected one, and
/// a disconnected one over one without OBF support.
pub async fn onbehalf_connection(
    services: &Services,
    project_id: &str,
    user_id: &str,
) -> Result<OnBehalfConnection, ServiceError> {
    let store = services.store.as_ref();
    let mut found = Vec::new();
    for app in apps::all(store, project_id).await? {
        if let Some(stored) = connections::find_by_user(store, &app.id, user_id).await?
            && stored.value.project_id == project_id
        {
            found.push(stored.value);
        }
    }

    let rank = |connection: &Connection| match (
        connection.state,
        connection.is_onbehalf_token_supported,
    ) {
        (ConnectionState::Connected, true) => 0,
        (ConnectionState::Disconnected, true) => 1,
        (_, false) => 2,
    };
    found.sort_by_key(rank);
    Ok(match found.into_iter().next() {
        None => OnBehalfConnection::NotFound,
        Some(connection) if !connection.is_onbehalf_token_supported => {
            OnBehalfConnection::NotSupported(connection)
        }
        Some(connection) if connection.state == ConnectionState::Disconnected => {
            OnBehalfConnection::Disconnected(connection)
        }
        Some(connection) => OnBehalfConnection::Usable(connection),
    })
}

/// Mints the tokens of attempt number `attempt` (counting from 1) of `bot`.
pub async fn mint_tokens(
    services: &Services,
    bot: &Bot,
    attempt: u32,
) -> Result<JoinTokens, MintError> {
    let mut tokens = match &bot.zoom_tokens_url {
        Some(url) => tokens_from_url(services, bot, attempt, url).await?,
        None => JoinTokens {
            onbehalf_token: onbehalf_token(services, bot).await?,
            app_privilege_token: local_recording_token(services, bot).await,
            ..JoinTokens::default()
        },
    };
    tokens.registrant_token = bot.registrant_token.clone().map(SecretString::new);
    Ok(tokens)
}

/// Mints the OBF token of the bot's named user. Returns `None` for a bot that names no user.
async fn onbehalf_token(services: &Services, bot: &Bot) -> Result<Option<SecretString>, MintError> {
    let Some(user_id) = &bot.onbehalf_user_id else {
        return Ok(None);
    };
    let lookup = onbehalf_connection(services, &bot.project_id, user_id)
        .await
        .map_err(|error| service_failure(&error, SUB_TYPE_ONBEHALF_TOKEN_FAILED))?;
    let problem = lookup.problem(user_id);
    let connection = match lookup {
        OnBehalfConnection::Usable(connection) => connection,
        OnBehalfConnection::NotSupported(_) => {
            return Err(MintError::fatal(
                SUB_TYPE_ONBEHALF_UNSUPPORTED,
                problem.unwrap_or_default(),
            ));
        }
        OnBehalfConnection::NotFound | OnBehalfConnection::Disconnected(_) => {
            return Err(MintError::fatal(
                SUB_TYPE_CONNECTION_DISCONNECTED,
                problem.unwrap_or_default(),
            ));
        }
    };

    let number = bot.meeting_number.as_str();
    match request_token(services, &connection, ZoomToken::OnBehalf, number).await {
        Ok(token) => Ok(Some(token)),
        Err(TokenFailure::Disconnected(reason)) => Err(MintError::fatal(
            SUB_TYPE_CONNECTION_DISCONNECTED,
            format!(
                "Zoom OAuth connection {} is disconnected: {reason}",
                connection.id
            ),
        )),
        Err(TokenFailure::Transient(message)) => {
            Err(MintError::transient(SUB_TYPE_ZOOM_UNAVAILABLE, message))
        }
        Err(TokenFailure::Failed(message)) => {
            Err(MintError::fatal(SUB_TYPE_ONBEHALF_TOKEN_FAILED, message))
        }
    }
}

/// Mints the local recording token of the connection mapped to the bot's meeting. A bot joins
/// without one, so every failure is logged and gives `None`.
async fn local_recording_token(services: &Services, bot: &Bot) -> Option<SecretString> {
    let store = services.store.as_ref();
    let number = bot.meeting_number.as_str();
    let mapping = match meetings::get(store, &bot.project_id, number).await {
        Ok(Some(mapping)) => mapping,
        Ok(None) => return None,
        Err(error) => {
            tracing::warn!(bot_id = %bot.id, %error, "reading the meeting mapping failed; joining without a local recording token");
            return None;
        }
    };
    let connection = match connections::get(store, &bot.project_id, &mapping.connection_id).await {
        Ok(Some(stored)) => stored.value,
        Ok(None) => {
            tracing::warn!(bot_id = %bot.id, connection_id = %mapping.connection_id, "the meeting is mapped to a connection that no longer exists; joining without a local recording token");
            return None;
        }
        Err(error) => {
            tracing::warn!(bot_id = %bot.id, %error, "reading the meeting's connection failed; joining without a local recording token");
            return None;
        }
    };
    if connection.state != ConnectionState::Connected
        || !connection.is_local_recording_token_supported
    {
        tracing::info!(bot_id = %bot.id, connection_id = %connection.id, state = connection.state.as_str(), "the meeting's connection cannot mint local recording tokens; joining without one");
        return None;
    }

    match request_token(services, &connection, ZoomToken::LocalRecording, number).await {
        Ok(token) => Some(token),
        Err(failure) => {
            tracing::warn!(bot_id = %bot.id, connection_id = %connection.id, error = %failure, "minting the local recording token failed; joining without one");
            None
        }
    }
}

#[derive(Clone, Copy)]
enum ZoomToken {
    OnBehalf,
    LocalRecording,
}

#[derive(Debug, thiserror::Error)]
enum TokenFailure {
    #[error("the connection is disconnected: {0}")]
    Disconnected(String),
    #[error("{0}")]
    Transient(String),
    #[error("{0}")]
    Failed(String),
}

/// Mints one token with the connection's access token. A 401 / code 124 response drops that
/// access token, refreshes once and tries again.
async fn request_token(
    services: &Services,
    connection: &Connection,
    kind: ZoomToken,
    meeting_number: &str,
) -> Result<SecretString, TokenFailure> {
    let mut rejected: Option<SecretString> = None;
    loop {
        let access = tokens::access_token(services, connection, rejected.as_ref())
            .await
            .map_err(|error| match error {
                TokenError::Disconnected(reason) => TokenFailure::Disconnected(reason),
                TokenError::Service(error) if is_transient(&error) => {
                    TokenFailure::Transient(error.to_string())
                }
                TokenError::Service(error) => TokenFailure::Failed(error.to_string()),
            })?;
        let result = match kind {
            ZoomToken::OnBehalf => {
                services
                    .zoom
                    .user_token(&access, UserTokenKind::OnBehalf, Some(meeting_number))
                    .await
            }
            ZoomToken::LocalRecording => {
                services
                    .zoom
                    .local_recording_token(&access, meeting_number)
                    .await
            }
        };
        match result {
            Ok(token) => return Ok(token),
            Err(ZoomError::AccessTokenRejected) if rejected.is_none() => {
                tracing::info!(connection_id = %connection.id, "Zoom rejected the cached access token; refreshing once");
                rejected = Some(access);
            }
            Err(error) if error.is_transient() => {
                return Err(TokenFailure::Transient(error.to_string()));
            }
            Err(error) => return Err(TokenFailure::Failed(error.to_string())),
        }
    }
}

fn is_transient(error: &ServiceError) -> bool {
    matches!(
        error,
        ServiceError::Unavailable(_) | ServiceError::Conflict(_)
    )
}

/// Maps a storage or key-service failure to a transient mint error for outages, and to a
/// final one with `fatal_sub_type` otherwise.
fn service_failure(error: &ServiceError, fatal_sub_type: &'static str) -> MintError {
    if is_transient(error) {
        MintError::transient(SUB_TYPE_ZOOM_UNAVAILABLE, error.to_string())
    } else {
        MintError::fatal(fatal_sub_type, error.to_string())
    }
}

/// Asks the bot's `zoom_tokens_url` for the tokens with a POST signed like a webhook
/// delivery, keyed with the project's signing secret.
async fn tokens_from_url(
    services: &Services,
    bot: &Bot,
    attempt: u32,
    url: &str,
) -> Result<JoinTokens, MintError> {
    let secret = projects::signing_secret(services, &bot.project_id)
        .await
        .map_err(|error| service_failure(&error, SUB_TYPE_TOKENS_URL_FAILED))?;
    let key = STANDARD.decode(secret.expose()).map_err(|_| {
        MintError::fatal(
            SUB_TYPE_TOKENS_URL_FAILED,
            "the project's stored signing secret is not base64",
        )
    })?;
    let body = canonical_json(&json!({
        "bot_id": bot.id,
        "attempt": attempt,
        "meeting_url": bot.meeting_url,
        "meeting_number": bot.meeting_number.as_str(),
        "bot_metadata": bot.metadata.as_ref().map(|m| m.to_json()),
    }));
    let signature = sign_body(&key, &body);
    let request = OutboundRequest {
        url: url.to_owned(),
        body,
        headers: vec![("X-Webhook-Signature".into(), signature)],
        timeout: TOKENS_URL_TIMEOUT,
        customer_url: true,
    };

    let response = services
        .outbound
        .post(request)
        .await
        .map_err(|error| match error {
            OutboundError::UrlRejected(_) => MintError::fatal(
                SUB_TYPE_TOKENS_URL_FAILED,
                format!("zoom_tokens_url: {error}"),
            ),
            OutboundError::Timeout(_) | OutboundError::Failed(_) => MintError::transient(
                SUB_TYPE_TOKENS_URL_UNAVAILABLE,
                format!("zoom_tokens_url: {error}"),
            ),
        })?;
    let status = response.status;
    if !(200..300).contains(&status) {
        let message = format!("zoom_tokens_url responded with HTTP {status}");
        return Err(if is_retryable_status(status) {
            MintError::transient(SUB_TYPE_TOKENS_URL_UNAVAILABLE, message)
        } else {
            MintError::fatal(SUB_TYPE_TOKENS_URL_FAILED, message)
        });
    }
    // The body contains tokens, so neither it nor the parser's error (which may quote it)
    // is logged or returned.
    let Ok(Value::Object(fields)) = serde_json::from_slice::<Value>(&response.body) else {
        return Err(MintError::fatal(
            SUB_TYPE_TOKENS_URL_FAILED,
            format!(
                "zoom_tokens_url responded with HTTP {status} and a body that is not a JSON object"
            ),
        ));
    };
    let tokens = tokens_from_response(&fields, attempt);
    // A bot cannot join an outside meeting with no token at all, so a response without one
    // ends the bot with a clear reason instead of a doomed join.
    if tokens.onbehalf_token.is_none()
        && tokens.zak_token.is_none()
        && tokens.join_token.is_none()
        && tokens.app_privilege_token.is_none()
    {
        return Err(MintError::fatal(
            SUB_TYPE_TOKENS_URL_FAILED,
            "zoom_tokens_url responded without any token: set at least one of onbehalf_token, zak_token, join_token or app_privilege_token to a non-blank string",
        ));
    }
    Ok(tokens)
}

/// Returns whether an HTTP status is worth retrying: 408, 429 and 5xx.
pub fn is_retryable_status(status: u16) -> bool {
    status == 408 || status == 429 || status >= 500
}

/// Extracts the tokens of a `zoom_tokens_url` response. Only non-blank strings count. An
/// `onbehalf_token` that lists several tokens separated by commas gives one per attempt,
/// in turn.
fn tokens_from_response(fields: &Map<String, Value>, attempt: u32) -> JoinTokens {
    let text = |name: &str| {
        fields
            .get(name)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|value| !value.is_empty())
    };
    JoinTokens {
        onbehalf_token: text("onbehalf_token")
            .and_then(|list| pick_round_robin(list, attempt))
            .map(SecretString::new),
        app_privilege_token: text("app_privilege_token").map(SecretString::new),
        zak_token: text("zak_token").map(SecretString::new),
        join_token: text("join_token").map(SecretString::new),
        registrant_token: None,
    }
}

/// Returns entry `(attempt - 1) mod n` of a comma-separated list of `n` non-blank entries, so
/// attempt 1 gets the first. Returns `None` for a list without entries.
pub fn pick_round_robin(list: &str, attempt: u32) -> Option<String> {
    let entries: Vec<&str> = list
        .split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .collect();
    if entries.is_empty() {
        return None;
    }
    let index = attempt.saturating_sub(1) as usize % entries.len();
    Some(entries[index].to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_robin_starts_at_first() {
        let picks: Vec<_> = (1..=5)
            .map(|attempt| pick_round_robin("a, b ,c", attempt).unwrap())
            .collect();
        assert_eq!(picks, ["a", "b", "c", "a", "b"]);
    }

    #[test]
    fn round_robin_skips_blank_entries() {
        assert_eq!(pick_round_robin(",a,,", 2).as_deref(), Some("a"));
        assert_eq!(pick_round_robin(" , ,", 1), None);
    }

    #[test]
    fn round_robin_single_token() {
        assert_eq!(pick_round_robin("only", 7).as_deref(), Some("only"));
    }

    #[test]
    fn response_keeps_non_blank_strings() {
        let response = json!({
            "onbehalf_token": "obf-1,obf-2",
            "zak_token": "  ",
            "join_token": 42,
            "app_privilege_token": "lrt",
            "other": "ignored",
        });
        let tokens = tokens_from_response(response.as_object().unwrap(), 2);
        assert_eq!(
            tokens.onbehalf_token.as_ref().map(SecretString::expose),
            Some("obf-2")
        );
        assert!(tokens.zak_token.is_none());
        assert!(tokens.join_token.is_none());
        assert_eq!(
            tokens
                .app_privilege_token
                .as_ref()
                .map(SecretString::expose),
            Some("lrt")
        );
    }

    #[test]
    fn ticket_json_has_every_token_key() {
        let tokens = JoinTokens {
            onbehalf_token: Some(SecretString::new("obf")),
            ..JoinTokens::default()
        };
        let json = tokens.ticket_json();
        assert_eq!(json["onbehalf_token"], "obf");
        for key in [
            "app_privilege_token",
            "zak_token",
            "join_token",
            "registrant_token",
        ] {
            assert!(json[key].is_null(), "{key}");
        }
    }

    #[test]
    fn debug_output_redacts_tokens() {
        let tokens = JoinTokens {
            onbehalf_token: Some(SecretString::new("emu-obf-secret")),
            ..JoinTokens::default()
        };
        assert!(!format!("{tokens:?}").contains("emu-obf-secret"));
    }

    #[test]
    fn retryable_statuses() {
        for status in [408, 429, 500, 502, 503] {
            assert!(is_retryable_status(status), "{status}");
        }
        for status in [400, 401, 403, 404, 302] {
            assert!(!is_retryable_status(status), "{status}");
        }
    }
}
