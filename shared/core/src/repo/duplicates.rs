//! A media's duplicates: candidates from the duplicate index (media sharing fingerprint keys),
//! each then compared in full, so a score never rests on the index alone. Used by
//! `GET /v1/media/{id}/duplicates` and by the tag step (`duplicate`).

use futures_util::{StreamExt, stream};
use serde::Serialize;
use tracing::warn;

use crate::analysis::AnalyzerKind;
use crate::fingerprint::{Fingerprint, FingerprintSummary, Similarity};
use crate::ids::{MediaId, TenantId};
use crate::ports::blob::read_to_end;
use crate::ports::{BlobError, BlobStore, Platform};

use super::{AnalysisRepo, FingerprintIndex, RepoError};

/// Candidates compared in full, most shared index keys first.
const CANDIDATES: usize = 50;
/// Candidates read at once.
const CONCURRENT_READS: usize = 8;
/// A stored fingerprint is ~60 bytes a second; this is many hours.
const MAX_FINGERPRINT_BYTES: usize = 16 << 20;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Duplicate {
    pub media_id: MediaId,
    #[serde(flatten)]
    pub similarity: Similarity,
}

#[derive(Debug, thiserror::Error)]
pub enum DuplicateError {
    #[error(transparent)]
    Repo(#[from] RepoError),
    #[error("reading the fingerprint of {media}: {source}")]
    Blob {
        media: MediaId,
        #[source]
        source: BlobError,
    },
    #[error("reading the fingerprint of {media}: {source}")]
    Read {
        media: MediaId,
        #[source]
        source: std::io::Error,
    },
    #[error("the fingerprint of {media} does not decode: {reason}")]
    Corrupt { media: MediaId, reason: String },
}

impl DuplicateError {
    pub fn is_transient(&self) -> bool {
        match self {
            DuplicateError::Repo(e) => e.is_transient(),
            DuplicateError::Blob { source, .. } => matches!(source, BlobError::Transient(_)),
            DuplicateError::Read { source, .. } => source.kind() != std::io::ErrorKind::InvalidData,
            DuplicateError::Corrupt { .. } => false,
        }
    }
}

/// The tenant's other media sharing material with `media` at `min_score` or more, best first,
/// at most `limit`. `None` when `media` has no fingerprint (not analysed yet, or it failed).
pub async fn find_duplicates<P: Platform>(
    platform: &P,
    tenant: TenantId,
    media: MediaId,
    min_score: f64,
    limit: usize,
) -> Result<Option<Vec<Duplicate>>, DuplicateError> {
    let Some(this) = stored_fingerprint(platform, tenant, media).await? else {
        return Ok(None);
    };
    let candidates = FingerprintIndex::new(platform.table())
        .candidates(tenant, media, &this.index_keys(), CANDIDATES)
        .await?;
    let theirs: Vec<(MediaId, Option<Fingerprint>)> = stream::iter(candidates)
        .map(|(other, _)| async move {
            // A candidate whose fingerprint went missing or is unreadable is skipped, not
            // fatal: the index may name media re-analysed or removed since.
            let found = stored_fingerprint(platform, tenant, other)
                .await
                .unwrap_or_else(|e| {
                    warn!(media = %other, error = %e, "candidate fingerprint unreadable");
                    None
                });
            (other, found)
        })
        .buffer_unordered(CONCURRENT_READS)
        .collect()
        .await;
    let mut found: Vec<Duplicate> = theirs
        .into_iter()
        .filter_map(|(other, fingerprint)| {
            let similarity = this.similarity(&fingerprint?);
            (similarity.score >= min_score).then_some(Duplicate {
                media_id: other,
                similarity,
            })
        })
        .collect();
    found.sort_by(|a, b| {
        b.similarity
            .score
            .total_cmp(&a.similarity.score)
            .then(a.media_id.cmp(&b.media_id))
    });
    found.truncate(limit);
    Ok(Some(found))
}

/// A media's stored fingerprint; `None` if it has none (not analysed yet, or it failed).
pub async fn stored_fingerprint<P: Platform>(
    platform: &P,
    tenant: TenantId,
    media: MediaId,
) -> Result<Option<Fingerprint>, DuplicateError> {
    let Some(document) = AnalysisRepo::new(platform.table())
        .get(
            tenant,
            media,
            AnalyzerKind::Fingerprint,
            FingerprintSummary::VERSION,
        )
        .await?
    else {
        return Ok(None);
    };
    if document.error.is_some() {
        return Ok(None);
    }
    let summary: FingerprintSummary =
        serde_json::from_value(document.result).map_err(|e| DuplicateError::Corrupt {
            media,
            reason: format!("its document: {e}"),
        })?;
    let body = match platform.blobs().get(&summary.key).await {
        Ok(body) => body,
        Err(BlobError::NotFound { .. }) => return Ok(None),
        Err(source) => return Err(DuplicateError::Blob { media, source }),
    };
    let bytes = read_to_end(body, MAX_FINGERPRINT_BYTES)
        .await
        .map_err(|source| DuplicateError::Read { media, source })?;
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| DuplicateError::Corrupt {
            media,
            reason: e.to_string(),
        })
}
