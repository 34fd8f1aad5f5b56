//! `/api/v1/zoom_oauth_connections` handlers.

use http::StatusCode;

use crate::domain::connection::ConnectionState;
use crate::http::body::JsonBody;
use crate::http::pagination::ListQuery;
use crate::http::response::{empty_response, json_response};
use crate::http::{ApiRequest, ApiResponse};
use crate::records::connections::ConnectionFilter;
use crate::services::connections::{self, NewConnection};
use crate::services::{FieldErrors, ServiceError, Services};

const CREATE_FIELDS: &[&str] = &[
    "authorization_code",
    "redirect_uri",
    "zoom_oauth_app_id",
    "is_local_recording_token_supported",
    "is_onbehalf_token_supported",
    "metadata",
];

pub async fn create(
    services: &Services,
    project_id: &str,
    request: &ApiRequest,
) -> Result<ApiResponse, ServiceError> {
    let mut body = JsonBody::parse(request.body(), CREATE_FIELDS)?;
    let authorization_code = body.required_secret("authorization_code");
    let redirect_uri = body.required_string("redirect_uri");
    let zoom_oauth_app_id = body.optional_string("zoom_oauth_app_id");
    let local_recording = body.bool_or("is_local_recording_token_supported", true);
    let onbehalf = body.bool_or("is_onbehalf_token_supported", false);
    let metadata = body.metadata();
    if let Some(uri) = &redirect_uri
        && url::Url::parse(uri).is_err()
    {
        body.add_error("redirect_uri", "Must be an absolute URL.");
    }
    body.finish()?;
    let (Some(authorization_code), Some(redirect_uri)) = (authorization_code, redirect_uri) else {
        return Err(ServiceError::Internal("validated fields missing".into()));
    };

    let new = NewConnection {
        authorization_code,
        redirect_uri,
        zoom_oauth_app_id,
        is_local_recording_token_supported: local_recording,
        is_onbehalf_token_supported: onbehalf,
        metadata,
        code_verifier: None,
    };
    let connection = connections::create_connection(services, project_id, new).await?;
    Ok(json_response(StatusCode::CREATED, &connection.to_json()))
}

pub async fn list(
    services: &Services,
    project_id: &str,
    request: &ApiRequest,
) -> Result<ApiResponse, ServiceError> {
    let query = ListQuery::from_uri(request.uri());
    query.reject_unknown(&["state", "user_id", "zoom_oauth_app_id"])?;
    let mut filter = ConnectionFilter::default();
    if let Some(state) = query.get("state") {
        filter.state = Some(ConnectionState::parse(state).ok_or_else(|| {
            ServiceError::Invalid(FieldErrors::single(
                "state",
                "Must be 'connected' or 'disconnected'.",
            ))
        })?);
    }
    filter.user_id = query.get("user_id").map(str::to_owned);
    filter.zoom_oauth_app_id = query.get("zoom_oauth_app_id").map(str::to_owned);

    let page = connections::list_connections(
        services,
        project_id,
        &filter,
        query.page_size()?,
        query.cursor()?,
    )
    .await?;
    Ok(query.ok_response(services, request, &page, |c| c.to_json()))
}

pub async fn get(
    services: &Services,
    project_id: &str,
    connection_id: &str,
) -> Result<ApiResponse, ServiceError> {
    let connection = connections::get_connection(services, project_id, connection_id).await?;
    Ok(json_response(StatusCode::OK, &connection.to_json()))
}

pub async fn delete(
    services: &Services,
    project_id: &str,
    connection_id: &str,
) -> Result<ApiResponse, ServiceError> {
    connections::delete_connection(services, project_id, connection_id).await?;
    Ok(empty_response(StatusCode::OK))
}

pub async fn meetings(
    services: &Services,
    project_id: &str,
    connection_id: &str,
    request: &ApiRequest,
) -> Result<ApiResponse, ServiceError> {
    let query = ListQuery::from_uri(request.uri());
    query.reject_unknown(&[])?;
    let page = connections::list_meetings(
        services,
        project_id,
        connection_id,
        query.page_size()?,
        query.cursor()?,
    )
    .await?;
    Ok(query.ok_response(services, request, &page, |m| m.to_json()))
}
