//! Analytics storage: events as Parquet files in the blob store, partitioned
//! `analytics/events/t={tenant}/date={YYYY-MM-DD}/{batch}.parquet` (merged into one
//! `compacted-{id}.parquet` per day: today's every hour, a closed day's by the daily sweep),
//! the events function's ingest of a batch into those files, and the fold of new files into
//! the table's rollups.

pub mod athena;
pub mod compaction;
pub mod fold;
pub mod ingest;
pub mod parquet;
pub mod query;
pub mod reports;
pub mod retention;
pub mod synthetic;

pub use athena::{AthenaEngine, Polling};
pub use compaction::{CompactionOutcome, compact, compact_today};
pub use fold::{FoldError, FoldOutcome, fold_day, fold_pending};
pub use ingest::{IngestError, IngestOutcome, ingest};
pub use query::{LocalEngine, QueryEngine, QueryError, ReportQuery, Rows};
