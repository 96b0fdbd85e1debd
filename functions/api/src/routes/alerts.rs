//! Alert rules and the alerts they raised.
//!
//! - `/v1/alert-rules`: threshold rules on the tenant's analytics (`analysis_failure_rate`,
//!   `quarantine_rate`, `quarantines`, `api_error_rate`, `quarantine_spike`) over a window of
//!   whole hours; the scheduler's tick evaluates them every minute on the last complete hour.
//! - `GET /v1/alerts`: the alerts raised, newest first; each also left a notification for
//!   delivery (webhooks come later), listed by `GET /v1/alerts/notifications`.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use chrono::Utc;
use mvidarr_core::analytics::alerts::{AlertRule, RuleSpec};
use mvidarr_core::ids::AlertRuleId;
use mvidarr_core::ports::Platform;
use mvidarr_core::repo::{AlertRepo, RuleChange};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{PageParams, path_id};
use crate::{ApiError, ApiState, Caller};

/// Rules a tenant may have.
pub const MAX_RULES: usize = 50;

fn rule_view(rule: &AlertRule, version: u64) -> Value {
    let mut view = serde_json::to_value(rule).expect("a rule encodes as JSON");
    view["version"] = json!(version);
    view
}

pub async fn create_rule<P: Platform>(
    State(state): State<ApiState<P>>,
    caller: Caller,
    Json(spec): Json<RuleSpec>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let rule = AlertRule::new(caller.tenant, spec, caller.principal.actor(), Utc::now())
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let repo = AlertRepo::new(state.platform.table());
    if repo.list_rules(caller.tenant).await?.len() >= MAX_RULES {
        return Err(ApiError::Conflict(format!(
            "a tenant has at most {MAX_RULES} alert rules; delete one first"
        )));
    }
    let stored = repo.create_rule(&rule).await?;
    Ok((
        StatusCode::CREATED,
        Json(rule_view(&stored.record, stored.version)),
    ))
}

pub async fn list_rules<P: Platform>(
    State(state): State<ApiState<P>>,
    caller: Caller,
) -> Result<Json<Value>, ApiError> {
    let rules = AlertRepo::new(state.platform.table())
        .list_rules(caller.tenant)
        .await?;
    Ok(Json(json!({
        "items": rules.iter().map(|r| rule_view(&r.record, r.version)).collect::<Vec<_>>(),
    })))
}

pub async fn get_rule<P: Platform>(
    State(state): State<ApiState<P>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id: AlertRuleId = path_id(&id, "alert rule")?;
    let rule = AlertRepo::new(state.platform.table())
        .get_rule(caller.tenant, id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no alert rule {id}")))?;
    Ok(Json(rule_view(&rule.record, rule.version)))
}

/// Replace a rule's spec.
pub async fn update_rule<P: Platform>(
    State(state): State<ApiState<P>>,
    caller: Caller,
    Path(id): Path<String>,
    Json(spec): Json<RuleSpec>,
) -> Result<Json<Value>, ApiError> {
    let id: AlertRuleId = path_id(&id, "alert rule")?;
    let repo = AlertRepo::new(state.platform.table());
    let current = repo
        .get_rule(caller.tenant, id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no alert rule {id}")))?;
    let revised = current
        .record
        .revise(spec, Utc::now())
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    match repo.update_rule(&revised, current.version).await? {
        RuleChange::Done(stored) => Ok(Json(rule_view(&stored.record, stored.version))),
        RuleChange::Stale(_) => Err(ApiError::Conflict(
            "the rule changed meanwhile; read it again".into(),
        )),
        RuleChange::NoSuchRule => Err(ApiError::NotFound(format!("no alert rule {id}"))),
    }
}

/// Delete a rule; the alerts it raised stay.
pub async fn delete_rule<P: Platform>(
    State(state): State<ApiState<P>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id: AlertRuleId = path_id(&id, "alert rule")?;
    if AlertRepo::new(state.platform.table())
        .delete_rule(caller.tenant, id)
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound(format!("no alert rule {id}")))
    }
}

pub async fn list_alerts<P: Platform>(
    State(state): State<ApiState<P>>,
    caller: Caller,
    params: Result<Query<PageParams>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let (limit, cursor) = PageParams::parse(params)?;
    let page = AlertRepo::new(state.platform.table())
        .list_alerts(caller.tenant, limit, cursor)
        .await?;
    Ok(Json(
        json!({"items": page.items, "next_cursor": page.next_cursor}),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotificationParams {
    #[serde(default)]
    undelivered: bool,
}

pub async fn list_notifications<P: Platform>(
    State(state): State<ApiState<P>>,
    caller: Caller,
    params: Result<Query<NotificationParams>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(p) = params.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let items = AlertRepo::new(state.platform.table())
        .list_notifications(caller.tenant, p.undelivered)
        .await?;
    Ok(Json(json!({ "items": items })))
}
