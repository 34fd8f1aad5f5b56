//! Checks for URLs that customers give us and that we later send requests to: webhook
//! targets, token callback URLs and hosted-flow redirect URLs.
//!
//! Without these checks a customer could point our functions at internal services, for
//! example the cloud metadata endpoint at 169.254.169.254.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use url::{Host, Url};

/// Maximum time that DNS resolution of an outbound URL host may take.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(3);

/// Reason an outbound URL was rejected. The Display text is meant for API callers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OutboundUrlError {
    #[error("URL is invalid ({reason}). Enter an absolute URL that starts with https://.")]
    Invalid { reason: String },

    #[error("URL must use https, but it uses '{scheme}'.")]
    NotHttps { scheme: String },

    #[error("URL must use http or https, but it uses '{scheme}'.")]
    UnsupportedScheme { scheme: String },

    #[error("URL has no host.")]
    MissingHost,

    #[error("URL must not contain a user name or password.")]
    UserInfo,

    #[error("URL host '{host}' is a loopback name, which is not allowed. Use a public https URL.")]
    LoopbackName { host: String },

    #[error(
        "URL host {ip} is in the {kind} address range, which is not allowed. Use a public https URL."
    )]
    DisallowedIp { ip: IpAddr, kind: &'static str },

    #[error(
        "URL host '{host}' resolves to {ip}, in the {kind} address range, which is not allowed. Use a public https URL."
    )]
    DisallowedResolvedIp {
        host: String,
        ip: IpAddr,
        kind: &'static str,
    },

    #[error("URL host '{host}' could not be resolved: {reason}.")]
    ResolutionFailed { host: String, reason: String },

    #[error("URL host '{host}' resolved to no addresses.")]
    NoAddresses { host: String },

    #[error("Resolving URL host '{host}' timed out after {seconds} s.", seconds = RESOLVE_TIMEOUT.as_secs())]
    ResolutionTimedOut { host: String },
}

/// Checks an outbound URL without network access and returns it parsed.
///
/// The URL must be `https`, have a host and have no user name or password. An IP-address
/// host must be public, and `localhost` or `*.localhost` is rejected. With `allow_private`
/// (local development), `http` is also accepted, and so are host names and loopback,
/// private and unique-local addresses. Link-local, unspecified, multicast and reserved
/// addresses stay rejected.
/// Domain names are not resolved here, so [`check_outbound_url`] is the full check.
pub fn check_outbound_url_syntax(
    input: &str,
    allow_private: bool,
) -> Result<Url, OutboundUrlError> {
    let url = Url::parse(input.trim()).map_err(|error| OutboundUrlError::Invalid {
        reason: error.to_string(),
    })?;

    match url.scheme() {
        "https" => {}
        "http" if allow_private => {}
        other if allow_private => {
            return Err(OutboundUrlError::UnsupportedScheme {
                scheme: other.to_owned(),
            });
        }
        other => {
            return Err(OutboundUrlError::NotHttps {
                scheme: other.to_owned(),
            });
        }
    }

    let Some(host) = url.host() else {
        return Err(OutboundUrlError::MissingHost);
    };
    if !url.username().is_empty() || url.password().is_some() {
        return Err(OutboundUrlError::UserInfo);
    }
    // The url crate already turns numeric forms such as `0x7f.1` or `2130706433` into
    // Host::Ipv4, so they are checked here as addresses.
    match host {
        Host::Ipv4(ip) => reject_disallowed_ip(IpAddr::V4(ip), allow_private)?,
        Host::Ipv6(ip) => reject_disallowed_ip(IpAddr::V6(ip), allow_private)?,
        Host::Domain(_) if allow_private => {}
        Host::Domain(domain) => {
            let name = domain.trim_end_matches('.');
            // `localhost` and every name under it are reserved for loopback.
            if name == "localhost" || name.ends_with(".localhost") {
                return Err(OutboundUrlError::LoopbackName {
                    host: domain.to_owned(),
                });
            }
        }
    }
    Ok(url)
}

/// Checks an outbound URL like [`check_outbound_url_syntax`], then resolves its host name and
/// rejects it if any resolved address is disallowed (see [`is_disallowed_ip`]).
///
/// Resolution fails after 3 s. With `allow_private`, names may resolve to loopback and
/// private addresses, but never to link-local ones such as a cloud metadata service.
///
/// The HTTP client resolves the name again when it connects, so this check alone does not
/// stop a DNS server that changes its answer in between (DNS rebinding). The outgoing HTTP
/// adapter therefore filters the addresses again at connect time.
pub async fn check_outbound_url(input: &str, allow_private: bool) -> Result<Url, OutboundUrlError> {
    let url = check_outbound_url_syntax(input, allow_private)?;
    check_resolved_addresses(&url, allow_private).await?;
    Ok(url)
}

/// Reports whether requests to this address are rejected: loopback, private, link-local,
/// carrier-grade NAT, unspecified, multicast, broadcast, documentation and other reserved
/// ranges, and IPv6 addresses that embed such an IPv4 address.
pub fn is_disallowed_ip(ip: IpAddr) -> bool {
    disallowed_kind(ip).is_some()
}

/// Reports whether a customer URL may reach this address: a public one, or with `allow_private`
/// also a loopback, private or unique-local one.
pub fn is_allowed_target(ip: IpAddr, allow_private: bool) -> bool {
    match disallowed_kind(ip) {
        None => true,
        Some(kind) => allow_private && LOCAL_KINDS.contains(&kind),
    }
}

/// Address kinds that a local deployment (`allow_private`) may reach, so receivers on the
/// developer's machine or network work. Link-local stays blocked even there, because it
/// holds cloud metadata services such as 169.254.169.254.
const LOCAL_KINDS: &[&str] = &["loopback", "private", "carrier-grade NAT", "unique local"];

fn reject_disallowed_ip(ip: IpAddr, allow_private: bool) -> Result<(), OutboundUrlError> {
    match disallowed_kind(ip) {
        Some(kind) if allow_private && LOCAL_KINDS.contains(&kind) => Ok(()),
        Some(kind) => Err(OutboundUrlError::DisallowedIp { ip, kind }),
        None => Ok(()),
    }
}

/// Resolves a domain host and rejects the URL if any address is disallowed. IP-address hosts
/// were already checked by the syntax check and are skipped.
async fn check_resolved_addresses(url: &Url, allow_private: bool) -> Result<(), OutboundUrlError> {
    let Some(Host::Domain(domain)) = url.host() else {
        return Ok(());
    };
    // The port does not affect resolution, but lookup_host requires one.
    let port = url.port_or_known_default().unwrap_or(443);
    let host = || domain.to_owned();

    let lookup = tokio::net::lookup_host((domain, port));
    let addresses = match tokio::time::timeout(RESOLVE_TIMEOUT, lookup).await {
        Err(_elapsed) => return Err(OutboundUrlError::ResolutionTimedOut { host: host() }),
        Ok(Err(error)) => {
            return Err(OutboundUrlError::ResolutionFailed {
                host: host(),
                reason: error.to_string(),
            });
        }
        Ok(Ok(addresses)) => addresses,
    };

    let mut resolved_any = false;
    for address in addresses {
        resolved_any = true;
        let ip = address.ip();
        if let Some(kind) = disallowed_kind(ip)
            && !(allow_private && LOCAL_KINDS.contains(&kind))
        {
            return Err(OutboundUrlError::DisallowedResolvedIp {
                host: host(),
                ip,
                kind,
            });
        }
    }
    if !resolved_any {
        return Err(OutboundUrlError::NoAddresses { host: host() });
    }
    Ok(())
}

/// Returns the name of the disallowed range that contains the address, or None for a public
/// address. The name is used in error messages.
fn disallowed_kind(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => disallowed_ipv4_kind(v4),
        IpAddr::V6(v6) => disallowed_ipv6_kind(v6),
    }
}

fn disallowed_ipv4_kind(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();

    // Special-purpose ranges that do not reach a public internet host.
    if ip.is_broadcast() {
        Some("broadcast")
    } else if a == 0 {
        Some("unspecified")
    } else if ip.is_loopback() {
        Some("loopback")
    } else if ip.is_private() {
        Some("private")
    } else if ip.is_link_local() {
        Some("link-local")
    } else if a == 100 && (64..128).contains(&b) {
        Some("carrier-grade NAT")
    } else if ip.is_multicast() {
        Some("multicast")
    } else if a >= 240 {
        Some("reserved")
    } else if ip.is_documentation() {
        Some("documentation")
    } else if a == 198 && (b == 18 || b == 19) {
        Some("benchmarking")
    } else if a == 192 && b == 0 && c == 0 {
        Some("reserved")
    } else {
        None
    }
}

fn disallowed_ipv6_kind(ip: Ipv6Addr) -> Option<&'static str> {
    let segments = ip.segments();

    if ip.is_unspecified() {
        return Some("unspecified");
    }
    if ip.is_loopback() {
        return Some("loopback");
    }
    // An address that embeds an IPv4 address reaches that IPv4 host, so it inherits the
    // IPv4 verdict: IPv4-mapped ::ffff:0:0/96 and the NAT64 prefix 64:ff9b::/96.
    if let Some(v4) = ip.to_ipv4_mapped() {
        return disallowed_ipv4_kind(v4);
    }
    if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return disallowed_ipv4_kind(embedded_ipv4(segments[6], segments[7]));
    }
    // 6to4 (2002::/16) carries the IPv4 address in bits 16 to 47.
    if segments[0] == 0x2002 {
        return disallowed_ipv4_kind(embedded_ipv4(segments[1], segments[2]));
    }

    if segments[..6] == [0; 6] {
        // The deprecated IPv4-compatible form ::a.b.c.d, which public hosts do not use.
        Some("reserved")
    } else if segments[0] & 0xfe00 == 0xfc00 {
        Some("unique local")
    } else if segments[0] & 0xffc0 == 0xfe80 {
        Some("link-local")
    } else if segments[0] & 0xffc0 == 0xfec0 {
        Some("site-local")
    } else if ip.is_multicast() {
        Some("multicast")
    } else if segments[0] == 0x2001 && segments[1] == 0x0db8 {
        Some("documentation")
    } else if segments[..4] == [0x100, 0, 0, 0] {
        Some("discard-only")
    } else if segments[..3] == [0x64, 0xff9b, 0x1] {
        Some("local-use NAT64")
    } else {
        None
    }
}

fn embedded_ipv4(high: u16, low: u16) -> Ipv4Addr {
    let [a, b] = high.to_be_bytes();
    let [c, d] = low.to_be_bytes();
    Ipv4Addr::new(a, b, c, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse()
            .unwrap_or_else(|_| panic!("{text} is not an IP address"))
    }

    #[test]
    fn allow_private_still_rejects_link_local() {
        for input in [
            "http://169.254.169.254/latest",
            "http://[fe80::1]/x",
            "http://0.0.0.0/x",
            "http://224.0.0.1/x",
        ] {
            assert!(check_outbound_url_syntax(input, true).is_err(), "{input}");
        }
        for input in [
            "http://127.0.0.1:8080/hook",
            "http://10.1.2.3/hook",
            "http://[::1]/x",
            "http://localhost:9/x",
            "http://receiver.internal/x",
        ] {
            assert!(check_outbound_url_syntax(input, true).is_ok(), "{input}");
        }
    }

    #[test]
    fn disallowed_ip_table() {
        let cases = [
            ("0.0.0.0", true),
            ("0.1.2.3", true),
            ("10.0.0.5", true),
            ("10.255.255.255", true),
            ("100.64.0.1", true),
            ("100.127.255.255", true),
            ("100.63.255.255", false),
            ("100.128.0.0", false),
            ("127.0.0.1", true),
            ("127.1.2.3", true),
            ("169.254.169.254", true),
            ("172.16.0.1", true),
            ("172.31.255.255", true),
            ("172.15.255.255", false),
            ("172.32.0.0", false),
            ("192.0.0.8", true),
            ("192.0.2.1", true),
            ("192.168.1.1", true),
            ("198.18.0.1", true),
            ("198.51.100.1", true),
            ("203.0.113.1", true),
            ("224.0.0.1", true),
            ("239.255.255.250", true),
            ("240.0.0.1", true),
            ("255.255.255.255", true),
            ("1.1.1.1", false),
            ("8.8.8.8", false),
            ("93.184.216.34", false),
            ("::", true),
            ("::1", true),
            ("::ffff:127.0.0.1", true),
            ("::ffff:10.0.0.1", true),
            ("::ffff:169.254.169.254", true),
            ("::ffff:8.8.8.8", false),
            ("::127.0.0.1", true),
            ("64:ff9b::a00:1", true),
            ("64:ff9b::808:808", false),
            ("64:ff9b:1::1", true),
            ("2002:a00:1::1", true),
            ("2002:808:808::1", false),
            ("fc00::1", true),
            ("fd12:3456:789a::1", true),
            ("fe80::1", true),
            ("febf::1", true),
            ("fec0::1", true),
            ("ff02::1", true),
            ("2001:db8::1", true),
            ("100::1", true),
            ("2606:4700:4700::1111", false),
            ("2001:4860:4860::8888", false),
        ];

        for (text, expected) in cases {
            assert_eq!(is_disallowed_ip(ip(text)), expected, "address {text}");
        }
    }

    #[test]
    fn syntax_accepted_urls() {
        let cases = [
            ("https://example.com/webhooks", false),
            ("  https://example.com/hook?x=1  ", false),
            ("https://93.184.216.34/hook", false),
            ("https://[2606:4700:4700::1111]/hook", false),
            ("https://example.com:8443/hook", false),
            ("http://localhost:8080/hook", true),
            ("http://127.0.0.1:3000/hook", true),
            ("https://10.0.0.5/hook", true),
            ("http://[::1]/hook", true),
            ("http://app.localhost/callback", true),
        ];

        for (input, allow_private) in cases {
            let result = check_outbound_url_syntax(input, allow_private);
            assert!(result.is_ok(), "{input:?} was rejected: {result:?}");
        }
    }

    #[test]
    fn syntax_rejected_urls() {
        let invalid = |reason: &str| OutboundUrlError::Invalid {
            reason: reason.into(),
        };
        let disallowed =
            |text: &str, kind: &'static str| OutboundUrlError::DisallowedIp { ip: ip(text), kind };

        let cases = [
            ("", false, invalid("relative URL without a base")),
            (
                "example.com/hook",
                false,
                invalid("relative URL without a base"),
            ),
            ("https://", false, invalid("empty host")),
            (
                "http://example.com/hook",
                false,
                OutboundUrlError::NotHttps {
                    scheme: "http".into(),
                },
            ),
            (
                "ftp://example.com/hook",
                false,
                OutboundUrlError::NotHttps {
                    scheme: "ftp".into(),
                },
            ),
            (
                "ftp://localhost/hook",
                true,
                OutboundUrlError::UnsupportedScheme {
                    scheme: "ftp".into(),
                },
            ),
            (
                "https://user:pass@example.com/hook",
                false,
                OutboundUrlError::UserInfo,
            ),
            (
                "https://user@example.com/hook",
                false,
                OutboundUrlError::UserInfo,
            ),
            (
                "https://user@localhost/hook",
                true,
                OutboundUrlError::UserInfo,
            ),
            (
                "https://localhost/hook",
                false,
                OutboundUrlError::LoopbackName {
                    host: "localhost".into(),
                },
            ),
            (
                "https://LOCALHOST./hook",
                false,
                OutboundUrlError::LoopbackName {
                    host: "localhost.".into(),
                },
            ),
            (
                "https://api.localhost/hook",
                false,
                OutboundUrlError::LoopbackName {
                    host: "api.localhost".into(),
                },
            ),
            (
                "https://127.0.0.1/hook",
                false,
                disallowed("127.0.0.1", "loopback"),
            ),
            (
                "https://0x7f.1/hook",
                false,
                disallowed("127.0.0.1", "loopback"),
            ),
            (
                "https://2130706433/hook",
                false,
                disallowed("127.0.0.1", "loopback"),
            ),
            (
                "https://0.0.0.0/hook",
                false,
                disallowed("0.0.0.0", "unspecified"),
            ),
            (
                "https://10.0.0.5/hook",
                false,
                disallowed("10.0.0.5", "private"),
            ),
            (
                "https://169.254.169.254/latest/meta-data",
                false,
                disallowed("169.254.169.254", "link-local"),
            ),
            (
                "https://100.100.1.1/hook",
                false,
                disallowed("100.100.1.1", "carrier-grade NAT"),
            ),
            (
                "https://255.255.255.255/hook",
                false,
                disallowed("255.255.255.255", "broadcast"),
            ),
            ("https://[::1]/hook", false, disallowed("::1", "loopback")),
            ("https://[::]/hook", false, disallowed("::", "unspecified")),
            (
                "https://[::ffff:192.168.0.1]/hook",
                false,
                disallowed("::ffff:192.168.0.1", "private"),
            ),
            (
                "https://[fd00::1]/hook",
                false,
                disallowed("fd00::1", "unique local"),
            ),
            (
                "https://[fe80::1]/hook",
                false,
                disallowed("fe80::1", "link-local"),
            ),
            (
                "https://[ff02::1]/hook",
                false,
                disallowed("ff02::1", "multicast"),
            ),
        ];

        for (input, allow_private, expected) in cases {
            assert_eq!(
                check_outbound_url_syntax(input, allow_private),
                Err(expected),
                "input {input:?} with allow_private={allow_private}"
            );
        }
    }

    #[test]
    fn syntax_error_texts() {
        let cases = [
            (
                "http://example.com/",
                "URL must use https, but it uses 'http'.",
            ),
            (
                "https://a:b@example.com/",
                "URL must not contain a user name or password.",
            ),
            (
                "https://10.0.0.5/",
                "URL host 10.0.0.5 is in the private address range, which is not allowed. Use a public https URL.",
            ),
            (
                "https://localhost/",
                "URL host 'localhost' is a loopback name, which is not allowed. Use a public https URL.",
            ),
            (
                "not a url",
                "URL is invalid (relative URL without a base). Enter an absolute URL that starts with https://.",
            ),
        ];

        for (input, expected) in cases {
            let message = check_outbound_url_syntax(input, false)
                .expect_err(input)
                .to_string();
            assert_eq!(message, expected, "input {input:?}");
        }
    }

    #[test]
    fn resolved_error_text() {
        let error = OutboundUrlError::DisallowedResolvedIp {
            host: "hooks.example.com".into(),
            ip: ip("10.0.0.5"),
            kind: "private",
        };

        let expected = "URL host 'hooks.example.com' resolves to 10.0.0.5, in the private address range, which is not allowed. Use a public https URL.";
        assert_eq!(error.to_string(), expected);
    }

    #[test]
    fn timeout_error_text() {
        let error = OutboundUrlError::ResolutionTimedOut {
            host: "slow.example.com".into(),
        };

        assert_eq!(
            error.to_string(),
            "Resolving URL host 'slow.example.com' timed out after 3 s."
        );
    }

    #[tokio::test]
    async fn resolved_localhost_rejected() {
        let url = Url::parse("https://localhost:8443/hook").unwrap();

        let result = check_resolved_addresses(&url, false).await;

        let Err(OutboundUrlError::DisallowedResolvedIp { host, ip, kind }) = result else {
            panic!("expected a rejected loopback address, got {result:?}");
        };
        assert_eq!(host, "localhost");
        assert!(ip.is_loopback(), "resolved address {ip}");
        assert_eq!(kind, "loopback");
    }

    #[tokio::test]
    async fn resolved_ip_host_skipped() {
        let url = Url::parse("https://10.0.0.5/hook").unwrap();

        let result = check_resolved_addresses(&url, false).await;

        assert_eq!(result, Ok(()));
    }

    #[tokio::test]
    async fn check_public_ip_accepted() {
        let result = check_outbound_url("https://93.184.216.34/hook", false).await;

        assert_eq!(result.unwrap().as_str(), "https://93.184.216.34/hook");
    }

    #[tokio::test]
    async fn check_private_ip_rejected() {
        let result = check_outbound_url("https://[::ffff:10.0.0.5]/hook", false).await;

        assert_eq!(
            result,
            Err(OutboundUrlError::DisallowedIp {
                ip: ip("::ffff:10.0.0.5"),
                kind: "private",
            })
        );
    }

    #[tokio::test]
    async fn check_localhost_rejected() {
        let result = check_outbound_url("https://localhost/hook", false).await;

        assert_eq!(
            result,
            Err(OutboundUrlError::LoopbackName {
                host: "localhost".into()
            })
        );
    }

    #[tokio::test]
    async fn check_allow_private_localhost() {
        let result = check_outbound_url("http://localhost:8080/hook", true).await;

        assert_eq!(result.unwrap().as_str(), "http://localhost:8080/hook");
    }

    #[tokio::test]
    async fn allow_private_resolves_names_to_local_addresses() {
        let url = check_outbound_url("http://localhost:9/hook", true)
            .await
            .unwrap();
        assert_eq!(url.host_str(), Some("localhost"));
        assert!(
            check_outbound_url("http://localhost:9/hook", false)
                .await
                .is_err()
        );
    }
}
