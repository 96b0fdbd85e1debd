//! `POST /v1/profiles`, `GET /v1/profiles/{id}`: the people a tenant records plays for (its
//! app's users), each optionally known by the tenant's own id for them (`external_id`).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::Utc;
use mvidarr_core::external::ExternalId;
use mvidarr_core::ids::ProfileId;
use mvidarr_core::ports::Platform;
use mvidarr_core::profile::Profile;
use mvidarr_core::repo::ProfileRepo;
use serde::{Deserialize, Serialize};

use crate::json::ApiJson;
use crate::{ApiError, ApiState, Caller};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewProfile {
    #[serde(default)]
    external_id: Option<ExternalId>,
}

#[derive(Serialize)]
pub struct ProfileView {
    id: ProfileId,
    #[serde(skip_serializing_if = "Option::is_none")]
    external_id: Option<String>,
    created_at: chrono::DateTime<Utc>,
}

impl From<Profile> for ProfileView {
    fn from(p: Profile) -> Self {
        Self {
            id: p.id,
            external_id: p.external_id,
            created_at: p.created_at,
        }
    }
}

/// 201 with a new profile, or 200 with the one that already has this external id.
#[tracing::instrument(skip_all, fields(tenant = %caller.tenant))]
pub async fn create<P: Platform>(
    State(state): State<ApiState<P>>,
    caller: Caller,
    ApiJson(req): ApiJson<NewProfile>,
) -> Result<(StatusCode, Json<ProfileView>), ApiError> {
    let (profile, created) = ProfileRepo::new(state.platform.table())
        .create(caller.tenant, req.external_id, Utc::now())
        .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(profile.into())))
}

#[tracing::instrument(skip_all, fields(tenant = %caller.tenant, profile = %id))]
pub async fn get<P: Platform>(
    State(state): State<ApiState<P>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<ProfileView>, ApiError> {
    let profile = super::profile_ref(&state, caller.tenant, &id).await?;
    ProfileRepo::new(state.platform.table())
        .get(caller.tenant, profile)
        .await?
        .map(|p| Json(p.into()))
        .ok_or_else(|| ApiError::NotFound(format!("no profile {id}")))
}
