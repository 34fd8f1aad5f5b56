//! Exchanges authorization codes for Zoom OAuth connections.

use shared::http::Function;
use shared::runtime::{Error, run_http};

#[tokio::main]
async fn main() -> Result<(), Error> {
    run_http(Function::OauthCallback).await
}
