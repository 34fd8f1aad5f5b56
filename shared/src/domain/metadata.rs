//! Customer-defined metadata attached to a Zoom OAuth connection and echoed back in API
//! responses and webhooks.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Maximum size in bytes of metadata serialized as compact JSON.
pub const MAX_METADATA_BYTES: usize = 1000;

/// Non-empty map of string keys to string values, at most [`MAX_METADATA_BYTES`] when
/// serialized. An absent value is `Option<Metadata>::None`, which serializes as JSON null.
///
/// Keys are kept sorted, so serialization does not depend on the order the caller sent.
/// Deserialization applies the same checks as [`parse_metadata`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "serde_json::Value")]
pub struct Metadata(BTreeMap<String, String>);

impl Metadata {
    /// Returns the metadata as a JSON object.
    pub fn to_json(&self) -> serde_json::Value {
        let object = self
            .0
            .iter()
            .map(|(key, value)| (key.clone(), serde_json::Value::String(value.clone())))
            .collect();
        serde_json::Value::Object(object)
    }

    pub fn as_map(&self) -> &BTreeMap<String, String> {
        &self.0
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }
}

impl TryFrom<serde_json::Value> for Metadata {
    type Error = String;

    /// Validates like [`parse_metadata`], except that JSON null is rejected.
    fn try_from(value: serde_json::Value) -> Result<Self, Self::Error> {
        parse_metadata(&value)?.ok_or_else(|| NOT_AN_OBJECT.to_owned())
    }
}

const NOT_AN_OBJECT: &str = "Metadata must be a non-empty object.";

/// Validates a metadata value from a request body.
///
/// Returns `Ok(None)` for JSON null. Otherwise the value must be a non-empty object whose
/// values are all strings and whose compact JSON form is at most 1000 bytes. The error is a
/// sentence for API callers that names the offending key where there is one.
pub fn parse_metadata(value: &serde_json::Value) -> Result<Option<Metadata>, String> {
    let object = match value {
        serde_json::Value::Null => return Ok(None),
        serde_json::Value::Object(object) if !object.is_empty() => object,
        _ => return Err(NOT_AN_OBJECT.to_owned()),
    };

    let mut entries = BTreeMap::new();
    for (key, entry) in object {
        let serde_json::Value::String(text) = entry else {
            return Err(format!("Value for key '{key}' must be a string."));
        };
        entries.insert(key.clone(), text.clone());
    }

    // Key order does not change the length, so measuring the sorted map is exact.
    let size = serde_json::to_vec(&entries)
        .map_err(|error| format!("Metadata could not be serialized: {error}."))?
        .len();
    if size > MAX_METADATA_BYTES {
        return Err(format!(
            "Metadata must be at most {MAX_METADATA_BYTES} bytes when serialized (got {size})."
        ));
    }

    Ok(Some(Metadata(entries)))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn parse_metadata_null() {
        assert_eq!(parse_metadata(&json!(null)), Ok(None));
    }

    #[test]
    fn parse_metadata_valid() {
        let parsed = parse_metadata(&json!({"tenant": "acme", "plan": "pro"}))
            .unwrap()
            .unwrap();

        assert_eq!(parsed.get("tenant"), Some("acme"));
        assert_eq!(parsed.get("plan"), Some("pro"));
        assert_eq!(parsed.as_map().len(), 2);
    }

    #[test]
    fn parse_metadata_errors() {
        let cases = [
            (json!({}), "Metadata must be a non-empty object."),
            (json!([]), "Metadata must be a non-empty object."),
            (json!(["a", "b"]), "Metadata must be a non-empty object."),
            (json!("plan=pro"), "Metadata must be a non-empty object."),
            (json!(42), "Metadata must be a non-empty object."),
            (json!(true), "Metadata must be a non-empty object."),
            (
                json!({"tenant": "acme", "plan": 3}),
                "Value for key 'plan' must be a string.",
            ),
            (
                json!({"plan": null}),
                "Value for key 'plan' must be a string.",
            ),
            (
                json!({"plan": {"tier": "pro"}}),
                "Value for key 'plan' must be a string.",
            ),
            (
                json!({"plan": ["pro"]}),
                "Value for key 'plan' must be a string.",
            ),
        ];

        for (value, expected) in cases {
            assert_eq!(
                parse_metadata(&value),
                Err(expected.to_owned()),
                "value {value}"
            );
        }
    }

    /// Builds an object `{"k":"xxx…"}` whose compact JSON is exactly `size` bytes.
    fn object_of_size(size: usize) -> serde_json::Value {
        let overhead = r#"{"k":""}"#.len();
        json!({ "k": "x".repeat(size - overhead) })
    }

    #[test]
    fn parse_metadata_size_limit() {
        let at_limit = object_of_size(MAX_METADATA_BYTES);
        let over_limit = object_of_size(MAX_METADATA_BYTES + 1);

        assert!(parse_metadata(&at_limit).is_ok());
        assert_eq!(
            parse_metadata(&over_limit),
            Err("Metadata must be at most 1000 bytes when serialized (got 1001).".to_owned())
        );
    }

    #[test]
    fn parse_metadata_size_counts_escapes() {
        // Each quote is written as \" and so takes two bytes.
        let overhead = r#"{"k":""}"#.len();
        let quotes = "\"".repeat((MAX_METADATA_BYTES - overhead) / 2 + 1);

        let result = parse_metadata(&json!({ "k": quotes }));

        assert_eq!(
            result,
            Err("Metadata must be at most 1000 bytes when serialized (got 1002).".to_owned())
        );
    }

    #[test]
    fn parse_metadata_size_counts_utf8_bytes() {
        // "ä" is two bytes in UTF-8, so 497 of them fill 994 bytes plus 8 bytes of framing.
        let value = json!({ "k": "ä".repeat(497) });

        let result = parse_metadata(&value);

        assert_eq!(
            result,
            Err("Metadata must be at most 1000 bytes when serialized (got 1002).".to_owned())
        );
    }

    #[test]
    fn metadata_to_json_round_trip() {
        let input = json!({"b": "2", "a": "1"});

        let parsed = parse_metadata(&input).unwrap().unwrap();

        assert_eq!(parsed.to_json(), input);
    }

    #[test]
    fn metadata_serialize_sorted_object() {
        let parsed = parse_metadata(&json!({"b": "2", "a": "1"}))
            .unwrap()
            .unwrap();

        let serialized = serde_json::to_string(&parsed).unwrap();

        assert_eq!(serialized, r#"{"a":"1","b":"2"}"#);
    }

    #[test]
    fn metadata_deserialize_validates() {
        let valid: Result<Metadata, _> = serde_json::from_str(r#"{"plan":"pro"}"#);
        let wrong_type: Result<Metadata, _> = serde_json::from_str(r#"{"plan":1}"#);
        let empty: Result<Metadata, _> = serde_json::from_str("{}");

        assert_eq!(valid.unwrap().get("plan"), Some("pro"));
        assert!(wrong_type.is_err());
        assert!(empty.is_err());
    }

    #[test]
    fn metadata_option_null() {
        let parsed: Option<Metadata> = serde_json::from_str("null").unwrap();

        assert_eq!(parsed, None);
    }
}
