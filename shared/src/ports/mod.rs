//! Traits at the I/O boundary. Services depend only on these; the adapters implement them
//! for AWS (DynamoDB, KMS, SQS) and for the embedded local backend (SQLite, a key file).

pub mod clock;
pub mod outbound;
pub mod queue;
pub mod secrets;
pub mod store;
pub mod zoom;
