//! Embedded secret encryption: AES-256-GCM with a 32-byte key file, the encryption context
//! bound as associated data.

use std::io::Write;
use std::path::Path;

use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, KeyInit};
use async_trait::async_trait;
use rand::Rng;

use crate::ports::secrets::{EncryptionContext, SecretBox, SecretError};
use crate::secret::SecretString;

/// First byte of every ciphertext, so the format can change without guessing.
const FORMAT_VERSION: u8 = 1;
const NONCE_LEN: usize = 12;

pub struct LocalSecretBox {
    cipher: Aes256Gcm,
}

#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    #[error("cannot read or create the key file {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("key file {path} must hold exactly 32 bytes, found {len}")]
    WrongLength { path: String, len: usize },
}

impl LocalSecretBox {
    /// Opens the key file at `path`, creating it with a random key and mode 0600 when it
    /// does not exist yet.
    pub fn open_or_create(path: &Path) -> Result<Self, KeyFileError> {
        let io_error = |source| KeyFileError::Io {
            path: path.display().to_string(),
            source,
        };
        if !path.exists() {
            let mut key = [0u8; 32];
            rand::rng().fill(&mut key);
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                options.mode(0o600);
            }
            let mut file = options.open(path).map_err(io_error)?;
            file.write_all(&key).map_err(io_error)?;
            file.sync_all().map_err(io_error)?;
        }
        let key = std::fs::read(path).map_err(io_error)?;
        Self::from_key(&key).map_err(|_| KeyFileError::WrongLength {
            path: path.display().to_string(),
            len: key.len(),
        })
    }

    pub fn from_key(key: &[u8]) -> Result<Self, aes_gcm::aead::common::InvalidLength> {
        Ok(Self {
            cipher: Aes256Gcm::new_from_slice(key)?,
        })
    }
}

/// The associated data: every context field, length-prefixed so that no two contexts
/// produce the same bytes.
fn associated_data(context: &EncryptionContext) -> Vec<u8> {
    let mut aad = Vec::new();
    for (name, value) in context.pairs() {
        for part in [name, value] {
            aad.extend_from_slice(&(part.len() as u32).to_be_bytes());
            aad.extend_from_slice(part.as_bytes());
        }
    }
    aad
}

#[async_trait]
impl SecretBox for LocalSecretBox {
    async fn encrypt(
        &self,
        context: &EncryptionContext,
        plaintext: &SecretString,
    ) -> Result<Vec<u8>, SecretError> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill(&mut nonce);
        let aad = associated_data(context);
        let sealed = self
            .cipher
            .encrypt(
                &nonce.into(),
                Payload {
                    msg: plaintext.expose().as_bytes(),
                    aad: &aad,
                },
            )
            .map_err(|_| SecretError::Unavailable("AES-GCM encryption failed".to_owned()))?;

        let mut ciphertext = Vec::with_capacity(1 + NONCE_LEN + sealed.len());
        ciphertext.push(FORMAT_VERSION);
        ciphertext.extend_from_slice(&nonce);
        ciphertext.extend_from_slice(&sealed);
        Ok(ciphertext)
    }

    async fn decrypt(
        &self,
        context: &EncryptionContext,
        ciphertext: &[u8],
    ) -> Result<SecretString, SecretError> {
        if ciphertext.len() < 1 + NONCE_LEN || ciphertext[0] != FORMAT_VERSION {
            return Err(SecretError::Decrypt);
        }
        let nonce: [u8; NONCE_LEN] = ciphertext[1..1 + NONCE_LEN]
            .try_into()
            .map_err(|_| SecretError::Decrypt)?;
        let aad = associated_data(context);
        let plaintext = self
            .cipher
            .decrypt(
                &nonce.into(),
                Payload {
                    msg: &ciphertext[1 + NONCE_LEN..],
                    aad: &aad,
                },
            )
            .map_err(|_| SecretError::Decrypt)?;
        String::from_utf8(plaintext)
            .map(SecretString::new)
            .map_err(|_| SecretError::Decrypt)
    }
}
