//! `POST /v1/api-keys` (the secret is in this one response only), `GET /v1/api-keys`,
//! `DELETE /v1/api-keys/{id}`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use mvidarr_auth::store::ApiKeyRecord;
use mvidarr_auth::{Permission, Permissions};
use mvidarr_core::ids::ApiKeyId;
use mvidarr_core::ports::Platform;
use serde::{Deserialize, Serialize};

use crate::json::ApiJson;
use crate::{ApiError, ApiState, Caller};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewKey {
    name: String,
    scopes: Vec<String>,
    #[serde(default)]
    expires_at: Option<DateTime<Utc>>,
}

/// A key as listed: never its secret or hash.
#[derive(Serialize)]
pub struct KeyView {
    id: ApiKeyId,
    name: String,
    scopes: Permissions,
    created_at: DateTime<Utc>,
    created_by: Option<String>,
    expires_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
    last_used_at: Option<DateTime<Utc>>,
}

impl From<ApiKeyRecord> for KeyView {
    fn from(k: ApiKeyRecord) -> Self {
        Self {
            id: k.id,
            name: k.name,
            scopes: k.scopes,
            created_at: k.created_at,
            created_by: k.created_by,
            expires_at: k.expires_at,
            revoked_at: k.revoked_at,
            last_used_at: k.last_used_at,
        }
    }
}

pub async fn create<P: Platform>(
    State(state): State<ApiState<P>>,
    caller: Caller,
    ApiJson(req): ApiJson<NewKey>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let scopes = req
        .scopes
        .iter()
        .map(|s| s.parse::<Permission>())
        .collect::<Result<Permissions, _>>()
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let created = state
        .identity
        .create_api_key(
            &caller.principal,
            &req.name,
            scopes,
            req.expires_at,
            Utc::now(),
        )
        .await?;
    let mut body = serde_json::to_value(KeyView::from(created.record)).unwrap_or_default();
    body["key"] = created.key.into();
    Ok((StatusCode::CREATED, Json(body)))
}

pub async fn list<P: Platform>(
    State(state): State<ApiState<P>>,
    caller: Caller,
) -> Result<Json<serde_json::Value>, ApiError> {
    let keys: Vec<KeyView> = state
        .identity
        .list_api_keys(&caller.principal)
        .await?
        .into_iter()
        .map(KeyView::from)
        .collect();
    Ok(Json(serde_json::json!({ "items": keys })))
}

pub async fn revoke<P: Platform>(
    State(state): State<ApiState<P>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id: ApiKeyId = super::path_id(&id, "api key")?;
    state
        .identity
        .revoke_api_key(&caller.principal, id, Utc::now())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
