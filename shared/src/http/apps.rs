//! `/api/v1/zoom_oauth_apps` handlers.

use http::StatusCode;

use crate::http::body::JsonBody;
use crate::http::pagination::ListQuery;
use crate::http::response::{empty_response, json_response};
use crate::http::{ApiRequest, ApiResponse};
use crate::services::apps::{self, AppChanges, NewApp};
use crate::services::{ServiceError, Services};

pub async fn create(
    services: &Services,
    project_id: &str,
    request: &ApiRequest,
) -> Result<ApiResponse, ServiceError> {
    let mut body = JsonBody::parse(
        request.body(),
        &["client_id", "client_secret", "webhook_secret"],
    )?;
    let client_id = body.required_string("client_id");
    let client_secret = body.required_secret("client_secret");
    let webhook_secret = body.optional_secret("webhook_secret");
    body.finish()?;
    let (Some(client_id), Some(client_secret)) = (client_id, client_secret) else {
        return Err(ServiceError::Internal("validated fields missing".into()));
    };

    let new = NewApp {
        client_id,
        client_secret,
        webhook_secret,
    };
    let app = apps::create_app(services, project_id, new).await?;
    Ok(json_response(
        StatusCode::CREATED,
        &app.to_json(&services.settings.public_base_url),
    ))
}

pub async fn list(
    services: &Services,
    project_id: &str,
    request: &ApiRequest,
) -> Result<ApiResponse, ServiceError> {
    let query = ListQuery::from_uri(request.uri());
    query.reject_unknown(&[])?;
    let page = apps::list_apps(services, project_id, query.page_size()?, query.cursor()?).await?;
    let base = &services.settings.public_base_url;
    Ok(query.ok_response(services, request, &page, |app| app.to_json(base)))
}

pub async fn get(
    services: &Services,
    project_id: &str,
    app_id: &str,
) -> Result<ApiResponse, ServiceError> {
    let app = apps::get_app(services, project_id, app_id).await?;
    Ok(json_response(
        StatusCode::OK,
        &app.to_json(&services.settings.public_base_url),
    ))
}

pub async fn update(
    services: &Services,
    project_id: &str,
    app_id: &str,
    request: &ApiRequest,
) -> Result<ApiResponse, ServiceError> {
    let mut body = JsonBody::parse(
        request.body(),
        &["client_id", "client_secret", "webhook_secret"],
    )?;
    // Accept an unchanged client_id, so clients can send back what they read.
    if let Some(client_id) = body.optional_string("client_id") {
        let current = apps::get_app(services, project_id, app_id).await?;
        if client_id != current.client_id {
            body.add_error(
                "client_id",
                "The client id of an app cannot change; register a new app instead.",
            );
        }
    }
    let changes = AppChanges {
        client_secret: body.optional_secret("client_secret"),
        webhook_secret: body.optional_secret("webhook_secret"),
    };
    body.finish()?;

    let app = apps::update_app(services, project_id, app_id, changes).await?;
    Ok(json_response(
        StatusCode::OK,
        &app.to_json(&services.settings.public_base_url),
    ))
}

pub async fn delete(
    services: &Services,
    project_id: &str,
    app_id: &str,
) -> Result<ApiResponse, ServiceError> {
    apps::delete_app(services, project_id, app_id).await?;
    Ok(empty_response(StatusCode::OK))
}
