//! The secret-encryption port on AWS KMS, with the encryption context bound to every
//! ciphertext.

use async_trait::async_trait;
use aws_sdk_kms::Client;
use aws_sdk_kms::error::DisplayErrorContext;
use aws_sdk_kms::primitives::Blob;

use crate::ports::secrets::{EncryptionContext, SecretBox, SecretError};
use crate::secret::SecretString;

/// Plaintext size range of KMS Encrypt, in bytes.
const PLAINTEXT_BYTES: std::ops::RangeInclusive<usize> = 1..=4096;

/// `SecretBox` that calls KMS Encrypt and Decrypt with one symmetric key.
// Direct Encrypt takes up to 4 KB of plaintext and the secrets stored here are smaller,
// so envelope encryption would add a data key and a local cipher for no gain.
#[derive(Clone, Debug)]
pub struct KmsSecretBox {
    client: Client,
    key_id: String,
}

impl KmsSecretBox {
    /// `key_id` is a key id, key ARN, alias name or alias ARN of a symmetric KMS key.
    pub fn new(client: Client, key_id: impl Into<String>) -> Self {
        Self {
            client,
            key_id: key_id.into(),
        }
    }
}

fn unavailable<E: std::error::Error>(error: E) -> SecretError {
    SecretError::Unavailable(DisplayErrorContext(error).to_string())
}

#[async_trait]
impl SecretBox for KmsSecretBox {
    async fn encrypt(
        &self,
        context: &EncryptionContext,
        plaintext: &SecretString,
    ) -> Result<Vec<u8>, SecretError> {
        let bytes = plaintext.expose().as_bytes();
        // NOTE: the embedded backend also encrypts an empty secret, but KMS cannot, and the
        // port has no error for invalid input, so the request fails here as Unavailable.
        if !PLAINTEXT_BYTES.contains(&bytes.len()) {
            return Err(SecretError::Unavailable(format!(
                "KMS encrypts 1 to 4096 bytes, but the secret has {} bytes",
                bytes.len()
            )));
        }
        let mut request = self
            .client
            .encrypt()
            .key_id(&self.key_id)
            .plaintext(Blob::new(bytes));
        for (name, value) in context.pairs() {
            request = request.encryption_context(name, value);
        }
        let output = request.send().await.map_err(unavailable)?;
        output.ciphertext_blob.map(Blob::into_inner).ok_or_else(|| {
            SecretError::Unavailable("KMS Encrypt returned no ciphertext".to_owned())
        })
    }

    async fn decrypt(
        &self,
        context: &EncryptionContext,
        ciphertext: &[u8],
    ) -> Result<SecretString, SecretError> {
        // KMS rejects an empty blob as an invalid request, but for the caller it is just
        // another unusable ciphertext.
        if ciphertext.is_empty() {
            return Err(SecretError::Decrypt);
        }
        // Naming the key makes KMS reject a ciphertext made under any other key.
        let mut request = self
            .client
            .decrypt()
            .key_id(&self.key_id)
            .ciphertext_blob(Blob::new(ciphertext));
        for (name, value) in context.pairs() {
            request = request.encryption_context(name, value);
        }
        let output = match request.send().await {
            Ok(output) => output,
            // InvalidCiphertext covers a wrong context and a damaged blob, and IncorrectKey
            // a blob made under another key. Retrying cannot help in either case.
            Err(error)
                if error.as_service_error().is_some_and(|e| {
                    e.is_invalid_ciphertext_exception() || e.is_incorrect_key_exception()
                }) =>
            {
                return Err(SecretError::Decrypt);
            }
            Err(error) => return Err(unavailable(error)),
        };
        let plaintext = output.plaintext.ok_or_else(|| {
            SecretError::Unavailable("KMS Decrypt returned no plaintext".to_owned())
        })?;
        String::from_utf8(plaintext.into_inner())
            .map(SecretString::new)
            .map_err(|_| SecretError::Decrypt)
    }
}
