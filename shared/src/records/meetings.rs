//! Meeting mappings: meeting number to the connection of its host, per project.

use crate::domain::meeting_mapping::MeetingMapping;
use crate::ports::store::{Condition, Index, Item, Position, Query, Store, StoreError};
use crate::records::{Direction, RecordPage, decode, encode, keys, list_page, load};

/// Creates or reassigns the mapping of a meeting number.
pub async fn put(store: &dyn Store, mapping: &MeetingMapping) -> Result<(), StoreError> {
    let mut item = Item::new(
        keys::meeting_mapping(&mapping.project_id, &mapping.meeting_id),
        encode(mapping)?,
    )
    .with_gsi1(keys::list_entry(
        keys::connection_meetings(&mapping.connection_id),
        mapping.updated_at,
        &mapping.meeting_id,
    ));
    // Each write gets a new version, so a delete conditioned on the version read does not
    // remove a mapping that was reassigned in between.
    item.version = mapping.updated_at.timestamp_micros().max(1) as u64;
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
///
/// The index entries are only leads: each mapping is read again from the table, which is
/// strongly consistent, and deleted only if it still names this connection at the version
/// read. A mapping reassigned to another connection meanwhile is left alone.
pub async fn delete_all_of_connection(
    store: &dyn Store,
    connection_id: &str,
) -> Result<usize, StoreError> {
    let mut deleted = 0;
    let mut position = None;
    loop {
        let mut query = Query::new(Index::Gsi1, keys::connection_meetings(connection_id));
        query.limit = 25;
        query.start_after = position;
        let page = store.query(query).await?;
        for entry in &page.items {
            let Some(item) = store.get(&entry.key).await? else {
                continue;
            };
            let mapping: MeetingMapping = decode(&item)?;
            if mapping.connection_id != connection_id {
                continue;
            }
            match store
                .delete(&item.key, Condition::Version(item.version))
                .await
            {
                Ok(true) => deleted += 1,
                Ok(false) | Err(StoreError::ConditionFailed) => {}
                Err(error) => return Err(error),
            }
        }
        match page.next {
            Some(next) => position = Some(next),
            None => return Ok(deleted),
        }
    }
}
