//! The security matrix, generated from the API's own route table, so a new route is covered
//! the moment it is declared: every route without credentials → 401; with a caller lacking
//! the route's permission → 403; with another tenant's credentials on this tenant's resources
//! → 404, and never any of this tenant's data.

mod support;

use axum::http::StatusCode;
use chrono::Utc;
use mvidarr_api::{Access, Resource, RouteInfo, route_table};
use mvidarr_auth::ratelimit::Plan;
use mvidarr_auth::{Permission, Permissions, Role};
use mvidarr_store_local::LocalPlatform;
use serde_json::json;
use support::{TestApi, access};

/// Tenant A's resources, by kind.
struct Owned {
    media: String,
    user: String,
    api_key: String,
    profile: String,
}

impl Owned {
    fn id(&self, resource: Resource) -> Option<&str> {
        match resource {
            Resource::None => None,
            Resource::Media => Some(&self.media),
            Resource::User => Some(&self.user),
            Resource::ApiKey => Some(&self.api_key),
            Resource::Profile => Some(&self.profile),
        }
    }
}

fn path_for(route: &RouteInfo, id: &str) -> String {
    route.path.replace("{id}", id)
}

async fn call(
    api: &TestApi,
    route: &RouteInfo,
    path: &str,
    bearer: Option<&str>,
) -> support::Reply {
    api.call(
        route.method.clone(),
        path,
        bearer,
        route.sample_body.clone(),
    )
    .await
}

/// Tenant A with a signed-in owner, a media, another user, an API key and a profile.
async fn tenant_a(api: &TestApi) -> (Owned, String) {
    let (tenant, owner) = api.tenant_with_owner("tenant-a").await;
    // The matrix makes a few requests per route: more than the free plan's burst.
    api.identity
        .set_plan(tenant, Plan::Enterprise, Utc::now())
        .await
        .unwrap();
    let media = api
        .post(
            "/v1/uploads",
            Some(&owner),
            json!({"filename": "a.mp4", "content_type": "video/mp4", "size": 1000}),
        )
        .await
        .body["media_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let user = api
        .add_user(&owner, "someone@a.example.com", Role::Editor)
        .await;
    let api_key = api
        .post(
            "/v1/api-keys",
            Some(&owner),
            json!({"name": "a's key", "scopes": ["media:read"]}),
        )
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let profile = api
        .post(
            "/v1/profiles",
            Some(&owner),
            json!({"external_id": "a's listener"}),
        )
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    (
        Owned {
            media,
            user,
            api_key,
            profile,
        },
        owner,
    )
}

fn protected(routes: &[RouteInfo]) -> impl Iterator<Item = &RouteInfo> {
    routes.iter().filter(|r| r.access != Access::Public)
}

#[test]
fn only_the_sign_in_routes_health_and_jwks_are_public() {
    let mut public: Vec<String> = route_table::<LocalPlatform>()
        .into_iter()
        .filter(|r| r.access == Access::Public)
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    public.sort();
    assert_eq!(
        public,
        [
            "GET /.well-known/jwks.json",
            "GET /healthz",
            "POST /v1/auth/invites/accept",
            "POST /v1/auth/login",
            "POST /v1/auth/mfa",
            "POST /v1/auth/refresh",
        ]
    );
}

#[tokio::test]
async fn every_protected_route_refuses_missing_or_junk_credentials() {
    let api = TestApi::start().await;
    let (owned, _) = tenant_a(&api).await;
    let routes = route_table::<LocalPlatform>();
    for route in protected(&routes) {
        let path = path_for(route, owned.id(route.resource).unwrap_or("x"));
        for bearer in [None, Some("junk"), Some("mvk_x_y"), Some("a.b.c")] {
            let r = call(&api, route, &path, bearer).await;
            assert_eq!(
                r.status,
                StatusCode::UNAUTHORIZED,
                "{} {path} with {bearer:?}: {}",
                route.method,
                r.body
            );
            assert_eq!(r.headers["www-authenticate"], "Bearer");
        }
    }
}

#[tokio::test]
async fn every_route_needing_a_permission_refuses_callers_without_it() {
    let api = TestApi::start().await;
    let (owned, owner) = tenant_a(&api).await;
    // One signed-in user per role, and per permission a key holding everything else.
    let mut role_tokens = Vec::new();
    for role in Role::ALL {
        let email = format!("{role}@roles.a.example.com");
        api.add_user(&owner, &email, role).await;
        role_tokens.push((role, access(&api.login(&email).await).to_owned()));
    }
    let routes = route_table::<LocalPlatform>();
    let mut checked = 0;
    for route in protected(&routes) {
        let Access::Needs(permission) = route.access else {
            continue;
        };
        let path = path_for(route, owned.id(route.resource).unwrap_or("x"));
        // The most powerful role that lacks the permission, if any role does.
        if let Some((role, token)) = role_tokens
            .iter()
            .rev()
            .find(|(role, _)| !role.permissions().contains(permission))
        {
            let r = call(&api, route, &path, Some(token)).await;
            assert_eq!(
                r.status,
                StatusCode::FORBIDDEN,
                "{} {path} as {role}: {}",
                route.method,
                r.body
            );
            checked += 1;
        }
        let others: Permissions = Permission::ALL
            .into_iter()
            .filter(|p| *p != permission)
            .collect();
        let narrowed = api
            .post(
                "/v1/api-keys",
                Some(&owner),
                json!({"name": "all but one", "scopes": others.iter().map(|p| p.as_str()).collect::<Vec<_>>()}),
            )
            .await;
        assert_eq!(narrowed.status, StatusCode::CREATED, "{}", narrowed.body);
        let r = call(&api, route, &path, narrowed.body["key"].as_str()).await;
        assert_eq!(
            r.status,
            StatusCode::FORBIDDEN,
            "{} {path} with a key lacking {permission}: {}",
            route.method,
            r.body
        );
        checked += 1;
    }
    assert!(checked >= 10, "only {checked} rows checked");
}

#[tokio::test]
async fn another_tenant_never_reaches_this_tenants_resources() {
    let api = TestApi::start().await;
    let (owned, a_owner) = tenant_a(&api).await;
    let (_, mut b) = api.tenant_with_owner("tenant-b").await;
    let a_tenant = api.get("/v1/me", &a_owner).await.body["tenant"]
        .as_str()
        .unwrap()
        .to_owned();
    let a_ids = [
        owned.media.clone(),
        owned.user.clone(),
        owned.api_key.clone(),
        owned.profile.clone(),
        a_tenant,
    ];
    let routes = route_table::<LocalPlatform>();
    let mut resource_rows = 0;
    for route in protected(&routes) {
        let path = path_for(route, owned.id(route.resource).unwrap_or(""));
        let r = call(&api, route, &path, Some(&b)).await;
        // Signing out ends the session: sign in again for the next rows.
        if route.path == "/v1/auth/logout" {
            b = access(&api.login("owner@tenant-b.example.com").await).to_owned();
        }
        if route.resource != Resource::None {
            assert_eq!(
                r.status,
                StatusCode::NOT_FOUND,
                "{} {path} as tenant B: {}",
                route.method,
                r.body
            );
            resource_rows += 1;
        } else {
            assert!(
                !r.status.is_server_error(),
                "{} {path}: {}",
                route.method,
                r.body
            );
        }
        let text = r.body.to_string();
        // (A 404 may repeat the id it was asked for; nothing else of A's may appear.)
        for id in a_ids.iter().filter(|id| !path.contains(id.as_str())) {
            assert!(
                !text.contains(id.as_str()),
                "{} {path} as tenant B shows {id}: {text}",
                route.method
            );
        }
    }
    assert!(resource_rows >= 7, "only {resource_rows} resource routes");
    // Tenant A's things are all still there and working.
    assert_eq!(
        api.get(&format!("/v1/media/{}", owned.media), &a_owner)
            .await
            .status,
        StatusCode::OK
    );
    let keys = api.get("/v1/api-keys", &a_owner).await.body;
    let a_key = keys["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == owned.api_key.as_str())
        .unwrap();
    assert!(a_key["revoked_at"].is_null(), "{a_key}");
    let users = api.get("/v1/users", &a_owner).await.body;
    let a_user = users["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["id"] == owned.user.as_str())
        .unwrap();
    assert_eq!(a_user["role"], "editor");
}
