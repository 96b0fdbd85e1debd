//! GDPR through the API: a user's export holds their data and no secrets; erasure removes
//! the personal data and every credential at once.

mod support;

use axum::http::{Method, StatusCode};
use mvidarr_auth::Role;
use serde_json::json;
use support::{PASSWORD, TestApi, access, refresh};

#[tokio::test]
async fn the_export_holds_the_users_data_and_no_secret() {
    let api = TestApi::start().await;
    let (_, owner) = api.tenant_with_owner("acme").await;
    api.add_user(&owner, "Ada@Example.com", Role::Admin).await;
    let tokens = api.login("ada@example.com").await;
    let key = api
        .post(
            "/v1/api-keys",
            Some(access(&tokens)),
            json!({"name": "ada's script", "scopes": ["media:read"]}),
        )
        .await;
    assert_eq!(key.status, StatusCode::CREATED);

    let export = api
        .call(Method::POST, "/v1/me/export", Some(access(&tokens)), None)
        .await;
    assert_eq!(export.status, StatusCode::OK, "{}", export.body);
    assert!(
        export.headers["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment; filename=\"mvidarr-export-")
    );
    let body = &export.body;
    assert_eq!(body["profile"]["email"], "ada@example.com");
    assert_eq!(body["profile"]["role"], "admin");
    assert_eq!(body["tenant"]["tenant_name"], "acme");
    assert!(
        body.get("memberships").is_none(),
        "other tenants are other accounts"
    );
    assert_eq!(body["sessions"].as_array().unwrap().len(), 1);
    assert_eq!(body["api_keys_created"][0]["name"], "ada's script");
    assert_eq!(body["two_factor"]["totp_enabled"], false);
    let text = body.to_string();
    for secret in [
        access(&tokens),
        refresh(&tokens),
        key.body["key"].as_str().unwrap(),
        PASSWORD,
    ] {
        assert!(!text.contains(secret), "the export shows a secret");
    }
    for field in ["secret_sha256", "prior_sha256", "phc", "argon2"] {
        assert!(!text.contains(field), "the export shows {field}");
    }
    // An API key has no personal data.
    let by_key = api
        .call(Method::POST, "/v1/me/export", Some(&api.key), None)
        .await;
    assert_eq!(by_key.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn erasure_removes_personal_data_and_every_credential_at_once() {
    let api = TestApi::start().await;
    let (_, owner) = api.tenant_with_owner("acme").await;
    let ada = api.add_user(&owner, "ada@example.com", Role::Editor).await;
    let tokens = api.login("ada@example.com").await;
    let key = api
        .post(
            "/v1/api-keys",
            Some(&owner),
            json!({"name": "owner's", "scopes": ["media:read"]}),
        )
        .await;
    let owner_key = key.body["key"].as_str().unwrap().to_owned();

    let erase = api.delete(&format!("/v1/users/{ada}"), &owner).await;
    assert_eq!(erase.status, StatusCode::NO_CONTENT, "{}", erase.body);
    // Her tokens, refresh token and password are dead at once.
    assert_eq!(
        api.get("/v1/me", access(&tokens)).await.status,
        StatusCode::UNAUTHORIZED
    );
    let r = api.use_refresh_token(refresh(&tokens)).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = api
        .post(
            "/v1/auth/login",
            None,
            json!({"email": "ada@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    // Her email appears nowhere in the user list, and she can be invited afresh.
    let users = api.get("/v1/users", &owner).await.body.to_string();
    assert!(!users.contains("ada@example.com") && !users.contains(&ada));
    api.add_user(&owner, "ada@example.com", Role::Viewer).await;
    // Erasing twice is not found; the owner's own key is untouched.
    let again = api.delete(&format!("/v1/users/{ada}"), &owner).await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    assert_eq!(
        api.get("/v1/media", &owner_key).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn erasure_keeps_an_owner_and_respects_rank() {
    let api = TestApi::start().await;
    let (_, owner) = api.tenant_with_owner("acme").await;
    let me = api.get("/v1/me", &owner).await.body["user"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = api.delete(&format!("/v1/users/{me}"), &owner).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "the last owner was erased");
    api.add_user(&owner, "admin@example.com", Role::Admin).await;
    let admin = api.login("admin@example.com").await;
    let r = api.delete(&format!("/v1/users/{me}"), access(&admin)).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "an admin erased an owner");
}

/// Every analytics event in the tenant's files (the embedded blob store's directory).
fn stored_events(api: &TestApi) -> Vec<mvidarr_core::analytics::AnalyticsEvent> {
    fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).into_iter().flatten() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "parquet") {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(
        &api.platform
            .local_blobs()
            .root()
            .join(mvidarr_core::keys::blob::ANALYTICS_EVENTS_PREFIX),
        &mut files,
    );
    files
        .into_iter()
        .flat_map(|f| mvidarr_analytics::parquet::decode(std::fs::read(f).unwrap().into()).unwrap())
        .collect()
}

#[tokio::test]
async fn an_erased_users_events_and_their_keys_are_pseudonymised_by_the_next_tick() {
    let api = TestApi::start().await;
    let (tenant, owner) = api.tenant_with_owner("acme").await;
    let ada = api.add_user(&owner, "ada@example.com", Role::Admin).await;
    let tokens = api.login("ada@example.com").await;
    let made = api
        .post(
            "/v1/api-keys",
            Some(access(&tokens)),
            json!({"name": "ada's script", "scopes": ["media:read"]}),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    let (key_id, key) = (
        made.body["id"].as_str().unwrap().to_owned(),
        made.body["key"].as_str().unwrap().to_owned(),
    );
    for caller in [access(&tokens), key.as_str(), owner.as_str()] {
        assert_eq!(api.get("/v1/media", caller).await.status, StatusCode::OK);
    }
    api.drain_events().await;
    let (her, her_key) = (format!("user:{ada}"), format!("key:{key_id}"));
    let actors = |events: &[mvidarr_core::analytics::AnalyticsEvent]| {
        events
            .iter()
            .filter_map(|e| e.actor.clone())
            .collect::<Vec<_>>()
    };
    let before = actors(&stored_events(&api));
    assert!(
        before.contains(&her) && before.contains(&her_key),
        "{before:?}"
    );

    let erase = api.delete(&format!("/v1/users/{ada}"), &owner).await;
    assert_eq!(erase.status, StatusCode::NO_CONTENT, "{}", erase.body);
    api.drain_events().await;
    let tick = api.tick(chrono::Utc::now()).await;
    assert_eq!(tick.erasures, 2);

    let after = actors(&stored_events(&api));
    assert!(after.len() >= before.len(), "no event is dropped");
    assert!(
        !after.iter().any(|a| a == &her || a == &her_key),
        "{after:?}"
    );
    let pseudonyms = after.iter().filter(|a| a.starts_with("erased:")).count();
    let hers = before
        .iter()
        .filter(|a| **a == her || **a == her_key)
        .count();
    assert!(
        pseudonyms >= hers,
        "{pseudonyms} pseudonyms for {hers} events"
    );
    // The owner's events keep their name; the erasures are on record as done.
    assert!(after.iter().any(|a| a.starts_with("user:") && *a != her));
    let repo =
        mvidarr_core::repo::ErasureRepo::new(mvidarr_core::ports::Platform::table(&api.platform));
    for subject in [&her, &her_key] {
        let done = repo.get(tenant, subject).await.unwrap().unwrap();
        assert!(done.done_at.is_some() && done.rows_changed >= 1, "{done:?}");
    }
}
