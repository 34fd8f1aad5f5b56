//! Embedded backend on one SQLite file: the item table behind the storage port, and a
//! table of delayed jobs with SQS-like receive semantics behind the job-queue port.
//!
//! Calls run synchronously under a mutex. Each statement touches a handful of rows of a
//! local file, which is shorter than the scheduling cost of moving it to a blocking thread.

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, Transaction, params};

use crate::ports::queue::{Job, JobQueue, MAX_DELAY, QueueError};
use crate::ports::store::{Condition, Index, Item, Key, Page, Query, Store, StoreError, WriteOp};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS items (
    pk TEXT NOT NULL,
    sk TEXT NOT NULL,
    gsi1pk TEXT,
    gsi1sk TEXT,
    gsi2pk TEXT,
    gsi2sk TEXT,
    version INTEGER NOT NULL,
    expires_at INTEGER,
    data TEXT NOT NULL,
    PRIMARY KEY (pk, sk)
);
CREATE INDEX IF NOT EXISTS items_gsi1 ON items (gsi1pk, gsi1sk, pk, sk);
CREATE INDEX IF NOT EXISTS items_gsi2 ON items (gsi2pk, gsi2sk, pk, sk);
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    body TEXT NOT NULL,
    visible_at_ms INTEGER NOT NULL,
    receive_count INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS jobs_visible ON jobs (visible_at_ms);
CREATE TABLE IF NOT EXISTS dead_jobs (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    body TEXT NOT NULL,
    receive_count INTEGER NOT NULL,
    failed_at_ms INTEGER NOT NULL
);
";

/// One SQLite database shared by the store and the queue of the local server.
#[derive(Clone)]
pub struct SqliteDb {
    connection: Arc<Mutex<Connection>>,
}

impl SqliteDb {
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let connection = Connection::open(path).map_err(unavailable)?;
        // `create-project` may write while the server runs on the same file; a writer then
        // waits for the other's lock instead of failing with SQLITE_BUSY.
        connection
            .busy_timeout(std::time::Duration::from_secs(5))
            .map_err(unavailable)?;
        // WAL keeps readers from blocking the writer; NORMAL sync is durable across process
        // crashes, which is what a development server needs.
        connection
            .execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;")
            .map_err(unavailable)?;
        Self::with_connection(connection)
    }

    pub fn in_memory() -> Result<Self, StoreError> {
        Self::with_connection(Connection::open_in_memory().map_err(unavailable)?)
    }

    fn with_connection(connection: Connection) -> Result<Self, StoreError> {
        connection.execute_batch(SCHEMA).map_err(unavailable)?;
        Ok(Self {
            connection: Arc::new(Mutex::new(connection)),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave a half-applied write behind, because
        // every write runs in a SQLite transaction, so a poisoned lock is safe to reuse.
        self.connection
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn store(&self) -> SqliteStore {
        SqliteStore { db: self.clone() }
    }

    pub fn queue(&self) -> SqliteQueue {
        SqliteQueue { db: self.clone() }
    }
}

fn unavailable(error: rusqlite::Error) -> StoreError {
    StoreError::Unavailable(error.to_string())
}

fn now_seconds() -> i64 {
    chrono::Utc::now().timestamp()
}

fn now_millis() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

pub struct SqliteStore {
    db: SqliteDb,
}

fn read_item(row: &rusqlite::Row<'_>) -> rusqlite::Result<(Item, String)> {
    let gsi = |pk: Option<String>, sk: Option<String>| match (pk, sk) {
        (Some(pk), Some(sk)) => Some(Key { pk, sk }),
        _ => None,
    };
    let data: String = row.get(8)?;
    let item = Item {
        key: Key::new(row.get::<_, String>(0)?, row.get::<_, String>(1)?),
        gsi1: gsi(row.get(2)?, row.get(3)?),
        gsi2: gsi(row.get(4)?, row.get(5)?),
        version: row.get::<_, i64>(6)? as u64,
        expires_at: row.get(7)?,
        data: serde_json::Value::Null,
    };
    Ok((item, data))
}

fn parse_data((mut item, data): (Item, String)) -> Result<Item, StoreError> {
    item.data = serde_json::from_str(&data).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    Ok(item)
}

const COLUMNS: &str = "pk, sk, gsi1pk, gsi1sk, gsi2pk, gsi2sk, version, expires_at, data";

fn live_version(tx: &Transaction<'_>, key: &Key) -> Result<Option<u64>, StoreError> {
    tx.query_row(
        "SELECT version FROM items WHERE pk = ?1 AND sk = ?2 \
         AND (expires_at IS NULL OR expires_at > ?3)",
        params![key.pk, key.sk, now_seconds()],
        |row| row.get::<_, i64>(0),
    )
    .optional()
    .map(|version| version.map(|v| v as u64))
    .map_err(unavailable)
}

fn check(tx: &Transaction<'_>, key: &Key, condition: Condition) -> Result<bool, StoreError> {
    let version = live_version(tx, key)?;
    Ok(match condition {
        Condition::None => true,
        Condition::NotExists => version.is_none(),
        Condition::Exists => version.is_some(),
        Condition::Version(expected) => version == Some(expected),
    })
}

fn write_item(tx: &Transaction<'_>, item: &Item) -> Result<(), StoreError> {
    let data = serde_json::to_string(&item.data).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    tx.execute(
        "INSERT OR REPLACE INTO items (pk, sk, gsi1pk, gsi1sk, gsi2pk, gsi2sk, version, expires_at, data) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            item.key.pk,
            item.key.sk,
            item.gsi1.as_ref().map(|k| &k.pk),
            item.gsi1.as_ref().map(|k| &k.sk),
            item.gsi2.as_ref().map(|k| &k.pk),
            item.gsi2.as_ref().map(|k| &k.sk),
            item.version as i64,
            item.expires_at,
            data,
        ],
    )
    .map_err(unavailable)?;
    Ok(())
}

fn apply(tx: &Transaction<'_>, operation: &WriteOp) -> Result<bool, StoreError> {
    match operation {
        WriteOp::Put(item, condition) => {
            if !check(tx, &item.key, *condition)? {
                return Err(StoreError::ConditionFailed);
            }
            write_item(tx, item)?;
            Ok(true)
        }
        WriteOp::Delete(key, condition) => {
            if !check(tx, key, *condition)? {
                return Err(StoreError::ConditionFailed);
            }
            let existed = live_version(tx, key)?.is_some();
            tx.execute(
                "DELETE FROM items WHERE pk = ?1 AND sk = ?2",
                params![key.pk, key.sk],
            )
            .map_err(unavailable)?;
            Ok(existed)
        }
        WriteOp::Check(key, condition) => {
            if !check(tx, key, *condition)? {
                return Err(StoreError::ConditionFailed);
            }
            Ok(true)
        }
    }
}

impl SqliteStore {
    fn run(&self, operations: &[WriteOp]) -> Result<bool, StoreError> {
        let mut connection = self.db.lock();
        let tx = connection.transaction().map_err(unavailable)?;
        let mut result = true;
        for operation in operations {
            result = apply(&tx, operation)?;
        }
        tx.commit().map_err(unavailable)?;
        Ok(result)
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        let connection = self.db.lock();
        let row = connection
            .query_row(
                &format!(
                    "SELECT {COLUMNS} FROM items WHERE pk = ?1 AND sk = ?2 \
                     AND (expires_at IS NULL OR expires_at > ?3)"
                ),
                params![key.pk, key.sk, now_seconds()],
                read_item,
            )
            .optional()
            .map_err(unavailable)?;
        row.map(parse_data).transpose()
    }

    async fn put(&self, item: Item, condition: Condition) -> Result<(), StoreError> {
        self.run(&[WriteOp::Put(item, condition)]).map(|_| ())
    }

    async fn delete(&self, key: &Key, condition: Condition) -> Result<bool, StoreError> {
        self.run(&[WriteOp::Delete(key.clone(), condition)])
    }

    async fn transact(&self, operations: Vec<WriteOp>) -> Result<(), StoreError> {
        if operations.len() > 25 {
            return Err(StoreError::Unavailable(format!(
                "a transaction contains at most 25 operations, got {}",
                operations.len()
            )));
        }
        self.run(&operations).map(|_| ())
    }

    async fn query(&self, query: Query) -> Result<Page, StoreError> {
        let (pk_column, sk_column) = match query.index {
            Index::Table => ("pk", "sk"),
            Index::Gsi1 => ("gsi1pk", "gsi1sk"),
            Index::Gsi2 => ("gsi2pk", "gsi2sk"),
        };
        let order = if query.descending { "DESC" } else { "ASC" };
        let comparison = if query.descending { "<" } else { ">" };
        let prefix = query.sk_prefix.clone().unwrap_or_default();

        // Rows are ordered by (index sort key, pk, sk), which makes the order total even
        // when two items share an index sort key, so a position resumes exactly.
        let mut sql = format!(
            "SELECT {COLUMNS} FROM items WHERE {pk_column} = ?1 \
             AND substr({sk_column}, 1, length(?2)) = ?2 \
             AND (expires_at IS NULL OR expires_at > ?3)"
        );
        let mut start = (String::new(), String::new(), String::new());
        if let Some(position) = &query.start_after {
            let field = |name: &str| {
                position
                    .0
                    .get(name)
                    .cloned()
                    .ok_or_else(|| StoreError::Corrupt(format!("position lacks {name}")))
            };
            start = (field(sk_column)?, field("pk")?, field("sk")?);
            sql.push_str(&format!(
                " AND ({sk_column}, pk, sk) {comparison} (?4, ?5, ?6)"
            ));
        } else {
            sql.push_str(" AND ?4 IS NOT NULL AND ?5 IS NOT NULL AND ?6 IS NOT NULL");
        }
        sql.push_str(&format!(
            " ORDER BY {sk_column} {order}, pk {order}, sk {order} LIMIT ?7"
        ));

        let connection = self.db.lock();
        let mut statement = connection.prepare(&sql).map_err(unavailable)?;
        let rows = statement
            .query_map(
                params![
                    query.pk,
                    prefix,
                    now_seconds(),
                    start.0,
                    start.1,
                    start.2,
                    (query.limit + 1) as i64
                ],
                read_item,
            )
            .map_err(unavailable)?;
        let mut items = Vec::new();
        for row in rows {
            items.push(parse_data(row.map_err(unavailable)?)?);
        }

        let next = if items.len() > query.limit {
            items.truncate(query.limit);
            items.last().map(|item| item.position(query.index))
        } else {
            None
        };
        Ok(Page { items, next })
    }
}

/// A job taken from the queue, invisible to other receivers until its visibility timeout.
#[derive(Debug)]
pub struct ReceivedJob {
    pub receipt: i64,
    pub receive_count: u32,
    pub job: Result<Job, String>,
}

#[derive(Clone)]
pub struct SqliteQueue {
    db: SqliteDb,
}

impl SqliteQueue {
    /// Takes up to `max` due jobs and hides each for `visibility`, as an SQS receive does.
    pub fn receive(
        &self,
        max: usize,
        visibility: Duration,
    ) -> Result<Vec<ReceivedJob>, StoreError> {
        let mut connection = self.db.lock();
        let tx = connection.transaction().map_err(unavailable)?;
        let now = now_millis();
        let mut received = Vec::new();
        {
            let mut select = tx
                .prepare(
                    "SELECT id, body, receive_count FROM jobs WHERE visible_at_ms <= ?1 \
                     ORDER BY visible_at_ms, id LIMIT ?2",
                )
                .map_err(unavailable)?;
            let rows = select
                .query_map(params![now, max as i64], |row| {
                    Ok((
                        row.get::<_, i64>(0)?,
                        row.get::<_, String>(1)?,
                        row.get::<_, i64>(2)?,
                    ))
                })
                .map_err(unavailable)?;
            for row in rows {
                let (id, body, count) = row.map_err(unavailable)?;
                received.push(ReceivedJob {
                    receipt: id,
                    receive_count: count as u32 + 1,
                    job: serde_json::from_str(&body).map_err(|e| e.to_string()),
                });
            }
        }
        for job in &received {
            tx.execute(
                "UPDATE jobs SET visible_at_ms = ?1, receive_count = receive_count + 1 WHERE id = ?2",
                params![now + visibility.as_millis() as i64, job.receipt],
            )
            .map_err(unavailable)?;
        }
        tx.commit().map_err(unavailable)?;
        Ok(received)
    }

    /// Removes a handled job.
    pub fn acknowledge(&self, receipt: i64) -> Result<(), StoreError> {
        self.db
            .lock()
            .execute("DELETE FROM jobs WHERE id = ?1", params![receipt])
            .map_err(unavailable)?;
        Ok(())
    }

    /// Moves a job that failed too often to the dead-letter table.
    pub fn move_to_dead_letter(&self, receipt: i64) -> Result<(), StoreError> {
        let mut connection = self.db.lock();
        let tx = connection.transaction().map_err(unavailable)?;
        tx.execute(
            "INSERT INTO dead_jobs (id, kind, body, receive_count, failed_at_ms) \
             SELECT id, kind, body, receive_count, ?2 FROM jobs WHERE id = ?1",
            params![receipt, now_millis()],
        )
        .map_err(unavailable)?;
        tx.execute("DELETE FROM jobs WHERE id = ?1", params![receipt])
            .map_err(unavailable)?;
        tx.commit().map_err(unavailable)
    }

    /// Number of jobs waiting, due or not.
    pub fn pending_count(&self) -> Result<usize, StoreError> {
        self.db
            .lock()
            .query_row("SELECT count(*) FROM jobs", [], |row| row.get::<_, i64>(0))
            .map(|n| n as usize)
            .map_err(unavailable)
    }

    pub fn dead_letter_count(&self) -> Result<usize, StoreError> {
        self.db
            .lock()
            .query_row("SELECT count(*) FROM dead_jobs", [], |row| {
                row.get::<_, i64>(0)
            })
            .map(|n| n as usize)
            .map_err(unavailable)
    }
}

#[async_trait]
impl JobQueue for SqliteQueue {
    async fn enqueue(&self, job: &Job, delay: Duration) -> Result<(), QueueError> {
        if delay > MAX_DELAY {
            return Err(QueueError::DelayTooLong(delay));
        }
        let body =
            serde_json::to_string(job).map_err(|e| QueueError::Unavailable(e.to_string()))?;
        self.db
            .lock()
            .execute(
                "INSERT INTO jobs (kind, body, visible_at_ms) VALUES (?1, ?2, ?3)",
                params![
                    job.kind().as_str(),
                    body,
                    now_millis() + delay.as_millis() as i64
                ],
            )
            .map_err(|e| QueueError::Unavailable(e.to_string()))?;
        Ok(())
    }
}
