//! GDPR: `POST /v1/me/export` (the caller's data as a JSON archive) and
//! `DELETE /v1/users/{id}` (erasure: the account now; its analytics events, and those of the
//! API keys it made, pseudonymised by the scheduler's next tick).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::http::header::{CACHE_CONTROL, CONTENT_DISPOSITION};
use axum::response::IntoResponse;
use chrono::Utc;
use mvidarr_core::ids::UserId;
use mvidarr_core::ports::Platform;

use crate::{ApiError, ApiState, Caller};

pub async fn export<P: Platform>(
    State(state): State<ApiState<P>>,
    caller: Caller,
) -> Result<impl IntoResponse, ApiError> {
    let now = Utc::now();
    let archive = state.identity.export_user(&caller.principal, now).await?;
    let filename = format!(
        "attachment; filename=\"mvidarr-export-{}.json\"",
        now.format("%Y%m%dT%H%M%SZ")
    );
    Ok((
        [
            (CONTENT_DISPOSITION, filename),
            (CACHE_CONTROL, "no-store".to_owned()),
        ],
        Json(archive),
    ))
}

pub async fn erase<P: Platform>(
    State(state): State<ApiState<P>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id: UserId = super::path_id(&id, "user")?;
    let now = Utc::now();
    state
        .identity
        .erase_user(&caller.principal, id, now)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
