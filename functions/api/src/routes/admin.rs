//! Tenant administration: `GET /v1/audit`, `GET /v1/audit/verify`, `GET /v1/settings`,
//! `PUT /v1/settings/retention` (the plan is the operator's: `mvidarr tenant set-plan`).

use axum::Json;
use axum::extract::{Query, State};
use chrono::Utc;
use mvidarr_auth::service::TenantSettings;
use mvidarr_auth::store::VerifyReport;
use mvidarr_core::ports::Platform;
use serde::Deserialize;

use crate::json::ApiJson;
use crate::{ApiError, ApiState, Caller};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditParams {
    limit: Option<usize>,
    cursor: Option<String>,
}

/// The tenant's audit log, newest first; each entry with its chain fields, and the personal
/// data it refers to while that is kept.
pub async fn audit<P: Platform>(
    State(state): State<ApiState<P>>,
    caller: Caller,
    Query(params): Query<AuditParams>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let limit = params.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::BadRequest("limit must be 1–1000".into()));
    }
    let page = state
        .identity
        .audit_page(&caller.principal, params.cursor, limit)
        .await?;
    Ok(Json(serde_json::json!({
        "items": page.records,
        "next_cursor": page.next_cursor,
    })))
}

pub async fn verify_audit<P: Platform>(
    State(state): State<ApiState<P>>,
    caller: Caller,
) -> Result<Json<VerifyReport>, ApiError> {
    Ok(Json(state.identity.verify_audit(&caller.principal).await?))
}

pub async fn settings<P: Platform>(
    State(state): State<ApiState<P>>,
    caller: Caller,
) -> Result<Json<TenantSettings>, ApiError> {
    Ok(Json(state.identity.settings(&caller.principal).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionChange {
    events_days: u32,
}

pub async fn set_retention<P: Platform>(
    State(state): State<ApiState<P>>,
    caller: Caller,
    ApiJson(req): ApiJson<RetentionChange>,
) -> Result<Json<TenantSettings>, ApiError> {
    Ok(Json(
        state
            .identity
            .set_retention(&caller.principal, req.events_days, Utc::now())
            .await?,
    ))
}
