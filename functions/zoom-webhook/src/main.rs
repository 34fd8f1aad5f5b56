//! Receives Zoom's signed webhook events for every registered app.

use shared::http::Function;
use shared::runtime::{Error, run_http};

#[tokio::main]
async fn main() -> Result<(), Error> {
    run_http(Function::ZoomWebhook).await
}
