//! The REST API: an axum [`Router`] over any [`Platform`]. In Lambda `lambda_http` serves it;
//! in `mvidarr serve` `axum::serve` does. Errors are RFC 9457 problem+json everywhere,
//! including malformed bodies and unknown routes.

mod auth;
mod bootstrap;
mod json;
mod problem;
mod routes;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use mvidarr_auth::service::Identity;
use mvidarr_core::ports::Platform;
use mvidarr_core::upload::UploadLimits;

pub use auth::Caller;
pub use bootstrap::bootstrap_default_tenant;
pub use problem::ApiError;
pub use routes::spec::{Access, Resource, RouteInfo, route_table};

/// What the handlers share, built once per process.
#[derive(Clone)]
pub struct ApiState<P: Platform> {
    pub platform: P,
    pub identity: Arc<Identity<P>>,
    pub limits: UploadLimits,
    /// How long a presigned upload URL stays valid.
    pub upload_url_ttl: Duration,
}

impl<P: Platform> ApiState<P> {
    pub fn new(platform: P, identity: Arc<Identity<P>>) -> Self {
        Self {
            platform,
            identity,
            limits: UploadLimits::default(),
            upload_url_ttl: Duration::from_secs(3600),
        }
    }
}

/// The whole API.
pub fn router<P: Platform>(state: ApiState<P>) -> Router {
    routes::router(&state).with_state(state)
}
