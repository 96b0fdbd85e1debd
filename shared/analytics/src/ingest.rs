//! What the events function does with one [`EventBatch`]: its events written as Parquet (one
//! file per day, named by the batch, so writing it again replaces it with the same bytes),
//! and each day noted as pending for the fold ([`crate::fold`]), which adds the files to the
//! rollups in bulk. A day the batch was folded in before is skipped: compaction
//! ([`crate::compaction`]) may have merged its file into the day's since.

use std::collections::{BTreeMap, HashSet};

use chrono::NaiveDate;
use mvidarr_core::analytics::{AnalyticsEvent, EventBatch};
use mvidarr_core::keys;
use mvidarr_core::ports::blob::body_of;
use mvidarr_core::ports::{BlobError, BlobStore, Table};
use mvidarr_core::repo::{AnalyticsRepo, RepoError};
use tracing::debug;

use crate::parquet::{self, ParquetError};

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error(transparent)]
    Parquet(#[from] ParquetError),
    #[error("cannot store {key}: {source}")]
    Blob {
        key: String,
        #[source]
        source: BlobError,
    },
    #[error(transparent)]
    Repo(#[from] RepoError),
}

impl IngestError {
    /// Whether trying the batch again may succeed (a store was unavailable).
    pub fn is_transient(&self) -> bool {
        match self {
            IngestError::Parquet(_) => false,
            IngestError::Blob { source, .. } => matches!(source, BlobError::Transient(_)),
            IngestError::Repo(e) => e.is_transient(),
        }
    }
}

/// What ingesting a batch did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IngestOutcome {
    /// Events kept (a repeated id within the batch counts once).
    pub events: usize,
    /// Parquet files written and their bytes.
    pub files: usize,
    pub bytes: usize,
    /// Days the batch was folded into the rollups before (an earlier delivery): no file
    /// written for them.
    pub days_already_applied: usize,
}

/// Write a batch's events as Parquet, their days noted for the fold.
pub async fn ingest<B: BlobStore, T: Table>(
    blobs: &B,
    table: &T,
    batch: &EventBatch,
) -> Result<IngestOutcome, IngestError> {
    let mut seen = HashSet::with_capacity(batch.events.len());
    let mut by_day: BTreeMap<NaiveDate, Vec<&AnalyticsEvent>> = BTreeMap::new();
    for e in &batch.events {
        if seen.insert(e.id.as_str()) {
            by_day.entry(e.date()).or_default().push(e);
        }
    }
    let mut outcome = IngestOutcome {
        events: seen.len(),
        ..IngestOutcome::default()
    };
    let repo = AnalyticsRepo::new(table);
    for (date, events) in &by_day {
        // Folded in after an earlier delivery: its file may since have been compacted into
        // the day's file (or pseudonymised), so it is not written again.
        if repo.batch_applied(batch.tenant, *date, &batch.id).await? {
            outcome.days_already_applied += 1;
            continue;
        }
        let file = parquet::encode(events.iter().copied())?;
        let key = keys::blob::analytics_events(batch.tenant, *date, &batch.id);
        outcome.files += 1;
        outcome.bytes += file.len();
        blobs
            .put(&key, body_of(file), Some(parquet::CONTENT_TYPE))
            .await
            .map_err(|source| IngestError::Blob { key, source })?;
        // After the file: a fold that reads the note is sure to list the file.
        repo.mark_pending(batch.tenant, *date).await?;
    }
    debug!(batch = %batch.id, tenant = %batch.tenant, ?outcome, "events ingested");
    Ok(outcome)
}
