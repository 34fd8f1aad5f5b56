//! Runs join attempts from the join queue: mints tokens, hands the join ticket to the bot runner, and re-queues the next attempt while the authorized user is absent.

use shared::runtime::{Error, run_sqs};

#[tokio::main]
async fn main() -> Result<(), Error> {
    run_sqs().await
}
