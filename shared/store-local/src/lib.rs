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
