//! JSON request bodies: unknown fields are rejected, and each field is read with a check
//! that names it when it is wrong.

use serde_json::{Map, Value};

use crate::domain::metadata::{Metadata, parse_metadata};
use crate::secret::SecretString;
use crate::services::{FieldErrors, ServiceError};

/// Maximum length of a secret in a request body, in bytes.
pub const MAX_SECRET_BYTES: usize = 1024;

/// A parsed JSON object whose fields are taken one by one; errors collect until `finish`.
pub struct JsonBody {
    fields: Map<String, Value>,
    errors: FieldErrors,
}

impl JsonBody {
    /// Parses `bytes` as a JSON object with no fields outside `allowed`. An empty body is
    /// an empty object.
    pub fn parse(bytes: &[u8], allowed: &[&str]) -> Result<Self, ServiceError> {
        let value: Value = if bytes.iter().all(u8::is_ascii_whitespace) {
            Value::Object(Map::new())
        } else {
            serde_json::from_slice(bytes).map_err(|error| {
                ServiceError::BadRequest(format!("Request body is not valid JSON: {error}"))
            })?
        };
        let Value::Object(fields) = value else {
            return Err(ServiceError::Invalid(FieldErrors::single(
                "non_field_errors",
                "Expected a JSON object as the request body.",
            )));
        };
        let unknown: Vec<&str> = fields
            .keys()
            .map(String::as_str)
            .filter(|key| !allowed.contains(key))
            .collect();
        if !unknown.is_empty() {
            return Err(ServiceError::Invalid(FieldErrors::single(
                "non_field_errors",
                format!(
                    "Unknown field(s): {}. Allowed fields: {}.",
                    unknown.join(", "),
                    allowed.join(", ")
                ),
            )));
        }
        Ok(Self {
            fields,
            errors: FieldErrors::default(),
        })
    }

    pub fn contains(&self, field: &str) -> bool {
        self.fields.contains_key(field)
    }

    pub fn add_error(&mut self, field: &str, message: impl Into<String>) {
        self.errors.add(field, message);
    }

    /// Returns the raw value of a field, with absent or null as `None`.
    pub fn value(&self, field: &str) -> Option<&Value> {
        self.fields.get(field).filter(|value| !value.is_null())
    }

    fn string(&mut self, field: &str, required: bool) -> Option<String> {
        match self.fields.get(field) {
            None | Some(Value::Null) => {
                if required {
                    self.errors.add(field, "This field is required.");
                }
                None
            }
            Some(Value::String(text)) if text.trim().is_empty() => {
                if required {
                    self.errors.add(field, "This field may not be blank.");
                }
                None
            }
            Some(Value::String(text)) => Some(text.trim().to_owned()),
            Some(_) => {
                self.errors.add(field, "Must be a string.");
                None
            }
        }
    }

    pub fn required_string(&mut self, field: &str) -> Option<String> {
        self.string(field, true)
    }

    /// Reads an optional string. A blank value counts as absent.
    pub fn optional_string(&mut self, field: &str) -> Option<String> {
        self.string(field, false)
    }

    pub fn required_secret(&mut self, field: &str) -> Option<SecretString> {
        let value = self.required_string(field);
        self.limit_secret(field, value)
    }

    pub fn optional_secret(&mut self, field: &str) -> Option<SecretString> {
        let value = self.optional_string(field);
        self.limit_secret(field, value)
    }

    /// Rejects secrets longer than `MAX_SECRET_BYTES`. Zoom's secrets are a few dozen
    /// characters, and KMS encrypts at most 4096 bytes.
    fn limit_secret(&mut self, field: &str, value: Option<String>) -> Option<SecretString> {
        let value = value?;
        if value.len() > MAX_SECRET_BYTES {
            self.errors
                .add(field, format!("Must be at most {MAX_SECRET_BYTES} bytes."));
            return None;
        }
        Some(SecretString::new(value))
    }

    pub fn bool_or(&mut self, field: &str, default: bool) -> bool {
        match self.fields.get(field) {
            None | Some(Value::Null) => default,
            Some(Value::Bool(value)) => *value,
            Some(_) => {
                self.errors.add(field, "Must be a boolean (true or false).");
                default
            }
        }
    }

    pub fn metadata(&mut self) -> Option<Metadata> {
        let value = self.fields.get("metadata")?.clone();
        match parse_metadata(&value) {
            Ok(metadata) => metadata,
            Err(message) => {
                self.errors.add("metadata", message);
                None
            }
        }
    }

    /// Fails with every collected field error.
    pub fn finish(self) -> Result<(), ServiceError> {
        self.errors.into_result()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_field_lists_allowed() {
        let Err(ServiceError::Invalid(errors)) = JsonBody::parse(br#"{"a":1,"zz":2}"#, &["a", "b"])
        else {
            panic!("expected a field error");
        };
        let message = &errors.0["non_field_errors"][0];
        assert!(message.contains("zz"), "{message}");
        assert!(message.contains("Allowed fields: a, b"), "{message}");
    }

    #[test]
    fn non_object_body_rejected() {
        assert!(matches!(
            JsonBody::parse(b"[1]", &[]),
            Err(ServiceError::Invalid(_))
        ));
    }

    #[test]
    fn invalid_json_rejected() {
        assert!(matches!(
            JsonBody::parse(b"{", &[]),
            Err(ServiceError::BadRequest(_))
        ));
    }

    #[test]
    fn required_string_errors_name_field() {
        let mut body = JsonBody::parse(br#"{"code":" ","uri":5}"#, &["code", "uri", "x"]).unwrap();
        assert_eq!(body.required_string("code"), None);
        assert_eq!(body.required_string("uri"), None);
        assert_eq!(body.required_string("x"), None);
        let Err(ServiceError::Invalid(errors)) = body.finish() else {
            panic!("expected field errors");
        };
        assert_eq!(errors.0["code"], vec!["This field may not be blank."]);
        assert_eq!(errors.0["uri"], vec!["Must be a string."]);
        assert_eq!(errors.0["x"], vec!["This field is required."]);
    }

    #[test]
    fn bool_rejects_string() {
        let mut body = JsonBody::parse(br#"{"flag":"true"}"#, &["flag"]).unwrap();
        assert!(body.bool_or("flag", true));
        assert!(body.finish().is_err());
    }
}
