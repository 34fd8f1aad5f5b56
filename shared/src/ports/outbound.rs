//! The outgoing-HTTP port: signed POSTs to customer URLs (webhook deliveries, token
//! callbacks) and to the bot runner.

use std::time::Duration;

use async_trait::async_trait;

#[derive(Clone, Debug)]
pub struct OutboundRequest {
    pub url: String,
    pub body: Vec<u8>,
    /// Extra headers; `Content-Type: application/json` and the product's `User-Agent` are
    /// always sent.
    pub headers: Vec<(String, String)>,
    pub timeout: Duration,
    /// Whether a customer chose the URL (webhook targets, token callbacks), so the outbound
    /// URL rule applies: https and no private, loopback or link-local address. The bot
    /// runner's URL comes from the operator's configuration and may be a private address.
    pub customer_url: bool,
}

#[derive(Clone, Debug)]
pub struct OutboundResponse {
    pub status: u16,
    pub body: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
pub enum OutboundError {
    #[error("request timed out after {0:?}")]
    Timeout(Duration),
    #[error("request failed: {0}")]
    Failed(String),
    #[error("target URL rejected: {0}")]
    UrlRejected(String),
}

#[async_trait]
pub trait OutboundHttp: Send + Sync {
    /// Sends one POST without following redirects.
    async fn post(&self, request: OutboundRequest) -> Result<OutboundResponse, OutboundError>;
}
