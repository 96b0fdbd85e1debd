//! The audit log through the API: security actions are recorded in a per-tenant hash chain,
//! listed newest first, and `GET /v1/audit/verify` finds a row edited in the store.

mod support;

use axum::http::{Method, StatusCode};
use mvidarr_auth::Role;
use mvidarr_core::keys::table as keys;
use mvidarr_core::ports::{Condition, Platform, Query, Table};
use serde_json::{Value, json};
use support::{TestApi, access};

fn actions(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["entry"]["action"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn security_actions_are_chained_listed_and_verified() {
    let api = TestApi::start().await;
    let (tenant, owner) = api.tenant_with_owner("acme").await;
    let ed = api.add_user(&owner, "ed@example.com", Role::Editor).await;
    api.post(
        "/v1/auth/login",
        None,
        json!({"email": "ed@example.com", "password": "wrong password for ed"}),
    )
    .await;
    api.login("ed@example.com").await;
    let key = api
        .post(
            "/v1/api-keys",
            Some(&owner),
            json!({"name": "ci", "scopes": ["media:read"]}),
        )
        .await;
    let key_id = key.body["id"].as_str().unwrap().to_owned();
    api.delete(&format!("/v1/api-keys/{key_id}"), &owner).await;
    api.call(
        Method::PATCH,
        &format!("/v1/users/{ed}"),
        Some(&owner),
        Some(json!({"role": "viewer"})),
    )
    .await;
    api.delete(&format!("/v1/users/{ed}"), &owner).await;

    let page = api.get("/v1/audit?limit=100", &owner).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let listed = actions(&page.body);
    for expected in [
        "user.erased",
        "role.changed",
        "apikey.revoked",
        "apikey.created",
        "login.succeeded",
        "login.failed",
        "user.invited",
    ] {
        assert!(
            listed.contains(&expected.to_owned()),
            "{expected} missing from {listed:?}"
        );
    }
    assert_eq!(listed[0], "user.erased", "newest first: {listed:?}");
    // Actors are ids; the invited email was personal data, erased with the user.
    let text = page.body.to_string();
    assert!(!text.contains("ed@example.com"), "{text}");
    let role_change = page.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["entry"]["action"] == "role.changed")
        .unwrap();
    assert_eq!(role_change["entry"]["details"]["from"], "editor");
    assert_eq!(role_change["entry"]["target"], format!("user:{ed}"));

    let ok = api.get("/v1/audit/verify", &owner).await;
    assert_eq!(ok.status, StatusCode::OK);
    assert_eq!(ok.body["ok"], true, "{}", ok.body);
    let entries = ok.body["entries"].as_u64().unwrap();
    assert!(entries >= 8, "{}", ok.body);

    // Someone with write access to the table edits one entry: verify names it.
    let table = api.platform.table();
    let stored = table
        .query(
            Query::partition(keys::audit_pk(tenant))
                .prefix("e/")
                .limit(1000),
        )
        .await
        .unwrap();
    let mut victim = stored.items[2].clone();
    let seq = victim.data["seq"].as_u64().unwrap();
    victim.data["actor"] = json!("user:01J0000000000000000000000Z");
    table.put(victim, Condition::Always).await.unwrap();
    let broken = api.get("/v1/audit/verify", &owner).await;
    assert_eq!(broken.body["ok"], false, "{}", broken.body);
    assert_eq!(broken.body["break_at"]["seq"], seq, "{}", broken.body);
    assert_eq!(broken.body["break_at"]["kind"], "edited");

    // Viewers and editors may not read the log.
    api.add_user(&owner, "v@example.com", Role::Viewer).await;
    let viewer = api.login("v@example.com").await;
    assert_eq!(
        api.get("/v1/audit", access(&viewer)).await.status,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn requests_are_rate_limited_per_caller_with_headers() {
    let api = TestApi::start().await;
    let (_, owner) = api.tenant_with_owner("acme").await;
    let settings = api.get("/v1/settings", &owner).await;
    assert_eq!(settings.body["plan"], "free", "{}", settings.body);
    let key = api
        .post(
            "/v1/api-keys",
            Some(&owner),
            json!({"name": "burst", "scopes": ["media:read"]}),
        )
        .await
        .body["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let first = api.get("/v1/media", &key).await;
    let limit: u32 = first.headers["ratelimit-limit"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(first.headers.get("ratelimit-remaining").is_some());
    assert!(first.headers.get("ratelimit-reset").is_some());
    let mut refused = None;
    for _ in 0..limit + 5 {
        let r = api.get("/v1/media", &key).await;
        if r.status == StatusCode::TOO_MANY_REQUESTS {
            refused = Some(r);
            break;
        }
    }
    let refused = refused.expect("no 429 after a burst past the limit");
    let retry: u32 = refused.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry >= 1);
    assert_eq!(refused.headers["ratelimit-remaining"], "0");
    assert_eq!(refused.headers["content-type"], "application/problem+json");
    // Another caller of the same tenant has a bucket of its own.
    assert_eq!(api.get("/v1/media", &owner).await.status, StatusCode::OK);
    // The plan is the operator's to set, not the tenant's.
    let lift = api
        .call(
            Method::PUT,
            "/v1/settings/plan",
            Some(&owner),
            Some(json!({"plan": "enterprise"})),
        )
        .await;
    assert!(
        lift.status == StatusCode::NOT_FOUND || lift.status == StatusCode::METHOD_NOT_ALLOWED,
        "{}",
        lift.status
    );
    let bad = api
        .call(
            Method::PUT,
            "/v1/settings/retention",
            Some(&owner),
            Some(json!({"events_days": 0})),
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let good = api
        .call(
            Method::PUT,
            "/v1/settings/retention",
            Some(&owner),
            Some(json!({"events_days": 30})),
        )
        .await;
    assert_eq!(good.body["retention"]["events_days"], 30, "{}", good.body);
}

#[tokio::test]
async fn upload_starts_are_limited_per_tenant_by_plan() {
    let api = TestApi::start().await;
    let (_, owner) = api.tenant_with_owner("acme").await;
    let upload = json!({"filename": "a.mp4", "content_type": "video/mp4", "size": 1000});
    let mut started = 0;
    let refused = loop {
        let r = api.post("/v1/uploads", Some(&owner), upload.clone()).await;
        if r.status != StatusCode::CREATED {
            break r;
        }
        started += 1;
        assert!(started < 100, "no limit on upload starts");
    };
    assert_eq!(
        refused.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        refused.body
    );
    assert!(refused.headers.get("retry-after").is_some());
    // The free plan's burst.
    assert_eq!(started, 10);
}
