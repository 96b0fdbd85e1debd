//! The embedded stand-in for S3's presigned URLs: `PUT /blobs/{key}` and `GET /blobs/{key}`
//! with an expiry and an HMAC signature in the query, checked before a byte is read. Bodies
//! stream straight to disk; a body over the size limit is refused and nothing is stored.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::put;
use chrono::Utc;
use futures_util::TryStreamExt;
use mvidarr_api::ApiError;
use mvidarr_core::keys;
use mvidarr_core::ports::{BlobError, BlobStore, Platform};
use mvidarr_core::repo::{Claim, UploadRepo};
use mvidarr_core::upload::UploadLimits;
use mvidarr_store_local::LocalPlatform;
use mvidarr_store_local::blob::SignatureError;

#[derive(Clone)]
struct BlobState {
    platform: LocalPlatform,
    limits: UploadLimits,
}

pub fn router(platform: LocalPlatform, limits: UploadLimits) -> Router {
    Router::new()
        .route("/blobs/{*key}", put(put_blob).get(get_blob))
        .with_state(BlobState { platform, limits })
}

fn check_signature(
    state: &BlobState,
    method: &str,
    key: &str,
    query: &HashMap<String, String>,
    content_type: Option<&str>,
) -> Result<(), ApiError> {
    let (Some(expires), Some(signature)) = (query.get("expires"), query.get("signature")) else {
        return Err(ApiError::Forbidden("missing signature".into()));
    };
    state
        .platform
        .local_blobs()
        .verify_signed(method, key, expires, signature, content_type, Utc::now())
        .map_err(|e| match e {
            SignatureError::Expired => ApiError::Forbidden("the signed URL has expired".into()),
            _ => ApiError::Forbidden("the signature does not match".into()),
        })
}

async fn put_blob(
    state: State<BlobState>,
    key: Path<String>,
    query: Query<HashMap<String, String>>,
    headers: HeaderMap,
    request: Request,
) -> Response {
    match store_upload(state, key, query, headers, request).await {
        Ok(response) => response,
        // A refused upload may leave its body unread: the connection cannot carry another
        // request, and saying so keeps the client from reusing it (it would fail mid-send).
        Err(e) => {
            let mut response = e.into_response();
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            response
        }
    }
}

async fn store_upload(
    State(state): State<BlobState>,
    Path(key): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    request: Request,
) -> Result<Response, ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    check_signature(&state, "PUT", &key, &query, content_type)?;
    let limit = state.limits.max_bytes;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(len) = declared.filter(|len| *len > limit) {
        return Err(ApiError::PayloadTooLarge(format!(
            "{len} bytes is over the limit of {limit} bytes"
        )));
    }
    // An upload URL is good for one upload. Claiming its reservation is atomic, so a second
    // PUT is refused however it interleaves with the first (and with that upload being
    // validated and moved to quarantine, which frees the key itself).
    let upload = keys::blob::parse_upload(&key);
    let mut limit = limit;
    if let Some((tenant, media)) = upload {
        match UploadRepo::new(state.platform.table())
            .claim(tenant, media)
            .await?
        {
            // The body may not exceed what was declared (S3 signs `Content-Length` for this).
            Claim::Claimed(reservation) => {
                limit = limit.min(reservation.declared_size);
                if let Some(len) = declared.filter(|len| *len > limit) {
                    UploadRepo::new(state.platform.table())
                        .release(tenant, media)
                        .await?;
                    return Err(ApiError::PayloadTooLarge(format!(
                        "{len} bytes is more than the {limit} bytes declared for this upload"
                    )));
                }
            }
            Claim::Taken => return Err(used_url()),
            Claim::NoReservation => {
                return Err(ApiError::Forbidden(
                    "no upload is reserved for this URL".into(),
                ));
            }
        }
    }
    // Count as we stream: a chunked body has no length to check up front.
    let mut seen = 0u64;
    let over_limit = Arc::new(AtomicBool::new(false));
    let flag = over_limit.clone();
    let body = request
        .into_body()
        .into_data_stream()
        .map_err(std::io::Error::other)
        .and_then(move |chunk| {
            seen += chunk.len() as u64;
            let over = seen > limit;
            flag.store(over, Ordering::Relaxed);
            async move {
                if over {
                    Err(std::io::Error::new(
                        std::io::ErrorKind::FileTooLarge,
                        "upload over the size limit",
                    ))
                } else {
                    Ok(chunk)
                }
            }
        });
    let content_type = content_type.map(str::to_owned);
    // In a task of its own: a client that hangs up once its bytes are in must not cancel the
    // write between the file landing and its notification being queued.
    let platform = state.platform.clone();
    let write = tokio::spawn(async move {
        let written = platform
            .blobs()
            .put_new(&key, Box::pin(body), content_type.as_deref())
            .await;
        if let (Err(e), Some((tenant, media))) = (&written, upload)
            && !matches!(e, BlobError::AlreadyExists { .. })
        {
            // Nothing was stored: the client may try the same URL again.
            if let Err(e) = UploadRepo::new(platform.table())
                .release(tenant, media)
                .await
            {
                tracing::warn!(error = %e, "could not release an upload claim; reserve again");
            }
        }
        written
    });
    let written = write
        .await
        .map_err(|e| ApiError::Internal(format!("upload task: {e}")))?;
    match written {
        Ok(info) => {
            let mut response = StatusCode::OK.into_response();
            if let Ok(v) = HeaderValue::from_str(&format!("\"{}\"", info.etag)) {
                response.headers_mut().insert(header::ETAG, v);
            }
            Ok(response)
        }
        Err(_) if over_limit.load(Ordering::Relaxed) => Err(ApiError::PayloadTooLarge(format!(
            "upload over the limit of {limit} bytes"
        ))),
        Err(BlobError::InvalidKey { .. }) => Err(ApiError::BadRequest("invalid object key".into())),
        Err(BlobError::AlreadyExists { .. }) => Err(used_url()),
        Err(e) => Err(e.into()),
    }
}

fn used_url() -> ApiError {
    ApiError::Conflict("this upload URL has been used already; reserve a new upload".into())
}

async fn get_blob(
    State(state): State<BlobState>,
    Path(key): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    check_signature(&state, "GET", &key, &query, None)?;
    let blobs = state.platform.blobs();
    let head = match blobs.head(&key).await {
        Ok(h) => h,
        Err(BlobError::NotFound { .. }) => return Err(ApiError::NotFound("no such object".into())),
        Err(e) => return Err(e.into()),
    };
    let body = blobs.get(&key).await?;
    let mut response = Body::from_stream(body).into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(head.size));
    if let Some(ct) = head
        .content_type
        .as_deref()
        .and_then(|c| HeaderValue::from_str(c).ok())
    {
        h.insert(header::CONTENT_TYPE, ct);
    }
    Ok(response)
}
