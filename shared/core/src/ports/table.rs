//! A key-value table in DynamoDB's single-table shape: items addressed by `(pk, sk)`, queries
//! within one partition by sort-key prefix, one secondary index, conditional writes and
//! all-or-nothing transactions of up to [`MAX_TRANSACT_ITEMS`] writes.
//!
//! # Expiry
//!
//! An item may carry [`Item::expires_at`]. From that second on it is gone for every reader and
//! every condition, on both adapters alike: `get` returns `None`, queries skip it,
//! [`Condition::Absent`] holds over it (a put replaces it) and [`Condition::Exists`] and
//! [`Condition::VersionIs`] fail on it. Removing the row is the store's business and may come
//! much later (DynamoDB's TTL deletes within days), so readers never rely on that.

use std::future::Future;

use serde::{Deserialize, Serialize};

/// DynamoDB's limit for `TransactWriteItems`; both adapters enforce it.
pub const MAX_TRANSACT_ITEMS: usize = 100;
/// DynamoDB's item-size limit (400 KB); both adapters refuse larger items.
pub const MAX_ITEM_BYTES: usize = 400 * 1024;
/// DynamoDB's key limits (partition key, sort key; index keys alike); both adapters refuse
/// longer or empty keys as `Invalid`.
pub const MAX_PARTITION_KEY_BYTES: usize = 2048;
pub const MAX_SORT_KEY_BYTES: usize = 1024;
/// The most items one query page returns, whatever limit is asked for.
pub const MAX_PAGE_ITEMS: usize = 1000;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Item {
    pub pk: String,
    pub sk: String,
    /// Secondary-index keys; an item without them is not in the index (sparse, as on DynamoDB).
    pub gsi1pk: Option<String>,
    pub gsi1sk: Option<String>,
    /// Optimistic-concurrency version, set by the writer; `Condition::VersionIs` checks it.
    pub version: u64,
    /// When the item expires, in Unix seconds (UTC); it is gone once `expires_at <= now`.
    /// `None` keeps it until it is deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
    pub data: serde_json::Value,
}

impl Item {
    pub fn new(pk: impl Into<String>, sk: impl Into<String>, data: serde_json::Value) -> Self {
        Self {
            pk: pk.into(),
            sk: sk.into(),
            gsi1pk: None,
            gsi1sk: None,
            version: 1,
            expires_at: None,
            data,
        }
    }

    pub fn with_index(mut self, gsi1pk: impl Into<String>, gsi1sk: impl Into<String>) -> Self {
        self.gsi1pk = Some(gsi1pk.into());
        self.gsi1sk = Some(gsi1sk.into());
        self
    }

    /// The item expires at `unix_secs` (Unix seconds, UTC).
    pub fn with_expiry(mut self, unix_secs: i64) -> Self {
        self.expires_at = Some(unix_secs);
        self
    }

    /// Whether the item is gone at `now` (Unix seconds): its expiry is at or before `now`.
    pub fn is_expired_at(&self, now: i64) -> bool {
        self.expires_at.is_some_and(|expires_at| expires_at <= now)
    }
}

/// The current time in Unix seconds, the clock expiry is judged by. A clock before 1970 reads
/// as 0 (nothing with a real expiry then counts as expired early).
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// When a write may happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    Always,
    /// No item with this key exists (`attribute_not_exists(pk)`).
    Absent,
    /// An item exists (`attribute_exists(pk)`).
    Exists,
    /// An item exists with exactly this version.
    VersionIs(u64),
}

#[derive(Debug, Clone, PartialEq)]
pub enum WriteOp {
    Put {
        item: Item,
        condition: Condition,
    },
    Delete {
        pk: String,
        sk: String,
        condition: Condition,
    },
    /// Only a condition, no write (`ConditionCheck`).
    Check {
        pk: String,
        sk: String,
        condition: Condition,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Index {
    #[default]
    Primary,
    /// The secondary index on `(gsi1pk, gsi1sk)`. Eventually consistent on DynamoDB.
    Gsi1,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    pub index: Index,
    /// The partition to read (pk, or gsi1pk on the index).
    pub partition: String,
    /// Only sort keys starting with this (`begins_with`).
    pub sk_prefix: String,
    /// At most this many items (clamped to [`MAX_PAGE_ITEMS`]).
    pub limit: usize,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Sort-key order; `false` is ascending.
    pub descending: bool,
    /// Items come back without their data (`Value::Null`): keys, versions and expiry only, for
    /// a reader that holds the data already and only checks versions (a cache).
    pub keys_only: bool,
}

impl Query {
    pub fn partition(partition: impl Into<String>) -> Self {
        Self {
            index: Index::Primary,
            partition: partition.into(),
            sk_prefix: String::new(),
            limit: 100,
            cursor: None,
            descending: false,
            keys_only: false,
        }
    }
    pub fn on_index(mut self, index: Index) -> Self {
        self.index = index;
        self
    }
    pub fn prefix(mut self, p: impl Into<String>) -> Self {
        self.sk_prefix = p.into();
        self
    }
    pub fn limit(mut self, n: usize) -> Self {
        self.limit = n;
        self
    }
    pub fn after(mut self, cursor: Option<String>) -> Self {
        self.cursor = cursor;
        self
    }
    pub fn descending(mut self) -> Self {
        self.descending = true;
        self
    }
    pub fn keys_only(mut self) -> Self {
        self.keys_only = true;
        self
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    /// At most `limit` live items. A page may hold fewer when expired items were skipped, but
    /// it is empty only at the end (`next_cursor` is then `None`).
    pub items: Vec<Item>,
    /// Opaque; pass back in `Query::cursor` for the next page. `None` at the end.
    pub next_cursor: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum TableError {
    /// A write's condition did not hold (DynamoDB `ConditionalCheckFailedException`).
    #[error("condition failed for {pk} / {sk}")]
    ConditionFailed { pk: String, sk: String },
    /// A transaction was cancelled; `failed` holds the indexes of the operations whose
    /// condition did not hold.
    #[error("transaction cancelled: conditions failed at operations {failed:?}")]
    TransactionCancelled { failed: Vec<usize> },
    #[error("invalid request: {0}")]
    Invalid(String),
    #[error("the cursor is not one this table issued")]
    BadCursor,
    /// Throttling, timeouts, a busy database: a retry can help.
    #[error("table unavailable, retry may help: {0}")]
    Transient(String),
    #[error("table error: {0}")]
    Backend(String),
}

impl TableError {
    /// Conflicts of either kind: the caller lost a race, re-read and decide.
    pub fn is_conflict(&self) -> bool {
        matches!(
            self,
            TableError::ConditionFailed { .. } | TableError::TransactionCancelled { .. }
        )
    }
}

pub trait Table: Send + Sync + 'static {
    /// Strongly consistent read of one item.
    fn get(
        &self,
        pk: &str,
        sk: &str,
    ) -> impl Future<Output = Result<Option<Item>, TableError>> + Send;

    /// Strongly consistent reads of several items, answered in the order of `keys` (`None`:
    /// absent or expired); a key may be asked for more than once. The adapters read many
    /// keys a request (DynamoDB `BatchGetItem`, one lock on SQLite); this default, for
    /// wrappers in tests, reads them one by one.
    fn get_many(
        &self,
        keys: &[(String, String)],
    ) -> impl Future<Output = Result<Vec<Option<Item>>, TableError>> + Send {
        async move {
            let mut items = Vec::with_capacity(keys.len());
            for (pk, sk) in keys {
                items.push(self.get(pk, sk).await?);
            }
            Ok(items)
        }
    }

    fn put(
        &self,
        item: Item,
        condition: Condition,
    ) -> impl Future<Output = Result<(), TableError>> + Send;

    fn delete(
        &self,
        pk: &str,
        sk: &str,
        condition: Condition,
    ) -> impl Future<Output = Result<(), TableError>> + Send;

    fn query(&self, query: Query) -> impl Future<Output = Result<Page, TableError>> + Send;

    /// All operations or none. At most [`MAX_TRANSACT_ITEMS`], each key at most once.
    fn transact_write(
        &self,
        ops: Vec<WriteOp>,
    ) -> impl Future<Output = Result<(), TableError>> + Send;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_item_is_expired_from_its_expiry_second_on() {
        let item = Item::new("p", "s", serde_json::Value::Null).with_expiry(1_000);
        assert_eq!(item.expires_at, Some(1_000));
        assert!(!item.is_expired_at(999), "a second before");
        assert!(item.is_expired_at(1_000), "at the expiry second");
        assert!(item.is_expired_at(1_001), "after");
    }

    #[test]
    fn an_item_without_expiry_never_expires() {
        let item = Item::new("p", "s", serde_json::Value::Null);
        assert_eq!(item.expires_at, None);
        assert!(!item.is_expired_at(i64::MAX));
    }

    #[test]
    fn expiry_is_optional_in_serialized_items() {
        let plain = Item::new("p", "s", serde_json::json!(1));
        let json = serde_json::to_value(&plain).expect("serialize");
        assert!(json.get("expires_at").is_none(), "{json}");
        let back: Item = serde_json::from_value(json).expect("an item without expires_at");
        assert_eq!(back, plain);

        let expiring = plain.with_expiry(-5);
        let json = serde_json::to_value(&expiring).expect("serialize");
        assert_eq!(serde_json::from_value::<Item>(json).ok(), Some(expiring));
    }

    #[test]
    fn the_clock_reads_unix_seconds() {
        // 2024-01-01T00:00:00Z; any machine running this is later.
        assert!(unix_now() > 1_704_067_200);
    }
}
