//! Sends signed outgoing webhook deliveries from the delivery queue, retrying with backoff.

use shared::runtime::{Error, run_sqs};

#[tokio::main]
async fn main() -> Result<(), Error> {
    run_sqs().await
}
