//! The Lambda side of the HTTP layer: API Gateway HTTP API (payload v2) and function URL
//! events in, the shared router, and the response back.

use std::convert::Infallible;

use bytes::Bytes;
use lambda_http::{Body, Request, Response, service_fn};

use crate::http::{Function, handle};
use crate::services::Services;

/// Serves one Lambda HTTP event with `function`'s routes.
pub async fn handle_event(
    services: &Services,
    function: Function,
    request: Request,
) -> Response<Body> {
    let (parts, body) = request.into_parts();
    let bytes = match body {
        Body::Empty => Bytes::new(),
        Body::Text(text) => Bytes::from(text),
        Body::Binary(binary) => Bytes::from(binary),
        _ => Bytes::new(),
    };
    let response = handle(services, function, http::Request::from_parts(parts, bytes)).await;

    let (parts, body) = response.into_parts();
    let body = if body.is_empty() {
        Body::Empty
    } else {
        match String::from_utf8(body.to_vec()) {
            Ok(text) => Body::Text(text),
            Err(error) => Body::Binary(error.into_bytes()),
        }
    };
    Response::from_parts(parts, body)
}

/// Runs the Lambda runtime loop for an HTTP function.
pub async fn run(services: Services, function: Function) -> Result<(), lambda_http::Error> {
    lambda_http::run(service_fn(move |request: Request| {
        let services = services.clone();
        async move { Ok::<_, Infallible>(handle_event(&services, function, request).await) }
    }))
    .await
}
