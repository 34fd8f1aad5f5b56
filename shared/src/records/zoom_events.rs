//! Markers of Zoom events already handled, so that redeliveries have no effect.

use serde_json::json;

use crate::ports::store::{Condition, Item, Store, StoreError};
use crate::records::keys;

/// Zoom retries a delivery for about 85 minutes (5, 20 and 60 minutes apart); a marker
/// kept for a day covers every retry.
pub const MARKER_LIFETIME_SECONDS: i64 = 24 * 3600;

/// Records the event; returns false when it was already recorded.
pub async fn mark_handled(
    store: &dyn Store,
    app_id: &str,
    fingerprint: &str,
    now_seconds: i64,
) -> Result<bool, StoreError> {
    let item = Item::new(keys::zoom_event(app_id, fingerprint), json!({}))
        .expiring_at(now_seconds + MARKER_LIFETIME_SECONDS);
    match store.put(item, Condition::NotExists).await {
        Ok(()) => Ok(true),
        Err(StoreError::ConditionFailed) => Ok(false),
        Err(error) => Err(error),
    }
}

/// Forgets a marker, so that an event whose handling failed can be handled on retry.
pub async fn unmark(store: &dyn Store, app_id: &str, fingerprint: &str) -> Result<(), StoreError> {
    store
        .delete(&keys::zoom_event(app_id, fingerprint), Condition::None)
        .await
        .map(|_| ())
}
