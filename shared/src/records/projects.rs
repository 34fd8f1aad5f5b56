//! Project and API key records.

use crate::domain::project::{ApiKeyRecord, Project};
use crate::ports::store::{Condition, Item, Store, StoreError, WriteOp};
use crate::records::{Versioned, encode, keys, load};

/// Stores a new project and its first API key hash in one transaction.
pub async fn insert(
    store: &dyn Store,
    project: &Project,
    api_key_hash: &str,
    api_key: &ApiKeyRecord,
) -> Result<(), StoreError> {
    store
        .transact(vec![
            WriteOp::Put(
                Item::new(keys::project(&project.id), encode(project)?),
                Condition::NotExists,
            ),
            WriteOp::Put(
                Item::new(keys::api_key(api_key_hash), encode(api_key)?),
                Condition::NotExists,
            ),
        ])
        .await
}

pub async fn get(store: &dyn Store, project_id: &str) -> Result<Option<Project>, StoreError> {
    Ok(load::<Project>(store, &keys::project(project_id))
        .await?
        .map(|record| record.value))
}

pub async fn find_api_key(
    store: &dyn Store,
    api_key_hash: &str,
) -> Result<Option<Versioned<ApiKeyRecord>>, StoreError> {
    load(store, &keys::api_key(api_key_hash)).await
}
