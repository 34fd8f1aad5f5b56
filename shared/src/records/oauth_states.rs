//! Pending hosted-flow authorizations, keyed by the hash of their `state` parameter.

use serde::{Deserialize, Serialize};

use crate::domain::metadata::Metadata;
use crate::ports::store::{Condition, Item, Store, StoreError};
use crate::records::{decode, encode, keys};

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PendingAuthorization {
    pub project_id: String,
    pub zoom_oauth_app_id: String,
    pub success_url: String,
    pub failure_url: String,
    pub metadata: Option<Metadata>,
    pub is_local_recording_token_supported: bool,
    pub is_onbehalf_token_supported: bool,
    /// Encrypted PKCE code verifier (base64), purpose `code_verifier`.
    pub code_verifier_ciphertext: String,
    pub redirect_uri: String,
}

pub async fn insert(
    store: &dyn Store,
    state_hash: &str,
    pending: &PendingAuthorization,
    expires_at: i64,
) -> Result<(), StoreError> {
    let item = Item::new(keys::oauth_state(state_hash), encode(pending)?).expiring_at(expires_at);
    store.put(item, Condition::NotExists).await
}

/// Reads and deletes the pending authorization in one step, so a state works once. Two
/// concurrent callbacks with one state: only the caller whose conditional delete succeeds
/// gets the record.
pub async fn take(
    store: &dyn Store,
    state_hash: &str,
) -> Result<Option<PendingAuthorization>, StoreError> {
    let key = keys::oauth_state(state_hash);
    let Some(item) = store.get(&key).await? else {
        return Ok(None);
    };
    let pending = decode(&item)?;
    match store.delete(&key, Condition::Version(item.version)).await {
        Ok(true) => Ok(Some(pending)),
        Ok(false) | Err(StoreError::ConditionFailed) => Ok(None),
        Err(error) => Err(error),
    }
}
