//! Contract of the `SecretBox` port.

use shared::adapters::kms::KmsSecretBox;
use shared::adapters::local_secrets::LocalSecretBox;
use shared::ports::secrets::{EncryptionContext, SecretBox, SecretError};
use shared::secret::SecretString;

use crate::moto_config;

fn local_box(key_byte: u8) -> LocalSecretBox {
    LocalSecretBox::from_key(&[key_byte; 32]).expect("32-byte key")
}

/// Creates a fresh symmetric key on moto and returns a box that uses it.
async fn kms_box() -> KmsSecretBox {
    let client = aws_sdk_kms::Client::new(&moto_config().await);
    let output = client
        .create_key()
        .description("contract test key")
        .send()
        .await
        .expect("creating a KMS key on moto");
    let key_id = output
        .key_metadata()
        .expect("CreateKey returns key metadata")
        .key_id()
        .to_owned();
    KmsSecretBox::new(client, key_id)
}

/// Runs the contract `$name` against each backend, as the tests `$name::local` and
/// `$name::kms`.
macro_rules! secrets_contract {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test]
                async fn local() {
                    super::$name(&super::local_box(7)).await;
                }

                #[tokio::test]
                async fn kms() {
                    super::$name(&super::kms_box().await).await;
                }
            }
        )*
    };
}

secrets_contract!(
    round_trip,
    wrong_context_fails,
    ciphertext_copied_to_other_record_fails,
    damaged_ciphertext_fails,
);

mod other_key_fails {
    use super::*;

    #[tokio::test]
    async fn local() {
        let result = decrypt_with_other_key(&local_box(7), &local_box(8)).await;

        assert_decrypt_error(result, "ciphertext made under another key");
    }

    #[tokio::test]
    async fn kms() {
        let result = decrypt_with_other_key(&kms_box().await, &kms_box().await).await;

        // NOTE: KMS documents IncorrectKeyException for a Decrypt whose KeyId differs from
        // the ciphertext's key, which the adapter maps to SecretError::Decrypt. moto 5.2.5
        // returns AccessDeniedException instead, which maps to Unavailable, so this test
        // checks only that decryption fails.
        assert!(result.is_err(), "decrypted under another key: {result:?}");
    }
}

#[tokio::test]
async fn kms_rejects_empty_secret() {
    let secret_box = kms_box().await;

    let result = secret_box.encrypt(&context(), &SecretString::new("")).await;

    assert!(
        matches!(&result, Err(SecretError::Unavailable(message)) if message.contains("1 to 4096 bytes")),
        "got {result:?}"
    );
}

fn context() -> EncryptionContext {
    EncryptionContext::new("project-1", "connection-1", "zoom_client_secret")
}

fn assert_decrypt_error(result: Result<SecretString, SecretError>, case: &str) {
    assert!(
        matches!(result, Err(SecretError::Decrypt)),
        "{case}: expected SecretError::Decrypt, got {result:?}"
    );
}

async fn encrypt(secret_box: &dyn SecretBox, context: &EncryptionContext, text: &str) -> Vec<u8> {
    secret_box
        .encrypt(context, &SecretString::new(text))
        .await
        .expect("encrypt")
}

async fn round_trip(secret_box: &dyn SecretBox) {
    // Not the empty string: KMS rejects empty plaintext, see `kms_rejects_empty_secret`.
    for text in ["s3cr3t-value", "ünïcödé ✓", &"x".repeat(4_000)] {
        let ciphertext = encrypt(secret_box, &context(), text).await;
        assert!(
            !ciphertext
                .windows(text.len())
                .any(|window| window == text.as_bytes()),
            "ciphertext contains the plaintext"
        );

        let decrypted = secret_box
            .decrypt(&context(), &ciphertext)
            .await
            .expect("decrypt");

        assert_eq!(decrypted.expose(), text);
    }
}

async fn wrong_context_fails(secret_box: &dyn SecretBox) {
    let ciphertext = encrypt(secret_box, &context(), "s3cr3t-value").await;
    let wrong_contexts = [
        (
            "project",
            EncryptionContext::new("project-2", "connection-1", "zoom_client_secret"),
        ),
        (
            "record",
            EncryptionContext::new("project-1", "connection-2", "zoom_client_secret"),
        ),
        (
            "purpose",
            EncryptionContext::new("project-1", "connection-1", "zoom_refresh_token"),
        ),
    ];

    for (field, wrong) in wrong_contexts {
        assert_decrypt_error(
            secret_box.decrypt(&wrong, &ciphertext).await,
            &format!("wrong {field}"),
        );
    }
}

async fn ciphertext_copied_to_other_record_fails(secret_box: &dyn SecretBox) {
    let first = EncryptionContext::new("project-1", "connection-1", "zoom_refresh_token");
    let second = EncryptionContext::new("project-1", "connection-2", "zoom_refresh_token");
    let first_ciphertext = encrypt(secret_box, &first, "first-token").await;
    let second_ciphertext = encrypt(secret_box, &second, "second-token").await;

    assert_decrypt_error(
        secret_box.decrypt(&second, &first_ciphertext).await,
        "first record's ciphertext on the second record",
    );
    let own = secret_box
        .decrypt(&second, &second_ciphertext)
        .await
        .expect("own ciphertext");
    assert_eq!(own.expose(), "second-token");
}

async fn damaged_ciphertext_fails(secret_box: &dyn SecretBox) {
    let ciphertext = encrypt(secret_box, &context(), "s3cr3t-value").await;
    let mut last_byte_flipped = ciphertext.clone();
    *last_byte_flipped.last_mut().expect("non-empty ciphertext") ^= 0x01;
    let mut middle_byte_flipped = ciphertext.clone();
    middle_byte_flipped[ciphertext.len() / 2] ^= 0x80;
    let truncated = ciphertext[..ciphertext.len() - 1].to_vec();

    let damaged = [
        ("last byte flipped", last_byte_flipped),
        ("middle byte flipped", middle_byte_flipped),
        ("last byte removed", truncated),
        ("empty", Vec::new()),
    ];
    for (damage, bytes) in damaged {
        assert_decrypt_error(secret_box.decrypt(&context(), &bytes).await, damage);
    }
}

/// Encrypts with `first` and decrypts with `second`, which uses another key.
async fn decrypt_with_other_key(
    first: &dyn SecretBox,
    second: &dyn SecretBox,
) -> Result<SecretString, SecretError> {
    let ciphertext = encrypt(first, &context(), "s3cr3t-value").await;
    second.decrypt(&context(), &ciphertext).await
}
