//! The Zoom API over HTTPS with reqwest.

use std::time::Duration;

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use reqwest::header::{AUTHORIZATION, RETRY_AFTER};
use serde::Deserialize;

use crate::ports::zoom::{
    ClientCredentials, MeetingPage, TokenGrant, UserTokenKind, ZoomApi, ZoomError, ZoomMeeting,
    ZoomUser,
};
use crate::secret::SecretString;

/// Zoom normally responds within a second. 10 s leaves room for slow days and stays under
/// the 60 s refresh lease.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Retries of idempotent REST reads after 429, 5xx or a network failure.
const READ_RETRIES: u32 = 2;
/// First backoff; doubled on each retry.
const BASE_BACKOFF: Duration = Duration::from_millis(250);
/// A `Retry-After` longer than this is not waited for: the caller gets the error instead.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(5);

pub struct ZoomHttp {
    client: reqwest::Client,
    oauth_base_url: String,
    api_base_url: String,
}

#[derive(Deserialize)]
struct TokenBody {
    access_token: String,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default)]
    expires_in: Option<u64>,
    #[serde(default)]
    scope: Option<String>,
}

#[derive(Deserialize)]
struct OAuthErrorBody {
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    reason: Option<String>,
}

#[derive(Deserialize)]
struct RestErrorBody {
    #[serde(default)]
    code: Option<i64>,
    #[serde(default)]
    message: Option<String>,
}

#[derive(Deserialize)]
struct TokenValue {
    token: String,
}

#[derive(Deserialize)]
struct MeetingsBody {
    #[serde(default)]
    meetings: Vec<serde_json::Value>,
    #[serde(default)]
    next_page_token: Option<String>,
}

impl ZoomHttp {
    /// `oauth_base_url` and `api_base_url` are origins such as `https://zoom.us`.
    pub fn new(oauth_base_url: &str, api_base_url: &str) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("zoom-obf-backend/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            client,
            oauth_base_url: oauth_base_url.trim_end_matches('/').to_owned(),
            api_base_url: api_base_url.trim_end_matches('/').to_owned(),
        })
    }

    fn basic(credentials: &ClientCredentials) -> String {
        let pair = format!(
            "{}:{}",
            credentials.client_id,
            credentials.client_secret.expose()
        );
        format!("Basic {}", STANDARD.encode(pair))
    }

    async fn token_request(
        &self,
        credentials: &ClientCredentials,
        form: &[(&str, &str)],
    ) -> Result<TokenBody, ZoomError> {
        let response = self
            .client
            .post(format!("{}/oauth/token", self.oauth_base_url))
            .header(AUTHORIZATION, Self::basic(credentials))
            .form(form)
            .send()
            .await
            .map_err(network_error)?;
        let status = response.status().as_u16();
        let retry_after = retry_after(&response);
        let bytes = response.bytes().await.map_err(network_error)?;
        if status == 200 {
            return serde_json::from_slice(&bytes)
                .map_err(|e| ZoomError::Unexpected(format!("token response: {}", describe(&e))));
        }
        Err(oauth_error(status, &bytes, retry_after))
    }

    /// Sends a GET to the REST API with a bearer token, retried with backoff when transient.
    async fn rest_get(
        &self,
        access_token: &SecretString,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<Vec<u8>, ZoomError> {
        let mut attempt = 0;
        loop {
            let result = self.rest_get_once(access_token, path, query).await;
            match result {
                Err(ZoomError::Transient {
                    ref message,
                    retry_after,
                    ..
                }) if attempt < READ_RETRIES => {
                    let backoff = BASE_BACKOFF * 2u32.pow(attempt);
                    let wait = retry_after
                        .filter(|r| *r <= MAX_RETRY_AFTER)
                        .unwrap_or(backoff)
                        .max(backoff);
                    if retry_after.is_some_and(|r| r > MAX_RETRY_AFTER) {
                        return result;
                    }
                    attempt += 1;
                    tracing::warn!(path, attempt, wait_ms = wait.as_millis() as u64, error = %message, "retrying Zoom request");
                    tokio::time::sleep(wait).await;
                }
                other => return other,
            }
        }
    }

    async fn rest_get_once(
        &self,
        access_token: &SecretString,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<Vec<u8>, ZoomError> {
        let response = self
            .client
            .get(format!("{}{path}", self.api_base_url))
            .bearer_auth(access_token.expose())
            .query(query)
            .send()
            .await
            .map_err(network_error)?;
        let status = response.status().as_u16();
        let retry_after = retry_after(&response);
        let bytes = response.bytes().await.map_err(network_error)?.to_vec();
        if (200..300).contains(&status) {
            return Ok(bytes);
        }
        let body: RestErrorBody = serde_json::from_slice(&bytes).unwrap_or(RestErrorBody {
            code: None,
            message: None,
        });
        if status == 429 || status >= 500 {
            return Err(ZoomError::Transient {
                message: format!("HTTP {status} on {path}"),
                status: Some(status),
                retry_after,
            });
        }
        if body.code == Some(124) || status == 401 {
            return Err(ZoomError::AccessTokenRejected);
        }
        Err(ZoomError::Api {
            status,
            code: body.code.unwrap_or_default(),
            message: body.message.unwrap_or_default(),
        })
    }
}

fn network_error(error: reqwest::Error) -> ZoomError {
    // `without_url` drops the URL, and reqwest's error text never contains headers or
    // bodies, so no token leaks.
    let message = if error.is_timeout() {
        "request timed out".to_owned()
    } else {
        error.without_url().to_string()
    };
    ZoomError::Transient {
        message,
        status: None,
        retry_after: None,
    }
}

/// Reads `Retry-After` as seconds, or as an HTTP or ISO date-time, both of which Zoom sends.
fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    let value = response.headers().get(RETRY_AFTER)?.to_str().ok()?;
    match value.trim().parse::<u64>() {
        Ok(seconds) => Some(Duration::from_secs(seconds)),
        Err(_) => chrono::DateTime::parse_from_rfc2822(value)
            .or_else(|_| chrono::DateTime::parse_from_rfc3339(value))
            .ok()
            .map(|at| {
                let seconds = (at.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_seconds();
                Duration::from_secs(seconds.max(0) as u64)
            }),
    }
}

fn oauth_error(status: u16, bytes: &[u8], retry_after: Option<Duration>) -> ZoomError {
    if status == 429 || status >= 500 {
        return ZoomError::Transient {
            message: format!("HTTP {status} from the token endpoint"),
            status: Some(status),
            retry_after,
        };
    }
    let body: OAuthErrorBody = serde_json::from_slice(bytes).unwrap_or(OAuthErrorBody {
        error: None,
        reason: None,
    });
    let error = body.error.unwrap_or_else(|| format!("http_{status}"));
    if error == "invalid_grant" || error == "invalid_client" {
        ZoomError::CredentialsRejected {
            error,
            reason: body.reason,
        }
    } else {
        ZoomError::OAuth {
            error,
            reason: body.reason,
        }
    }
}

fn grant(body: TokenBody) -> Result<TokenGrant, ZoomError> {
    let refresh_token = body
        .refresh_token
        .ok_or_else(|| ZoomError::Unexpected("token response has no refresh_token".into()))?;
    Ok(TokenGrant {
        access_token: SecretString::new(body.access_token),
        refresh_token: SecretString::new(refresh_token),
        expires_in: body.expires_in.unwrap_or(3599),
        scopes: body
            .scope
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_owned)
            .collect(),
    })
}

/// Describes a JSON error by its kind and position only. serde_json's own message may
/// quote part of the body, and Zoom's bodies here contain tokens.
fn describe(error: &serde_json::Error) -> String {
    format!(
        "{:?} error at line {} column {}",
        error.classify(),
        error.line(),
        error.column()
    )
}

fn parse<T: for<'de> Deserialize<'de>>(bytes: &[u8], what: &str) -> Result<T, ZoomError> {
    serde_json::from_slice(bytes)
        .map_err(|e| ZoomError::Unexpected(format!("{what}: {}", describe(&e))))
}

#[async_trait]
impl ZoomApi for ZoomHttp {
    async fn check_client_credentials(
        &self,
        credentials: &ClientCredentials,
    ) -> Result<(), ZoomError> {
        self.token_request(credentials, &[("grant_type", "client_credentials")])
            .await
            .map(|_| ())
    }

    async fn exchange_code(
        &self,
        credentials: &ClientCredentials,
        code: &str,
        redirect_uri: &str,
        code_verifier: Option<&str>,
    ) -> Result<TokenGrant, ZoomError> {
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
        ];
        if let Some(verifier) = code_verifier {
            form.push(("code_verifier", verifier));
        }
        grant(self.token_request(credentials, &form).await?)
    }

    async fn refresh(
        &self,
        credentials: &ClientCredentials,
        refresh_token: &SecretString,
    ) -> Result<TokenGrant, ZoomError> {
        let form = [
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token.expose()),
        ];
        grant(self.token_request(credentials, &form).await?)
    }

    async fn revoke(
        &self,
        credentials: &ClientCredentials,
        token: &SecretString,
    ) -> Result<(), ZoomError> {
        let response = self
            .client
            .post(format!("{}/oauth/revoke", self.oauth_base_url))
            .header(AUTHORIZATION, Self::basic(credentials))
            .form(&[("token", token.expose())])
            .send()
            .await
            .map_err(network_error)?;
        let status = response.status().as_u16();
        let retry_after = retry_after(&response);
        let bytes = response.bytes().await.map_err(network_error)?;
        if status == 200 {
            Ok(())
        } else {
            Err(oauth_error(status, &bytes, retry_after))
        }
    }

    async fn current_user(&self, access_token: &SecretString) -> Result<ZoomUser, ZoomError> {
        let bytes = self.rest_get(access_token, "/v2/users/me", &[]).await?;
        parse(&bytes, "users/me")
    }

    async fn user_token(
        &self,
        access_token: &SecretString,
        kind: UserTokenKind,
        meeting_number: Option<&str>,
    ) -> Result<SecretString, ZoomError> {
        let mut query = vec![(
            "type",
            match kind {
                UserTokenKind::OnBehalf => "onbehalf",
                UserTokenKind::Zak => "zak",
            },
        )];
        if let Some(number) = meeting_number {
            query.push(("meeting_id", number));
        }
        let bytes = self
            .rest_get(access_token, "/v2/users/me/token", &query)
            .await?;
        Ok(SecretString::new(
            parse::<TokenValue>(&bytes, "user token")?.token,
        ))
    }

    async fn local_recording_token(
        &self,
        access_token: &SecretString,
        meeting_number: &str,
    ) -> Result<SecretString, ZoomError> {
        let path = format!("/v2/meetings/{meeting_number}/jointoken/local_recording");
        let bytes = self
            .rest_get(access_token, &path, &[("bypass_waiting_room", "true")])
            .await?;
        Ok(SecretString::new(
            parse::<TokenValue>(&bytes, "local recording token")?.token,
        ))
    }

    async fn list_meetings(
        &self,
        access_token: &SecretString,
        next_page_token: Option<&str>,
    ) -> Result<MeetingPage, ZoomError> {
        let mut query = vec![("page_size", "300")];
        if let Some(token) = next_page_token {
            query.push(("next_page_token", token));
        }
        let bytes = self
            .rest_get(access_token, "/v2/users/me/meetings", &query)
            .await?;
        let body: MeetingsBody = parse(&bytes, "meeting list")?;
        let meetings = body
            .meetings
            .iter()
            .filter_map(|meeting| {
                let number = match meeting.get("id")? {
                    serde_json::Value::Number(n) => n.to_string(),
                    serde_json::Value::String(s) => s.clone(),
                    _ => return None,
                };
                Some(ZoomMeeting {
                    meeting_number: number,
                    host_id: meeting
                        .get("host_id")
                        .and_then(|h| h.as_str())
                        .map(str::to_owned),
                })
            })
            .collect();
        Ok(MeetingPage {
            meetings,
            next_page_token: body.next_page_token.unwrap_or_default(),
        })
    }
}
