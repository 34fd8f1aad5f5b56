//! Cursor pagination of list endpoints: `{"next", "previous", "results"}`, newest first.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use http::StatusCode;

use crate::http::response::json_response;
use crate::http::{ApiRequest, ApiResponse};
use crate::ports::store::Position;
use crate::records::{Direction, RecordPage};
use crate::services::{FieldErrors, ServiceError, Services};

pub const DEFAULT_PAGE_SIZE: usize = 25;
pub const MAX_PAGE_SIZE: usize = 100;

/// Content of a cursor, encoded as base64url JSON so that it stays opaque in URLs.
/// Forging one only moves the start of a list the caller may read anyway, because the
/// partition queried always comes from the authenticated project.
#[derive(Serialize, Deserialize)]
struct CursorBody {
    #[serde(rename = "d")]
    backward: bool,
    #[serde(rename = "p")]
    position: Position,
}

pub fn encode_cursor(direction: Direction, position: &Position) -> String {
    let body = CursorBody {
        backward: direction == Direction::Backward,
        position: position.clone(),
    };
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&body).unwrap_or_default())
}

pub fn decode_cursor(cursor: &str) -> Option<(Direction, Position)> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor).ok()?;
    let body: CursorBody = serde_json::from_slice(&bytes).ok()?;
    let direction = if body.backward {
        Direction::Backward
    } else {
        Direction::Forward
    };
    Some((direction, body.position))
}

/// The query parameters of a list request.
pub struct ListQuery {
    pub params: Vec<(String, String)>,
}

impl ListQuery {
    pub fn from_uri(uri: &http::Uri) -> Self {
        let params = url::form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        Self { params }
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Rejects parameters outside `allowed` (plus `cursor` and `page_size`).
    pub fn reject_unknown(&self, allowed: &[&str]) -> Result<(), ServiceError> {
        let mut errors = FieldErrors::default();
        for (name, _) in &self.params {
            if name != "cursor" && name != "page_size" && !allowed.contains(&name.as_str()) {
                let mut known = vec!["cursor", "page_size"];
                known.extend_from_slice(allowed);
                errors.add(
                    name,
                    format!("Unknown query parameter. Allowed: {}.", known.join(", ")),
                );
            }
        }
        errors.into_result()
    }

    pub fn page_size(&self) -> Result<usize, ServiceError> {
        let Some(raw) = self.get("page_size") else {
            return Ok(DEFAULT_PAGE_SIZE);
        };
        match raw.parse::<usize>() {
            Ok(size) if (1..=MAX_PAGE_SIZE).contains(&size) => Ok(size),
            _ => Err(ServiceError::Invalid(FieldErrors::single(
                "page_size",
                format!("Must be an integer from 1 to {MAX_PAGE_SIZE}."),
            ))),
        }
    }

    pub fn cursor(&self) -> Result<Option<(Direction, Position)>, ServiceError> {
        match self.get("cursor") {
            None | Some("") => Ok(None),
            Some(cursor) => decode_cursor(cursor).map(Some).ok_or_else(|| {
                ServiceError::Invalid(FieldErrors::single("cursor", "Invalid cursor."))
            }),
        }
    }

    fn url_with_cursor(&self, base_url: &str, path: &str, cursor: &str) -> String {
        let mut serializer = url::form_urlencoded::Serializer::new(String::new());
        for (name, value) in &self.params {
            if name != "cursor" {
                serializer.append_pair(name, value);
            }
        }
        serializer.append_pair("cursor", cursor);
        format!("{base_url}{path}?{}", serializer.finish())
    }

    /// Builds the 200 response of a list request for `page`.
    pub fn ok_response<T>(
        &self,
        services: &Services,
        request: &ApiRequest,
        page: &RecordPage<T>,
        render: impl Fn(&T) -> Value,
    ) -> ApiResponse {
        let body = self.response(
            &services.settings.public_base_url,
            request.uri().path(),
            page,
            render,
        );
        json_response(StatusCode::OK, &body)
    }

    /// Builds the list body for `page`, with absolute `next` and `previous` URLs.
    pub fn response<T>(
        &self,
        base_url: &str,
        path: &str,
        page: &RecordPage<T>,
        render: impl Fn(&T) -> Value,
    ) -> Value {
        let next = page.next.as_ref().map(|position| {
            self.url_with_cursor(base_url, path, &encode_cursor(Direction::Forward, position))
        });
        let previous = page.previous.as_ref().map(|position| {
            self.url_with_cursor(
                base_url,
                path,
                &encode_cursor(Direction::Backward, position),
            )
        });
        json!({
            "next": next,
            "previous": previous,
            "results": page.records.iter().map(render).collect::<Vec<_>>(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trip() {
        let mut map = std::collections::BTreeMap::new();
        map.insert("pk".to_owned(), "CONN#zoc_x".to_owned());
        let position = Position(map);
        let cursor = encode_cursor(Direction::Backward, &position);
        assert_eq!(
            decode_cursor(&cursor),
            Some((Direction::Backward, position))
        );
    }

    #[test]
    fn garbage_cursor_rejected() {
        assert!(decode_cursor("not a cursor!").is_none());
        assert!(decode_cursor("e30").is_none());
    }
}
