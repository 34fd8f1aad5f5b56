//! Typed records on top of the storage port: the single-table key design and the
//! read-modify-write helpers every repository shares. See `shared/KEYS.md` for the table of
//! item types and their keys.

pub mod apps;
pub mod bots;
pub mod connections;
pub mod keys;
pub mod meetings;
pub mod oauth_states;
pub mod projects;
pub mod tokens;
pub mod webhooks;
pub mod zoom_events;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::ports::store::{Condition, Index, Item, Key, Page, Position, Query, Store, StoreError};

/// A record read from the store together with the version it was read at.
#[derive(Clone, Debug)]
pub struct Versioned<T> {
    pub value: T,
    pub version: u64,
}

pub fn decode<T: DeserializeOwned>(item: &Item) -> Result<T, StoreError> {
    serde_json::from_value(item.data.clone()).map_err(|error| {
        StoreError::Corrupt(format!("item {}/{}: {error}", item.key.pk, item.key.sk))
    })
}

pub fn encode<T: Serialize>(value: &T) -> Result<serde_json::Value, StoreError> {
    serde_json::to_value(value).map_err(|error| StoreError::Corrupt(error.to_string()))
}

pub async fn load<T: DeserializeOwned>(
    store: &dyn Store,
    key: &Key,
) -> Result<Option<Versioned<T>>, StoreError> {
    match store.get(key).await? {
        Some(item) => Ok(Some(Versioned {
            value: decode(&item)?,
            version: item.version,
        })),
        None => Ok(None),
    }
}

/// Reads every record of one partition of `index`, page by page. For partitions that stay
/// small, such as a project's apps or webhook subscriptions.
pub async fn query_all<T: DeserializeOwned>(
    store: &dyn Store,
    index: Index,
    pk: &str,
) -> Result<Vec<T>, StoreError> {
    let mut records = Vec::new();
    let mut position = None;
    loop {
        let mut query = Query::new(index, pk);
        query.start_after = position;
        let page = store.query(query).await?;
        for item in &page.items {
            records.push(decode(item)?);
        }
        match page.next {
            Some(next) => position = Some(next),
            None => return Ok(records),
        }
    }
}

/// One page of records from a query, newest first, with the positions to continue
/// forwards and backwards.
#[derive(Clone, Debug)]
pub struct RecordPage<T> {
    pub records: Vec<T>,
    pub next: Option<Position>,
    pub previous: Option<Position>,
}

/// Direction of a page request relative to a cursor position.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    Forward,
    Backward,
}

/// Reads one page of a newest-first list, keeping only records that `keep` accepts.
///
/// Filtered-out records are skipped by reading further pages of the store, so a page contains
/// `page_size` records whenever that many match. `start` is the position of the last
/// record already shown (forward) or the first (backward).
pub async fn list_page<T: DeserializeOwned>(
    store: &dyn Store,
    index: Index,
    pk: &str,
    page_size: usize,
    start: Option<(Direction, Position)>,
    keep: impl Fn(&T) -> bool,
) -> Result<RecordPage<T>, StoreError> {
    let (direction, mut position) = match start {
        Some((direction, position)) => (direction, Some(position)),
        None => (Direction::Forward, None),
    };
    if let Some(start) = &position
        && !position_fits(start, index, pk)
    {
        return Err(StoreError::InvalidPosition);
    }
    let had_start = position.is_some();
    let mut matched: Vec<(T, Position)> = Vec::new();
    let mut more = false;

    loop {
        let mut query = Query::new(index, pk);
        query.descending = direction == Direction::Forward;
        query.limit = page_size + 1;
        query.start_after = position.clone();
        let Page { items, next } = store.query(query).await?;

        for item in &items {
            let record: T = decode(item)?;
            if keep(&record) {
                if matched.len() == page_size {
                    more = true;
                    break;
                }
                matched.push((record, item.position(index)));
            }
        }
        if more || next.is_none() {
            break;
        }
        position = next;
    }

    if direction == Direction::Backward {
        matched.reverse();
    }
    let first = matched.first().map(|(_, position)| position.clone());
    let last = matched.last().map(|(_, position)| position.clone());
    let (next, previous) = match direction {
        Direction::Forward => (
            if more { last } else { None },
            if had_start { first } else { None },
        ),
        // Going backwards always starts from a record that exists after this page.
        Direction::Backward => (last, if more { first } else { None }),
    };
    Ok(RecordPage {
        records: matched.into_iter().map(|(record, _)| record).collect(),
        next,
        previous,
    })
}

/// Reports whether a cursor's position has every key attribute a query on `index` needs, inside
/// the partition `pk`. A forged or stale cursor fails here instead of in the store.
fn position_fits(position: &Position, index: Index, pk: &str) -> bool {
    let (index_pk, index_sk) = match index {
        Index::Table => ("pk", "sk"),
        Index::Gsi1 => ("gsi1pk", "gsi1sk"),
        Index::Gsi2 => ("gsi2pk", "gsi2sk"),
    };
    let fields = &position.0;
    let allowed = ["pk", "sk", index_pk, index_sk];
    // DynamoDB rejects key values over 1024 bytes (sort keys) with a validation error.
    if fields.values().any(|value| value.len() > 1024) {
        return false;
    }
    fields.get(index_pk).map(String::as_str) == Some(pk)
        && ["pk", "sk", index_sk]
            .iter()
            .all(|name| fields.get(*name).is_some_and(|v| !v.is_empty()))
        && fields.keys().all(|name| allowed.contains(&name.as_str()))
}

/// Writes `item` if the stored version is still `expected`, as version `expected + 1`.
/// Fails with `ConditionFailed` when another writer got there first.
pub async fn put_next_version(
    store: &dyn Store,
    mut item: Item,
    expected: u64,
) -> Result<u64, StoreError> {
    item.version = expected + 1;
    store.put(item, Condition::Version(expected)).await?;
    Ok(expected + 1)
}
