//! `GET /v1/media/{id}/thumbnails`: the chosen frames, best first, each at several widths with
//! a short-lived download URL.

use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use mvidarr_core::analysis::{AnalyzerKind, Thumbnails};
use mvidarr_core::ports::{BlobStore, Platform};
use mvidarr_core::repo::AnalysisRepo;
use serde::Serialize;

use super::media::existing_media;
use crate::{ApiError, ApiState, Caller};

/// How long a thumbnail URL works.
const URL_LIFETIME: Duration = Duration::from_secs(3600);

#[derive(Serialize)]
pub struct ThumbnailList {
    items: Vec<ThumbnailView>,
}

#[derive(Serialize)]
struct ThumbnailView {
    rank: u32,
    seconds: f64,
    score: f64,
    images: Vec<ImageView>,
}

#[derive(Serialize)]
struct ImageView {
    width: u32,
    height: u32,
    content_type: String,
    url: String,
    url_expires_at: chrono::DateTime<chrono::Utc>,
}

pub async fn list<P: Platform>(
    State(state): State<ApiState<P>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<ThumbnailList>, ApiError> {
    let id = existing_media(&state, &caller, &id).await?;
    let document = AnalysisRepo::new(state.platform.table())
        .get(
            caller.tenant,
            id,
            AnalyzerKind::Thumbnails,
            Thumbnails::VERSION,
        )
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("media {id} has no thumbnails (yet)")))?;
    if let Some(error) = document.error {
        return Err(ApiError::NotFound(format!(
            "media {id} has no thumbnails: {error}"
        )));
    }
    let thumbnails: Thumbnails = serde_json::from_value(document.result)
        .map_err(|e| ApiError::Internal(format!("thumbnails document: {e}")))?;
    let mut items = Vec::new();
    for thumbnail in thumbnails.items {
        let mut images = Vec::new();
        for image in thumbnail.images {
            let url = state
                .platform
                .blobs()
                .presign_get(&image.key, URL_LIFETIME)
                .await?;
            images.push(ImageView {
                width: image.width,
                height: image.height,
                content_type: image.content_type,
                url: url.url,
                url_expires_at: url.expires_at,
            });
        }
        items.push(ThumbnailView {
            rank: thumbnail.rank,
            seconds: thumbnail.seconds,
            score: thumbnail.score,
            images,
        });
    }
    Ok(Json(ThumbnailList { items }))
}
