//! People's decisions on tags through the real router: the tags of a media with their
//! versions; accept and reject with who and when kept on the tag and in the audit log; two
//! reviewers deciding on the same version (one wins, the other gets 409 with the current
//! state); tagging by hand; bad tag names; the permission.

mod support;

use axum::http::{Method, StatusCode};
use chrono::Utc;
use mvidarr_auth::Role;
use mvidarr_core::ids::{MediaId, TenantId};
use mvidarr_core::ports::Platform;
use mvidarr_core::repo::{MediaRepo, TagRepo};
use mvidarr_core::tag::{Tag, TagName, TagSource, TagStatus};
use mvidarr_tests::reco;
use serde_json::{Value, json};
use support::{TestApi, access};

/// A tenant with an owner, two catalogue videos, and a model's proposal `live` on the first.
async fn tenant(api: &TestApi) -> (TenantId, String, MediaId) {
    let (tenant, owner) = api.tenant_with_owner("tags").await;
    let media: Vec<MediaId> = MediaRepo::new(api.platform.table())
        .import_catalogue(tenant, reco::catalogue(2), Utc::now())
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.id)
        .collect();
    let proposal = Tag {
        name: TagName::parse("live").unwrap(),
        confidence: 0.71,
        source: TagSource::Model {
            name: "live-vs-studio".into(),
            version: "3".into(),
        },
        status: TagStatus::Review,
        evidence: json!({"ranges": [[12.0, 30.5]]}),
        decisions: Vec::new(),
    };
    TagRepo::new(api.platform.table())
        .propose(tenant, media[0], &proposal, 1.0)
        .await
        .unwrap();
    (tenant, owner, media[0])
}

async fn post(api: &TestApi, path: &str, bearer: &str, body: Option<Value>) -> support::Reply {
    api.call(Method::POST, path, Some(bearer), body).await
}

#[tokio::test]
async fn two_reviewers_on_one_version_one_wins_and_the_other_sees_the_current_state() {
    let api = TestApi::start().await;
    let (_, owner, media) = tenant(&api).await;
    api.add_user(&owner, "editor@tags.example.com", Role::Editor)
        .await;
    let editor = access(&api.login("editor@tags.example.com").await).to_owned();

    let r = api.get(&format!("/v1/media/{media}/tags"), &owner).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let tag = &r.body["tags"][0];
    assert_eq!(
        (tag["name"].as_str(), tag["status"].as_str()),
        (Some("live"), Some("review"))
    );
    let seen = tag["version"].as_u64().unwrap();

    // Both saw the proposal; the editor decides first.
    let path = format!("/v1/media/{media}/tags/live/accept");
    let won = post(&api, &path, &editor, Some(json!({"version": seen}))).await;
    assert_eq!(won.status, StatusCode::OK, "{}", won.body);
    assert_eq!(won.body["status"], "accepted");
    assert!(
        won.body["decisions"][0]["by"]
            .as_str()
            .unwrap()
            .starts_with("user:")
    );
    let path = format!("/v1/media/{media}/tags/live/reject");
    let lost = post(&api, &path, &owner, Some(json!({"version": seen}))).await;
    assert_eq!(lost.status, StatusCode::CONFLICT, "{}", lost.body);
    assert_eq!(lost.body["current"]["status"], "accepted");
    assert_eq!(lost.body["current"]["version"], won.body["version"]);

    // Deciding again on the current state is a new decision; both are kept.
    let current = lost.body["current"]["version"].clone();
    let r = post(&api, &path, &owner, Some(json!({"version": current}))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["status"], "rejected");
    assert_eq!(r.body["decisions"].as_array().unwrap().len(), 2);
    assert_eq!(
        r.body["source"]["kind"], "model",
        "the proposal's source stays"
    );

    // Every decision is in the audit log.
    let audit = api.get("/v1/audit", &owner).await;
    let decided = audit.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["entry"]["action"] == "tag.decided")
        .count();
    assert_eq!(decided, 2, "{}", audit.body);
}

#[tokio::test]
async fn tagging_by_hand_and_deciding_on_a_hierarchical_tag() {
    let api = TestApi::start().await;
    let (_, owner, media) = tenant(&api).await;
    let path = format!("/v1/media/{media}/tags");
    let r = post(
        &api,
        &path,
        &owner,
        Some(json!({"name": "genre/rock/punk"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(
        (r.body["status"].as_str(), r.body["confidence"].as_f64()),
        (Some("accepted"), Some(1.0))
    );
    assert_eq!(r.body["source"]["kind"], "person");
    // A person may say a media does not have a tag: a negative example for its model.
    let r = post(
        &api,
        &path,
        &owner,
        Some(json!({"name": "animation", "accept": false})),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(
        (r.body["status"].as_str(), r.body["confidence"].as_f64()),
        (Some("rejected"), Some(0.0))
    );
    // Adding the proposal by hand accepts it.
    let r = post(&api, &path, &owner, Some(json!({"name": "live"}))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["status"], "accepted");

    let r = post(
        &api,
        &format!("{path}/genre%2Frock%2Fpunk/reject"),
        &owner,
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["status"], "rejected");
    let r = post(&api, &format!("{path}/jazz/accept"), &owner, None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
}

#[tokio::test]
async fn bad_tag_names_are_400s_and_reviewing_needs_the_permission() {
    let api = TestApi::start().await;
    let (_, owner, media) = tenant(&api).await;
    let path = format!("/v1/media/{media}/tags");
    for name in [
        String::new(),
        "x".repeat(200),
        "li\u{7}ve".into(),
        "Live".into(),
        "a//b".into(),
    ] {
        let r = post(&api, &path, &owner, Some(json!({ "name": name }))).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{name:?}: {}", r.body);
        assert!(
            r.body["detail"]
                .as_str()
                .unwrap()
                .contains("invalid tag name"),
            "{}",
            r.body
        );
    }
    let r = post(&api, &format!("{path}/LIVE/accept"), &owner, None).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);

    api.add_user(&owner, "viewer@tags.example.com", Role::Viewer)
        .await;
    let viewer = access(&api.login("viewer@tags.example.com").await).to_owned();
    let r = post(&api, &format!("{path}/live/accept"), &viewer, None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    let r = api.get(&path, &viewer).await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "viewers may read tags: {}",
        r.body
    );
}
