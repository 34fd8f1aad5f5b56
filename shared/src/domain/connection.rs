//! Zoom OAuth connections: one Zoom user's authorization of one app, and the scopes each
//! capability needs.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::domain::metadata::Metadata;
use crate::domain::time::format_timestamp;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionState {
    Connected,
    Disconnected,
}

impl ConnectionState {
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectionState::Connected => "connected",
            ConnectionState::Disconnected => "disconnected",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "connected" => Some(ConnectionState::Connected),
            "disconnected" => Some(ConnectionState::Disconnected),
            _ => None,
        }
    }
}

/// Reason and time of a disconnection.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailureData {
    pub error: String,
    pub timestamp: DateTime<Utc>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Connection {
    pub id: String,
    pub project_id: String,
    pub zoom_oauth_app_id: String,
    /// Zoom's user id, the stable key of the user.
    pub user_id: String,
    pub account_id: String,
    pub state: ConnectionState,
    pub metadata: Option<Metadata>,
    pub is_local_recording_token_supported: bool,
    pub is_onbehalf_token_supported: bool,
    pub connection_failure_data: Option<FailureData>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub last_successful_sync_at: Option<DateTime<Utc>>,
    pub last_attempted_sync_at: Option<DateTime<Utc>>,
    /// When the user last authorized the app, so that a late `app_deauthorized` event from
    /// before that time is ignored.
    #[serde(default)]
    pub authorized_at: Option<DateTime<Utc>>,
}

impl Connection {
    pub fn failure_json(&self) -> serde_json::Value {
        match &self.connection_failure_data {
            Some(failure) => json!({
                "error": failure.error,
                "timestamp": format_timestamp(failure.timestamp),
            }),
            None => serde_json::Value::Null,
        }
    }

    /// Returns the API representation, which contains no token.
    pub fn to_json(&self) -> serde_json::Value {
        json!({
            "id": self.id,
            "zoom_oauth_app_id": self.zoom_oauth_app_id,
            "user_id": self.user_id,
            "account_id": self.account_id,
            "state": self.state.as_str(),
            "metadata": self.metadata.as_ref().map(Metadata::to_json),
            "is_local_recording_token_supported": self.is_local_recording_token_supported,
            "is_onbehalf_token_supported": self.is_onbehalf_token_supported,
            "connection_failure_data": self.failure_json(),
            "created_at": format_timestamp(self.created_at),
            "updated_at": format_timestamp(self.updated_at),
            "last_successful_sync_at": self.last_successful_sync_at.map(format_timestamp),
            "last_attempted_sync_at": self.last_attempted_sync_at.map(format_timestamp),
        })
    }
}

/// Scopes every connection needs, to read who authorized.
const USER_SCOPES: &[&str] = &["user:read:user"];
/// Scopes for minting local recording tokens as the meeting host.
const LOCAL_RECORDING_SCOPES: &[&str] = &[
    "user:read:zak",
    "meeting:read:list_meetings",
    "meeting:read:local_recording_token",
];
/// Scopes for minting OBF tokens.
const ONBEHALF_SCOPES: &[&str] = &["user:read:token"];

/// Returns the scopes the enabled capabilities need that `granted` lacks, in a stable
/// order.
pub fn missing_scopes(
    granted: &[String],
    local_recording: bool,
    onbehalf: bool,
) -> Vec<&'static str> {
    let mut needed: Vec<&'static str> = USER_SCOPES.to_vec();
    if local_recording {
        needed.extend_from_slice(LOCAL_RECORDING_SCOPES);
    }
    if onbehalf {
        needed.extend_from_slice(ONBEHALF_SCOPES);
    }
    needed
        .into_iter()
        .filter(|scope| !granted.iter().any(|g| g == scope))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scopes(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn missing_scopes_for_onbehalf_only() {
        let granted = scopes(&["user:read:user"]);
        assert_eq!(
            missing_scopes(&granted, false, true),
            vec!["user:read:token"]
        );
    }

    #[test]
    fn missing_scopes_none_when_all_granted() {
        let granted = scopes(&[
            "user:read:user",
            "user:read:zak",
            "meeting:read:list_meetings",
            "meeting:read:local_recording_token",
            "user:read:token",
        ]);
        assert!(missing_scopes(&granted, true, true).is_empty());
    }

    #[test]
    fn missing_scopes_lists_local_recording_needs() {
        let granted = scopes(&["user:read:user", "user:read:token"]);
        assert_eq!(
            missing_scopes(&granted, true, true),
            vec![
                "user:read:zak",
                "meeting:read:list_meetings",
                "meeting:read:local_recording_token"
            ]
        );
    }
}
