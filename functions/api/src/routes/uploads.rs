//! `POST /v1/uploads`: reserve a media id and hand out a presigned PUT URL for its bytes.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::Utc;
use mvidarr_core::ids::MediaId;
use mvidarr_core::keys;
use mvidarr_core::ports::{BlobStore, Platform};
use mvidarr_core::repo::{UploadRepo, UploadReservation};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::json::ApiJson;
use crate::{ApiError, ApiState, Caller};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewUpload {
    filename: String,
    content_type: String,
    size: u64,
}

#[derive(Serialize)]
pub struct UploadTicket {
    media_id: MediaId,
    upload_url: String,
    method: &'static str,
    headers: BTreeMap<String, String>,
    expires_at: chrono::DateTime<Utc>,
}

impl NewUpload {
    fn check(&self, max_bytes: u64) -> Result<(), ApiError> {
        let name = self.filename.trim();
        if name.is_empty() || name.len() > 255 || name.chars().any(char::is_control) {
            return Err(ApiError::BadRequest(
                "filename must be 1-255 characters without control characters".into(),
            ));
        }
        let ct = &self.content_type;
        if ct.is_empty()
            || ct.len() > 127
            || !ct.contains('/')
            || ct.chars().any(|c| c.is_control() || c == ' ')
        {
            return Err(ApiError::BadRequest(
                "content_type must be a MIME type such as video/mp4".into(),
            ));
        }
        if self.size == 0 {
            return Err(ApiError::BadRequest("size must be greater than 0".into()));
        }
        if self.size > max_bytes {
            return Err(ApiError::PayloadTooLarge(format!(
                "size {} bytes is over the limit of {max_bytes} bytes",
                self.size
            )));
        }
        Ok(())
    }
}

pub async fn create<P: Platform>(
    State(state): State<ApiState<P>>,
    caller: Caller,
    ApiJson(req): ApiJson<NewUpload>,
) -> Result<(StatusCode, Json<UploadTicket>), ApiError> {
    req.check(state.limits.max_bytes)?;
    // One of the plan's upload starts; the plan's size limit too, if smaller.
    let plan_max = state
        .identity
        .start_upload(&caller.principal, Utc::now())
        .await?;
    req.check(plan_max)?;
    let media_id = MediaId::generate();
    let now = Utc::now();
    let presigned = state
        .platform
        .blobs()
        .presign_put(
            &keys::blob::upload(caller.tenant, media_id),
            &req.content_type,
            state.upload_url_ttl,
        )
        .await?;
    UploadRepo::new(state.platform.table())
        .reserve(&UploadReservation {
            media_id,
            tenant: caller.tenant,
            filename: req.filename.trim().to_owned(),
            content_type: req.content_type,
            declared_size: req.size,
            created_at: now,
            expires_at: presigned.expires_at,
            claimed: false,
        })
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(UploadTicket {
            media_id,
            upload_url: presigned.url,
            method: presigned.method,
            headers: presigned.headers,
            expires_at: presigned.expires_at,
        }),
    ))
}
