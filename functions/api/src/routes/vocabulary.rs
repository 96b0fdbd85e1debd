//! The tenant's tags as a whole: `GET /v1/tags` (every tag with its counts, thresholds and
//! model), `GET|PUT /v1/tags/vocabulary` (definitions, synonyms, thresholds), and the tag
//! models: `GET /v1/tags/models` (versions and their held-out metrics) and
//! `POST /v1/tags/models/{tag}/promote` (promote a version, or roll back to an older one).

use std::collections::{BTreeMap, BTreeSet};

use axum::Json;
use axum::extract::{Path, Query, State};
use chrono::Utc;
use mvidarr_auth::audit::actions;
use mvidarr_auth::store::AuditDraft;
use mvidarr_core::ports::Platform;
use mvidarr_core::repo::{ModelRegistry, RepoError, TagRepo, VocabularyRepo};
use mvidarr_core::tag::{MODEL_FAMILY_PREFIX, TagName, Thresholds, model_family, tag_of_family};
use mvidarr_core::vocabulary::{TagDefinition, Vocabulary};
use serde::Deserialize;
use serde_json::{Value, json};

use super::tags::tag_name;
use crate::{ApiError, ApiState, Caller};

pub async fn list<P: Platform>(
    State(state): State<ApiState<P>>,
    caller: Caller,
) -> Result<Json<Value>, ApiError> {
    let table = state.platform.table();
    let vocabulary = VocabularyRepo::new(table).get(caller.tenant).await?.record;
    let counts = TagRepo::new(table).counts(caller.tenant).await?;
    let registry = ModelRegistry::new(table);
    let mut models = BTreeMap::new();
    for (family, latest) in registry
        .families(caller.tenant, MODEL_FAMILY_PREFIX)
        .await?
    {
        if let Some(tag) = tag_of_family(&family) {
            let current = registry.current_version(caller.tenant, &family).await?;
            models.insert(tag, json!({"latest": latest, "current": current}));
        }
    }
    let names: BTreeSet<&TagName> = vocabulary
        .tags
        .keys()
        .chain(counts.keys())
        .chain(models.keys())
        .collect();
    let items: Vec<Value> = names
        .into_iter()
        .map(|name| {
            let definition = vocabulary.tags.get(name);
            json!({
                "name": name,
                "defined": definition.is_some(),
                "description": definition.and_then(|d| d.description.as_deref()),
                "synonyms": definition.map(|d| d.synonyms.as_slice()).unwrap_or_default(),
                "thresholds": vocabulary.thresholds(name),
                "counts": counts.get(name).copied().unwrap_or_default(),
                "model": models.get(name),
            })
        })
        .collect();
    Ok(Json(json!({
        "default_thresholds": vocabulary.default_thresholds,
        "items": items,
    })))
}

pub async fn get_vocabulary<P: Platform>(
    State(state): State<ApiState<P>>,
    caller: Caller,
) -> Result<Json<Value>, ApiError> {
    let stored = VocabularyRepo::new(state.platform.table())
        .get(caller.tenant)
        .await?;
    Ok(Json(vocabulary_view(&stored.record, stored.version)))
}

/// The whole vocabulary, and the version it replaces (0 when none was set).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VocabularyBody {
    version: u64,
    #[serde(default)]
    default_thresholds: Option<Thresholds>,
    #[serde(default)]
    tags: BTreeMap<TagName, TagDefinition>,
}

/// Replaces the vocabulary; proposals whose tag's thresholds changed move to where the new
/// thresholds put them (applied, review or hidden) at once. People's decisions stay.
pub async fn put_vocabulary<P: Platform>(
    State(state): State<ApiState<P>>,
    caller: Caller,
    body: Result<Json<VocabularyBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(body) = body.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let vocabulary = Vocabulary {
        default_thresholds: body.default_thresholds.unwrap_or_default(),
        tags: body.tags,
    };
    vocabulary
        .validate()
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let table = state.platform.table();
    let repo = VocabularyRepo::new(table);
    let before = repo.get(caller.tenant).await?;
    if before.version != body.version {
        return Err(stale(&before.record, before.version));
    }
    let Some(version) = repo.put(caller.tenant, &vocabulary, body.version).await? else {
        let now = repo.get(caller.tenant).await?;
        return Err(stale(&now.record, now.version));
    };
    let tags = TagRepo::new(table);
    let used = tags.counts(caller.tenant).await?;
    let mut moved = 0;
    for name in used.keys() {
        let thresholds = vocabulary.thresholds(name);
        if before.record.thresholds(name) != thresholds {
            moved += tags.replace_by(caller.tenant, name, thresholds).await?;
        }
    }
    let draft = AuditDraft::new(
        Utc::now(),
        caller.principal.actor(),
        actions::TAG_VOCABULARY_CHANGED,
    )
    .detail("version", version.to_string())
    .detail("tags", vocabulary.tags.len().to_string())
    .detail("proposals_moved", moved.to_string());
    state.identity.record(&caller.principal, draft).await;
    let mut view = vocabulary_view(&vocabulary, version);
    view["proposals_moved"] = json!(moved);
    Ok(Json(view))
}

fn stale(current: &Vocabulary, version: u64) -> ApiError {
    ApiError::Stale {
        message: format!(
            "the vocabulary changed since you read it (now version {version}): apply your change to the current one"
        ),
        current: vocabulary_view(current, version),
    }
}

fn vocabulary_view(vocabulary: &Vocabulary, version: u64) -> Value {
    json!({
        "version": version,
        "default_thresholds": vocabulary.default_thresholds,
        "tags": vocabulary.tags,
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelsParams {
    /// One tag: every version of its head. Without: each tag's latest and promoted version.
    tag: Option<String>,
}

pub async fn models<P: Platform>(
    State(state): State<ApiState<P>>,
    caller: Caller,
    params: Result<Query<ModelsParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(params) = params.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let registry = ModelRegistry::new(state.platform.table());
    if let Some(raw) = params.tag {
        let tag = tag_name(&raw)?;
        let family = model_family(&tag);
        let current = registry.current_version(caller.tenant, &family).await?;
        let versions: Vec<Value> = registry
            .list(caller.tenant, &family)
            .await?
            .into_iter()
            .map(|v| {
                json!({
                    "version": v.version,
                    "created_at": v.created_at,
                    "sha256": v.sha256,
                    "size": v.size,
                    "metrics": v.metrics,
                    "promoted": Some(v.version) == current,
                })
            })
            .collect();
        if versions.is_empty() {
            return Err(ApiError::NotFound(format!("tag {tag} has no model")));
        }
        return Ok(Json(
            json!({"tag": tag, "current": current, "versions": versions}),
        ));
    }
    let mut items = Vec::new();
    for (family, latest) in registry
        .families(caller.tenant, MODEL_FAMILY_PREFIX)
        .await?
    {
        let Some(tag) = tag_of_family(&family) else {
            continue;
        };
        let current = registry.current(caller.tenant, &family).await?;
        items.push(json!({
            "tag": tag,
            "latest": latest,
            "current": current.as_ref().map(|c| c.version),
            "current_metrics": current.map(|c| c.metrics),
        }));
    }
    Ok(Json(json!({ "items": items })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PromoteBody {
    version: u32,
}

pub async fn promote<P: Platform>(
    State(state): State<ApiState<P>>,
    caller: Caller,
    Path(raw): Path<String>,
    body: Result<Json<PromoteBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(body) = body.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let name = tag_name(&raw)?;
    let family = model_family(&name);
    let registry = ModelRegistry::new(state.platform.table());
    let previous = registry.current_version(caller.tenant, &family).await?;
    match registry
        .promote(caller.tenant, &family, body.version, Utc::now())
        .await
    {
        Ok(()) => {}
        Err(RepoError::NotFound(_)) => {
            return Err(ApiError::NotFound(format!(
                "tag {name} has no model version {}",
                body.version
            )));
        }
        Err(e) => return Err(e.into()),
    }
    let draft = AuditDraft::new(
        Utc::now(),
        caller.principal.actor(),
        actions::TAG_MODEL_PROMOTED,
    )
    .target(format!("model:{family}"))
    .detail("version", body.version.to_string())
    .detail(
        "previous",
        previous.map_or_else(|| "none".to_owned(), |v| v.to_string()),
    );
    state.identity.record(&caller.principal, draft).await;
    Ok(Json(
        json!({"tag": name, "current": body.version, "previous": previous}),
    ))
}
