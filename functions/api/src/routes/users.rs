//! People in a tenant: `POST /v1/invites`, `GET /v1/users`, `PATCH /v1/users/{id}`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::Utc;
use mvidarr_auth::Role;
use mvidarr_core::ids::UserId;
use mvidarr_core::ports::Platform;
use serde::Deserialize;

use super::session::UserView;
use crate::json::ApiJson;
use crate::{ApiError, ApiState, Caller};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewInvite {
    email: String,
    role: Role,
}

/// Returns the invitation token (shown once); it is what the invite link carries.
pub async fn invite<P: Platform>(
    State(state): State<ApiState<P>>,
    caller: Caller,
    ApiJson(req): ApiJson<NewInvite>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let token = state
        .identity
        .invite(&caller.principal, &req.email, req.role, Utc::now())
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({ "invite_token": token, "role": req.role })),
    ))
}

pub async fn list<P: Platform>(
    State(state): State<ApiState<P>>,
    caller: Caller,
) -> Result<Json<serde_json::Value>, ApiError> {
    let users: Vec<UserView> = state
        .identity
        .list_users(&caller.principal)
        .await?
        .into_iter()
        .map(UserView::from)
        .collect();
    Ok(Json(serde_json::json!({ "items": users })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserChange {
    role: Role,
}

pub async fn update<P: Platform>(
    State(state): State<ApiState<P>>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<UserChange>,
) -> Result<Json<UserView>, ApiError> {
    let id: UserId = super::path_id(&id, "user")?;
    let user = state
        .identity
        .set_role(&caller.principal, id, req.role, Utc::now())
        .await?;
    Ok(Json(user.into()))
}
