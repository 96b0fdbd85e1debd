//! The embedded adapters: every port of `mvidarr-core` on one machine's disk.
//!
//! - [`blob::LocalBlobStore`]: objects as files under a directory, written atomically (temp
//!   file + rename), with S3-shaped `ObjectCreated` notifications into a queue and HMAC-signed
//!   expiring URLs in place of S3 presigned URLs.
//! - [`table::SqliteTable`]: the single-table design on SQLite (WAL).
//! - [`queue::SqliteQueue`]: SQS semantics on SQLite (visibility timeout, receive count, DLQ).
//! - [`pipeline::LocalPipeline`]: the Step Functions definition run in-process, durably.
//! - [`keywrap::LocalKeyWrap`]: KMS-shaped key wrapping under a master key file (0600).

pub mod blob;
pub mod db;
pub mod keywrap;
pub mod pipeline;
pub mod platform;
pub mod queue;
pub mod table;

pub use platform::{LocalConfig, LocalPlatform};

/// A blob store (`dir/blobs/`) and a table (`dir/mvidarr.db`): the two ports code such as the
/// analytics ingest works over, without a whole platform's queues and pipeline. Its signed
/// URLs point at a port nobody listens on; for tests and benchmarks.
pub fn stores_in(
    dir: &std::path::Path,
) -> Result<(blob::LocalBlobStore, table::SqliteTable), Box<dyn std::error::Error + Send + Sync>> {
    let db = db::Database::open(&dir.join("mvidarr.db"))?;
    let blobs = blob::LocalBlobStore::open(
        dir.join("blobs"),
        "scratch",
        db.clone(),
        vec![7; 32],
        "http://127.0.0.1:1".into(),
    )?;
    Ok((blobs, table::SqliteTable::new(db)?))
}
