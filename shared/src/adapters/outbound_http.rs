//! Outgoing POSTs with reqwest: no redirects, a per-request timeout, and the target's
//! address checked again right before sending.

use async_trait::async_trait;
use reqwest::header::{CONTENT_TYPE, HeaderName, HeaderValue};

use crate::domain::outbound_url::check_outbound_url;
use crate::ports::outbound::{OutboundError, OutboundHttp, OutboundRequest, OutboundResponse};

/// Answers longer than this are cut; receivers' bodies are only logged or parsed as small
/// JSON objects.
const MAX_RESPONSE_BYTES: usize = 64 * 1024;

pub struct ReqwestOutbound {
    client: reqwest::Client,
    allow_private: bool,
}

impl ReqwestOutbound {
    pub fn new(allow_private: bool) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(std::time::Duration::from_secs(5))
            .user_agent(concat!("zoom-obf-backend/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            client,
            allow_private,
        })
    }
}

#[async_trait]
impl OutboundHttp for ReqwestOutbound {
    async fn post(&self, request: OutboundRequest) -> Result<OutboundResponse, OutboundError> {
        // The URL was checked when it was stored; checking again here catches a DNS answer
        // that changed since then.
        check_outbound_url(&request.url, self.allow_private)
            .await
            .map_err(|error| OutboundError::UrlRejected(error.to_string()))?;

        let mut builder = self
            .client
            .post(&request.url)
            .timeout(request.timeout)
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .body(request.body);
        for (name, value) in &request.headers {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|e| OutboundError::Failed(e.to_string()))?;
            let value =
                HeaderValue::from_str(value).map_err(|e| OutboundError::Failed(e.to_string()))?;
            builder = builder.header(name, value);
        }
        let response = builder.send().await.map_err(|error| {
            if error.is_timeout() {
                OutboundError::Timeout(request.timeout)
            } else {
                OutboundError::Failed(error.without_url().to_string())
            }
        })?;
        let status = response.status().as_u16();
        let mut body = response
            .bytes()
            .await
            .map_err(|error| OutboundError::Failed(error.without_url().to_string()))?
            .to_vec();
        body.truncate(MAX_RESPONSE_BYTES);
        Ok(OutboundResponse { status, body })
    }
}
