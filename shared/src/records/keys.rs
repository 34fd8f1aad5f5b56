//! Key builders for every item type of the single table. Partition keys start with the
//! item type so that one table contains all of them without collisions.

use chrono::{DateTime, Utc};

use crate::domain::time::format_timestamp;
use crate::ports::store::Key;

pub fn project(project_id: &str) -> Key {
    Key::new(format!("PROJECT#{project_id}"), "PROJECT")
}

pub fn api_key(hash: &str) -> Key {
    Key::new(format!("APIKEY#{hash}"), "APIKEY")
}

pub fn app(app_id: &str) -> Key {
    Key::new(format!("APP#{app_id}"), "APP")
}

pub fn connection(connection_id: &str) -> Key {
    Key::new(format!("CONN#{connection_id}"), "CONN")
}

/// The token set of a connection, kept apart from the connection so that token rotation
/// and connection updates do not contend for one version.
pub fn connection_tokens(connection_id: &str) -> Key {
    Key::new(format!("CONN#{connection_id}"), "TOKENS")
}

/// Key of the unique (app, Zoom user) pair of a connection.
pub fn app_user(app_id: &str, zoom_user_id: &str) -> Key {
    Key::new(format!("APPUSER#{app_id}#{zoom_user_id}"), "CONN")
}

pub fn meeting_mapping(project_id: &str, meeting_number: &str) -> Key {
    Key::new(format!("MEETING#{project_id}#{meeting_number}"), "MAPPING")
}

pub fn bot(bot_id: &str) -> Key {
    Key::new(format!("BOT#{bot_id}"), "BOT")
}

pub fn zoom_event(app_id: &str, fingerprint: &str) -> Key {
    Key::new(format!("ZOOMEVENT#{app_id}#{fingerprint}"), "EVENT")
}

/// GSI1 partition listing a project's records of one kind (`APPS`, `CONNS`, `BOTS`, …).
pub fn project_list(project_id: &str, kind: &str) -> String {
    format!("PROJECT#{project_id}#{kind}")
}

/// GSI2 partition listing an app's connections.
pub fn app_connections(app_id: &str) -> String {
    format!("APP#{app_id}#CONNS")
}

/// GSI1 partition listing a connection's meeting mappings.
pub fn connection_meetings(connection_id: &str) -> String {
    format!("CONN#{connection_id}#MEETINGS")
}

/// Builds a sort key that orders by time and stays unique through the id suffix.
pub fn time_sort_key(at: DateTime<Utc>, id: &str) -> String {
    format!("{}#{id}", format_timestamp(at))
}

/// Secondary-index key for a list entry.
pub fn list_entry(pk: String, at: DateTime<Utc>, id: &str) -> Key {
    Key::new(pk, time_sort_key(at, id))
}

pub fn subscription(subscription_id: &str) -> Key {
    Key::new(format!("WHK#{subscription_id}"), "WHK")
}

pub fn delivery(delivery_id: &str) -> Key {
    Key::new(format!("DELIVERY#{delivery_id}"), "DELIVERY")
}

pub fn oauth_state(state_hash: &str) -> Key {
    Key::new(format!("OAUTHSTATE#{state_hash}"), "STATE")
}
