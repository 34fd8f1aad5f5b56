//! Accepts bots and reports their state; join attempts run in join-worker.

use shared::http::Function;
use shared::runtime::{Error, run_http};

#[tokio::main]
async fn main() -> Result<(), Error> {
    run_http(Function::LaunchBot).await
}
