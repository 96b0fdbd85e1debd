//! The review workflow through the real router: the queue in priority order, bulk decisions
//! reported one by one, the vocabulary (synonyms, thresholds that re-place proposals, stale
//! writes refused), the tag list with counts, search by tag and branch, and tag models listed,
//! promoted and rolled back.

mod support;

use axum::http::{Method, StatusCode};
use chrono::Utc;
use mvidarr_auth::Role;
use mvidarr_core::ids::{MediaId, TenantId};
use mvidarr_core::ports::Platform;
use mvidarr_core::repo::{MediaRepo, ModelFile, ModelRegistry, TagRepo};
use mvidarr_core::tag::{Tag, TagName, TagSource, TagStatus};
use mvidarr_tests::reco;
use serde_json::{Value, json};
use support::{TestApi, access};

fn proposal(name: &str, confidence: f64, status: TagStatus) -> Tag {
    Tag {
        name: TagName::parse(name).unwrap(),
        confidence,
        source: TagSource::Model {
            name: format!("tags/{name}"),
            version: "1".into(),
        },
        status,
        evidence: json!({"from": "test"}),
        decisions: Vec::new(),
    }
}

/// A tenant with an owner and `n` catalogue videos.
async fn tenant(api: &TestApi, n: usize) -> (TenantId, String, Vec<MediaId>) {
    let (tenant, owner) = api.tenant_with_owner("review").await;
    let media = MediaRepo::new(api.platform.table())
        .import_catalogue(tenant, reco::catalogue(n), Utc::now())
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.id)
        .collect();
    (tenant, owner, media)
}

async fn propose(api: &TestApi, tenant: TenantId, media: MediaId, tag: Tag, impact: f64) {
    TagRepo::new(api.platform.table())
        .propose(tenant, media, &tag, impact)
        .await
        .unwrap();
}

async fn send(api: &TestApi, method: Method, path: &str, bearer: &str, body: Value) -> Value {
    let r = api.call(method, path, Some(bearer), Some(body)).await;
    assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.body);
    r.body
}

fn media_of(items: &Value) -> Vec<String> {
    items
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["media"].as_str().or(i["id"].as_str()).unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn the_queue_puts_the_most_useful_decisions_first_and_bulk_decisions_settle_each() {
    let api = TestApi::start().await;
    let (tenant, owner, media) = tenant(&api, 4).await;
    // Unsure and popular first; sure or obscure later.
    propose(
        &api,
        tenant,
        media[0],
        proposal("live", 0.8, TagStatus::Review),
        1.0,
    )
    .await;
    propose(
        &api,
        tenant,
        media[1],
        proposal("live", 0.5, TagStatus::Review),
        1.0,
    )
    .await;
    propose(
        &api,
        tenant,
        media[2],
        proposal("live", 0.55, TagStatus::Review),
        3.0,
    )
    .await;
    propose(
        &api,
        tenant,
        media[3],
        proposal("animation", 0.45, TagStatus::Review),
        0.5,
    )
    .await;

    let queue = api.get("/v1/review?limit=10", &owner).await;
    assert_eq!(queue.status, StatusCode::OK, "{}", queue.body);
    let order = media_of(&queue.body["items"]);
    let expected: Vec<String> = [2, 1, 3, 0].iter().map(|&i| media[i].to_string()).collect();
    assert_eq!(order, expected);
    assert_eq!(queue.body["items"][1]["uncertainty"], 1.0);
    let page = api.get("/v1/review?limit=3", &owner).await;
    let rest = api
        .get(
            &format!(
                "/v1/review?limit=3&cursor={}",
                page.body["next_cursor"].as_str().unwrap()
            ),
            &owner,
        )
        .await;
    assert_eq!(media_of(&rest.body["items"]), vec![media[0].to_string()]);

    // One bulk request: a win, a stale version, an unknown tag, another tenant's media and a
    // bad name are each reported; the rest stand.
    let (_, other_owner, other_media) = {
        let (t, o) = api.tenant_with_owner("someone-else").await;
        let m = MediaRepo::new(api.platform.table())
            .import_catalogue(t, reco::catalogue(1), Utc::now())
            .await
            .unwrap();
        (t, o, m[0].id)
    };
    let _ = other_owner;
    let seen = queue.body["items"][0]["tag"]["version"].as_u64().unwrap();
    let body = send(
        &api,
        Method::POST,
        "/v1/review/decisions",
        &owner,
        json!({"decisions": [
            {"media": media[2].to_string(), "tag": "live", "accept": true, "version": seen},
            {"media": media[1].to_string(), "tag": "live", "accept": false, "version": seen + 5},
            {"media": media[1].to_string(), "tag": "jazz", "accept": true},
            {"media": other_media.to_string(), "tag": "live", "accept": true},
            {"media": media[3].to_string(), "tag": "Not A Tag", "accept": true},
            {"media": media[3].to_string(), "tag": "animation", "accept": false},
        ]}),
    )
    .await;
    let statuses: Vec<u64> = body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses, [200, 409, 404, 404, 400, 200], "{body}");
    assert_eq!(
        (body["decided"].as_u64(), body["failed"].as_u64()),
        (Some(2), Some(4))
    );
    assert_eq!(body["results"][1]["current"]["status"], "review");
    // Decided tags leave the queue.
    let queue = api.get("/v1/review", &owner).await;
    let expected: Vec<String> = [1, 0].iter().map(|&i| media[i].to_string()).collect();
    assert_eq!(media_of(&queue.body["items"]), expected);

    // Too many, or none, is refused as a whole.
    let r = api
        .call(
            Method::POST,
            "/v1/review/decisions",
            Some(&owner),
            Some(json!({"decisions": []})),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let many: Vec<Value> = (0..101)
        .map(|_| json!({"media": media[0].to_string(), "tag": "live", "accept": true}))
        .collect();
    let r = api
        .call(
            Method::POST,
            "/v1/review/decisions",
            Some(&owner),
            Some(json!({ "decisions": many })),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);

    // A viewer may not review.
    api.add_user(&owner, "viewer@review.example.com", Role::Viewer)
        .await;
    let viewer = access(&api.login("viewer@review.example.com").await).to_owned();
    assert_eq!(
        api.get("/v1/review", &viewer).await.status,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn the_vocabulary_renames_synonyms_and_its_thresholds_move_proposals() {
    let api = TestApi::start().await;
    let (tenant, owner, media) = tenant(&api, 3).await;
    propose(
        &api,
        tenant,
        media[0],
        proposal("explicit", 0.95, TagStatus::Applied),
        1.0,
    )
    .await;
    propose(
        &api,
        tenant,
        media[1],
        proposal("explicit", 0.6, TagStatus::Review),
        1.0,
    )
    .await;
    propose(
        &api,
        tenant,
        media[2],
        proposal("explicit", 0.3, TagStatus::Hidden),
        1.0,
    )
    .await;

    // A tag stored under a name that later becomes a synonym.
    propose(
        &api,
        tenant,
        media[0],
        proposal("nsfw", 0.5, TagStatus::Review),
        1.0,
    )
    .await;
    let vocabulary = api.get("/v1/tags/vocabulary", &owner).await;
    assert_eq!(vocabulary.body["version"], 0);
    // Stricter for explicit content: everything below 0.97 needs a person, and review starts
    // at 0.2.
    let body = send(
        &api,
        Method::PUT,
        "/v1/tags/vocabulary",
        &owner,
        json!({"version": 0, "tags": {"explicit": {
            "description": "needs an age gate",
            "synonyms": ["nsfw"],
            "thresholds": {"accept": 0.97, "review": 0.2}
        }}}),
    )
    .await;
    assert_eq!(
        (body["version"].as_u64(), body["proposals_moved"].as_u64()),
        (Some(1), Some(2))
    );
    let statuses = |tags: Vec<Tag>| {
        tags.into_iter()
            .filter(|t| t.name.as_str() == "explicit")
            .map(|t| t.status)
            .collect::<Vec<_>>()
    };
    let repo = TagRepo::new(api.platform.table());
    for (m, expected) in media
        .iter()
        .zip([TagStatus::Review, TagStatus::Review, TagStatus::Review])
    {
        assert_eq!(statuses(repo.list(tenant, *m).await.unwrap()), [expected]);
    }

    // Deciding by the old name decides the tag stored under it, never the other one.
    let r = api
        .call(
            Method::POST,
            &format!("/v1/media/{}/tags/nsfw/reject", media[0]),
            Some(&owner),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        (r.body["name"].as_str(), r.body["status"].as_str()),
        (Some("nsfw"), Some("rejected"))
    );
    // A writer who read version 0 is refused with the current vocabulary.
    let r = api
        .call(
            Method::PUT,
            "/v1/tags/vocabulary",
            Some(&owner),
            Some(json!({"version": 0, "tags": {}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert_eq!(r.body["current"]["version"], 1);
    // Clashing names and disordered thresholds are 400s.
    for bad in [
        json!({"version": 1, "tags": {"a": {"synonyms": ["b"]}, "b": {}}}),
        json!({"version": 1, "default_thresholds": {"accept": 0.3, "review": 0.5}}),
        json!({"version": 1, "tags": {"Bad Name": {}}}),
    ] {
        let r = api
            .call(Method::PUT, "/v1/tags/vocabulary", Some(&owner), Some(bad))
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    }

    // A synonym names its tag: tagging by hand with `nsfw` accepts `explicit`.
    let r = api
        .call(
            Method::POST,
            &format!("/v1/media/{}/tags", media[1]),
            Some(&owner),
            Some(json!({"name": "nsfw"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        (r.body["name"].as_str(), r.body["status"].as_str()),
        (Some("explicit"), Some("accepted"))
    );

    // The list: counts by status, thresholds, definition.
    let tags = api.get("/v1/tags", &owner).await;
    let explicit = tags.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "explicit")
        .unwrap()
        .clone();
    assert_eq!(
        explicit["counts"],
        json!({"applied": 0, "accepted": 1, "review": 2, "hidden": 0, "rejected": 0})
    );
    assert_eq!(
        explicit["thresholds"],
        json!({"accept": 0.97, "review": 0.2})
    );
    assert_eq!(explicit["synonyms"], json!(["nsfw"]));

    // Only those who manage tags change the vocabulary.
    api.add_user(&owner, "editor@vocab.example.com", Role::Editor)
        .await;
    let editor = access(&api.login("editor@vocab.example.com").await).to_owned();
    let r = api
        .call(
            Method::PUT,
            "/v1/tags/vocabulary",
            Some(&editor),
            Some(json!({"version": 1})),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn search_by_tag_finds_the_branch_once_per_media() {
    let api = TestApi::start().await;
    let (tenant, owner, media) = tenant(&api, 4).await;
    propose(
        &api,
        tenant,
        media[0],
        proposal("genre/rock", 0.95, TagStatus::Applied),
        1.0,
    )
    .await;
    propose(
        &api,
        tenant,
        media[0],
        proposal("genre/rock/punk", 0.95, TagStatus::Applied),
        1.0,
    )
    .await;
    propose(
        &api,
        tenant,
        media[1],
        proposal("genre/rock/punk", 0.99, TagStatus::Applied),
        1.0,
    )
    .await;
    propose(
        &api,
        tenant,
        media[2],
        proposal("genre/rock", 0.5, TagStatus::Review),
        1.0,
    )
    .await;
    propose(
        &api,
        tenant,
        media[3],
        proposal("genre/pop", 0.99, TagStatus::Applied),
        1.0,
    )
    .await;

    let r = api.get("/v1/media?tag=genre/rock", &owner).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let mut found = media_of(&r.body["items"]);
    found.sort();
    let mut expected = vec![media[0].to_string(), media[1].to_string()];
    expected.sort();
    assert_eq!(found, expected);
    let r = api.get("/v1/media?tag=genre%2Frock%2Fpunk", &owner).await;
    assert_eq!(r.body["items"].as_array().unwrap().len(), 2);
    let r = api.get("/v1/media?tag=genre/jazz", &owner).await;
    assert_eq!(r.body["items"], json!([]));
    let r = api
        .get("/v1/media?tag=genre/rock&status=indexed", &owner)
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = api.get("/v1/media?tag=Genre", &owner).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn tag_models_are_listed_with_metrics_and_can_be_rolled_back() {
    let api = TestApi::start().await;
    let (tenant, owner, _) = tenant(&api, 1).await;
    let registry = ModelRegistry::new(api.platform.table());
    for loss in [0.4, 0.3] {
        let reservation = registry.next_version(tenant, "tags/live").await.unwrap();
        let version = registry
            .register(
                tenant,
                "tags/live",
                reservation,
                ModelFile {
                    sha256: "cd".repeat(32),
                    size: 10,
                    metrics: json!({"held_out": {"log_loss": loss}}),
                },
                Utc::now(),
            )
            .await
            .unwrap();
        registry
            .promote(tenant, "tags/live", version.version, Utc::now())
            .await
            .unwrap();
    }
    let models = api.get("/v1/tags/models", &owner).await;
    assert_eq!(models.status, StatusCode::OK, "{}", models.body);
    let live = &models.body["items"][0];
    assert_eq!(
        (
            live["tag"].as_str(),
            live["current"].as_u64(),
            live["latest"].as_u64()
        ),
        (Some("live"), Some(2), Some(2))
    );
    assert_eq!(live["current_metrics"]["held_out"]["log_loss"], 0.3);
    let live = api.get("/v1/tags/models?tag=live", &owner).await.body;
    assert_eq!(live["versions"][0]["metrics"]["held_out"]["log_loss"], 0.4);
    assert_eq!(live["versions"][1]["promoted"], true);
    let none = api.get("/v1/tags/models?tag=jazz", &owner).await;
    assert_eq!(none.status, StatusCode::NOT_FOUND);

    let r = send(
        &api,
        Method::POST,
        "/v1/tags/models/live/promote",
        &owner,
        json!({"version": 1}),
    )
    .await;
    assert_eq!(
        (r["current"].as_u64(), r["previous"].as_u64()),
        (Some(1), Some(2))
    );
    assert_eq!(
        registry.current_version(tenant, "tags/live").await.unwrap(),
        Some(1)
    );
    let r = api
        .call(
            Method::POST,
            "/v1/tags/models/live/promote",
            Some(&owner),
            Some(json!({"version": 9})),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let audit = api.get("/v1/audit", &owner).await;
    assert!(
        audit.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["entry"]["action"] == "tag.model_promoted"),
        "{}",
        audit.body
    );
    let tags = api.get("/v1/tags", &owner).await;
    assert_eq!(
        tags.body["items"][0]["model"],
        json!({"latest": 2, "current": 1})
    );
}
