//! `GET /v1/media`, `GET /v1/media/{id}`, `GET /v1/media/{id}/analysis`. `{id}` is a media
//! id or `ext:<external id>`.

use axum::Json;
use axum::extract::{Path, Query, State};
use mvidarr_core::analysis::{Analysis, Probe};
use mvidarr_core::external::ExternalRef;
use mvidarr_core::ids::{MediaId, TenantId};
use mvidarr_core::media::{Media, MediaStatus};
use mvidarr_core::metadata::VideoMetadata;
use mvidarr_core::ports::Platform;
use mvidarr_core::repo::{AnalysisRepo, MediaRepo, TagRepo, UploadRepo};
use serde::{Deserialize, Serialize};

use crate::{ApiError, ApiState, Caller};

#[derive(Serialize)]
pub struct MediaView {
    id: MediaId,
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    failed_step: Option<&'static str>,
    filename: String,
    size: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    probe: Option<Probe>,
    #[serde(skip_serializing_if = "VideoMetadata::is_empty")]
    metadata: VideoMetadata,
    #[serde(skip_serializing_if = "Option::is_none")]
    external_id: Option<String>,
    created_at: chrono::DateTime<chrono::Utc>,
    updated_at: chrono::DateTime<chrono::Utc>,
}

impl From<Media> for MediaView {
    fn from(m: Media) -> Self {
        let failed_step = match &m.status {
            MediaStatus::Failed { step, .. } => Some(step.as_str()),
            _ => None,
        };
        Self {
            id: m.id,
            status: m.status.name(),
            reason: m.status.reason().map(str::to_owned),
            failed_step,
            filename: m.filename,
            size: m.size,
            probe: m.probe,
            metadata: m.metadata,
            external_id: m.external_id,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

/// The media the path names (an id or `ext:…`), if it is one of the caller's tenant
/// (another tenant's is "not found" too).
pub(super) async fn existing_media<P: Platform>(
    state: &ApiState<P>,
    caller: &Caller,
    id: &str,
) -> Result<MediaId, ApiError> {
    super::media_ref(state, caller.tenant, id).await
}

pub async fn get<P: Platform>(
    State(state): State<ApiState<P>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let id = match super::path_ref::<MediaId>(&id, "media")? {
        ExternalRef::Id(id) => id,
        ExternalRef::External(_) => super::media_ref(&state, caller.tenant, &id).await?,
    };
    let table = state.platform.table();
    if let Some(media) = MediaRepo::new(table).get(caller.tenant, id).await? {
        return Ok(Json(
            serde_json::to_value(MediaView::from(media)).unwrap_or_default(),
        ));
    }
    // Reserved but its bytes not yet processed: say so rather than 404 a media the client
    // was just given an id for.
    match UploadRepo::new(table).get(caller.tenant, id).await? {
        Some(r) => Ok(Json(serde_json::json!({
            "id": id,
            "status": "awaiting_upload",
            "filename": r.filename,
            "size": r.declared_size,
            "created_at": r.created_at,
            "updated_at": r.created_at,
        }))),
        None => Err(ApiError::NotFound(format!("no media {id}"))),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    status: Option<String>,
    /// Only media showing this tag or one under it (`genre/rock` finds `genre/rock/punk`).
    tag: Option<String>,
    limit: Option<usize>,
    cursor: Option<String>,
}

#[derive(Serialize)]
pub struct MediaList {
    items: Vec<MediaView>,
    next_cursor: Option<String>,
}

pub async fn list<P: Platform>(
    State(state): State<ApiState<P>>,
    caller: Caller,
    params: Result<Query<ListParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<MediaList>, ApiError> {
    let Query(params) = params.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    if let Some(s) = params
        .status
        .as_deref()
        .filter(|s| !MediaStatus::NAMES.contains(s))
    {
        return Err(ApiError::BadRequest(format!(
            "unknown status {s:?}; one of {}",
            MediaStatus::NAMES.join(", ")
        )));
    }
    let limit = params.limit.unwrap_or(20);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::BadRequest("limit must be 1-100".into()));
    }
    if let Some(tag) = &params.tag {
        if params.status.is_some() {
            return Err(ApiError::BadRequest(
                "filter by status or by tag, not both".into(),
            ));
        }
        return with_tag(&state, caller.tenant, tag, limit, params.cursor).await;
    }
    let page = MediaRepo::new(state.platform.table())
        .list(
            caller.tenant,
            params.status.as_deref(),
            limit,
            params.cursor,
        )
        .await
        .map_err(|e| match e {
            mvidarr_core::repo::RepoError::Table(t) => ApiError::from(t),
            e => ApiError::from(e),
        })?;
    Ok(Json(MediaList {
        items: page.items.into_iter().map(MediaView::from).collect(),
        next_cursor: page.next_cursor,
    }))
}

/// Media with a tag (or one under it), found through the tag index: each media once per
/// page.
async fn with_tag<P: Platform>(
    state: &ApiState<P>,
    tenant: TenantId,
    raw: &str,
    limit: usize,
    cursor: Option<String>,
) -> Result<Json<MediaList>, ApiError> {
    let name = super::tags::canonical_name(state, tenant, raw).await?;
    let page = TagRepo::new(state.platform.table())
        .with_tag(tenant, &name, limit, cursor)
        .await?;
    let mut ids: Vec<MediaId> = Vec::new();
    for found in &page.items {
        if !ids.contains(&found.media) {
            ids.push(found.media);
        }
    }
    let repo = MediaRepo::new(state.platform.table());
    let mut items = Vec::with_capacity(ids.len());
    for id in ids {
        // The index trails a deleted media on DynamoDB: skip what is gone.
        if let Some(media) = repo.get(tenant, id).await? {
            items.push(MediaView::from(media));
        }
    }
    Ok(Json(MediaList {
        items,
        next_cursor: page.next_cursor,
    }))
}

#[derive(Serialize)]
pub struct AnalysisList {
    items: Vec<Analysis>,
}

pub async fn analysis<P: Platform>(
    State(state): State<ApiState<P>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<AnalysisList>, ApiError> {
    let id = existing_media(&state, &caller, &id).await?;
    let items = AnalysisRepo::new(state.platform.table())
        .list(caller.tenant, id)
        .await?;
    Ok(Json(AnalysisList { items }))
}
