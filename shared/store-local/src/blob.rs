//! Objects as files under a directory, S3-shaped.
//!
//! - Writes stream into `root/.tmp/`, computing the MD5 (the etag, as S3 gives for a single-part
//!   upload) on the way, are fsynced and renamed into place: a reader sees the old object or the
//!   new one, never a part.
//! - Metadata (size, etag, content type, tags, last modified) lives in `blob_objects` in the
//!   shared database, stamped with the file's inode, size and mtime. A row whose stamp does not
//!   match the file (a crash between rename and metadata write), or a file without a row, is
//!   rebuilt from the file on the next `head`/`get`.
//! - After each write or rename an S3 `ObjectCreated` event notification, in exactly the JSON
//!   S3 sends, goes into an optional [`SqliteQueue`].
//! - Presigned URLs are HMAC-SHA256 signed and expire, standing in for S3 presigning; the HTTP
//!   layer checks them with [`LocalBlobStore::verify_signed`].

use std::collections::{BTreeMap, HashMap};
use std::io::{Read, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lambda_events::event::s3::{
    S3Bucket, S3Entity, S3Event, S3EventRecord, S3Object, S3RequestParameters, S3UserIdentity,
};
use base64::Engine as _;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use hmac::{Hmac, Mac};
use md5::{Digest, Md5};
use mvidarr_core::Timestamp;
use mvidarr_core::ports::blob::{
    BlobBody, BlobError, BlobLocation, BlobStore, ObjectInfo, PresignedRequest, body_of,
};
use mvidarr_core::ports::queue::{OutgoingMessage, Queue, QueueError};
use rusqlite::{OptionalExtension, params};
use sha2::Sha256;
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
use tokio_util::io::ReaderStream;

use crate::db::{Database, DbError};
use crate::queue::SqliteQueue;

/// Where writes are staged; a reserved first key segment.
const TMP_DIR: &str = ".tmp";
/// S3's key length limit.
const MAX_KEY_BYTES: usize = 1024;
const READ_CHUNK: usize = 64 * 1024;

/// Fixed parts of the notifications; S3 fills these from the bucket's configuration.
const REGION: &str = "local";
const PRINCIPAL: &str = "local";
const SOURCE_IP: &str = "127.0.0.1";
const CONFIGURATION_ID: &str = "mvidarr-local";

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS blob_objects (
    bucket            TEXT    NOT NULL,
    key               TEXT    NOT NULL,
    size              INTEGER NOT NULL,
    etag              TEXT    NOT NULL,
    content_type      TEXT,
    tags              TEXT    NOT NULL DEFAULT '{}',
    last_modified_ms  INTEGER NOT NULL,
    file_id           INTEGER NOT NULL,
    file_mtime_ns     INTEGER NOT NULL,
    PRIMARY KEY (bucket, key)
);
-- A put in progress: written before its file is moved into place, removed once the object's
-- notification is queued. One left behind means the process died in between, and
-- `recover_put_intents` sends the notification the put could not.
CREATE TABLE IF NOT EXISTS blob_put_intents (
    bucket  TEXT NOT NULL,
    key     TEXT NOT NULL,
    token   TEXT NOT NULL,
    PRIMARY KEY (bucket, key, token)
);
";

/// Why a signed URL was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the signed URL has expired")]
    Expired,
    #[error("the signature does not match the request")]
    Invalid,
}

/// Objects under a directory, metadata in the shared database. Cheap to clone.
#[derive(Clone)]
pub struct LocalBlobStore {
    inner: Arc<Inner>,
    notifications: Option<Notifications>,
}

/// Where notifications go, and for which keys.
#[derive(Clone, Debug)]
struct Notifications {
    queue: SqliteQueue,
    /// Only keys starting with this notify, as the bucket's notification filter has it.
    prefix: String,
}

struct Inner {
    root: PathBuf,
    tmp: PathBuf,
    bucket: String,
    db: Database,
    signing_key: Vec<u8>,
    public_base_url: String,
}

impl std::fmt::Debug for LocalBlobStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalBlobStore")
            .field("root", &self.inner.root)
            .field("bucket", &self.inner.bucket)
            .field("public_base_url", &self.inner.public_base_url)
            .field("notifications", &self.notifications)
            .finish_non_exhaustive()
    }
}

/// What identifies one version of a file: a rename keeps it, a new write changes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileStamp {
    size: u64,
    file_id: i64,
    mtime_ns: i64,
}

impl FileStamp {
    fn of(meta: &std::fs::Metadata) -> Self {
        #[cfg(unix)]
        let file_id = {
            use std::os::unix::fs::MetadataExt;
            meta.ino() as i64
        };
        #[cfg(not(unix))]
        let file_id = 0;
        Self {
            size: meta.len(),
            file_id,
            mtime_ns: meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos() as i64),
        }
    }

    fn modified(&self) -> Timestamp {
        DateTime::from_timestamp_millis(self.mtime_ns / 1_000_000).unwrap_or_default()
    }
}

/// One `blob_objects` row.
#[derive(Debug, Clone)]
struct Row {
    etag: String,
    content_type: Option<String>,
    tags: BTreeMap<String, String>,
    last_modified: Timestamp,
    stamp: FileStamp,
}

impl LocalBlobStore {
    /// Open the store: create `root` and the schema if absent, and remove temp files that a
    /// crashed write left behind.
    pub fn open(
        root: PathBuf,
        bucket: &str,
        db: Database,
        signing_key: Vec<u8>,
        public_base_url: String,
    ) -> Result<Self, BlobError> {
        if bucket.is_empty() {
            return Err(BlobError::Backend("the bucket name is empty".to_owned()));
        }
        let backend = |what: &str, e: std::io::Error| {
            BlobError::Backend(format!("{what} {}: {e}", root.display()))
        };
        std::fs::create_dir_all(&root).map_err(|e| backend("creating", e))?;
        let root = std::fs::canonicalize(&root).map_err(|e| backend("resolving", e))?;
        let tmp = root.join(TMP_DIR);
        match std::fs::remove_dir_all(&tmp) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(backend("cleaning temp files under", e)),
        }
        std::fs::create_dir_all(&tmp).map_err(|e| backend("creating temp dir under", e))?;
        db.call_blocking(|conn| conn.execute_batch(SCHEMA))
            .map_err(db_error)?;
        Ok(Self {
            inner: Arc::new(Inner {
                root,
                tmp,
                bucket: bucket.to_owned(),
                db,
                signing_key,
                public_base_url: public_base_url.trim_end_matches('/').to_owned(),
            }),
            notifications: None,
        })
    }

    /// Send an S3-shaped `ObjectCreated` notification into `queue` after every write and
    /// rename of a key starting with `prefix` (the S3 bucket's prefix filter; `""` for all).
    pub fn with_notifications(mut self, queue: SqliteQueue, prefix: impl Into<String>) -> Self {
        self.notifications = Some(Notifications {
            queue,
            prefix: prefix.into(),
        });
        self
    }

    /// Whether a write of `key` sends a notification.
    fn notifies(&self, key: &str) -> bool {
        self.notifications
            .as_ref()
            .is_some_and(|n| key.starts_with(&n.prefix))
    }

    /// Check a signed URL's parameters as the HTTP layer received them (`expires` and
    /// `signature` from the query string, the key decoded from the path, the request's
    /// `content-type` for a PUT). The comparison is constant-time.
    pub fn verify_signed(
        &self,
        method: &str,
        key: &str,
        expires: &str,
        signature: &str,
        content_type: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), SignatureError> {
        let expires: i64 = expires.parse().map_err(|_| SignatureError::Invalid)?;
        let signature = hex::decode(signature).map_err(|_| SignatureError::Invalid)?;
        self.mac(method, key, expires, content_type)
            .verify_slice(&signature)
            .map_err(|_| SignatureError::Invalid)?;
        if now.timestamp() > expires {
            return Err(SignatureError::Expired);
        }
        Ok(())
    }

    /// Record (`present`) or clear a put intent.
    async fn intent(&self, key: &str, token: &str, present: bool) -> Result<(), BlobError> {
        let (bucket, key, token) = (self.inner.bucket.clone(), key.to_owned(), token.to_owned());
        self.inner
            .db
            .call(move |conn| {
                let sql = if present {
                    "INSERT OR IGNORE INTO blob_put_intents (bucket, key, token) VALUES (?1, ?2, ?3)"
                } else {
                    "DELETE FROM blob_put_intents WHERE bucket = ?1 AND key = ?2 AND token = ?3"
                };
                conn.prepare_cached(sql)?.execute(params![bucket, key, token])
            })
            .await
            .map(drop)
            .map_err(db_error)
    }

    /// Send the notifications of puts that a crash interrupted after their bytes were safe
    /// but before their notification was queued. Call once at startup, by the one process
    /// that owns the store. An object whose put never reached its final name gets no
    /// notification; one notified twice is handled by the idempotent consumer. Returns how
    /// many notifications were sent.
    pub async fn recover_put_intents(&self) -> Result<usize, BlobError> {
        let bucket = self.inner.bucket.clone();
        let intents: Vec<(String, String)> = self
            .inner
            .db
            .call(move |conn| {
                let mut stmt = conn.prepare(
                    "SELECT key, token FROM blob_put_intents WHERE bucket = ?1 ORDER BY key",
                )?;
                let rows = stmt.query_map([bucket], |r| Ok((r.get(0)?, r.get(1)?)))?;
                rows.collect()
            })
            .await
            .map_err(db_error)?;
        let mut sent = 0;
        for (key, token) in intents {
            match self.current(&key).await {
                Ok((info, _)) => {
                    self.notify("ObjectCreated:Put", &info).await?;
                    sent += 1;
                }
                Err(BlobError::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
            self.intent(&key, &token, false).await?;
        }
        Ok(sent)
    }

    /// Stream `body` to a temp file, then move it into place (replacing, or only if absent),
    /// record its metadata and queue its notification; see `recover_put_intents` for crashes.
    async fn write_object(
        &self,
        key: &str,
        body: BlobBody,
        content_type: Option<&str>,
        replace: bool,
    ) -> Result<ObjectInfo, BlobError> {
        validate_key(key)?;
        let token = hex::encode(rand::random::<[u8; 16]>());
        let tmp = self.inner.tmp.join(&token);
        // The intent is there for the notification a crash would lose: none, no intent.
        let notifies = self.notifies(key);
        let written = match self.write_temp(&tmp, key, body).await {
            Ok(written) => match self.intent_if(notifies, key, &token, true).await {
                Ok(()) => self
                    .move_file(&tmp, &self.path(key), key, replace)
                    .await
                    .map(|()| written),
                Err(e) => Err(e),
            },
            Err(e) => Err(e),
        };
        let (etag, stamp) = match written {
            Ok(written) => written,
            Err(e) => {
                let _ = tokio::fs::remove_file(&tmp).await;
                let _ = self.intent_if(notifies, key, &token, false).await;
                return Err(e);
            }
        };
        let row = Row {
            etag,
            content_type: content_type.map(str::to_owned),
            tags: BTreeMap::new(),
            last_modified: now_millis(),
            stamp,
        };
        let info = self.info(key, &row);
        self.write_row_if_current(key, self.path(key), row).await?;
        self.notify("ObjectCreated:Put", &info).await?;
        self.intent_if(notifies, key, &token, false).await?;
        Ok(info)
    }

    fn path(&self, key: &str) -> PathBuf {
        self.inner.root.join(key)
    }

    /// The directory objects are files under, by their keys (what a local query engine
    /// reads the analytics Parquet from).
    pub fn root(&self) -> &std::path::Path {
        &self.inner.root
    }

    /// The HMAC over every part of a request that the signature vouches for. Each field is
    /// length-prefixed, so no two different requests share a message.
    fn mac(
        &self,
        method: &str,
        key: &str,
        expires: i64,
        content_type: Option<&str>,
    ) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.inner.signing_key)
            .expect("HMAC takes a key of any length");
        let expires = expires.to_string();
        let content_type = match content_type {
            Some(ct) => format!("+{ct}"),
            None => "-".to_owned(),
        };
        mac.update(b"mvidarr-blob-url-v1");
        for field in [method, key, &expires, &content_type] {
            mac.update(&(field.len() as u64).to_be_bytes());
            mac.update(field.as_bytes());
        }
        mac
    }

    fn presign(
        &self,
        method: &'static str,
        key: &str,
        content_type: Option<&str>,
        expires_in: Duration,
    ) -> Result<PresignedRequest, BlobError> {
        validate_key(key)?;
        let whole_seconds = expires_in.as_secs() + u64::from(expires_in.subsec_nanos() > 0);
        let expires = Utc::now().timestamp() + i64::try_from(whole_seconds).unwrap_or(i64::MAX / 2);
        let signature = hex::encode(
            self.mac(method, key, expires, content_type)
                .finalize()
                .into_bytes(),
        );
        let url = format!(
            "{}/blobs/{}?expires={expires}&signature={signature}",
            self.inner.public_base_url,
            path_encode(key)
        );
        let headers = content_type
            .map(|ct| ("content-type".to_owned(), ct.to_owned()))
            .into_iter()
            .collect();
        Ok(PresignedRequest {
            method,
            url,
            headers,
            expires_at: DateTime::from_timestamp(expires, 0).unwrap_or_default(),
        })
    }

    /// The object's metadata row, checked against the file and rebuilt from it if they differ.
    async fn current(&self, key: &str) -> Result<(ObjectInfo, Row), BlobError> {
        validate_key(key)?;
        let path = self.path(key);
        let meta = match tokio::fs::metadata(&path).await {
            Ok(meta) if meta.is_file() => meta,
            Ok(_) => return Err(not_found(key)),
            Err(e) => {
                let err = io_error(e, key);
                if matches!(err, BlobError::NotFound { .. }) {
                    self.forget_if_absent(key).await?;
                }
                return Err(err);
            }
        };
        let stamp = FileStamp::of(&meta);
        if let Some(row) = self.read_row(key).await?
            && row.stamp == stamp
        {
            return Ok((self.info(key, &row), row));
        }
        self.rebuild(key, path).await
    }

    /// Recompute a file's metadata (its etag is the MD5 of its bytes) and record it.
    async fn rebuild(&self, key: &str, path: PathBuf) -> Result<(ObjectInfo, Row), BlobError> {
        tracing::info!(bucket = %self.inner.bucket, key, "rebuilding object metadata from the file");
        // A rename that died between moving the file and moving its row leaves the row under
        // the old key: the same file (inode, size, mtime) keeps its etag, type and tags.
        if let Some(row) = self.row_of_moved_file(key, &path).await? {
            self.write_row_if_current(key, path, row.clone()).await?;
            return Ok((self.info(key, &row), row));
        }
        let hashed_path = path.clone();
        let (etag, stamp) = tokio::task::spawn_blocking(move || -> std::io::Result<_> {
            let mut file = std::fs::File::open(&hashed_path)?;
            let stamp = FileStamp::of(&file.metadata()?);
            let mut md5 = Md5::new();
            let mut buf = vec![0; READ_CHUNK];
            loop {
                let n = file.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                md5.update(&buf[..n]);
            }
            Ok((hex::encode(md5.finalize()), stamp))
        })
        .await
        .map_err(|e| BlobError::Backend(e.to_string()))?
        .map_err(|e| io_error(e, key))?;
        let row = Row {
            etag,
            content_type: None,
            tags: BTreeMap::new(),
            last_modified: stamp.modified(),
            stamp,
        };
        self.write_row_if_current(key, path, row.clone()).await?;
        Ok((self.info(key, &row), row))
    }

    /// The row another key holds for the very file now at `path`, if any.
    async fn row_of_moved_file(&self, key: &str, path: &Path) -> Result<Option<Row>, BlobError> {
        let Ok(meta) = tokio::fs::metadata(path).await else {
            return Ok(None);
        };
        let stamp = FileStamp::of(&meta);
        let (bucket, key) = (self.inner.bucket.clone(), key.to_owned());
        self.inner
            .db
            .call(move |conn| {
                conn.prepare_cached(
                    "SELECT etag, content_type, tags, last_modified_ms, size, file_id,
                            file_mtime_ns
                     FROM blob_objects
                     WHERE bucket = ?1 AND key != ?2 AND file_id = ?3 AND size = ?4
                       AND file_mtime_ns = ?5
                     LIMIT 1",
                )?
                .query_row(
                    params![
                        bucket,
                        key,
                        stamp.file_id,
                        stamp.size as i64,
                        stamp.mtime_ns
                    ],
                    row_from_sql,
                )
                .optional()
            })
            .await
            .map_err(db_error)
    }

    fn info(&self, key: &str, row: &Row) -> ObjectInfo {
        ObjectInfo {
            bucket: self.inner.bucket.clone(),
            key: key.to_owned(),
            size: row.stamp.size,
            etag: row.etag.clone(),
            content_type: row.content_type.clone(),
            last_modified: row.last_modified,
        }
    }

    async fn read_row(&self, key: &str) -> Result<Option<Row>, BlobError> {
        let bucket = self.inner.bucket.clone();
        let key = key.to_owned();
        self.inner
            .db
            .call(move |conn| {
                conn.prepare_cached(
                    "SELECT etag, content_type, tags, last_modified_ms, size, file_id,
                            file_mtime_ns
                     FROM blob_objects WHERE bucket = ?1 AND key = ?2",
                )?
                .query_row(params![bucket, key], row_from_sql)
                .optional()
            })
            .await
            .map_err(db_error)
    }

    /// Record `row` for `key` only if the file there is still the one the row describes, so a
    /// write that raced past this one (and will record itself) is never shadowed.
    async fn write_row_if_current(
        &self,
        key: &str,
        path: PathBuf,
        row: Row,
    ) -> Result<(), BlobError> {
        let bucket = self.inner.bucket.clone();
        let key = key.to_owned();
        let tags =
            serde_json::to_string(&row.tags).map_err(|e| BlobError::Backend(e.to_string()))?;
        self.inner
            .db
            .call(move |conn| {
                // Under the database lock: a concurrent write renames first and records after,
                // so if the file is still ours here, any later write's row lands after ours.
                let current = std::fs::metadata(&path)
                    .ok()
                    .is_some_and(|meta| FileStamp::of(&meta) == row.stamp);
                if !current {
                    return Ok(());
                }
                conn.prepare_cached(
                    "INSERT OR REPLACE INTO blob_objects
                     (bucket, key, size, etag, content_type, tags, last_modified_ms, file_id,
                      file_mtime_ns)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                )?
                .execute(params![
                    bucket,
                    key,
                    row.stamp.size as i64,
                    row.etag,
                    row.content_type,
                    tags,
                    row.last_modified.timestamp_millis(),
                    row.stamp.file_id,
                    row.stamp.mtime_ns,
                ])?;
                Ok(())
            })
            .await
            .map_err(db_error)
    }

    /// Drop the row of a key whose file is gone (deleted, or lost in a crash mid-delete).
    async fn forget_if_absent(&self, key: &str) -> Result<(), BlobError> {
        let bucket = self.inner.bucket.clone();
        let path = self.path(key);
        let key = key.to_owned();
        self.inner
            .db
            .call(move |conn| {
                if std::fs::symlink_metadata(&path).is_ok() {
                    return Ok(());
                }
                conn.prepare_cached("DELETE FROM blob_objects WHERE bucket = ?1 AND key = ?2")?
                    .execute(params![bucket, key])?;
                Ok(())
            })
            .await
            .map_err(db_error)
    }

    /// Stream `body` into a new temp file, hashing it; fsync it. Returns (etag, stamp).
    ///
    /// A body that fits [`SMALL_BODY`] (events files, thumbnails, reports: most objects) is
    /// gathered first and written, synced and stated in one blocking call; a larger one streams
    /// through tokio's file, a blocking call per step. Each blocking call is a hand-off to
    /// another thread and back, which for a small file cost more than the write (measured in
    /// the analytics ingest).
    async fn write_temp(
        &self,
        tmp: &Path,
        key: &str,
        mut body: BlobBody,
    ) -> Result<(String, FileStamp), BlobError> {
        let read_error =
            |e: std::io::Error| BlobError::Backend(format!("reading the body of {key}: {e}"));
        let mut md5 = Md5::new();
        let mut head: Vec<Bytes> = Vec::new();
        let mut head_len = 0;
        let streamed = loop {
            match body.next().await {
                Some(chunk) => {
                    let chunk = chunk.map_err(read_error)?;
                    md5.update(&chunk);
                    head_len += chunk.len();
                    head.push(chunk);
                    if head_len > SMALL_BODY {
                        break true;
                    }
                }
                None => break false,
            }
        };
        if !streamed {
            let etag = hex::encode(md5.finalize());
            let tmp = tmp.to_owned();
            let meta = tokio::task::spawn_blocking(move || {
                use std::io::Write as _;
                let mut file = std::fs::File::create(&tmp)?;
                for chunk in &head {
                    file.write_all(chunk)?;
                }
                file.sync_all()?;
                file.metadata()
            })
            .await
            .map_err(|e| BlobError::Backend(format!("writing {key}: {e}")))?
            .map_err(|e| io_backend(e, key))?;
            return Ok((etag, FileStamp::of(&meta)));
        }
        // Larger: what was gathered, then the rest as it comes.
        let mut file = tokio::fs::File::create(tmp)
            .await
            .map_err(|e| io_backend(e, key))?;
        for chunk in head {
            file.write_all(&chunk)
                .await
                .map_err(|e| io_backend(e, key))?;
        }
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(read_error)?;
            md5.update(&chunk);
            file.write_all(&chunk)
                .await
                .map_err(|e| io_backend(e, key))?;
        }
        file.flush().await.map_err(|e| io_backend(e, key))?;
        file.sync_all().await.map_err(|e| io_backend(e, key))?;
        let meta = file.metadata().await.map_err(|e| io_backend(e, key))?;
        Ok((hex::encode(md5.finalize()), FileStamp::of(&meta)))
    }

    /// Rename `from` onto `to`, creating parent folders (again, if a concurrent delete just
    /// tidied them away) and making the rename durable; one blocking call.
    async fn move_file(
        &self,
        from: &Path,
        to: &Path,
        key: &str,
        replace: bool,
    ) -> Result<(), BlobError> {
        let parent = to.parent().unwrap_or(&self.inner.root).to_owned();
        let (from, to) = (from.to_owned(), to.to_owned());
        let moved =
            tokio::task::spawn_blocking(move || move_file_blocking(&from, &to, &parent, replace))
                .await
                .map_err(|e| BlobError::Backend(format!("moving {key} into place: {e}")))?;
        match moved {
            Ok(Moved { folder_synced }) => {
                if let Err(e) = folder_synced {
                    tracing::warn!(key, error = %e, "could not fsync the object's folder");
                }
                Ok(())
            }
            Err(MoveError::Exists) => Err(BlobError::AlreadyExists {
                key: key.to_owned(),
            }),
            Err(MoveError::Io(e)) => Err(fs_conflict(e, key)),
        }
    }

    /// Remove the now-empty folders above a removed file, up to the root.
    async fn tidy_parents(&self, path: &Path) {
        let mut dir = path.parent();
        while let Some(d) = dir {
            if d == self.inner.root || !d.starts_with(&self.inner.root) {
                break;
            }
            if tokio::fs::remove_dir(d).await.is_err() {
                break;
            }
            dir = d.parent();
        }
    }

    /// [`Self::intent`], for a write that sends a notification.
    async fn intent_if(
        &self,
        notifies: bool,
        key: &str,
        token: &str,
        present: bool,
    ) -> Result<(), BlobError> {
        if notifies {
            self.intent(key, token, present).await
        } else {
            Ok(())
        }
    }

    /// Send the S3 event notification for `info`, if notifications are configured for its key.
    async fn notify(&self, event_name: &str, info: &ObjectInfo) -> Result<(), BlobError> {
        let Some(Notifications { queue, .. }) = self
            .notifications
            .as_ref()
            .filter(|_| self.notifies(&info.key))
        else {
            return Ok(());
        };
        let body = s3_event_json(event_name, info, &next_sequencer(), Utc::now());
        queue
            .send_batch(vec![OutgoingMessage::new(body)])
            .await
            .map(drop)
            .map_err(|e| {
                tracing::warn!(key = %info.key, error = %e, "object written but its notification was not sent");
                match e {
                    QueueError::Transient(m) => BlobError::Transient(format!("notification: {m}")),
                    other => BlobError::Backend(format!("notification: {other}")),
                }
            })
    }
}

impl BlobStore for LocalBlobStore {
    fn bucket(&self) -> &str {
        &self.inner.bucket
    }

    async fn put(
        &self,
        key: &str,
        body: BlobBody,
        content_type: Option<&str>,
    ) -> Result<ObjectInfo, BlobError> {
        self.write_object(key, body, content_type, true).await
    }

    async fn put_new(
        &self,
        key: &str,
        body: BlobBody,
        content_type: Option<&str>,
    ) -> Result<ObjectInfo, BlobError> {
        self.write_object(key, body, content_type, false).await
    }

    async fn get(&self, key: &str) -> Result<BlobBody, BlobError> {
        let (info, _) = self.current(key).await?;
        if info.size <= SMALL_BODY as u64 {
            // Read whole in one blocking call rather than a call per chunk (see `write_temp`).
            let path = self.path(key);
            let bytes = tokio::task::spawn_blocking(move || std::fs::read(path))
                .await
                .map_err(|e| BlobError::Backend(format!("reading {key}: {e}")))?
                .map_err(|e| io_error(e, key))?;
            return Ok(body_of(bytes));
        }
        let file = tokio::fs::File::open(self.path(key))
            .await
            .map_err(|e| io_error(e, key))?;
        Ok(Box::pin(ReaderStream::with_capacity(file, READ_CHUNK)))
    }

    async fn get_range(&self, key: &str, start: u64, end: u64) -> Result<Bytes, BlobError> {
        validate_key(key)?;
        let mut file = tokio::fs::File::open(self.path(key))
            .await
            .map_err(|e| io_error(e, key))?;
        let meta = file.metadata().await.map_err(|e| io_error(e, key))?;
        if !meta.is_file() {
            return Err(not_found(key));
        }
        let end = end.min(meta.len());
        if start >= end {
            return Ok(Bytes::new());
        }
        file.seek(SeekFrom::Start(start))
            .await
            .map_err(|e| io_error(e, key))?;
        let mut buf = vec![0; (end - start) as usize];
        file.read_exact(&mut buf)
            .await
            .map_err(|e| io_error(e, key))?;
        Ok(Bytes::from(buf))
    }

    async fn head(&self, key: &str) -> Result<ObjectInfo, BlobError> {
        self.current(key).await.map(|(info, _)| info)
    }

    async fn delete(&self, key: &str) -> Result<(), BlobError> {
        validate_key(key)?;
        let path = self.path(key);
        match tokio::fs::remove_file(&path).await {
            Ok(()) => self.tidy_parents(&path).await,
            Err(e) => match e.kind() {
                // Absent, or only a folder of other keys: no object here, which S3 calls success.
                std::io::ErrorKind::NotFound
                | std::io::ErrorKind::NotADirectory
                | std::io::ErrorKind::IsADirectory => {}
                _ if path.is_dir() => {}
                _ => return Err(io_backend(e, key)),
            },
        }
        self.forget_if_absent(key).await
    }

    async fn rename(&self, from: &str, to: &str) -> Result<ObjectInfo, BlobError> {
        validate_key(to)?;
        let (_, row) = self.current(from).await?;
        if from == to {
            return Ok(self.info(to, &row));
        }
        let from_path = self.path(from);
        self.move_file(&from_path, &self.path(to), to, true).await?;
        self.tidy_parents(&from_path).await;
        // The destination's row is written from what was read before the move, not re-keyed
        // from the source's row: a concurrent `head` of the source after the file moved would
        // already have dropped that row, and with it the tags (the quarantine reason).
        let moved = Row {
            last_modified: now_millis(),
            ..row
        };
        let info = self.info(to, &moved);
        self.write_row_if_current(to, self.path(to), moved).await?;
        self.forget_if_absent(from).await?;
        self.notify("ObjectCreated:Copy", &info).await?;
        Ok(info)
    }

    async fn set_tags(&self, key: &str, tags: &BTreeMap<String, String>) -> Result<(), BlobError> {
        self.current(key).await?;
        let tags = serde_json::to_string(tags).map_err(|e| BlobError::Backend(e.to_string()))?;
        let bucket = self.inner.bucket.clone();
        let db_key = key.to_owned();
        let updated = self
            .inner
            .db
            .call(move |conn| {
                conn.prepare_cached(
                    "UPDATE blob_objects SET tags = ?3 WHERE bucket = ?1 AND key = ?2",
                )?
                .execute(params![bucket, db_key, tags])
            })
            .await
            .map_err(db_error)?;
        if updated == 0 {
            return Err(not_found(key));
        }
        Ok(())
    }

    async fn get_tags(&self, key: &str) -> Result<BTreeMap<String, String>, BlobError> {
        self.current(key).await.map(|(_, row)| row.tags)
    }

    async fn presign_put(
        &self,
        key: &str,
        content_type: &str,
        expires_in: Duration,
    ) -> Result<PresignedRequest, BlobError> {
        self.presign("PUT", key, Some(content_type), expires_in)
    }

    async fn presign_get(
        &self,
        key: &str,
        expires_in: Duration,
    ) -> Result<PresignedRequest, BlobError> {
        self.presign("GET", key, None, expires_in)
    }

    async fn location(&self, key: &str) -> Result<BlobLocation, BlobError> {
        self.current(key).await?;
        Ok(BlobLocation::File(self.path(key)))
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, BlobError> {
        let bucket = self.inner.bucket.clone();
        let prefix = prefix.to_owned();
        let rows = self
            .inner
            .db
            .call(move |conn| {
                // BINARY collation compares UTF-8 bytes: S3's listing order.
                conn.prepare_cached(
                    "SELECT key, etag, content_type, tags, last_modified_ms, size, file_id,
                            file_mtime_ns
                     FROM blob_objects
                     WHERE bucket = ?1 AND key >= ?2 AND substr(key, 1, length(?2)) = ?2
                     ORDER BY key",
                )?
                .query_map(params![bucket, prefix], |r| {
                    Ok((r.get::<_, String>(0)?, row_from_sql_at(r, 1)?))
                })?
                .collect::<Result<Vec<_>, _>>()
            })
            .await
            .map_err(db_error)?;
        Ok(rows
            .into_iter()
            .map(|(key, row)| self.info(&key, &row))
            .collect())
    }
}

fn row_from_sql(r: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
    row_from_sql_at(r, 0)
}

/// Columns from `at`: etag, content_type, tags, last_modified_ms, size, file_id, file_mtime_ns.
fn row_from_sql_at(r: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<Row> {
    let tags: String = r.get(at + 2)?;
    Ok(Row {
        etag: r.get(at)?,
        content_type: r.get(at + 1)?,
        tags: serde_json::from_str(&tags).unwrap_or_default(),
        last_modified: DateTime::from_timestamp_millis(r.get(at + 3)?).unwrap_or_default(),
        stamp: FileStamp {
            size: r.get::<_, i64>(at + 4)?.max(0) as u64,
            file_id: r.get(at + 5)?,
            mtime_ns: r.get(at + 6)?,
        },
    })
}

/// Keys must be usable as relative paths under the root: non-empty, at most 1024 bytes, no
/// leading `/`, no NUL, no empty, `.` or `..` segments, and not under the reserved `.tmp/`.
pub fn validate_key(key: &str) -> Result<(), BlobError> {
    let why = if key.is_empty() {
        Some("empty")
    } else if key.len() > MAX_KEY_BYTES {
        Some("longer than 1024 bytes")
    } else if key.starts_with('/') {
        Some("starts with /")
    } else if key.contains('\0') {
        Some("contains NUL")
    } else if key.split('/').any(str::is_empty) {
        Some("has an empty path segment")
    } else if key.split('/').any(|s| s == "." || s == "..") {
        Some("has a . or .. segment")
    } else if key.split('/').next() == Some(TMP_DIR) {
        Some("is under the reserved .tmp/ folder")
    } else {
        None
    };
    match why {
        None => Ok(()),
        Some(why) => Err(BlobError::InvalidKey {
            key: key.to_owned(),
            why,
        }),
    }
}

/// The notification S3 sends for `info`, as JSON text. Built with the `aws_lambda_events`
/// types so consumers parse it exactly as they parse S3's; fields S3 leaves out for an
/// unversioned bucket (`versionId`) and the crate's own `urlDecodedKey` are dropped.
fn s3_event_json(
    event_name: &str,
    info: &ObjectInfo,
    sequencer: &str,
    now: DateTime<Utc>,
) -> String {
    let mut identity = S3UserIdentity::default();
    identity.principal_id = Some(PRINCIPAL.to_owned());

    let mut bucket = S3Bucket::default();
    bucket.name = Some(info.bucket.clone());
    bucket.owner_identity = Some(identity.clone());
    bucket.arn = Some(format!("arn:aws:s3:::{}", info.bucket));

    let mut object = S3Object::default();
    object.key = Some(form_encode(&info.key));
    object.size = Some(i64::try_from(info.size).unwrap_or(i64::MAX));
    object.e_tag = Some(info.etag.clone());
    object.sequencer = Some(sequencer.to_owned());

    let mut entity = S3Entity::default();
    entity.schema_version = Some("1.0".to_owned());
    entity.configuration_id = Some(CONFIGURATION_ID.to_owned());
    entity.bucket = bucket;
    entity.object = object;

    let mut request = S3RequestParameters::default();
    request.source_ip_address = Some(SOURCE_IP.to_owned());

    let mut record = S3EventRecord::default();
    record.event_version = Some("2.1".to_owned());
    record.event_source = Some("aws:s3".to_owned());
    record.aws_region = Some(REGION.to_owned());
    record.event_time = now;
    record.event_name = Some(event_name.to_owned());
    record.principal_id = identity;
    record.request_parameters = request;
    record.response_elements = HashMap::from([
        (
            "x-amz-request-id".to_owned(),
            hex::encode_upper(rand::random::<[u8; 8]>()),
        ),
        (
            "x-amz-id-2".to_owned(),
            base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 48]>()),
        ),
    ]);
    record.s3 = entity;

    let mut event = S3Event::default();
    event.records = vec![record];

    let mut json = serde_json::to_value(&event).expect("an S3 event serializes");
    drop_nulls(&mut json);
    // S3 writes millisecond precision, always with three digits.
    json["Records"][0]["eventTime"] = now.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string().into();
    json.to_string()
}

fn drop_nulls(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            map.retain(|_, v| !v.is_null());
            map.values_mut().for_each(drop_nulls);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(drop_nulls),
        _ => {}
    }
}

/// Keys in S3 notifications are form-encoded: space as `+`, `/` and `A-Za-z0-9-_.*` kept,
/// every other byte as `%XX`. Decode with `+` → space, then percent-decoding.
fn form_encode(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for b in key.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' | b'/' => {
                out.push(b as char);
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// A key as a URL path: RFC 3986 unreserved characters and `/` kept, the rest `%XX`.
fn path_encode(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for b in key.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(b as char);
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Increasing across all keys (so per key too) in this process, and time-based across
/// restarts: 18 upper-case hex digits, like S3's.
fn next_sequencer() -> String {
    static LAST: AtomicU64 = AtomicU64::new(0);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let previous = LAST
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |last| {
            Some(now.max(last + 1))
        })
        .unwrap_or_default();
    format!("{:018X}", now.max(previous + 1))
}

fn now_millis() -> Timestamp {
    DateTime::from_timestamp_millis(Utc::now().timestamp_millis()).unwrap_or_default()
}

fn not_found(key: &str) -> BlobError {
    BlobError::NotFound {
        key: key.to_owned(),
    }
}

/// Reading: a missing file (or a file where a folder is expected) is a missing object.
fn io_error(e: std::io::Error, key: &str) -> BlobError {
    match e.kind() {
        std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory => not_found(key),
        _ => io_backend(e, key),
    }
}

fn io_backend(e: std::io::Error, key: &str) -> BlobError {
    BlobError::Backend(format!("{key}: {e}"))
}

/// Writing: a key that would need a file where a folder is (or the reverse) cannot be stored
/// in a directory tree, although S3 would allow it.
fn fs_conflict(e: std::io::Error, key: &str) -> BlobError {
    match e.kind() {
        std::io::ErrorKind::NotADirectory
        | std::io::ErrorKind::IsADirectory
        | std::io::ErrorKind::AlreadyExists
        | std::io::ErrorKind::DirectoryNotEmpty => BlobError::InvalidKey {
            key: key.to_owned(),
            why: "one key would be both an object and a folder of other objects",
        },
        _ => io_error(e, key),
    }
}

fn db_error(e: DbError) -> BlobError {
    if e.is_busy() {
        BlobError::Transient(e.to_string())
    } else {
        BlobError::Backend(e.to_string())
    }
}

/// Bodies up to this size are written to their temp file in one blocking call.
const SMALL_BODY: usize = 1024 * 1024;

/// A file moved into place; whether its folder's fsync (which makes the rename durable)
/// worked, a failure only worth a warning.
struct Moved {
    folder_synced: std::io::Result<()>,
}

enum MoveError {
    /// `replace` was off and an object is there.
    Exists,
    Io(std::io::Error),
}

/// [`LocalBlobStore::move_file`]'s work, on a blocking thread.
fn move_file_blocking(
    from: &Path,
    to: &Path,
    parent: &Path,
    replace: bool,
) -> Result<Moved, MoveError> {
    let mut attempts = 0;
    loop {
        attempts += 1;
        std::fs::create_dir_all(parent).map_err(MoveError::Io)?;
        // A hard link is the atomic "create only if absent" a rename cannot express.
        let moved = if replace {
            std::fs::rename(from, to)
        } else {
            match std::fs::hard_link(from, to) {
                Ok(()) => std::fs::remove_file(from),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && to.is_file() => {
                    return Err(MoveError::Exists);
                }
                Err(e) => Err(e),
            }
        };
        match moved {
            Ok(()) => break,
            Err(e)
                if e.kind() == std::io::ErrorKind::NotFound
                    && attempts < 3
                    && std::fs::symlink_metadata(from).is_ok() => {}
            Err(e) => return Err(MoveError::Io(e)),
        }
    }
    Ok(Moved {
        folder_synced: std::fs::File::open(parent).and_then(|f| f.sync_all()),
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// The `ObjectCreated:Put` example from AWS's "Event message structure" page
    /// (docs.aws.amazon.com/AmazonS3/latest/userguide/notification-content-structure.html).
    const AWS_EXAMPLE: &str = r#"{
      "Records": [{
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": "us-west-2",
        "eventTime": "1970-01-01T00:00:00.000Z",
        "eventName": "ObjectCreated:Put",
        "userIdentity": { "principalId": "AIDAJDPLRKLG7UEXAMPLE" },
        "requestParameters": { "sourceIPAddress": "172.16.0.1" },
        "responseElements": {
          "x-amz-request-id": "C3D13FE58DE4C810",
          "x-amz-id-2": "FMyUVURIY8/IgAtTv8xRjskZQpcIZ9KG4V5Wp6S7S/JRWeUWerMUE5JgHvANOjpD"
        },
        "s3": {
          "s3SchemaVersion": "1.0",
          "configurationId": "testConfigRule",
          "bucket": {
            "name": "amzn-s3-demo-bucket",
            "ownerIdentity": { "principalId": "A3NL1KOZZKExample" },
            "arn": "arn:aws:s3:::amzn-s3-demo-bucket"
          },
          "object": {
            "key": "HappyFace.jpg",
            "size": 1024,
            "eTag": "d41d8cd98f00b204e9800998ecf8427e",
            "versionId": "096fKKXTRTtl3on89fVO.nfljtsv6qko",
            "sequencer": "0055AED6DCD90281E5"
          }
        }
      }]
    }"#;

    fn field_paths(value: &serde_json::Value, prefix: &str, out: &mut BTreeSet<String>) {
        match value {
            serde_json::Value::Object(map) => {
                for (k, v) in map {
                    let path = format!("{prefix}/{k}");
                    out.insert(path.clone());
                    field_paths(v, &path, out);
                }
            }
            serde_json::Value::Array(items) => {
                for v in items {
                    field_paths(v, &format!("{prefix}[]"), out);
                }
            }
            _ => {}
        }
    }

    fn sample_info(key: &str) -> ObjectInfo {
        ObjectInfo {
            bucket: "media".to_owned(),
            key: key.to_owned(),
            size: 1024,
            etag: "d41d8cd98f00b204e9800998ecf8427e".to_owned(),
            content_type: None,
            last_modified: Utc::now(),
        }
    }

    #[test]
    fn notification_has_the_fields_of_aws_documented_example() {
        let example: serde_json::Value = serde_json::from_str(AWS_EXAMPLE).unwrap();
        let parsed_example: S3Event = serde_json::from_str(AWS_EXAMPLE).unwrap();
        assert_eq!(parsed_example.records.len(), 1);

        let ours = s3_event_json(
            "ObjectCreated:Put",
            &sample_info("a b/c.mp4"),
            "00AB",
            Utc::now(),
        );
        let parsed: S3Event = serde_json::from_str(&ours).unwrap();
        let ours: serde_json::Value = serde_json::from_str(&ours).unwrap();

        let mut expected = BTreeSet::new();
        field_paths(&example, "", &mut expected);
        // Only versioned buckets report a versionId; ours is unversioned, as S3 omits it then.
        expected.remove("/Records[]/s3/object/versionId");
        let mut actual = BTreeSet::new();
        field_paths(&ours, "", &mut actual);
        assert_eq!(actual, expected);

        let record = &parsed.records[0];
        assert_eq!(record.event_version.as_deref(), Some("2.1"));
        assert_eq!(record.event_source.as_deref(), Some("aws:s3"));
        assert_eq!(record.aws_region.as_deref(), Some("local"));
        assert_eq!(record.event_name.as_deref(), Some("ObjectCreated:Put"));
        assert_eq!(record.s3.bucket.arn.as_deref(), Some("arn:aws:s3:::media"));
        assert_eq!(record.s3.object.key.as_deref(), Some("a+b/c.mp4"));
        assert_eq!(record.s3.object.size, Some(1024));
        let time = ours["Records"][0]["eventTime"].as_str().unwrap();
        assert_eq!(time.len(), "1970-01-01T00:00:00.000Z".len(), "{time}");
    }

    #[test]
    fn event_keys_are_form_encoded_like_s3() {
        assert_eq!(
            form_encode("t/01H/uploads/red flower.jpg"),
            "t/01H/uploads/red+flower.jpg"
        );
        assert_eq!(form_encode("a=b:c+d"), "a%3Db%3Ac%2Bd");
        assert_eq!(form_encode("é"), "%C3%A9");
    }

    #[test]
    fn sequencers_increase() {
        let a = next_sequencer();
        let b = next_sequencer();
        assert_eq!(a.len(), 18);
        assert!(b > a, "{b} > {a}");
    }

    #[test]
    fn keys_that_are_not_relative_paths_are_invalid() {
        for bad in [
            "", "/a", "a//b", "a/", "a/../b", "..", "./a", "a\0b", ".tmp/x",
        ] {
            assert!(validate_key(bad).is_err(), "{bad:?}");
        }
        assert!(validate_key(&"k".repeat(1025)).is_err());
        for good in ["a", "t/01H/uploads/x.mp4", "a b/é.mp4", ".hidden", "a..b"] {
            assert!(validate_key(good).is_ok(), "{good:?}");
        }
    }
}
