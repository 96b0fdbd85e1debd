//! How a request becomes a caller: the one place that knows. Every route but the public ones
//! runs [`authorize`] (the route table puts it there), which authenticates the bearer
//! credential (401), checks the route's permission (403) and hands the handler a [`Caller`],
//! all before the handler looks anything up — so 401 comes before 403, and 403 before 404.

use axum::extract::{FromRequestParts, Request, State};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::middleware::Next;
use std::time::Instant;

use axum::response::{IntoResponse, Response};
use chrono::Utc;
use mvidarr_auth::Principal;
use mvidarr_core::analytics::AnalyticsEvent;
use mvidarr_core::ids::TenantId;
use mvidarr_core::ports::Platform;
use ulid::Ulid;

use crate::ApiState;
use crate::problem::{ApiError, set_rate_limit_headers};
use crate::routes::spec::Access;

/// The authenticated caller of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub tenant: TenantId,
    pub principal: Principal,
}

/// The bearer credential of a request, if it has one. The scheme is case-insensitive
/// (RFC 9110 §11.1).
pub fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(AUTHORIZATION)?.to_str().ok()?;
    let scheme = value.get(..7)?;
    scheme
        .eq_ignore_ascii_case("bearer ")
        .then(|| value[7..].trim())
}

/// Middleware on every non-public route: authenticate (401), check the route's permission
/// (403), spend one request of the caller's rate limit (429), then run the handler. Every
/// authenticated request is metered: an `api_call` event with its route, status and latency.
pub(crate) async fn authorize<P: Platform>(
    State((state, access, route)): State<(ApiState<P>, Access, &'static str)>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let (mut parts, body) = request.into_parts();
    let credential = bearer(&parts).ok_or(ApiError::Unauthorized)?;
    let principal = state.identity.authenticate(credential, Utc::now()).await?;
    let (tenant, actor) = (principal.tenant, principal.actor());
    let response = async {
        if let Access::Needs(permission) = access
            && !principal.may(permission)
        {
            return Err(ApiError::Forbidden(format!(
                "this needs the {permission} permission"
            )));
        }
        let decision = state.identity.rate_limit(&principal, Utc::now()).await?;
        if !decision.allowed {
            return Err(ApiError::RateLimited(decision));
        }
        parts.extensions.insert(Caller {
            tenant: principal.tenant,
            principal,
        });
        let mut response = next.run(Request::from_parts(parts, body)).await;
        set_rate_limit_headers(response.headers_mut(), &decision);
        Ok(response)
    }
    .await
    .unwrap_or_else(IntoResponse::into_response);
    let call = AnalyticsEvent::api_call(
        &Ulid::new().to_string(),
        route,
        response.status().as_u16(),
        started.elapsed().as_millis() as u64,
        Some(&actor),
        Utc::now(),
    );
    state.events.report(tenant, call);
    Ok(response)
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        // Only `authorize` puts it there: a handler asking for a caller on a public route
        // gets none.
        parts
            .extensions
            .get::<Caller>()
            .cloned()
            .ok_or(ApiError::Unauthorized)
    }
}
