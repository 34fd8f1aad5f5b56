//! The storage port, shaped after DynamoDB's model: items addressed by a partition and
//! sort key, conditional writes, all-or-nothing transactions, and queries on one partition
//! of the table or of a global secondary index, paged with an opaque cursor.

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// The primary key of an item, or the key pair of a secondary index entry.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Key {
    pub pk: String,
    pub sk: String,
}

impl Key {
    pub fn new(pk: impl Into<String>, sk: impl Into<String>) -> Self {
        Self {
            pk: pk.into(),
            sk: sk.into(),
        }
    }
}

/// One stored record. `data` is the record body; the other fields are the attributes the
/// store itself reads (keys, optimistic version, expiry).
#[derive(Clone, Debug, PartialEq)]
pub struct Item {
    pub key: Key,
    /// Entry in the first global secondary index: lists of a parent, newest first.
    pub gsi1: Option<Key>,
    /// Entry in the second global secondary index: other groupings of the same records.
    pub gsi2: Option<Key>,
    /// Optimistic version, incremented by the caller on every update.
    pub version: u64,
    /// Expiry as epoch seconds. The store treats an expired item as absent on every read
    /// and condition, because DynamoDB's TTL deletes items up to days late.
    pub expires_at: Option<i64>,
    pub data: serde_json::Value,
}

impl Item {
    pub fn new(key: Key, data: serde_json::Value) -> Self {
        Self {
            key,
            gsi1: None,
            gsi2: None,
            version: 1,
            expires_at: None,
            data,
        }
    }

    pub fn with_gsi1(mut self, key: Key) -> Self {
        self.gsi1 = Some(key);
        self
    }

    pub fn with_gsi2(mut self, key: Key) -> Self {
        self.gsi2 = Some(key);
        self
    }

    pub fn expiring_at(mut self, epoch_seconds: i64) -> Self {
        self.expires_at = Some(epoch_seconds);
        self
    }

    /// Returns the position of this item in a query on `index`, usable as
    /// `Query::start_after`.
    pub fn position(&self, index: Index) -> Position {
        let mut position = BTreeMap::new();
        position.insert("pk".to_owned(), self.key.pk.clone());
        position.insert("sk".to_owned(), self.key.sk.clone());
        let index_key = match index {
            Index::Table => None,
            Index::Gsi1 => self.gsi1.as_ref().map(|k| ("gsi1pk", "gsi1sk", k)),
            Index::Gsi2 => self.gsi2.as_ref().map(|k| ("gsi2pk", "gsi2sk", k)),
        };
        if let Some((pk_name, sk_name, key)) = index_key {
            position.insert(pk_name.to_owned(), key.pk.clone());
            position.insert(sk_name.to_owned(), key.sk.clone());
        }
        Position(position)
    }
}

/// Resume point of a query: the key attributes of the last item already returned, as
/// DynamoDB's `ExclusiveStartKey` expects them. Callers treat it as opaque.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position(pub BTreeMap<String, String>);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Index {
    Table,
    Gsi1,
    Gsi2,
}

/// Requirement on the stored item for a write to happen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Condition {
    None,
    /// No live item has this key (an expired one counts as absent).
    NotExists,
    /// A live item has this key.
    Exists,
    /// A live item has this key and this version.
    Version(u64),
}

#[derive(Clone, Debug)]
pub enum WriteOp {
    Put(Item, Condition),
    Delete(Key, Condition),
    /// Only checks a condition, for example that a parent record still exists.
    Check(Key, Condition),
}

#[derive(Clone, Debug)]
pub struct Query {
    pub index: Index,
    pub pk: String,
    pub sk_prefix: Option<String>,
    /// Newest first when the sort keys start with a timestamp.
    pub descending: bool,
    pub limit: usize,
    pub start_after: Option<Position>,
}

impl Query {
    pub fn new(index: Index, pk: impl Into<String>) -> Self {
        Self {
            index,
            pk: pk.into(),
            sk_prefix: None,
            descending: false,
            limit: 100,
            start_after: None,
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct Page {
    pub items: Vec<Item>,
    /// Set when more items may follow.
    pub next: Option<Position>,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("conditional write failed")]
    ConditionFailed,
    #[error("storage request failed: {0}")]
    Unavailable(String),
    #[error("stored item is malformed: {0}")]
    Corrupt(String),
    /// A query's start position does not belong to the queried partition or index.
    #[error("the start position does not fit the query")]
    InvalidPosition,
}

#[async_trait]
pub trait Store: Send + Sync {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError>;
    async fn put(&self, item: Item, condition: Condition) -> Result<(), StoreError>;
    /// Returns whether a live item was deleted.
    async fn delete(&self, key: &Key, condition: Condition) -> Result<bool, StoreError>;
    /// Applies every operation or none; any failed condition fails the whole call with
    /// `ConditionFailed`. At most 25 operations, as in DynamoDB's `TransactWriteItems`
    /// before 2022 and in its batch writes.
    async fn transact(&self, operations: Vec<WriteOp>) -> Result<(), StoreError>;
    async fn query(&self, query: Query) -> Result<Page, StoreError>;
}
