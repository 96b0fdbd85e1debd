//! The REST API: an axum [`Router`] over any [`Platform`]. In Lambda `lambda_http` serves it;
//! in `mvidarr serve` `axum::serve` does. Errors are RFC 9457 problem+json everywhere,
//! including malformed bodies and unknown routes.

mod auth;
mod bootstrap;
mod json;
mod problem;
mod routes;
pub mod usage;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use mvidarr_auth::service::Identity;
use mvidarr_core::ports::Platform;
use mvidarr_core::repo::RollupCache;
use mvidarr_core::upload::UploadLimits;
use mvidarr_reco::service::Recommender;

pub use auth::Caller;
pub use bootstrap::bootstrap_default_tenant;
pub use problem::ApiError;
pub use routes::spec::{Access, Resource, RouteInfo, route_table};
pub use usage::EventReporter;

/// A newly promoted recommender model is served within this long.
const MODEL_REFRESH: Duration = Duration::from_secs(30);

/// What the handlers share, built once per process.
#[derive(Clone)]
pub struct ApiState<P: Platform> {
    pub platform: P,
    pub identity: Arc<Identity<P>>,
    pub limits: UploadLimits,
    /// How long a presigned upload URL stays valid.
    pub upload_url_ttl: Duration,
    /// The tenants' recommender models, loaded once per process.
    pub recommender: Arc<Recommender<P>>,
    /// The API's own analytics events, on their way to the events queue.
    pub events: Arc<EventReporter<P>>,
    /// Decoded tenant-day rollups, for the dashboards.
    pub rollups: Arc<RollupCache>,
}

impl<P: Platform> ApiState<P> {
    pub fn new(platform: P, identity: Arc<Identity<P>>) -> Self {
        Self {
            recommender: Arc::new(Recommender::new(platform.clone(), MODEL_REFRESH)),
            events: Arc::new(EventReporter::new(platform.clone())),
            rollups: Arc::new(RollupCache::default()),
            platform,
            identity,
            limits: UploadLimits::default(),
            upload_url_ttl: Duration::from_secs(3600),
        }
    }

    /// How stale this process's view of the promoted models may be (tests use zero).
    pub fn with_model_refresh(mut self, refresh: Duration) -> Self {
        self.recommender = Arc::new(Recommender::new(self.platform.clone(), refresh));
        self
    }
}

/// The whole API.
pub fn router<P: Platform>(state: ApiState<P>) -> Router {
    routes::router(&state).with_state(state)
}

/// The router as the Lambda function serves it: each response goes only once the request's
/// own analytics events (its `api_call`, a tag decision) are on the events queue. An instance
/// is frozen as soon as it has answered and may never run again, so events left waiting, or a
/// send begun in the background, could be lost with it: metering that is billed on must not
/// be. This costs each response one queue send (a few ms in the region).
pub fn lambda_router<P: Platform>(state: ApiState<P>) -> Router {
    let events = state.events.clone();
    router(state).layer(axum::middleware::from_fn(
        move |request: axum::extract::Request, next: axum::middleware::Next| {
            let events = events.clone();
            async move {
                let response = next.run(request).await;
                events.flush().await;
                response
            }
        },
    ))
}
