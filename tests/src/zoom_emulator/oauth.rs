//! Handlers for Zoom's OAuth server: `POST /oauth/token` and `POST /oauth/revoke`.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::{
    ACCESS_TOKEN_LIFETIME_SECONDS, ApiError, EmulatorState, Endpoint, Grant, IssuedAccessToken,
    SharedState, invalid_client, invalid_grant, oauth_error, random_token,
};

type Form = HashMap<String, String>;

/// Result of an OAuth handler: a 200 response with a JSON body, or an error.
type OAuthResult = Result<Response, ApiError>;

/// `POST /oauth/token` for the `authorization_code`, `refresh_token` and `client_credentials`
/// grant types.
pub(super) async fn token(
    State(state): State<SharedState>,
    headers: HeaderMap,
    body: Bytes,
) -> OAuthResult {
    if let Some(response) = state.begin_request(Endpoint::Token).await {
        return Ok(response);
    }
    let form = parse_form(&headers, &body)?;

    let mut state = state.lock();
    let client_id = state.authenticate_client(&headers, &form)?;
    match form.get("grant_type").map(String::as_str) {
        Some("authorization_code") => state.exchange_code(&client_id, &form),
        Some("refresh_token") => state.refresh(&client_id, &form),
        Some("client_credentials") => state.client_credentials(&client_id),
        other => {
            tracing::debug!(grant_type = ?other, "zoom emulator: unsupported grant type");
            Err(oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                None,
            ))
        }
    }
}

/// `POST /oauth/revoke`: revokes the token set that an access or refresh token belongs to.
///
/// An unknown or already revoked token gets a success response, as RFC 7009 section 2.2 says
/// for invalid tokens. A token issued to another app is rejected and stays valid.
pub(super) async fn revoke(
    State(state): State<SharedState>,
    headers: HeaderMap,
    body: Bytes,
) -> OAuthResult {
    if let Some(response) = state.begin_request(Endpoint::Revoke).await {
        return Ok(response);
    }
    let form = parse_form(&headers, &body)?;

    let mut state = state.lock();
    let client_id = state.authenticate_client(&headers, &form)?;
    let Some(token) = form.get("token") else {
        return Err(invalid_request("Missing token"));
    };

    if let Some(grant_id) = state.find_grant_by_token(token) {
        let grant = &mut state.grants[grant_id];
        if grant.client_id != client_id {
            return Err(invalid_request("The token was issued to another client"));
        }
        revoke_grant(grant);
    }
    state.revoked.push(token.clone());
    Ok(axum::Json(json!({ "status": "success" })).into_response())
}

impl EmulatorState {
    /// Returns the client id authenticated by the `Authorization: Basic` header or, when that
    /// header is absent, by the `client_id` and `client_secret` form fields.
    fn authenticate_client(&self, headers: &HeaderMap, form: &Form) -> Result<String, ApiError> {
        let credentials = match headers.get(header::AUTHORIZATION) {
            Some(value) => value.to_str().ok().and_then(parse_basic_credentials),
            None => form
                .get("client_id")
                .zip(form.get("client_secret"))
                .map(|(id, secret)| (id.clone(), secret.clone())),
        };
        let Some((client_id, client_secret)) = credentials else {
            tracing::debug!("zoom emulator: missing or malformed client credentials");
            return Err(invalid_client());
        };
        if self.apps.get(&client_id) != Some(&client_secret) {
            tracing::debug!(
                client_id,
                "zoom emulator: unknown client or wrong client secret"
            );
            return Err(invalid_client());
        }
        Ok(client_id)
    }

    fn exchange_code(&mut self, client_id: &str, form: &Form) -> OAuthResult {
        let Some(code) = form.get("code") else {
            return Err(invalid_request("Missing authorization code"));
        };
        let Some(issued) = self.codes.get_mut(code) else {
            return Err(invalid_code("unknown code"));
        };
        if issued.used {
            return Err(invalid_code("the code has already been used"));
        }
        if Instant::now() >= issued.expires_at {
            return Err(invalid_code("the code has expired"));
        }
        if issued.client_id != client_id {
            return Err(invalid_code("the code was issued to another client"));
        }
        if form.get("redirect_uri") != Some(&issued.redirect_uri) {
            return Err(invalid_code(
                "redirect_uri does not match the authorization request",
            ));
        }
        if let Some(challenge) = &issued.code_challenge {
            let Some(verifier) = form.get("code_verifier") else {
                return Err(invalid_request("Missing code_verifier"));
            };
            // The emulator implements only the S256 method, in which the challenge is the
            // unpadded base64url encoding of SHA-256 over the verifier (RFC 7636 section 4.2).
            let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
            if &computed != challenge {
                return Err(invalid_request("Invalid code_verifier"));
            }
        }
        // NOTE: a code_verifier sent for a code issued without a challenge is ignored, as a
        // server without PKCE support would ignore it.

        issued.used = true;
        let user_id = issued.user_id.clone();
        let scopes = issued.scopes.clone();

        // A new authorization replaces the earlier token set of the same user and app.
        for grant in &mut self.grants {
            if grant.client_id == client_id && grant.user_id.as_deref() == Some(&user_id) {
                revoke_grant(grant);
            }
        }
        let refresh_token = random_token("emu-refresh-");
        self.grants.push(Grant {
            client_id: client_id.to_owned(),
            user_id: Some(user_id),
            scopes,
            refresh_token: Some(refresh_token),
            revoked: false,
        });
        self.token_response(self.grants.len() - 1)
    }

    /// Exchanges the grant's current refresh token for a new access token and a new refresh
    /// token. The old refresh token stops working, but access tokens issued before stay valid until
    /// they expire.
    fn refresh(&mut self, client_id: &str, form: &Form) -> OAuthResult {
        let Some(refresh_token) = form.get("refresh_token") else {
            return Err(invalid_request("Missing refresh_token"));
        };
        let found = self.grants.iter().position(|grant| {
            !grant.revoked
                && grant.client_id == client_id
                && grant.refresh_token.as_ref() == Some(refresh_token)
        });
        let Some(grant_id) = found else {
            tracing::debug!(
                client_id,
                "zoom emulator: unknown, superseded or revoked refresh token"
            );
            return Err(invalid_grant());
        };
        self.grants[grant_id].refresh_token = Some(random_token("emu-refresh-"));
        self.token_response(grant_id)
    }

    fn client_credentials(&mut self, client_id: &str) -> OAuthResult {
        self.grants.push(Grant {
            client_id: client_id.to_owned(),
            user_id: None,
            scopes: Vec::new(),
            refresh_token: None,
            revoked: false,
        });
        self.token_response(self.grants.len() - 1)
    }

    /// Issues a new access token for the grant and builds the token endpoint's 200 response.
    fn token_response(&mut self, grant_id: usize) -> OAuthResult {
        let access_token = random_token("emu-access-");
        self.access_tokens.insert(
            access_token.clone(),
            IssuedAccessToken {
                grant: grant_id,
                expires_at: Instant::now() + Duration::from_secs(ACCESS_TOKEN_LIFETIME_SECONDS),
                expired: false,
            },
        );

        let grant = &self.grants[grant_id];
        let mut body = json!({
            "access_token": access_token,
            "token_type": "bearer",
            "expires_in": ACCESS_TOKEN_LIFETIME_SECONDS,
            "scope": grant.scopes.join(" "),
        });
        if let Some(refresh_token) = &grant.refresh_token {
            body["refresh_token"] = json!(refresh_token);
        }
        Ok(axum::Json(body).into_response())
    }

    /// Finds the grant that an access token or a current refresh token belongs to.
    fn find_grant_by_token(&self, token: &str) -> Option<usize> {
        if let Some(access) = self.access_tokens.get(token) {
            return Some(access.grant);
        }
        self.grants
            .iter()
            .position(|grant| grant.refresh_token.as_deref() == Some(token))
    }
}

fn revoke_grant(grant: &mut Grant) {
    grant.revoked = true;
    grant.refresh_token = None;
}

/// Parses an `application/x-www-form-urlencoded` body. Parameters in the query string are
/// ignored, so a client that sends them there fails as it would with a form-only server.
fn parse_form(headers: &HeaderMap, body: &[u8]) -> Result<Form, ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("");
    let is_form = content_type.split(';').next().is_some_and(|mime| {
        mime.trim()
            .eq_ignore_ascii_case("application/x-www-form-urlencoded")
    });
    if !body.is_empty() && !is_form {
        tracing::debug!(content_type, "zoom emulator: OAuth body is not a form");
        return Err(invalid_request(
            "The request body must be application/x-www-form-urlencoded",
        ));
    }
    Ok(url::form_urlencoded::parse(body).into_owned().collect())
}

/// Splits an `Authorization: Basic base64(client_id:client_secret)` header value.
fn parse_basic_credentials(value: &str) -> Option<(String, String)> {
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = STANDARD.decode(encoded.trim()).ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (client_id, client_secret) = decoded.split_once(':')?;
    Some((client_id.to_owned(), client_secret.to_owned()))
}

fn invalid_request(reason: &str) -> ApiError {
    tracing::debug!(reason, "zoom emulator: invalid OAuth request");
    oauth_error(StatusCode::BAD_REQUEST, "invalid_request", Some(reason))
}

/// Rejects an authorization code. The code itself stays out of the reason because products
/// may log error bodies and tests search logs for leaked codes.
fn invalid_code(detail: &str) -> ApiError {
    invalid_request(&format!("Invalid authorization code: {detail}"))
}
