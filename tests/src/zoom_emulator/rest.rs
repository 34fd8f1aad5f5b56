//! Handlers for the emulated part of Zoom's REST API under `/v2`.

use std::collections::HashMap;
use std::time::Instant;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{
    ApiError, EmulatorState, Endpoint, MintedToken, PageCursor, SharedState, invalid_access_token,
    random_token, rest_error,
};

type QueryParams = HashMap<String, String>;

/// Result of a REST handler: a 200 response with a JSON body, or an error.
type RestResult = Result<Response, ApiError>;

/// Page size of `/v2/users/me/meetings` when the request sets none.
const DEFAULT_PAGE_SIZE: usize = 30;

/// Largest page size that `/v2/users/me/meetings` serves. Larger requests get this many.
const MAX_PAGE_SIZE: usize = 300;

/// Validity of a local-recording join token, in seconds, as Zoom reports it in `expire_in`.
const LOCAL_RECORDING_TOKEN_LIFETIME_SECONDS: u64 = 120;

/// `GET /v2/users/me`, which needs the scope `user:read:user`.
pub(super) async fn users_me(State(state): State<SharedState>, headers: HeaderMap) -> RestResult {
    if let Some(response) = state.begin_request(Endpoint::UsersMe).await {
        return Ok(response);
    }
    let state = state.lock();
    let user_id = state.authorize(&headers, "user:read:user")?;
    let Some(user) = state.users.get(&user_id) else {
        return Err(rest_error(
            StatusCode::NOT_FOUND,
            1001,
            &format!("User does not exist: {user_id}."),
        ));
    };

    let mut body = json!({
        "id": user.id,
        "account_id": user.account_id,
        "status": user.status,
        "email": user.email,
        "type": 1,
    });
    if let Some(pmi) = user.pmi {
        body["pmi"] = json!(pmi);
    }
    Ok(axum::Json(body).into_response())
}

/// `GET /v2/users/me/token?type=onbehalf&meeting_id=N` or `?type=zak`.
///
/// The optional `ttl` parameter is accepted and has no effect here.
///
/// NOTE: Zoom also serves the deprecated `type=token` and treats a missing `type` as that type.
/// The emulator rejects both with code 300, so a product that omits `type` fails here.
pub(super) async fn user_token(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Query(query): Query<QueryParams>,
) -> RestResult {
    if let Some(response) = state.begin_request(Endpoint::UserToken).await {
        return Ok(response);
    }
    let mut state = state.lock();
    match query.get("type").map(String::as_str) {
        Some("onbehalf") => {
            let user_id = state.authorize(&headers, "user:read:token")?;
            let meeting_id = match query.get("meeting_id").map(String::as_str) {
                None | Some("") => {
                    return Err(rest_error(
                        StatusCode::BAD_REQUEST,
                        300,
                        "meeting_id is required",
                    ));
                }
                Some(meeting_id) if !is_meeting_number(meeting_id) => {
                    return Err(rest_error(
                        StatusCode::BAD_REQUEST,
                        300,
                        &format!("Invalid meeting_id: {meeting_id}."),
                    ));
                }
                Some(meeting_id) => meeting_id.to_owned(),
            };
            state.mint("onbehalf", "emu-obf-", user_id, Some(meeting_id), None)
        }
        Some("zak") => {
            let user_id = state.authorize(&headers, "user:read:zak")?;
            state.mint("zak", "emu-zak-", user_id, None, None)
        }
        other => Err(rest_error(
            StatusCode::BAD_REQUEST,
            300,
            &format!(
                "Invalid type: {}. The emulator serves onbehalf and zak.",
                other.unwrap_or("(missing)")
            ),
        )),
    }
}

/// `GET /v2/users/me/zak`.
pub(super) async fn user_zak(State(state): State<SharedState>, headers: HeaderMap) -> RestResult {
    if let Some(response) = state.begin_request(Endpoint::UserToken).await {
        return Ok(response);
    }
    let mut state = state.lock();
    let user_id = state.authorize(&headers, "user:read:zak")?;
    state.mint("zak", "emu-zak-", user_id, None, None)
}

/// `GET /v2/meetings/{meetingNumber}/jointoken/local_recording`.
///
/// Only the meeting's host gets a token. Zoom responds to everyone else as if the meeting did
/// not exist. The `bypass_waiting_room` query parameter is accepted and has no effect here.
pub(super) async fn local_recording_token(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Path(meeting_number): Path<String>,
) -> RestResult {
    if let Some(response) = state.begin_request(Endpoint::LocalRecordingToken).await {
        return Ok(response);
    }
    let mut state = state.lock();
    let user_id = state.authorize(&headers, "meeting:read:local_recording_token")?;
    let hosted = state
        .meetings
        .iter()
        .any(|meeting| meeting.host_id == user_id && meeting.number.to_string() == meeting_number);
    if !hosted {
        return Err(rest_error(
            StatusCode::NOT_FOUND,
            3001,
            &format!("Meeting does not exist: {meeting_number}."),
        ));
    }
    let expire_in = json!(LOCAL_RECORDING_TOKEN_LIFETIME_SECONDS);
    state.mint(
        "local_recording",
        "emu-local-recording-",
        user_id,
        Some(meeting_number),
        Some(("expire_in", expire_in)),
    )
}

/// `GET /v2/users/me/meetings?page_size=N&next_page_token=T`.
pub(super) async fn list_meetings(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Query(query): Query<QueryParams>,
) -> RestResult {
    if let Some(response) = state.begin_request(Endpoint::ListMeetings).await {
        return Ok(response);
    }
    let mut state = state.lock();
    let user_id = state.authorize(&headers, "meeting:read:list_meetings")?;

    let page_size = match query.get("page_size").map(String::as_str) {
        None | Some("") => DEFAULT_PAGE_SIZE,
        Some(text) => match text.parse::<usize>() {
            Ok(0) | Err(_) => {
                return Err(rest_error(
                    StatusCode::BAD_REQUEST,
                    300,
                    &format!("Invalid page_size: {text}."),
                ));
            }
            Ok(size) => size.min(MAX_PAGE_SIZE),
        },
    };
    let offset = match query.get("next_page_token").map(String::as_str) {
        None | Some("") => 0,
        Some(token) => match state.page_tokens.get(token) {
            Some(cursor) if cursor.user_id == user_id => cursor.offset,
            _ => {
                return Err(rest_error(
                    StatusCode::BAD_REQUEST,
                    300,
                    "Invalid next_page_token.",
                ));
            }
        },
    };

    let hosted: Vec<Value> = state
        .meetings
        .iter()
        .filter(|meeting| meeting.host_id == user_id)
        .map(|meeting| {
            json!({
                "id": meeting.number,
                "uuid": meeting.uuid,
                "host_id": meeting.host_id,
                "topic": meeting.topic,
                "type": 2,
                "join_url": format!("{}/j/{}", state.base_url, meeting.number),
            })
        })
        .collect();
    let total_records = hosted.len();
    let page: Vec<Value> = hosted.into_iter().skip(offset).take(page_size).collect();

    let next_offset = offset + page.len();
    let next_page_token = if next_offset < total_records {
        let token = random_token("emu-page-");
        state.page_tokens.insert(
            token.clone(),
            PageCursor {
                user_id,
                offset: next_offset,
            },
        );
        token
    } else {
        String::new()
    };

    let body = json!({
        "page_size": page_size,
        "total_records": total_records,
        "next_page_token": next_page_token,
        "meetings": page,
    });
    Ok(axum::Json(body).into_response())
}

impl EmulatorState {
    /// Checks the `Authorization: Bearer` header and returns the Zoom user id the access token
    /// acts for.
    ///
    /// A missing, unknown, expired or revoked token gets 401 code 124. A token without
    /// `required_scope` (a granular scope such as `user:read:token`) gets 400 code 4711.
    /// Tokens in the query string are never read.
    fn authorize(&self, headers: &HeaderMap, required_scope: &str) -> Result<String, ApiError> {
        let token = headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim());
        let Some(token) = token else {
            tracing::debug!("zoom emulator: missing bearer token");
            return Err(invalid_access_token());
        };
        let Some(access) = self.access_tokens.get(token) else {
            tracing::debug!("zoom emulator: unknown access token");
            return Err(invalid_access_token());
        };
        let grant = &self.grants[access.grant];
        if access.expired || Instant::now() >= access.expires_at || grant.revoked {
            tracing::debug!(
                user_id = grant.user_id.as_deref(),
                "zoom emulator: expired or revoked access token"
            );
            return Err(invalid_access_token());
        }
        if !grant.scopes.iter().any(|granted| granted == required_scope) {
            return Err(rest_error(
                StatusCode::BAD_REQUEST,
                4711,
                &format!("Invalid access token, does not contain scopes:[{required_scope}]."),
            ));
        }
        // A client-credentials grant has no scopes, so the scope check above already rejects
        // its tokens. This branch exists because the grant type allows no user.
        let Some(user_id) = &grant.user_id else {
            return Err(invalid_access_token());
        };
        Ok(user_id.clone())
    }

    /// Records a new token and builds the `{"token": …}` response, with one extra field if given.
    fn mint(
        &mut self,
        kind: &str,
        prefix: &str,
        user_id: String,
        meeting_number: Option<String>,
        extra_field: Option<(&str, Value)>,
    ) -> RestResult {
        let token = random_token(prefix);
        self.minted.push(MintedToken {
            kind: kind.to_owned(),
            user_id,
            meeting_number,
            token: token.clone(),
        });
        let mut body = json!({ "token": token });
        if let Some((name, value)) = extra_field {
            body[name] = value;
        }
        Ok(axum::Json(body).into_response())
    }
}

/// Tells whether `text` looks like a Zoom meeting number: ASCII digits only.
fn is_meeting_number(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|byte| byte.is_ascii_digit())
}
