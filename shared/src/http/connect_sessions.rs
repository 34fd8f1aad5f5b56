//! The hosted OAuth flow: `POST /api/v1/zoom_oauth_connect_sessions` and Zoom's redirect
//! to `GET /oauth/zoom/callback`.

use http::StatusCode;
use serde_json::json;

use crate::domain::time::format_timestamp;
use crate::http::body::JsonBody;
use crate::http::pagination::ListQuery;
use crate::http::response::{json_response, redirect_response};
use crate::http::{ApiRequest, ApiResponse};
use crate::services::connect_sessions::{self, CallbackParams, NewConnectSession};
use crate::services::{ServiceError, Services};

const FIELDS: &[&str] = &[
    "zoom_oauth_app_id",
    "success_url",
    "failure_url",
    "metadata",
    "is_local_recording_token_supported",
    "is_onbehalf_token_supported",
];

pub async fn create(
    services: &Services,
    project_id: &str,
    request: &ApiRequest,
) -> Result<ApiResponse, ServiceError> {
    let mut body = JsonBody::parse(request.body(), FIELDS)?;
    let zoom_oauth_app_id = body.optional_string("zoom_oauth_app_id");
    let success_url = body.required_string("success_url");
    let failure_url = body.required_string("failure_url");
    let metadata = body.metadata();
    let local_recording = body.bool_or("is_local_recording_token_supported", true);
    let onbehalf = body.bool_or("is_onbehalf_token_supported", false);
    body.finish()?;
    let (Some(success_url), Some(failure_url)) = (success_url, failure_url) else {
        return Err(ServiceError::Internal("validated fields missing".into()));
    };

    let session = connect_sessions::create_session(
        services,
        project_id,
        NewConnectSession {
            zoom_oauth_app_id,
            success_url,
            failure_url,
            metadata,
            is_local_recording_token_supported: local_recording,
            is_onbehalf_token_supported: onbehalf,
        },
    )
    .await?;
    let answer = json!({
        "authorize_url": session.authorize_url,
        "expires_at": format_timestamp(session.expires_at),
    });
    Ok(json_response(StatusCode::CREATED, &answer))
}

pub async fn callback(
    services: &Services,
    request: &ApiRequest,
) -> Result<ApiResponse, ServiceError> {
    let query = ListQuery::from_uri(request.uri());
    let params = CallbackParams {
        code: query.get("code").map(str::to_owned),
        state: query.get("state").map(str::to_owned),
        error: query.get("error").map(str::to_owned),
    };
    let location = connect_sessions::complete(services, params).await?;
    Ok(redirect_response(&location))
}
