//! Tests of the emulator over real HTTP, with the same client library the product uses.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::{Endpoint, Failure, ZoomEmulator, ZoomUserSpec};

const CLIENT_ID: &str = "emu-client";
const CLIENT_SECRET: &str = "emu-client-secret";
const REDIRECT_URI: &str = "http://127.0.0.1:9/oauth/zoom/callback";
const USER_ID: &str = "user-1";

/// Scopes of a connection that mints both OBF and local recording tokens.
const ALL_SCOPES: &[&str] = &[
    "user:read:user",
    "user:read:token",
    "user:read:zak",
    "meeting:read:list_meetings",
    "meeting:read:local_recording_token",
];

/// RFC 7636 appendix B: this verifier hashes to this S256 challenge.
const RFC7636_VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const RFC7636_CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

struct Fixture {
    emulator: ZoomEmulator,
    http: reqwest::Client,
}

/// A fixture with one registered app and one active user with PMI 5551234567.
async fn fixture() -> Fixture {
    let emulator = ZoomEmulator::start().await;
    emulator.register_app(CLIENT_ID, CLIENT_SECRET);
    emulator.add_user(ZoomUserSpec {
        pmi: Some(5_551_234_567),
        ..ZoomUserSpec::active(USER_ID)
    });
    // No proxy, so requests go straight to the loopback server whatever the environment sets.
    let http = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("reqwest client builds");
    Fixture { emulator, http }
}

impl Fixture {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.emulator.base_url())
    }

    async fn post_token(&self, form: &[(&str, &str)]) -> (StatusCode, Value) {
        let response = self
            .http
            .post(self.url("/oauth/token"))
            .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
            .form(form)
            .send()
            .await
            .expect("token request is sent");
        read_json(response).await
    }

    async fn exchange(&self, code: &str, verifier: Option<&str>) -> (StatusCode, Value) {
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT_URI),
        ];
        if let Some(verifier) = verifier {
            form.push(("code_verifier", verifier));
        }
        self.post_token(&form).await
    }

    async fn refresh(&self, refresh_token: &str) -> (StatusCode, Value) {
        self.post_token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ])
        .await
    }

    /// Authorizes `USER_ID` with `scopes` and returns the token response body.
    async fn authorize(&self, scopes: &[&str]) -> Value {
        let code = self
            .emulator
            .issue_code(CLIENT_ID, USER_ID, REDIRECT_URI, scopes, None);
        let (status, body) = self.exchange(&code, None).await;
        assert_eq!(status, StatusCode::OK, "code exchange failed: {body}");
        body
    }

    async fn access_token(&self, scopes: &[&str]) -> String {
        let body = self.authorize(scopes).await;
        body["access_token"].as_str().unwrap().to_owned()
    }

    async fn get(&self, path: &str, access_token: &str) -> (StatusCode, Value) {
        let response = self
            .http
            .get(self.url(path))
            .bearer_auth(access_token)
            .send()
            .await
            .expect("REST request is sent");
        read_json(response).await
    }
}

async fn read_json(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    let text = response.text().await.expect("response body is read");
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|err| panic!("body {text:?} is not JSON: {err}"))
    };
    (status, body)
}

fn text<'a>(body: &'a Value, field: &str) -> &'a str {
    body[field]
        .as_str()
        .unwrap_or_else(|| panic!("field {field} is not a string in {body}"))
}

#[tokio::test]
async fn code_exchange_returns_token_set() {
    let fx = fixture().await;
    let code = fx.emulator.issue_code(
        CLIENT_ID,
        USER_ID,
        REDIRECT_URI,
        &["user:read:user", "user:read:token"],
        None,
    );
    assert!(code.starts_with("emu-code-"), "{code}");

    let (status, body) = fx.exchange(&code, None).await;

    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(text(&body, "access_token").starts_with("emu-access-"));
    assert!(text(&body, "refresh_token").starts_with("emu-refresh-"));
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["expires_in"], 3599);
    assert_eq!(body["scope"], "user:read:user user:read:token");
    assert_eq!(
        fx.emulator
            .current_refresh_token(USER_ID, CLIENT_ID)
            .as_deref(),
        Some(text(&body, "refresh_token"))
    );
    assert_eq!(fx.emulator.request_count(Endpoint::Token), 1);
}

#[tokio::test]
async fn code_is_single_use() {
    let fx = fixture().await;
    let code = fx
        .emulator
        .issue_code(CLIENT_ID, USER_ID, REDIRECT_URI, ALL_SCOPES, None);

    let (first, _) = fx.exchange(&code, None).await;
    let (second, body) = fx.exchange(&code, None).await;

    assert_eq!(first, StatusCode::OK);
    assert_eq!(second, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_request");
}

#[tokio::test]
async fn code_exchange_rejects_bad_codes() {
    let fx = fixture().await;
    fx.emulator.register_app("other-client", "other-secret");

    let (status, body) = fx.exchange("emu-code-unknown", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_request");

    let other_redirect = fx.emulator.issue_code(
        CLIENT_ID,
        USER_ID,
        "http://127.0.0.1:9/elsewhere",
        ALL_SCOPES,
        None,
    );
    let (status, body) = fx.exchange(&other_redirect, None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_request");

    let other_client =
        fx.emulator
            .issue_code("other-client", USER_ID, REDIRECT_URI, ALL_SCOPES, None);
    let (status, body) = fx.exchange(&other_client, None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_request");

    let expired = fx
        .emulator
        .issue_code(CLIENT_ID, USER_ID, REDIRECT_URI, ALL_SCOPES, None);
    fx.emulator.expire_codes();
    let (status, body) = fx.exchange(&expired, None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_request");
}

#[tokio::test]
async fn pkce_exchange_needs_matching_verifier() {
    let fx = fixture().await;
    let code = fx.emulator.issue_code(
        CLIENT_ID,
        USER_ID,
        REDIRECT_URI,
        ALL_SCOPES,
        Some(RFC7636_CHALLENGE.to_owned()),
    );

    let (missing, missing_body) = fx.exchange(&code, None).await;
    let (wrong, wrong_body) = fx
        .exchange(&code, Some("wrong-verifier-wrong-verifier-wrong-verifier"))
        .await;
    let (right, right_body) = fx.exchange(&code, Some(RFC7636_VERIFIER)).await;

    assert_eq!(missing, StatusCode::BAD_REQUEST);
    assert_eq!(missing_body["error"], "invalid_request");
    assert_eq!(wrong, StatusCode::BAD_REQUEST);
    assert_eq!(wrong_body["error"], "invalid_request");
    assert_eq!(right, StatusCode::OK, "{right_body}");
    assert!(text(&right_body, "access_token").starts_with("emu-access-"));
}

#[tokio::test]
async fn client_credentials_in_form_fields() {
    let fx = fixture().await;
    let code = fx
        .emulator
        .issue_code(CLIENT_ID, USER_ID, REDIRECT_URI, ALL_SCOPES, None);

    let response = fx
        .http
        .post(fx.url("/oauth/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT_URI),
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
        ])
        .send()
        .await
        .unwrap();
    let (status, body) = read_json(response).await;

    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn wrong_or_replaced_secret_is_invalid_client() {
    let fx = fixture().await;

    let response = fx
        .http
        .post(fx.url("/oauth/token"))
        .basic_auth(CLIENT_ID, Some("not-the-secret"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    let (status, body) = read_json(response).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        json!({"error": "invalid_client", "reason": "Invalid client_id or client_secret"})
    );

    fx.emulator.set_app_secret(CLIENT_ID, "rotated-secret");
    let (status, body) = fx.post_token(&[("grant_type", "client_credentials")]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_client");

    let response = fx
        .http
        .post(fx.url("/oauth/token"))
        .basic_auth(CLIENT_ID, Some("rotated-secret"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn refresh_rotates_refresh_token() {
    let fx = fixture().await;
    let first = fx.authorize(ALL_SCOPES).await;
    let first_refresh = text(&first, "refresh_token");

    let (status, second) = fx.refresh(first_refresh).await;
    assert_eq!(status, StatusCode::OK, "{second}");
    let second_refresh = text(&second, "refresh_token");
    assert_ne!(second_refresh, first_refresh);
    assert_ne!(text(&second, "access_token"), text(&first, "access_token"));
    assert_eq!(second["scope"], ALL_SCOPES.join(" "));
    assert_eq!(
        fx.emulator
            .current_refresh_token(USER_ID, CLIENT_ID)
            .as_deref(),
        Some(second_refresh)
    );

    let (status, body) = fx.refresh(first_refresh).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        json!({"error": "invalid_grant", "reason": "Invalid Token!"})
    );

    let (status, _) = fx.refresh(second_refresh).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn refresh_rejects_unknown_token() {
    let fx = fixture().await;

    let (status, body) = fx.refresh("emu-refresh-unknown").await;

    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_grant");
}

#[tokio::test]
async fn new_authorization_revokes_earlier_tokens() {
    let fx = fixture().await;
    let first = fx.authorize(ALL_SCOPES).await;

    let second = fx.authorize(ALL_SCOPES).await;

    let (status, _) = fx.refresh(text(&first, "refresh_token")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, body) = fx.get("/v2/users/me", text(&first, "access_token")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["code"], 124);
    let (status, _) = fx.get("/v2/users/me", text(&second, "access_token")).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn client_credentials_grant_checks_app() {
    let fx = fixture().await;

    let (status, body) = fx.post_token(&[("grant_type", "client_credentials")]).await;

    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(text(&body, "access_token").starts_with("emu-access-"));
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["expires_in"], 3599);
    assert_eq!(body["scope"], "");
    assert!(body.get("refresh_token").is_none(), "{body}");
}

#[tokio::test]
async fn unknown_grant_type_is_unsupported() {
    let fx = fixture().await;

    let (status, body) = fx.post_token(&[("grant_type", "password")]).await;

    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body, json!({"error": "unsupported_grant_type"}));
}

#[tokio::test]
async fn json_body_is_rejected() {
    let fx = fixture().await;

    let response = fx
        .http
        .post(fx.url("/oauth/token"))
        .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
        .json(&json!({"grant_type": "client_credentials"}))
        .send()
        .await
        .unwrap();
    let (status, body) = read_json(response).await;

    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_request");
}

#[tokio::test]
async fn revoke_ends_token_set() {
    let fx = fixture().await;
    let tokens = fx.authorize(ALL_SCOPES).await;
    let access_token = text(&tokens, "access_token");

    let response = fx
        .http
        .post(fx.url("/oauth/revoke"))
        .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
        .form(&[("token", access_token)])
        .send()
        .await
        .unwrap();
    let (status, body) = read_json(response).await;

    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"status": "success"}));
    assert_eq!(fx.emulator.revoked_tokens(), vec![access_token.to_owned()]);
    assert_eq!(fx.emulator.current_refresh_token(USER_ID, CLIENT_ID), None);
    let (status, _) = fx.get("/v2/users/me", access_token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, body) = fx.refresh(text(&tokens, "refresh_token")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_grant");
}

#[tokio::test]
async fn revoke_needs_valid_client() {
    let fx = fixture().await;
    let tokens = fx.authorize(ALL_SCOPES).await;

    let response = fx
        .http
        .post(fx.url("/oauth/revoke"))
        .basic_auth(CLIENT_ID, Some("not-the-secret"))
        .form(&[("token", text(&tokens, "refresh_token"))])
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(fx.emulator.revoked_tokens().is_empty());
    assert!(
        fx.emulator
            .current_refresh_token(USER_ID, CLIENT_ID)
            .is_some()
    );
}

#[tokio::test]
async fn users_me_returns_profile() {
    let fx = fixture().await;
    let access_token = fx.access_token(ALL_SCOPES).await;

    let (status, body) = fx.get("/v2/users/me", &access_token).await;

    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        json!({
            "id": USER_ID,
            "account_id": "emu-account",
            "status": "active",
            "pmi": 5_551_234_567_u64,
            "email": "user-1@example.com",
            "type": 1,
        })
    );
    assert_eq!(fx.emulator.request_count(Endpoint::UsersMe), 1);
}

#[tokio::test]
async fn users_me_of_unknown_user_is_1001() {
    let fx = fixture().await;
    let code = fx
        .emulator
        .issue_code(CLIENT_ID, "ghost", REDIRECT_URI, ALL_SCOPES, None);
    let (_, tokens) = fx.exchange(&code, None).await;

    let (status, body) = fx.get("/v2/users/me", text(&tokens, "access_token")).await;

    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["code"], 1001);
}

#[tokio::test]
async fn rest_rejects_missing_or_query_token() {
    let fx = fixture().await;
    let access_token = fx.access_token(ALL_SCOPES).await;

    let response = fx
        .http
        .get(fx.url(&format!("/v2/users/me?access_token={access_token}")))
        .send()
        .await
        .unwrap();
    let (status, body) = read_json(response).await;

    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        body,
        json!({"code": 124, "message": "Invalid access token."})
    );
    let (status, _) = fx.get("/v2/users/me", "emu-access-unknown").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn expired_access_tokens_are_124() {
    let fx = fixture().await;
    let old = fx.access_token(ALL_SCOPES).await;

    fx.emulator.expire_access_tokens();

    let (status, body) = fx.get("/v2/users/me", &old).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["code"], 124);
    let refresh_token = fx
        .emulator
        .current_refresh_token(USER_ID, CLIENT_ID)
        .unwrap();
    let (_, refreshed) = fx.refresh(&refresh_token).await;
    let (status, _) = fx
        .get("/v2/users/me", text(&refreshed, "access_token"))
        .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn obf_token_is_minted_and_recorded() {
    let fx = fixture().await;
    let access_token = fx.access_token(ALL_SCOPES).await;

    let (status, body) = fx
        .get(
            "/v2/users/me/token?type=onbehalf&meeting_id=85012345678",
            &access_token,
        )
        .await;

    assert_eq!(status, StatusCode::OK, "{body}");
    let token = text(&body, "token");
    assert!(token.starts_with("emu-obf-"), "{token}");
    let minted = fx.emulator.minted_tokens();
    assert_eq!(minted.len(), 1);
    assert_eq!(minted[0].kind, "onbehalf");
    assert_eq!(minted[0].user_id, USER_ID);
    assert_eq!(minted[0].meeting_number.as_deref(), Some("85012345678"));
    assert_eq!(minted[0].token, token);
    assert_eq!(fx.emulator.request_count(Endpoint::UserToken), 1);
}

#[tokio::test]
async fn obf_token_needs_meeting_id() {
    let fx = fixture().await;
    let access_token = fx.access_token(ALL_SCOPES).await;

    let (status, body) = fx
        .get("/v2/users/me/token?type=onbehalf", &access_token)
        .await;

    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        json!({"code": 300, "message": "meeting_id is required"})
    );
    assert!(fx.emulator.minted_tokens().is_empty());
}

#[tokio::test]
async fn obf_token_needs_scope() {
    let fx = fixture().await;
    let access_token = fx.access_token(&["user:read:user"]).await;

    let (status, body) = fx
        .get(
            "/v2/users/me/token?type=onbehalf&meeting_id=85012345678",
            &access_token,
        )
        .await;

    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        json!({
            "code": 4711,
            "message": "Invalid access token, does not contain scopes:[user:read:token]."
        })
    );
}

#[tokio::test]
async fn zak_is_minted_on_both_routes() {
    let fx = fixture().await;
    let access_token = fx.access_token(ALL_SCOPES).await;

    let (by_type, by_type_body) = fx.get("/v2/users/me/token?type=zak", &access_token).await;
    let (by_path, by_path_body) = fx.get("/v2/users/me/zak", &access_token).await;

    assert_eq!(by_type, StatusCode::OK, "{by_type_body}");
    assert_eq!(by_path, StatusCode::OK, "{by_path_body}");
    let kinds: Vec<String> = fx
        .emulator
        .minted_tokens()
        .into_iter()
        .map(|minted| minted.kind)
        .collect();
    assert_eq!(kinds, ["zak", "zak"]);
    assert_eq!(fx.emulator.request_count(Endpoint::UserToken), 2);
}

#[tokio::test]
async fn local_recording_token_only_for_host() {
    let fx = fixture().await;
    fx.emulator.add_meeting(USER_ID, 85_012_345_678, "Standup");
    fx.emulator
        .add_meeting("someone-else", 86_000_000_000, "Other");
    let access_token = fx.access_token(ALL_SCOPES).await;

    let (hosted, hosted_body) = fx
        .get(
            "/v2/meetings/85012345678/jointoken/local_recording?bypass_waiting_room=true",
            &access_token,
        )
        .await;
    let (foreign, foreign_body) = fx
        .get(
            "/v2/meetings/86000000000/jointoken/local_recording",
            &access_token,
        )
        .await;

    assert_eq!(hosted, StatusCode::OK, "{hosted_body}");
    assert!(text(&hosted_body, "token").starts_with("emu-local-recording-"));
    assert_eq!(hosted_body["expire_in"], 120);
    assert_eq!(foreign, StatusCode::NOT_FOUND);
    assert_eq!(
        foreign_body,
        json!({"code": 3001, "message": "Meeting does not exist: 86000000000."})
    );
    let minted = fx.emulator.minted_tokens();
    assert_eq!(minted.len(), 1);
    assert_eq!(minted[0].kind, "local_recording");
    assert_eq!(minted[0].meeting_number.as_deref(), Some("85012345678"));
}

#[tokio::test]
async fn meeting_list_is_paginated() {
    let fx = fixture().await;
    for index in 0..5_u64 {
        fx.emulator
            .add_meeting(USER_ID, 85_000_000_000 + index, &format!("Meeting {index}"));
    }
    fx.emulator
        .add_meeting("someone-else", 86_000_000_000, "Other");
    let access_token = fx.access_token(ALL_SCOPES).await;

    let mut numbers = Vec::new();
    let mut next_page_token = String::new();
    let mut pages = 0;
    loop {
        let path = format!("/v2/users/me/meetings?page_size=2&next_page_token={next_page_token}");
        let (status, body) = fx.get(&path, &access_token).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["page_size"], 2);
        assert_eq!(body["total_records"], 5);
        pages += 1;
        for meeting in body["meetings"].as_array().unwrap() {
            assert_eq!(meeting["host_id"], USER_ID);
            assert_eq!(meeting["type"], 2);
            assert!(meeting["uuid"].is_string());
            numbers.push(meeting["id"].as_u64().unwrap());
        }
        next_page_token = text(&body, "next_page_token").to_owned();
        if next_page_token.is_empty() {
            break;
        }
    }

    assert_eq!(pages, 3);
    assert_eq!(
        numbers,
        (0..5)
            .map(|index| 85_000_000_000 + index)
            .collect::<Vec<_>>()
    );
    assert_eq!(fx.emulator.request_count(Endpoint::ListMeetings), 3);
}

#[tokio::test]
async fn meeting_list_page_size_limits() {
    let fx = fixture().await;
    for index in 0..301_u64 {
        fx.emulator
            .add_meeting(USER_ID, 85_000_000_000 + index, "Bulk");
    }
    let access_token = fx.access_token(ALL_SCOPES).await;

    let (_, default_page) = fx.get("/v2/users/me/meetings", &access_token).await;
    let (_, capped_page) = fx
        .get("/v2/users/me/meetings?page_size=1000", &access_token)
        .await;

    assert_eq!(default_page["page_size"], 30);
    assert_eq!(default_page["meetings"].as_array().unwrap().len(), 30);
    assert_eq!(capped_page["page_size"], 300);
    assert_eq!(capped_page["meetings"].as_array().unwrap().len(), 300);
    assert_ne!(capped_page["next_page_token"], "");
}

#[tokio::test]
async fn scripted_status_uses_endpoint_body_shape() {
    let fx = fixture().await;
    let access_token = fx.access_token(ALL_SCOPES).await;
    fx.emulator.fail_next(Endpoint::Token, Failure::Status(503));
    fx.emulator
        .fail_next(Endpoint::UsersMe, Failure::Status(500));

    let (token_status, token_body) = fx.post_token(&[("grant_type", "client_credentials")]).await;
    let (rest_status, rest_body) = fx.get("/v2/users/me", &access_token).await;

    assert_eq!(token_status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        token_body,
        json!({"error": "server_error", "reason": "emulated failure"})
    );
    assert_eq!(rest_status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        rest_body,
        json!({"code": 500, "message": "emulated failure"})
    );
}

#[tokio::test]
async fn scripted_failures_run_in_order() {
    let fx = fixture().await;
    let tokens = fx.authorize(ALL_SCOPES).await;
    let refresh_token = text(&tokens, "refresh_token");
    fx.emulator
        .fail_next(Endpoint::Token, Failure::InvalidGrant);
    fx.emulator
        .fail_next(Endpoint::Token, Failure::InvalidClient);

    let (first, first_body) = fx.refresh(refresh_token).await;
    let (second, second_body) = fx.refresh(refresh_token).await;
    let (third, third_body) = fx.refresh(refresh_token).await;

    assert_eq!(first, StatusCode::BAD_REQUEST);
    assert_eq!(
        first_body,
        json!({"error": "invalid_grant", "reason": "Invalid Token!"})
    );
    assert_eq!(second, StatusCode::BAD_REQUEST);
    assert_eq!(second_body["error"], "invalid_client");
    // Scripted failures leave the refresh token untouched, so it still rotates afterwards.
    assert_eq!(third, StatusCode::OK, "{third_body}");
    assert_eq!(fx.emulator.request_count(Endpoint::Token), 4);
}

#[tokio::test]
async fn scripted_rate_limit_sets_retry_after() {
    let fx = fixture().await;
    let access_token = fx.access_token(ALL_SCOPES).await;
    fx.emulator.fail_next(
        Endpoint::UserToken,
        Failure::RateLimited {
            retry_after_seconds: 7,
        },
    );

    let response = fx
        .http
        .get(fx.url("/v2/users/me/token?type=onbehalf&meeting_id=85012345678"))
        .bearer_auth(&access_token)
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(response.headers()["retry-after"], "7");
    assert!(fx.emulator.minted_tokens().is_empty());
}

#[tokio::test]
async fn scripted_expired_token_on_rest() {
    let fx = fixture().await;
    let access_token = fx.access_token(ALL_SCOPES).await;
    fx.emulator
        .fail_next(Endpoint::ListMeetings, Failure::ExpiredAccessToken);

    let (first, first_body) = fx.get("/v2/users/me/meetings", &access_token).await;
    let (second, _) = fx.get("/v2/users/me/meetings", &access_token).await;

    assert_eq!(first, StatusCode::UNAUTHORIZED);
    assert_eq!(
        first_body,
        json!({"code": 124, "message": "Invalid access token."})
    );
    assert_eq!(second, StatusCode::OK);
}

#[tokio::test]
async fn scripted_delay_then_normal_response() {
    let fx = fixture().await;
    let access_token = fx.access_token(ALL_SCOPES).await;
    fx.emulator.add_meeting(USER_ID, 85_012_345_678, "Standup");
    fx.emulator.fail_next(
        Endpoint::LocalRecordingToken,
        Failure::Delay(Duration::from_millis(300)),
    );

    let started = Instant::now();
    let (status, body) = fx
        .get(
            "/v2/meetings/85012345678/jointoken/local_recording",
            &access_token,
        )
        .await;

    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(fx.emulator.minted_tokens().len(), 1);
}

#[tokio::test]
async fn unknown_route_is_404() {
    let fx = fixture().await;
    let access_token = fx.access_token(ALL_SCOPES).await;

    let (status, body) = fx.get("/v2/users/me/webinars", &access_token).await;

    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["code"], 404);
}

#[tokio::test]
async fn shutdown_stops_serving() {
    let fx = fixture().await;
    let url = fx.url("/oauth/token");
    let http = fx.http.clone();

    fx.emulator.shutdown().await;

    let result = http.post(&url).send().await;
    assert!(result.is_err(), "server still responded: {result:?}");
}
