//! `/api/v1/webhooks` handlers: outgoing webhook subscriptions.

use http::StatusCode;
use serde_json::Value;

use crate::domain::webhook::Trigger;
use crate::http::body::JsonBody;
use crate::http::pagination::ListQuery;
use crate::http::response::{empty_response, json_response};
use crate::http::{ApiRequest, ApiResponse};
use crate::services::{ServiceError, Services, webhooks};

pub async fn create(
    services: &Services,
    project_id: &str,
    request: &ApiRequest,
) -> Result<ApiResponse, ServiceError> {
    let mut body = JsonBody::parse(request.body(), &["url", "triggers"])?;
    let url = body.required_string("url");
    let mut triggers = Vec::new();
    match body.value("triggers").cloned() {
        None => body.add_error("triggers", "This field is required."),
        Some(Value::Array(items)) if !items.is_empty() => {
            for item in items {
                match item.as_str().and_then(Trigger::parse) {
                    Some(trigger) if !triggers.contains(&trigger) => triggers.push(trigger),
                    Some(_) => {}
                    None => body.add_error(
                        "triggers",
                        format!(
                            "Unknown trigger {item}. Allowed: {}.",
                            Trigger::ALL.map(Trigger::as_str).join(", ")
                        ),
                    ),
                }
            }
        }
        Some(_) => body.add_error("triggers", "Must be a non-empty list of trigger names."),
    }
    body.finish()?;
    let Some(url) = url else {
        return Err(ServiceError::Internal("validated fields missing".into()));
    };

    let (subscription, secret) =
        webhooks::create_subscription(services, project_id, &url, triggers).await?;
    let mut json = subscription.to_json();
    // The only response that carries the secret.
    json["secret"] = Value::String(secret.expose().to_owned());
    Ok(json_response(StatusCode::CREATED, &json))
}

pub async fn list(
    services: &Services,
    project_id: &str,
    request: &ApiRequest,
) -> Result<ApiResponse, ServiceError> {
    let query = ListQuery::from_uri(request.uri());
    query.reject_unknown(&[])?;
    let page =
        webhooks::list_subscriptions(services, project_id, query.page_size()?, query.cursor()?)
            .await?;
    Ok(query.ok_response(services, request, &page, |s| s.to_json()))
}

pub async fn get(
    services: &Services,
    project_id: &str,
    id: &str,
) -> Result<ApiResponse, ServiceError> {
    let subscription = webhooks::get_subscription(services, project_id, id).await?;
    Ok(json_response(StatusCode::OK, &subscription.to_json()))
}

pub async fn delete(
    services: &Services,
    project_id: &str,
    id: &str,
) -> Result<ApiResponse, ServiceError> {
    webhooks::delete_subscription(services, project_id, id).await?;
    Ok(empty_response(StatusCode::OK))
}
