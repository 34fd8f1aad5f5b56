//! Zoom OAuth app records.

use crate::domain::app::ZoomOAuthApp;
use crate::ports::store::Position;
use crate::ports::store::{Condition, Index, Item, Store, StoreError};
use crate::records::{
    Direction, RecordPage, Versioned, encode, keys, list_page, load, put_next_version, query_all,
};

const LIST_KIND: &str = "APPS";

fn item(app: &ZoomOAuthApp) -> Result<Item, StoreError> {
    Ok(
        Item::new(keys::app(&app.id), encode(app)?).with_gsi1(keys::list_entry(
            keys::project_list(&app.project_id, LIST_KIND),
            app.created_at,
            &app.id,
        )),
    )
}

pub async fn insert(store: &dyn Store, app: &ZoomOAuthApp) -> Result<(), StoreError> {
    store.put(item(app)?, Condition::NotExists).await
}

/// Reads an app of any project; callers check `project_id`.
pub async fn get_any(
    store: &dyn Store,
    app_id: &str,
) -> Result<Option<Versioned<ZoomOAuthApp>>, StoreError> {
    load(store, &keys::app(app_id)).await
}

/// Reads an app if it belongs to `project_id`.
pub async fn get(
    store: &dyn Store,
    project_id: &str,
    app_id: &str,
) -> Result<Option<Versioned<ZoomOAuthApp>>, StoreError> {
    Ok(get_any(store, app_id)
        .await?
        .filter(|app| app.value.project_id == project_id))
}

/// Writes `app` if its stored version is still `expected`.
pub async fn update(
    store: &dyn Store,
    app: &ZoomOAuthApp,
    expected: u64,
) -> Result<u64, StoreError> {
    put_next_version(store, item(app)?, expected).await
}

pub async fn delete(store: &dyn Store, app_id: &str) -> Result<bool, StoreError> {
    store.delete(&keys::app(app_id), Condition::Exists).await
}

pub async fn list(
    store: &dyn Store,
    project_id: &str,
    page_size: usize,
    start: Option<(Direction, Position)>,
) -> Result<RecordPage<ZoomOAuthApp>, StoreError> {
    let pk = keys::project_list(project_id, LIST_KIND);
    list_page(
        store,
        Index::Gsi1,
        &pk,
        page_size,
        start,
        |_: &ZoomOAuthApp| true,
    )
    .await
}

/// Reads every app of a project, for choosing the default app. Projects have a handful of
/// apps.
pub async fn all(store: &dyn Store, project_id: &str) -> Result<Vec<ZoomOAuthApp>, StoreError> {
    query_all(
        store,
        Index::Gsi1,
        &keys::project_list(project_id, LIST_KIND),
    )
    .await
}
