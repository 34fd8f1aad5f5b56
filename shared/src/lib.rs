//! Library behind every Lambda function and the local server: domain rules, use-case
//! services, the ports they depend on, and the adapters that implement those ports.

pub mod adapters;
pub mod config;
pub mod domain;
pub mod http;
pub mod lambda_sqs;
pub mod ports;
pub mod records;
pub mod runtime;
pub mod secret;
pub mod services;
pub mod signing;
pub mod telemetry;
