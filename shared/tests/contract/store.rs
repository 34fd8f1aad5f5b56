//! Contract of the `Store` port.

use std::collections::HashSet;

use serde_json::json;
use shared::adapters::dynamodb::{DynamoStore, create_table};
use shared::adapters::sqlite::SqliteDb;
use shared::ports::store::{Condition, Index, Item, Key, Page, Query, Store, StoreError, WriteOp};
use tokio::sync::Barrier;

use crate::{moto_config, now_seconds, unique_name};

fn sqlite_store() -> impl Store {
    SqliteDb::in_memory()
        .expect("in-memory SQLite database")
        .store()
}

async fn dynamo_store() -> impl Store {
    let client = aws_sdk_dynamodb::Client::new(&moto_config().await);
    let table = unique_name("contract");
    create_table(&client, &table)
        .await
        .unwrap_or_else(|error| panic!("creating table {table} on moto failed: {error}"));
    DynamoStore::new(client, table)
}

/// Runs the contract `$name` against each backend, as the tests `$name::sqlite` and
/// `$name::dynamodb`.
macro_rules! store_contract {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test]
                async fn sqlite() {
                    super::$name(&super::sqlite_store()).await;
                }

                #[tokio::test]
                async fn dynamodb() {
                    super::$name(&super::dynamo_store().await).await;
                }
            }
        )*
    };
}

store_contract!(
    round_trip,
    not_exists_conflict,
    version_condition,
    exists_condition,
    expired_items_are_absent,
    transact_is_all_or_nothing,
    transact_applies_every_operation,
    query_table_pages,
    query_table_descending_with_prefix,
    query_gsi1_pages_both_directions,
    query_gsi2_with_prefix,
    query_gsi_ties_page_without_gaps,
    concurrent_version_updates_have_one_winner,
);

fn assert_condition_failed<T: std::fmt::Debug>(result: Result<T, StoreError>, case: &str) {
    assert!(
        matches!(result, Err(StoreError::ConditionFailed)),
        "{case}: expected ConditionFailed, got {result:?}"
    );
}

async fn get(store: &dyn Store, key: &Key) -> Option<Item> {
    store.get(key).await.expect("get")
}

/// Follows `next` from page to page and returns every page. Panics after 20 pages, which
/// is more than any test here needs, so a cursor that never ends fails instead of hanging.
async fn all_pages(store: &dyn Store, query: Query) -> Vec<Page> {
    let mut pages = Vec::new();
    let mut query = query;
    loop {
        let page = store.query(query.clone()).await.expect("query");
        let next = page.next.clone();
        pages.push(page);
        assert!(pages.len() <= 20, "query returned more than 20 pages");
        match next {
            Some(position) => query.start_after = Some(position),
            None => return pages,
        }
    }
}

fn sort_keys(items: &[Item]) -> Vec<&str> {
    items.iter().map(|item| item.key.sk.as_str()).collect()
}

fn page_sizes(pages: &[Page]) -> Vec<usize> {
    pages.iter().map(|page| page.items.len()).collect()
}

fn flatten(pages: Vec<Page>) -> Vec<Item> {
    pages.into_iter().flat_map(|page| page.items).collect()
}

async fn round_trip(store: &dyn Store) {
    let key = Key::new("connection#1", "meta");
    let item = Item::new(
        key.clone(),
        json!({"name": "Acme", "scopes": ["meeting:read"], "nested": {"n": 1.5}}),
    )
    .with_gsi1(Key::new("project#1", "2024-05-01T10:00:00Z"))
    .with_gsi2(Key::new("account#9", "connection#1"))
    .expiring_at(now_seconds() + 3_600);

    assert_eq!(get(store, &key).await, None);
    store.put(item.clone(), Condition::None).await.expect("put");
    assert_eq!(get(store, &key).await, Some(item.clone()));

    // A put replaces the whole item, so attributes missing from the new one disappear.
    let replacement = Item::new(key.clone(), json!({"name": "Acme 2"}));
    store
        .put(replacement.clone(), Condition::None)
        .await
        .expect("replacing put");
    assert_eq!(get(store, &key).await, Some(replacement));

    assert!(store.delete(&key, Condition::None).await.expect("delete"));
    assert_eq!(get(store, &key).await, None);
    assert!(
        !store
            .delete(&key, Condition::None)
            .await
            .expect("second delete"),
        "deleting an absent item reports that nothing was deleted"
    );
}

async fn not_exists_conflict(store: &dyn Store) {
    let key = Key::new("bot#1", "meta");
    let first = Item::new(key.clone(), json!({"owner": "first"}));
    let second = Item::new(key.clone(), json!({"owner": "second"}));

    store
        .put(first.clone(), Condition::NotExists)
        .await
        .expect("first insert");
    assert_condition_failed(
        store.put(second, Condition::NotExists).await,
        "second insert",
    );

    assert_eq!(get(store, &key).await, Some(first));
}

async fn version_condition(store: &dyn Store) {
    let key = Key::new("connection#2", "meta");
    let mut item = Item::new(key.clone(), json!({"step": 1}));
    assert_condition_failed(
        store.put(item.clone(), Condition::Version(1)).await,
        "version condition on an absent item",
    );
    store
        .put(item.clone(), Condition::NotExists)
        .await
        .expect("insert");

    item.version = 2;
    item.data = json!({"step": 2});
    store
        .put(item.clone(), Condition::Version(1))
        .await
        .expect("update from version 1");

    let stale = Item {
        version: 2,
        data: json!({"step": "stale"}),
        ..item.clone()
    };
    assert_condition_failed(
        store.put(stale, Condition::Version(1)).await,
        "update from a stale version",
    );
    assert_eq!(get(store, &key).await, Some(item));

    assert_condition_failed(
        store.delete(&key, Condition::Version(1)).await,
        "delete at a stale version",
    );
    assert!(
        store
            .delete(&key, Condition::Version(2))
            .await
            .expect("delete at the current version")
    );
    assert_eq!(get(store, &key).await, None);
}

async fn exists_condition(store: &dyn Store) {
    let key = Key::new("connection#3", "meta");
    let item = Item::new(key.clone(), json!({"state": "active"}));

    assert_condition_failed(
        store.put(item.clone(), Condition::Exists).await,
        "put with Exists on an absent item",
    );
    assert_eq!(get(store, &key).await, None, "a failed put writes nothing");
    assert_condition_failed(
        store.delete(&key, Condition::Exists).await,
        "delete with Exists on an absent item",
    );

    store.put(item, Condition::None).await.expect("insert");
    let updated = Item::new(key.clone(), json!({"state": "revoked"}));
    store
        .put(updated.clone(), Condition::Exists)
        .await
        .expect("put with Exists on a live item");
    assert_eq!(get(store, &key).await, Some(updated));
    assert!(
        store
            .delete(&key, Condition::Exists)
            .await
            .expect("delete with Exists")
    );
}

async fn expired_items_are_absent(store: &dyn Store) {
    let now = now_seconds();
    let expired_key = Key::new("oauth-state#list", "state#expired");
    let live_key = Key::new("oauth-state#list", "state#live");
    let expired = Item::new(expired_key.clone(), json!({"n": 1}))
        .with_gsi1(Key::new("states", "1"))
        .with_gsi2(Key::new("states", "1"))
        .expiring_at(now - 5);
    let live = Item::new(live_key.clone(), json!({"n": 2}))
        .with_gsi1(Key::new("states", "2"))
        .with_gsi2(Key::new("states", "2"))
        .expiring_at(now + 3_600);
    store
        .put(expired.clone(), Condition::None)
        .await
        .expect("put expired");
    store
        .put(live.clone(), Condition::None)
        .await
        .expect("put live");

    assert_eq!(get(store, &expired_key).await, None);
    assert_eq!(get(store, &live_key).await, Some(live.clone()));

    for (index, pk) in [
        (Index::Table, "oauth-state#list"),
        (Index::Gsi1, "states"),
        (Index::Gsi2, "states"),
    ] {
        let page = store.query(Query::new(index, pk)).await.expect("query");
        assert_eq!(page.items, vec![live.clone()], "query on {index:?}");
        assert_eq!(page.next, None, "query on {index:?}");
    }

    for condition in [Condition::Exists, Condition::Version(1)] {
        assert_condition_failed(
            store.put(expired.clone(), condition).await,
            &format!("{condition:?} on an expired item"),
        );
    }
    assert!(
        !store
            .delete(&expired_key, Condition::None)
            .await
            .expect("delete expired"),
        "deleting an expired item deletes nothing live"
    );

    store
        .put(expired.clone(), Condition::None)
        .await
        .expect("put expired again");
    let revived = Item::new(expired_key.clone(), json!({"n": 3}));
    store
        .put(revived.clone(), Condition::NotExists)
        .await
        .expect("NotExists treats an expired item as absent");
    assert_eq!(get(store, &expired_key).await, Some(revived));
}

async fn transact_is_all_or_nothing(store: &dyn Store) {
    let existing = Item::new(Key::new("bot#7", "meta"), json!({"state": "joining"}));
    store
        .put(existing.clone(), Condition::None)
        .await
        .expect("put existing");
    let new_a = Item::new(Key::new("bot#7", "event#1"), json!({"n": 1}));
    let new_b = Item::new(Key::new("bot#8", "meta"), json!({"n": 2}));
    let missing_parent = Key::new("project#missing", "meta");

    let result = store
        .transact(vec![
            WriteOp::Put(new_a.clone(), Condition::NotExists),
            WriteOp::Put(new_b.clone(), Condition::None),
            WriteOp::Delete(existing.key.clone(), Condition::Exists),
            WriteOp::Check(missing_parent, Condition::Exists),
        ])
        .await;

    assert_condition_failed(result, "transaction with a failing check");
    assert_eq!(get(store, &new_a.key).await, None);
    assert_eq!(get(store, &new_b.key).await, None);
    assert_eq!(get(store, &existing.key).await, Some(existing));
}

async fn transact_applies_every_operation(store: &dyn Store) {
    let parent = Item::new(Key::new("project#2", "meta"), json!({"name": "p"}));
    let old = Item::new(Key::new("project#2", "connection#old"), json!({"n": 0}));
    store
        .put(parent.clone(), Condition::None)
        .await
        .expect("put parent");
    store
        .put(old.clone(), Condition::None)
        .await
        .expect("put old");
    let new = Item::new(Key::new("project#2", "connection#new"), json!({"n": 1}));

    store
        .transact(vec![
            WriteOp::Check(parent.key.clone(), Condition::Version(1)),
            WriteOp::Put(new.clone(), Condition::NotExists),
            WriteOp::Delete(old.key.clone(), Condition::Version(1)),
            WriteOp::Check(Key::new("any", "key"), Condition::None),
        ])
        .await
        .expect("transaction whose conditions hold");

    assert_eq!(get(store, &new.key).await, Some(new));
    assert_eq!(get(store, &old.key).await, None);
    assert_eq!(get(store, &parent.key).await, Some(parent));
    store.transact(Vec::new()).await.expect("empty transaction");
}

/// Puts items `item#01`..`item#07` of partition `list#1`, with `item#04` expired, plus
/// neighbours that no query below may return.
async fn put_table_list(store: &dyn Store) {
    let now = now_seconds();
    for n in 1..=7 {
        let mut item = Item::new(Key::new("list#1", format!("item#{n:02}")), json!({"n": n}));
        if n == 4 {
            item = item.expiring_at(now - 1);
        }
        store.put(item, Condition::None).await.expect("put item");
    }
    for (pk, sk) in [
        ("list#1", "other#01"),
        ("list#1", "a"),
        ("list#2", "item#01"),
    ] {
        store
            .put(Item::new(Key::new(pk, sk), json!(null)), Condition::None)
            .await
            .expect("put neighbour");
    }
}

async fn query_table_pages(store: &dyn Store) {
    put_table_list(store).await;
    let mut query = Query::new(Index::Table, "list#1");
    query.sk_prefix = Some("item#".to_owned());
    query.limit = 2;

    let pages = all_pages(store, query).await;

    assert_eq!(page_sizes(&pages), [2, 2, 2]);
    assert_eq!(
        sort_keys(&flatten(pages)),
        [
            "item#01", "item#02", "item#03", "item#05", "item#06", "item#07"
        ]
    );

    let whole = store
        .query(Query::new(Index::Table, "list#1"))
        .await
        .expect("query without prefix");
    assert_eq!(whole.next, None);
    assert_eq!(
        sort_keys(&whole.items),
        [
            "a", "item#01", "item#02", "item#03", "item#05", "item#06", "item#07", "other#01"
        ]
    );
}

async fn query_table_descending_with_prefix(store: &dyn Store) {
    put_table_list(store).await;
    let mut query = Query::new(Index::Table, "list#1");
    query.sk_prefix = Some("item#".to_owned());
    query.descending = true;
    query.limit = 4;

    let pages = all_pages(store, query).await;

    assert_eq!(page_sizes(&pages), [4, 2]);
    assert_eq!(
        sort_keys(&flatten(pages)),
        [
            "item#07", "item#06", "item#05", "item#03", "item#02", "item#01"
        ]
    );

    let mut narrow = Query::new(Index::Table, "list#1");
    narrow.sk_prefix = Some("item#0".to_owned());
    narrow.limit = 6;
    let page = store.query(narrow).await.expect("query with exact limit");
    assert_eq!(page.items.len(), 6);
    assert_eq!(
        page.next, None,
        "no position when the last item was returned"
    );
}

/// Puts seven items under GSI1 partition `project#1`, with sort keys `t01`..`t07` that run
/// opposite to the table sort keys, so that the test checks the index order.
async fn put_gsi1_list(store: &dyn Store) {
    for n in 1..=7 {
        let item = Item::new(
            Key::new(format!("bot#{n}"), format!("meta#{}", 8 - n)),
            json!({"n": n}),
        )
        .with_gsi1(Key::new("project#1", format!("t{n:02}")));
        store.put(item, Condition::None).await.expect("put item");
    }
    let elsewhere =
        Item::new(Key::new("bot#99", "meta"), json!(null)).with_gsi1(Key::new("project#2", "t01"));
    store
        .put(elsewhere, Condition::None)
        .await
        .expect("put other project");
    let unindexed = Item::new(Key::new("bot#100", "meta"), json!(null));
    store
        .put(unindexed, Condition::None)
        .await
        .expect("put item without index key");
}

fn gsi1_sort_keys(items: &[Item]) -> Vec<&str> {
    items
        .iter()
        .map(|item| item.gsi1.as_ref().expect("gsi1 key").sk.as_str())
        .collect()
}

async fn query_gsi1_pages_both_directions(store: &dyn Store) {
    put_gsi1_list(store).await;

    let mut ascending = Query::new(Index::Gsi1, "project#1");
    ascending.limit = 3;
    let pages = all_pages(store, ascending).await;
    assert_eq!(page_sizes(&pages), [3, 3, 1]);
    assert_eq!(
        gsi1_sort_keys(&flatten(pages)),
        ["t01", "t02", "t03", "t04", "t05", "t06", "t07"]
    );

    let mut descending = Query::new(Index::Gsi1, "project#1");
    descending.limit = 3;
    descending.descending = true;
    let pages = all_pages(store, descending).await;
    assert_eq!(page_sizes(&pages), [3, 3, 1]);
    let items = flatten(pages);
    assert_eq!(
        gsi1_sort_keys(&items),
        ["t07", "t06", "t05", "t04", "t03", "t02", "t01"]
    );
    assert_eq!(items[0].key, Key::new("bot#7", "meta#1"));
    assert_eq!(items[0].data, json!({"n": 7}));
}

async fn query_gsi2_with_prefix(store: &dyn Store) {
    for (n, sk) in [
        "webhook#b",
        "webhook#a",
        "token#a",
        "webhook#c",
        "webhook#d",
    ]
    .into_iter()
    .enumerate()
    {
        let item = Item::new(Key::new(format!("record#{n}"), "meta"), json!({"n": n}))
            .with_gsi2(Key::new("account#1", sk));
        store.put(item, Condition::None).await.expect("put item");
    }

    let mut query = Query::new(Index::Gsi2, "account#1");
    query.sk_prefix = Some("webhook#".to_owned());
    query.limit = 3;
    let pages = all_pages(store, query.clone()).await;
    assert_eq!(page_sizes(&pages), [3, 1]);
    let gsi2_sort_keys = |items: &[Item]| -> Vec<String> {
        items
            .iter()
            .map(|item| item.gsi2.as_ref().expect("gsi2 key").sk.clone())
            .collect()
    };
    assert_eq!(
        gsi2_sort_keys(&flatten(pages)),
        ["webhook#a", "webhook#b", "webhook#c", "webhook#d"]
    );

    query.descending = true;
    let pages = all_pages(store, query).await;
    assert_eq!(page_sizes(&pages), [3, 1]);
    assert_eq!(
        gsi2_sort_keys(&flatten(pages)),
        ["webhook#d", "webhook#c", "webhook#b", "webhook#a"]
    );
}

/// Several items share one GSI sort key. DynamoDB leaves their relative order open, so the
/// test checks only that paging returns each item once and keeps the index order.
async fn query_gsi_ties_page_without_gaps(store: &dyn Store) {
    let mut expected = HashSet::new();
    for n in 0..9 {
        let timestamp = format!("2024-05-0{}", n / 3 + 1);
        let key = Key::new(format!("bot#{n}"), "meta");
        expected.insert(key.clone());
        let item = Item::new(key, json!({"n": n})).with_gsi1(Key::new("project#ties", timestamp));
        store.put(item, Condition::None).await.expect("put item");
    }

    for descending in [false, true] {
        let mut query = Query::new(Index::Gsi1, "project#ties");
        query.limit = 2;
        query.descending = descending;
        let pages = all_pages(store, query).await;
        assert_eq!(
            page_sizes(&pages),
            [2, 2, 2, 2, 1],
            "descending: {descending}"
        );
        let items = flatten(pages);

        let keys: Vec<Key> = items.iter().map(|item| item.key.clone()).collect();
        let unique: HashSet<Key> = keys.iter().cloned().collect();
        assert_eq!(
            unique.len(),
            keys.len(),
            "duplicates, descending: {descending}"
        );
        assert_eq!(unique, expected, "descending: {descending}");

        let mut index_order = gsi1_sort_keys(&items);
        if descending {
            index_order.reverse();
        }
        assert!(
            index_order.is_sorted(),
            "index order broken, descending: {descending}: {index_order:?}"
        );
    }
}

/// Two tasks read the same version, then each writes its own fields with
/// `Condition::Version` of what it read. The barrier makes both reads happen before
/// either write, which is the race optimistic locking exists for.
async fn concurrent_version_updates_have_one_winner(store: &dyn Store) {
    let key = Key::new("connection#race", "meta");
    store
        .put(
            Item::new(key.clone(), json!({"writer": "none"})),
            Condition::NotExists,
        )
        .await
        .expect("insert");
    let barrier = Barrier::new(2);

    let update = |writer: &'static str| {
        let key = key.clone();
        let barrier = &barrier;
        async move {
            let mut item = store.get(&key).await.expect("read").expect("item exists");
            barrier.wait().await;
            let read_version = item.version;
            item.version += 1;
            item.data = json!({"writer": writer, "field": format!("{writer}-value")});
            let result = store
                .put(item.clone(), Condition::Version(read_version))
                .await;
            (item, result)
        }
    };
    let ((item_a, result_a), (item_b, result_b)) = tokio::join!(update("a"), update("b"));

    let winners: Vec<&Item> = [(&item_a, &result_a), (&item_b, &result_b)]
        .into_iter()
        .filter(|(_, result)| result.is_ok())
        .map(|(item, _)| item)
        .collect();
    assert_eq!(winners.len(), 1, "results: {result_a:?}, {result_b:?}");
    for result in [&result_a, &result_b] {
        assert!(
            matches!(result, Ok(()) | Err(StoreError::ConditionFailed)),
            "unexpected result {result:?}"
        );
    }
    let stored = get(store, &key).await.expect("item exists");
    assert_eq!(&stored, winners[0]);
    assert_eq!(stored.version, 2);
}
