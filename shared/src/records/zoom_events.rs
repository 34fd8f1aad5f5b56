//! Markers of Zoom events already handled, so that redeliveries have no effect.

use serde_json::json;

use crate::ports::store::{Condition, Item, Store, StoreError};
use crate::records::keys;

/// Zoom retries a delivery for about 85 minutes (5, 20 and 60 minutes apart); a marker
/// kept for a day covers every retry.
pub const MARKER_LIFETIME_SECONDS: i64 = 24 * 3600;

/// Reports whether the event was already handled.
pub async fn is_handled(
    store: &dyn Store,
    app_id: &str,
    fingerprint: &str,
) -> Result<bool, StoreError> {
    Ok(store
        .get(&keys::zoom_event(app_id, fingerprint))
        .await?
        .is_some())
}

/// Records the event as handled.
pub async fn mark_handled(
    store: &dyn Store,
    app_id: &str,
    fingerprint: &str,
    now_seconds: i64,
) -> Result<(), StoreError> {
    let item = Item::new(keys::zoom_event(app_id, fingerprint), json!({}))
        .expiring_at(now_seconds + MARKER_LIFETIME_SECONDS);
    store.put(item, Condition::None).await
}
