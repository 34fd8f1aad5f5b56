//! `POST /external_webhooks/zoom/oauth_apps/{zoa_id}`: Zoom's event deliveries.

use std::time::Duration;

use http::StatusCode;

use crate::http::response::json_response;
use crate::http::{ApiRequest, ApiResponse};
use crate::services::zoom_events::{ZoomDelivery, handle_delivery};
use crate::services::{ServiceError, Services};

/// Zoom expects a response within 3 s. Past this budget the handler gives up with 503, so
/// Zoom retries instead of counting a timeout.
const ANSWER_BUDGET: Duration = Duration::from_millis(2500);

pub async fn receive(
    services: &Services,
    app_id: &str,
    request: &ApiRequest,
) -> Result<ApiResponse, ServiceError> {
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
    };
    let delivery = ZoomDelivery {
        timestamp: header("x-zm-request-timestamp"),
        signature: header("x-zm-signature"),
        request_id: header("x-zm-request-id"),
        body: request.body(),
    };
    let answer = tokio::time::timeout(ANSWER_BUDGET, handle_delivery(services, app_id, delivery))
        .await
        .map_err(|_| {
            ServiceError::Unavailable("handling the Zoom event took longer than 2.5 s".into())
        })??;
    Ok(json_response(StatusCode::OK, &answer))
}
