//! Implementations of the ports: AWS services for the Lambda functions, embedded ones for
//! the local server, and Zoom over HTTPS for both.

pub mod local_secrets;
pub mod sqlite;
pub mod zoom_http;
