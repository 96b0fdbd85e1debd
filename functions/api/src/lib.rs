//! The REST API: an axum [`Router`] over any [`Platform`]. In Lambda `lambda_http` serves it;
//! in `mvidarr serve` `axum::serve` does. Errors are RFC 9457 problem+json everywhere,
//! including malformed bodies and unknown routes.

mod api_key;
mod auth;
mod json;
mod problem;
mod routes;

use std::time::Duration;

use axum::Router;
use mvidarr_core::ports::Platform;
use mvidarr_core::upload::UploadLimits;

pub use api_key::{ApiKey, bootstrap_default_tenant, create_api_key};
pub use auth::Caller;
pub use problem::ApiError;

/// What the handlers share, built once per process.
#[derive(Clone)]
pub struct ApiState<P> {
    pub platform: P,
    pub limits: UploadLimits,
    /// How long a presigned upload URL stays valid.
    pub upload_url_ttl: Duration,
}

impl<P: Platform> ApiState<P> {
    pub fn new(platform: P) -> Self {
        Self {
            platform,
            limits: UploadLimits::default(),
            upload_url_ttl: Duration::from_secs(3600),
        }
    }
}

/// The whole API.
pub fn router<P: Platform>(state: ApiState<P>) -> Router {
    routes::router().with_state(state)
}
