//! Registers Zoom OAuth apps and outgoing webhook subscriptions.

use shared::http::Function;
use shared::runtime::{Error, run_http};

#[tokio::main]
async fn main() -> Result<(), Error> {
    run_http(Function::ManageApps).await
}
