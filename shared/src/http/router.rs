//! Maps method and path to a route, checks that the route belongs to the function serving
//! the request, and logs one line per request.

use std::time::Instant;

use http::{Method, StatusCode};
use serde_json::json;

use crate::http::response::{error_response, json_response};
use crate::http::{
    ApiRequest, ApiResponse, MAX_BODY_BYTES, apps, bots, connect_sessions, connections, webhooks,
    zoom_webhook,
};
use crate::services::{ServiceError, Services, projects};

/// The HTTP functions; each serves its own routes, and the local server serves them all.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Function {
    OauthCallback,
    ListConnections,
    ZoomWebhook,
    ManageApps,
    LaunchBot,
    /// Every route, for the local server.
    All,
}

/// A matched route with its path parameter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route {
    Health,
    CreateConnection,
    CreateConnectSession,
    HostedCallback,
    ListConnections,
    GetConnection(String),
    DeleteConnection(String),
    ListConnectionMeetings(String),
    ZoomWebhook(String),
    CreateApp,
    ListApps,
    GetApp(String),
    UpdateApp(String),
    DeleteApp(String),
    CreateSubscription,
    ListSubscriptions,
    GetSubscription(String),
    DeleteSubscription(String),
    CreateBot,
    ListBots,
    GetBot(String),
}

impl Route {
    pub fn function(&self) -> Function {
        match self {
            Route::Health => Function::All,
            Route::CreateConnection | Route::CreateConnectSession | Route::HostedCallback => {
                Function::OauthCallback
            }
            Route::ListConnections
            | Route::GetConnection(_)
            | Route::DeleteConnection(_)
            | Route::ListConnectionMeetings(_) => Function::ListConnections,
            Route::ZoomWebhook(_) => Function::ZoomWebhook,
            Route::CreateApp
            | Route::ListApps
            | Route::GetApp(_)
            | Route::UpdateApp(_)
            | Route::DeleteApp(_)
            | Route::CreateSubscription
            | Route::ListSubscriptions
            | Route::GetSubscription(_)
            | Route::DeleteSubscription(_) => Function::ManageApps,
            Route::CreateBot | Route::ListBots | Route::GetBot(_) => Function::LaunchBot,
        }
    }

    /// Reports whether the route needs an API key.
    fn authenticated(&self) -> bool {
        !matches!(
            self,
            Route::Health | Route::ZoomWebhook(_) | Route::HostedCallback
        )
    }
}

/// The outcome of matching a path: a route, a known path with another method, or nothing.
enum Match {
    Route(Route),
    MethodNotAllowed,
    NotFound,
}

fn match_route(method: &Method, path: &str) -> Match {
    let trimmed = path.trim_end_matches('/');
    let segments: Vec<&str> = trimmed.split('/').skip(1).collect();
    let id = |index: usize| segments[index].to_owned();
    let get = *method == Method::GET;
    let post = *method == Method::POST;
    let delete = *method == Method::DELETE;
    let patch = *method == Method::PATCH;

    let route = match segments.as_slice() {
        ["health"] if get => Route::Health,
        ["api", "v1", "zoom_oauth_connections"] if post => Route::CreateConnection,
        ["api", "v1", "zoom_oauth_connect_sessions"] if post => Route::CreateConnectSession,
        ["oauth", "zoom", "callback"] if get => Route::HostedCallback,
        ["api", "v1", "zoom_oauth_connections"] if get => Route::ListConnections,
        ["api", "v1", "zoom_oauth_connections", _] if get => Route::GetConnection(id(3)),
        ["api", "v1", "zoom_oauth_connections", _] if delete => Route::DeleteConnection(id(3)),
        ["api", "v1", "zoom_oauth_connections", _, "meetings"] if get => {
            Route::ListConnectionMeetings(id(3))
        }
        ["external_webhooks", "zoom", "oauth_apps", _] if post => Route::ZoomWebhook(id(3)),
        ["api", "v1", "zoom_oauth_apps"] if post => Route::CreateApp,
        ["api", "v1", "zoom_oauth_apps"] if get => Route::ListApps,
        ["api", "v1", "zoom_oauth_apps", _] if get => Route::GetApp(id(3)),
        ["api", "v1", "zoom_oauth_apps", _] if patch => Route::UpdateApp(id(3)),
        ["api", "v1", "zoom_oauth_apps", _] if delete => Route::DeleteApp(id(3)),
        ["api", "v1", "webhooks"] if post => Route::CreateSubscription,
        ["api", "v1", "webhooks"] if get => Route::ListSubscriptions,
        ["api", "v1", "webhooks", _] if get => Route::GetSubscription(id(3)),
        ["api", "v1", "webhooks", _] if delete => Route::DeleteSubscription(id(3)),
        ["api", "v1", "bots"] if post => Route::CreateBot,
        ["api", "v1", "bots"] if get => Route::ListBots,
        ["api", "v1", "bots", _] if get => Route::GetBot(id(3)),
        ["health"]
        | ["api", "v1", "zoom_oauth_connect_sessions"]
        | ["oauth", "zoom", "callback"]
        | [
            "api",
            "v1",
            "zoom_oauth_connections" | "zoom_oauth_apps" | "webhooks" | "bots",
        ]
        | [
            "api",
            "v1",
            "zoom_oauth_connections" | "zoom_oauth_apps" | "webhooks" | "bots",
            _,
        ]
        | ["api", "v1", "zoom_oauth_connections", _, "meetings"]
        | ["external_webhooks", "zoom", "oauth_apps", _] => return Match::MethodNotAllowed,
        _ => return Match::NotFound,
    };
    Match::Route(route)
}

/// Lists the methods a path accepts, for the `Allow` header of a 405 response.
fn allowed_methods(path: &str) -> String {
    let mut allowed = Vec::new();
    for method in [Method::GET, Method::POST, Method::PATCH, Method::DELETE] {
        if matches!(match_route(&method, path), Match::Route(_)) {
            if method == Method::GET {
                allowed.push("GET, HEAD".to_owned());
            } else {
                allowed.push(method.to_string());
            }
        }
    }
    allowed.join(", ")
}

/// Context of an authenticated request.
pub struct RequestContext {
    pub project_id: String,
}

/// Serves one request for `function` and logs one line for it. Bad input gets a 4xx
/// response; a 5xx means a fault of this service or a dependency, and is logged as an
/// error.
pub async fn handle(services: &Services, function: Function, request: ApiRequest) -> ApiResponse {
    let started = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let request_id = request
        .headers()
        .get("x-request-id")
        .or_else(|| request.headers().get("x-zm-request-id"))
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);

    // HEAD is GET without the body (RFC 9110, section 9.3.2).
    let mut request = request;
    if method == Method::HEAD {
        *request.method_mut() = Method::GET;
    }
    let (mut response, project_id, error) = route_request(services, function, request).await;
    if method == Method::HEAD {
        *response.body_mut() = bytes::Bytes::new();
    }
    let status = response.status().as_u16();
    let elapsed_ms = started.elapsed().as_millis() as u64;
    let project_id = project_id.as_deref();
    match &error {
        Some(error) if status >= 500 => {
            tracing::error!(%method, %path, status, elapsed_ms, project_id, request_id, %error, "request failed")
        }
        Some(error) => {
            tracing::info!(%method, %path, status, elapsed_ms, project_id, request_id, %error, "request rejected")
        }
        None => {
            tracing::info!(%method, %path, status, elapsed_ms, project_id, request_id, "request handled")
        }
    }
    response
}

async fn route_request(
    services: &Services,
    function: Function,
    request: ApiRequest,
) -> (ApiResponse, Option<String>, Option<ServiceError>) {
    let route = match match_route(request.method(), request.uri().path()) {
        Match::Route(route)
            if function == Function::All
                || route.function() == function
                || route == Route::Health =>
        {
            route
        }
        Match::MethodNotAllowed => {
            let allowed = allowed_methods(request.uri().path());
            let body = json!({"error": format!(
                "Method {} is not allowed on this path. Allowed: {allowed}.",
                request.method()
            )});
            let mut response = json_response(StatusCode::METHOD_NOT_ALLOWED, &body);
            if let Ok(value) = http::HeaderValue::from_str(&allowed) {
                response.headers_mut().insert(http::header::ALLOW, value);
            }
            return (response, None, None);
        }
        _ => {
            return (
                json_response(StatusCode::NOT_FOUND, &json!({"error": "Not found"})),
                None,
                None,
            );
        }
    };

    if request.body().len() > MAX_BODY_BYTES {
        let error = ServiceError::TooLarge(MAX_BODY_BYTES);
        return (error_response(&error), None, Some(error));
    }

    let context = if route.authenticated() {
        let header = request
            .headers()
            .get(http::header::AUTHORIZATION)
            .map(|value| value.to_str().unwrap_or("invalid"));
        match projects::authenticate(services, header).await {
            Ok(project_id) => Some(RequestContext { project_id }),
            Err(error) => return (error_response(&error), None, Some(error)),
        }
    } else {
        None
    };
    let project_id = context.as_ref().map(|c| c.project_id.clone());

    let result = dispatch(services, route, context, &request).await;
    match result {
        Ok(response) => (response, project_id, None),
        Err(error) => (error_response(&error), project_id, Some(error)),
    }
}

async fn dispatch(
    services: &Services,
    route: Route,
    context: Option<RequestContext>,
    request: &ApiRequest,
) -> Result<ApiResponse, ServiceError> {
    let project = || {
        context
            .as_ref()
            .map(|c| c.project_id.as_str())
            .ok_or_else(|| ServiceError::Internal("route needs a project".into()))
    };
    match route {
        Route::Health => Ok(json_response(StatusCode::OK, &json!({"status": "ok"}))),
        Route::CreateConnection => connections::create(services, project()?, request).await,
        Route::CreateConnectSession => {
            connect_sessions::create(services, project()?, request).await
        }
        Route::HostedCallback => connect_sessions::callback(services, request).await,
        Route::ListConnections => connections::list(services, project()?, request).await,
        Route::GetConnection(id) => connections::get(services, project()?, &id).await,
        Route::DeleteConnection(id) => connections::delete(services, project()?, &id).await,
        Route::ListConnectionMeetings(id) => {
            connections::meetings(services, project()?, &id, request).await
        }
        Route::ZoomWebhook(app_id) => zoom_webhook::receive(services, &app_id, request).await,
        Route::CreateApp => apps::create(services, project()?, request).await,
        Route::ListApps => apps::list(services, project()?, request).await,
        Route::GetApp(id) => apps::get(services, project()?, &id).await,
        Route::UpdateApp(id) => apps::update(services, project()?, &id, request).await,
        Route::DeleteApp(id) => apps::delete(services, project()?, &id).await,
        Route::CreateSubscription => webhooks::create(services, project()?, request).await,
        Route::ListSubscriptions => webhooks::list(services, project()?, request).await,
        Route::GetSubscription(id) => webhooks::get(services, project()?, &id).await,
        Route::DeleteSubscription(id) => webhooks::delete(services, project()?, &id).await,
        Route::CreateBot => bots::create(services, project()?, request).await,
        Route::ListBots => bots::list(services, project()?, request).await,
        Route::GetBot(id) => bots::get(services, project()?, &id).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(method: Method, path: &str) -> Option<Route> {
        match match_route(&method, path) {
            Match::Route(route) => Some(route),
            _ => None,
        }
    }

    #[test]
    fn routes_with_and_without_trailing_slash() {
        assert_eq!(
            route(Method::GET, "/api/v1/zoom_oauth_connections/"),
            Some(Route::ListConnections)
        );
        assert_eq!(
            route(Method::GET, "/api/v1/zoom_oauth_connections/zoc_1"),
            Some(Route::GetConnection("zoc_1".into()))
        );
    }

    #[test]
    fn allowed_methods_of_a_path() {
        assert_eq!(
            allowed_methods("/api/v1/zoom_oauth_apps/zoa_1"),
            "GET, HEAD, PATCH, DELETE"
        );
        assert_eq!(
            allowed_methods("/api/v1/zoom_oauth_connections"),
            "GET, HEAD, POST"
        );
    }

    #[test]
    fn wrong_method_is_not_allowed() {
        assert!(matches!(
            match_route(&Method::PUT, "/api/v1/zoom_oauth_apps"),
            Match::MethodNotAllowed
        ));
    }

    #[test]
    fn bot_routes_belong_to_launch_bot() {
        assert_eq!(route(Method::POST, "/api/v1/bots"), Some(Route::CreateBot));
        assert_eq!(route(Method::GET, "/api/v1/bots/"), Some(Route::ListBots));
        assert_eq!(
            route(Method::GET, "/api/v1/bots/bot_1"),
            Some(Route::GetBot("bot_1".into()))
        );
        assert_eq!(Route::CreateBot.function(), Function::LaunchBot);
        assert_eq!(
            Route::GetBot("bot_1".into()).function(),
            Function::LaunchBot
        );
    }

    #[test]
    fn bot_paths_reject_other_methods() {
        for (method, path) in [
            (Method::DELETE, "/api/v1/bots"),
            (Method::PATCH, "/api/v1/bots/bot_1"),
            (Method::POST, "/api/v1/bots/bot_1"),
        ] {
            assert!(
                matches!(match_route(&method, path), Match::MethodNotAllowed),
                "{method} {path}"
            );
        }
    }

    #[test]
    fn unknown_path_is_not_found() {
        assert!(matches!(
            match_route(&Method::GET, "/api/v2/x"),
            Match::NotFound
        ));
    }
}
