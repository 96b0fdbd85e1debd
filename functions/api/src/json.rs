//! A JSON body extractor whose rejections are problem+json 400s (axum's own are plain text).

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use serde::de::DeserializeOwned;

use crate::problem::ApiError;

pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(ApiJson(v)),
            Err(JsonRejection::MissingJsonContentType(_)) => Err(ApiError::BadRequest(
                "expected Content-Type: application/json".into(),
            )),
            Err(e) => Err(ApiError::BadRequest(format!(
                "malformed JSON body: {}",
                e.body_text()
            ))),
        }
    }
}
