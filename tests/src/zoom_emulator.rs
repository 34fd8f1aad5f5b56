//! An in-process emulator of Zoom's OAuth server (`/oauth/...`) and REST API (`/v2/...`).
//!
//! Both live on one loopback origin, so a product under test points its OAuth base URL and its
//! API base URL at [`ZoomEmulator::base_url`]. The test programs apps, users, authorization
//! codes, meetings and scripted failures through methods, and afterwards inspects which tokens
//! were minted or revoked.
//!
//! Status codes, error bodies and error codes imitate Zoom's responses in the same cases. Where
//! the emulator's choice may differ from Zoom, a `NOTE` at that spot says so.

mod oauth;
mod rest;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use rand::Rng;
use rand::distr::Alphanumeric;
use serde_json::{Value, json};

use crate::local_server::LocalServer;

/// Lifetime of an authorization code from [`ZoomEmulator::issue_code`].
const CODE_LIFETIME: Duration = Duration::from_secs(5 * 60);

/// Lifetime of an access token, in seconds, as Zoom reports it in `expires_in`.
const ACCESS_TOKEN_LIFETIME_SECONDS: u64 = 3599;

/// Number of random alphanumeric characters after the prefix of every generated token.
const TOKEN_RANDOM_LENGTH: usize = 32;

/// One group of emulated routes, used to script failures and to count requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// `POST /oauth/token`, for every grant type.
    Token,
    /// `POST /oauth/revoke`.
    Revoke,
    /// `GET /v2/users/me`.
    UsersMe,
    /// `GET /v2/users/me/token` (on-behalf-of and ZAK tokens) and `GET /v2/users/me/zak`.
    UserToken,
    /// `GET /v2/meetings/{meetingNumber}/jointoken/local_recording`.
    LocalRecordingToken,
    /// `GET /v2/users/me/meetings`.
    ListMeetings,
}

impl Endpoint {
    /// Tells whether the endpoint belongs to the OAuth server, which uses the
    /// `{"error","reason"}` body shape in place of the REST API's `{"code","message"}`.
    fn is_oauth(self) -> bool {
        matches!(self, Endpoint::Token | Endpoint::Revoke)
    }
}

/// A scripted response that replaces the next normal response of one [`Endpoint`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Responds with this HTTP status. The body is `{"code":N,"message":"emulated failure"}` on
    /// REST endpoints and `{"error":"server_error","reason":"emulated failure"}` on OAuth ones.
    Status(u16),
    /// Responds 429 with a `Retry-After` header of this many seconds.
    RateLimited {
        /// Value of the `Retry-After` header, in seconds.
        retry_after_seconds: u64,
    },
    /// Responds 400 `{"error":"invalid_grant","reason":"Invalid Token!"}`, as the token endpoint
    /// does for a revoked or superseded refresh token.
    InvalidGrant,
    /// Responds 400 `{"error":"invalid_client","reason":"Invalid client_id or client_secret"}`.
    InvalidClient,
    /// Responds 401 `{"code":124,"message":"Invalid access token."}`, as the REST API does for
    /// an expired access token.
    ExpiredAccessToken,
    /// Waits this long, then handles the request normally.
    Delay(Duration),
}

/// A Zoom user known to the emulator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoomUserSpec {
    /// Zoom user id, returned as `id` by `/v2/users/me` and as `host_id` of the user's meetings.
    pub id: String,
    /// Zoom account id of the user.
    pub account_id: String,
    /// Account status as Zoom spells it: `"active"`, `"inactive"` or `"pending"`.
    pub status: String,
    /// Personal meeting id. `None` leaves `pmi` out of `/v2/users/me`.
    pub pmi: Option<u64>,
    /// Email address of the user.
    pub email: String,
}

impl ZoomUserSpec {
    /// Builds an active user with account `emu-account`, no PMI and the email `{id}@example.com`.
    pub fn active(id: &str) -> Self {
        Self {
            id: id.to_owned(),
            account_id: "emu-account".to_owned(),
            status: "active".to_owned(),
            pmi: None,
            email: format!("{id}@example.com"),
        }
    }
}

/// A token minted by one of the user or meeting token endpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MintedToken {
    /// `"onbehalf"`, `"zak"` or `"local_recording"`.
    pub kind: String,
    /// Zoom user id of the access token's owner.
    pub user_id: String,
    /// Meeting number the token was requested for, when the endpoint takes one.
    pub meeting_number: Option<String>,
    /// The token as returned in the response.
    pub token: String,
}

/// A running emulator of Zoom's OAuth and REST endpoints on `127.0.0.1`.
///
/// Dropping the emulator stops its server.
pub struct ZoomEmulator {
    server: LocalServer,
    state: SharedState,
}

impl ZoomEmulator {
    /// Starts the emulator on a free loopback port, with no apps, users or meetings.
    ///
    /// # Panics
    ///
    /// Panics when no loopback port can be bound.
    pub async fn start() -> Self {
        let state = SharedState::default();
        let router = Router::new()
            .route("/oauth/token", post(oauth::token))
            .route("/oauth/revoke", post(oauth::revoke))
            .route("/v2/users/me", get(rest::users_me))
            .route("/v2/users/me/token", get(rest::user_token))
            .route("/v2/users/me/zak", get(rest::user_zak))
            .route("/v2/users/me/meetings", get(rest::list_meetings))
            .route(
                "/v2/meetings/{meeting_number}/jointoken/local_recording",
                get(rest::local_recording_token),
            )
            .fallback(unknown_route)
            .with_state(state.clone());
        let server = LocalServer::start("zoom-emulator", router).await;
        state.lock().base_url = server.base_url();
        Self { server, state }
    }

    /// Origin of the emulator, such as `http://127.0.0.1:40123`, without a trailing slash.
    pub fn base_url(&self) -> String {
        self.server.base_url()
    }

    /// Stops the server and waits until requests in progress have been handled.
    pub async fn shutdown(self) {
        self.server.shutdown().await;
    }

    /// Registers an OAuth app, or replaces the secret of an app with this client id.
    pub fn register_app(&self, client_id: &str, client_secret: &str) {
        self.state
            .lock()
            .apps
            .insert(client_id.to_owned(), client_secret.to_owned());
    }

    /// Replaces an app's client secret, so the old one is rejected from now on.
    ///
    /// # Panics
    ///
    /// Panics when no app with this client id has been registered.
    pub fn set_app_secret(&self, client_id: &str, new_secret: &str) {
        let mut state = self.state.lock();
        let secret = state
            .apps
            .get_mut(client_id)
            .unwrap_or_else(|| panic!("set_app_secret: no app registered as {client_id:?}"));
        *secret = new_secret.to_owned();
    }

    /// Adds a user, or replaces the user with the same id.
    pub fn add_user(&self, user: ZoomUserSpec) {
        self.state.lock().users.insert(user.id.clone(), user);
    }

    /// Issues a single-use authorization code that lives 5 minutes.
    ///
    /// Exchanging it needs the same client and `redirect_uri`, and a `code_verifier` matching
    /// `code_challenge` (S256 method) when one is given. The resulting grant's `scope` is
    /// `scopes` joined with spaces.
    pub fn issue_code(
        &self,
        client_id: &str,
        user_id: &str,
        redirect_uri: &str,
        scopes: &[&str],
        code_challenge: Option<String>,
    ) -> String {
        let code = random_token("emu-code-");
        let issued = IssuedCode {
            client_id: client_id.to_owned(),
            user_id: user_id.to_owned(),
            redirect_uri: redirect_uri.to_owned(),
            scopes: scopes.iter().map(|scope| (*scope).to_owned()).collect(),
            code_challenge,
            expires_at: Instant::now() + CODE_LIFETIME,
            used: false,
        };
        self.state.lock().codes.insert(code.clone(), issued);
        code
    }

    /// Makes every authorization code issued so far expired, to test the expiry path without
    /// waiting 5 minutes.
    pub fn expire_codes(&self) {
        let now = Instant::now();
        for code in self.state.lock().codes.values_mut() {
            code.expires_at = now;
        }
    }

    /// Adds a meeting hosted by `user_id`, listed by `/v2/users/me/meetings` for that user.
    pub fn add_meeting(&self, user_id: &str, meeting_number: u64, topic: &str) {
        let meeting = EmulatedMeeting {
            host_id: user_id.to_owned(),
            number: meeting_number,
            topic: topic.to_owned(),
            uuid: format!("{}==", random_alphanumeric(22)),
        };
        self.state.lock().meetings.push(meeting);
    }

    /// Queues `failure` as the response to the next request to `endpoint`.
    ///
    /// Failures queued for one endpoint are used in the order they were queued, one per request.
    /// A scripted failure other than [`Failure::Delay`] responds without touching the emulator's
    /// state, so an authorization code or refresh token in that request stays usable.
    pub fn fail_next(&self, endpoint: Endpoint, failure: Failure) {
        self.state
            .lock()
            .failures
            .entry(endpoint)
            .or_default()
            .push_back(failure);
    }

    /// Makes every access token issued so far get 401 code 124. Tokens issued later work.
    pub fn expire_access_tokens(&self) {
        for token in self.state.lock().access_tokens.values_mut() {
            token.expired = true;
        }
    }

    /// Returns the tokens minted by the user and meeting token endpoints, oldest first.
    pub fn minted_tokens(&self) -> Vec<MintedToken> {
        self.state.lock().minted.clone()
    }

    /// Returns how many requests reached `endpoint`, including those that got a scripted
    /// failure or an error.
    pub fn request_count(&self, endpoint: Endpoint) -> usize {
        self.state
            .lock()
            .request_counts
            .get(&endpoint)
            .copied()
            .unwrap_or(0)
    }

    /// Returns the `token` values of successful `/oauth/revoke` requests, oldest first.
    pub fn revoked_tokens(&self) -> Vec<String> {
        self.state.lock().revoked.clone()
    }

    /// Returns the only refresh token that the token endpoint currently accepts for this user
    /// and app, or `None` when the user has no live authorization of that app.
    pub fn current_refresh_token(&self, user_id: &str, client_id: &str) -> Option<String> {
        let state = self.state.lock();
        state
            .grants
            .iter()
            .filter(|grant| !grant.revoked && grant.client_id == client_id)
            .filter(|grant| grant.user_id.as_deref() == Some(user_id))
            .find_map(|grant| grant.refresh_token.clone())
    }
}

/// Emulator state shared between the test and the request handlers.
///
/// The lock is never held across an `.await`.
#[derive(Clone, Default)]
struct SharedState(Arc<Mutex<EmulatorState>>);

impl SharedState {
    /// Locks the state. A handler that panicked while holding the lock leaves the state usable,
    /// because every update is a single insert or field write.
    fn lock(&self) -> MutexGuard<'_, EmulatorState> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts a request to `endpoint` and applies the next scripted failure for it.
    ///
    /// Returns the response to send in place of the normal one, or `None` when the handler
    /// should go on, possibly after a scripted delay.
    async fn begin_request(&self, endpoint: Endpoint) -> Option<Response> {
        let failure = {
            let mut state = self.lock();
            *state.request_counts.entry(endpoint).or_default() += 1;
            state
                .failures
                .get_mut(&endpoint)
                .and_then(VecDeque::pop_front)
        };
        let failure = failure?;
        tracing::debug!(
            ?endpoint,
            ?failure,
            "zoom emulator: applying scripted failure"
        );
        match failure {
            Failure::Delay(delay) => {
                tokio::time::sleep(delay).await;
                None
            }
            other => Some(failure_response(endpoint, other)),
        }
    }
}

#[derive(Default)]
struct EmulatorState {
    base_url: String,
    /// Client secret by client id.
    apps: HashMap<String, String>,
    users: HashMap<String, ZoomUserSpec>,
    codes: HashMap<String, IssuedCode>,
    /// Every grant ever made. An index into this vector is a grant id.
    grants: Vec<Grant>,
    access_tokens: HashMap<String, IssuedAccessToken>,
    meetings: Vec<EmulatedMeeting>,
    /// Offset into the user's meeting list by `next_page_token`.
    page_tokens: HashMap<String, PageCursor>,
    failures: HashMap<Endpoint, VecDeque<Failure>>,
    request_counts: HashMap<Endpoint, usize>,
    minted: Vec<MintedToken>,
    revoked: Vec<String>,
}

struct IssuedCode {
    client_id: String,
    user_id: String,
    redirect_uri: String,
    scopes: Vec<String>,
    code_challenge: Option<String>,
    expires_at: Instant,
    used: bool,
}

/// One authorization of an app: the token set that refreshes and revocation act on.
struct Grant {
    client_id: String,
    /// `None` for client-credentials grants, which act for no user.
    user_id: Option<String>,
    scopes: Vec<String>,
    /// The only refresh token accepted for this grant. It is `None` once the grant is revoked,
    /// and always for client-credentials grants.
    refresh_token: Option<String>,
    revoked: bool,
}

struct IssuedAccessToken {
    grant: usize,
    expires_at: Instant,
    /// Set by [`ZoomEmulator::expire_access_tokens`].
    expired: bool,
}

struct EmulatedMeeting {
    host_id: String,
    number: u64,
    topic: String,
    uuid: String,
}

struct PageCursor {
    user_id: String,
    offset: usize,
}

/// Builds a token such as `emu-access-3fQ…`: the prefix lets tests find leaked tokens in logs.
fn random_token(prefix: &str) -> String {
    format!("{prefix}{}", random_alphanumeric(TOKEN_RANDOM_LENGTH))
}

fn random_alphanumeric(length: usize) -> String {
    rand::rng()
        .sample_iter(Alphanumeric)
        .take(length)
        .map(char::from)
        .collect()
}

/// An error response of an emulated endpoint: an HTTP status and a JSON body.
#[derive(Debug)]
struct ApiError {
    status: StatusCode,
    body: Value,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(self.body)).into_response()
    }
}

/// Builds an OAuth server error, such as `{"error":"invalid_grant","reason":"Invalid Token!"}`.
fn oauth_error(status: StatusCode, error: &str, reason: Option<&str>) -> ApiError {
    let body = match reason {
        Some(reason) => json!({ "error": error, "reason": reason }),
        None => json!({ "error": error }),
    };
    ApiError { status, body }
}

/// Builds a REST API error, such as `{"code":124,"message":"Invalid access token."}`.
fn rest_error(status: StatusCode, code: u32, message: &str) -> ApiError {
    let body = json!({ "code": code, "message": message });
    ApiError { status, body }
}

fn failure_response(endpoint: Endpoint, failure: Failure) -> Response {
    match failure {
        Failure::Status(status) => {
            let status = StatusCode::from_u16(status).unwrap_or_else(|_| {
                panic!("Failure::Status({status}) is not a valid HTTP status code")
            });
            let error = if endpoint.is_oauth() {
                oauth_error(status, "server_error", Some("emulated failure"))
            } else {
                rest_error(status, u32::from(status.as_u16()), "emulated failure")
            };
            error.into_response()
        }
        Failure::RateLimited {
            retry_after_seconds,
        } => {
            let mut response = rest_error(
                StatusCode::TOO_MANY_REQUESTS,
                429,
                "You have reached the maximum per-second rate limit for this API. Try again later.",
            )
            .into_response();
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_seconds));
            response
        }
        Failure::InvalidGrant => invalid_grant().into_response(),
        Failure::InvalidClient => invalid_client().into_response(),
        Failure::ExpiredAccessToken => invalid_access_token().into_response(),
        Failure::Delay(_) => unreachable!("begin_request handles delays itself"),
    }
}

/// Builds the token endpoint's response to an unknown, superseded or revoked refresh token.
fn invalid_grant() -> ApiError {
    oauth_error(
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        Some("Invalid Token!"),
    )
}

fn invalid_client() -> ApiError {
    oauth_error(
        StatusCode::BAD_REQUEST,
        "invalid_client",
        Some("Invalid client_id or client_secret"),
    )
}

fn invalid_access_token() -> ApiError {
    rest_error(StatusCode::UNAUTHORIZED, 124, "Invalid access token.")
}

/// Responds 404 to requests that match no emulated route, and logs them because they usually mean
/// that the product built a wrong URL.
async fn unknown_route(method: axum::http::Method, uri: Uri) -> ApiError {
    tracing::warn!(%method, path = uri.path(), "zoom emulator: request to an unknown route");
    rest_error(
        StatusCode::NOT_FOUND,
        404,
        &format!(
            "The zoom emulator has no route for {method} {}.",
            uri.path()
        ),
    )
}
