//! How a request becomes a tenant: the one place that knows. Today a bearer API key; the
//! identity issue adds JWTs and permissions here without touching the handlers.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use mvidarr_core::ids::{ApiKeyId, TenantId};
use mvidarr_core::ports::Platform;
use mvidarr_core::repo::TenantRepo;

use crate::ApiState;
use crate::api_key::ApiKey;
use crate::problem::ApiError;

/// The authenticated caller of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller {
    pub tenant: TenantId,
    pub api_key: ApiKeyId,
}

impl<P: Platform> FromRequestParts<ApiState<P>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &ApiState<P>,
    ) -> Result<Self, Self::Rejection> {
        let presented = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            // The scheme is case-insensitive (RFC 9110 §11.1).
            .and_then(|v| {
                v.get(..7)
                    .filter(|s| s.eq_ignore_ascii_case("bearer "))
                    .map(|_| &v[7..])
            })
            .and_then(|v| ApiKey::parse(v.trim()))
            .ok_or(ApiError::Unauthorized)?;
        let record = TenantRepo::new(state.platform.table())
            .api_key(presented.id)
            .await?
            .ok_or(ApiError::Unauthorized)?;
        if !presented.matches(&record) {
            return Err(ApiError::Unauthorized);
        }
        Ok(Caller {
            tenant: record.tenant,
            api_key: record.id,
        })
    }
}
