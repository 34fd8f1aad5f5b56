//! Zoom OAuth apps: the client credentials and webhook secret of a customer's Zoom app.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::domain::time::format_timestamp;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ZoomOAuthApp {
    pub id: String,
    pub project_id: String,
    pub client_id: String,
    /// Encrypted client secret (base64), context purpose `client_secret`.
    pub client_secret_ciphertext: String,
    /// Encrypted webhook secret token (base64), context purpose `webhook_secret`.
    pub webhook_secret_ciphertext: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub last_verified_webhook_received_at: Option<DateTime<Utc>>,
    pub last_unverified_webhook_received_at: Option<DateTime<Utc>>,
}

impl ZoomOAuthApp {
    /// The API representation. `public_base_url` has no trailing slash.
    pub fn to_json(&self, public_base_url: &str) -> serde_json::Value {
        json!({
            "id": self.id,
            "client_id": self.client_id,
            "has_webhook_secret": self.webhook_secret_ciphertext.is_some(),
            "webhook_url": format!("{public_base_url}/external_webhooks/zoom/oauth_apps/{}", self.id),
            "created_at": format_timestamp(self.created_at),
            "updated_at": format_timestamp(self.updated_at),
            "last_verified_webhook_received_at": self.last_verified_webhook_received_at.map(format_timestamp),
            "last_unverified_webhook_received_at": self.last_unverified_webhook_received_at.map(format_timestamp),
        })
    }
}
