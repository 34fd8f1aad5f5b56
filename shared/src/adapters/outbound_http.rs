//! Outgoing POSTs with reqwest: no redirects, a per-request timeout, and the target's
//! address checked again right before sending.

use async_trait::async_trait;
use reqwest::header::{CONTENT_TYPE, HeaderName, HeaderValue};

use std::net::SocketAddr;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use crate::domain::outbound_url::{check_outbound_url, is_allowed_target};
use crate::ports::outbound::{OutboundError, OutboundHttp, OutboundRequest, OutboundResponse};

/// Maximum response body read, in bytes. Receivers' bodies are small JSON objects, and a
/// longer one is rejected without being read whole, so a hostile receiver cannot exhaust
/// the memory of a function.
const MAX_RESPONSE_BYTES: usize = 64 * 1024;

pub struct ReqwestOutbound {
    /// For customer URLs: connects only to addresses the outbound URL rule allows.
    customer: reqwest::Client,
    /// For the operator's bot runner, which may be on a private network.
    operator: reqwest::Client,
    allow_private: bool,
}

impl ReqwestOutbound {
    pub fn new(allow_private: bool) -> Result<Self, reqwest::Error> {
        let builder = || {
            reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .connect_timeout(std::time::Duration::from_secs(5))
                .user_agent(concat!("zoom-obf-backend/", env!("CARGO_PKG_VERSION")))
        };
        Ok(Self {
            customer: builder()
                .dns_resolver(CheckedResolver { allow_private })
                .build()?,
            operator: builder().build()?,
            allow_private,
        })
    }
}

/// Resolves host names and keeps only the addresses a customer URL may reach. Checking at
/// connect time, rather than only before the request, stops a DNS server that answers with
/// a public address for the check and a private one for the connection (DNS rebinding).
struct CheckedResolver {
    allow_private: bool,
}

impl Resolve for CheckedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let resolved = tokio::net::lookup_host((host.as_str(), 0)).await?;
            let allowed: Vec<SocketAddr> = resolved
                .filter(|address| is_allowed_target(address.ip(), allow_private))
                .collect();
            if allowed.is_empty() {
                let message = format!("{host} resolves to no address that customer URLs may reach");
                return Err(message.into());
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
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

        let client = if request.customer_url {
            &self.customer
        } else {
            &self.operator
        };
        let mut builder = client
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

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    async fn resolve(host: &str, allow_private: bool) -> Result<Vec<SocketAddr>, String> {
        let resolver = CheckedResolver { allow_private };
        match resolver.resolve(Name::from_str(host).unwrap()).await {
            Ok(addresses) => Ok(addresses.collect()),
            Err(error) => Err(error.to_string()),
        }
    }

    #[tokio::test]
    async fn resolver_drops_loopback_for_public_targets() {
        let error = resolve("localhost", false).await.unwrap_err();
        assert!(error.contains("no address"), "{error}");
    }

    #[tokio::test]
    async fn resolver_keeps_loopback_for_local_targets() {
        let addresses = resolve("localhost", true).await.unwrap();
        assert!(!addresses.is_empty());
        assert!(addresses.iter().all(|address| address.ip().is_loopback()));
    }
}
