//! Zoom meeting links and meeting numbers.
//!
//! A meeting bot joins with the meeting number, so a link is only useful here if its path
//! contains that number. Personal (`/my/...`) and Zoom Events links do not.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use url::{Host, Url};

/// Registrable domains that Zoom serves meeting links from. A link host must be one of these
/// or a subdomain of one (regional hosts such as `us02web.zoom.us`, company vanity hosts such
/// as `acme.zoom.us`, and the web client host `app.zoom.us`).
const ZOOM_DOMAINS: [&str; 4] = ["zoom.us", "zoom.com", "zoomgov.com", "zoom-x.de"];

/// Shortest and longest meeting number, in digits. Zoom has issued meeting IDs of 9, 10 and
/// 11 digits.
const MIN_MEETING_NUMBER_DIGITS: usize = 9;
const MAX_MEETING_NUMBER_DIGITS: usize = 11;

/// Maximum number of characters of user input quoted back in an error message.
const MAX_QUOTED_CHARS: usize = 40;

/// Zoom meeting or webinar number: 9 to 11 ASCII digits, without separators.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct MeetingNumber(String);

/// Error for text that is not a valid meeting number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Meeting number '{value}' is invalid because Zoom meeting numbers have 9 to 11 digits.")]
pub struct MeetingNumberError {
    /// The rejected input, cut to 40 characters plus an ellipsis when longer.
    value: String,
}

impl MeetingNumberError {
    fn new(value: &str) -> Self {
        Self {
            value: quote_input(value),
        }
    }
}

impl MeetingNumber {
    /// Parses a meeting number from pasted text.
    ///
    /// Whitespace and hyphens are removed first, so `850 1234 5678` and `850-1234-5678` are
    /// accepted. What remains must be 9 to 11 ASCII digits.
    pub fn parse(input: &str) -> Result<Self, MeetingNumberError> {
        let digits: String = input
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .collect();

        let length_ok =
            (MIN_MEETING_NUMBER_DIGITS..=MAX_MEETING_NUMBER_DIGITS).contains(&digits.len());
        if !length_ok || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(MeetingNumberError::new(input.trim()));
        }
        Ok(Self(digits))
    }

    /// Parses a meeting number from a JSON number or JSON string.
    ///
    /// Zoom's API and webhooks send meeting ids as numbers in some payloads and as strings
    /// in others. Negative and fractional numbers, and every other JSON type, are rejected.
    pub fn from_json(value: &serde_json::Value) -> Result<Self, MeetingNumberError> {
        match value {
            serde_json::Value::String(text) => Self::parse(text),
            serde_json::Value::Number(number) => match number.as_u64() {
                Some(unsigned) => Self::parse(&unsigned.to_string()),
                None => Err(MeetingNumberError::new(&number.to_string())),
            },
            other => Err(MeetingNumberError::new(&other.to_string())),
        }
    }

    /// Returns the digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for MeetingNumber {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.0)
    }
}

impl FromStr for MeetingNumber {
    type Err = MeetingNumberError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        Self::parse(input)
    }
}

impl TryFrom<String> for MeetingNumber {
    type Error = MeetingNumberError;

    fn try_from(input: String) -> Result<Self, Self::Error> {
        Self::parse(&input)
    }
}

impl From<MeetingNumber> for String {
    fn from(number: MeetingNumber) -> Self {
        number.0
    }
}

impl AsRef<str> for MeetingNumber {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// Kind of Zoom session that a link opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MeetingKind {
    Meeting,
    /// Linked through a `/w/{number}` path.
    Webinar,
}

/// Zoom meeting link, reduced to the parts a meeting bot needs to join.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MeetingUrl {
    pub meeting_number: MeetingNumber,
    /// Meeting passcode from the `pwd` query parameter, percent-decoded but otherwise exactly
    /// as the link carries it.
    pub passcode: Option<String>,
    /// Value of the `tk` query parameter, which identifies a registered attendee.
    pub registrant_token: Option<String>,
    pub kind: MeetingKind,
    /// Lowercase host name of the link, without a trailing dot or port.
    pub host: String,
}

/// Reason a meeting URL was rejected. The Display text is shown to API callers as the error
/// for the `meeting_url` field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MeetingUrlError {
    #[error(
        "Meeting URL is empty. Paste the Zoom meeting link, for example https://zoom.us/j/85012345678."
    )]
    Empty,

    #[error(
        "Meeting URL is not a valid URL. Paste the full Zoom meeting link, starting with https://."
    )]
    NotAUrl,

    #[error(
        "Meeting URL must use https, but it uses '{scheme}'. Paste the link as Zoom shows it, starting with https://."
    )]
    NotHttps { scheme: String },

    #[error(
        "Meeting URL host '{host}' is not a Zoom host. Zoom meeting links are on zoom.us, zoom.com, zoomgov.com or zoom-x.de."
    )]
    NotZoomHost { host: String },

    #[error("Meeting URL must not contain a user name or password before the host.")]
    UserInfo,

    #[error(
        "Personal links (/my/...) carry no meeting number, and Zoom on-behalf-of tokens need the number. Paste the meeting's https://zoom.us/j/<number> link instead."
    )]
    PersonalLink,

    #[error(
        "Zoom Events links carry no meeting number, and Zoom on-behalf-of tokens need the number. Paste the meeting's https://zoom.us/j/<number> link instead."
    )]
    EventsLink,

    #[error(
        "Meeting URL path '{path}' contains no meeting number. Paste a link of the form https://zoom.us/j/<number>."
    )]
    MissingMeetingNumber { path: String },

    #[error(transparent)]
    InvalidMeetingNumber(#[from] MeetingNumberError),
}

/// Parses a Zoom meeting link and extracts the meeting number, passcode and registrant token.
///
/// Accepted paths are `/j/{number}`, `/s/{number}` (start link), `/w/{number}` (webinar),
/// `/wc/join/{number}`, `/wc/{number}/join` and `/wc/{number}/start`, on an https URL whose
/// host is a Zoom domain or one of its subdomains. Surrounding whitespace is ignored.
pub fn parse_meeting_url(input: &str) -> Result<MeetingUrl, MeetingUrlError> {
    let trimmed = input.trim();
    if trimmed.is_empty() {
        return Err(MeetingUrlError::Empty);
    }

    let url = Url::parse(trimmed).map_err(|_| MeetingUrlError::NotAUrl)?;
    // Zoom's own links use https, and plain http would expose the passcode in transit.
    if url.scheme() != "https" {
        return Err(MeetingUrlError::NotHttps {
            scheme: url.scheme().to_owned(),
        });
    }

    let host = zoom_host(&url)?;
    // The host is checked first, so `https://zoom.us@evil.com/` reports the real host
    // (evil.com). Userinfo on a genuine Zoom host is rejected too, because Zoom links do
    // not contain one.
    if !url.username().is_empty() || url.password().is_some() {
        return Err(MeetingUrlError::UserInfo);
    }
    if is_events_host(&host) {
        return Err(MeetingUrlError::EventsLink);
    }
    // Zoom's links never name a port, so one means the link was not made by Zoom.
    if let Some(port) = url.port() {
        return Err(MeetingUrlError::NotZoomHost {
            host: format!("{host}:{port}"),
        });
    }

    let (number_segment, kind) = meeting_number_segment(&url)?;
    let meeting_number = MeetingNumber::parse(&percent_decode(number_segment))?;

    Ok(MeetingUrl {
        meeting_number,
        passcode: first_query_value(&url, "pwd"),
        registrant_token: first_query_value(&url, "tk"),
        kind,
        host,
    })
}

/// Returns the URL's host if it is a Zoom domain or a subdomain of one.
fn zoom_host(url: &Url) -> Result<String, MeetingUrlError> {
    let host = match url.host() {
        Some(Host::Domain(domain)) => domain.trim_end_matches('.').to_owned(),
        Some(other) => {
            return Err(MeetingUrlError::NotZoomHost {
                host: other.to_string(),
            });
        }
        None => return Err(MeetingUrlError::NotAUrl),
    };

    // Matching whole labels rejects lookalikes such as `evilzoom.us` and `zoom.us.evil.com`.
    let is_zoom = ZOOM_DOMAINS.iter().any(|domain| {
        host == *domain
            || host
                .strip_suffix(domain)
                .is_some_and(|prefix| prefix.ends_with('.'))
    });
    if !is_zoom {
        return Err(MeetingUrlError::NotZoomHost { host });
    }
    Ok(host)
}

/// Reports whether the host is the Zoom Events site, `events.` under a Zoom domain.
fn is_events_host(host: &str) -> bool {
    host.strip_prefix("events.")
        .is_some_and(|rest| ZOOM_DOMAINS.contains(&rest))
}

/// Finds the path segment that contains the meeting number, still percent-encoded.
fn meeting_number_segment(url: &Url) -> Result<(&str, MeetingKind), MeetingUrlError> {
    // Empty segments come from doubled or trailing slashes and are skipped.
    let segments: Vec<&str> = url
        .path_segments()
        .map(|parts| parts.filter(|part| !part.is_empty()).collect())
        .unwrap_or_default();
    let lowercase: Vec<String> = segments.iter().map(|s| s.to_ascii_lowercase()).collect();
    let lowercase: Vec<&str> = lowercase.iter().map(String::as_str).collect();

    match lowercase.as_slice() {
        ["my", ..] => Err(MeetingUrlError::PersonalLink),
        ["j" | "s", _] => Ok((segments[1], MeetingKind::Meeting)),
        ["w", _] => Ok((segments[1], MeetingKind::Webinar)),
        ["wc", "join", _] => Ok((segments[2], MeetingKind::Meeting)),
        ["wc", _, "join" | "start"] => Ok((segments[1], MeetingKind::Meeting)),
        _ => Err(MeetingUrlError::MissingMeetingNumber {
            path: quote_input(url.path()),
        }),
    }
}

/// Returns the first non-empty value of a query parameter, percent-decoded.
fn first_query_value(url: &Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
        .filter(|value| !value.is_empty())
}

/// Decodes `%XX` escapes. A `%` that does not start a valid escape is kept as is, and byte
/// sequences that are not UTF-8 become U+FFFD.
fn percent_decode(input: &str) -> String {
    let bytes = input.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let escaped = match bytes.get(index + 1..index + 3) {
            Some(&[high, low]) if bytes[index] == b'%' => hex_value(high).zip(hex_value(low)),
            _ => None,
        };
        match escaped {
            Some((high, low)) => {
                decoded.push(high * 16 + low);
                index += 3;
            }
            None => {
                decoded.push(bytes[index]);
                index += 1;
            }
        }
    }
    String::from_utf8_lossy(&decoded).into_owned()
}

fn hex_value(digit: u8) -> Option<u8> {
    char::from(digit)
        .to_digit(16)
        .and_then(|value| u8::try_from(value).ok())
}

/// Shortens user input for quoting in an error message.
fn quote_input(input: &str) -> String {
    if input.chars().count() <= MAX_QUOTED_CHARS {
        return input.to_owned();
    }
    let mut shortened: String = input.chars().take(MAX_QUOTED_CHARS).collect();
    shortened.push('…');
    shortened
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Accepted {
        input: &'static str,
        number: &'static str,
        passcode: Option<&'static str>,
        registrant_token: Option<&'static str>,
        kind: MeetingKind,
        host: &'static str,
    }

    const fn meeting(input: &'static str, number: &'static str, host: &'static str) -> Accepted {
        Accepted {
            input,
            number,
            passcode: None,
            registrant_token: None,
            kind: MeetingKind::Meeting,
            host,
        }
    }

    #[test]
    fn parse_meeting_url_accepted_forms() {
        let cases = [
            Accepted {
                passcode: Some("AbC123.1"),
                ..meeting(
                    "https://zoom.us/j/85012345678?pwd=AbC123.1",
                    "85012345678",
                    "zoom.us",
                )
            },
            meeting(
                "https://us02web.zoom.us/j/85012345678",
                "85012345678",
                "us02web.zoom.us",
            ),
            meeting(
                "https://us05web.zoom.us/j/8501234567",
                "8501234567",
                "us05web.zoom.us",
            ),
            meeting(
                "https://acme.zoom.us/j/850123456",
                "850123456",
                "acme.zoom.us",
            ),
            meeting("https://zoom.com/j/85012345678", "85012345678", "zoom.com"),
            meeting(
                "https://app.zoom.com/j/85012345678",
                "85012345678",
                "app.zoom.com",
            ),
            meeting(
                "https://zoomgov.com/j/1601234567",
                "1601234567",
                "zoomgov.com",
            ),
            meeting(
                "https://agency.zoomgov.com/j/1601234567",
                "1601234567",
                "agency.zoomgov.com",
            ),
            meeting(
                "https://zoom-x.de/j/85012345678",
                "85012345678",
                "zoom-x.de",
            ),
            meeting(
                "https://firma.zoom-x.de/j/85012345678",
                "85012345678",
                "firma.zoom-x.de",
            ),
            meeting(
                "https://zoom.us/wc/join/85012345678",
                "85012345678",
                "zoom.us",
            ),
            meeting(
                "https://zoom.us/wc/85012345678/join",
                "85012345678",
                "zoom.us",
            ),
            Accepted {
                passcode: Some("xyz"),
                ..meeting(
                    "https://app.zoom.us/wc/85012345678/start?pwd=xyz",
                    "85012345678",
                    "app.zoom.us",
                )
            },
            Accepted {
                kind: MeetingKind::Webinar,
                registrant_token: Some("reg-token_1"),
                ..meeting(
                    "https://zoom.us/w/85012345678?tk=reg-token_1",
                    "85012345678",
                    "zoom.us",
                )
            },
            Accepted {
                kind: MeetingKind::Webinar,
                ..meeting("https://zoom.us/w/85012345678", "85012345678", "zoom.us")
            },
            meeting("https://zoom.us/s/85012345678", "85012345678", "zoom.us"),
            Accepted {
                registrant_token: Some("abc"),
                ..meeting(
                    "https://zoom.us/j/85012345678?tk=abc",
                    "85012345678",
                    "zoom.us",
                )
            },
            meeting(
                "https://zoom.us/j/850%201234%205678",
                "85012345678",
                "zoom.us",
            ),
            meeting("https://zoom.us/j/850 1234 5678", "85012345678", "zoom.us"),
            meeting("https://zoom.us/j/850-1234-5678", "85012345678", "zoom.us"),
            meeting(
                "https://zoom.us/j/850%2D1234%2D5678",
                "85012345678",
                "zoom.us",
            ),
            Accepted {
                passcode: Some("a+b/c=.1"),
                ..meeting(
                    "https://zoom.us/j/85012345678?pwd=a%2Bb%2Fc%3D.1",
                    "85012345678",
                    "zoom.us",
                )
            },
            meeting(
                "  \thttps://zoom.us/j/85012345678\n ",
                "85012345678",
                "zoom.us",
            ),
            meeting("https://ZOOM.US/J/85012345678/", "85012345678", "zoom.us"),
            meeting("https://zoom.us./j/85012345678", "85012345678", "zoom.us"),
            meeting(
                "https://zoom.us/j/85012345678?pwd=&uname=Bot#success",
                "85012345678",
                "zoom.us",
            ),
        ];

        for case in cases {
            let parsed = parse_meeting_url(case.input)
                .unwrap_or_else(|error| panic!("{:?} was rejected: {error}", case.input));
            assert_eq!(
                parsed.meeting_number.as_str(),
                case.number,
                "number of {:?}",
                case.input
            );
            assert_eq!(
                parsed.passcode.as_deref(),
                case.passcode,
                "passcode of {:?}",
                case.input
            );
            assert_eq!(
                parsed.registrant_token.as_deref(),
                case.registrant_token,
                "registrant token of {:?}",
                case.input
            );
            assert_eq!(parsed.kind, case.kind, "kind of {:?}", case.input);
            assert_eq!(parsed.host, case.host, "host of {:?}", case.input);
        }
    }

    #[test]
    fn parse_meeting_url_rejected_forms() {
        let not_zoom = |host: &str| MeetingUrlError::NotZoomHost { host: host.into() };
        let missing = |path: &str| MeetingUrlError::MissingMeetingNumber { path: path.into() };
        let invalid = |value: &str| {
            MeetingUrlError::InvalidMeetingNumber(MeetingNumberError {
                value: value.into(),
            })
        };

        let cases = [
            ("", MeetingUrlError::Empty),
            ("   \n", MeetingUrlError::Empty),
            ("not a url", MeetingUrlError::NotAUrl),
            ("zoom.us/j/85012345678", MeetingUrlError::NotAUrl),
            (
                "http://zoom.us/j/85012345678",
                MeetingUrlError::NotHttps {
                    scheme: "http".into(),
                },
            ),
            (
                "zoommtg://zoom.us/join?confno=85012345678",
                MeetingUrlError::NotHttps {
                    scheme: "zoommtg".into(),
                },
            ),
            (
                "https://zoom.us.evil.com/j/85012345678",
                not_zoom("zoom.us.evil.com"),
            ),
            ("https://evilzoom.us/j/85012345678", not_zoom("evilzoom.us")),
            (
                "https://zoom.us@evil.com/j/85012345678",
                not_zoom("evil.com"),
            ),
            ("https://zoom.usa/j/85012345678", not_zoom("zoom.usa")),
            (
                "https://meet.google.com/abc-defg-hij",
                not_zoom("meet.google.com"),
            ),
            ("https://203.0.113.7/j/85012345678", not_zoom("203.0.113.7")),
            (
                "https://user:secret@zoom.us/j/85012345678",
                MeetingUrlError::UserInfo,
            ),
            (
                "https://zoom.us/my/acme.sales",
                MeetingUrlError::PersonalLink,
            ),
            (
                "https://acme.zoom.us/my/jane",
                MeetingUrlError::PersonalLink,
            ),
            (
                "https://events.zoom.us/ev/AbCdEf123",
                MeetingUrlError::EventsLink,
            ),
            (
                "https://events.zoom.us/j/85012345678",
                MeetingUrlError::EventsLink,
            ),
            ("https://zoom.us:444/j/85012345678", not_zoom("zoom.us:444")),
            ("https://zoom.us", missing("/")),
            ("https://zoom.us/j/", missing("/j/")),
            ("https://zoom.us/wc/join", missing("/wc/join")),
            (
                "https://zoom.us/meeting/schedule",
                missing("/meeting/schedule"),
            ),
            (
                "https://zoom.us/j/85012345678/extra",
                missing("/j/85012345678/extra"),
            ),
            ("https://zoom.us/j/12345678", invalid("12345678")),
            ("https://zoom.us/j/850123456789", invalid("850123456789")),
            ("https://zoom.us/j/85012abc678", invalid("85012abc678")),
            ("https://zoom.us/wc/join/meeting", invalid("meeting")),
        ];

        for (input, expected) in cases {
            assert_eq!(parse_meeting_url(input), Err(expected), "input {input:?}");
        }
    }

    #[test]
    fn meeting_url_error_texts() {
        let cases = [
            (
                parse_meeting_url(""),
                "Meeting URL is empty. Paste the Zoom meeting link, for example https://zoom.us/j/85012345678.",
            ),
            (
                parse_meeting_url("zoom.us/j/85012345678"),
                "Meeting URL is not a valid URL. Paste the full Zoom meeting link, starting with https://.",
            ),
            (
                parse_meeting_url("http://zoom.us/j/85012345678"),
                "Meeting URL must use https, but it uses 'http'. Paste the link as Zoom shows it, starting with https://.",
            ),
            (
                parse_meeting_url("https://zoom.us@evil.com/j/85012345678"),
                "Meeting URL host 'evil.com' is not a Zoom host. Zoom meeting links are on zoom.us, zoom.com, zoomgov.com or zoom-x.de.",
            ),
            (
                parse_meeting_url("https://a@zoom.us/j/85012345678"),
                "Meeting URL must not contain a user name or password before the host.",
            ),
            (
                parse_meeting_url("https://zoom.us/my/acme"),
                "Personal links (/my/...) carry no meeting number, and Zoom on-behalf-of tokens need the number. Paste the meeting's https://zoom.us/j/<number> link instead.",
            ),
            (
                parse_meeting_url("https://events.zoom.us/ev/x"),
                "Zoom Events links carry no meeting number, and Zoom on-behalf-of tokens need the number. Paste the meeting's https://zoom.us/j/<number> link instead.",
            ),
            (
                parse_meeting_url("https://zoom.us/j/"),
                "Meeting URL path '/j/' contains no meeting number. Paste a link of the form https://zoom.us/j/<number>.",
            ),
            (
                parse_meeting_url("https://zoom.us/j/1234"),
                "Meeting number '1234' is invalid because Zoom meeting numbers have 9 to 11 digits.",
            ),
        ];

        for (result, expected) in cases {
            let message = result.expect_err(expected).to_string();
            assert_eq!(message, expected);
        }
    }

    #[test]
    fn meeting_number_parse_cases() {
        let cases: [(&str, Option<&str>); 10] = [
            ("850123456", Some("850123456")),
            ("8501234567", Some("8501234567")),
            ("85012345678", Some("85012345678")),
            (" 850 1234 5678 ", Some("85012345678")),
            ("850-1234-5678", Some("85012345678")),
            ("850\u{a0}1234\u{a0}5678", Some("85012345678")),
            ("85012345", None),
            ("850123456789", None),
            ("８５０１２３４５６", None),
            ("", None),
        ];

        for (input, expected) in cases {
            let parsed = MeetingNumber::parse(input).ok();
            assert_eq!(
                parsed.as_ref().map(MeetingNumber::as_str),
                expected,
                "input {input:?}"
            );
        }
    }

    #[test]
    fn meeting_number_error_shortens_input() {
        let input = "1".repeat(100);

        let message = MeetingNumber::parse(&input).unwrap_err().to_string();

        let expected = format!(
            "Meeting number '{}…' is invalid because Zoom meeting numbers have 9 to 11 digits.",
            "1".repeat(40)
        );
        assert_eq!(message, expected);
    }

    #[test]
    fn meeting_number_from_json_cases() {
        let cases = [
            (serde_json::json!(85012345678_u64), Some("85012345678")),
            (serde_json::json!("85012345678"), Some("85012345678")),
            (serde_json::json!("850 1234 5678"), Some("85012345678")),
            (serde_json::json!(12345), None),
            (serde_json::json!(-85012345678_i64), None),
            (serde_json::json!(85012345678.0), None),
            (serde_json::json!(null), None),
            (serde_json::json!(true), None),
            (serde_json::json!(["85012345678"]), None),
        ];

        for (value, expected) in cases {
            let parsed = MeetingNumber::from_json(&value).ok();
            assert_eq!(
                parsed.as_ref().map(MeetingNumber::as_str),
                expected,
                "value {value}"
            );
        }
    }

    #[test]
    fn meeting_number_serde_string() {
        let number = MeetingNumber::parse("85012345678").unwrap();

        let serialized = serde_json::to_string(&number).unwrap();

        assert_eq!(serialized, "\"85012345678\"");
    }

    #[test]
    fn meeting_number_deserialize_validates() {
        let valid: Result<MeetingNumber, _> = serde_json::from_str("\"850-1234-5678\"");
        let too_short: Result<MeetingNumber, _> = serde_json::from_str("\"1234\"");

        assert_eq!(valid.unwrap().as_str(), "85012345678");
        assert!(too_short.is_err());
    }

    #[test]
    fn meeting_number_display_digits() {
        let number = MeetingNumber::parse("850 1234 5678").unwrap();

        assert_eq!(number.to_string(), "85012345678");
    }

    #[test]
    fn percent_decode_cases() {
        let cases = [
            ("850%201234", "850 1234"),
            ("%2d%2D", "--"),
            ("100%", "100%"),
            ("%zz1", "%zz1"),
            ("%C3%A4", "ä"),
            ("%FF", "\u{fffd}"),
        ];

        for (input, expected) in cases {
            assert_eq!(percent_decode(input), expected, "input {input:?}");
        }
    }
}
