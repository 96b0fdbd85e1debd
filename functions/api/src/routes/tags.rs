//! A media's tags and people's decisions on them: `GET /v1/media/{id}/tags`,
//! `POST /v1/media/{id}/tags` (tag by hand: `{"name", "accept"}`, where `accept: false` says
//! the media does not have the tag), `POST /v1/media/{id}/tags/{tag}/accept|reject`.
//! A hierarchical tag goes in the path percent-encoded (`genre%2Frock%2Fpunk`). Every decision
//! is kept on the tag (who and when: training data) and appended to the audit log.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::Utc;
use mvidarr_auth::audit::actions;
use mvidarr_auth::store::AuditDraft;
use mvidarr_core::analytics::AnalyticsEvent;
use mvidarr_core::ids::{MediaId, TenantId};
use mvidarr_core::ports::Platform;
use mvidarr_core::ports::Table;
use mvidarr_core::repo::{Decided, RepoError, TagRepo, Versioned, VocabularyRepo};
use mvidarr_core::tag::{Decision, Tag, TagName};
use mvidarr_core::vocabulary::Vocabulary;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{ApiError, ApiState, Caller};

pub async fn list<P: Platform>(
    State(state): State<ApiState<P>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let media = super::media_ref(&state, caller.tenant, &id).await?;
    let tags = TagRepo::new(state.platform.table())
        .list_versioned(caller.tenant, media)
        .await?;
    Ok(Json(json!({
        "media": media,
        "tags": tags.iter().map(view).collect::<Vec<_>>(),
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddBody {
    name: String,
    /// `false` records that the media does not have the tag (default `true`).
    #[serde(default = "yes")]
    accept: bool,
}

fn yes() -> bool {
    true
}

pub async fn add<P: Platform>(
    State(state): State<ApiState<P>>,
    caller: Caller,
    Path(id): Path<String>,
    Json(body): Json<AddBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let media = super::media_ref(&state, caller.tenant, &id).await?;
    let name = canonical_name(&state, caller.tenant, &body.name).await?;
    let decision = decision_of(&caller, body.accept);
    let decided = TagRepo::new(state.platform.table())
        .add_by_hand(caller.tenant, media, &name, decision)
        .await?;
    let tag = settled(decided, media, &name)?;
    let created = tag.record.decisions.len() == 1 && tag.version == 1;
    record_decision(
        &state,
        &caller,
        actions::TAG_ADDED,
        media,
        &tag,
        body.accept,
    )
    .await;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(view(&tag))))
}

/// The version of the tag the decider saw (optional): a tag changed since is a 409.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct DecideBody {
    version: Option<u64>,
}

pub async fn accept<P: Platform>(
    state: State<ApiState<P>>,
    caller: Caller,
    path: Path<(String, String)>,
    body: Option<Json<DecideBody>>,
) -> Result<Json<Value>, ApiError> {
    decide(state, caller, path, body, true).await
}

pub async fn reject<P: Platform>(
    state: State<ApiState<P>>,
    caller: Caller,
    path: Path<(String, String)>,
    body: Option<Json<DecideBody>>,
) -> Result<Json<Value>, ApiError> {
    decide(state, caller, path, body, false).await
}

async fn decide<P: Platform>(
    State(state): State<ApiState<P>>,
    caller: Caller,
    Path((id, raw_name)): Path<(String, String)>,
    body: Option<Json<DecideBody>>,
    accepted: bool,
) -> Result<Json<Value>, ApiError> {
    let media = super::media_ref(&state, caller.tenant, &id).await?;
    let name = tag_name(&raw_name)?;
    let vocabulary = VocabularyRepo::new(state.platform.table())
        .get(caller.tenant)
        .await?
        .record;
    let expected = body.and_then(|Json(b)| b.version);
    let (name, decided) = decide_named(
        &TagRepo::new(state.platform.table()),
        caller.tenant,
        media,
        &name,
        &vocabulary,
        decision_of(&caller, accepted),
        expected,
    )
    .await?;
    let tag = settled(decided, media, &name)?;
    record_decision(&state, &caller, actions::TAG_DECIDED, media, &tag, accepted).await;
    Ok(Json(view(&tag)))
}

/// Decides the tag a media has under `name`: the tag stored under that very name, else (for
/// a synonym) the tag the vocabulary names by it. Tags stored before a synonym was defined
/// keep their name, so the exact name comes first: a decision never lands on another tag.
pub(super) async fn decide_named<T: Table>(
    repo: &TagRepo<'_, T>,
    tenant: TenantId,
    media: MediaId,
    name: &TagName,
    vocabulary: &Vocabulary,
    decision: Decision,
    expected: Option<u64>,
) -> Result<(TagName, Decided), RepoError> {
    let decided = repo
        .decide(tenant, media, name, decision.clone(), expected)
        .await?;
    let canonical = vocabulary.canonical(name);
    if matches!(decided, Decided::NoSuchTag) && canonical != *name {
        let decided = repo
            .decide(tenant, media, &canonical, decision, expected)
            .await?;
        return Ok((canonical, decided));
    }
    Ok((name.clone(), decided))
}

/// A tag name as the tenant keeps it: a synonym in its vocabulary names its tag.
pub(super) async fn canonical_name<P: Platform>(
    state: &ApiState<P>,
    tenant: TenantId,
    raw: &str,
) -> Result<TagName, ApiError> {
    let name = tag_name(raw)?;
    let vocabulary = VocabularyRepo::new(state.platform.table())
        .get(tenant)
        .await?;
    Ok(vocabulary.record.canonical(&name))
}

pub(super) fn tag_name(raw: &str) -> Result<TagName, ApiError> {
    TagName::parse(raw).map_err(|e| ApiError::BadRequest(e.to_string()))
}

pub(super) fn decision_of(caller: &Caller, accepted: bool) -> Decision {
    Decision {
        by: caller.principal.actor(),
        at: Utc::now(),
        accepted,
    }
}

pub(super) fn settled(
    decided: Decided,
    media: MediaId,
    name: &TagName,
) -> Result<Versioned<Tag>, ApiError> {
    match decided {
        Decided::Done(tag) => Ok(tag),
        Decided::Conflict(current) => Err(ApiError::Stale {
            message: format!(
                "tag {name} of media {media} changed since you saw it (now version {}): decide again on its current state",
                current.version
            ),
            current: view(&current),
        }),
        Decided::NoSuchTag => Err(ApiError::NotFound(format!(
            "media {media} has no tag {name}"
        ))),
    }
}

/// A person's decision on a tag, now stored: into the audit log and analytics.
pub(super) async fn record_decision<P: Platform>(
    state: &ApiState<P>,
    caller: &Caller,
    action: &str,
    media: MediaId,
    tag: &Versioned<Tag>,
    accepted: bool,
) {
    let (actor, name, now) = (
        caller.principal.actor(),
        tag.record.name.as_str(),
        Utc::now(),
    );
    let event = AnalyticsEvent::tag_decision(media, name, accepted, tag.version, &actor, now);
    state.events.report(caller.tenant, event);
    let draft = AuditDraft::new(now, actor, action)
        .target(format!("media:{media}"))
        .detail("tag", name)
        .detail("accepted", accepted.to_string());
    state.identity.record(&caller.principal, draft).await;
}

pub(super) fn view(tag: &Versioned<Tag>) -> Value {
    let t = &tag.record;
    json!({
        "name": t.name,
        "confidence": t.confidence,
        "status": t.status,
        "source": t.source,
        "evidence": t.evidence,
        "decisions": t.decisions,
        "version": tag.version,
    })
}
