//! `GET /v1/recommendations` and `GET /v1/media/{id}/similar` through the real router: plays
//! posted as events, a model trained into the registry, every kind served with reasons; the
//! bad inputs the issue names (no history, empty tenant, limit out of range, another tenant's
//! user) and a newer model served as soon as it is promoted.

mod support;

use axum::http::StatusCode;
use chrono::Utc;
use mvidarr_auth::ratelimit::Plan;
use mvidarr_core::ids::TenantId;
use mvidarr_core::ports::Platform;
use mvidarr_core::repo::MediaRepo;
use mvidarr_reco::model::TrainConfig;
use mvidarr_reco::service::train_tenant;
use mvidarr_tests::reco::{self, titles};
use serde_json::{Value, json};
use support::TestApi;

/// Rock videos m0–m5 and pop videos m6–m11 (two artists each); profiles u0–u19 play four rock
/// videos each, u20–u39 four pop ones.
async fn library(api: &TestApi, name: &str) -> (TenantId, String) {
    let (tenant, owner) = api.tenant_with_owner(name).await;
    // Forty profiles and a batch of plays are more requests than the free plan's burst.
    api.identity
        .set_plan(tenant, Plan::Enterprise, Utc::now())
        .await
        .unwrap();
    MediaRepo::new(api.platform.table())
        .import_catalogue(tenant, reco::catalogue(12), Utc::now())
        .await
        .unwrap();
    let mut events = Vec::new();
    for u in 0..40 {
        let r = api
            .post(
                "/v1/profiles",
                Some(&owner),
                json!({"external_id": format!("u{u}")}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        let side = if u < 20 { 0 } else { 6 };
        for k in 0..4 {
            events.push(json!({"id": format!("p{u}-{k}"), "kind": "play",
                "media": format!("ext:m{}", side + (u + k) % 6), "user": format!("ext:u{u}")}));
        }
    }
    let r = api
        .post("/v1/events", Some(&owner), json!({ "events": events }))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    (tenant, owner)
}

async fn train(api: &TestApi, tenant: TenantId) -> u32 {
    let mut config = TrainConfig::default();
    config.als.factors = 2;
    train_tenant(&api.platform, tenant, &config, Utc::now())
        .await
        .unwrap()
        .0
        .version
}

#[tokio::test]
async fn every_kind_is_served_with_a_reason_and_without_what_the_user_played() {
    let api = TestApi::start().await;
    let (tenant, owner) = library(&api, "reco").await;
    assert_eq!(train(&api, tenant).await, 1);

    // u0 played Video 0–3: the two unplayed rock videos lead the personal list.
    let r = api
        .get("/v1/recommendations?user=ext:u0&limit=2", &owner)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let mut got = titles(&r.body);
    got.sort_unstable();
    assert_eq!(got, ["Video 4", "Video 5"], "{}", r.body);
    assert_eq!(r.body["model"]["version"], 1);
    for item in r.body["items"].as_array().unwrap() {
        assert!(!item["explain"].as_str().unwrap().is_empty(), "{item}");
        assert!(item["reason"]["source"].is_string(), "{item}");
    }

    let played = ["Video 0", "Video 1", "Video 2", "Video 3"];
    for kind in ["personal", "collab", "content", "trending"] {
        let r = api
            .get(
                &format!("/v1/recommendations?user=ext:u0&kind={kind}&limit=20"),
                &owner,
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{kind}: {}", r.body);
        let got = titles(&r.body);
        assert!(!got.is_empty(), "{kind}");
        assert!(
            got.iter().all(|t| !played.contains(&t.as_str())),
            "{kind}: {got:?}"
        );
    }
    let r = api
        .get("/v1/recommendations?kind=trending&window=week", &owner)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["items"].as_array().unwrap().len(), 12, "{}", r.body);

    let r = api.get("/v1/media/ext:m3/similar?limit=3", &owner).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let similar = titles(&r.body);
    assert_eq!(similar.len(), 3);
    assert!(
        similar
            .iter()
            .all(|t| ["Video 0", "Video 1", "Video 2", "Video 4", "Video 5"].contains(&t.as_str())),
        "rock stays rock: {similar:?}"
    );
}

#[tokio::test]
async fn a_profile_without_history_gets_trending_videos() {
    let api = TestApi::start().await;
    let (tenant, owner) = library(&api, "reco").await;
    let r = api
        .post(
            "/v1/profiles",
            Some(&owner),
            json!({"external_id": "newcomer"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    train(&api, tenant).await;
    let r = api
        .get("/v1/recommendations?user=ext:newcomer", &owner)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        r.body["items"][0]["reason"]["source"], "trending",
        "{}",
        r.body
    );
}

#[tokio::test]
async fn an_empty_tenant_gets_empty_lists_not_errors() {
    let api = TestApi::start().await;
    let (tenant, owner) = api.tenant_with_owner("empty").await;
    let r = api
        .post("/v1/profiles", Some(&owner), json!({"external_id": "u1"}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    // Before any training, and after one over nothing.
    for trained in [false, true] {
        if trained {
            train(&api, tenant).await;
        }
        for path in [
            "/v1/recommendations?user=ext:u1",
            "/v1/recommendations?kind=trending",
        ] {
            let r = api.get(path, &owner).await;
            assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.body);
            assert_eq!(r.body["items"], json!([]), "{path}");
        }
    }
}

#[tokio::test]
async fn bad_parameters_are_400s_and_unknown_users_and_media_404s() {
    let api = TestApi::start().await;
    let (tenant, owner) = library(&api, "reco").await;
    train(&api, tenant).await;
    for query in [
        "user=ext:u0&limit=0",
        "user=ext:u0&limit=101",
        "user=ext:u0&limit=ten",
        "user=ext:u0&kind=popular",
        "kind=trending&window=month",
        "kind=personal",
    ] {
        let r = api
            .get(&format!("/v1/recommendations?{query}"), &owner)
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{query}: {}", r.body);
        assert!(
            r.body["detail"].as_str().is_some_and(|d| !d.is_empty()),
            "{query}"
        );
    }
    let r = api.get("/v1/media/ext:m1/similar?limit=500", &owner).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);

    for user in ["ext:nobody", "01J00000000000000000000000", "not-an-id"] {
        let r = api
            .get(&format!("/v1/recommendations?user={user}"), &owner)
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{user}: {}", r.body);
    }
    let r = api.get("/v1/media/ext:ghost/similar", &owner).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);

    // Another tenant's profile and media are unknown here.
    let (other, other_owner) = library(&api, "other").await;
    train(&api, other).await;
    let theirs = api.get("/v1/profiles/ext:u0", &other_owner).await;
    let their_profile = theirs.body["id"].as_str().unwrap().to_owned();
    let r = api
        .get(&format!("/v1/recommendations?user={their_profile}"), &owner)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    let their_media = api.get("/v1/media/ext:m1", &other_owner).await.body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = api
        .get(&format!("/v1/media/{their_media}/similar"), &owner)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
}

#[tokio::test]
async fn a_newly_promoted_model_is_served_without_a_restart() {
    let api = TestApi::start().await;
    let (tenant, owner) = library(&api, "reco").await;
    train(&api, tenant).await;
    let r = api.get("/v1/recommendations?user=ext:u0", &owner).await;
    assert_eq!(r.body["model"]["version"], 1);
    // More plays, a new training: the next request is served by version 2.
    let r = api
        .post(
            "/v1/events",
            Some(&owner),
            json!({"events": [
            {"id": "late-1", "kind": "like", "media": "ext:m4", "user": "ext:u0"}]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(train(&api, tenant).await, 2);
    let r = api.get("/v1/recommendations?user=ext:u0", &owner).await;
    assert_eq!(r.body["model"]["version"], 2, "{}", r.body);
    assert!(
        !titles(&r.body).contains(&"Video 4".to_owned()),
        "now played: {}",
        r.body
    );
}

#[tokio::test]
async fn plays_since_the_last_training_count_at_once() {
    let api = TestApi::start().await;
    let (tenant, owner) = library(&api, "reco").await;
    train(&api, tenant).await;
    let r = api
        .get("/v1/recommendations?user=ext:u0&limit=2", &owner)
        .await;
    assert!(
        titles(&r.body).contains(&"Video 4".to_owned()),
        "{}",
        r.body
    );

    // u0 plays Video 4 now: the next list, from the same model, no longer offers it.
    let r = api
        .post(
            "/v1/events",
            Some(&owner),
            json!({"events": [
            {"id": "now-1", "kind": "play", "media": "ext:m4", "user": "ext:u0"}]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = api
        .get("/v1/recommendations?user=ext:u0&limit=20", &owner)
        .await;
    assert_eq!(r.body["model"]["version"], 1);
    assert!(
        !titles(&r.body).contains(&"Video 4".to_owned()),
        "{}",
        r.body
    );

    // A profile made after the training, with three rock plays, is served rock at once.
    let r = api
        .post("/v1/profiles", Some(&owner), json!({"external_id": "late"}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let plays: Vec<Value> = (0..3)
        .map(|i| json!({"id": format!("late-{i}"), "kind": "like", "media": format!("ext:m{i}"), "user": "ext:late"}))
        .collect();
    let r = api
        .post("/v1/events", Some(&owner), json!({ "events": plays }))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = api
        .get(
            "/v1/recommendations?user=ext:late&kind=collab&limit=3",
            &owner,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let got = titles(&r.body);
    assert!(
        got.iter()
            .all(|t| ["Video 3", "Video 4", "Video 5"].contains(&t.as_str())),
        "{}",
        r.body
    );
}
