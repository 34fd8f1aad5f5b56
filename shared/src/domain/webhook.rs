//! Outgoing webhook subscriptions, their triggers, and delivery records.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::domain::time::format_timestamp;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Trigger {
    #[serde(rename = "zoom_oauth_connection.state_change")]
    ConnectionStateChange,
    #[serde(rename = "bot.state_change")]
    BotStateChange,
}

impl Trigger {
    pub const ALL: [Trigger; 2] = [Trigger::ConnectionStateChange, Trigger::BotStateChange];

    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::ConnectionStateChange => "zoom_oauth_connection.state_change",
            Trigger::BotStateChange => "bot.state_change",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|trigger| trigger.as_str() == value)
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Subscription {
    pub id: String,
    pub project_id: String,
    pub url: String,
    pub triggers: Vec<Trigger>,
    /// Encrypted signing secret (base64), purpose `subscription_secret`.
    pub secret_ciphertext: String,
    pub created_at: DateTime<Utc>,
}

impl Subscription {
    pub fn to_json(&self) -> serde_json::Value {
        json!({
            "id": self.id,
            "url": self.url,
            "triggers": self.triggers.iter().map(|t| t.as_str()).collect::<Vec<_>>(),
            "created_at": format_timestamp(self.created_at),
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    Pending,
    Delivered,
    Failed,
}

/// One attempt to deliver, as recorded.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DeliveryAttempt {
    pub at: DateTime<Utc>,
    pub status: Option<u16>,
    pub error: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Delivery {
    pub id: String,
    pub project_id: String,
    pub subscription_id: String,
    pub trigger: Trigger,
    /// The envelope exactly as it will be signed and sent.
    pub envelope: serde_json::Value,
    pub state: DeliveryState,
    pub attempts: Vec<DeliveryAttempt>,
    pub created_at: DateTime<Utc>,
}
