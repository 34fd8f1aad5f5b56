//! The HTTP layer shared by every HTTP function and the local server: routing, body
//! parsing, authentication, pagination, and error-to-response mapping.

pub mod apps;
pub mod body;
pub mod bots;
pub mod connect_sessions;
pub mod connections;
pub mod lambda;
pub mod pagination;
pub mod response;
pub mod router;
pub mod webhooks;
pub mod zoom_webhook;

use bytes::Bytes;

/// Requests and responses as the handlers see them, independent of API Gateway or axum.
pub type ApiRequest = http::Request<Bytes>;
pub type ApiResponse = http::Response<Bytes>;

/// Bodies above this size are rejected with 413 before parsing.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

pub use router::{Function, handle};
