//! Routes, one module per resource.

mod duplicates;
mod health;
mod media;
mod thumbnails;
mod uploads;

use axum::Router;
use axum::routing::{get, post};
use mvidarr_core::ports::Platform;

use crate::ApiState;
use crate::problem::ApiError;

pub fn router<P: Platform>() -> Router<ApiState<P>> {
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/v1/uploads", post(uploads::create::<P>))
        .route("/v1/media", get(media::list::<P>))
        .route("/v1/media/{id}", get(media::get::<P>))
        .route("/v1/media/{id}/analysis", get(media::analysis::<P>))
        .route("/v1/media/{id}/thumbnails", get(thumbnails::list::<P>))
        .route("/v1/media/{id}/duplicates", get(duplicates::list::<P>))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
}

async fn not_found() -> ApiError {
    ApiError::NotFound("no such route".into())
}

/// axum adds the `Allow` header to this response itself.
async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed("method not allowed on this route".into())
}
