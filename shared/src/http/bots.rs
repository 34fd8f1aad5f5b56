//! `/api/v1/bots` handlers.
//!
//! `zoom_settings.onbehalf_token.zoom_oauth_connection_user_id` is optional, so clients of
//! Attendee's API that never set it keep working. A bot that names a user joins with that
//! user's OBF token, and a bot with a `zoom_tokens_url` gets whatever tokens that URL
//! returns. A bot with neither gets no OBF token. Since 2026-03-02 Zoom lets a Meeting SDK
//! bot without an OBF token or ZAK join only meetings of its app's own Zoom account.

use http::StatusCode;
use serde_json::{Map, Value};

use crate::domain::bot::{
    DEFAULT_AUTHORIZED_USER_TIMEOUT_SECONDS, MAX_AUTHORIZED_USER_TIMEOUT_SECONDS,
};
use crate::domain::meeting_url::parse_meeting_url;
use crate::domain::outbound_url::check_outbound_url;
use crate::http::body::JsonBody;
use crate::http::pagination::ListQuery;
use crate::http::response::json_response;
use crate::http::{ApiRequest, ApiResponse};
use crate::services::bots::{self, NewBot};
use crate::services::{ServiceError, Services};

/// Top-level fields this service reads.
const READ_FIELDS: &[&str] = &[
    "meeting_url",
    "bot_name",
    "metadata",
    "zoom_settings",
    "automatic_leave_settings",
    "callback_settings",
];

/// Other Attendee bot fields: stored unvalidated and passed to the runner in the ticket's
/// `bot` object.
///
/// NOTE: this service acts on none of them. In particular `join_at` does not delay the
/// first attempt and `deduplication_key` does not reject a second bot.
const PASSED_THROUGH_FIELDS: &[&str] = &[
    "bot_image",
    "bot_chat_message",
    "debug_settings",
    "deduplication_key",
    "external_media_storage_settings",
    "google_meet_settings",
    "join_at",
    "recording_settings",
    "rtmp_settings",
    "teams_settings",
    "transcription_settings",
    "voice_agent_settings",
    "webhooks",
    "websocket_settings",
];

const ZOOM_SETTINGS: &str = "zoom_settings";
const LEAVE_SETTINGS: &str = "automatic_leave_settings";
const CALLBACK_SETTINGS: &str = "callback_settings";
const USER_ID: &str = "zoom_oauth_connection_user_id";
const TIMEOUT: &str = "authorized_user_not_in_meeting_timeout_seconds";
const TOKENS_URL: &str = "zoom_tokens_url";

pub async fn create(
    services: &Services,
    project_id: &str,
    request: &ApiRequest,
) -> Result<ApiResponse, ServiceError> {
    let allowed: Vec<&str> = READ_FIELDS
        .iter()
        .chain(PASSED_THROUGH_FIELDS)
        .copied()
        .collect();
    let mut body = JsonBody::parse(request.body(), &allowed)?;

    let meeting_url = body.required_string("meeting_url");
    let parsed_url = match &meeting_url {
        Some(url) => match parse_meeting_url(url) {
            Ok(parsed) => Some(parsed),
            Err(error) => {
                body.add_error("meeting_url", error.to_string());
                None
            }
        },
        None => None,
    };
    let bot_name = body.required_string("bot_name");
    let metadata = body.metadata();
    let onbehalf_user_id = onbehalf_user_id(&mut body);
    let timeout = authorized_user_timeout(&mut body);
    let zoom_tokens_url = zoom_tokens_url(services, &mut body).await;

    let mut settings = Map::new();
    for name in
        PASSED_THROUGH_FIELDS
            .iter()
            .chain(&[ZOOM_SETTINGS, LEAVE_SETTINGS, CALLBACK_SETTINGS])
    {
        if let Some(value) = body.value(name) {
            settings.insert((*name).to_owned(), value.clone());
        }
    }
    body.finish()?;
    let (Some(meeting_url), Some(parsed_url), Some(bot_name)) = (meeting_url, parsed_url, bot_name)
    else {
        return Err(ServiceError::Internal("validated fields missing".into()));
    };

    let new = NewBot {
        meeting_url,
        parsed_url,
        bot_name,
        metadata,
        onbehalf_user_id,
        authorized_user_timeout_seconds: timeout,
        zoom_tokens_url,
        settings,
    };
    let bot = bots::launch(services, project_id, new).await?;
    Ok(json_response(StatusCode::CREATED, &bot.to_json()))
}

/// Returns the object at top-level field `field`, or `None` when absent or null. Any other
/// type is a field error.
fn settings_object(body: &mut JsonBody, field: &str) -> Option<Map<String, Value>> {
    match body.value(field).cloned() {
        None => None,
        Some(Value::Object(object)) => Some(object),
        Some(_) => {
            body.add_error(field, "Must be an object.");
            None
        }
    }
}

/// `zoom_settings.onbehalf_token.zoom_oauth_connection_user_id`; the other keys of
/// `zoom_settings` are passed through.
fn onbehalf_user_id(body: &mut JsonBody) -> Option<String> {
    let zoom_settings = settings_object(body, ZOOM_SETTINGS)?;
    let onbehalf = match zoom_settings.get("onbehalf_token") {
        None | Some(Value::Null) => return None,
        Some(Value::Object(object)) => object,
        Some(_) => {
            body.add_error(ZOOM_SETTINGS, "onbehalf_token must be an object.");
            return None;
        }
    };
    match onbehalf.get(USER_ID) {
        Some(Value::String(user_id)) if !user_id.trim().is_empty() => {
            Some(user_id.trim().to_owned())
        }
        _ => {
            body.add_error(
                ZOOM_SETTINGS,
                format!("onbehalf_token.{USER_ID} is required and must be a non-blank string: the Zoom user id of the connection whose OBF token the bot joins with."),
            );
            None
        }
    }
}

/// `automatic_leave_settings.authorized_user_not_in_meeting_timeout_seconds`: a JSON
/// integer from 1 to 7200, 600 when absent or null. Booleans, strings and numbers with a
/// fraction or exponent part such as `600.0` are rejected.
fn authorized_user_timeout(body: &mut JsonBody) -> u32 {
    let default = DEFAULT_AUTHORIZED_USER_TIMEOUT_SECONDS;
    let Some(settings) = settings_object(body, LEAVE_SETTINGS) else {
        return default;
    };
    let range = 1..=MAX_AUTHORIZED_USER_TIMEOUT_SECONDS;
    match settings.get(TIMEOUT) {
        None | Some(Value::Null) => default,
        Some(Value::Number(number)) if number.is_u64() || number.is_i64() => {
            match number.as_u64().and_then(|n| u32::try_from(n).ok()) {
                Some(seconds) if range.contains(&seconds) => seconds,
                _ => {
                    body.add_error(
                        LEAVE_SETTINGS,
                        format!("{TIMEOUT} must be from 1 to {MAX_AUTHORIZED_USER_TIMEOUT_SECONDS} seconds, got {number}."),
                    );
                    default
                }
            }
        }
        Some(other) => {
            body.add_error(
                LEAVE_SETTINGS,
                format!("{TIMEOUT} must be an integer number of seconds from 1 to {MAX_AUTHORIZED_USER_TIMEOUT_SECONDS}, got {other}."),
            );
            default
        }
    }
}

/// `callback_settings.zoom_tokens_url`, checked like every customer URL this service
/// sends requests to.
async fn zoom_tokens_url(services: &Services, body: &mut JsonBody) -> Option<String> {
    let settings = settings_object(body, CALLBACK_SETTINGS)?;
    let url = match settings.get(TOKENS_URL) {
        None | Some(Value::Null) => return None,
        Some(Value::String(url)) if !url.trim().is_empty() => url.trim().to_owned(),
        Some(_) => {
            body.add_error(
                CALLBACK_SETTINGS,
                format!("{TOKENS_URL} must be a non-blank string URL."),
            );
            return None;
        }
    };
    match check_outbound_url(&url, services.settings.allow_private_urls).await {
        Ok(checked) => Some(checked.to_string()),
        Err(error) => {
            body.add_error(CALLBACK_SETTINGS, format!("{TOKENS_URL}: {error}"));
            None
        }
    }
}

pub async fn list(
    services: &Services,
    project_id: &str,
    request: &ApiRequest,
) -> Result<ApiResponse, ServiceError> {
    let query = ListQuery::from_uri(request.uri());
    query.reject_unknown(&[])?;
    let page = bots::list_bots(services, project_id, query.page_size()?, query.cursor()?).await?;
    Ok(query.ok_response(services, request, &page, |bot| bot.to_json()))
}

pub async fn get(
    services: &Services,
    project_id: &str,
    bot_id: &str,
) -> Result<ApiResponse, ServiceError> {
    let bot = bots::get_bot(services, project_id, bot_id).await?;
    Ok(json_response(StatusCode::OK, &bot.to_json()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(json: &str) -> JsonBody {
        let allowed: Vec<&str> = READ_FIELDS
            .iter()
            .chain(PASSED_THROUGH_FIELDS)
            .copied()
            .collect();
        JsonBody::parse(json.as_bytes(), &allowed).unwrap()
    }

    fn field_errors(body: JsonBody) -> std::collections::BTreeMap<String, Vec<String>> {
        match body.finish() {
            Ok(()) => Default::default(),
            Err(ServiceError::Invalid(errors)) => errors.0,
            Err(other) => panic!("unexpected error {other:?}"),
        }
    }

    #[test]
    fn timeout_defaults_to_600() {
        for json in [
            "{}",
            r#"{"automatic_leave_settings": null}"#,
            r#"{"automatic_leave_settings": {}}"#,
            r#"{"automatic_leave_settings": {"authorized_user_not_in_meeting_timeout_seconds": null}}"#,
        ] {
            let mut body = body(json);
            assert_eq!(authorized_user_timeout(&mut body), 600, "{json}");
            assert!(field_errors(body).is_empty(), "{json}");
        }
    }

    #[test]
    fn timeout_accepts_bounds() {
        for seconds in [1, 5, 7200] {
            let json = format!(
                r#"{{"automatic_leave_settings": {{"authorized_user_not_in_meeting_timeout_seconds": {seconds}, "silence_timeout_seconds": 60}}}}"#
            );
            let mut body = body(&json);
            assert_eq!(authorized_user_timeout(&mut body), seconds);
            assert!(field_errors(body).is_empty());
        }
    }

    #[test]
    fn timeout_rejects_bad_values() {
        for value in [
            "0",
            "-5",
            "7201",
            "4294967296",
            "true",
            "600.0",
            "6e2",
            "\"600\"",
            "[600]",
        ] {
            let json = format!(
                r#"{{"automatic_leave_settings": {{"authorized_user_not_in_meeting_timeout_seconds": {value}}}}}"#
            );
            let mut body = body(&json);
            authorized_user_timeout(&mut body);
            let errors = field_errors(body);
            let messages = errors
                .get(LEAVE_SETTINGS)
                .unwrap_or_else(|| panic!("{value} accepted"));
            assert!(messages[0].contains(TIMEOUT), "{}", messages[0]);
        }
    }

    #[test]
    fn leave_settings_must_be_object() {
        let mut body = body(r#"{"automatic_leave_settings": 600}"#);
        authorized_user_timeout(&mut body);
        assert_eq!(
            field_errors(body)[LEAVE_SETTINGS],
            vec!["Must be an object."]
        );
    }

    #[test]
    fn onbehalf_user_id_read_and_trimmed() {
        let mut body = body(
            r#"{"zoom_settings": {"sdk": "native", "onbehalf_token": {"zoom_oauth_connection_user_id": " user-1 "}}}"#,
        );
        assert_eq!(onbehalf_user_id(&mut body).as_deref(), Some("user-1"));
        assert!(field_errors(body).is_empty());
    }

    #[test]
    fn onbehalf_user_id_optional() {
        for json in [
            "{}",
            r#"{"zoom_settings": {}}"#,
            r#"{"zoom_settings": {"onbehalf_token": null}}"#,
        ] {
            let mut body = body(json);
            assert_eq!(onbehalf_user_id(&mut body), None, "{json}");
            assert!(field_errors(body).is_empty(), "{json}");
        }
    }

    #[test]
    fn onbehalf_user_id_rejects_bad_shapes() {
        for json in [
            r#"{"zoom_settings": {"onbehalf_token": {}}}"#,
            r#"{"zoom_settings": {"onbehalf_token": {"zoom_oauth_connection_user_id": "  "}}}"#,
            r#"{"zoom_settings": {"onbehalf_token": {"zoom_oauth_connection_user_id": 5}}}"#,
            r#"{"zoom_settings": {"onbehalf_token": "user-1"}}"#,
            r#"{"zoom_settings": "user-1"}"#,
        ] {
            let mut body = body(json);
            assert_eq!(onbehalf_user_id(&mut body), None, "{json}");
            assert!(field_errors(body).contains_key(ZOOM_SETTINGS), "{json}");
        }
    }
}
