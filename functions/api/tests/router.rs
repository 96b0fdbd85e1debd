//! The router in-process (no socket) over the embedded platform.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use tower::ServiceExt;

mod support;

/// The router with tenant `default`'s owner key.
async fn app() -> (axum::Router, String, support::TestApi) {
    let api = support::TestApi::start().await;
    (api.router.clone(), api.key.clone(), api)
}

async fn send(
    app: &axum::Router,
    request: Request<Body>,
) -> (StatusCode, String, serde_json::Value) {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        content_type,
        serde_json::from_slice(&bytes).unwrap_or_default(),
    )
}

#[tokio::test]
async fn the_bearer_scheme_is_case_insensitive() {
    let (app, key, _dir) = app().await;
    for scheme in ["Bearer", "bearer", "BEARER"] {
        let request = Request::get("/v1/media")
            .header("authorization", format!("{scheme} {key}"))
            .body(Body::empty())
            .unwrap();
        assert_eq!(send(&app, request).await.0, StatusCode::OK, "{scheme}");
    }
    let basic = Request::get("/v1/media")
        .header("authorization", format!("Basic {key}"))
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(&app, basic).await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn errors_are_problem_json_with_status_and_title() {
    let (app, key, _dir) = app().await;
    let request = Request::get("/v1/nope")
        .header("authorization", format!("Bearer {key}"))
        .body(Body::empty())
        .unwrap();
    let (status, content_type, body) = send(&app, request).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(content_type, "application/problem+json");
    assert_eq!(body["status"], 404);
    assert_eq!(body["title"], "Not Found");

    let unknown_field = Request::post("/v1/uploads")
        .header("authorization", format!("Bearer {key}"))
        .header("content-type", "application/json")
        .body(Body::from(
            r#"{"filename":"a.mp4","content_type":"video/mp4","size":1,"x":1}"#,
        ))
        .unwrap();
    let (status, content_type, _) = send(&app, unknown_field).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(content_type, "application/problem+json");
}

#[tokio::test]
async fn a_reserved_upload_reads_as_awaiting_upload_until_its_bytes_arrive() {
    let (app, key, _dir) = app().await;
    let reserve = Request::post("/v1/uploads")
        .header("authorization", format!("Bearer {key}"))
        .header("content-type", "application/json")
        .body(Body::from(
            r#"{"filename":"clip.mp4","content_type":"video/mp4","size":1234}"#,
        ))
        .unwrap();
    let (status, _, ticket) = send(&app, reserve).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(ticket["method"], "PUT");
    assert_eq!(ticket["headers"]["content-type"], "video/mp4");
    let id = ticket["media_id"].as_str().unwrap();
    assert!(
        ticket["upload_url"]
            .as_str()
            .unwrap()
            .contains(&format!("/uploads/{id}?expires="))
    );

    let get = Request::get(format!("/v1/media/{id}"))
        .header("authorization", format!("Bearer {key}"))
        .body(Body::empty())
        .unwrap();
    let (status, _, media) = send(&app, get).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(media["status"], "awaiting_upload");
    assert_eq!(media["filename"], "clip.mp4");
}

#[tokio::test]
async fn a_wrong_method_is_405_with_allow() {
    let (app, key, _dir) = app().await;
    let request = Request::delete("/v1/uploads")
        .header("authorization", format!("Bearer {key}"))
        .body(Body::empty())
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(response.headers()["allow"], "POST");
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
}
