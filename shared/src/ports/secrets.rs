//! The secret-encryption port: KMS in production, AES-256-GCM with a local key file in the
//! embedded backend.

use async_trait::async_trait;

use crate::secret::SecretString;

/// Binds a ciphertext to the record it belongs to. Decryption with any other context
/// fails, so a ciphertext copied onto another record or field is useless.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EncryptionContext {
    pub project_id: String,
    pub record_id: String,
    pub purpose: &'static str,
}

impl EncryptionContext {
    pub fn new(project_id: &str, record_id: &str, purpose: &'static str) -> Self {
        Self {
            project_id: project_id.to_owned(),
            record_id: record_id.to_owned(),
            purpose,
        }
    }

    /// The context as key/value pairs, in a fixed order.
    pub fn pairs(&self) -> [(&'static str, &str); 3] {
        [
            ("project_id", &self.project_id),
            ("record_id", &self.record_id),
            ("purpose", self.purpose),
        ]
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("decryption failed: the ciphertext is damaged or belongs to another record")]
    Decrypt,
    #[error("key service request failed: {0}")]
    Unavailable(String),
}

#[async_trait]
pub trait SecretBox: Send + Sync {
    async fn encrypt(
        &self,
        context: &EncryptionContext,
        plaintext: &SecretString,
    ) -> Result<Vec<u8>, SecretError>;
    async fn decrypt(
        &self,
        context: &EncryptionContext,
        ciphertext: &[u8],
    ) -> Result<SecretString, SecretError>;
}
