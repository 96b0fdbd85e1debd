//! `GET /v1/recommendations` and `GET /v1/media/{id}/similar`, served from the tenant's promoted
//! recommender model (loaded once per process, swapped when a newer one is promoted).

use axum::Json;
use axum::extract::{Path, Query, State};
use mvidarr_core::ids::ProfileId;
use mvidarr_core::ports::Platform;
use mvidarr_core::repo::EventRepo;
use mvidarr_reco::model::{BlendConfig, Kind, Recommendation, event_strength};
use mvidarr_reco::service::{ServeError, Served};
use mvidarr_reco::trending::Window;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{ApiError, ApiState, Caller};

const DEFAULT_LIMIT: usize = 20;
const MAX_LIMIT: usize = 100;
/// At most this many of a profile's latest events are read per request.
const RECENT_EVENTS: usize = 200;

/// Query parameters as strings, so a bad value is our 400 with a clear message.
#[derive(Deserialize)]
pub struct ListParams {
    user: Option<String>,
    kind: Option<String>,
    limit: Option<String>,
    window: Option<String>,
}

#[derive(Deserialize)]
pub struct SimilarParams {
    limit: Option<String>,
}

pub async fn list<P: Platform>(
    State(state): State<ApiState<P>>,
    caller: Caller,
    Query(params): Query<ListParams>,
) -> Result<Json<Value>, ApiError> {
    let limit = parse_limit(params.limit.as_deref())?;
    let window = match params.window.as_deref() {
        None => Window::Day,
        Some(w) => Window::parse(w).ok_or_else(|| {
            ApiError::BadRequest(format!("window must be hour, day or week, not {w:?}"))
        })?,
    };
    let kind_name = params.kind.as_deref().unwrap_or("personal");
    let kind = match kind_name {
        "personal" => Kind::Personal,
        "collab" => Kind::Collab,
        "content" => Kind::Content,
        "trending" => Kind::Trending(window),
        other => {
            return Err(ApiError::BadRequest(format!(
                "kind must be personal, trending, collab or content, not {other:?}"
            )));
        }
    };
    let profile = match params.user.as_deref() {
        Some(raw) => Some(super::profile_ref(&state, caller.tenant, raw).await?),
        None if matches!(kind, Kind::Trending(_)) => None,
        None => {
            return Err(ApiError::BadRequest(format!(
                "user (a profile id or ext:<external id>) is required for kind={kind_name}"
            )));
        }
    };
    let served = served(&state, &caller).await?;
    let items = match (&served, kind) {
        (None, _) => Vec::new(),
        (Some(s), kind) => {
            let recent = match (profile, kind) {
                (Some(profile), Kind::Personal | Kind::Collab | Kind::Content) => {
                    since_training(&state, &caller, profile, s).await?
                }
                _ => Vec::new(),
            };
            let model = s.model.clone();
            let user = profile.map(|p| p.to_string());
            off_the_runtime(move || {
                model.recommend_with_recent(
                    user.as_deref(),
                    &recent,
                    kind,
                    limit,
                    &BlendConfig::default(),
                )
            })
            .await?
        }
    };
    Ok(Json(json!({
        "kind": kind_name,
        "window": matches!(kind, Kind::Trending(_)).then(|| window.as_str()),
        "user": profile,
        "model": model_view(served.as_ref()),
        "items": items.iter().map(item_view).collect::<Vec<_>>(),
    })))
}

pub async fn similar<P: Platform>(
    State(state): State<ApiState<P>>,
    caller: Caller,
    Path(id): Path<String>,
    Query(params): Query<SimilarParams>,
) -> Result<Json<Value>, ApiError> {
    let limit = parse_limit(params.limit.as_deref())?;
    let media = super::media_ref(&state, caller.tenant, &id).await?;
    let served = served(&state, &caller).await?;
    // A media indexed after the model was trained has no neighbours until the next training.
    let items = match &served {
        None => Vec::new(),
        Some(s) => {
            let model = s.model.clone();
            off_the_runtime(move || model.similar(&media.to_string(), limit))
                .await?
                .unwrap_or_default()
        }
    };
    Ok(Json(json!({
        "media": media,
        "model": model_view(served.as_ref()),
        "items": items.iter().map(item_view).collect::<Vec<_>>(),
    })))
}

/// The profile's engagements since its model was trained (a minute's overlap for clocks), as
/// the model weighs them: what it must not recommend again and what moves its taste now.
async fn since_training<P: Platform>(
    state: &ApiState<P>,
    caller: &Caller,
    profile: ProfileId,
    served: &Served,
) -> Result<Vec<(String, f32)>, ApiError> {
    let trained_at = chrono::DateTime::from_timestamp(served.model.trained_at, 0)
        .unwrap_or_default()
        - chrono::TimeDelta::minutes(1);
    let events = EventRepo::new(state.platform.table())
        .recent_for_profile(caller.tenant, profile, trained_at, RECENT_EVENTS)
        .await?;
    Ok(events
        .into_iter()
        .filter_map(|e| {
            let count = e.props.get("count").and_then(Value::as_f64);
            event_strength(e.kind.as_str(), count).map(|s| (e.media.to_string(), s))
        })
        .collect())
}

fn parse_limit(raw: Option<&str>) -> Result<usize, ApiError> {
    let Some(raw) = raw else {
        return Ok(DEFAULT_LIMIT);
    };
    raw.parse::<usize>()
        .ok()
        .filter(|n| (1..=MAX_LIMIT).contains(n))
        .ok_or_else(|| {
            ApiError::BadRequest(format!(
                "limit must be a whole number from 1 to {MAX_LIMIT}, not {raw:?}"
            ))
        })
}

async fn served<P: Platform>(
    state: &ApiState<P>,
    caller: &Caller,
) -> Result<Option<Served>, ApiError> {
    state
        .recommender
        .model(caller.tenant)
        .await
        .map_err(|e| match e {
            ServeError::Repo(e) => e.into(),
            ServeError::File(ref f) if f.is_transient() => ApiError::Unavailable(e.to_string()),
            ServeError::Unavailable(_) => ApiError::Unavailable(e.to_string()),
            e => ApiError::Internal(e.to_string()),
        })
}

/// Scoring scans the catalogue (milliseconds of CPU): on the blocking pool, so the runtime's
/// workers keep serving other requests meanwhile.
async fn off_the_runtime<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ApiError::Internal(format!("the recommendation task failed: {e}")))
}

fn model_view(served: Option<&Served>) -> Value {
    match served {
        None => Value::Null,
        Some(s) => json!({
            "version": s.version,
            "trained_at": chrono::DateTime::from_timestamp(s.model.trained_at, 0),
        }),
    }
}

fn item_view(r: &Recommendation) -> Value {
    json!({
        "media_id": r.item,
        "title": r.title,
        "score": r.score,
        "reason": r.reason,
        "explain": r.explain,
    })
}
