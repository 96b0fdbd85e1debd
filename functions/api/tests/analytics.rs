//! The dashboards through the API: client events posted to `POST /v1/events` and the API's
//! own metering go through the events queue into rollups, and `GET /v1/analytics/summary`
//! and `GET /v1/analytics/media/{id}` read them back exactly; resent events count once; bad
//! ranges are 400s and a key without `reports:read` is 403.

mod support;

use axum::http::StatusCode;
use chrono::{Duration, Utc};
use mvidarr_core::ids::{MediaId, TenantId};
use serde_json::{Value, json};
use support::TestApi;

struct Tenant {
    owner: String,
    media: Vec<MediaId>,
}

/// A tenant with three catalogue media (`ext:m0`…) and three profiles (`ext:u0`…).
async fn tenant(api: &TestApi, name: &str) -> (TenantId, Tenant) {
    let (id, owner, media) = api.catalogue_tenant(name, 3, 3).await;
    (id, Tenant { owner, media })
}

/// Yesterday at `hour`, as the API takes times.
fn yesterday(hour: u32) -> String {
    let day = Utc::now().date_naive() - Duration::days(1);
    format!("{day}T{hour:02}:10:00Z")
}

fn event(id: &str, kind: &str, media: usize, user: usize, hour: u32, props: Value) -> Value {
    json!({"id": id, "kind": kind, "media": format!("ext:m{media}"), "user": format!("ext:u{user}"),
           "at": yesterday(hour), "props": props})
}

fn range() -> String {
    let today = Utc::now().date_naive();
    format!("from={}&to={}", today - Duration::days(1), today)
}

#[tokio::test]
async fn client_events_add_up_once_in_the_summary_and_per_media() {
    let api = TestApi::start().await;
    let (_, t) = tenant(&api, "dash").await;
    // m0: 3 plays by 3 users (2 complete), m1: 1 play and a skip, m2: a view.
    let events = vec![
        event("p1", "play", 0, 0, 9, json!({"watch_ms": 200000})),
        event("p2", "play", 0, 1, 9, json!({"watch_ms": 100000})),
        event("p3", "play", 0, 2, 10, json!({})),
        event("c1", "complete", 0, 0, 10, json!({})),
        event("c2", "complete", 0, 1, 10, json!({})),
        event("p4", "play", 1, 0, 11, json!({"watch_ms": 5000})),
        event("s1", "skip", 1, 0, 11, json!({})),
        event("v1", "view", 2, 2, 23, json!({})),
    ];
    let r = api
        .post("/v1/events", Some(&t.owner), json!({"events": events}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    // The same events again, in another batch with one new event: only the new one counts.
    let mut again = events[..4].to_vec();
    again.push(event("v2", "view", 2, 1, 23, json!({})));
    let r = api
        .post("/v1/events", Some(&t.owner), json!({"events": again}))
        .await;
    assert_eq!(
        (r.body["accepted"].as_u64(), r.body["duplicates"].as_u64()),
        (Some(1), Some(4))
    );
    assert!(api.drain_events().await >= 2);

    let r = api
        .get(
            &format!("/v1/analytics/summary?{}&granularity=hour", range()),
            &t.owner,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let totals = &r.body["totals"];
    assert_eq!(
        [
            &totals["plays"],
            &totals["completions"],
            &totals["skips"],
            &totals["views"],
            &totals["watch_ms"]
        ],
        [4, 2, 1, 2, 305000]
    );
    assert_eq!(r.body["unique_users"], 3);
    assert_eq!(r.body["rates"]["completion_rate"], 0.5);
    let series = r.body["series"].as_array().unwrap();
    assert_eq!(series.len(), 24);
    assert_eq!(series[9]["plays"], 2);
    assert_eq!(series[23]["views"], 2);
    let top = r.body["top_media"].as_array().unwrap();
    assert_eq!(top[0]["media"], t.media[0].to_string());
    assert_eq!(top[0]["plays"], 3);
    assert_eq!(r.body["titles"][t.media[0].to_string()], "Song 0");

    let r = api
        .get(&format!("/v1/analytics/media/ext:m0?{}", range()), &t.owner)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        (&r.body["totals"]["plays"], &r.body["unique_users"]),
        (&json!(3), &json!(3))
    );
    assert_eq!(r.body["completion_rate"].as_f64().unwrap(), 2.0 / 3.0);
    assert_eq!(r.body["series"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn the_api_meters_its_calls_and_tag_decisions_by_route_and_status() {
    let api = TestApi::start().await;
    let (_, t) = tenant(&api, "meter").await;
    for _ in 0..3 {
        assert_eq!(api.get("/v1/media", &t.owner).await.status, StatusCode::OK);
    }
    let missing = api
        .get(&format!("/v1/media/{}", MediaId::generate()), &t.owner)
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    let r = api
        .post(
            &format!("/v1/media/{}/tags", t.media[0]),
            Some(&t.owner),
            json!({"name": "live"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    api.drain_events().await;

    let today = Utc::now().date_naive();
    let r = api
        .get(
            &format!(
                "/v1/analytics/summary?from={today}&to={}",
                today + Duration::days(1)
            ),
            &t.owner,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let totals = &r.body["totals"];
    // Three profiles, three lists, the 404 and the tag (this summary is not yet counted).
    assert_eq!(totals["api_calls"], 8, "{totals}");
    assert_eq!(totals["api_client_errors"], 1);
    assert_eq!(totals["tags_accepted"], 1);
    assert_eq!(
        r.body["top_tags"][0],
        json!({"tag": "live", "accepted": 1, "rejected": 0})
    );
    assert!(r.body["rates"]["api_p99_ms"].is_u64());
}

#[tokio::test]
async fn an_empty_range_is_a_summary_of_zeros() {
    let api = TestApi::start().await;
    let (_, t) = tenant(&api, "quiet").await;
    let r = api
        .get(
            "/v1/analytics/summary?from=2020-01-01&to=2020-01-08&granularity=day",
            &t.owner,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["series"].as_array().unwrap().len(), 7);
    assert_eq!(r.body["totals"], json!({}));
    assert_eq!(r.body["top_media"], json!([]));
    assert_eq!(r.body["rates"]["completion_rate"], Value::Null);
}

#[tokio::test]
async fn bad_ranges_are_400_and_analytics_need_reports_read() {
    let api = TestApi::start().await;
    let (_, t) = tenant(&api, "strict").await;
    for query in [
        "granularity=minute",
        "from=2026-11-02&to=2026-11-01",
        "from=2026-01-01&to=2026-03-01&granularity=hour",
        "from=yesterday&to=2026-11-01",
        "from=2026-11-01T10:30:00Z&to=2026-11-02",
        "since=2026-11-01",
    ] {
        let r = api
            .get(&format!("/v1/analytics/summary?{query}"), &t.owner)
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{query}: {}", r.body);
    }
    for query in [
        "granularity=hour",
        "from=2026-11-01T13:00:00Z&to=2026-11-02",
        "from=2026-11-01&to=2026-11-02T06:00:00Z",
    ] {
        let r = api
            .get(&format!("/v1/analytics/media/ext:m0?{query}"), &t.owner)
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{query}: {}", r.body);
    }
    let r = api
        .get(
            "/v1/analytics/media/ext:m0?from=2026-11-01T00:00:00Z&to=2026-11-02",
            &t.owner,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = api
        .get(
            &format!("/v1/analytics/media/{}", MediaId::generate()),
            &t.owner,
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);

    let key = api
        .post(
            "/v1/api-keys",
            Some(&t.owner),
            json!({"name": "player", "scopes": ["media:read", "events:write"]}),
        )
        .await;
    assert_eq!(key.status, StatusCode::CREATED, "{}", key.body);
    let key = key.body["key"].as_str().unwrap();
    for path in ["/v1/analytics/summary", "/v1/analytics/media/ext:m0"] {
        let r = api.get(path, key).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{path}: {}", r.body);
        assert!(
            r.body["detail"].as_str().unwrap().contains("reports:read"),
            "{}",
            r.body
        );
    }
}

#[tokio::test]
async fn in_lambda_a_response_goes_once_its_call_is_on_the_events_queue() {
    use axum::body::Body;
    use axum::http::Request;
    use mvidarr_core::analytics::{AnalyticsKind, EventBatch};
    use mvidarr_core::ports::{Platform, Queue};
    use tower::ServiceExt;

    let api = TestApi::start().await;
    let lambda = mvidarr_api::lambda_router(mvidarr_api::ApiState::new(
        api.platform.clone(),
        api.identity.clone(),
    ));
    let request = Request::get("/v1/media")
        .header("authorization", format!("Bearer {}", api.key))
        .body(Body::empty())
        .unwrap();
    let response = lambda.oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    // No flush and no wait: the call is queued by the time the response is.
    let messages = api
        .platform
        .events_queue()
        .receive(
            10,
            std::time::Duration::from_secs(30),
            std::time::Duration::ZERO,
        )
        .await
        .unwrap();
    let calls: Vec<(TenantId, Option<String>)> = messages
        .iter()
        .flat_map(|m| {
            let batch: EventBatch = serde_json::from_str(&m.body).unwrap();
            batch
                .events
                .into_iter()
                .filter(|e| e.kind == AnalyticsKind::ApiCall)
                .map(move |e| (batch.tenant, e.route))
        })
        .collect();
    assert_eq!(calls, [(api.tenant, Some("/v1/media".to_owned()))]);
}
