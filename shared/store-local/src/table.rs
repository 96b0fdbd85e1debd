//! [`SqliteTable`]: the single-table design on SQLite, with DynamoDB's semantics.
//!
//! One SQL table holds every item: `items(pk, sk, gsi1pk, gsi1sk, version, data, expires_at)`,
//! keyed by `(pk, sk)`, plus a partial index on `(gsi1pk, gsi1sk, pk, sk)` that, like a DynamoDB
//! GSI, holds only the items that carry both index keys. Every write runs in an `IMMEDIATE`
//! transaction, so a condition and the write it guards see the same state even if another
//! process shares the file. What DynamoDB refuses with a `ValidationException` (empty or
//! overlong keys, items over 400 KB, oversized or self-overlapping transactions) is refused here
//! as [`TableError::Invalid`] before anything is written.
//!
//! Expired items (`expires_at <= now`) are filtered out by every read and treated as absent by
//! every condition, so they are gone the moment they expire. Their rows are deleted later, in
//! bounded batches: all of them when the table is opened, one batch every
//! [`SWEEP_EVERY_WRITES`] writes (garbage only grows through writes, so this keeps up with it),
//! and on demand through [`SqliteTable::sweep_expired`].

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mvidarr_core::ports::table::{
    MAX_ITEM_BYTES, MAX_PAGE_ITEMS, MAX_PARTITION_KEY_BYTES, MAX_SORT_KEY_BYTES,
    MAX_TRANSACT_ITEMS, unix_now,
};
use mvidarr_core::ports::{Condition, Index, Item, Page, Query, Table, TableError, WriteOp};
use rusqlite::types::ToSql;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior};
use serde::{Deserialize, Serialize};

use crate::db::{Database, DbError};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS items (
    pk         TEXT NOT NULL,
    sk         TEXT NOT NULL,
    gsi1pk     TEXT,
    gsi1sk     TEXT,
    version    INTEGER NOT NULL,
    data       TEXT NOT NULL,
    expires_at INTEGER,
    PRIMARY KEY (pk, sk)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS items_gsi1 ON items (gsi1pk, gsi1sk, pk, sk)
    WHERE gsi1pk IS NOT NULL AND gsi1sk IS NOT NULL;
";

/// Databases made before items could expire lack the column; it is added on open.
const ADD_EXPIRES_AT: &str = "ALTER TABLE items ADD COLUMN expires_at INTEGER";

/// Only expiring items, for the sweep.
const EXPIRY_INDEX: &str = "CREATE INDEX IF NOT EXISTS items_expiry ON items (expires_at)
    WHERE expires_at IS NOT NULL";

const COLUMNS: &str = "pk, sk, gsi1pk, gsi1sk, version, data, expires_at";
/// [`COLUMNS`] with JSON `null` for the data, for keys-only queries.
const KEY_COLUMNS: &str = "pk, sk, gsi1pk, gsi1sk, version, 'null', expires_at";

/// The rows a read may see: those not expired at `:now`.
const LIVE: &str = "(expires_at IS NULL OR expires_at > :now)";

/// Writes (operations, a transaction counting each) between two sweep batches.
pub const SWEEP_EVERY_WRITES: usize = 256;
/// The most expired rows one sweep batch deletes, so that no sweep holds the write lock long.
/// Twice as many as there were writes since the last batch, so a backlog drains.
const SWEEP_BATCH_ROWS: i64 = 512;

/// The [`Table`] port on the shared SQLite database.
#[derive(Debug, Clone)]
pub struct SqliteTable {
    db: Database,
    /// Writes since the last sweep batch, shared by every clone.
    writes_since_sweep: Arc<AtomicUsize>,
}

impl SqliteTable {
    /// Uses `db`, creating the `items` table and its indexes if they are not there yet (and
    /// adding the expiry column to a table made before it existed), then deletes every row
    /// that has expired.
    pub fn new(db: Database) -> Result<Self, TableError> {
        db.call_blocking(|conn| {
            // One transaction, so two processes opening an old file cannot both add the column.
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.execute_batch(SCHEMA)?;
            let has_expiry: bool = tx.query_row(
                "SELECT EXISTS (
                    SELECT 1 FROM pragma_table_info('items') WHERE name = 'expires_at'
                )",
                [],
                |row| row.get(0),
            )?;
            if !has_expiry {
                tx.execute_batch(ADD_EXPIRES_AT)?;
            }
            tx.execute_batch(EXPIRY_INDEX)?;
            tx.commit()?;
            while sweep_batch(conn, unix_now())? == SWEEP_BATCH_ROWS {}
            Ok(())
        })
        .map_err(from_db)?;
        Ok(Self {
            db,
            writes_since_sweep: Arc::new(AtomicUsize::new(0)),
        })
    }

    /// Deletes every row that has expired by now, in batches; returns how many. Readers never
    /// see expired items anyway: this only gives the space back.
    pub async fn sweep_expired(&self) -> Result<usize, TableError> {
        let now = unix_now();
        let mut deleted = 0;
        loop {
            let batch = self
                .db
                .call(move |conn| sweep_batch(conn, now))
                .await
                .map_err(from_db)?;
            deleted += usize::try_from(batch).unwrap_or(0);
            if batch < SWEEP_BATCH_ROWS {
                return Ok(deleted);
            }
        }
    }

    /// Counts `ops` committed writes, and every [`SWEEP_EVERY_WRITES`] deletes one batch of
    /// expired rows. The writes have committed: a failed sweep is only logged.
    async fn wrote(&self, ops: usize) {
        let before = self.writes_since_sweep.fetch_add(ops, Ordering::Relaxed);
        if before + ops < SWEEP_EVERY_WRITES {
            return;
        }
        self.writes_since_sweep.store(0, Ordering::Relaxed);
        let now = unix_now();
        if let Err(e) = self.db.call(move |conn| sweep_batch(conn, now)).await {
            tracing::warn!(error = %e, "sweeping expired items failed; will retry later");
        }
    }

    /// The items at `keys`, in order, all read under one lock.
    async fn read(&self, keys: Vec<(String, String)>) -> Result<Vec<Option<Item>>, TableError> {
        for (pk, sk) in &keys {
            check_key("pk", pk, MAX_PARTITION_KEY_BYTES)?;
            check_key("sk", sk, MAX_SORT_KEY_BYTES)?;
        }
        let now = unix_now();
        self.db
            .call(move |conn| {
                if keys.len() < 2 {
                    return select_items(conn, &keys, now);
                }
                // One read transaction for all the keys: one snapshot, and one take of the
                // WAL's read lock instead of one a key (each a pair of system calls).
                let tx = conn.transaction()?;
                let items = select_items(&tx, &keys, now)?;
                tx.commit()?;
                Ok(items)
            })
            .await
            .map_err(from_db)
    }

    /// Runs one conditional write in its own transaction.
    async fn write_one(&self, op: Prepared) -> Result<(), TableError> {
        let now = unix_now();
        self.db
            .call(move |conn| {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                if !op.condition_holds(&tx, now)? {
                    let (pk, sk) = op.key();
                    return Ok(Err(TableError::ConditionFailed {
                        pk: pk.to_owned(),
                        sk: sk.to_owned(),
                    }));
                }
                op.apply(&tx)?;
                tx.commit()?;
                Ok(Ok(()))
            })
            .await
            .map_err(from_db)??;
        self.wrote(1).await;
        Ok(())
    }
}

/// Deletes up to [`SWEEP_BATCH_ROWS`] rows expired at `now`; returns how many.
fn sweep_batch(conn: &Connection, now: i64) -> rusqlite::Result<i64> {
    let deleted = conn
        .prepare_cached(
            "DELETE FROM items WHERE (pk, sk) IN (
                SELECT pk, sk FROM items WHERE expires_at <= ?1 LIMIT ?2
            )",
        )?
        .execute([now, SWEEP_BATCH_ROWS])?;
    Ok(i64::try_from(deleted).unwrap_or(i64::MAX))
}

impl Table for SqliteTable {
    #[tracing::instrument(level = "debug", skip(self))]
    async fn get(&self, pk: &str, sk: &str) -> Result<Option<Item>, TableError> {
        let mut items = self.read(vec![(pk.to_owned(), sk.to_owned())]).await?;
        Ok(items.pop().flatten())
    }

    #[tracing::instrument(level = "debug", skip_all, fields(keys = keys.len()))]
    async fn get_many(&self, keys: &[(String, String)]) -> Result<Vec<Option<Item>>, TableError> {
        self.read(keys.to_vec()).await
    }

    #[tracing::instrument(
        level = "debug",
        skip_all,
        fields(pk = %item.pk, sk = %item.sk, ?condition)
    )]
    async fn put(&self, item: Item, condition: Condition) -> Result<(), TableError> {
        self.write_one(Prepared::new(WriteOp::Put { item, condition })?)
            .await
    }

    #[tracing::instrument(level = "debug", skip(self))]
    async fn delete(&self, pk: &str, sk: &str, condition: Condition) -> Result<(), TableError> {
        let op = WriteOp::Delete {
            pk: pk.to_owned(),
            sk: sk.to_owned(),
            condition,
        };
        self.write_one(Prepared::new(op)?).await
    }

    #[tracing::instrument(
        level = "debug",
        skip_all,
        fields(partition = %query.partition, index = ?query.index, prefix = %query.sk_prefix)
    )]
    async fn query(&self, query: Query) -> Result<Page, TableError> {
        let shape = Shape {
            index: query.index,
            partition: query.partition,
            descending: query.descending,
        };
        let partition_name = match shape.index {
            Index::Primary => "pk",
            Index::Gsi1 => "gsi1pk",
        };
        check_key(partition_name, &shape.partition, MAX_PARTITION_KEY_BYTES)?;
        let after = query
            .cursor
            .as_deref()
            .map(|c| Cursor::decode(c, &shape))
            .transpose()?;
        let limit = query.limit.clamp(1, MAX_PAGE_ITEMS);
        let upper = prefix_successor(&query.sk_prefix);
        let columns = if query.keys_only {
            KEY_COLUMNS
        } else {
            COLUMNS
        };
        let sql = page_sql(&shape, columns, upper.is_some(), after.is_some());

        let (index, partition) = (shape.index, shape.partition.clone());
        let now = unix_now();
        let mut items = self
            .db
            .call(move |conn| {
                let fetch = i64::try_from(limit + 1).unwrap_or(i64::MAX);
                // Exactly the parameters `page_sql` names: SQLite refuses any other.
                let mut params: Vec<(&str, &dyn ToSql)> = vec![
                    (":partition", &partition),
                    (":lower", &query.sk_prefix),
                    (":fetch", &fetch),
                    (":now", &now),
                ];
                if let Some(upper) = &upper {
                    params.push((":upper", upper));
                }
                if let Some(after) = &after {
                    params.push((":after_sk", &after.sk));
                    if index == Index::Gsi1 {
                        params.push((":after_gsi1sk", &after.gsi1sk));
                        params.push((":after_pk", &after.pk));
                    }
                }
                let mut stmt = conn.prepare_cached(&sql)?;
                let rows = stmt.query_map(&*params, item_from_row)?;
                rows.collect::<Result<Vec<_>, _>>()
            })
            .await
            .map_err(from_db)?;

        let next_cursor = if items.len() > limit {
            items.truncate(limit);
            items
                .last()
                .map(|last| Cursor::after(last, &shape).encode())
        } else {
            None
        };
        Ok(Page { items, next_cursor })
    }

    #[tracing::instrument(level = "debug", skip_all, fields(ops = ops.len()))]
    async fn transact_write(&self, ops: Vec<WriteOp>) -> Result<(), TableError> {
        if ops.is_empty() || ops.len() > MAX_TRANSACT_ITEMS {
            return Err(TableError::Invalid(format!(
                "a transaction holds 1 to {MAX_TRANSACT_ITEMS} operations, not {}",
                ops.len()
            )));
        }
        let ops = ops
            .into_iter()
            .map(Prepared::new)
            .collect::<Result<Vec<_>, _>>()?;
        let mut keys = HashSet::with_capacity(ops.len());
        for op in &ops {
            let (pk, sk) = op.key();
            if !keys.insert((pk, sk)) {
                return Err(TableError::Invalid(format!(
                    "a transaction cannot include more than one operation on {pk} / {sk}"
                )));
            }
        }

        let (count, now) = (ops.len(), unix_now());
        self.db
            .call(move |conn| {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let mut failed = Vec::new();
                for (i, op) in ops.iter().enumerate() {
                    if !op.condition_holds(&tx, now)? {
                        failed.push(i);
                    }
                }
                if !failed.is_empty() {
                    // Dropping `tx` rolls back; nothing was written anyway.
                    return Ok(Err(TableError::TransactionCancelled { failed }));
                }
                for op in &ops {
                    op.apply(&tx)?;
                }
                tx.commit()?;
                Ok(Ok(()))
            })
            .await
            .map_err(from_db)??;
        self.wrote(count).await;
        Ok(())
    }
}

/// A write checked against DynamoDB's limits, ready to run.
enum Prepared {
    Put {
        row: Row,
        condition: Condition,
    },
    Delete {
        pk: String,
        sk: String,
        condition: Condition,
    },
    Check {
        pk: String,
        sk: String,
        condition: Condition,
    },
}

impl Prepared {
    fn new(op: WriteOp) -> Result<Self, TableError> {
        Ok(match op {
            WriteOp::Put { item, condition } => Prepared::Put {
                row: Row::new(item)?,
                condition,
            },
            WriteOp::Delete { pk, sk, condition } => {
                check_key("pk", &pk, MAX_PARTITION_KEY_BYTES)?;
                check_key("sk", &sk, MAX_SORT_KEY_BYTES)?;
                Prepared::Delete { pk, sk, condition }
            }
            WriteOp::Check { pk, sk, condition } => {
                check_key("pk", &pk, MAX_PARTITION_KEY_BYTES)?;
                check_key("sk", &sk, MAX_SORT_KEY_BYTES)?;
                Prepared::Check { pk, sk, condition }
            }
        })
    }

    fn key(&self) -> (&str, &str) {
        match self {
            Prepared::Put { row, .. } => (&row.pk, &row.sk),
            Prepared::Delete { pk, sk, .. } | Prepared::Check { pk, sk, .. } => (pk, sk),
        }
    }

    /// Whether the condition holds at `now`; an expired item counts as absent.
    fn condition_holds(&self, conn: &Connection, now: i64) -> rusqlite::Result<bool> {
        let condition = match self {
            Prepared::Put { condition, .. }
            | Prepared::Delete { condition, .. }
            | Prepared::Check { condition, .. } => *condition,
        };
        if condition == Condition::Always {
            return Ok(true);
        }
        let (pk, sk) = self.key();
        let current: Option<i64> = conn
            .prepare_cached(&format!(
                "SELECT version FROM items WHERE pk = :pk AND sk = :sk AND {LIVE}"
            ))?
            .query_row(
                rusqlite::named_params! {":pk": pk, ":sk": sk, ":now": now},
                |row| row.get(0),
            )
            .optional()?;
        let current = current.map(i64::cast_unsigned);
        Ok(match condition {
            Condition::Always => true,
            Condition::Absent => current.is_none(),
            Condition::Exists => current.is_some(),
            Condition::VersionIs(expected) => current == Some(expected),
        })
    }

    fn apply(&self, conn: &Connection) -> rusqlite::Result<()> {
        match self {
            Prepared::Put { row, .. } => {
                conn.prepare_cached(&format!(
                    "INSERT OR REPLACE INTO items ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
                ))?
                .execute(rusqlite::params![
                    row.pk,
                    row.sk,
                    row.gsi1pk,
                    row.gsi1sk,
                    row.version,
                    row.data,
                    row.expires_at
                ])?;
            }
            Prepared::Delete { pk, sk, .. } => {
                conn.prepare_cached("DELETE FROM items WHERE pk = ?1 AND sk = ?2")?
                    .execute([pk, sk])?;
            }
            Prepared::Check { .. } => {}
        }
        Ok(())
    }
}

/// An item as stored: its data as JSON text, its version as SQLite's signed integer.
struct Row {
    pk: String,
    sk: String,
    gsi1pk: Option<String>,
    gsi1sk: Option<String>,
    /// The `u64` version reinterpreted bit for bit, so every version round-trips; SQL only
    /// compares it for equality, never orders by it.
    version: i64,
    data: String,
    expires_at: Option<i64>,
}

impl Row {
    fn new(item: Item) -> Result<Self, TableError> {
        check_key("pk", &item.pk, MAX_PARTITION_KEY_BYTES)?;
        check_key("sk", &item.sk, MAX_SORT_KEY_BYTES)?;
        if let Some(gsi1pk) = &item.gsi1pk {
            check_key("gsi1pk", gsi1pk, MAX_PARTITION_KEY_BYTES)?;
        }
        if let Some(gsi1sk) = &item.gsi1sk {
            check_key("gsi1sk", gsi1sk, MAX_SORT_KEY_BYTES)?;
        }
        let data = serde_json::to_string(&item.data)
            .map_err(|e| TableError::Invalid(format!("item data does not serialize: {e}")))?;
        let row = Row {
            pk: item.pk,
            sk: item.sk,
            gsi1pk: item.gsi1pk,
            gsi1sk: item.gsi1sk,
            version: item.version.cast_signed(),
            data,
            expires_at: item.expires_at,
        };
        let size = row.dynamodb_size();
        if size > MAX_ITEM_BYTES {
            return Err(TableError::Invalid(format!(
                "item {} / {} is {size} bytes, over the {MAX_ITEM_BYTES}-byte limit",
                row.pk, row.sk
            )));
        }
        Ok(row)
    }

    /// DynamoDB's item size, approximately: attribute names plus values, numbers counted as
    /// their decimal digits and the data as its JSON text.
    fn dynamodb_size(&self) -> usize {
        let attribute = |name: &str, value: &str| name.len() + value.len();
        attribute("pk", &self.pk)
            + attribute("sk", &self.sk)
            + self.gsi1pk.as_deref().map_or(0, |v| attribute("gsi1pk", v))
            + self.gsi1sk.as_deref().map_or(0, |v| attribute("gsi1sk", v))
            + attribute("version", &self.version.cast_unsigned().to_string())
            + self
                .expires_at
                .map_or(0, |t| attribute("expires_at", &t.to_string()))
            + attribute("data", &self.data)
    }
}

fn item_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Item> {
    let data: String = row.get(5)?;
    let data = serde_json::from_str(&data).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(5, rusqlite::types::Type::Text, Box::new(e))
    })?;
    Ok(Item {
        pk: row.get(0)?,
        sk: row.get(1)?,
        gsi1pk: row.get(2)?,
        gsi1sk: row.get(3)?,
        version: row.get::<_, i64>(4)?.cast_unsigned(),
        expires_at: row.get(6)?,
        data,
    })
}

/// DynamoDB refuses empty key values and values over the key-size limits.
fn check_key(name: &str, value: &str, max_bytes: usize) -> Result<(), TableError> {
    if value.is_empty() {
        return Err(TableError::Invalid(format!("{name} must not be empty")));
    }
    if value.len() > max_bytes {
        return Err(TableError::Invalid(format!(
            "{name} is {} bytes, over the {max_bytes}-byte limit",
            value.len()
        )));
    }
    Ok(())
}

/// The SQL for one page. Named parameters: `:partition`, `:lower` (the prefix), `:upper` (its
/// successor, when it has one), `:fetch` (limit + 1, to learn whether more follow), `:now` (for
/// expiry) and, after a cursor, `:after_sk` (plus `:after_gsi1sk`, `:after_pk` on the index).
///
/// Expired rows are filtered in SQL, so a page is as full as it can be and its cursor, the
/// last live item, resumes exactly after it.
///
/// `begins_with` is a range, `lower <= key < upper`, never `LIKE`: prefixes hold `%`, `_`, `/`
/// and `#`, and a range uses the index. Text compares bytewise (SQLite's BINARY collation),
/// which for UTF-8 is DynamoDB's order. Index sort keys need not be unique, so the index is
/// ordered by `(gsi1sk, pk, sk)` and a cursor resumes after that whole tuple.
fn page_sql(shape: &Shape, columns: &str, has_upper: bool, has_cursor: bool) -> String {
    let (partition, sort, order) = match shape.index {
        Index::Primary => ("pk", "sk", vec!["sk"]),
        Index::Gsi1 => ("gsi1pk", "gsi1sk", vec!["gsi1sk", "pk", "sk"]),
    };
    let (cmp, dir) = if shape.descending {
        ("<", "DESC")
    } else {
        (">", "ASC")
    };
    // `sort >= ''` also keeps index items that lack an index sort key out (NULL never matches).
    let mut sql = format!(
        "SELECT {columns} FROM items WHERE {partition} = :partition AND {sort} >= :lower AND {LIVE}"
    );
    if has_upper {
        sql.push_str(&format!(" AND {sort} < :upper"));
    }
    if has_cursor {
        let after = match shape.index {
            Index::Primary => ":after_sk".to_owned(),
            Index::Gsi1 => "(:after_gsi1sk, :after_pk, :after_sk)".to_owned(),
        };
        sql.push_str(&format!(" AND ({}) {cmp} {after}", order.join(", ")));
    }
    let order_by: Vec<String> = order.iter().map(|c| format!("{c} {dir}")).collect();
    sql.push_str(&format!(" ORDER BY {} LIMIT :fetch", order_by.join(", ")));
    sql
}

/// The least string greater than every string that starts with `prefix`; `None` when there is
/// none (an empty prefix, or one made only of U+10FFFF). UTF-8 byte order is code-point order,
/// so bumping the last code point that can be bumped gives it.
fn prefix_successor(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let next = match last {
            char::MAX => None,
            // Skip the surrogate range, which no `char` can hold.
            '\u{D7FF}' => Some('\u{E000}'),
            c => char::from_u32(u32::from(c) + 1),
        };
        if let Some(next) = next {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

/// What a cursor is valid for: the query that issued it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Shape {
    index: Index,
    partition: String,
    descending: bool,
}

/// The opaque `next_cursor`: base64url of this, as JSON. It names the last item returned (all
/// its keys, as DynamoDB's `LastEvaluatedKey` does) and the query shape it belongs to.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Cursor {
    /// Format version.
    v: u8,
    /// `"primary"` or `"gsi1"`.
    index: String,
    partition: String,
    desc: bool,
    pk: String,
    sk: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gsi1pk: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gsi1sk: Option<String>,
}

const CURSOR_VERSION: u8 = 1;

fn index_name(index: Index) -> &'static str {
    match index {
        Index::Primary => "primary",
        Index::Gsi1 => "gsi1",
    }
}

impl Cursor {
    fn after(last: &Item, shape: &Shape) -> Self {
        let on_index = shape.index == Index::Gsi1;
        Cursor {
            v: CURSOR_VERSION,
            index: index_name(shape.index).to_owned(),
            partition: shape.partition.clone(),
            desc: shape.descending,
            pk: last.pk.clone(),
            sk: last.sk.clone(),
            gsi1pk: last.gsi1pk.clone().filter(|_| on_index),
            gsi1sk: last.gsi1sk.clone().filter(|_| on_index),
        }
    }

    fn encode(&self) -> String {
        // A struct of strings and bools always serializes.
        let json = serde_json::to_vec(self).unwrap_or_default();
        URL_SAFE_NO_PAD.encode(json)
    }

    /// Decodes `text`, refusing anything this table did not issue for a query of `shape`.
    fn decode(text: &str, shape: &Shape) -> Result<Self, TableError> {
        let json = URL_SAFE_NO_PAD
            .decode(text)
            .map_err(|_| TableError::BadCursor)?;
        let cursor: Cursor = serde_json::from_slice(&json).map_err(|_| TableError::BadCursor)?;
        let fits = cursor.v == CURSOR_VERSION
            && cursor.index == index_name(shape.index)
            && cursor.partition == shape.partition
            && cursor.desc == shape.descending
            && match shape.index {
                Index::Primary => {
                    cursor.pk == shape.partition
                        && cursor.gsi1pk.is_none()
                        && cursor.gsi1sk.is_none()
                }
                Index::Gsi1 => {
                    cursor.gsi1pk.as_deref() == Some(shape.partition.as_str())
                        && cursor.gsi1sk.is_some()
                }
            };
        if fits {
            Ok(cursor)
        } else {
            Err(TableError::BadCursor)
        }
    }
}

fn from_db(e: DbError) -> TableError {
    if e.is_busy() {
        TableError::Transient(e.to_string())
    } else {
        TableError::Backend(e.to_string())
    }
}

/// The live items at `keys`, in order (`None` where there is none).
fn select_items(
    conn: &Connection,
    keys: &[(String, String)],
    now: i64,
) -> rusqlite::Result<Vec<Option<Item>>> {
    let mut statement = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM items WHERE pk = :pk AND sk = :sk AND {LIVE}"
    ))?;
    keys.iter()
        .map(|(pk, sk)| {
            statement
                .query_row(
                    rusqlite::named_params! {":pk": pk, ":sk": sk, ":now": now},
                    item_from_row,
                )
                .optional()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(dir: &tempfile::TempDir) -> Database {
        Database::open(&dir.path().join("mvidarr.db")).expect("open database")
    }

    #[test]
    fn prefix_successor_is_the_least_string_past_the_prefix() {
        assert_eq!(prefix_successor(""), None);
        assert_eq!(prefix_successor("a/").as_deref(), Some("a0"));
        assert_eq!(prefix_successor("t/A/media").as_deref(), Some("t/A/medib"));
        assert_eq!(prefix_successor("x\u{D7FF}").as_deref(), Some("x\u{E000}"));
        assert_eq!(prefix_successor("x\u{10FFFF}").as_deref(), Some("y"));
        assert_eq!(prefix_successor("\u{10FFFF}\u{10FFFF}"), None);
    }

    #[tokio::test]
    async fn items_survive_reopening_and_the_schema_is_created_once() {
        let dir = tempfile::tempdir().expect("temp dir");
        let table = SqliteTable::new(open(&dir)).expect("create");
        table
            .put(
                Item::new("p", "s", serde_json::json!({"a": 1})),
                Condition::Absent,
            )
            .await
            .expect("put");
        drop(table);

        let table = SqliteTable::new(open(&dir)).expect("reopen");
        let item = table.get("p", "s").await.expect("get");
        assert_eq!(item.map(|i| i.data), Some(serde_json::json!({"a": 1})));
    }

    #[tokio::test]
    async fn concurrent_version_checked_writers_have_exactly_one_winner() {
        let dir = tempfile::tempdir().expect("temp dir");
        let table = SqliteTable::new(open(&dir)).expect("create");
        table
            .put(Item::new("p", "s", serde_json::json!(0)), Condition::Absent)
            .await
            .expect("put");

        let writers = (0..16).map(|n| {
            let table = table.clone();
            tokio::spawn(async move {
                let mut item = Item::new("p", "s", serde_json::json!(n));
                item.version = 2;
                table.put(item, Condition::VersionIs(1)).await
            })
        });
        let mut won = 0;
        for writer in writers.collect::<Vec<_>>() {
            match writer.await.expect("writer task") {
                Ok(()) => won += 1,
                Err(e) => assert!(matches!(e, TableError::ConditionFailed { .. }), "{e}"),
            }
        }
        assert_eq!(won, 1);
    }

    #[test]
    fn page_queries_use_the_key_and_the_sparse_index() {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = open(&dir);
        SqliteTable::new(db.clone()).expect("create");
        for (index, uses) in [(Index::Primary, "PRIMARY KEY"), (Index::Gsi1, "items_gsi1")] {
            let shape = Shape {
                index,
                partition: "p".to_owned(),
                descending: true,
            };
            let sql = format!(
                "EXPLAIN QUERY PLAN {}",
                page_sql(&shape, COLUMNS, true, true)
            );
            let plan = db
                .call_blocking(|conn| {
                    let mut stmt = conn.prepare(&sql)?;
                    let unbound = vec![rusqlite::types::Null; stmt.parameter_count()];
                    let params = rusqlite::params_from_iter(unbound);
                    let rows = stmt.query_map(params, |row| row.get::<_, String>(3))?;
                    rows.collect::<Result<Vec<_>, _>>()
                })
                .expect("explain");
            let plan = plan.join(" | ");
            assert!(plan.contains(uses), "{index:?}: {plan}");
            assert!(
                !plan.contains("TEMP B-TREE"),
                "{index:?} sorts in memory: {plan}"
            );
        }
    }

    /// The rows in the file, expired or not.
    fn stored_keys(db: &Database) -> Vec<String> {
        db.call_blocking(|conn| {
            let mut stmt = conn.prepare("SELECT sk FROM items ORDER BY sk")?;
            let rows = stmt.query_map([], |row| row.get(0))?;
            rows.collect::<Result<Vec<_>, _>>()
        })
        .expect("read rows")
    }

    #[tokio::test]
    async fn a_database_from_before_expiry_gains_the_column_and_keeps_its_items() {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = open(&dir);
        // The schema as it was before items could expire, with one item in it.
        db.call_blocking(|conn| {
            conn.execute_batch(
                "CREATE TABLE items (
                    pk TEXT NOT NULL, sk TEXT NOT NULL, gsi1pk TEXT, gsi1sk TEXT,
                    version INTEGER NOT NULL, data TEXT NOT NULL,
                    PRIMARY KEY (pk, sk)
                ) WITHOUT ROWID;
                CREATE INDEX items_gsi1 ON items (gsi1pk, gsi1sk, pk, sk)
                    WHERE gsi1pk IS NOT NULL AND gsi1sk IS NOT NULL;
                INSERT INTO items VALUES ('p', 'old', 'g', 'k', 3, '{\"a\":1}');",
            )
        })
        .expect("old schema");
        drop(db);

        let table = SqliteTable::new(open(&dir)).expect("open an old database");
        let mut old = Item::new("p", "old", serde_json::json!({"a": 1})).with_index("g", "k");
        old.version = 3;
        assert_eq!(table.get("p", "old").await.expect("get"), Some(old));

        let expiring = Item::new("p", "new", serde_json::json!(2)).with_expiry(unix_now() + 60);
        table
            .put(expiring.clone(), Condition::Absent)
            .await
            .expect("put an expiring item");
        assert_eq!(table.get("p", "new").await.expect("get"), Some(expiring));
        drop(table);
        SqliteTable::new(open(&dir)).expect("reopening a migrated database");
    }

    #[tokio::test]
    async fn opening_deletes_expired_rows_and_keeps_live_ones() {
        let dir = tempfile::tempdir().expect("temp dir");
        let table = SqliteTable::new(open(&dir)).expect("create");
        let now = unix_now();
        // More than one sweep batch of expired rows.
        let expired = (0..SWEEP_BATCH_ROWS + 5).map(|n| WriteOp::Put {
            item: Item::new("p", format!("expired/{n:04}"), serde_json::Value::Null)
                .with_expiry(now - 10),
            condition: Condition::Always,
        });
        for chunk in expired.collect::<Vec<_>>().chunks(MAX_TRANSACT_ITEMS) {
            table.transact_write(chunk.to_vec()).await.expect("write");
        }
        for (sk, expiry) in [("later", Some(now + 3600)), ("never", None)] {
            let mut item = Item::new("p", sk, serde_json::Value::Null);
            item.expires_at = expiry;
            table.put(item, Condition::Absent).await.expect("put");
        }
        drop(table);

        let db = open(&dir);
        SqliteTable::new(db.clone()).expect("reopen");
        assert_eq!(stored_keys(&db), ["later", "never"]);
    }

    #[tokio::test]
    async fn sweep_expired_deletes_only_expired_rows_and_counts_them() {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = open(&dir);
        let table = SqliteTable::new(db.clone()).expect("create");
        let now = unix_now();
        for (sk, expiry) in [("a", now - 10), ("b", now + 3600), ("c", now - 1)] {
            let item = Item::new("p", sk, serde_json::Value::Null).with_expiry(expiry);
            table.put(item, Condition::Absent).await.expect("put");
        }
        assert_eq!(stored_keys(&db), ["a", "b", "c"], "rows outlive expiry");

        assert_eq!(table.sweep_expired().await.expect("sweep"), 2);
        assert_eq!(stored_keys(&db), ["b"]);
        assert_eq!(table.sweep_expired().await.expect("sweep again"), 0);
    }

    #[tokio::test]
    async fn writes_sweep_a_batch_every_so_often() {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = open(&dir);
        let table = SqliteTable::new(db.clone()).expect("create");
        let expired =
            Item::new("p", "expired", serde_json::Value::Null).with_expiry(unix_now() - 10);
        table.put(expired, Condition::Absent).await.expect("put");

        for n in 1..SWEEP_EVERY_WRITES - 1 {
            let item = Item::new("p", format!("live/{n:04}"), serde_json::Value::Null);
            table.put(item, Condition::Absent).await.expect("put");
        }
        assert!(
            stored_keys(&db).contains(&"expired".to_owned()),
            "kept until the sweep is due"
        );
        // A cloned handle counts towards the same sweep.
        table
            .clone()
            .put(
                Item::new("p", "live/last", serde_json::Value::Null),
                Condition::Absent,
            )
            .await
            .expect("put");
        let rows = stored_keys(&db);
        assert!(!rows.contains(&"expired".to_owned()), "swept");
        assert_eq!(rows.len(), SWEEP_EVERY_WRITES - 1);
    }

    #[test]
    fn the_sweep_reads_only_expiring_rows() {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = open(&dir);
        SqliteTable::new(db.clone()).expect("create");
        let plan = db
            .call_blocking(|conn| {
                let mut stmt = conn.prepare(
                    "EXPLAIN QUERY PLAN SELECT pk, sk FROM items WHERE expires_at <= ?1 LIMIT ?2",
                )?;
                let rows = stmt.query_map([0, 1], |row| row.get::<_, String>(3))?;
                rows.collect::<Result<Vec<_>, _>>()
            })
            .expect("explain");
        let plan = plan.join(" | ");
        assert!(plan.contains("items_expiry"), "{plan}");
    }

    #[test]
    fn cursors_round_trip_only_for_their_own_query() {
        let shape = Shape {
            index: Index::Gsi1,
            partition: "g".to_owned(),
            descending: false,
        };
        let last = Item::new("p", "s", serde_json::Value::Null).with_index("g", "k");
        let text = Cursor::after(&last, &shape).encode();
        let cursor = Cursor::decode(&text, &shape).expect("own cursor");
        assert_eq!(
            (cursor.pk.as_str(), cursor.gsi1sk.as_deref()),
            ("p", Some("k"))
        );

        let flipped = Shape {
            descending: true,
            ..shape.clone()
        };
        assert!(matches!(
            Cursor::decode(&text, &flipped),
            Err(TableError::BadCursor)
        ));
        let other = Shape {
            partition: "h".to_owned(),
            ..shape
        };
        assert!(matches!(
            Cursor::decode(&text, &other),
            Err(TableError::BadCursor)
        ));
    }
}
