//! Compaction: a tenant day's events files merged into one.
//!
//! Ingest writes one file per batch and day, so a busy day holds thousands of small files, and
//! every query of it pays per file (a request to S3, a footer to read, a scan to plan).
//! [`compact`] merges a closed day's files (`date < today`) into one, and [`compact_today`]
//! today's finished ones so far, into `compacted-{id}.parquet`, whose key-value metadata
//! lists the batches it holds (`mvidarr.batches`, a JSON array). Rows are copied column for
//! column, pseudonymised ones included.
//!
//! Two rules keep every event counted once:
//!
//! - **Only finished batches are merged**: those the rollups count in full (their marker is in
//!   the table), or whose file is older than the markers live (15 days, longer than any queue
//!   redelivers). A batch still being ingested, or to be retried, keeps its own file until a
//!   later run. Ingest, for its part, writes no file for a day a batch was applied to in full
//!   before ([`crate::ingest`]), so a redelivered batch never brings back a merged file.
//! - **A run cut short is finished by the next**: the merged file is written before its inputs
//!   are deleted, and its metadata names them. The next run deletes any batch file a compacted
//!   file already holds, and any compacted file whose batches another one holds too, before
//!   merging what is left. Between the write and the deletes (milliseconds, or until the next
//!   run after a crash) a query of that day counts the merged events twice. Closed days are
//!   compacted once a day, in the retention sweep; today once an hour.
//!
//! A file that cannot be read as an events file leaves its day as it is, reported for someone
//! to look at; the other days are compacted.
//!
//! The caller holds the tenant's events lease (`ErasureRepo::lease_events`) while compacting,
//! as erasures do while pseudonymising: a compaction that read a file before an erasure
//! rewrote it would bring the erased rows back.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use arrow_array::RecordBatch;
use chrono::{Duration, NaiveDate};
use mvidarr_core::Timestamp;
use mvidarr_core::ids::TenantId;
use mvidarr_core::keys;
use mvidarr_core::ports::blob::body_of;
use mvidarr_core::ports::{BlobStore, ObjectInfo, Table};
use mvidarr_core::repo::AnalyticsRepo;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::file::metadata::KeyValue;
use tracing::info;

use crate::parquet::{CONTENT_TYPE, EVENTS_SCHEMA, writer_properties};
use crate::retention::{RetentionError, UnreadableFile, list, partition_date, read};

/// What compacted files are named by (`compacted-{id}.parquet`); batch files are named by
/// their batch id, a hex digest.
pub const COMPACTED_PREFIX: &str = "compacted-";
/// The key-value metadata entry of a compacted file listing its batches.
pub const BATCHES_KEY: &str = "mvidarr.batches";
/// A batch file this old is merged whether or not its rollups marker is still there: the
/// markers (and every queue's redeliveries) are gone by then.
pub(crate) const SETTLED_AFTER: Duration = Duration::days(15);

/// What a compaction run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompactionOutcome {
    /// Days now held in one file that were not before.
    pub days_compacted: usize,
    /// Files merged (batch files and earlier compacted ones) and their bytes.
    pub files_merged: usize,
    pub bytes_merged: u64,
    /// Bytes of the compacted files written.
    pub bytes_written: u64,
    pub rows: u64,
    /// Files a cut-short run had merged already, deleted now.
    pub leftovers_deleted: usize,
    /// Batch files left for a later run: their batch is not finished yet.
    pub batches_unfinished: usize,
    /// Objects under the tenant's prefix outside any `date=` partition, not touched.
    pub unrecognised: usize,
}

/// One day's files, as listed.
#[derive(Default)]
struct DayFiles {
    /// Batch files by batch id.
    batches: BTreeMap<String, ObjectInfo>,
    compacted: Vec<ObjectInfo>,
}

/// Merge each closed day's finished batch files (and any earlier compacted file) of the
/// tenant into one file per day: the daily sweep.
pub async fn compact<B: BlobStore, T: Table>(
    blobs: &B,
    table: &T,
    tenant: TenantId,
    now: Timestamp,
) -> Result<CompactionOutcome, RetentionError> {
    let today = now.date_naive();
    let listed = keys::blob::analytics_tenant(tenant);
    compact_listed(blobs, table, tenant, now, &listed, |date| date < today).await
}

/// Merge today's finished batch files (and today's compacted file, from an earlier run) into
/// one, by the same rules as [`compact`]: run every hour, so that a query of a range ending
/// today reads the batches of the last hour at most, not the day's thousands. Rewriting the
/// day's file each hour writes it ~24 times a day in all, a few MB a busy tenant.
pub async fn compact_today<B: BlobStore, T: Table>(
    blobs: &B,
    table: &T,
    tenant: TenantId,
    now: Timestamp,
) -> Result<CompactionOutcome, RetentionError> {
    let today = now.date_naive();
    let listed = keys::blob::analytics_partition(tenant, today);
    compact_listed(blobs, table, tenant, now, &listed, |date| date == today).await
}

/// Compact the days of the objects under `listed` (the tenant's prefix or one of its
/// partitions) that `wanted` picks.
async fn compact_listed<B: BlobStore, T: Table>(
    blobs: &B,
    table: &T,
    tenant: TenantId,
    now: Timestamp,
    listed: &str,
    wanted: impl Fn(NaiveDate) -> bool,
) -> Result<CompactionOutcome, RetentionError> {
    let prefix = keys::blob::analytics_tenant(tenant);
    let mut outcome = CompactionOutcome::default();
    let mut days: BTreeMap<NaiveDate, DayFiles> = BTreeMap::new();
    for object in list(blobs, listed).await? {
        let Some(date) = partition_date(&prefix, &object.key) else {
            outcome.unrecognised += 1;
            continue;
        };
        if !wanted(date) {
            continue;
        }
        let name = object.key.rsplit('/').next().unwrap_or_default();
        let Some(stem) = name.strip_suffix(".parquet") else {
            outcome.unrecognised += 1;
            continue;
        };
        let day = days.entry(date).or_default();
        if stem.starts_with(COMPACTED_PREFIX) {
            day.compacted.push(object);
        } else {
            day.batches.insert(stem.to_owned(), object);
        }
    }
    let repo = AnalyticsRepo::new(table);
    let mut unreadable = Vec::new();
    for (date, files) in days {
        // Nothing to merge: one file already, and no earlier run to finish.
        if files.compacted.is_empty() && files.batches.len() < 2 {
            continue;
        }
        if let Err(file) = compact_day(blobs, &repo, tenant, date, files, now, &mut outcome).await?
        {
            unreadable.push(file);
        }
    }
    info!(%tenant, ?outcome, unreadable = unreadable.len(), "analytics events compacted");
    if unreadable.is_empty() {
        Ok(outcome)
    } else {
        Err(RetentionError::Unreadable(unreadable))
    }
}

/// Compact one day. `Ok(Err(file))`: a file of the day is no events file; the day is left as
/// it was.
async fn compact_day<B: BlobStore, T: Table>(
    blobs: &B,
    repo: &AnalyticsRepo<'_, T>,
    tenant: TenantId,
    date: NaiveDate,
    mut files: DayFiles,
    now: Timestamp,
    outcome: &mut CompactionOutcome,
) -> Result<Result<(), UnreadableFile>, RetentionError> {
    // What each compacted file holds, from its footer.
    let mut held: Vec<(ObjectInfo, BTreeSet<String>)> = Vec::new();
    for object in std::mem::take(&mut files.compacted) {
        let Some(body) = read(blobs, &object.key).await? else {
            continue;
        };
        match batches_of(&body) {
            Ok(batches) => held.push((object, batches)),
            Err(reason) => {
                return Ok(Err(UnreadableFile {
                    key: object.key,
                    reason,
                }));
            }
        }
    }
    // Finish a cut-short run: a compacted file another one holds in full is superseded (the
    // larger one was written last), and a batch file a compacted file holds was merged.
    held.sort_by_key(|(_, batches)| std::cmp::Reverse(batches.len()));
    let mut kept: Vec<(ObjectInfo, BTreeSet<String>)> = Vec::new();
    for (object, batches) in held {
        if kept.iter().any(|(_, k)| k.is_superset(&batches)) {
            delete(blobs, &object.key).await?;
            outcome.leftovers_deleted += 1;
        } else {
            kept.push((object, batches));
        }
    }
    for (_, batches) in &kept {
        for batch in batches {
            if let Some(object) = files.batches.remove(batch) {
                delete(blobs, &object.key).await?;
                outcome.leftovers_deleted += 1;
            }
        }
    }
    let applied = if files.batches.is_empty() {
        HashSet::new()
    } else {
        repo.applied_batches(tenant, date).await?
    };
    let settled = now - SETTLED_AFTER;
    let (ready, unfinished): (Vec<_>, Vec<_>) = files
        .batches
        .into_iter()
        .partition(|(batch, object)| applied.contains(batch) || object.last_modified < settled);
    outcome.batches_unfinished += unfinished.len();
    if kept.len() + ready.len() < 2 {
        return Ok(Ok(()));
    }

    let mut all_batches: BTreeSet<String> = BTreeSet::new();
    let mut inputs: Vec<ObjectInfo> = Vec::new();
    for (object, batches) in kept {
        all_batches.extend(batches);
        inputs.push(object);
    }
    for (batch, object) in ready {
        all_batches.insert(batch);
        inputs.push(object);
    }
    let batch_list = serde_json::to_string(&all_batches).expect("strings serialise");
    let properties = writer_properties()
        .set_key_value_metadata(Some(vec![KeyValue::new(
            BATCHES_KEY.to_owned(),
            batch_list,
        )]))
        .build();
    let mut merged = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut merged, EVENTS_SCHEMA.clone(), Some(properties))
        .map_err(write_failed)?;
    let mut rows = 0u64;
    let mut bytes_in = 0u64;
    for object in &inputs {
        let Some(body) = read(blobs, &object.key).await? else {
            // Gone since the listing (retention dropped the day): leave the day to it.
            return Ok(Ok(()));
        };
        bytes_in += body.len() as u64;
        let batches = match record_batches(body) {
            Ok(batches) => batches,
            Err(reason) => {
                return Ok(Err(UnreadableFile {
                    key: object.key.clone(),
                    reason,
                }));
            }
        };
        for batch in batches {
            rows += batch.num_rows() as u64;
            writer.write(&batch).map_err(write_failed)?;
        }
    }
    writer.close().map_err(write_failed)?;

    let key = format!(
        "{}{COMPACTED_PREFIX}{}.parquet",
        keys::blob::analytics_partition(tenant, date),
        ulid::Ulid::new().to_string().to_lowercase()
    );
    let written = merged.len() as u64;
    blobs
        .put(&key, body_of(merged), Some(CONTENT_TYPE))
        .await
        .map_err(|source| RetentionError::Blob {
            action: "write",
            key: key.clone(),
            source,
        })?;
    for object in &inputs {
        delete(blobs, &object.key).await?;
    }
    outcome.days_compacted += 1;
    outcome.files_merged += inputs.len();
    outcome.bytes_merged += bytes_in;
    outcome.bytes_written += written;
    outcome.rows += rows;
    Ok(Ok(()))
}

fn write_failed(e: parquet::errors::ParquetError) -> RetentionError {
    RetentionError::Write(e.to_string())
}

async fn delete<B: BlobStore>(blobs: &B, key: &str) -> Result<(), RetentionError> {
    blobs
        .delete(key)
        .await
        .map_err(|source| RetentionError::Blob {
            action: "delete",
            key: key.to_owned(),
            source,
        })
}

/// The batches a compacted file holds, from its key-value metadata.
fn batches_of(file: &bytes::Bytes) -> Result<BTreeSet<String>, String> {
    let builder = ParquetRecordBatchReaderBuilder::try_new(file.clone())
        .map_err(|e| format!("not an events file: {e}"))?;
    let list = builder
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .into_iter()
        .flatten()
        .find(|kv| kv.key == BATCHES_KEY)
        .and_then(|kv| kv.value.clone())
        .ok_or_else(|| format!("a compacted file without its {BATCHES_KEY} metadata"))?;
    serde_json::from_str(&list).map_err(|e| format!("its {BATCHES_KEY} metadata: {e}"))
}

/// An events file's rows, as batches of the events schema (whatever schema-level metadata
/// the file carried).
fn record_batches(file: bytes::Bytes) -> Result<Vec<RecordBatch>, String> {
    let fail = |e: parquet::errors::ParquetError| format!("not an events file: {e}");
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(fail)?;
    if builder.schema().fields() != EVENTS_SCHEMA.fields() {
        return Err(format!(
            "not an events file: unexpected columns {}",
            builder.schema()
        ));
    }
    builder
        .build()
        .map_err(fail)?
        .map(|batch| {
            let batch = batch.map_err(|e| format!("not an events file: {e}"))?;
            RecordBatch::try_new(EVENTS_SCHEMA.clone(), batch.columns().to_vec())
                .map_err(|e| e.to_string())
        })
        .collect()
}
