//! Tables for repository tests: a SQLite table in a temp dir, and wrappers that make races
//! happen on purpose.

use std::sync::atomic::{AtomicU32, Ordering};

use mvidarr_core::ports::{Condition, Item, Page, Query, Table, TableError, WriteOp};
use mvidarr_store_local::db::Database;
use mvidarr_store_local::table::SqliteTable;
use tempfile::TempDir;

/// A fresh table; keep the dir alive as long as the table.
pub fn sqlite() -> (SqliteTable, TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    (open(&dir), dir)
}

/// The table in `dir`'s database: opened twice, two connections as two processes would have.
pub fn open(dir: &TempDir) -> SqliteTable {
    let db = Database::open(&dir.path().join("mvidarr.db")).expect("open database");
    SqliteTable::new(db).expect("open table")
}

fn count_conflict<R>(counter: &AtomicU32, result: Result<R, TableError>) -> Result<R, TableError> {
    if result.as_ref().is_err_and(TableError::is_conflict) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
    result
}

/// Yields to the scheduler after every read, so concurrent tasks read the same version before
/// any of them writes: read-modify-write races happen on every round instead of by luck.
/// Counts the conditional writes that lost.
pub struct Interleaving {
    inner: SqliteTable,
    lost: AtomicU32,
}

impl Interleaving {
    pub fn new(inner: SqliteTable) -> Self {
        Interleaving {
            inner,
            lost: AtomicU32::new(0),
        }
    }

    pub fn lost_writes(&self) -> u32 {
        self.lost.load(Ordering::Relaxed)
    }
}

impl Table for Interleaving {
    async fn get(&self, pk: &str, sk: &str) -> Result<Option<Item>, TableError> {
        let item = self.inner.get(pk, sk).await;
        tokio::task::yield_now().await;
        item
    }
    async fn put(&self, item: Item, condition: Condition) -> Result<(), TableError> {
        count_conflict(&self.lost, self.inner.put(item, condition).await)
    }
    async fn delete(&self, pk: &str, sk: &str, condition: Condition) -> Result<(), TableError> {
        count_conflict(&self.lost, self.inner.delete(pk, sk, condition).await)
    }
    async fn query(&self, query: Query) -> Result<Page, TableError> {
        let page = self.inner.query(query).await;
        tokio::task::yield_now().await;
        page
    }
    async fn transact_write(&self, ops: Vec<WriteOp>) -> Result<(), TableError> {
        count_conflict(&self.lost, self.inner.transact_write(ops).await)
    }
}

/// Every conditional write loses a race (a single write with `ConditionFailed`, a transaction
/// at its first operation), as if another writer always got there first. Counts the attempts.
pub struct Outraced {
    inner: SqliteTable,
    attempts: AtomicU32,
}

impl Outraced {
    pub fn new(inner: SqliteTable) -> Self {
        Outraced {
            inner,
            attempts: AtomicU32::new(0),
        }
    }

    pub fn write_attempts(&self) -> u32 {
        self.attempts.load(Ordering::Relaxed)
    }
}

impl Table for Outraced {
    async fn get(&self, pk: &str, sk: &str) -> Result<Option<Item>, TableError> {
        self.inner.get(pk, sk).await
    }
    async fn put(&self, item: Item, _condition: Condition) -> Result<(), TableError> {
        self.attempts.fetch_add(1, Ordering::Relaxed);
        Err(TableError::ConditionFailed {
            pk: item.pk,
            sk: item.sk,
        })
    }
    async fn delete(&self, pk: &str, sk: &str, _condition: Condition) -> Result<(), TableError> {
        self.attempts.fetch_add(1, Ordering::Relaxed);
        Err(TableError::ConditionFailed {
            pk: pk.to_owned(),
            sk: sk.to_owned(),
        })
    }
    async fn query(&self, query: Query) -> Result<Page, TableError> {
        self.inner.query(query).await
    }
    async fn transact_write(&self, _ops: Vec<WriteOp>) -> Result<(), TableError> {
        self.attempts.fetch_add(1, Ordering::Relaxed);
        Err(TableError::TransactionCancelled { failed: vec![0] })
    }
}
