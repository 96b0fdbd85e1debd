//! `GET /v1/media/{id}/duplicates`: the tenant's other media that are the same video (a
//! re-upload, a re-encode at another size or bit rate) or share material with it (an excerpt,
//! another cut), best first, each with a similarity score and what it is to this one.
//!
//! Candidates come from the duplicate index (media sharing fingerprint keys); each is then
//! compared in full, so the score never rests on the index alone.

use axum::Json;
use axum::extract::{Path, Query, State};
use mvidarr_core::ids::MediaId;
use mvidarr_core::ports::Platform;
use mvidarr_core::repo::{Duplicate, DuplicateError, find_duplicates};
use serde::{Deserialize, Serialize};

use super::media::existing_media;
use crate::{ApiError, ApiState, Caller};

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
    let items = find_duplicates(&state.platform, caller.tenant, id, min_score, limit)
        .await
        .map_err(|e| match e {
            DuplicateError::Repo(e) => ApiError::from(e),
            e if e.is_transient() => ApiError::Unavailable(e.to_string()),
            e => ApiError::Internal(e.to_string()),
        })?
        .ok_or_else(|| ApiError::NotFound(format!("media {id} has no fingerprint (yet)")))?;
    Ok(Json(DuplicateList {
        media_id: id,
        items,
    }))
}
