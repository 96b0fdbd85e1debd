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

    let erase = api
        .call(
            Method::DELETE,
            &format!("/v1/users/{ada}"),
            Some(&owner),
            None,
        )
        .await;
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
    let again = api
        .call(
            Method::DELETE,
            &format!("/v1/users/{ada}"),
            Some(&owner),
            None,
        )
        .await;
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
    let r = api
        .call(
            Method::DELETE,
            &format!("/v1/users/{me}"),
            Some(&owner),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "the last owner was erased");
    api.add_user(&owner, "admin@example.com", Role::Admin).await;
    let admin = api.login("admin@example.com").await;
    let r = api
        .call(
            Method::DELETE,
            &format!("/v1/users/{me}"),
            Some(access(&admin)),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "an admin erased an owner");
}
