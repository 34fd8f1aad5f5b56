//! Bot records: one item per bot, listed per project newest first through GSI1.

use crate::domain::bot::Bot;
use crate::ports::store::{Condition, Index, Item, Position, Store, StoreError};
use crate::records::{
    Direction, RecordPage, Versioned, encode, keys, list_page, load, put_next_version,
};

const LIST_KIND: &str = "BOTS";

fn item(bot: &Bot) -> Result<Item, StoreError> {
    Ok(
        Item::new(keys::bot(&bot.id), encode(bot)?).with_gsi1(keys::list_entry(
            keys::project_list(&bot.project_id, LIST_KIND),
            bot.created_at,
            &bot.id,
        )),
    )
}

/// Stores a new bot at version 1; fails with `ConditionFailed` if the id is taken.
pub async fn insert(store: &dyn Store, bot: &Bot) -> Result<(), StoreError> {
    store.put(item(bot)?, Condition::NotExists).await
}

/// Writes `bot` if the stored version is still `expected`, and returns the new version.
/// Fails with `ConditionFailed` when another writer got there first.
pub async fn update(store: &dyn Store, bot: &Bot, expected: u64) -> Result<u64, StoreError> {
    put_next_version(store, item(bot)?, expected).await
}

/// Reads a bot of any project; callers outside the join worker use [`get`].
pub async fn get_any(
    store: &dyn Store,
    bot_id: &str,
) -> Result<Option<Versioned<Bot>>, StoreError> {
    load(store, &keys::bot(bot_id)).await
}

/// Reads a bot of `project_id`; a bot of another project reads as absent.
pub async fn get(
    store: &dyn Store,
    project_id: &str,
    bot_id: &str,
) -> Result<Option<Versioned<Bot>>, StoreError> {
    Ok(get_any(store, bot_id)
        .await?
        .filter(|bot| bot.value.project_id == project_id))
}

/// Deletes a bot, for a launch whose first attempt could not be queued.
pub async fn delete(store: &dyn Store, bot_id: &str) -> Result<bool, StoreError> {
    store.delete(&keys::bot(bot_id), Condition::None).await
}

/// Reads one page of the project's bots, newest first.
pub async fn list(
    store: &dyn Store,
    project_id: &str,
    page_size: usize,
    start: Option<(Direction, Position)>,
) -> Result<RecordPage<Bot>, StoreError> {
    let pk = keys::project_list(project_id, LIST_KIND);
    list_page(store, Index::Gsi1, &pk, page_size, start, |_: &Bot| true).await
}
