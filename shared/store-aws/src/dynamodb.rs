//! [`DynamoTable`]: the [`Table`] port on one DynamoDB table in the single-table shape.
//!
//! # Schema
//!
//! The table is keyed by the string attributes [`TABLE_PK`] (HASH) and [`TABLE_SK`] (RANGE),
//! billed `PAY_PER_REQUEST`, with one global secondary index [`GSI1_NAME`] on the string
//! attributes [`GSI1_PK`] (HASH) and [`GSI1_SK`] (RANGE), projecting ALL attributes. Items
//! carry the index keys only when they have them, so the index is sparse, as the port requires.
//! TTL is enabled on [`EXPIRES_AT`]. [`create_table`] creates exactly this schema; the SAM
//! template declares the same names.
//!
//! # Items
//!
//! | attribute   | type | holds                                         |
//! |-------------|------|-----------------------------------------------|
//! | `pk`, `sk`  | S    | the table key                                 |
//! | `gsi1pk`, `gsi1sk` | S | the index keys, only when `Some`         |
//! | `version`   | N    | the optimistic-concurrency version (a `u64`)  |
//! | `data`      | S    | the item's JSON value, as JSON text           |
//! | `expires_at`| N    | the expiry in Unix seconds, only when `Some`  |
//!
//! `data` is a DynamoDB *string* holding the JSON text rather than a native map, because a
//! native map does not round-trip every JSON value: DynamoDB numbers hold at most 38
//! significant digits in a range of about 1e-130 to 1e126 (so `f64::MAX`, `5e-324` and friends
//! are refused), and DynamoDB normalises numbers on the way back (`1.0` comes back as `1`,
//! turning a JSON float into an integer). A string holds the JSON text exactly as
//! `serde_json` wrote it, which is also how the embedded adapter stores it; its size counts
//! exactly, byte for byte, towards the item size. The price: `data` cannot be used in
//! condition or filter expressions, which the port never asks for.
//!
//! The text is exact; reading it back is as exact as `serde_json`'s parser. Without its
//! `float_roundtrip` feature (not enabled in this workspace) that parser may land one ULP off
//! for floats of 16–17 significant digits (about 8% of arbitrary `f64`s); integers, `u64`
//! and `i64` extremes and short decimals such as `0.1` or `1.5` are always exact. The embedded
//! adapter, which also stores JSON text, behaves the same.
//!
//! # Expiry
//!
//! The table has TTL enabled on [`EXPIRES_AT`], but DynamoDB deletes expired items late (within
//! days), so the adapter hides them itself, judging by this machine's clock (`:now` below):
//! `get` drops an expired item, queries carry the filter
//! `attribute_not_exists(expires_at) OR expires_at > :now`, and every condition treats an
//! expired item as absent (`Absent` is `attribute_not_exists(pk) OR expires_at <= :now`;
//! `Exists` and `VersionIs` also require `attribute_not_exists(expires_at) OR expires_at > :now`).
//! A filtered page may hold fewer than `limit` items; a page that filtering left empty is not
//! handed out while more follow: the query reads on.
//!
//! # Limits and errors
//!
//! What DynamoDB refuses with a `ValidationException` and the port declares (empty or overlong
//! keys, items over [`MAX_ITEM_BYTES`], empty, oversized or self-overlapping transactions) is
//! refused here as [`TableError::Invalid`] before any request is sent. Every other failure is
//! sorted by [`classify`]: conditional-check failures become conflicts, throttling, timeouts,
//! connection failures and 5xx become [`TableError::Transient`] (after the SDK's own retries),
//! a `ValidationException` becomes [`TableError::Invalid`], the rest [`TableError::Backend`]
//! naming the table.
//!
//! # Cursors
//!
//! DynamoDB resumes a query from any `ExclusiveStartKey`, whether or not it came from the same
//! query. The port promises that a cursor from another query is refused, so a cursor here is
//! base64url JSON of the `LastEvaluatedKey` *and* the query it came from (index, partition,
//! prefix, direction); a cursor is accepted only by a query of the same shape.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, CancellationReason, ConditionCheck, Delete,
    GlobalSecondaryIndex, IndexStatus, KeySchemaElement, KeyType, KeysAndAttributes, Projection,
    ProjectionType, Put, ScalarAttributeType, TableStatus, TimeToLiveSpecification,
    TransactWriteItem,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use futures_util::{StreamExt as _, TryStreamExt as _};
use mvidarr_core::ports::table::{
    MAX_ITEM_BYTES, MAX_PAGE_ITEMS, MAX_PARTITION_KEY_BYTES, MAX_SORT_KEY_BYTES,
    MAX_TRANSACT_ITEMS, unix_now,
};
use mvidarr_core::ports::{Condition, Index, Item, Page, Query, Table, TableError, WriteOp};
use serde::{Deserialize, Serialize};

use crate::error::{Failure, classify};

/// The table's partition key attribute (S, HASH).
pub const TABLE_PK: &str = "pk";
/// The table's sort key attribute (S, RANGE).
pub const TABLE_SK: &str = "sk";
/// The one global secondary index.
pub const GSI1_NAME: &str = "gsi1";
/// The index's partition key attribute (S, HASH); absent on items not in the index.
pub const GSI1_PK: &str = "gsi1pk";
/// The index's sort key attribute (S, RANGE); absent on items not in the index.
pub const GSI1_SK: &str = "gsi1sk";
/// The optimistic-concurrency version (N).
pub const VERSION: &str = "version";
/// The item's JSON value, as JSON text (S).
pub const DATA: &str = "data";
/// The time-to-live attribute (N, Unix seconds) TTL is enabled on, by the template and by
/// [`create_table`]; present only on items with an [`Item::expires_at`].
pub const EXPIRES_AT: &str = "expires_at";

/// Keys one `BatchGetItem` request may ask for.
const MAX_BATCH_GET_KEYS: usize = 100;
/// The first pause before asking again for keys DynamoDB left all unprocessed (throttled); it
/// doubles, up to a second.
const BATCH_GET_BACKOFF: Duration = Duration::from_millis(50);
/// Rounds without progress before `get_many` gives up with a transient error (~5 s).
const BATCH_GET_IDLE_ROUNDS: u32 = 8;
/// `BatchGetItem` requests one `get_many` has in flight at once.
const BATCH_GETS_AT_ONCE: usize = 4;

/// How long [`create_table`] waits for a new table (and its index) to become ACTIVE.
const CREATE_TIMEOUT: Duration = Duration::from_secs(300);

/// The [`Table`] port on one DynamoDB table of the schema [`create_table`] makes.
#[derive(Debug, Clone)]
pub struct DynamoTable {
    client: Client,
    table: String,
}

impl DynamoTable {
    /// Uses the existing table `table_name` (see [`create_table`] for its schema).
    pub fn new(client: Client, table_name: impl Into<String>) -> Self {
        Self {
            client,
            table: table_name.into(),
        }
    }

    pub fn table_name(&self) -> &str {
        &self.table
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// A failed call as the port's error, naming this table.
    fn error(&self, failure: Failure) -> TableError {
        error_for(&self.table, failure)
    }

    /// A failed single-item write: a conditional-check failure is a conflict on `pk / sk`.
    fn write_error<E>(&self, err: &SdkError<E, HttpResponse>, pk: &str, sk: &str) -> TableError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let failure = classify(err);
        if failure.code() == Some("ConditionalCheckFailedException") {
            TableError::ConditionFailed {
                pk: pk.to_owned(),
                sk: sk.to_owned(),
            }
        } else {
            self.error(failure)
        }
    }

    /// An item as read; `with_data: false` for a keys-only read, which leaves its data null.
    fn item_from(
        &self,
        attrs: &HashMap<String, AttributeValue>,
        with_data: bool,
    ) -> Result<Item, TableError> {
        item_from_attributes(attrs, with_data).map_err(|e| {
            TableError::Backend(format!(
                "DynamoDB table {}: an item not written by this adapter: {e}",
                self.table
            ))
        })
    }

    /// The items one `BatchGetItem` request finds of `keys` (at most 100, each once), asking
    /// again for the keys DynamoDB leaves unprocessed.
    async fn batch_get(
        &self,
        keys: Vec<HashMap<String, AttributeValue>>,
    ) -> Result<Vec<Item>, TableError> {
        let mut found = Vec::with_capacity(keys.len());
        let mut pending = keys;
        let mut pause = BATCH_GET_BACKOFF;
        let mut idle_rounds = 0;
        while !pending.is_empty() {
            let asked = pending.len();
            let request = KeysAndAttributes::builder()
                .set_keys(Some(pending))
                .consistent_read(true)
                .build()
                .map_err(|e| TableError::Backend(e.to_string()))?;
            let out = self
                .client
                .batch_get_item()
                .request_items(&self.table, request)
                .send()
                .await
                .map_err(|e| self.error(classify(&e)))?;
            let items = out
                .responses()
                .and_then(|r| r.get(&self.table))
                .map_or(&[][..], Vec::as_slice);
            for attrs in items {
                found.push(self.item_from(attrs, true)?);
            }
            // Keys left over: throttled, or past the 16 MB a response holds.
            pending = out
                .unprocessed_keys()
                .and_then(|u| u.get(&self.table))
                .map(|k| k.keys().to_vec())
                .unwrap_or_default();
            // No key answered (found or absent): throttled, so wait before asking again.
            if !pending.is_empty() && pending.len() == asked {
                idle_rounds += 1;
                if idle_rounds > BATCH_GET_IDLE_ROUNDS {
                    return Err(TableError::Transient(format!(
                        "DynamoDB table {}: {} keys still unprocessed after {idle_rounds} \
                         rounds without progress",
                        self.table,
                        pending.len()
                    )));
                }
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(1));
            }
        }
        Ok(found)
    }

    fn key(pk: &str, sk: &str) -> HashMap<String, AttributeValue> {
        HashMap::from([
            (TABLE_PK.to_owned(), AttributeValue::S(pk.to_owned())),
            (TABLE_SK.to_owned(), AttributeValue::S(sk.to_owned())),
        ])
    }
}

type HttpResponse = aws_sdk_dynamodb::config::http::HttpResponse;

impl Table for DynamoTable {
    #[tracing::instrument(level = "debug", skip(self), fields(table = %self.table))]
    async fn get(&self, pk: &str, sk: &str) -> Result<Option<Item>, TableError> {
        check_key(TABLE_PK, pk, MAX_PARTITION_KEY_BYTES)?;
        check_key(TABLE_SK, sk, MAX_SORT_KEY_BYTES)?;
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(pk, sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| self.error(classify(&e)))?;
        let item = out
            .item()
            .map(|attrs| self.item_from(attrs, true))
            .transpose()?;
        // GetItem takes no filter: TTL may not have deleted an expired item yet.
        Ok(item.filter(|item| !item.is_expired_at(unix_now())))
    }

    #[tracing::instrument(level = "debug", skip_all, fields(table = %self.table, keys = keys.len()))]
    async fn get_many(&self, keys: &[(String, String)]) -> Result<Vec<Option<Item>>, TableError> {
        for (pk, sk) in keys {
            check_key(TABLE_PK, pk, MAX_PARTITION_KEY_BYTES)?;
            check_key(TABLE_SK, sk, MAX_SORT_KEY_BYTES)?;
        }
        // BatchGetItem refuses a key given twice in one request: each is asked for once.
        let unique: HashSet<(&str, &str)> = keys
            .iter()
            .map(|(pk, sk)| (pk.as_str(), sk.as_str()))
            .collect();
        let unique: Vec<(&str, &str)> = unique.into_iter().collect();
        // A long range (a media's days over years) is many requests: a few at a time.
        let requests: Vec<_> = unique
            .chunks(MAX_BATCH_GET_KEYS)
            .map(|chunk| self.batch_get(chunk.iter().map(|(pk, sk)| Self::key(pk, sk)).collect()))
            .collect();
        let answers: Vec<Vec<Item>> = futures_util::stream::iter(requests)
            .buffer_unordered(BATCH_GETS_AT_ONCE)
            .try_collect()
            .await?;
        let found: HashMap<(String, String), Item> = answers
            .into_iter()
            .flatten()
            .map(|item| ((item.pk.clone(), item.sk.clone()), item))
            .collect();
        // BatchGetItem takes no filter either: TTL may not have deleted an expired item yet.
        let now = unix_now();
        Ok(keys
            .iter()
            .map(|(pk, sk)| {
                found
                    .get(&(pk.clone(), sk.clone()))
                    .filter(|item| !item.is_expired_at(now))
                    .cloned()
            })
            .collect())
    }

    #[tracing::instrument(
        level = "debug",
        skip_all,
        fields(table = %self.table, pk = %item.pk, sk = %item.sk, ?condition)
    )]
    async fn put(&self, item: Item, condition: Condition) -> Result<(), TableError> {
        let (pk, sk) = (item.pk.clone(), item.sk.clone());
        let attrs = item_attributes(item)?;
        let guard = Guard::new(condition, unix_now());
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(attrs))
            .set_condition_expression(guard.expression)
            .set_expression_attribute_names(guard.names)
            .set_expression_attribute_values(guard.values)
            .send()
            .await
            .map_err(|e| self.write_error(&e, &pk, &sk))?;
        Ok(())
    }

    #[tracing::instrument(level = "debug", skip(self), fields(table = %self.table))]
    async fn delete(&self, pk: &str, sk: &str, condition: Condition) -> Result<(), TableError> {
        check_key(TABLE_PK, pk, MAX_PARTITION_KEY_BYTES)?;
        check_key(TABLE_SK, sk, MAX_SORT_KEY_BYTES)?;
        let guard = Guard::new(condition, unix_now());
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(pk, sk)))
            .set_condition_expression(guard.expression)
            .set_expression_attribute_names(guard.names)
            .set_expression_attribute_values(guard.values)
            .send()
            .await
            .map_err(|e| self.write_error(&e, pk, sk))?;
        Ok(())
    }

    #[tracing::instrument(
        level = "debug",
        skip_all,
        fields(
            table = %self.table,
            partition = %query.partition,
            index = ?query.index,
            prefix = %query.sk_prefix
        )
    )]
    async fn query(&self, query: Query) -> Result<Page, TableError> {
        let shape = Shape {
            index: query.index,
            partition: query.partition,
            prefix: query.sk_prefix,
            descending: query.descending,
        };
        let (partition_attr, sort_attr, index_name) = match shape.index {
            Index::Primary => (TABLE_PK, TABLE_SK, None),
            Index::Gsi1 => (GSI1_PK, GSI1_SK, Some(GSI1_NAME)),
        };
        check_key(partition_attr, &shape.partition, MAX_PARTITION_KEY_BYTES)?;
        let mut start = query
            .cursor
            .as_deref()
            .map(|c| Cursor::decode(c, &shape))
            .transpose()?
            .map(|c| c.start_key());
        if shape.prefix.len() > MAX_SORT_KEY_BYTES {
            // No sort key is that long, so nothing matches; DynamoDB would refuse the operand.
            return Ok(Page {
                items: Vec::new(),
                next_cursor: None,
            });
        }
        let limit = query.limit.clamp(1, MAX_PAGE_ITEMS);

        let mut names = HashMap::from([
            ("#p".to_owned(), partition_attr.to_owned()),
            ("#exp".to_owned(), EXPIRES_AT.to_owned()),
        ]);
        let mut values = HashMap::from([
            (":p".to_owned(), AttributeValue::S(shape.partition.clone())),
            (":now".to_owned(), number(unix_now())),
        ]);
        // A keys-only read leaves the data out on the wire (DynamoDB still counts it read).
        let projection = query.keys_only.then(|| {
            let attrs = [TABLE_PK, TABLE_SK, GSI1_PK, GSI1_SK, VERSION];
            let mut projection = vec!["#exp".to_owned()];
            for (i, attr) in attrs.into_iter().enumerate() {
                names.insert(format!("#k{i}"), attr.to_owned());
                projection.push(format!("#k{i}"));
            }
            projection.join(", ")
        });
        let mut key_condition = "#p = :p".to_owned();
        if !shape.prefix.is_empty() {
            key_condition.push_str(" AND begins_with(#s, :prefix)");
            names.insert("#s".to_owned(), sort_attr.to_owned());
            values.insert(
                ":prefix".to_owned(),
                AttributeValue::S(shape.prefix.clone()),
            );
        }

        // A page stops at `limit` items or at 1 MB read, counted before the expiry filter, so
        // a page whose items had all expired comes back empty with a `LastEvaluatedKey`: read
        // on rather than hand the caller an empty page and a cursor.
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .set_index_name(index_name.map(str::to_owned))
                .key_condition_expression(&key_condition)
                .filter_expression(LIVE_FILTER)
                .set_expression_attribute_names(Some(names.clone()))
                .set_expression_attribute_values(Some(values.clone()))
                .set_projection_expression(projection.clone())
                .scan_index_forward(!shape.descending)
                .limit(i32::try_from(limit).unwrap_or(i32::MAX))
                .set_exclusive_start_key(start.take())
                // Strongly consistent on the table, as the embedded adapter is; a GSI is always
                // eventually consistent and DynamoDB refuses `ConsistentRead` there.
                .set_consistent_read((shape.index == Index::Primary).then_some(true))
                .send()
                .await
                .map_err(|e| self.error(classify(&e)))?;
            let items = out
                .items()
                .iter()
                .map(|attrs| self.item_from(attrs, !query.keys_only))
                .collect::<Result<Vec<_>, _>>()?;
            let next = out
                .last_evaluated_key()
                .map(|key| Cursor::new(key, &shape))
                .transpose()
                .map_err(|e| {
                    TableError::Backend(format!(
                        "DynamoDB table {}: unexpected LastEvaluatedKey: {e}",
                        self.table
                    ))
                })?;
            match next {
                Some(cursor) if items.is_empty() => start = Some(cursor.start_key()),
                next => {
                    return Ok(Page {
                        items,
                        next_cursor: next.map(|c| c.encode()),
                    });
                }
            }
        }
    }

    #[tracing::instrument(level = "debug", skip_all, fields(table = %self.table, ops = ops.len()))]
    async fn transact_write(&self, ops: Vec<WriteOp>) -> Result<(), TableError> {
        if ops.is_empty() || ops.len() > MAX_TRANSACT_ITEMS {
            return Err(TableError::Invalid(format!(
                "a transaction holds 1 to {MAX_TRANSACT_ITEMS} operations, not {}",
                ops.len()
            )));
        }
        let mut keys = HashSet::with_capacity(ops.len());
        let mut items = Vec::with_capacity(ops.len());
        let now = unix_now();
        for op in ops {
            let (pk, sk) = match &op {
                WriteOp::Put { item, .. } => (item.pk.clone(), item.sk.clone()),
                WriteOp::Delete { pk, sk, .. } | WriteOp::Check { pk, sk, .. } => {
                    (pk.clone(), sk.clone())
                }
            };
            items.push(self.transact_item(op, now)?);
            if !keys.insert((pk.clone(), sk.clone())) {
                return Err(TableError::Invalid(format!(
                    "a transaction cannot include more than one operation on {pk} / {sk}"
                )));
            }
        }

        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            // The SDK resends the same request on a retry; with a token DynamoDB applies it at
            // most once (for 10 minutes), so a retry of a transaction that did commit is not
            // reported as cancelled by its own conditions.
            .client_request_token(request_token())
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) => {
                match err.as_service_error() {
                    Some(TransactWriteItemsError::TransactionCanceledException(e)) => Err(
                        cancelled(&self.table, e.cancellation_reasons(), e.message()),
                    ),
                    _ => Err(self.error(classify(&err))),
                }
            }
        }
    }
}

impl DynamoTable {
    /// One operation of a transaction, checked against DynamoDB's limits; expiry is judged at
    /// `now`.
    fn transact_item(&self, op: WriteOp, now: i64) -> Result<TransactWriteItem, TableError> {
        let built = |e: aws_sdk_dynamodb::error::BuildError| {
            TableError::Backend(format!("building a transaction request: {e}"))
        };
        Ok(match op {
            WriteOp::Put { item, condition } => {
                let guard = Guard::new(condition, now);
                let put = Put::builder()
                    .table_name(&self.table)
                    .set_item(Some(item_attributes(item)?))
                    .set_condition_expression(guard.expression)
                    .set_expression_attribute_names(guard.names)
                    .set_expression_attribute_values(guard.values)
                    .build()
                    .map_err(built)?;
                TransactWriteItem::builder().put(put).build()
            }
            WriteOp::Delete { pk, sk, condition } => {
                check_key(TABLE_PK, &pk, MAX_PARTITION_KEY_BYTES)?;
                check_key(TABLE_SK, &sk, MAX_SORT_KEY_BYTES)?;
                let guard = Guard::new(condition, now);
                let delete = Delete::builder()
                    .table_name(&self.table)
                    .set_key(Some(Self::key(&pk, &sk)))
                    .set_condition_expression(guard.expression)
                    .set_expression_attribute_names(guard.names)
                    .set_expression_attribute_values(guard.values)
                    .build()
                    .map_err(built)?;
                TransactWriteItem::builder().delete(delete).build()
            }
            WriteOp::Check { pk, sk, condition } => {
                check_key(TABLE_PK, &pk, MAX_PARTITION_KEY_BYTES)?;
                check_key(TABLE_SK, &sk, MAX_SORT_KEY_BYTES)?;
                // A `ConditionCheck` must carry an expression; `Always` gets one that always
                // holds, so the operation keeps its place (and its index in the reasons).
                let guard = match condition {
                    Condition::Always => Guard::always_holds(),
                    other => Guard::new(other, now),
                };
                let check = ConditionCheck::builder()
                    .table_name(&self.table)
                    .set_key(Some(Self::key(&pk, &sk)))
                    .set_condition_expression(guard.expression)
                    .set_expression_attribute_names(guard.names)
                    .set_expression_attribute_values(guard.values)
                    .build()
                    .map_err(built)?;
                TransactWriteItem::builder().condition_check(check).build()
            }
        })
    }
}

/// Creates `name` with the single-table schema (see the module docs), waits until the table
/// and its index are ACTIVE and enables TTL on [`EXPIRES_AT`]. A table of that name that
/// already exists is an error.
pub async fn create_table(client: &Client, name: &str) -> Result<(), TableError> {
    let built = |e: aws_sdk_dynamodb::error::BuildError| {
        TableError::Backend(format!("building the CreateTable request: {e}"))
    };
    let string_attribute = |attr: &str| {
        AttributeDefinition::builder()
            .attribute_name(attr)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .map_err(built)
    };
    let key = |attr: &str, key_type: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(attr)
            .key_type(key_type)
            .build()
            .map_err(built)
    };
    let gsi1 = GlobalSecondaryIndex::builder()
        .index_name(GSI1_NAME)
        .key_schema(key(GSI1_PK, KeyType::Hash)?)
        .key_schema(key(GSI1_SK, KeyType::Range)?)
        .projection(
            Projection::builder()
                .projection_type(ProjectionType::All)
                .build(),
        )
        .build()
        .map_err(built)?;
    client
        .create_table()
        .table_name(name)
        .attribute_definitions(string_attribute(TABLE_PK)?)
        .attribute_definitions(string_attribute(TABLE_SK)?)
        .attribute_definitions(string_attribute(GSI1_PK)?)
        .attribute_definitions(string_attribute(GSI1_SK)?)
        .key_schema(key(TABLE_PK, KeyType::Hash)?)
        .key_schema(key(TABLE_SK, KeyType::Range)?)
        .global_secondary_indexes(gsi1)
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .map_err(|e| {
            let failure = classify(&e);
            if failure.code() == Some("ResourceInUseException") {
                TableError::Invalid(format!("DynamoDB table {name} already exists"))
            } else {
                error_for(name, failure)
            }
        })?;

    let started = Instant::now();
    let mut pause = Duration::from_millis(50);
    loop {
        let out = client
            .describe_table()
            .table_name(name)
            .send()
            .await
            .map_err(|e| error_for(name, classify(&e)))?;
        let table = out.table();
        let table_active = table.and_then(|t| t.table_status()) == Some(&TableStatus::Active);
        let indexes_active = table.is_some_and(|t| {
            t.global_secondary_indexes()
                .iter()
                .all(|i| i.index_status() == Some(&IndexStatus::Active))
        });
        if table_active && indexes_active {
            break;
        }
        if started.elapsed() > CREATE_TIMEOUT {
            return Err(TableError::Transient(format!(
                "DynamoDB table {name} is not ACTIVE after {CREATE_TIMEOUT:?}"
            )));
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(2));
    }

    // DynamoDB takes TTL settings only for an ACTIVE table, and not in `CreateTable`.
    client
        .update_time_to_live()
        .table_name(name)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .attribute_name(EXPIRES_AT)
                .enabled(true)
                .build()
                .map_err(built)?,
        )
        .send()
        .await
        .map_err(|e| error_for(name, classify(&e)))?;
    Ok(())
}

/// A failure of a call on `table` as the port's error.
fn error_for(table: &str, failure: Failure) -> TableError {
    match &failure {
        Failure::Transient(_) => {
            TableError::Transient(format!("DynamoDB table {table}: {}", failure.describe()))
        }
        // A write that collides with a running transaction: DynamoDB says to retry.
        Failure::Service { code, .. } if code == "TransactionConflictException" => {
            TableError::Transient(format!("DynamoDB table {table}: {}", failure.describe()))
        }
        Failure::Service { code, .. } if code == "ValidationException" => {
            TableError::Invalid(format!("DynamoDB table {table}: {}", failure.describe()))
        }
        Failure::Service { code, .. } if code == "ResourceNotFoundException" => {
            TableError::Backend(format!(
                "DynamoDB table {table} does not exist (or is not ACTIVE): {}",
                failure.describe()
            ))
        }
        Failure::Service { .. } | Failure::Other(_) => {
            TableError::Backend(format!("DynamoDB table {table}: {}", failure.describe()))
        }
    }
}

/// Cancellation-reason codes that a retry can clear: another transaction held an item, or the
/// table was throttled.
const TRANSIENT_REASONS: &[&str] = &[
    "TransactionConflict",
    "ThrottlingError",
    "ProvisionedThroughputExceeded",
    "RequestLimitExceeded",
];

/// A `TransactionCanceledException` as the port's error. DynamoDB gives one reason per
/// operation, in order, `None` for those that were fine.
fn cancelled(table: &str, reasons: &[CancellationReason], message: Option<&str>) -> TableError {
    let codes: Vec<&str> = reasons.iter().map(|r| r.code().unwrap_or("None")).collect();
    let describe = || {
        format!(
            "DynamoDB table {table}: transaction cancelled ({}): {codes:?}",
            message.unwrap_or("no message")
        )
    };
    // A conflict or throttling makes every other reason provisional: the conditions were
    // evaluated against items in flux, and a retry gives the definite answer.
    if codes.iter().any(|c| TRANSIENT_REASONS.contains(c)) {
        return TableError::Transient(describe());
    }
    if codes.contains(&"ValidationError") {
        return TableError::Invalid(describe());
    }
    if codes
        .iter()
        .any(|c| *c != "None" && *c != "ConditionalCheckFailed")
    {
        return TableError::Backend(describe());
    }
    let failed: Vec<usize> = codes
        .iter()
        .enumerate()
        .filter(|(_, c)| **c == "ConditionalCheckFailed")
        .map(|(i, _)| i)
        .collect();
    if failed.is_empty() {
        TableError::Backend(describe())
    } else {
        TableError::TransactionCancelled { failed }
    }
}

/// A client request token for `TransactWriteItems` (at most 36 characters), unique per call in
/// practice: time, process and a counter.
fn request_token() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let token = format!(
        "{:x}-{:x}-{:x}",
        nanos as u64,
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    token.chars().take(36).collect()
}

/// Items not expired at `:now` (`#exp` names [`EXPIRES_AT`]): the query filter, and part of the
/// conditions that need an item.
const LIVE_FILTER: &str = "(attribute_not_exists(#exp) OR #exp > :now)";

fn number(n: i64) -> AttributeValue {
    AttributeValue::N(n.to_string())
}

/// A write's condition as DynamoDB expression parts. Attribute names always go through
/// placeholders: `DATA` and others are DynamoDB reserved words, and DynamoDB refuses
/// placeholders an expression does not use, so each condition names exactly its own.
#[derive(Debug, Default)]
struct Guard {
    expression: Option<String>,
    names: Option<HashMap<String, String>>,
    values: Option<HashMap<String, AttributeValue>>,
}

impl Guard {
    /// `condition` at `now` (Unix seconds): an item expired by then counts as absent.
    fn new(condition: Condition, now: i64) -> Self {
        let names = |extra: &[(&str, &str)]| {
            let mut names = HashMap::from([
                ("#pk".to_owned(), TABLE_PK.to_owned()),
                ("#exp".to_owned(), EXPIRES_AT.to_owned()),
            ]);
            names.extend(
                extra
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
            );
            Some(names)
        };
        let now_value = || (":now".to_owned(), number(now));
        match condition {
            Condition::Always => Guard::default(),
            // A missing `expires_at` makes `#exp <= :now` false, so a lasting item is present.
            Condition::Absent => Guard {
                expression: Some("attribute_not_exists(#pk) OR #exp <= :now".to_owned()),
                names: names(&[]),
                values: Some(HashMap::from([now_value()])),
            },
            Condition::Exists => Guard {
                expression: Some(format!("attribute_exists(#pk) AND {LIVE_FILTER}")),
                names: names(&[]),
                values: Some(HashMap::from([now_value()])),
            },
            Condition::VersionIs(version) => Guard {
                expression: Some(format!(
                    "attribute_exists(#pk) AND #v = :v AND {LIVE_FILTER}"
                )),
                names: names(&[("#v", VERSION)]),
                values: Some(HashMap::from([
                    (":v".to_owned(), AttributeValue::N(version.to_string())),
                    now_value(),
                ])),
            },
        }
    }

    /// A condition that holds for every item, present or not.
    fn always_holds() -> Self {
        Guard {
            expression: Some("attribute_exists(#pk) OR attribute_not_exists(#pk)".to_owned()),
            names: Some(HashMap::from([("#pk".to_owned(), TABLE_PK.to_owned())])),
            values: None,
        }
    }
}

/// `item` as DynamoDB attributes, refused as `Invalid` where DynamoDB would refuse it.
fn item_attributes(item: Item) -> Result<HashMap<String, AttributeValue>, TableError> {
    check_key(TABLE_PK, &item.pk, MAX_PARTITION_KEY_BYTES)?;
    check_key(TABLE_SK, &item.sk, MAX_SORT_KEY_BYTES)?;
    if let Some(gsi1pk) = &item.gsi1pk {
        check_key(GSI1_PK, gsi1pk, MAX_PARTITION_KEY_BYTES)?;
    }
    if let Some(gsi1sk) = &item.gsi1sk {
        check_key(GSI1_SK, gsi1sk, MAX_SORT_KEY_BYTES)?;
    }
    let data = serde_json::to_string(&item.data)
        .map_err(|e| TableError::Invalid(format!("item data does not serialize: {e}")))?;
    let version = item.version.to_string();
    let expires_at = item.expires_at.map(|t| t.to_string());

    let size = item_size(&item, &version, expires_at.as_deref(), &data);
    if size > MAX_ITEM_BYTES {
        return Err(TableError::Invalid(format!(
            "item {} / {} is about {size} bytes, over the {MAX_ITEM_BYTES}-byte limit",
            item.pk, item.sk
        )));
    }

    let mut attrs = HashMap::with_capacity(7);
    attrs.insert(TABLE_PK.to_owned(), AttributeValue::S(item.pk));
    attrs.insert(TABLE_SK.to_owned(), AttributeValue::S(item.sk));
    if let Some(gsi1pk) = item.gsi1pk {
        attrs.insert(GSI1_PK.to_owned(), AttributeValue::S(gsi1pk));
    }
    if let Some(gsi1sk) = item.gsi1sk {
        attrs.insert(GSI1_SK.to_owned(), AttributeValue::S(gsi1sk));
    }
    attrs.insert(VERSION.to_owned(), AttributeValue::N(version));
    if let Some(expires_at) = expires_at {
        attrs.insert(EXPIRES_AT.to_owned(), AttributeValue::N(expires_at));
    }
    attrs.insert(DATA.to_owned(), AttributeValue::S(data));
    Ok(attrs)
}

/// DynamoDB's size of the item, from above: each attribute's name plus its value, strings as
/// their UTF-8 bytes (exact), numbers (version, expiry) as one byte per decimal digit plus one
/// (DynamoDB counts about one byte per two digits, plus one).
fn item_size(item: &Item, version: &str, expires_at: Option<&str>, data: &str) -> usize {
    let attribute = |name: &str, value: &str| name.len() + value.len();
    attribute(TABLE_PK, &item.pk)
        + attribute(TABLE_SK, &item.sk)
        + item.gsi1pk.as_deref().map_or(0, |v| attribute(GSI1_PK, v))
        + item.gsi1sk.as_deref().map_or(0, |v| attribute(GSI1_SK, v))
        + attribute(VERSION, version)
        + 1
        + expires_at.map_or(0, |t| attribute(EXPIRES_AT, t) + 1)
        + attribute(DATA, data)
}

/// An item as read back; an error names what does not fit the schema.
fn item_from_attributes(
    attrs: &HashMap<String, AttributeValue>,
    with_data: bool,
) -> Result<Item, String> {
    let string = |name: &str| -> Result<Option<String>, String> {
        match attrs.get(name) {
            None => Ok(None),
            Some(AttributeValue::S(s)) => Ok(Some(s.clone())),
            Some(other) => Err(format!("{name} is not a string: {other:?}")),
        }
    };
    let required = |name: &str| string(name)?.ok_or_else(|| format!("no {name}"));
    let version = match attrs.get(VERSION) {
        Some(AttributeValue::N(n)) => n
            .parse::<u64>()
            .map_err(|e| format!("{VERSION} {n:?} is not a u64: {e}"))?,
        other => return Err(format!("{VERSION} is not a number: {other:?}")),
    };
    let expires_at = match attrs.get(EXPIRES_AT) {
        None => None,
        Some(AttributeValue::N(n)) => Some(
            n.parse::<i64>()
                .map_err(|e| format!("{EXPIRES_AT} {n:?} is not an i64: {e}"))?,
        ),
        Some(other) => return Err(format!("{EXPIRES_AT} is not a number: {other:?}")),
    };
    let data = if with_data {
        let data = required(DATA)?;
        serde_json::from_str(&data).map_err(|e| format!("{DATA} is not JSON text: {e}"))?
    } else {
        serde_json::Value::Null
    };
    Ok(Item {
        pk: required(TABLE_PK)?,
        sk: required(TABLE_SK)?,
        gsi1pk: string(GSI1_PK)?,
        gsi1sk: string(GSI1_SK)?,
        version,
        expires_at,
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

/// What a cursor is valid for: the query that issued it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Shape {
    index: Index,
    partition: String,
    prefix: String,
    descending: bool,
}

/// The opaque `next_cursor`: base64url of this, as JSON. It holds DynamoDB's
/// `LastEvaluatedKey` (the table key of the last item read, plus its index keys on the index)
/// and the shape of the query it belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Cursor {
    /// Format version.
    v: u8,
    /// `"primary"` or `"gsi1"`.
    index: String,
    partition: String,
    prefix: String,
    desc: bool,
    pk: String,
    sk: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gsi1pk: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gsi1sk: Option<String>,
}

const CURSOR_VERSION: u8 = 1;

fn index_label(index: Index) -> &'static str {
    match index {
        Index::Primary => "primary",
        Index::Gsi1 => "gsi1",
    }
}

impl Cursor {
    /// The cursor after a page of `shape` that ended at `last_evaluated_key`.
    fn new(
        last_evaluated_key: &HashMap<String, AttributeValue>,
        shape: &Shape,
    ) -> Result<Self, String> {
        let mut expected = vec![TABLE_PK, TABLE_SK];
        if shape.index == Index::Gsi1 {
            expected.extend([GSI1_PK, GSI1_SK]);
        }
        let string = |name: &str| match last_evaluated_key.get(name) {
            Some(AttributeValue::S(s)) => Ok(s.clone()),
            other => Err(format!("{name}: {other:?}")),
        };
        if let Some(extra) = last_evaluated_key
            .keys()
            .find(|k| !expected.contains(&k.as_str()))
        {
            return Err(format!("an attribute {extra} outside the key"));
        }
        let on_index = shape.index == Index::Gsi1;
        Ok(Cursor {
            v: CURSOR_VERSION,
            index: index_label(shape.index).to_owned(),
            partition: shape.partition.clone(),
            prefix: shape.prefix.clone(),
            desc: shape.descending,
            pk: string(TABLE_PK)?,
            sk: string(TABLE_SK)?,
            gsi1pk: on_index.then(|| string(GSI1_PK)).transpose()?,
            gsi1sk: on_index.then(|| string(GSI1_SK)).transpose()?,
        })
    }

    /// The `ExclusiveStartKey` that resumes after this cursor.
    fn start_key(self) -> HashMap<String, AttributeValue> {
        let mut key = DynamoTable::key(&self.pk, &self.sk);
        if let Some(gsi1pk) = self.gsi1pk {
            key.insert(GSI1_PK.to_owned(), AttributeValue::S(gsi1pk));
        }
        if let Some(gsi1sk) = self.gsi1sk {
            key.insert(GSI1_SK.to_owned(), AttributeValue::S(gsi1sk));
        }
        key
    }

    fn encode(&self) -> String {
        // A struct of strings and bools always serializes.
        let json = serde_json::to_vec(self).unwrap_or_default();
        URL_SAFE_NO_PAD.encode(json)
    }

    /// Decodes `text`, refusing anything this adapter did not issue for a query of `shape`,
    /// and any start key DynamoDB would refuse (so a forged cursor is `BadCursor`, not a
    /// `ValidationException`).
    fn decode(text: &str, shape: &Shape) -> Result<Self, TableError> {
        let json = URL_SAFE_NO_PAD
            .decode(text)
            .map_err(|_| TableError::BadCursor)?;
        let cursor: Cursor = serde_json::from_slice(&json).map_err(|_| TableError::BadCursor)?;
        let key_ok = |value: &str, max: usize| !value.is_empty() && value.len() <= max;
        let fits = cursor.v == CURSOR_VERSION
            && cursor.index == index_label(shape.index)
            && cursor.partition == shape.partition
            && cursor.prefix == shape.prefix
            && cursor.desc == shape.descending
            && key_ok(&cursor.pk, MAX_PARTITION_KEY_BYTES)
            && key_ok(&cursor.sk, MAX_SORT_KEY_BYTES)
            && match shape.index {
                Index::Primary => {
                    cursor.pk == shape.partition
                        && cursor.sk.starts_with(&shape.prefix)
                        && cursor.gsi1pk.is_none()
                        && cursor.gsi1sk.is_none()
                }
                Index::Gsi1 => {
                    cursor.gsi1pk.as_deref() == Some(shape.partition.as_str())
                        && cursor.gsi1sk.as_deref().is_some_and(|s| {
                            key_ok(s, MAX_SORT_KEY_BYTES) && s.starts_with(&shape.prefix)
                        })
                }
            };
        if fits {
            Ok(cursor)
        } else {
            Err(TableError::BadCursor)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    fn reason(code: &str) -> CancellationReason {
        CancellationReason::builder().code(code).build()
    }

    #[test]
    fn cancellation_reasons_name_the_failed_conditions() {
        let reasons = [
            reason("None"),
            reason("ConditionalCheckFailed"),
            reason("None"),
            reason("ConditionalCheckFailed"),
        ];
        match cancelled("t", &reasons, None) {
            TableError::TransactionCancelled { failed } => assert_eq!(failed, [1, 3]),
            other => panic!("{other:?}"),
        }
    }

    // moto never reports these reasons (it runs transactions one at a time and never
    // throttles), so their mapping is checked here, on the reasons DynamoDB documents.
    #[test]
    fn conflicts_and_throttling_in_a_transaction_are_transient() {
        for code in TRANSIENT_REASONS {
            let reasons = [reason("ConditionalCheckFailed"), reason(code)];
            let error = cancelled("t", &reasons, Some("cancelled"));
            assert!(
                matches!(error, TableError::Transient(_)),
                "{code}: {error:?}"
            );
        }
        let error = cancelled("t", &[reason("None"), reason("ValidationError")], None);
        assert!(matches!(error, TableError::Invalid(_)), "{error:?}");
        let error = cancelled("t", &[reason("ItemCollectionSizeLimitExceeded")], None);
        assert!(matches!(error, TableError::Backend(_)), "{error:?}");
        let error = cancelled("t", &[], None);
        assert!(matches!(error, TableError::Backend(_)), "{error:?}");
    }

    #[test]
    fn failures_map_onto_the_port_errors_naming_the_table() {
        let service = |code: &str| Failure::Service {
            code: code.to_owned(),
            message: "m".to_owned(),
            status: Some(400),
        };
        let cases = [
            (Failure::Transient("timeout".to_owned()), "Transient"),
            (service("TransactionConflictException"), "Transient"),
            (service("ValidationException"), "Invalid"),
            (service("ResourceNotFoundException"), "Backend"),
            (service("AccessDeniedException"), "Backend"),
            (Failure::Other("?".to_owned()), "Backend"),
        ];
        for (failure, kind) in cases {
            let error = error_for("media-table", failure.clone());
            let got = match &error {
                TableError::Transient(_) => "Transient",
                TableError::Invalid(_) => "Invalid",
                TableError::Backend(_) => "Backend",
                _ => "other",
            };
            assert_eq!(got, kind, "{failure:?}");
            assert!(error.to_string().contains("media-table"), "{error}");
        }
    }

    #[test]
    fn items_round_trip_through_attributes() {
        let mut item = Item::new(
            "p",
            "s",
            serde_json::json!({"f": 1.0, "i": 1, "u": u64::MAX, "n": i64::MIN, "e": ""}),
        )
        .with_index("g", "k")
        .with_expiry(i64::MIN);
        item.version = u64::MAX;
        let attrs = item_attributes(item.clone()).expect("valid");
        assert!(matches!(attrs.get(DATA), Some(AttributeValue::S(_))));
        assert_eq!(
            attrs.get(VERSION),
            Some(&AttributeValue::N(u64::MAX.to_string()))
        );
        assert_eq!(
            attrs.get(EXPIRES_AT),
            Some(&AttributeValue::N(i64::MIN.to_string()))
        );
        assert_eq!(item_from_attributes(&attrs, true), Ok(item));

        let sparse = Item::new("p", "s", serde_json::Value::Null);
        let attrs = item_attributes(sparse.clone()).expect("valid");
        assert!(!attrs.contains_key(GSI1_PK) && !attrs.contains_key(GSI1_SK));
        assert!(
            !attrs.contains_key(EXPIRES_AT),
            "no expiry, no TTL attribute"
        );
        assert_eq!(item_from_attributes(&attrs, true), Ok(sparse));
    }

    #[test]
    fn an_expiry_that_is_not_an_integer_is_refused() {
        let mut attrs =
            item_attributes(Item::new("p", "s", serde_json::Value::Null)).expect("valid");
        for bad in [
            AttributeValue::N("1.5".to_owned()),
            AttributeValue::S("1".to_owned()),
        ] {
            attrs.insert(EXPIRES_AT.to_owned(), bad.clone());
            let read = item_from_attributes(&attrs, true);
            assert!(
                read.as_ref().is_err_and(|e| e.contains(EXPIRES_AT)),
                "{bad:?}: {read:?}"
            );
        }
    }

    #[test]
    fn guards_name_exactly_the_placeholders_they_use() {
        // DynamoDB refuses a request whose names or values include one its expressions do not
        // use, and one they use but do not define.
        let guards = [
            Condition::Absent,
            Condition::Exists,
            Condition::VersionIs(3),
        ]
        .map(|c| (format!("{c:?}"), Guard::new(c, 1_000)));
        for (condition, guard) in guards
            .into_iter()
            .chain([("always holds".to_owned(), Guard::always_holds())])
        {
            let expression = guard.expression.expect("an expression");
            let defined: BTreeSet<String> = guard
                .names
                .unwrap_or_default()
                .into_keys()
                .chain(guard.values.unwrap_or_default().into_keys())
                .collect();
            let used: BTreeSet<String> = expression
                .split(|c: char| !(c.is_alphanumeric() || c == '#' || c == ':' || c == '_'))
                .filter(|w| w.starts_with('#') || w.starts_with(':'))
                .map(str::to_owned)
                .collect();
            assert_eq!(defined, used, "{condition}: {expression}");
        }
        assert!(Guard::new(Condition::Always, 0).expression.is_none());
    }

    #[test]
    fn conditions_judge_expiry_at_the_given_time() {
        let guard = Guard::new(Condition::Absent, 1_234);
        assert_eq!(
            guard.expression.as_deref(),
            Some("attribute_not_exists(#pk) OR #exp <= :now")
        );
        assert_eq!(
            guard.values.and_then(|v| v.get(":now").cloned()),
            Some(AttributeValue::N("1234".to_owned()))
        );
        assert_eq!(
            guard.names.and_then(|n| n.get("#exp").cloned()).as_deref(),
            Some(EXPIRES_AT)
        );
    }

    #[test]
    fn the_size_estimate_is_never_below_dynamodbs_count() {
        // DynamoDB: names plus values; strings by UTF-8 bytes; numbers at most 21 bytes.
        let item = Item::new("pé", "s", serde_json::json!("ü")).with_index("g", "k");
        let (version, data) = ("1", "\"ü\"");
        let exact = (2 + 3) + (2 + 1) + (6 + 1) + (6 + 1) + (7 + 2) + (4 + 4);
        assert!(item_size(&item, version, None, data) >= exact);
        let mut big = item.clone();
        big.version = u64::MAX;
        assert!(item_size(&big, &u64::MAX.to_string(), None, data) >= exact - 2 + 21);
        let expiry = "1767225600";
        let with_expiry = exact + 10 + (expiry.len() / 2 + 1);
        assert!(item_size(&item, version, Some(expiry), data) >= with_expiry);
    }

    #[test]
    fn cursors_fit_only_their_own_query() {
        let shape = Shape {
            index: Index::Gsi1,
            partition: "g".to_owned(),
            prefix: "k".to_owned(),
            descending: false,
        };
        let key = HashMap::from([
            ("pk".to_owned(), AttributeValue::S("p".to_owned())),
            ("sk".to_owned(), AttributeValue::S("s".to_owned())),
            ("gsi1pk".to_owned(), AttributeValue::S("g".to_owned())),
            ("gsi1sk".to_owned(), AttributeValue::S("k1".to_owned())),
        ]);
        let cursor = Cursor::new(&key, &shape).expect("a key of the index");
        let text = cursor.encode();
        let decoded = Cursor::decode(&text, &shape).expect("its own query");
        assert_eq!(decoded.clone().start_key(), key);

        for other in [
            Shape {
                descending: true,
                ..shape.clone()
            },
            Shape {
                prefix: "k1".to_owned(),
                ..shape.clone()
            },
            Shape {
                partition: "h".to_owned(),
                ..shape.clone()
            },
            Shape {
                index: Index::Primary,
                partition: "p".to_owned(),
                ..shape.clone()
            },
        ] {
            assert!(
                matches!(Cursor::decode(&text, &other), Err(TableError::BadCursor)),
                "{other:?}"
            );
        }

        // A table-key-only LastEvaluatedKey is not one of the index's.
        let short = HashMap::from([
            ("pk".to_owned(), AttributeValue::S("p".to_owned())),
            ("sk".to_owned(), AttributeValue::S("s".to_owned())),
        ]);
        assert!(Cursor::new(&short, &shape).is_err());
    }

    #[test]
    fn request_tokens_are_short_and_distinct() {
        let (a, b) = (request_token(), request_token());
        assert!(a.len() <= 36 && b.len() <= 36);
        assert_ne!(a, b);
    }
}
