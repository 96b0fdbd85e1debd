//! `GET /v1/media/{id}/duplicates`: the tenant's other media that are the same video (a
//! re-upload, a re-encode at another size or bit rate) or share material with it (an excerpt,
//! another cut), best first, each with a similarity score and what it is to this one.
//!
//! Candidates come from the duplicate index (media sharing fingerprint keys); each is then
//! compared in full, so the score never rests on the index alone.

use axum::Json;
use axum::extract::{Path, Query, State};
use futures_util::{StreamExt, stream};
use mvidarr_core::analysis::AnalyzerKind;
use mvidarr_core::fingerprint::{Fingerprint, FingerprintSummary, Similarity};
use mvidarr_core::ids::{MediaId, TenantId};
use mvidarr_core::ports::blob::read_to_end;
use mvidarr_core::ports::{BlobError, BlobStore, Platform};
use mvidarr_core::repo::{AnalysisRepo, FingerprintIndex};
use serde::{Deserialize, Serialize};
use tracing::warn;

use super::media::existing_media;
use crate::{ApiError, ApiState, Caller};

/// Candidates compared in full, most shared index keys first.
const CANDIDATES: usize = 50;
/// Candidates read at once.
const CONCURRENT_READS: usize = 8;
/// A stored fingerprint is ~60 bytes a second; this is many hours.
const MAX_FINGERPRINT_BYTES: usize = 16 << 20;

#[derive(Deserialize)]
pub struct DuplicateParams {
    /// Matches scoring below this are left out (0–1, default 0.5).
    min_score: Option<f64>,
    /// At most this many matches (1–100, default 20).
    limit: Option<usize>,
}

#[derive(Serialize)]
pub struct DuplicateList {
    media_id: MediaId,
    items: Vec<Duplicate>,
}

#[derive(Serialize)]
struct Duplicate {
    media_id: MediaId,
    #[serde(flatten)]
    similarity: Similarity,
}

pub async fn list<P: Platform>(
    State(state): State<ApiState<P>>,
    caller: Caller,
    Path(id): Path<String>,
    params: Result<Query<DuplicateParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<DuplicateList>, ApiError> {
    let Query(params) = params.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let min_score = params.min_score.unwrap_or(0.5);
    if !(0.0..=1.0).contains(&min_score) {
        return Err(ApiError::BadRequest("min_score must be 0-1".into()));
    }
    let limit = params.limit.unwrap_or(20);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::BadRequest("limit must be 1-100".into()));
    }
    let id = existing_media(&state, &caller, &id).await?;
    let tenant = caller.tenant;
    let this = fingerprint(&state, tenant, id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("media {id} has no fingerprint (yet)")))?;
    let candidates = FingerprintIndex::new(state.platform.table())
        .candidates(tenant, id, &this.index_keys(), CANDIDATES)
        .await?;
    // Candidates are read a few at a time: each is a table read and a blob read.
    let theirs: Vec<(MediaId, Option<Fingerprint>)> = stream::iter(candidates)
        .map(|(other, _)| {
            let state = &state;
            async move {
                // A candidate whose fingerprint went missing or is unreadable is skipped, not
                // fatal: the index may name media re-analysed or removed since.
                let found = fingerprint(state, tenant, other).await.unwrap_or_else(|e| {
                    warn!(media = %other, error = %e, "candidate fingerprint unreadable");
                    None
                });
                (other, found)
            }
        })
        .buffer_unordered(CONCURRENT_READS)
        .collect()
        .await;
    let mut items: Vec<Duplicate> = theirs
        .into_iter()
        .filter_map(|(other, found)| {
            let similarity = this.similarity(&found?);
            (similarity.score >= min_score).then_some(Duplicate {
                media_id: other,
                similarity,
            })
        })
        .collect();
    items.sort_by(|a, b| {
        b.similarity
            .score
            .total_cmp(&a.similarity.score)
            .then(a.media_id.cmp(&b.media_id))
    });
    items.truncate(limit);
    Ok(Json(DuplicateList {
        media_id: id,
        items,
    }))
}

/// A media's stored fingerprint; `None` if it has none (not analysed yet, or it failed).
async fn fingerprint<P: Platform>(
    state: &ApiState<P>,
    tenant: TenantId,
    id: MediaId,
) -> Result<Option<Fingerprint>, ApiError> {
    let Some(document) = AnalysisRepo::new(state.platform.table())
        .get(
            tenant,
            id,
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
    let summary: FingerprintSummary = serde_json::from_value(document.result)
        .map_err(|e| ApiError::Internal(format!("fingerprint document of {id}: {e}")))?;
    let body = match state.platform.blobs().get(&summary.key).await {
        Ok(body) => body,
        Err(BlobError::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let bytes = read_to_end(body, MAX_FINGERPRINT_BYTES)
        .await
        .map_err(|e| ApiError::Unavailable(format!("reading the fingerprint of {id}: {e}")))?;
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| ApiError::Internal(format!("fingerprint of {id}: {e}")))
}
