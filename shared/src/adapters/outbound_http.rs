//! Outgoing POSTs with reqwest: no redirects, a per-request timeout, and the target's
//! address checked again right before sending.

use async_trait::async_trait;
use reqwest::header::{CONTENT_TYPE, HeaderName, HeaderValue};

use crate::domain::outbound_url::check_outbound_url;
use crate::ports::outbound::{OutboundError, OutboundHttp, OutboundRequest, OutboundResponse};

/// Maximum response body read, in bytes. Receivers' bodies are small JSON objects, and a
/// longer one is rejected without being read whole, so a hostile receiver cannot exhaust
/// the memory of a function.
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
        if request.customer_url {
            check_outbound_url(&request.url, self.allow_private)
                .await
                .map_err(|error| OutboundError::UrlRejected(error.to_string()))?;
        }

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
        let body = read_capped(response).await?;
        Ok(OutboundResponse { status, body })
    }
}

/// Reads the body chunk by chunk and stops with an error once it exceeds the cap.
async fn read_capped(mut response: reqwest::Response) -> Result<Vec<u8>, OutboundError> {
    let too_long =
        || OutboundError::Failed(format!("response body exceeds {MAX_RESPONSE_BYTES} bytes"));
    if response
        .content_length()
        .is_some_and(|length| length > MAX_RESPONSE_BYTES as u64)
    {
        return Err(too_long());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|error| OutboundError::Failed(error.without_url().to_string()))?
    {
        if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
            return Err(too_long());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
