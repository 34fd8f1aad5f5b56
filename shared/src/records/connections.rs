//! Connection records, the (app, Zoom user) uniqueness item, and the token set item.

use serde::{Deserialize, Serialize};

use crate::domain::connection::Connection;
use crate::ports::store::{Condition, Index, Item, Position, Store, StoreError, WriteOp};
use crate::records::tokens::{self as token_records, TokenSet};
use crate::records::{
    Direction, RecordPage, Versioned, encode, keys, list_page, load, put_next_version, query_all,
};

const LIST_KIND: &str = "CONNS";

/// Points from (app, Zoom user) to the one connection of that pair.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AppUserLink {
    pub connection_id: String,
}

fn item(connection: &Connection) -> Result<Item, StoreError> {
    Ok(
        Item::new(keys::connection(&connection.id), encode(connection)?)
            .with_gsi1(keys::list_entry(
                keys::project_list(&connection.project_id, LIST_KIND),
                connection.created_at,
                &connection.id,
            ))
            .with_gsi2(keys::list_entry(
                keys::app_connections(&connection.zoom_oauth_app_id),
                connection.created_at,
                &connection.id,
            )),
    )
}

/// Stores a new connection with its token set, failing with `ConditionFailed` when the
/// (app, Zoom user) pair already has a connection.
pub async fn insert(
    store: &dyn Store,
    connection: &Connection,
    tokens: &TokenSet,
) -> Result<(), StoreError> {
    let link = AppUserLink {
        connection_id: connection.id.clone(),
    };
    store
        .transact(vec![
            WriteOp::Put(
                Item::new(
                    keys::app_user(&connection.zoom_oauth_app_id, &connection.user_id),
                    encode(&link)?,
                ),
                Condition::NotExists,
            ),
            WriteOp::Put(item(connection)?, Condition::NotExists),
            WriteOp::Put(
                token_records::item(&connection.id, tokens)?,
                Condition::None,
            ),
            // The app must still exist, so a racing app deletion cannot orphan this record.
            WriteOp::Check(keys::app(&connection.zoom_oauth_app_id), Condition::Exists),
        ])
        .await
}

/// Replaces a connection and its token set together, for a new authorization of the same
/// user. Fails with `ConditionFailed` if the connection changed since `expected`.
pub async fn replace_with_tokens(
    store: &dyn Store,
    connection: &Connection,
    expected: u64,
    tokens: &TokenSet,
) -> Result<u64, StoreError> {
    let mut connection_item = item(connection)?;
    connection_item.version = expected + 1;
    let mut token_item = token_records::item(&connection.id, tokens)?;
    // A new token set starts a new version line; in-flight refreshes of the old set fail
    // their version check and re-read.
    token_item.version = chrono::Utc::now().timestamp_micros() as u64;
    store
        .transact(vec![
            WriteOp::Put(connection_item, Condition::Version(expected)),
            WriteOp::Put(token_item, Condition::None),
        ])
        .await?;
    Ok(expected + 1)
}

pub async fn update(
    store: &dyn Store,
    connection: &Connection,
    expected: u64,
) -> Result<u64, StoreError> {
    put_next_version(store, item(connection)?, expected).await
}

/// Reads a connection of any project; callers check `project_id`.
pub async fn get_any(
    store: &dyn Store,
    connection_id: &str,
) -> Result<Option<Versioned<Connection>>, StoreError> {
    load(store, &keys::connection(connection_id)).await
}

pub async fn get(
    store: &dyn Store,
    project_id: &str,
    connection_id: &str,
) -> Result<Option<Versioned<Connection>>, StoreError> {
    Ok(get_any(store, connection_id)
        .await?
        .filter(|connection| connection.value.project_id == project_id))
}

pub async fn find_by_user(
    store: &dyn Store,
    app_id: &str,
    zoom_user_id: &str,
) -> Result<Option<Versioned<Connection>>, StoreError> {
    let Some(link) = load::<AppUserLink>(store, &keys::app_user(app_id, zoom_user_id)).await?
    else {
        return Ok(None);
    };
    get_any(store, &link.value.connection_id).await
}

/// Deletes the connection, its token set and its uniqueness item.
pub async fn delete(store: &dyn Store, connection: &Connection) -> Result<(), StoreError> {
    store
        .transact(vec![
            WriteOp::Delete(keys::connection(&connection.id), Condition::Exists),
            WriteOp::Delete(keys::connection_tokens(&connection.id), Condition::None),
            WriteOp::Delete(
                keys::app_user(&connection.zoom_oauth_app_id, &connection.user_id),
                Condition::None,
            ),
        ])
        .await
}

/// Filters of the connection list.
#[derive(Clone, Debug, Default)]
pub struct ConnectionFilter {
    pub state: Option<crate::domain::connection::ConnectionState>,
    pub user_id: Option<String>,
    pub zoom_oauth_app_id: Option<String>,
}

impl ConnectionFilter {
    fn accepts(&self, connection: &Connection) -> bool {
        self.state.is_none_or(|state| connection.state == state)
            && self
                .user_id
                .as_deref()
                .is_none_or(|user| connection.user_id == user)
            && self
                .zoom_oauth_app_id
                .as_deref()
                .is_none_or(|app| connection.zoom_oauth_app_id == app)
    }
}

pub async fn list(
    store: &dyn Store,
    project_id: &str,
    filter: &ConnectionFilter,
    page_size: usize,
    start: Option<(Direction, Position)>,
) -> Result<RecordPage<Connection>, StoreError> {
    let pk = keys::project_list(project_id, LIST_KIND);
    list_page(
        store,
        Index::Gsi1,
        &pk,
        page_size,
        start,
        |c: &Connection| filter.accepts(c),
    )
    .await
}

/// Reads every connection of an app.
pub async fn of_app(store: &dyn Store, app_id: &str) -> Result<Vec<Connection>, StoreError> {
    query_all(store, Index::Gsi2, &keys::app_connections(app_id)).await
}

/// Number of connections of an app.
pub async fn count_of_app(store: &dyn Store, app_id: &str) -> Result<usize, StoreError> {
    Ok(of_app(store, app_id).await?.len())
}
