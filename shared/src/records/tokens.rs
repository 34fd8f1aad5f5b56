//! The token set of a connection: encrypted refresh and access tokens, and the lease that
//! allows one refresh at a time.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ports::store::{Condition, Index, Item, Position, Query, Store, StoreError};
use crate::records::{Versioned, decode, encode, keys, load, put_next_version};

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

/// GSI1 partition of every token set, sorted by last refresh, so the keeper finds the
/// stalest refresh tokens with one query.
///
/// NOTE: one partition for all connections caps this index at DynamoDB's per-partition
/// write rate (about 1000 writes/s), far above the refresh rate of a deployment with
/// hourly access tokens and tens of thousands of connections.
pub const KEEPALIVE_PARTITION: &str = "KEEPALIVE";

/// Builds the stored item of a token set.
pub fn item(connection_id: &str, tokens: &TokenSet) -> Result<Item, StoreError> {
    let refreshed_at = tokens.refreshed_at.unwrap_or(DateTime::<Utc>::UNIX_EPOCH);
    Ok(
        Item::new(keys::connection_tokens(connection_id), encode(tokens)?).with_gsi1(
            keys::list_entry(KEEPALIVE_PARTITION.to_owned(), refreshed_at, connection_id),
        ),
    )
}

/// Token sets by last refresh, oldest first, with each set's connection id.
pub async fn stalest(
    store: &dyn Store,
    limit: usize,
    start_after: Option<Position>,
) -> Result<(Vec<(String, TokenSet)>, Option<Position>), StoreError> {
    let mut query = Query::new(Index::Gsi1, KEEPALIVE_PARTITION);
    query.limit = limit;
    query.start_after = start_after;
    let page = store.query(query).await?;
    let mut sets = Vec::new();
    for found in &page.items {
        let connection_id = found
            .key
            .pk
            .strip_prefix("CONN#")
            .ok_or_else(|| StoreError::Corrupt(format!("token set key {}", found.key.pk)))?;
        sets.push((connection_id.to_owned(), decode(found)?));
    }
    Ok((sets, page.next))
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
    put_next_version(store, item(connection_id, tokens)?, expected).await
}

/// Takes a kept token set out of the keeper's index, for a connection that is
/// disconnected but keeps its tokens. Refreshing it is pointless until the connection is
/// revived, and it would stay at the head of the stalest-first index for good, hiding the
/// connections that do need a refresh. The next stored refresh puts it back.
pub async fn park(store: &dyn Store, connection_id: &str) -> Result<(), StoreError> {
    let Some(stored) = get(store, connection_id).await? else {
        return Ok(());
    };
    let mut parked = item(connection_id, &stored.value)?;
    parked.gsi1 = None;
    put_next_version(store, parked, stored.version)
        .await
        .map(|_| ())
}

pub async fn delete(store: &dyn Store, connection_id: &str) -> Result<bool, StoreError> {
    store
        .delete(&keys::connection_tokens(connection_id), Condition::None)
        .await
}
