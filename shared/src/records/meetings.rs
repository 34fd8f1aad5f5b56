//! Meeting mappings: meeting number to the connection of its host, per project.

use crate::domain::meeting_mapping::MeetingMapping;
use crate::ports::store::{Condition, Index, Item, Position, Query, Store, StoreError};
use crate::records::{Direction, RecordPage, decode, encode, keys, list_page, load};

/// Creates or reassigns the mapping of a meeting number.
pub async fn put(store: &dyn Store, mapping: &MeetingMapping) -> Result<(), StoreError> {
    let item = Item::new(
        keys::meeting_mapping(&mapping.project_id, &mapping.meeting_id),
        encode(mapping)?,
    )
    .with_gsi1(keys::list_entry(
        keys::connection_meetings(&mapping.connection_id),
        mapping.updated_at,
        &mapping.meeting_id,
    ));
    store.put(item, Condition::None).await
}

pub async fn get(
    store: &dyn Store,
    project_id: &str,
    meeting_number: &str,
) -> Result<Option<MeetingMapping>, StoreError> {
    Ok(
        load(store, &keys::meeting_mapping(project_id, meeting_number))
            .await?
            .map(|record| record.value),
    )
}

pub async fn delete(
    store: &dyn Store,
    project_id: &str,
    meeting_number: &str,
) -> Result<bool, StoreError> {
    store
        .delete(
            &keys::meeting_mapping(project_id, meeting_number),
            Condition::None,
        )
        .await
}

pub async fn list(
    store: &dyn Store,
    connection_id: &str,
    page_size: usize,
    start: Option<(Direction, Position)>,
) -> Result<RecordPage<MeetingMapping>, StoreError> {
    let pk = keys::connection_meetings(connection_id);
    list_page(
        store,
        Index::Gsi1,
        &pk,
        page_size,
        start,
        |_: &MeetingMapping| true,
    )
    .await
}

/// Deletes every mapping that still points at the connection.
pub async fn delete_all_of_connection(
    store: &dyn Store,
    connection_id: &str,
) -> Result<usize, StoreError> {
    let mut deleted = 0;
    loop {
        let mut query = Query::new(Index::Gsi1, keys::connection_meetings(connection_id));
        query.limit = 25;
        let page = store.query(query).await?;
        if page.items.is_empty() {
            return Ok(deleted);
        }
        for item in &page.items {
            let mapping: MeetingMapping = decode(item)?;
            store.delete(&item.key, Condition::None).await?;
            if mapping.connection_id == connection_id {
                deleted += 1;
            }
        }
    }
}
