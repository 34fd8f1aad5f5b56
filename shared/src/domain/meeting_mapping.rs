//! Which connection hosts which meeting number, so a bot can get the host's local
//! recording token.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::domain::time::format_timestamp;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MappingSource {
    /// A `meeting.created` event.
    Webhook,
    /// The connection's meeting list, read from Zoom.
    Sync,
    /// The user's personal meeting id.
    Pmi,
}

impl MappingSource {
    pub fn as_str(self) -> &'static str {
        match self {
            MappingSource::Webhook => "webhook",
            MappingSource::Sync => "sync",
            MappingSource::Pmi => "pmi",
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MeetingMapping {
    pub project_id: String,
    /// The meeting number, 9 to 11 digits, kept as a string.
    pub meeting_id: String,
    pub connection_id: String,
    pub source: MappingSource,
    pub updated_at: DateTime<Utc>,
}

impl MeetingMapping {
    pub fn to_json(&self) -> serde_json::Value {
        json!({
            "meeting_id": self.meeting_id,
            "source": self.source.as_str(),
            "updated_at": format_timestamp(self.updated_at),
        })
    }
}
