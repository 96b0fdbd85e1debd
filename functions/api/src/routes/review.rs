//! The review queue and bulk decisions: `GET /v1/review` lists tags waiting for a person,
//! the ones whose decision teaches the tag models most first (uncertainty × impact, see
//! [`mvidarr_core::tag::review_priority`]); `POST /v1/review/decisions` decides up to
//! [`MAX_BULK_DECISIONS`] tags at once, each on its own (one stale or missing tag does not
//! undo the others).

use axum::Json;
use axum::extract::{Query, State};
use mvidarr_auth::audit::actions;
use mvidarr_core::ports::Platform;
use mvidarr_core::repo::{Decided, TagRepo, Versioned, VocabularyRepo};
use mvidarr_core::tag::{Tag, uncertainty};
use mvidarr_core::vocabulary::Vocabulary;
use serde::Deserialize;
use serde_json::{Value, json};

use super::tags::{decide_named, decision_of, record_decision, tag_name, view};
use crate::{ApiError, ApiState, Caller};

/// Decisions one bulk request may carry.
pub const MAX_BULK_DECISIONS: usize = 100;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueParams {
    limit: Option<usize>,
    cursor: Option<String>,
}

pub async fn queue<P: Platform>(
    State(state): State<ApiState<P>>,
    caller: Caller,
    params: Result<Query<QueueParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(params) = params.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let limit = params.limit.unwrap_or(20);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::BadRequest("limit must be 1-100".into()));
    }
    let page = TagRepo::new(state.platform.table())
        .review_queue(caller.tenant, limit, params.cursor)
        .await?;
    let items: Vec<Value> = page
        .items
        .iter()
        .map(|found| {
            json!({
                "media": found.media,
                "uncertainty": uncertainty(found.tag.record.confidence),
                "tag": view(&found.tag),
            })
        })
        .collect();
    Ok(Json(
        json!({ "items": items, "next_cursor": page.next_cursor }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BulkBody {
    decisions: Vec<BulkDecision>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BulkDecision {
    /// Media id or `ext:…`.
    media: String,
    tag: String,
    accept: bool,
    /// The tag version the person saw; a tag changed since is a conflict.
    version: Option<u64>,
}

/// Each decision's outcome is reported by index with the status a single decision would have
/// had (200, 400, 404 or 409, with the current tag on a conflict).
pub async fn decide<P: Platform>(
    State(state): State<ApiState<P>>,
    caller: Caller,
    body: Result<Json<BulkBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(body) = body.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    if body.decisions.is_empty() || body.decisions.len() > MAX_BULK_DECISIONS {
        return Err(ApiError::BadRequest(format!(
            "send 1-{MAX_BULK_DECISIONS} decisions (got {})",
            body.decisions.len()
        )));
    }
    let repo = TagRepo::new(state.platform.table());
    let vocabulary = VocabularyRepo::new(state.platform.table())
        .get(caller.tenant)
        .await?
        .record;
    let mut results = Vec::with_capacity(body.decisions.len());
    let (mut done, mut failed) = (0usize, 0usize);
    for (index, d) in body.decisions.iter().enumerate() {
        let outcome = decide_one(&state, &caller, &repo, &vocabulary, d).await;
        let result = match outcome {
            Ok(tag) => {
                done += 1;
                json!({"index": index, "status": 200, "tag": view(&tag)})
            }
            Err(Failure::Stale(current)) => {
                failed += 1;
                json!({"index": index, "status": 409, "message": "the tag changed since you saw it", "current": view(&current)})
            }
            Err(Failure::Api(e)) => {
                // Only client errors are reported per item; the store failing fails the batch
                // (the decisions before it stand, and deciding again is safe).
                let status = match &e {
                    ApiError::NotFound(_) => 404,
                    ApiError::BadRequest(_) => 400,
                    _ => return Err(e),
                };
                failed += 1;
                json!({"index": index, "status": status, "message": e.to_string()})
            }
        };
        results.push(result);
    }
    Ok(Json(json!({
        "results": results,
        "decided": done,
        "failed": failed,
    })))
}

enum Failure {
    Stale(Versioned<Tag>),
    Api(ApiError),
}

impl<E: Into<ApiError>> From<E> for Failure {
    fn from(e: E) -> Self {
        Failure::Api(e.into())
    }
}

async fn decide_one<P: Platform, T: mvidarr_core::ports::Table>(
    state: &ApiState<P>,
    caller: &Caller,
    repo: &TagRepo<'_, T>,
    vocabulary: &Vocabulary,
    d: &BulkDecision,
) -> Result<Versioned<Tag>, Failure> {
    let media = super::media_ref(state, caller.tenant, &d.media).await?;
    let (name, decided) = decide_named(
        repo,
        caller.tenant,
        media,
        &tag_name(&d.tag)?,
        vocabulary,
        decision_of(caller, d.accept),
        d.version,
    )
    .await?;
    match decided {
        Decided::Done(tag) => {
            record_decision(state, caller, actions::TAG_DECIDED, media, &tag, d.accept).await;
            Ok(tag)
        }
        Decided::Conflict(current) => Err(Failure::Stale(current)),
        Decided::NoSuchTag => Err(Failure::Api(ApiError::NotFound(format!(
            "media {} has no tag {name}",
            d.media
        )))),
    }
}
