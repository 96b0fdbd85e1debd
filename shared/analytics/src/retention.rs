//! How long a tenant's analytics events are kept, and how one person's events are erased.
//!
//! **Retention** ([`enforce_retention`]) drops whole day partitions
//! (`analytics/events/t={tenant}/date={day}/`) once they fall out of the tenant's window: a
//! day `d` is kept while `d > today - events_days`. Deleting absent objects succeeds, so a run
//! cut short is finished by the next one and a second run finds nothing. Objects under the
//! tenant's prefix that are not in a `date=` partition are no events file this crate wrote:
//! they are left alone and counted, for someone to look at.
//!
//! The rollups in the table are not touched. Their counters, durations, tag counts and media
//! rankings are aggregates without identifiers and keep the dashboard's history. Their
//! distinct-user sketches ([`Users`](mvidarr_core::analytics::Users)) are another matter:
//! up to 128 users a day the sketch holds each profile id's unkeyed 31-bit hash encoding
//! exactly, so whoever knows a profile id can tell whether it was active that day. That is
//! pseudonymous, not anonymous, data; clearing the sketches of day items past the window
//! belongs to the rollups' repository (`AnalyticsRepo`), not to this module.
//!
//! **Erasure** ([`pseudonymise`]) replaces an [`ErasedSubject`] in every events file of the
//! tenant by a one-way pseudonym, `erased:` and the hex SHA-256 of a random 32-byte salt and
//! the subject's value. The salt is drawn per erasure and never stored, so the pseudonym
//! cannot be linked back to the subject, while within one erasure every occurrence gets the
//! same pseudonym: row counts and distinct-user counts stay what they were. Rows are
//! pseudonymised rather than deleted because the facts (a play, an API call) remain the
//! tenant's figures; only who did them goes.
//!
//! - The subject's column (`actor` for a platform user or API key, `user` for a viewer
//!   profile) is replaced where it equals the subject.
//! - `props` (JSON the tenant's app sent) is scrubbed too: every occurrence of the subject's
//!   id, in any string or key and in any letter case, is replaced (`user:<id>` as a whole
//!   first, so it reads as the pseudonym, not `user:erased:…`). Ids are 26-character ULIDs,
//!   so no other text matches by chance.
//! - `id`, `route` and `label` hold event ids, route templates and tag names, never a person.
//!
//! A file is rewritten only if the subject's column or its `props` contain the subject, as
//! read from the columns; others are left byte for byte. The rewrite keeps the schema, row
//! order, row groups and each column's compression, and is written over the same key: `put`
//! replaces an object whole, so a crash leaves the old file or the new one and queries never
//! see both. Running the erasure again finishes one cut short; the files already done no
//! longer contain the subject. A resumed erasure draws a new salt, so in ranges spanning files
//! of both runs the subject may count as two distinct users.
//!
//! A pseudonymised `user` column is no profile id, so
//! [`parquet::decode`](crate::parquet::decode), which types it, refuses such a file; this
//! module and the SQL engines read the columns as text.
//!
//! An events batch delivered again after the erasure (a retried queue message) writes its
//! original file again; an erasure run again after the events queue's retention period
//! (14 days) catches those.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef, RecordBatch, StringArray};
use arrow_schema::SchemaRef;
use bytes::Bytes;
use chrono::NaiveDate;
use mvidarr_core::ids::{ApiKeyId, ProfileId, TenantId, UserId};
use mvidarr_core::keys;
use mvidarr_core::ports::blob::{body_of, read_to_end};
use mvidarr_core::ports::{BlobError, BlobStore};
use mvidarr_core::repo::RepoError;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::{ARROW_SCHEMA_META_KEY, ArrowWriter};
use parquet::basic::Compression;
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;
use parquet::schema::types::ColumnPath;
use sha2::{Digest, Sha256};
use tracing::info;

use crate::parquet::{CONTENT_TYPE, EVENTS_SCHEMA};

/// The largest events file an erasure reads into memory. Ingest writes at most a batch
/// (1,000 events) a file, a few megabytes at most.
const MAX_EVENTS_FILE_BYTES: usize = 256 * 1024 * 1024;

/// What pseudonyms start with, so an erased value is recognisable as one.
const PSEUDONYM_PREFIX: &str = "erased:";

#[derive(Debug, thiserror::Error)]
pub enum RetentionError {
    /// A window of no days would delete today's events as they arrive.
    #[error("events must be kept at least one day")]
    NoWindow,
    #[error("cannot {action} {key}: {source}")]
    Blob {
        action: &'static str,
        key: String,
        #[source]
        source: BlobError,
    },
    #[error("cannot read {key}: {source}")]
    Read {
        key: String,
        #[source]
        source: std::io::Error,
    },
    /// Files that could not be read as events files; every other file was done.
    #[error("{} events files could not be read, the first {}", .0.len(), first_of(.0))]
    Unreadable(Vec<UnreadableFile>),
    #[error("cannot write a compacted events file: {0}")]
    Write(String),
    /// The rollups' markers (which batches are finished) could not be read.
    #[error(transparent)]
    Repo(#[from] RepoError),
}

fn first_of(files: &[UnreadableFile]) -> String {
    files.first().map(ToString::to_string).unwrap_or_default()
}

impl RetentionError {
    /// Whether running again may succeed (a store was unavailable).
    pub fn is_transient(&self) -> bool {
        match self {
            RetentionError::Blob { source, .. } => matches!(source, BlobError::Transient(_)),
            RetentionError::Read { source, .. } => source.kind() != std::io::ErrorKind::InvalidData,
            RetentionError::Repo(e) => e.is_transient(),
            RetentionError::NoWindow | RetentionError::Unreadable(_) | RetentionError::Write(_) => {
                false
            }
        }
    }
}

/// An events file an erasure could not go through, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnreadableFile {
    pub key: String,
    pub reason: String,
}

impl fmt::Display for UnreadableFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.reason)
    }
}

/// What enforcing retention deleted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetentionOutcome {
    /// Day partitions that had objects and now have none.
    pub partitions: usize,
    pub objects: usize,
    pub bytes: u64,
    /// Objects under the tenant's prefix outside any `date=` partition, left alone.
    pub unrecognised: usize,
}

/// Delete the tenant's events partitions older than `events_days` days before `today`
/// (UTC): `today - events_days + 1` is the oldest day kept.
pub async fn enforce_retention<B: BlobStore>(
    blobs: &B,
    tenant: TenantId,
    events_days: u32,
    today: NaiveDate,
) -> Result<RetentionOutcome, RetentionError> {
    if events_days == 0 {
        return Err(RetentionError::NoWindow);
    }
    // A window reaching before the calendar's start keeps everything.
    let cutoff = today.checked_sub_days(chrono::Days::new(u64::from(events_days)));
    let prefix = keys::blob::analytics_tenant(tenant);
    let objects = list(blobs, &prefix).await?;
    let mut outcome = RetentionOutcome::default();
    let mut dropped = BTreeSet::new();
    for object in objects {
        let Some(date) = partition_date(&prefix, &object.key) else {
            outcome.unrecognised += 1;
            continue;
        };
        if cutoff.is_none_or(|cutoff| date > cutoff) {
            continue;
        }
        blobs
            .delete(&object.key)
            .await
            .map_err(|source| RetentionError::Blob {
                action: "delete",
                key: object.key.clone(),
                source,
            })?;
        dropped.insert(date);
        outcome.objects += 1;
        outcome.bytes += object.size;
    }
    outcome.partitions = dropped.len();
    info!(%tenant, events_days, %today, ?outcome, "analytics retention enforced");
    Ok(outcome)
}

/// Whose events an erasure pseudonymises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErasedSubject {
    /// A platform user: the `actor` column's `user:<id>`.
    User(UserId),
    /// An API key (say, one an erased user made): the `actor` column's `key:<id>`.
    ApiKey(ApiKeyId),
    /// A viewer profile of the tenant's app: the `user` column of client events.
    Profile(ProfileId),
}

impl ErasedSubject {
    /// The subject an actor string names (`user:<id>`, `key:<id>`), if it names a user or
    /// an API key.
    pub fn parse_actor(actor: &str) -> Option<Self> {
        let (kind, id) = actor.split_once(':')?;
        match kind {
            "user" => id.parse().ok().map(ErasedSubject::User),
            "key" => id.parse().ok().map(ErasedSubject::ApiKey),
            _ => None,
        }
    }

    /// The events column that names the subject.
    fn column(&self) -> &'static str {
        match self {
            ErasedSubject::User(_) | ErasedSubject::ApiKey(_) => "actor",
            ErasedSubject::Profile(_) => "user",
        }
    }

    /// The subject as its column spells it.
    fn column_value(&self) -> String {
        match self {
            ErasedSubject::User(id) => format!("user:{id}"),
            ErasedSubject::ApiKey(id) => format!("key:{id}"),
            ErasedSubject::Profile(id) => id.to_string(),
        }
    }

    /// The bare id, however else a tenant's props may spell the subject around it.
    fn id(&self) -> String {
        match self {
            ErasedSubject::User(id) => id.to_string(),
            ErasedSubject::ApiKey(id) => id.to_string(),
            ErasedSubject::Profile(id) => id.to_string(),
        }
    }
}

/// What an erasure changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ErasureOutcome {
    /// Events files read.
    pub files_scanned: usize,
    /// Files that contained the subject and were replaced.
    pub files_rewritten: usize,
    /// Rows whose subject column or props changed.
    pub rows_changed: usize,
    /// The days of the rewritten files (their rollups' user sketches still count the
    /// subject's hash).
    pub days: BTreeSet<NaiveDate>,
    /// Objects under the tenant's prefix outside any `date=` partition, not read.
    pub unrecognised: usize,
}

/// Replace `subject` in every events file of the tenant by a pseudonym drawn for this
/// erasure (see the module docs for what is replaced and how).
pub async fn pseudonymise<B: BlobStore>(
    blobs: &B,
    tenant: TenantId,
    subject: &ErasedSubject,
) -> Result<ErasureOutcome, RetentionError> {
    let erasure = Erasure::new(subject);
    let prefix = keys::blob::analytics_tenant(tenant);
    let mut outcome = ErasureOutcome::default();
    let mut unreadable = Vec::new();
    for object in list(blobs, &prefix).await? {
        let Some(date) = partition_date(&prefix, &object.key) else {
            outcome.unrecognised += 1;
            continue;
        };
        let key = object.key;
        let file = match read(blobs, &key).await {
            Ok(Some(file)) => file,
            // Deleted since the listing (retention): nothing left to erase.
            Ok(None) => continue,
            Err(RetentionError::Read { source, .. })
                if source.kind() == std::io::ErrorKind::InvalidData =>
            {
                unreadable.push(UnreadableFile {
                    key,
                    reason: source.to_string(),
                });
                continue;
            }
            Err(e) => return Err(e),
        };
        outcome.files_scanned += 1;
        let rewritten = match erasure.rewrite(&file) {
            Ok(Some(rewritten)) => rewritten,
            Ok(None) => continue,
            Err(reason) => {
                unreadable.push(UnreadableFile { key, reason });
                continue;
            }
        };
        blobs
            .put(&key, body_of(rewritten.file), Some(CONTENT_TYPE))
            .await
            .map_err(|source| RetentionError::Blob {
                action: "replace",
                key: key.clone(),
                source,
            })?;
        outcome.files_rewritten += 1;
        outcome.rows_changed += rewritten.rows_changed;
        outcome.days.insert(date);
    }
    info!(
        %tenant,
        column = subject.column(),
        files_scanned = outcome.files_scanned,
        files_rewritten = outcome.files_rewritten,
        rows_changed = outcome.rows_changed,
        unreadable = unreadable.len(),
        "analytics events pseudonymised"
    );
    if unreadable.is_empty() {
        Ok(outcome)
    } else {
        Err(RetentionError::Unreadable(unreadable))
    }
}

pub(crate) async fn list<B: BlobStore>(
    blobs: &B,
    prefix: &str,
) -> Result<Vec<mvidarr_core::ports::ObjectInfo>, RetentionError> {
    blobs
        .list(prefix)
        .await
        .map_err(|source| RetentionError::Blob {
            action: "list",
            key: prefix.to_owned(),
            source,
        })
}

/// A whole object, or `None` if it is gone.
pub(crate) async fn read<B: BlobStore>(
    blobs: &B,
    key: &str,
) -> Result<Option<Bytes>, RetentionError> {
    let body = match blobs.get(key).await {
        Ok(body) => body,
        Err(BlobError::NotFound { .. }) => return Ok(None),
        Err(source) => {
            return Err(RetentionError::Blob {
                action: "read",
                key: key.to_owned(),
                source,
            });
        }
    };
    let bytes = read_to_end(body, MAX_EVENTS_FILE_BYTES)
        .await
        .map_err(|source| RetentionError::Read {
            key: key.to_owned(),
            source,
        })?;
    Ok(Some(Bytes::from(bytes)))
}

/// The day of an object in one of the tenant's partitions (`{prefix}date=YYYY-MM-DD/{name}`).
pub(crate) fn partition_date(tenant_prefix: &str, key: &str) -> Option<NaiveDate> {
    let rest = key.strip_prefix(tenant_prefix)?;
    let (partition, name) = rest.split_once('/')?;
    let day = partition.strip_prefix("date=")?;
    // Only the canonical spelling the keys use (chrono would take `2026-1-5`).
    if day.len() != 10 || name.is_empty() {
        return None;
    }
    NaiveDate::parse_from_str(day, "%Y-%m-%d")
        .ok()
        .filter(|d| d.format("%Y-%m-%d").to_string() == day)
}

/// One erasure: the subject and the pseudonym drawn for it.
struct Erasure {
    column: &'static str,
    value: String,
    /// The bare id: a props value that contains it names the subject.
    id: String,
    /// The spellings replaced in props, longest first.
    props_needles: Vec<String>,
    pseudonym: String,
}

/// A file with the subject replaced.
struct Rewritten {
    file: Vec<u8>,
    rows_changed: usize,
}

/// An events file's row groups as read, with what the rewrite must keep.
struct EventsFile {
    schema: SchemaRef,
    row_groups: Vec<Vec<RecordBatch>>,
    /// Each column's compression, as the file's first row group has it.
    compression: Vec<(ColumnPath, Compression)>,
    max_row_group_rows: usize,
    /// The file's own key-value metadata (a compacted file's batches), kept as it was.
    key_values: Vec<KeyValue>,
}

impl Erasure {
    fn new(subject: &ErasedSubject) -> Self {
        let value = subject.column_value();
        let salt: [u8; 32] = rand::random();
        let mut digest = Sha256::new();
        digest.update(salt);
        digest.update(value.as_bytes());
        let pseudonym = format!("{PSEUDONYM_PREFIX}{}", hex::encode(digest.finalize()));
        let id = subject.id();
        let mut props_needles = vec![id.clone()];
        if value != id {
            props_needles.insert(0, value.clone());
        }
        Erasure {
            column: subject.column(),
            value,
            id,
            props_needles,
            pseudonym,
        }
    }

    /// The file with the subject replaced, or `None` if it does not contain the subject.
    /// `Err` says why the file cannot be read or written as an events file.
    fn rewrite(&self, file: &Bytes) -> Result<Option<Rewritten>, String> {
        let events = read_events_file(file)?;
        let column = events
            .schema
            .index_of(self.column)
            .map_err(|e| e.to_string())?;
        let props = events.schema.index_of("props").map_err(|e| e.to_string())?;
        let contains_subject = events.row_groups.iter().flatten().any(|batch| {
            let (subject, props) = (
                batch.column(column).as_string::<i32>(),
                batch.column(props).as_string::<i32>(),
            );
            subject.iter().flatten().any(|v| v == self.value)
                || props
                    .iter()
                    .flatten()
                    .any(|p| find_ignoring_case(p, &self.id).is_some())
        });
        if !contains_subject {
            return Ok(None);
        }
        let mut rows_changed = 0;
        let mut row_groups = Vec::with_capacity(events.row_groups.len());
        for group in &events.row_groups {
            let mut batches = Vec::with_capacity(group.len());
            for batch in group {
                let (subject, changed_subject) =
                    self.replace_subject(batch.column(column).as_string::<i32>());
                let (scrubbed, changed_props) =
                    self.scrub_props(batch.column(props).as_string::<i32>())?;
                rows_changed += changed_subject
                    .iter()
                    .zip(&changed_props)
                    .filter(|(a, b)| **a || **b)
                    .count();
                let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
                columns[column] = Arc::new(subject);
                columns[props] = Arc::new(scrubbed);
                batches.push(
                    RecordBatch::try_new(events.schema.clone(), columns)
                        .map_err(|e| e.to_string())?,
                );
            }
            row_groups.push(batches);
        }
        let file = write_events_file(&events, &row_groups)?;
        Ok(Some(Rewritten { file, rows_changed }))
    }

    /// The subject column with the subject replaced, and which rows changed.
    fn replace_subject(&self, values: &StringArray) -> (StringArray, Vec<bool>) {
        let mut changed = Vec::with_capacity(values.len());
        let replaced = values
            .iter()
            .map(|v| {
                let hit = v == Some(self.value.as_str());
                changed.push(hit);
                if hit {
                    Some(self.pseudonym.as_str())
                } else {
                    v
                }
            })
            .collect();
        (replaced, changed)
    }

    /// The props column with every spelling of the subject replaced, and which rows changed.
    fn scrub_props(&self, values: &StringArray) -> Result<(StringArray, Vec<bool>), String> {
        let mut changed = Vec::with_capacity(values.len());
        let mut scrubbed = Vec::with_capacity(values.len());
        for value in values.iter() {
            let mut text = value.map(str::to_owned);
            let mut hit = false;
            if let Some(json) = &mut text {
                for needle in &self.props_needles {
                    if let Some(replaced) = replace_ignoring_case(json, needle, &self.pseudonym) {
                        *json = replaced;
                        hit = true;
                    }
                }
                // The pseudonym is JSON-safe text replacing a ULID inside a string or key;
                // check anyway, a broken row would break every query of its day.
                if hit {
                    serde_json::from_str::<serde_json::Value>(json)
                        .map_err(|e| format!("props no longer JSON after the erasure: {e}"))?;
                }
            }
            changed.push(hit);
            scrubbed.push(text);
        }
        Ok((StringArray::from(scrubbed), changed))
    }
}

fn read_events_file(file: &Bytes) -> Result<EventsFile, String> {
    let fail = |e: parquet::errors::ParquetError| format!("not an events file: {e}");
    let builder = ParquetRecordBatchReaderBuilder::try_new(file.clone()).map_err(fail)?;
    let schema = builder.schema().clone();
    if schema.fields() != EVENTS_SCHEMA.fields() {
        return Err(format!("not an events file: unexpected columns {schema}"));
    }
    let metadata = builder.metadata().clone();
    let compression = match metadata.row_groups().first() {
        Some(group) => group
            .columns()
            .iter()
            .map(|c| (c.column_path().clone(), c.compression()))
            .collect(),
        None => Vec::new(),
    };
    let mut row_groups = Vec::with_capacity(metadata.num_row_groups());
    let mut max_row_group_rows = 1;
    for (i, group) in metadata.row_groups().iter().enumerate() {
        let rows = usize::try_from(group.num_rows()).map_err(|e| e.to_string())?;
        max_row_group_rows = max_row_group_rows.max(rows);
        // One reader a row group, so the rewrite can end its row groups where they ended.
        let reader = ParquetRecordBatchReaderBuilder::try_new(file.clone())
            .map_err(fail)?
            .with_row_groups(vec![i])
            .with_batch_size(rows.max(1))
            .build()
            .map_err(fail)?;
        let batches = reader
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("not an events file: {e}"))?;
        row_groups.push(batches);
    }
    let key_values = metadata
        .file_metadata()
        .key_value_metadata()
        .into_iter()
        .flatten()
        // The writer encodes the schema again itself.
        .filter(|kv| kv.key != ARROW_SCHEMA_META_KEY)
        .cloned()
        .collect();
    Ok(EventsFile {
        schema,
        row_groups,
        compression,
        max_row_group_rows,
        key_values,
    })
}

fn write_events_file(
    original: &EventsFile,
    row_groups: &[Vec<RecordBatch>],
) -> Result<Vec<u8>, String> {
    let fail = |e: parquet::errors::ParquetError| format!("cannot write the events file: {e}");
    let mut properties =
        WriterProperties::builder().set_max_row_group_row_count(Some(original.max_row_group_rows));
    if let Some((_, first)) = original.compression.first() {
        properties = properties.set_compression(*first);
    }
    for (path, compression) in &original.compression {
        properties = properties.set_column_compression(path.clone(), *compression);
    }
    if !original.key_values.is_empty() {
        properties = properties.set_key_value_metadata(Some(original.key_values.clone()));
    }
    let mut out = Vec::new();
    let mut writer =
        ArrowWriter::try_new(&mut out, original.schema.clone(), Some(properties.build()))
            .map_err(fail)?;
    for group in row_groups {
        for batch in group {
            writer.write(batch).map_err(fail)?;
        }
        writer.flush().map_err(fail)?;
    }
    writer.close().map_err(fail)?;
    Ok(out)
}

/// Where `needle` (ASCII) first occurs in `text`, ignoring ASCII letter case.
fn find_ignoring_case(text: &str, needle: &str) -> Option<usize> {
    let (text, needle) = (text.as_bytes(), needle.as_bytes());
    if needle.is_empty() {
        return None;
    }
    text.windows(needle.len())
        .position(|w| w.eq_ignore_ascii_case(needle))
}

/// `text` with every occurrence of `needle` (ASCII) replaced, ignoring ASCII letter case, or
/// `None` if there is none. An ASCII needle starts and ends on character boundaries.
fn replace_ignoring_case(text: &str, needle: &str, with: &str) -> Option<String> {
    let mut at = find_ignoring_case(text, needle)?;
    let mut out = String::with_capacity(text.len() + with.len());
    let mut rest = text;
    loop {
        out.push_str(&rest[..at]);
        out.push_str(with);
        rest = &rest[at + needle.len()..];
        match find_ignoring_case(rest, needle) {
            Some(next) => at = next,
            None => break,
        }
    }
    out.push_str(rest);
    Some(out)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use chrono::{TimeZone, Utc};
    use mvidarr_core::analytics::report::Cell;
    use mvidarr_core::analytics::{
        AnalyticsEvent, AnalyticsKind, EventBatch, Granularity, TimeRange,
    };
    use mvidarr_core::event::EventKind;
    use mvidarr_core::ids::MediaId;
    use mvidarr_store_local::blob::LocalBlobStore;
    use mvidarr_store_local::table::SqliteTable;
    use parquet::file::reader::{FileReader, SerializedFileReader};

    use super::*;
    use crate::ingest::ingest;
    use crate::query::{LocalEngine, QueryEngine, ReportQuery};

    struct Stores {
        blobs: LocalBlobStore,
        table: SqliteTable,
        root: std::path::PathBuf,
        _dir: tempfile::TempDir,
    }

    fn stores() -> Stores {
        let dir = tempfile::tempdir().unwrap();
        let (blobs, table) = mvidarr_store_local::stores_in(dir.path()).unwrap();
        Stores {
            root: blobs.root().to_owned(),
            blobs,
            table,
            _dir: dir,
        }
    }

    fn day(d: &str) -> NaiveDate {
        d.parse().unwrap()
    }

    fn play(id: &str, date: NaiveDate, hour: u32, user: ProfileId, actor: &str) -> AnalyticsEvent {
        let at = Utc.from_utc_datetime(&date.and_hms_opt(hour, 0, 0).unwrap());
        AnalyticsEvent {
            media: Some(MediaId::from_parts(1, 1)),
            user: Some(user),
            actor: Some(actor.to_owned()),
            watch_ms: Some(1000),
            ..AnalyticsEvent::platform(AnalyticsKind::Client(EventKind::Play), id, at)
        }
    }

    async fn ingest_all(s: &Stores, tenant: TenantId, events: Vec<AnalyticsEvent>) {
        ingest(&s.blobs, &s.table, &EventBatch::new(tenant, events))
            .await
            .unwrap();
        crate::fold_pending(&s.blobs, &s.table, tenant)
            .await
            .unwrap();
    }

    /// One play a day for each of `days`.
    async fn a_play_a_day(s: &Stores, tenant: TenantId, days: &[NaiveDate]) {
        let user = ProfileId::generate();
        let events = days
            .iter()
            .map(|d| play(&format!("play-{d}"), *d, 12, user, "key:app"))
            .collect();
        ingest_all(s, tenant, events).await;
    }

    async fn days_stored(s: &Stores, tenant: TenantId) -> Vec<NaiveDate> {
        let prefix = keys::blob::analytics_tenant(tenant);
        let mut days: Vec<NaiveDate> = s
            .blobs
            .list(&prefix)
            .await
            .unwrap()
            .iter()
            .filter_map(|o| partition_date(&prefix, &o.key))
            .collect();
        days.dedup();
        days
    }

    async fn files(s: &Stores, tenant: TenantId) -> BTreeMap<String, Bytes> {
        let mut out = BTreeMap::new();
        for o in s
            .blobs
            .list(&keys::blob::analytics_tenant(tenant))
            .await
            .unwrap()
        {
            let bytes = read(&s.blobs, &o.key).await.unwrap().unwrap();
            out.insert(o.key, bytes);
        }
        out
    }

    /// A column of a file, row by row.
    fn column(file: &Bytes, name: &str) -> Vec<Option<String>> {
        let events = read_events_file(file).unwrap();
        let i = events.schema.index_of(name).unwrap();
        events
            .row_groups
            .iter()
            .flatten()
            .flat_map(|b| {
                b.column(i)
                    .as_string::<i32>()
                    .iter()
                    .map(|v| v.map(str::to_owned))
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    // ---- retention -------------------------------------------------------------------

    #[tokio::test]
    async fn retention_keeps_the_last_day_of_the_window_and_drops_the_one_before() {
        let s = stores();
        let tenant = TenantId::generate();
        let today = day("2026-11-30");
        // 5 days: 26 Nov to 30 Nov are kept, 25 Nov (today - 5) is the first to go.
        let days = [
            day("2026-11-24"),
            day("2026-11-25"),
            day("2026-11-26"),
            day("2026-11-30"),
        ];
        a_play_a_day(&s, tenant, &days).await;
        let before = s
            .blobs
            .list(&keys::blob::analytics_tenant(tenant))
            .await
            .unwrap();
        let dropped_bytes: u64 = before.iter().take(2).map(|o| o.size).sum();

        let outcome = enforce_retention(&s.blobs, tenant, 5, today).await.unwrap();

        assert_eq!(
            outcome,
            RetentionOutcome {
                partitions: 2,
                objects: 2,
                bytes: dropped_bytes,
                unrecognised: 0,
            }
        );
        assert_eq!(
            days_stored(&s, tenant).await,
            [day("2026-11-26"), day("2026-11-30")]
        );
    }

    #[tokio::test]
    async fn retention_drops_every_file_of_a_partition() {
        let s = stores();
        let tenant = TenantId::generate();
        let old = day("2026-01-01");
        for batch in 0..3 {
            let user = ProfileId::generate();
            ingest_all(
                &s,
                tenant,
                vec![play(&format!("p{batch}"), old, 1, user, "key:app")],
            )
            .await;
        }

        let outcome = enforce_retention(&s.blobs, tenant, 30, day("2026-11-30"))
            .await
            .unwrap();

        assert_eq!((outcome.partitions, outcome.objects), (1, 3));
        assert!(days_stored(&s, tenant).await.is_empty());
    }

    #[tokio::test]
    async fn retention_leaves_other_tenants_alone() {
        let s = stores();
        let (tenant, other) = (TenantId::generate(), TenantId::generate());
        let days = [day("2025-01-01"), day("2026-11-30")];
        a_play_a_day(&s, tenant, &days).await;
        a_play_a_day(&s, other, &days).await;
        let others_files = files(&s, other).await;

        enforce_retention(&s.blobs, tenant, 1, day("2026-11-30"))
            .await
            .unwrap();

        assert_eq!(days_stored(&s, tenant).await, [day("2026-11-30")]);
        assert_eq!(files(&s, other).await, others_files);
    }

    #[tokio::test]
    async fn retention_run_twice_deletes_nothing_the_second_time() {
        let s = stores();
        let tenant = TenantId::generate();
        a_play_a_day(&s, tenant, &[day("2026-10-01"), day("2026-11-29")]).await;
        let today = day("2026-11-30");
        let first = enforce_retention(&s.blobs, tenant, 30, today)
            .await
            .unwrap();
        let kept = files(&s, tenant).await;

        let second = enforce_retention(&s.blobs, tenant, 30, today)
            .await
            .unwrap();

        assert_eq!(first.objects, 1);
        assert_eq!(second, RetentionOutcome::default());
        assert_eq!(files(&s, tenant).await, kept);
    }

    #[tokio::test]
    async fn retention_leaves_and_counts_objects_outside_partitions() {
        let s = stores();
        let tenant = TenantId::generate();
        a_play_a_day(&s, tenant, &[day("2020-01-01")]).await;
        let prefix = keys::blob::analytics_tenant(tenant);
        let strays = [
            format!("{prefix}README"),
            format!("{prefix}date=2020-1-1/x.parquet"),
            format!("{prefix}date=someday/x.parquet"),
            format!("{prefix}day=2020-01-01/x.parquet"),
        ];
        for key in &strays {
            s.blobs.put(key, body_of("x"), None).await.unwrap();
        }

        let outcome = enforce_retention(&s.blobs, tenant, 365, day("2026-11-30"))
            .await
            .unwrap();

        assert_eq!((outcome.objects, outcome.unrecognised), (1, 4));
        let left: Vec<String> = s
            .blobs
            .list(&prefix)
            .await
            .unwrap()
            .into_iter()
            .map(|o| o.key)
            .collect();
        let mut expected = strays.to_vec();
        expected.sort();
        assert_eq!(left, expected);
    }

    #[tokio::test]
    async fn retention_refuses_a_window_of_no_days() {
        let s = stores();
        let tenant = TenantId::generate();
        a_play_a_day(&s, tenant, &[day("2026-11-30")]).await;

        let err = enforce_retention(&s.blobs, tenant, 0, day("2026-11-30"))
            .await
            .unwrap_err();

        assert!(matches!(err, RetentionError::NoWindow), "{err}");
        assert!(!err.is_transient());
        assert_eq!(days_stored(&s, tenant).await, [day("2026-11-30")]);
    }

    #[tokio::test]
    async fn retention_of_a_window_reaching_before_the_calendar_keeps_everything() {
        let s = stores();
        let tenant = TenantId::generate();
        a_play_a_day(&s, tenant, &[day("2026-11-30")]).await;

        let outcome = enforce_retention(&s.blobs, tenant, 3650, NaiveDate::MIN)
            .await
            .unwrap();

        assert_eq!(outcome, RetentionOutcome::default());
    }

    #[test]
    fn partition_keys_parse_only_in_their_canonical_spelling() {
        let p = "analytics/events/t=T/";
        assert_eq!(
            partition_date(p, "analytics/events/t=T/date=2026-11-30/b.parquet"),
            Some(day("2026-11-30"))
        );
        for key in [
            "analytics/events/t=T/date=2026-11-30/",
            "analytics/events/t=T/date=2026-11-30",
            "analytics/events/t=T/date=2026-11-31/b.parquet",
            "analytics/events/t=T/date=+2026-11-3/b.parquet",
            "analytics/events/t=U/date=2026-11-30/b.parquet",
        ] {
            assert_eq!(partition_date(p, key), None, "{key}");
        }
    }

    // ---- erasure ---------------------------------------------------------------------

    struct Erasable {
        s: Stores,
        tenant: TenantId,
        profile: ProfileId,
        user: UserId,
        /// The file of 24 Nov, which holds neither subject.
        untouched: String,
    }

    /// Three days of plays by several profiles; `profile` plays on 25 and 26 Nov, reported
    /// by `user` on 26 Nov, and named in a like's props by another profile on 25 Nov.
    async fn erasable() -> Erasable {
        let s = stores();
        let tenant = TenantId::generate();
        let profile = ProfileId::generate();
        let user = UserId::generate();
        let others: Vec<ProfileId> = (0..4).map(|_| ProfileId::generate()).collect();
        let mut events = Vec::new();
        for (n, d) in ["2026-11-24", "2026-11-25", "2026-11-26"]
            .iter()
            .enumerate()
        {
            for (i, other) in others.iter().enumerate() {
                events.push(play(&format!("o{n}-{i}"), day(d), 10, *other, "key:app"));
            }
        }
        for (i, d) in ["2026-11-25", "2026-11-26", "2026-11-26"]
            .iter()
            .enumerate()
        {
            events.push(play(&format!("s{i}"), day(d), 11, profile, "key:app"));
        }
        let mut reported = play(
            "r",
            day("2026-11-26"),
            12,
            others[0],
            &format!("user:{user}"),
        );
        reported
            .props
            .insert("by".into(), format!("user:{user}").into());
        events.push(reported);
        let mut like = play("l", day("2026-11-25"), 13, others[1], "key:app");
        like.kind = AnalyticsKind::Client(EventKind::Like);
        // Any case, inside longer text, and as a key.
        like.props.insert(
            "shared_with".into(),
            format!("https://app/p/{}", profile.to_string().to_lowercase()).into(),
        );
        like.props.insert(profile.to_string(), true.into());
        events.push(like);
        ingest_all(&s, tenant, events).await;
        let untouched = keys::blob::analytics_partition(tenant, day("2026-11-24"));
        let untouched = s.blobs.list(&untouched).await.unwrap()[0].key.clone();
        Erasable {
            s,
            tenant,
            profile,
            user,
            untouched,
        }
    }

    fn all_values(files: &BTreeMap<String, Bytes>, name: &str) -> Vec<String> {
        files
            .values()
            .flat_map(|f| column(f, name))
            .flatten()
            .collect()
    }

    #[tokio::test]
    async fn erasing_a_profile_replaces_it_in_the_user_column_and_in_props() {
        let e = erasable().await;
        let id = e.profile.to_string();

        let outcome = pseudonymise(&e.s.blobs, e.tenant, &ErasedSubject::Profile(e.profile))
            .await
            .unwrap();

        // 25 Nov: one play and the like's props; 26 Nov: two plays.
        assert_eq!(outcome.files_scanned, 3);
        assert_eq!(outcome.files_rewritten, 2);
        assert_eq!(outcome.rows_changed, 4);
        assert_eq!(
            outcome.days,
            BTreeSet::from([day("2026-11-25"), day("2026-11-26")])
        );
        let after = files(&e.s, e.tenant).await;
        for (key, file) in &after {
            let text = format!("{:?}", (column(file, "user"), column(file, "props")));
            assert!(!text.to_lowercase().contains(&id.to_lowercase()), "{key}");
        }
        let users = all_values(&after, "user");
        let pseudonyms: BTreeSet<&String> =
            users.iter().filter(|u| u.starts_with("erased:")).collect();
        assert_eq!(pseudonyms.len(), 1, "{pseudonyms:?}");
        let pseudonym = pseudonyms.into_iter().next().unwrap().clone();
        assert_eq!(pseudonym.len(), "erased:".len() + 64);
        assert_eq!(users.iter().filter(|u| **u == pseudonym).count(), 3);
        let props = all_values(&after, "props");
        let like = props.iter().find(|p| p.contains("shared_with")).unwrap();
        let like: serde_json::Value = serde_json::from_str(like).unwrap();
        assert_eq!(like["shared_with"], format!("https://app/p/{pseudonym}"));
        assert_eq!(like[&pseudonym], true);
        // The actor column is not the profile's.
        assert!(
            !all_values(&after, "actor")
                .iter()
                .any(|a| a.starts_with("erased:"))
        );
    }

    #[tokio::test]
    async fn erasing_a_user_replaces_them_in_the_actor_column_and_in_props() {
        let e = erasable().await;

        let outcome = pseudonymise(&e.s.blobs, e.tenant, &ErasedSubject::User(e.user))
            .await
            .unwrap();

        assert_eq!((outcome.files_rewritten, outcome.rows_changed), (1, 1));
        let after = files(&e.s, e.tenant).await;
        let actors = all_values(&after, "actor");
        let pseudonym = actors.iter().find(|a| a.starts_with("erased:")).unwrap();
        assert!(!actors.iter().any(|a| a.contains(&e.user.to_string())));
        let props = all_values(&after, "props");
        let reported = props.iter().find(|p| p.contains("\"by\"")).unwrap();
        // `user:<id>` as a whole becomes the pseudonym.
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(reported).unwrap()["by"],
            pseudonym.as_str()
        );
        // The profile is someone else's to erase.
        assert!(
            all_values(&after, "user").contains(&e.profile.to_string()),
            "the profile stays"
        );
    }

    #[tokio::test]
    async fn erasure_keeps_row_counts_and_distinct_users_in_queries() {
        let e = erasable().await;
        let engine = LocalEngine::new(&e.s.root);
        let range = TimeRange::parse("2026-11-24", "2026-11-27", Granularity::Day).unwrap();
        let before = engine
            .run(e.tenant, range, ReportQuery::Daily)
            .await
            .unwrap();

        pseudonymise(&e.s.blobs, e.tenant, &ErasedSubject::Profile(e.profile))
            .await
            .unwrap();
        pseudonymise(&e.s.blobs, e.tenant, &ErasedSubject::User(e.user))
            .await
            .unwrap();

        let after = engine
            .run(e.tenant, range, ReportQuery::Daily)
            .await
            .unwrap();
        assert_eq!(after, before);
        let users = before.column("unique_users").unwrap();
        let distinct: Vec<_> = before.rows.iter().map(|r| r[users].clone()).collect();
        assert_eq!(
            distinct,
            [Cell::Integer(4), Cell::Integer(5), Cell::Integer(5)]
        );
    }

    #[tokio::test]
    async fn files_without_the_subject_stay_byte_for_byte() {
        let e = erasable().await;
        let before = files(&e.s, e.tenant).await;
        let info = e.s.blobs.head(&e.untouched).await.unwrap();

        pseudonymise(&e.s.blobs, e.tenant, &ErasedSubject::Profile(e.profile))
            .await
            .unwrap();

        let after = files(&e.s, e.tenant).await;
        assert_eq!(after[&e.untouched], before[&e.untouched]);
        assert_eq!(
            e.s.blobs.head(&e.untouched).await.unwrap(),
            info,
            "not written"
        );
    }

    #[tokio::test]
    async fn a_rewritten_file_keeps_its_schema_rows_row_groups_and_compression() {
        let e = erasable().await;
        // 26 Nov's file, written again in row groups of two rows.
        let key =
            e.s.blobs
                .list(&keys::blob::analytics_partition(
                    e.tenant,
                    day("2026-11-26"),
                ))
                .await
                .unwrap()[0]
                .key
                .clone();
        let original = read(&e.s.blobs, &key).await.unwrap().unwrap();
        let mut events = read_events_file(&original).unwrap();
        events.max_row_group_rows = 2;
        let batch = all_rows(&events);
        let regrouped: Vec<Vec<RecordBatch>> = (0..batch.num_rows())
            .step_by(2)
            .map(|at| vec![batch.slice(at, 2.min(batch.num_rows() - at))])
            .collect();
        let regrouped = Bytes::from(write_events_file(&events, &regrouped).unwrap());
        e.s.blobs
            .put(&key, body_of(regrouped.clone()), Some(CONTENT_TYPE))
            .await
            .unwrap();

        pseudonymise(&e.s.blobs, e.tenant, &ErasedSubject::Profile(e.profile))
            .await
            .unwrap();

        let rewritten = read(&e.s.blobs, &key).await.unwrap().unwrap();
        let (old, new) = (
            SerializedFileReader::new(regrouped.clone()).unwrap(),
            SerializedFileReader::new(rewritten.clone()).unwrap(),
        );
        let shape = |r: &SerializedFileReader<Bytes>| {
            let m = r.metadata();
            (
                m.file_metadata().schema_descr().root_schema().clone(),
                m.row_groups()
                    .iter()
                    .map(|g| {
                        let compression: Vec<_> =
                            g.columns().iter().map(|c| c.compression()).collect();
                        (g.num_rows(), compression)
                    })
                    .collect::<Vec<_>>(),
            )
        };
        assert_eq!(shape(&new), shape(&old));
        assert_eq!(new.metadata().num_row_groups(), 4, "7 rows in twos");
        let (old, new) = (
            read_events_file(&regrouped).unwrap(),
            read_events_file(&rewritten).unwrap(),
        );
        assert_eq!(new.schema, old.schema);
        let (old, new) = (all_rows(&old), all_rows(&new));
        let user = EVENTS_SCHEMA.index_of("user").unwrap();
        for i in 0..EVENTS_SCHEMA.fields().len() {
            if i != user {
                assert_eq!(new.column(i), old.column(i), "column {i}");
            }
        }
        let (old_users, new_users) = (
            old.column(user).as_string::<i32>(),
            new.column(user).as_string::<i32>(),
        );
        for row in 0..old.num_rows() {
            if old_users.value(row) == e.profile.to_string() {
                assert!(new_users.value(row).starts_with("erased:"));
            } else {
                assert_eq!(new_users.value(row), old_users.value(row), "row {row}");
            }
        }
    }

    /// A file's rows as one batch.
    fn all_rows(events: &EventsFile) -> RecordBatch {
        let batches: Vec<&RecordBatch> = events.row_groups.iter().flatten().collect();
        let columns = (0..events.schema.fields().len())
            .map(|i| {
                let parts: Vec<&dyn Array> = batches.iter().map(|b| b.column(i).as_ref()).collect();
                concat(&parts)
            })
            .collect();
        RecordBatch::try_new(events.schema.clone(), columns).unwrap()
    }

    fn concat(parts: &[&dyn Array]) -> ArrayRef {
        datafusion::arrow::compute::concat(parts).unwrap()
    }

    #[tokio::test]
    async fn a_second_erasure_of_the_same_subject_finds_nothing() {
        let e = erasable().await;
        let subject = ErasedSubject::Profile(e.profile);
        pseudonymise(&e.s.blobs, e.tenant, &subject).await.unwrap();
        let done = files(&e.s, e.tenant).await;

        let again = pseudonymise(&e.s.blobs, e.tenant, &subject).await.unwrap();

        assert_eq!(
            again,
            ErasureOutcome {
                files_scanned: 3,
                ..ErasureOutcome::default()
            }
        );
        assert_eq!(files(&e.s, e.tenant).await, done);
    }

    #[tokio::test]
    async fn each_erasure_draws_its_own_pseudonym() {
        let e = erasable().await;
        let subject = ErasedSubject::Profile(e.profile);
        pseudonymise(&e.s.blobs, e.tenant, &subject).await.unwrap();
        let first: BTreeSet<String> = all_values(&files(&e.s, e.tenant).await, "user")
            .into_iter()
            .filter(|u| u.starts_with("erased:"))
            .collect();
        // The same profile's events arrive again, on a new day, and are erased again.
        ingest_all(
            &e.s,
            e.tenant,
            vec![play("late", day("2026-11-27"), 9, e.profile, "key:app")],
        )
        .await;

        let outcome = pseudonymise(&e.s.blobs, e.tenant, &subject).await.unwrap();

        assert_eq!(outcome.days, BTreeSet::from([day("2026-11-27")]));
        let late = files(&e.s, e.tenant).await;
        let late = &late[&e
            .s
            .blobs
            .list(&keys::blob::analytics_partition(
                e.tenant,
                day("2026-11-27"),
            ))
            .await
            .unwrap()[0]
            .key];
        let second = column(late, "user")[0].clone().unwrap();
        assert!(second.starts_with("erased:"));
        assert_eq!(first.len(), 1);
        assert!(!first.contains(&second), "{first:?} {second}");
    }

    #[tokio::test]
    async fn an_unreadable_file_is_reported_after_every_other_file_is_done() {
        let e = erasable().await;
        let bad = keys::blob::analytics_events(e.tenant, day("2026-11-25"), "aaa-broken");
        e.s.blobs
            .put(&bad, body_of("PAR1 not really"), Some(CONTENT_TYPE))
            .await
            .unwrap();

        let err = pseudonymise(&e.s.blobs, e.tenant, &ErasedSubject::Profile(e.profile))
            .await
            .unwrap_err();

        let RetentionError::Unreadable(files_left) = &err else {
            panic!("{err}")
        };
        assert_eq!(files_left.len(), 1);
        assert_eq!(files_left[0].key, bad);
        assert!(err.to_string().contains("not an events file"), "{err}");
        assert!(!err.is_transient());
        // The others were done all the same.
        let mut after = files(&e.s, e.tenant).await;
        after.remove(&bad);
        assert_eq!(after.len(), 3);
        assert!(!all_values(&after, "user").contains(&e.profile.to_string()));
    }

    #[tokio::test]
    async fn erasing_a_tenant_without_events_finds_nothing() {
        let s = stores();

        let outcome = pseudonymise(
            &s.blobs,
            TenantId::generate(),
            &ErasedSubject::Profile(ProfileId::generate()),
        )
        .await
        .unwrap();

        assert_eq!(outcome, ErasureOutcome::default());
    }

    #[test]
    fn actors_name_users_and_api_keys() {
        let (user, key) = (UserId::generate(), ApiKeyId::generate());
        assert_eq!(
            ErasedSubject::parse_actor(&format!("user:{user}")),
            Some(ErasedSubject::User(user))
        );
        assert_eq!(
            ErasedSubject::parse_actor(&format!("key:{key}")),
            Some(ErasedSubject::ApiKey(key))
        );
        for actor in ["system:events", "user:nobody", "key:", "user", ""] {
            assert_eq!(ErasedSubject::parse_actor(actor), None, "{actor}");
        }
        assert_eq!(
            ErasedSubject::ApiKey(key).column_value(),
            format!("key:{key}")
        );
    }

    #[test]
    fn replacing_ignores_letter_case_and_keeps_the_rest() {
        assert_eq!(
            replace_ignoring_case("a01abc-01ABC-é01Abc", "01ABC", "x").as_deref(),
            Some("ax-x-éx")
        );
        assert_eq!(replace_ignoring_case("nothing here", "01ABC", "x"), None);
        assert_eq!(replace_ignoring_case("01ab", "01ABC", "x"), None);
        assert_eq!(find_ignoring_case("abc", ""), None);
    }
}
