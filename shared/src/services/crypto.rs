//! Sealing secrets into record fields: encrypt with the record's context, store as base64.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::ports::secrets::{EncryptionContext, SecretBox};
use crate::secret::SecretString;
use crate::services::ServiceError;

/// Purposes of the encryption context, one per secret field.
pub mod purpose {
    pub const CLIENT_SECRET: &str = "client_secret";
    pub const WEBHOOK_SECRET: &str = "webhook_secret";
    pub const REFRESH_TOKEN: &str = "refresh_token";
    pub const ACCESS_TOKEN: &str = "access_token";
    pub const SIGNING_SECRET: &str = "signing_secret";
    pub const SUBSCRIPTION_SECRET: &str = "subscription_secret";
}

pub async fn seal(
    secrets: &dyn SecretBox,
    context: &EncryptionContext,
    plaintext: &SecretString,
) -> Result<String, ServiceError> {
    let ciphertext = secrets.encrypt(context, plaintext).await?;
    Ok(STANDARD.encode(ciphertext))
}

pub async fn open(
    secrets: &dyn SecretBox,
    context: &EncryptionContext,
    sealed: &str,
) -> Result<SecretString, ServiceError> {
    let ciphertext = STANDARD
        .decode(sealed)
        .map_err(|_| ServiceError::Internal("stored ciphertext is not base64".into()))?;
    Ok(secrets.decrypt(context, &ciphertext).await?)
}
