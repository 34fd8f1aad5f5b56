//! The token set of a connection: encrypted refresh and access tokens, and the lease that
//! allows one refresh at a time.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ports::store::{Condition, Item, Store, StoreError};
use crate::records::{Versioned, encode, keys, load};

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct TokenSet {
    /// Encrypted refresh token (base64), purpose `refresh_token`.
    pub refresh_token_ciphertext: String,
    /// Encrypted access token (base64), purpose `access_token`.
    pub access_token_ciphertext: Option<String>,
    pub access_token_expires_at: Option<DateTime<Utc>>,
    /// Holder and end of the refresh lease; a refresh runs only under a live lease.
    pub lease_id: Option<String>,
    pub lease_until: Option<DateTime<Utc>>,
    /// Last time a refresh succeeded, which keeps the refresh token from expiring.
    pub refreshed_at: Option<DateTime<Utc>>,
}

pub async fn get(
    store: &dyn Store,
    connection_id: &str,
) -> Result<Option<Versioned<TokenSet>>, StoreError> {
    load(store, &keys::connection_tokens(connection_id)).await
}

/// Writes the token set if it is still at version `expected`.
pub async fn replace(
    store: &dyn Store,
    connection_id: &str,
    tokens: &TokenSet,
    expected: u64,
) -> Result<u64, StoreError> {
    let mut item = Item::new(keys::connection_tokens(connection_id), encode(tokens)?);
    item.version = expected + 1;
    store.put(item, Condition::Version(expected)).await?;
    Ok(expected + 1)
}

pub async fn delete(store: &dyn Store, connection_id: &str) -> Result<bool, StoreError> {
    store
        .delete(&keys::connection_tokens(connection_id), Condition::None)
        .await
}
