//! Lists, reads and deletes Zoom OAuth connections and their meeting mappings.

use shared::http::Function;
use shared::runtime::{Error, run_http};

#[tokio::main]
async fn main() -> Result<(), Error> {
    run_http(Function::ListConnections).await
}
