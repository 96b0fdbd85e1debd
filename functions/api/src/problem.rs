//! RFC 9457 problem details: one error type for every handler, mapped to a response in one
//! place. Clients get a status, a title and a safe detail; causes go to the log only.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use mvidarr_auth::ratelimit::Decision;
use mvidarr_auth::service::AuthError;
use mvidarr_core::event::BatchRejected;
use mvidarr_core::ports::{BlobError, PipelineError, TableError};
use mvidarr_core::repo::{IntakeError, RepoError};
use serde::Serialize;
use serde_json::{Map, Value, json};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("missing or invalid credentials")]
    Unauthorized,
    /// Like `Unauthorized` (the same body: a lock is no hint that the password was right),
    /// with a `Retry-After`.
    #[error("missing or invalid credentials")]
    Locked { retry_after_secs: u64 },
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    BadRequest(String),
    /// A batch of events with invalid ones: a 400 listing every problem (`errors`), how many
    /// events were refused (`rejected`) and the problems by reason (`reasons`).
    #[error("{0}")]
    EventsRejected(BatchRejected),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Conflict(String),
    /// A write refused because the record changed since the caller saw it: a 409 carrying
    /// the record as it is now (`current`), so the caller can decide again.
    #[error("{message}")]
    Stale { message: String, current: Value },
    #[error("{0}")]
    MethodNotAllowed(String),
    /// Over the caller's rate limit; the decision supplies `Retry-After` and `RateLimit-*`.
    #[error("too many requests: retry after the time in Retry-After")]
    RateLimited(Decision),
    /// A dependency is unavailable; the client may retry.
    #[error("service temporarily unavailable")]
    Unavailable(String),
    #[error("internal error")]
    Internal(String),
}

#[derive(Serialize)]
struct Problem<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    title: &'a str,
    status: u16,
    detail: String,
    /// RFC 9457 extension members, beside the standard ones.
    #[serde(flatten)]
    extensions: Map<String, Value>,
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Unauthorized | ApiError::Locked { .. } => StatusCode::UNAUTHORIZED,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::BadRequest(_) | ApiError::EventsRejected(_) => StatusCode::BAD_REQUEST,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::Conflict(_) | ApiError::Stale { .. } => StatusCode::CONFLICT,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        match &self {
            ApiError::Internal(cause) => tracing::error!(%cause, "request failed"),
            ApiError::Unavailable(cause) => tracing::warn!(%cause, "dependency unavailable"),
            _ => {}
        }
        let body = Problem {
            kind: "about:blank",
            title: status.canonical_reason().unwrap_or("Error"),
            status: status.as_u16(),
            detail: self.to_string(),
            extensions: self.extensions(),
        };
        let mut response =
            (status, serde_json::to_string(&body).unwrap_or_default()).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let ApiError::Locked { retry_after_secs } = self {
            headers.insert(
                header::RETRY_AFTER,
                HeaderValue::from(retry_after_secs.max(1)),
            );
        }
        if let ApiError::RateLimited(decision) = &self {
            set_rate_limit_headers(headers, decision);
        }
        if status == StatusCode::SERVICE_UNAVAILABLE {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

impl ApiError {
    fn extensions(&self) -> Map<String, Value> {
        match self {
            ApiError::EventsRejected(rejected) => Map::from_iter([
                ("errors".to_owned(), json!(rejected.errors)),
                ("rejected".to_owned(), json!(rejected.rejected_events())),
                ("reasons".to_owned(), json!(rejected.counts())),
            ]),
            ApiError::Stale { current, .. } => {
                Map::from_iter([("current".to_owned(), current.clone())])
            }
            _ => Map::new(),
        }
    }
}

impl From<IntakeError> for ApiError {
    fn from(e: IntakeError) -> Self {
        match e {
            IntakeError::Rejected(rejected) => ApiError::EventsRejected(rejected),
            IntakeError::Repo(e) => e.into(),
            // Any queue failure is worth retrying: the batch was stored nowhere.
            IntakeError::Forward(e) => ApiError::Unavailable(e.to_string()),
        }
    }
}

impl From<RepoError> for ApiError {
    fn from(e: RepoError) -> Self {
        if let RepoError::Table(TableError::BadCursor) = e {
            return ApiError::BadRequest("invalid cursor".into());
        }
        if e.is_transient() {
            ApiError::Unavailable(e.to_string())
        } else {
            ApiError::Internal(e.to_string())
        }
    }
}

impl From<TableError> for ApiError {
    fn from(e: TableError) -> Self {
        match e {
            TableError::BadCursor => ApiError::BadRequest("invalid cursor".into()),
            TableError::Transient(_) => ApiError::Unavailable(e.to_string()),
            e => ApiError::Internal(e.to_string()),
        }
    }
}

impl From<BlobError> for ApiError {
    fn from(e: BlobError) -> Self {
        match e {
            BlobError::Transient(_) => ApiError::Unavailable(e.to_string()),
            e => ApiError::Internal(e.to_string()),
        }
    }
}

impl From<PipelineError> for ApiError {
    fn from(e: PipelineError) -> Self {
        ApiError::Unavailable(e.to_string())
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::InvalidCredentials => ApiError::Unauthorized,
            AuthError::Locked { retry_after } => ApiError::Locked {
                // Rounded up: retrying at the stated second must not hit the lock again.
                retry_after_secs: retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0),
            },
            AuthError::Forbidden(m) => ApiError::Forbidden(m),
            AuthError::NotFound(m) => ApiError::NotFound(format!("no {m}")),
            AuthError::Invalid(m) => ApiError::BadRequest(m),
            AuthError::WeakPassword(r) => ApiError::BadRequest(r.to_string()),
            AuthError::Conflict(m) => ApiError::Conflict(m),
            AuthError::RateLimited(decision) => ApiError::RateLimited(decision),
            AuthError::Repo(e) => e.into(),
            AuthError::Envelope(e) if e.is_retryable() => ApiError::Unavailable(e.to_string()),
            AuthError::UnknownSigningKey => ApiError::Unauthorized,
            e @ (AuthError::Token(_) | AuthError::Envelope(_) | AuthError::Internal(_)) => {
                ApiError::Internal(e.to_string())
            }
        }
    }
}

/// `RateLimit-Limit`, `-Remaining`, `-Reset` (and `Retry-After` on a refusal).
pub fn set_rate_limit_headers(headers: &mut axum::http::HeaderMap, decision: &Decision) {
    for (name, value) in decision.headers() {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
}
