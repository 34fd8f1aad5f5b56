//! Building responses, and the status and body of every service error.

use bytes::Bytes;
use http::{StatusCode, header};
use serde_json::{Value, json};

use crate::http::ApiResponse;
use crate::services::ServiceError;

pub fn json_response(status: StatusCode, body: &Value) -> ApiResponse {
    http::Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Bytes::from(serde_json::to_vec(body).unwrap_or_default()))
        .expect("status and static header are valid")
}

pub fn empty_response(status: StatusCode) -> ApiResponse {
    http::Response::builder()
        .status(status)
        .body(Bytes::new())
        .expect("status is valid")
}

pub fn redirect_response(location: &str) -> ApiResponse {
    http::Response::builder()
        .status(StatusCode::FOUND)
        .header(header::LOCATION, location)
        .header(header::CACHE_CONTROL, "no-store")
        .body(Bytes::new())
        .unwrap_or_else(|_| empty_response(StatusCode::INTERNAL_SERVER_ERROR))
}

/// Builds the status and JSON body of an error. 5xx bodies carry a generic text, and the
/// caller logs the detail instead, because it may name internal resources.
pub fn error_response(error: &ServiceError) -> ApiResponse {
    let (status, body) = match error {
        ServiceError::Invalid(fields) => (StatusCode::BAD_REQUEST, json!(fields.0)),
        ServiceError::BadRequest(message) => (StatusCode::BAD_REQUEST, json!({"error": message})),
        ServiceError::Unauthenticated(message) => {
            (StatusCode::UNAUTHORIZED, json!({"detail": message}))
        }
        ServiceError::SignatureRejected(message) => {
            (StatusCode::UNAUTHORIZED, json!({"error": message}))
        }
        ServiceError::NotFound(thing) => (
            StatusCode::NOT_FOUND,
            json!({"error": format!("{thing} not found")}),
        ),
        ServiceError::Conflict(message) => (StatusCode::CONFLICT, json!({"error": message})),
        ServiceError::TooLarge(limit) => (
            StatusCode::PAYLOAD_TOO_LARGE,
            json!({"error": format!("Request body exceeds {limit} bytes.")}),
        ),
        ServiceError::Unavailable(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"error": "A dependency is temporarily unavailable; retry later."}),
        ),
        ServiceError::Internal(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({"error": "Internal error."}),
        ),
    };
    json_response(status, &body)
}
