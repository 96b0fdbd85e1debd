//! Events, profiles and catalogue media through the API: `POST /v1/events` stores a batch whole
//! or refuses it with every problem listed, once per client event id; references by id or
//! `ext:` resolve within the caller's tenant only; `POST /v1/profiles` is idempotent on the
//! external id; `GET /v1/media/{id}` shows catalogue metadata and takes `ext:` ids.

mod support;

use axum::http::StatusCode;
use chrono::{Duration, Utc};
use mvidarr_auth::Role;
use mvidarr_core::external::ExternalId;
use mvidarr_core::ids::{MediaId, TenantId};
use mvidarr_core::media::CatalogueEntry;
use mvidarr_core::metadata::VideoMetadata;
use mvidarr_core::ports::Platform;
use mvidarr_core::repo::{EventRepo, MediaRepo};
use serde_json::{Value, json};
use support::{Reply, TestApi, access};

/// A tenant with a signed-in owner, two catalogue media (`ext:m1`, `ext:m2`) and two
/// profiles (`ext:u1`, `ext:u2`).
struct Tenant {
    id: TenantId,
    owner: String,
    media: Vec<MediaId>,
    profiles: Vec<String>,
}

async fn tenant(api: &TestApi, name: &str) -> Tenant {
    let (id, owner) = api.tenant_with_owner(name).await;
    let entries = ["m1", "m2"]
        .map(|ext| CatalogueEntry {
            external_id: ExternalId::parse(ext).unwrap(),
            metadata: VideoMetadata {
                title: Some(format!("{name} {ext}")),
                artist_name: Some("Portishead".into()),
                year: Some(1994),
                genres: vec!["trip hop".into()],
                ..VideoMetadata::default()
            },
        })
        .to_vec();
    let media = MediaRepo::new(api.platform.table())
        .import_catalogue(id, entries, Utc::now())
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.id)
        .collect();
    let mut profiles = Vec::new();
    for ext in ["u1", "u2"] {
        let r = api
            .post("/v1/profiles", Some(&owner), json!({"external_id": ext}))
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        profiles.push(r.body["id"].as_str().unwrap().to_owned());
    }
    Tenant {
        id,
        owner,
        media,
        profiles,
    }
}

fn play(id: &str) -> Value {
    json!({"id": id, "kind": "play", "media": "ext:m1", "user": "ext:u1"})
}

async fn post_events(api: &TestApi, bearer: &str, events: Vec<Value>) -> Reply {
    api.post("/v1/events", Some(bearer), json!({ "events": events }))
        .await
}

async fn stored(api: &TestApi, tenant: TenantId) -> usize {
    EventRepo::new(api.platform.table())
        .all(tenant)
        .await
        .unwrap()
        .len()
}

/// `(index, id, field, reason)` of each listed problem.
fn problems(r: &Reply) -> Vec<(Value, Value, String, String)> {
    r.body["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("no errors in {}", r.body))
        .iter()
        .map(|e| {
            (
                e["index"].clone(),
                e["id"].clone(),
                e["field"].as_str().unwrap().to_owned(),
                e["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// A 400 problem+json listing exactly one problem: `(field, reason)` of event 0.
async fn refused_alone(api: &TestApi, t: &Tenant, event: Value) -> (String, String, String) {
    let id = event.get("id").cloned().unwrap_or(Value::Null);
    let r = post_events(api, &t.owner, vec![event]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert_eq!(r.headers["content-type"], "application/problem+json");
    let found = problems(&r);
    assert_eq!(found.len(), 1, "{}", r.body);
    let (index, sent_id, field, reason) = found.into_iter().next().unwrap();
    assert_eq!(index, json!(0));
    if id.is_string() {
        assert_eq!(sent_id, id);
    }
    assert_eq!(r.body["rejected"], 1);
    assert_eq!(r.body["reasons"][&reason], 1, "{}", r.body);
    let message = r.body["errors"][0]["message"].as_str().unwrap().to_owned();
    assert_eq!(
        stored(api, t.id).await,
        0,
        "a refused batch wrote something"
    );
    (field, reason, message)
}

#[tokio::test]
async fn a_batch_is_recorded_once_and_a_resent_one_counts_duplicates() {
    let api = TestApi::start().await;
    let t = tenant(&api, "acme").await;
    let batch: Vec<Value> = (0..5).map(|i| play(&format!("e{i}"))).collect();

    let first = post_events(&api, &t.owner, batch.clone()).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    assert_eq!(first.body, json!({"accepted": 5, "duplicates": 0}));

    // The same batch again (a retry after a timeout), and one overlapping it.
    let again = post_events(&api, &t.owner, batch.clone()).await;
    assert_eq!(again.body, json!({"accepted": 0, "duplicates": 5}));
    let overlapping = post_events(&api, &t.owner, vec![play("e4"), play("e5")]).await;
    assert_eq!(overlapping.body, json!({"accepted": 1, "duplicates": 1}));
    assert_eq!(stored(&api, t.id).await, 6);
}

#[tokio::test]
async fn references_by_id_or_ext_resolve_and_the_record_keeps_who_posted_it() {
    let api = TestApi::start().await;
    let t = tenant(&api, "acme").await;
    let at = "2025-03-01T10:00:00Z";
    let r = post_events(
        &api,
        &t.owner,
        vec![
            json!({"id": "by-ext", "kind": "like", "media": "ext:m2", "user": "ext:u2", "at": at, "props": {"source": "home"}}),
            json!({"id": "by-id", "kind": "complete", "media": t.media[1].to_string(), "user": t.profiles[1]}),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let events = EventRepo::new(api.platform.table())
        .all(t.id)
        .await
        .unwrap();
    assert_eq!(events.len(), 2);
    for e in &events {
        assert_eq!(e.media, t.media[1]);
        assert_eq!(e.profile.to_string(), t.profiles[1]);
        assert!(e.actor.starts_with("user:"), "{}", e.actor);
    }
    let by_ext = events.iter().find(|e| e.id.as_str() == "by-ext").unwrap();
    assert_eq!(by_ext.at.to_rfc3339(), "2025-03-01T10:00:00+00:00");
    assert_eq!(by_ext.props["source"], "home");
    let by_id = events.iter().find(|e| e.id.as_str() == "by-id").unwrap();
    assert_eq!(
        by_id.at, by_id.received_at,
        "no time given: the time of receipt"
    );
}

#[tokio::test]
async fn each_kind_of_bad_event_is_refused_with_its_field_and_reason() {
    let api = TestApi::start().await;
    let t = tenant(&api, "acme").await;
    let future = (Utc::now() + Duration::hours(25)).to_rfc3339();
    let cases = [
        (
            json!({"id": "e", "kind": "play", "user": "ext:u1"}),
            "media",
            "schema",
        ),
        (
            json!({"id": "e", "kind": "play", "media": "ext:m1", "user": "ext:u1", "rating": 5}),
            "rating",
            "schema",
        ),
        (
            json!({"id": "no spaces", "kind": "play", "media": "ext:m1", "user": "ext:u1"}),
            "id",
            "schema",
        ),
        (
            json!({"id": "e", "kind": "play", "media": "42", "user": "ext:u1"}),
            "media",
            "schema",
        ),
        (
            json!({"id": "e", "kind": "play", "media": "ext:m1", "user": "ext:u1", "at": "last tuesday"}),
            "at",
            "schema",
        ),
        (json!("an event"), "event", "schema"),
        (
            json!({"id": "e", "kind": "buy", "media": "ext:m1", "user": "ext:u1"}),
            "kind",
            "unknown_kind",
        ),
        (
            json!({"id": "e", "kind": "play", "media": "ext:m1", "user": "ext:u1", "props": {"blob": "x".repeat(9000)}}),
            "props",
            "props_too_large",
        ),
        (
            json!({"id": "e", "kind": "play", "media": "ext:m1", "user": "ext:u1", "at": future}),
            "at",
            "future_time",
        ),
        (
            json!({"id": "e", "kind": "play", "media": "ext:nope", "user": "ext:u1"}),
            "media",
            "unknown_media",
        ),
        (
            json!({"id": "e", "kind": "play", "media": MediaId::generate().to_string(), "user": "ext:u1"}),
            "media",
            "unknown_media",
        ),
        (
            json!({"id": "e", "kind": "play", "media": "ext:m1", "user": "ext:nobody"}),
            "user",
            "unknown_user",
        ),
    ];
    for (event, field, reason) in cases {
        let found = refused_alone(&api, &t, event.clone()).await;
        assert_eq!(
            (found.0.as_str(), found.1.as_str()),
            (field, reason),
            "{event}: {}",
            found.2
        );
    }
    let (_, _, message) = refused_alone(
        &api,
        &t,
        json!({"id": "e", "kind": "buy", "media": "ext:m1", "user": "ext:u1"}),
    )
    .await;
    assert_eq!(
        message,
        "unknown kind \"buy\"; one of view, play, complete, like, skip"
    );
}

#[tokio::test]
async fn one_bad_event_refuses_the_whole_batch_and_every_problem_is_listed() {
    let api = TestApi::start().await;
    let t = tenant(&api, "acme").await;
    let r = post_events(
        &api,
        &t.owner,
        vec![
            play("good"),
            json!({"id": "bad", "kind": "buy", "media": "ext:ghost", "user": "ext:u1"}),
            play("good"),
            play("also-good"),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert_eq!(
        problems(&r),
        [
            (json!(1), json!("bad"), "kind".into(), "unknown_kind".into()),
            (json!(2), json!("good"), "id".into(), "duplicate_id".into()),
        ],
        "lookups wait until the batch is well-formed"
    );
    assert_eq!(r.body["rejected"], 2);
    assert_eq!(
        r.body["reasons"],
        json!({"unknown_kind": 1, "duplicate_id": 1})
    );
    assert_eq!(r.body["status"], 400);
    assert!(
        r.body["detail"].as_str().unwrap().contains("invalid"),
        "{}",
        r.body
    );
    assert_eq!(stored(&api, t.id).await, 0);

    // Well-formed, but two references name nothing: both listed, nothing written.
    let r = post_events(
        &api,
        &t.owner,
        vec![
            play("ok"),
            json!({"id": "x", "kind": "view", "media": "ext:ghost", "user": "ext:ghost"}),
        ],
    )
    .await;
    assert_eq!(
        problems(&r),
        [
            (json!(1), json!("x"), "media".into(), "unknown_media".into()),
            (json!(1), json!("x"), "user".into(), "unknown_user".into()),
        ]
    );
    assert_eq!(stored(&api, t.id).await, 0);
}

#[tokio::test]
async fn a_batch_holds_1_to_1000_events() {
    let api = TestApi::start().await;
    let t = tenant(&api, "acme").await;
    for n in [0, 1001] {
        let batch = (0..n).map(|i| play(&format!("e{i}"))).collect();
        let r = post_events(&api, &t.owner, batch).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{n}: {}", r.body);
        assert_eq!(
            problems(&r),
            [(
                Value::Null,
                Value::Null,
                "events".into(),
                "batch_size".into()
            )]
        );
    }
    let full: Vec<Value> = (0..1000).map(|i| play(&format!("e{i}"))).collect();
    let started = std::time::Instant::now();
    let r = post_events(&api, &t.owner, full).await;
    eprintln!("1000 events through the API in {:?}", started.elapsed());
    assert_eq!(r.body, json!({"accepted": 1000, "duplicates": 0}));
    assert_eq!(stored(&api, t.id).await, 1000);
}

#[tokio::test]
async fn a_body_that_is_no_batch_is_a_plain_400() {
    let api = TestApi::start().await;
    let t = tenant(&api, "acme").await;
    for body in [json!({}), json!({"events": "e1"}), json!([play("e1")])] {
        let r = api.post("/v1/events", Some(&t.owner), body.clone()).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}: {}", r.body);
        assert_eq!(r.headers["content-type"], "application/problem+json");
    }
}

#[tokio::test]
async fn another_tenants_media_and_profiles_are_unknown_not_forbidden() {
    let api = TestApi::start().await;
    let a = tenant(&api, "tenant-a").await;
    let b = tenant(&api, "tenant-b").await;
    // B names A's media and profile by id: unknown to B, whatever exists elsewhere.
    let r = post_events(
        &api,
        &b.owner,
        vec![json!({"id": "x", "kind": "play", "media": a.media[0].to_string(), "user": a.profiles[0]})],
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert_eq!(
        r.body["reasons"],
        json!({"unknown_media": 1, "unknown_user": 1})
    );
    assert_eq!(stored(&api, a.id).await + stored(&api, b.id).await, 0);
    // The same external ids are B's own records: B's events land in B only.
    let r = post_events(&api, &b.owner, vec![play("x")]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let events = EventRepo::new(api.platform.table())
        .all(b.id)
        .await
        .unwrap();
    assert_eq!(events[0].media, b.media[0]);
    assert_eq!(stored(&api, a.id).await, 0);
    // A's profile by id, or by an external id only A has, is not found for B.
    for path in [
        format!("/v1/profiles/{}", a.profiles[0]),
        format!("/v1/media/{}", a.media[0]),
    ] {
        assert_eq!(api.get(&path, &b.owner).await.status, StatusCode::NOT_FOUND);
    }
}

#[tokio::test]
async fn a_viewer_may_post_events_and_a_key_without_the_scope_may_not() {
    let api = TestApi::start().await;
    let t = tenant(&api, "acme").await;
    api.add_user(&t.owner, "viewer@acme.example.com", Role::Viewer)
        .await;
    let viewer = access(&api.login("viewer@acme.example.com").await).to_owned();
    let r = post_events(&api, &viewer, vec![play("from-viewer")]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = api
        .post("/v1/profiles", Some(&viewer), json!({"external_id": "u9"}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);

    let key_with = |scopes: Value| {
        let owner = t.owner.clone();
        let api = &api;
        async move {
            let r = api
                .post(
                    "/v1/api-keys",
                    Some(&owner),
                    json!({"name": "app", "scopes": scopes}),
                )
                .await;
            assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
            r.body["key"].as_str().unwrap().to_owned()
        }
    };
    let reader = key_with(json!(["media:read"])).await;
    let r = post_events(&api, &reader, vec![play("from-reader")]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    assert!(r.body["detail"].as_str().unwrap().contains("events:write"));
    let app = key_with(json!(["events:write"])).await;
    let r = post_events(&api, &app, vec![play("from-app")]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let events = EventRepo::new(api.platform.table())
        .all(t.id)
        .await
        .unwrap();
    let from_app = events.iter().find(|e| e.id.as_str() == "from-app").unwrap();
    assert!(from_app.actor.starts_with("key:"), "{}", from_app.actor);
}

#[tokio::test]
async fn creating_a_profile_twice_returns_the_first_and_reads_by_id_or_ext() {
    let api = TestApi::start().await;
    let t = tenant(&api, "acme").await;
    let again = api
        .post("/v1/profiles", Some(&t.owner), json!({"external_id": "u1"}))
        .await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    assert_eq!(again.body["id"], t.profiles[0].as_str());
    assert_eq!(again.body["external_id"], "u1");

    let anonymous = api.post("/v1/profiles", Some(&t.owner), json!({})).await;
    assert_eq!(anonymous.status, StatusCode::CREATED);
    assert!(
        anonymous.body.get("external_id").is_none(),
        "{}",
        anonymous.body
    );

    for path in [
        format!("/v1/profiles/{}", t.profiles[0]),
        "/v1/profiles/ext:u1".to_owned(),
    ] {
        let r = api.get(&path, &t.owner).await;
        assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.body);
        assert_eq!(r.body["id"], t.profiles[0].as_str());
    }
    for missing in ["ext:u404", "not-an-id", "ext:"] {
        let r = api.get(&format!("/v1/profiles/{missing}"), &t.owner).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{missing}");
    }
    for bad in [
        json!({"external_id": ""}),
        json!({"external_id": "x".repeat(129)}),
        json!({"name": "x"}),
    ] {
        let r = api.post("/v1/profiles", Some(&t.owner), bad.clone()).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}: {}", r.body);
    }
}

#[tokio::test]
async fn a_catalogue_media_shows_its_metadata_by_id_or_ext() {
    let api = TestApi::start().await;
    let t = tenant(&api, "acme").await;
    for path in [
        format!("/v1/media/{}", t.media[0]),
        "/v1/media/ext:m1".to_owned(),
    ] {
        let r = api.get(&path, &t.owner).await;
        assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.body);
        assert_eq!(r.body["id"], t.media[0].to_string());
        assert_eq!(r.body["external_id"], "m1");
        assert_eq!(r.body["status"], "indexed");
        assert_eq!(r.body["metadata"]["title"], "acme m1");
        assert_eq!(r.body["metadata"]["year"], 1994);
        assert_eq!(r.body["metadata"]["genres"], json!(["trip hop"]));
    }
    // Sub-resources take ext: too.
    let r = api.get("/v1/media/ext:m1/analysis", &t.owner).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        api.get("/v1/media/ext:m404", &t.owner).await.status,
        StatusCode::NOT_FOUND
    );
    // An upload has neither.
    let upload = api
        .post(
            "/v1/uploads",
            Some(&t.owner),
            json!({"filename": "a.mp4", "content_type": "video/mp4", "size": 1000}),
        )
        .await;
    let id = upload.body["media_id"].as_str().unwrap();
    let r = api.get(&format!("/v1/media/{id}"), &t.owner).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.get("metadata").is_none() && r.body.get("external_id").is_none());
}
