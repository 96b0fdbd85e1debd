//! Repositories, written once over the [`Table`](crate::ports::Table) port: the only code that
//! knows how domain records map onto items and keys.

mod alerts;
mod analysis;
mod analytics;
mod duplicates;
mod erasures;
mod events;
mod external;
mod fingerprints;
mod media;
mod model_files;
mod models;
mod profiles;
mod reports;
mod rollup_cache;
mod tags;
mod tenants;
mod uploads;
mod vocabulary;

pub use alerts::{AlertPage, AlertRepo, AlertSweep, RaiseOutcome, RuleChange, evaluate_alerts};
pub use analysis::AnalysisRepo;
pub use analytics::{AnalyticsRepo, ApplyOutcome, FoldPlan, FoldRecord, MOVE_GRACE};
pub use duplicates::{Duplicate, DuplicateError, find_duplicates, stored_fingerprint};
pub use erasures::{AnalyticsErasure, ErasureRepo};
pub use events::{AppendOutcome, EventRepo, IntakeError};
pub use external::Imported;
pub use fingerprints::FingerprintIndex;
pub use media::{Created, MediaPage, MediaRepo};
pub use model_files::{
    ModelFileError, fetch_model, publish_model, read_model, verify as verify_model,
};
pub use models::{ModelFile, ModelRegistry, ModelVersion, Reservation};
pub use profiles::ProfileRepo;
pub use reports::{JobPage, ReportRepo};
pub use rollup_cache::{ROLLUP_CACHE_ITEMS, RollupCache};
pub use tags::{Decided, FoundPage, FoundTag, TagCounts, TagRepo};
pub use tenants::{TenantRecord, TenantRepo};
pub use uploads::{Claim, UploadRepo, UploadReservation};
pub use vocabulary::VocabularyRepo;

use crate::media::IllegalTransition;
use crate::ports::TableError;

#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    #[error(transparent)]
    Table(#[from] TableError),
    #[error("stored record {pk} / {sk} does not decode: {source}")]
    Corrupt {
        pk: String,
        sk: String,
        #[source]
        source: serde_json::Error,
    },
    #[error(transparent)]
    Transition(#[from] IllegalTransition),
    #[error("{0} not found")]
    NotFound(String),
    /// Concurrent writers kept winning; the caller may retry the whole operation.
    #[error("gave up after {attempts} conflicting concurrent updates of {what}")]
    Contended { what: String, attempts: u32 },
}

impl RepoError {
    /// Whether retrying the operation later can help.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            RepoError::Table(TableError::Transient(_)) | RepoError::Contended { .. }
        )
    }
}

/// Requests in flight at once where a repository makes many (an import, a batch's lookups):
/// DynamoDB answers each in milliseconds, so a few at a time are several times faster; SQLite
/// runs them one by one anyway.
const CONCURRENT_REQUESTS: usize = 8;

/// Runs `requests` a few at a time; their results in order, or the first error.
///
/// Takes the futures already made: a stream that makes them with a closure borrowing its
/// input trips the compiler's higher-ranked lifetime inference inside axum handlers.
async fn a_few_at_a_time<R, F>(requests: Vec<F>) -> Result<Vec<R>, RepoError>
where
    F: Future<Output = Result<R, RepoError>>,
{
    use futures_util::{StreamExt, TryStreamExt};
    futures_util::stream::iter(requests)
        .buffered(CONCURRENT_REQUESTS)
        .try_collect()
        .await
}

/// Every record a query matches, following cursors to the end.
pub async fn query_all<T, R>(table: &T, query: crate::ports::Query) -> Result<Vec<R>, RepoError>
where
    T: crate::ports::Table,
    R: serde::de::DeserializeOwned,
{
    query_all_with(table, query, decode).await
}

/// Every item a query matches, each made into a record by `read`, following cursors to the
/// end (for callers that need more of an item than its data, e.g. its version).
pub async fn query_all_with<T, R>(
    table: &T,
    mut query: crate::ports::Query,
    read: impl Fn(crate::ports::Item) -> Result<R, RepoError>,
) -> Result<Vec<R>, RepoError>
where
    T: crate::ports::Table,
{
    let mut out = Vec::new();
    loop {
        let page = table.query(query.clone()).await?;
        for item in page.items {
            out.push(read(item)?);
        }
        match page.next_cursor {
            Some(c) => query.cursor = Some(c),
            None => return Ok(out),
        }
    }
}

/// A stored record, or `Corrupt` naming the item that does not decode.
pub fn decode<T: serde::de::DeserializeOwned>(item: crate::ports::Item) -> Result<T, RepoError> {
    serde_json::from_value(item.data).map_err(|source| RepoError::Corrupt {
        pk: item.pk,
        sk: item.sk,
        source,
    })
}

/// A record as item data.
pub fn encode<T: serde::Serialize>(value: &T) -> serde_json::Value {
    // Our records are plain data (strings, numbers, maps with string keys): encoding cannot fail.
    serde_json::to_value(value).expect("domain records encode as JSON")
}

/// A record and the version it was read at, for a compare-and-set write back.
#[derive(Debug, Clone, PartialEq)]
pub struct Versioned<T> {
    pub record: T,
    pub version: u64,
}

/// A stored record with its version.
pub fn versioned<T: serde::de::DeserializeOwned>(
    item: crate::ports::Item,
) -> Result<Versioned<T>, RepoError> {
    let version = item.version;
    Ok(Versioned {
        record: decode(item)?,
        version,
    })
}

/// Put `item` over the version it was read at (`None`: only if it does not exist yet).
/// `Ok(false)` when someone else wrote it first.
pub async fn put_over<T: crate::ports::Table>(
    table: &T,
    mut item: crate::ports::Item,
    read_at: Option<u64>,
) -> Result<bool, RepoError> {
    let condition = match read_at {
        Some(v) => {
            item.version = v + 1;
            crate::ports::Condition::VersionIs(v)
        }
        None => crate::ports::Condition::Absent,
    };
    won(table.put(item, condition).await)
}

/// A conditional write's outcome: `Ok(false)` if its condition did not hold.
pub fn won(result: Result<(), TableError>) -> Result<bool, RepoError> {
    match result {
        Ok(()) => Ok(true),
        Err(e) if e.is_conflict() => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Every record a query matches with its version, following cursors to the end.
pub async fn query_versioned<T: crate::ports::Table, R: serde::de::DeserializeOwned>(
    table: &T,
    query: crate::ports::Query,
) -> Result<Vec<Versioned<R>>, RepoError> {
    query_all_with(table, query, versioned).await
}
