//! Implementations of the ports: AWS services for the Lambda functions, embedded ones for
//! the local server, and Zoom over HTTPS for both.

pub mod aws;
pub mod dynamodb;
pub mod kms;
pub mod local_secrets;
pub mod outbound_http;
pub mod sqlite;
pub mod sqs;
pub mod zoom_http;
