//! Webhook subscription and delivery records.

use chrono::{DateTime, Utc};

use crate::domain::webhook::{Delivery, DeliveryState, Subscription, Trigger};
use crate::ports::store::{Condition, Index, Item, Position, Query, Store, StoreError};
use crate::records::{
    Direction, RecordPage, Versioned, encode, keys, list_page, load, put_next_version, query_all,
};

const SUBSCRIPTIONS: &str = "WEBHOOKS";
const DELIVERIES: &str = "DELIVERIES";

pub async fn insert_subscription(
    store: &dyn Store,
    subscription: &Subscription,
) -> Result<(), StoreError> {
    let item = Item::new(keys::subscription(&subscription.id), encode(subscription)?).with_gsi1(
        keys::list_entry(
            keys::project_list(&subscription.project_id, SUBSCRIPTIONS),
            subscription.created_at,
            &subscription.id,
        ),
    );
    store.put(item, Condition::NotExists).await
}

pub async fn get_subscription(
    store: &dyn Store,
    project_id: &str,
    subscription_id: &str,
) -> Result<Option<Subscription>, StoreError> {
    Ok(
        load::<Subscription>(store, &keys::subscription(subscription_id))
            .await?
            .map(|record| record.value)
            .filter(|subscription| subscription.project_id == project_id),
    )
}

pub async fn delete_subscription(
    store: &dyn Store,
    subscription_id: &str,
) -> Result<bool, StoreError> {
    store
        .delete(&keys::subscription(subscription_id), Condition::Exists)
        .await
}

pub async fn list_subscriptions(
    store: &dyn Store,
    project_id: &str,
    page_size: usize,
    start: Option<(Direction, Position)>,
) -> Result<RecordPage<Subscription>, StoreError> {
    let pk = keys::project_list(project_id, SUBSCRIPTIONS);
    list_page(
        store,
        Index::Gsi1,
        &pk,
        page_size,
        start,
        |_: &Subscription| true,
    )
    .await
}

/// Reads every subscription of the project that listens to `trigger`.
pub async fn subscribers(
    store: &dyn Store,
    project_id: &str,
    trigger: Trigger,
) -> Result<Vec<Subscription>, StoreError> {
    let pk = keys::project_list(project_id, SUBSCRIPTIONS);
    let all: Vec<Subscription> = query_all(store, Index::Gsi1, &pk).await?;
    Ok(all
        .into_iter()
        .filter(|s| s.triggers.contains(&trigger))
        .collect())
}

/// GSI2 partition of the deliveries still pending, oldest first, where the keeper finds
/// deliveries whose queue message was lost.
pub const PENDING_DELIVERIES: &str = "DELIVERIES#PENDING";

fn delivery_item(delivery: &Delivery) -> Result<Item, StoreError> {
    let mut item =
        Item::new(keys::delivery(&delivery.id), encode(delivery)?).with_gsi1(keys::list_entry(
            keys::project_list(&delivery.project_id, DELIVERIES),
            delivery.created_at,
            &delivery.id,
        ));
    if delivery.state == DeliveryState::Pending {
        item = item.with_gsi2(keys::list_entry(
            PENDING_DELIVERIES.to_owned(),
            delivery.created_at,
            &delivery.id,
        ));
    }
    Ok(item)
}

/// Pending deliveries created before `before`, oldest first, at most `limit`.
pub async fn stale_pending(
    store: &dyn Store,
    before: DateTime<Utc>,
    limit: usize,
) -> Result<Vec<Delivery>, StoreError> {
    let mut query = Query::new(Index::Gsi2, PENDING_DELIVERIES);
    query.limit = limit;
    let page = store.query(query).await?;
    let mut stale = Vec::new();
    for item in &page.items {
        let delivery: Delivery = crate::records::decode(item)?;
        if delivery.created_at >= before {
            break;
        }
        stale.push(delivery);
    }
    Ok(stale)
}

pub async fn insert_delivery(store: &dyn Store, delivery: &Delivery) -> Result<(), StoreError> {
    store
        .put(delivery_item(delivery)?, Condition::NotExists)
        .await
}

pub async fn get_delivery(
    store: &dyn Store,
    delivery_id: &str,
) -> Result<Option<Versioned<Delivery>>, StoreError> {
    load(store, &keys::delivery(delivery_id)).await
}

pub async fn update_delivery(
    store: &dyn Store,
    delivery: &Delivery,
    expected: u64,
) -> Result<u64, StoreError> {
    put_next_version(store, delivery_item(delivery)?, expected).await
}

/// Deliveries of a project, newest first.
pub async fn list_deliveries(
    store: &dyn Store,
    project_id: &str,
    page_size: usize,
    start: Option<(Direction, Position)>,
) -> Result<RecordPage<Delivery>, StoreError> {
    let pk = keys::project_list(project_id, DELIVERIES);
    list_page(store, Index::Gsi1, &pk, page_size, start, |_: &Delivery| {
        true
    })
    .await
}
