//! HMAC-SHA256 signatures: verification of Zoom webhook deliveries and signing of the
//! webhooks and callbacks that we send to customers.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64_STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Prefix of Zoom's `x-zm-signature` header and of the signed message, naming the scheme
/// version.
const ZOOM_SIGNATURE_VERSION: &str = "v0";

fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC-SHA256 accepts any key length");
    for part in parts {
        mac.update(part);
    }
    mac
}

fn zoom_signature_mac(secret: &[u8], timestamp: &str, body: &[u8]) -> HmacSha256 {
    hmac_sha256(
        secret,
        &[
            ZOOM_SIGNATURE_VERSION.as_bytes(),
            b":",
            timestamp.as_bytes(),
            b":",
            body,
        ],
    )
}

/// Computes the `x-zm-signature` header value for a Zoom webhook body.
///
/// The result is `v0=` followed by the lowercase hex HMAC-SHA256 of `v0:{timestamp}:{body}`,
/// keyed with the app's secret token. `timestamp` is the `x-zm-request-timestamp` header.
pub fn zoom_signature(secret: &[u8], timestamp: &str, body: &[u8]) -> String {
    let tag = zoom_signature_mac(secret, timestamp, body)
        .finalize()
        .into_bytes();
    format!("{ZOOM_SIGNATURE_VERSION}={}", hex::encode(tag))
}

/// Checks an `x-zm-signature` header against the body in constant time.
///
/// Returns false if the header does not start with `v0=` or the rest is not hex. This does
/// not check that the timestamp is recent, so the caller must do that to stop replays.
pub fn verify_zoom_signature(secret: &[u8], timestamp: &str, body: &[u8], header: &str) -> bool {
    let Some(hex_tag) = header
        .trim()
        .strip_prefix(ZOOM_SIGNATURE_VERSION)
        .and_then(|rest| rest.strip_prefix('='))
    else {
        return false;
    };
    let Ok(tag) = hex::decode(hex_tag) else {
        return false;
    };
    zoom_signature_mac(secret, timestamp, body)
        .verify_slice(&tag)
        .is_ok()
}

/// Computes the `encryptedToken` for Zoom's `endpoint.url_validation` challenge: the
/// lowercase hex HMAC-SHA256 of `plainToken`, keyed with the app's secret token.
pub fn zoom_url_validation_token(secret: &[u8], plain_token: &str) -> String {
    let tag = hmac_sha256(secret, &[plain_token.as_bytes()])
        .finalize()
        .into_bytes();
    hex::encode(tag)
}

/// Serializes a JSON value in the canonical form that outgoing signatures cover.
///
/// Object keys are sorted by Unicode code point at every level, separators are `,` and `:`
/// without spaces, non-ASCII text is written as UTF-8 rather than `\u` escapes, and there is
/// no trailing newline. This matches Python's
/// `json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)` for values
/// without floating-point numbers.
///
/// NOTE: floats are written by serde_json, which can differ from other JSON writers (for
/// example `1e-7` where Python writes `1e-07`). Signed payloads should carry no floats.
pub fn canonical_json(value: &serde_json::Value) -> Vec<u8> {
    let mut output = Vec::new();
    write_canonical(value, &mut output);
    output
}

fn write_canonical(value: &serde_json::Value, output: &mut Vec<u8>) {
    match value {
        serde_json::Value::Object(object) => {
            // Sorted here because serde_json keeps insertion order when its `preserve_order`
            // feature is on. Comparing UTF-8 bytes gives code point order.
            let mut entries: Vec<_> = object.iter().collect();
            entries.sort_unstable_by_key(|(key, _)| *key);

            output.push(b'{');
            for (index, (key, entry)) in entries.into_iter().enumerate() {
                if index > 0 {
                    output.push(b',');
                }
                write_scalar(&serde_json::Value::String(key.clone()), output);
                output.push(b':');
                write_canonical(entry, output);
            }
            output.push(b'}');
        }
        serde_json::Value::Array(items) => {
            output.push(b'[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    output.push(b',');
                }
                write_canonical(item, output);
            }
            output.push(b']');
        }
        scalar => write_scalar(scalar, output),
    }
}

/// Writes a string, number, boolean or null with serde_json's compact writer, which escapes
/// quotes, backslashes and control characters and leaves other characters as UTF-8.
fn write_scalar(value: &serde_json::Value, output: &mut Vec<u8>) {
    serde_json::to_writer(output, value).expect("serializing a JSON scalar into a Vec cannot fail");
}

/// Signs a request body for customers: the standard base64 (with padding) of
/// HMAC-SHA256(key, body).
pub fn sign_body(key: &[u8], body: &[u8]) -> String {
    let tag = hmac_sha256(key, &[body]).finalize().into_bytes();
    BASE64_STANDARD.encode(tag)
}

/// Checks a signature made by [`sign_body`] in constant time. Returns false if the header is
/// not valid standard base64.
pub fn verify_body_signature(key: &[u8], body: &[u8], header: &str) -> bool {
    let Ok(tag) = BASE64_STANDARD.decode(header.trim()) else {
        return false;
    };
    hmac_sha256(key, &[body]).verify_slice(&tag).is_ok()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const ZOOM_SECRET: &[u8] = b"fixture-webhook-secret-token";
    const ZOOM_TIMESTAMP: &str = "1765119600";

    /// Zoom delivery bodies with their `x-zm-signature` for the secret and timestamp above.
    const ZOOM_FIXTURES: [(&str, &[u8], &str); 7] = [
        (
            "app_deauthorized.json",
            include_bytes!("../../tests/data/zoom/app_deauthorized.json"),
            "v0=7ce7a718da974c68e57599dba1b7b22cd828e6e00af2a30b2c2cb1be9f15a1ed",
        ),
        (
            "meeting_created.json",
            include_bytes!("../../tests/data/zoom/meeting_created.json"),
            "v0=bfeac1b1f487e792509bd431c7141bd1142d4ff7a383fd11e3549d8fae903a52",
        ),
        (
            "meeting_created_other_operator.json",
            include_bytes!("../../tests/data/zoom/meeting_created_other_operator.json"),
            "v0=3e98c2e5d1b8c85f38e9a4913c4e500cfc9e498bb706aeed819e5497dcb4f782",
        ),
        (
            "meeting_deleted.json",
            include_bytes!("../../tests/data/zoom/meeting_deleted.json"),
            "v0=de5e8d3846daa9831a5a11e40651490cb60d6b39951e48fcb3eefd751325bc01",
        ),
        (
            "url_validation.json",
            include_bytes!("../../tests/data/zoom/url_validation.json"),
            "v0=29545a54befa4612018d97392c934abdd98ceb37e457a95ee80a13dcdca26997",
        ),
        (
            "user_updated_email_only.json",
            include_bytes!("../../tests/data/zoom/user_updated_email_only.json"),
            "v0=d0c6168c5bb8ae516687167159fa51be611d5fb1941c5da5bc8774c2fc096c07",
        ),
        (
            "user_updated_pmi.json",
            include_bytes!("../../tests/data/zoom/user_updated_pmi.json"),
            "v0=3672a82a44a3c8f548957920d1efa707037a286b221abb8b77e5a2299db5a6d3",
        ),
    ];

    const OUTGOING_ENVELOPE: &[u8] =
        include_bytes!("../../tests/data/outgoing/state_change_envelope.json");
    const OUTGOING_CANONICAL: &[u8] =
        include_bytes!("../../tests/data/outgoing/state_change_canonical.json");
    const OUTGOING_SECRET_BASE64: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    const OUTGOING_SIGNATURE: &str = "pxEyB6yLxAL78Kiww+IiyTyOcmCrxoY5R2sQQ6x8ibE=";

    fn outgoing_key() -> Vec<u8> {
        BASE64_STANDARD.decode(OUTGOING_SECRET_BASE64).unwrap()
    }

    /// Returns a copy of the body with its first byte changed.
    fn tampered(body: &[u8]) -> Vec<u8> {
        let mut copy = body.to_vec();
        copy[0] ^= 0x01;
        copy
    }

    #[test]
    fn zoom_signature_fixtures() {
        for (name, body, expected) in ZOOM_FIXTURES {
            assert_eq!(
                zoom_signature(ZOOM_SECRET, ZOOM_TIMESTAMP, body),
                expected,
                "fixture {name}"
            );
        }
    }

    #[test]
    fn zoom_verify_fixtures() {
        for (name, body, header) in ZOOM_FIXTURES {
            assert!(
                verify_zoom_signature(ZOOM_SECRET, ZOOM_TIMESTAMP, body, header),
                "fixture {name}"
            );
        }
    }

    #[test]
    fn zoom_verify_tampered_body() {
        for (name, body, header) in ZOOM_FIXTURES {
            let changed = tampered(body);
            assert!(
                !verify_zoom_signature(ZOOM_SECRET, ZOOM_TIMESTAMP, &changed, header),
                "fixture {name}"
            );
        }
    }

    #[test]
    fn zoom_verify_wrong_timestamp() {
        let (_, body, header) = ZOOM_FIXTURES[0];

        assert!(!verify_zoom_signature(
            ZOOM_SECRET,
            "1765119601",
            body,
            header
        ));
    }

    #[test]
    fn zoom_verify_wrong_secret() {
        let (_, body, header) = ZOOM_FIXTURES[0];

        assert!(!verify_zoom_signature(
            b"other-secret",
            ZOOM_TIMESTAMP,
            body,
            header
        ));
    }

    #[test]
    fn zoom_verify_malformed_headers() {
        let (_, body, header) = ZOOM_FIXTURES[0];
        let hex_tag = header.strip_prefix("v0=").unwrap();
        let cases = [
            String::new(),
            hex_tag.to_owned(),
            format!("v1={hex_tag}"),
            format!("v0{hex_tag}"),
            format!("v0={}", &hex_tag[..62]),
            format!("v0={hex_tag}00"),
            format!("v0={}zz", &hex_tag[..62]),
            "v0=".to_owned(),
        ];

        for case in cases {
            assert!(
                !verify_zoom_signature(ZOOM_SECRET, ZOOM_TIMESTAMP, body, &case),
                "header {case:?}"
            );
        }
    }

    #[test]
    fn zoom_verify_uppercase_hex() {
        let (_, body, header) = ZOOM_FIXTURES[0];
        let uppercase = format!("v0={}", header[3..].to_ascii_uppercase());

        assert!(verify_zoom_signature(
            ZOOM_SECRET,
            ZOOM_TIMESTAMP,
            body,
            &uppercase
        ));
    }

    #[test]
    fn zoom_url_validation_fixture() {
        let token = zoom_url_validation_token(ZOOM_SECRET, "qgg8vlvZRS6UYooatFL8Aw");

        assert_eq!(
            token,
            "51d23ff316792510cdd1c49a58634dc9789dc91cddd3a6c2df67e50e2c168461"
        );
    }

    #[test]
    fn canonical_json_fixture() {
        let envelope: serde_json::Value = serde_json::from_slice(OUTGOING_ENVELOPE).unwrap();

        let canonical = canonical_json(&envelope);

        assert_eq!(
            String::from_utf8_lossy(&canonical),
            String::from_utf8_lossy(OUTGOING_CANONICAL)
        );
    }

    #[test]
    fn canonical_json_cases() {
        let cases = [
            (json!(null), "null"),
            (json!({}), "{}"),
            (json!([]), "[]"),
            (
                json!({"b": 1, "a": [true, false]}),
                r#"{"a":[true,false],"b":1}"#,
            ),
            (
                json!({"z": {"y": 1, "x": [{"d": 2, "c": 3}]}, "a": null}),
                r#"{"a":null,"z":{"x":[{"c":3,"d":2}],"y":1}}"#,
            ),
            (json!({"Z": 1, "a": 2, "_": 3}), r#"{"Z":1,"_":3,"a":2}"#),
            (json!({"é": 1, "z": 2}), r#"{"z":2,"é":1}"#),
            (json!("näive 日本"), r#""näive 日本""#),
            (json!("quote \" slash \\ /"), r#""quote \" slash \\ /""#),
            (json!("tab\tnew\nnul\u{0}"), r#""tab\tnew\nnul\u0000""#),
            (json!("del\u{7f} ls\u{2028}"), "\"del\u{7f} ls\u{2028}\""),
            (json!({"k\"": "v"}), r#"{"k\"":"v"}"#),
            (json!(-12), "-12"),
            (json!(18446744073709551615_u64), "18446744073709551615"),
            (json!(1.5), "1.5"),
            (json!(1e16), "1e+16"),
            (json!(1e-7), "1e-7"),
        ];

        for (value, expected) in cases {
            let canonical = canonical_json(&value);
            assert_eq!(
                String::from_utf8(canonical).unwrap(),
                expected,
                "value {value}"
            );
        }
    }

    #[test]
    fn sign_body_fixture() {
        let signature = sign_body(&outgoing_key(), OUTGOING_CANONICAL);

        assert_eq!(signature, OUTGOING_SIGNATURE);
    }

    #[test]
    fn verify_body_fixture() {
        assert!(verify_body_signature(
            &outgoing_key(),
            OUTGOING_CANONICAL,
            OUTGOING_SIGNATURE
        ));
    }

    #[test]
    fn verify_body_tampered() {
        let changed = tampered(OUTGOING_CANONICAL);

        assert!(!verify_body_signature(
            &outgoing_key(),
            &changed,
            OUTGOING_SIGNATURE
        ));
    }

    #[test]
    fn verify_body_last_byte_changed() {
        let mut changed = OUTGOING_CANONICAL.to_vec();
        let last = changed.len() - 1;
        changed[last] ^= 0x01;

        assert!(!verify_body_signature(
            &outgoing_key(),
            &changed,
            OUTGOING_SIGNATURE
        ));
    }

    #[test]
    fn verify_body_malformed_headers() {
        let key = outgoing_key();
        let cases = [
            String::new(),
            "not base64!".to_owned(),
            OUTGOING_SIGNATURE.trim_end_matches('=').to_owned(),
            OUTGOING_SIGNATURE[..20].to_owned(),
            format!("{OUTGOING_SIGNATURE}AAAA"),
            sign_body(b"other key", OUTGOING_CANONICAL),
        ];

        for case in cases {
            assert!(
                !verify_body_signature(&key, OUTGOING_CANONICAL, &case),
                "header {case:?}"
            );
        }
    }
}
