//! A loopback HTTP endpoint that serves S3 objects to child processes (ffmpeg), with ranged
//! reads, so they read an object in place without seeing S3 itself.
//!
//! Why not hand ffmpeg a presigned S3 URL:
//! - the static ffmpeg 7.0.2 first pinned crashed resolving any host name (its static glibc
//!   loaded the host's NSS modules); 9.0.2 resolves, but an address on 127.0.0.1 needs no lookup.
//! - a presigned URL is a credential; in a child's argv any process on the box can read it.
//!   A grant here is a random token, valid on loopback only, for one key, for a limited time.
//!
//! Requests are answered with `GetObject` (the `Range` header passed through) streamed back,
//! so ffmpeg's seeks cost one ranged request each and nothing is buffered whole.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_s3::Client;
use aws_sdk_s3::error::ProvideErrorMetadata;
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::net::TcpListener;

/// How long a grant lets a reader in: long enough to read a large file.
pub const GRANT_LIFETIME: Duration = Duration::from_secs(3600);

struct Grant {
    key: String,
    expires: Instant,
}

#[derive(Clone)]
struct Shared {
    client: Client,
    bucket: String,
    grants: Arc<Mutex<HashMap<String, Grant>>>,
}

/// A running proxy for one bucket; stops when dropped.
pub struct ReadProxy {
    base_url: String,
    shared: Shared,
    server: tokio::task::JoinHandle<()>,
}

impl ReadProxy {
    /// Listen on a free loopback port.
    pub async fn start(client: Client, bucket: String) -> std::io::Result<ReadProxy> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let base_url = format!("http://{}", listener.local_addr()?);
        let shared = Shared {
            client,
            bucket,
            grants: Arc::default(),
        };
        let app = Router::new()
            .route("/o/{token}", get(serve))
            .with_state(shared.clone());
        let server = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "S3 read proxy stopped");
            }
        });
        Ok(ReadProxy {
            base_url,
            shared,
            server,
        })
    }

    /// A URL that reads `key` until the grant expires.
    pub fn grant(&self, key: &str) -> String {
        let token = hex::encode(rand::random::<[u8; 16]>());
        let now = Instant::now();
        let mut grants = self.shared.grants.lock().expect("grants lock");
        grants.retain(|_, g| g.expires > now);
        grants.insert(
            token.clone(),
            Grant {
                key: key.to_owned(),
                expires: now + GRANT_LIFETIME,
            },
        );
        format!("{}/o/{token}", self.base_url)
    }
}

impl Drop for ReadProxy {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn serve(
    State(shared): State<Shared>,
    Path(token): Path<String>,
    method: Method,
    headers: HeaderMap,
) -> Response {
    let key = {
        let grants = shared.grants.lock().expect("grants lock");
        match grants.get(&token) {
            Some(g) if g.expires > Instant::now() => g.key.clone(),
            _ => return StatusCode::NOT_FOUND.into_response(),
        }
    };
    let range = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);

    if method == Method::HEAD {
        let head = shared.client.head_object().bucket(&shared.bucket).key(&key);
        return match head.send().await {
            Ok(out) => object_response(
                StatusCode::OK,
                Body::empty(),
                out.content_length(),
                None,
                out.content_type(),
            ),
            Err(e) => error_response(
                e.code(),
                e.raw_response().map(|r| r.status().as_u16()),
                &key,
            ),
        };
    }

    let get = shared.client.get_object().bucket(&shared.bucket).key(&key);
    match get.set_range(range).send().await {
        Ok(out) => {
            let status = if out.content_range().is_some() {
                StatusCode::PARTIAL_CONTENT
            } else {
                StatusCode::OK
            };
            let (length, range) = (out.content_length(), out.content_range().map(str::to_owned));
            let content_type = out.content_type().map(str::to_owned);
            let body = Body::new(out.body.into_inner());
            object_response(
                status,
                body,
                length,
                range.as_deref(),
                content_type.as_deref(),
            )
        }
        Err(e) => error_response(
            e.code(),
            e.raw_response().map(|r| r.status().as_u16()),
            &key,
        ),
    }
}

/// An object (or part of one) with the headers a ranged reader relies on.
fn object_response(
    status: StatusCode,
    body: Body,
    length: Option<i64>,
    content_range: Option<&str>,
    content_type: Option<&str>,
) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    let values = [
        (header::CONTENT_LENGTH, length.map(|n| n.to_string())),
        (header::CONTENT_RANGE, content_range.map(str::to_owned)),
        (header::CONTENT_TYPE, content_type.map(str::to_owned)),
    ];
    for (name, value) in values {
        if let Some(value) = value.and_then(|v| HeaderValue::from_str(&v).ok()) {
            headers.insert(name, value);
        }
    }
    response
}

/// S3's answer, as the reader needs to see it: absent, range not satisfiable, or a failure.
fn error_response(code: Option<&str>, status: Option<u16>, key: &str) -> Response {
    match (code, status) {
        (Some("NoSuchKey"), _) | (_, Some(404)) => StatusCode::NOT_FOUND.into_response(),
        (Some("InvalidRange"), _) | (_, Some(416)) => {
            StatusCode::RANGE_NOT_SATISFIABLE.into_response()
        }
        _ => {
            tracing::warn!(key, ?code, ?status, "S3 read for a local reader failed");
            StatusCode::BAD_GATEWAY.into_response()
        }
    }
}
