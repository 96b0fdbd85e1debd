//! Every embedded adapter wired together over one data directory: what `mvidarr serve` runs
//! on, and what the tests start fresh in a temp dir.
//!
//! ```text
//! <data>/mvidarr.db      SQLite: table, queues, pipeline executions, blob metadata
//! <data>/blobs/          object files (S3-shaped keys)
//! <data>/signing-key     HMAC key for presigned URLs (0600)
//! <data>/keys/master.key the key that wraps secrets' data keys (0600, in a 0700 folder)
//! ```

use std::path::{Path, PathBuf};
use std::sync::Arc;

use mvidarr_core::asl::StateMachine;
use mvidarr_core::keys::blob::TENANT_KEYS_PREFIX;
use mvidarr_core::ports::Platform;

use crate::blob::LocalBlobStore;
use crate::db::{Database, DbError};
use crate::keywrap::{LocalKeyWrap, MasterKeyError};
use crate::pipeline::LocalPipeline;
use crate::queue::{QueueConfig, SqliteQueue};
use crate::table::SqliteTable;

/// The bucket name local objects report, standing in for the S3 bucket.
pub const LOCAL_BUCKET: &str = "mvidarr-local";
/// The ingest queue's name and its dead-letter queue's.
pub const INGEST_QUEUE: &str = "ingest";
pub const INGEST_DLQ: &str = "ingest-dlq";
/// The events queue (analytics) and its dead-letter queue.
pub const EVENTS_QUEUE: &str = "events";
pub const EVENTS_DLQ: &str = "events-dlq";
/// Deliveries of one events message before it goes to the dead-letter queue.
pub const EVENTS_MAX_RECEIVES: u32 = 5;
/// The reports queue (report jobs) and its dead-letter queue.
pub const REPORTS_QUEUE: &str = "reports";
pub const REPORTS_DLQ: &str = "reports-dlq";
/// Deliveries of one report job's message: a job is tried this often, then failed for good.
pub const REPORTS_MAX_RECEIVES: u32 = mvidarr_core::analytics::jobs::MAX_ATTEMPTS;

#[derive(Debug, Clone)]
pub struct LocalConfig {
    pub data_dir: PathBuf,
    /// Base of presigned URLs (the embedded server's address), e.g. `http://127.0.0.1:8080`.
    pub public_base_url: String,
    /// Deliveries of one ingest message before it goes to the dead-letter queue.
    pub ingest_max_receives: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("cannot use data directory {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot open the database: {0}")]
    Db(#[from] DbError),
    #[error("cannot open {what}: {why}")]
    Adapter { what: &'static str, why: String },
    #[error("cannot use the master key: {0}")]
    MasterKey(#[from] MasterKeyError),
}

struct Inner {
    table: SqliteTable,
    blobs: LocalBlobStore,
    ingest: SqliteQueue,
    events: SqliteQueue,
    reports: SqliteQueue,
    pipeline: LocalPipeline,
    key_wrap: LocalKeyWrap,
    data_dir: PathBuf,
}

/// The embedded platform. Cheap to clone.
#[derive(Clone)]
pub struct LocalPlatform(Arc<Inner>);

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> OpenError + '_ {
    move |source| OpenError::Io {
        path: path.to_owned(),
        source,
    }
}

/// The signing key, created (random, owner-only) on first use.
fn signing_key(path: &Path) -> Result<Vec<u8>, OpenError> {
    match std::fs::read(path) {
        Ok(k) if k.len() >= 32 => return Ok(k),
        Ok(_) | Err(_) => {}
    }
    let key: [u8; 32] = rand::random();
    write_private(path, &key).map_err(io(path))?;
    Ok(key.to_vec())
}

/// Write a file readable by its owner only, atomically.
pub fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut f = options.open(&tmp)?;
    f.write_all(contents)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

impl LocalPlatform {
    pub fn open(config: &LocalConfig, machine: StateMachine) -> Result<Self, OpenError> {
        let dir = &config.data_dir;
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        // First, so a master key others can read stops the start before anything else opens.
        let key_wrap = LocalKeyWrap::open(dir)?;
        let db = Database::open(&dir.join("mvidarr.db"))?;
        let adapter = |what| {
            move |e: &dyn std::fmt::Display| OpenError::Adapter {
                what,
                why: e.to_string(),
            }
        };
        let table = SqliteTable::new(db.clone()).map_err(|e| adapter("table")(&e))?;
        let ingest = SqliteQueue::open(
            db.clone(),
            INGEST_QUEUE,
            QueueConfig {
                max_receives: config.ingest_max_receives,
                dead_letter: Some(INGEST_DLQ.into()),
            },
        )
        .map_err(|e| adapter("ingest queue")(&e))?;
        let events = SqliteQueue::open(
            db.clone(),
            EVENTS_QUEUE,
            QueueConfig {
                max_receives: EVENTS_MAX_RECEIVES,
                dead_letter: Some(EVENTS_DLQ.into()),
            },
        )
        .map_err(|e| adapter("events queue")(&e))?;
        let reports = SqliteQueue::open(
            db.clone(),
            REPORTS_QUEUE,
            QueueConfig {
                max_receives: REPORTS_MAX_RECEIVES,
                dead_letter: Some(REPORTS_DLQ.into()),
            },
        )
        .map_err(|e| adapter("reports queue")(&e))?;
        let key = signing_key(&dir.join("signing-key"))?;
        let blobs = LocalBlobStore::open(
            dir.join("blobs"),
            LOCAL_BUCKET,
            db.clone(),
            key,
            config.public_base_url.clone(),
        )
        .map_err(|e| adapter("blob store")(&e))?
        // Uploads and every other tenant key, as the bucket's filter in template.yaml (so not
        // the analytics events files).
        .with_notifications(ingest.clone(), TENANT_KEYS_PREFIX);
        let pipeline = LocalPipeline::open(db, machine).map_err(|e| adapter("pipeline")(&e))?;
        Ok(Self(Arc::new(Inner {
            table,
            blobs,
            ingest,
            events,
            reports,
            pipeline,
            key_wrap,
            data_dir: dir.clone(),
        })))
    }

    pub fn data_dir(&self) -> &Path {
        &self.0.data_dir
    }

    /// The concrete pipeline, for the worker loop and execution status.
    pub fn local_pipeline(&self) -> &LocalPipeline {
        &self.0.pipeline
    }

    /// The concrete blob store, for verifying presigned URLs in the embedded server.
    pub fn local_blobs(&self) -> &LocalBlobStore {
        &self.0.blobs
    }

    pub fn events_dead_letters(&self) -> SqliteQueue {
        self.0
            .events
            .dead_letter()
            .expect("the events queue is opened with a dead-letter queue")
    }

    pub fn reports_dead_letters(&self) -> SqliteQueue {
        self.0
            .reports
            .dead_letter()
            .expect("the reports queue is opened with a dead-letter queue")
    }

    pub fn ingest_dead_letters(&self) -> SqliteQueue {
        self.0
            .ingest
            .dead_letter()
            .expect("the ingest queue is opened with a dead-letter queue")
    }
}

impl Platform for LocalPlatform {
    type Blobs = LocalBlobStore;
    type Table = SqliteTable;
    type Queue = SqliteQueue;
    type Pipeline = LocalPipeline;
    type KeyWrap = LocalKeyWrap;

    fn blobs(&self) -> &LocalBlobStore {
        &self.0.blobs
    }
    fn table(&self) -> &SqliteTable {
        &self.0.table
    }
    fn ingest_queue(&self) -> &SqliteQueue {
        &self.0.ingest
    }
    fn events_queue(&self) -> &SqliteQueue {
        &self.0.events
    }
    fn reports_queue(&self) -> &SqliteQueue {
        &self.0.reports
    }
    fn pipeline(&self) -> &LocalPipeline {
        &self.0.pipeline
    }
    fn key_wrap(&self) -> &LocalKeyWrap {
        &self.0.key_wrap
    }
}
