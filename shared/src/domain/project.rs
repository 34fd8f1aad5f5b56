//! Projects and their API keys.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Project {
    pub id: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
    /// The project's signing secret for outbound requests, encrypted (base64).
    pub signing_secret_ciphertext: String,
}

/// The stored form of an API key: only its SHA-256 hash is kept.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ApiKeyRecord {
    pub project_id: String,
    pub created_at: DateTime<Utc>,
    #[serde(default)]
    pub disabled: bool,
}

/// Lowercase hex SHA-256 of an API key, the only form in which keys are stored.
pub fn api_key_hash(api_key: &str) -> String {
    hex::encode(Sha256::digest(api_key.as_bytes()))
}
