//! The API router in-process (no socket) over the embedded platform, with a client that
//! speaks to it, for the API's integration tests.
#![allow(dead_code)] // each test binary uses its own part of it

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use chrono::Utc;
use http_body_util::BodyExt;
use mvidarr_api::{ApiState, EventReporter, bootstrap_default_tenant, router};
use mvidarr_auth::Role;
use mvidarr_auth::password::PasswordHasher;
use mvidarr_auth::service::{Identity, IdentityConfig, LockoutPolicy};
use mvidarr_core::asl::StateMachine;
use mvidarr_core::ids::TenantId;
use mvidarr_store_local::{LocalConfig, LocalPlatform};
use serde_json::{Value, json};
use tower::ServiceExt;

pub const ISSUER: &str = "http://127.0.0.1:9";
pub const PASSWORD: &str = "correct horse battery staple 9";

pub struct TestApi {
    pub router: axum::Router,
    pub platform: LocalPlatform,
    pub identity: Arc<Identity<LocalPlatform>>,
    /// The API's own analytics events waiting to be sent.
    pub events: Arc<EventReporter<LocalPlatform>>,
    /// Tenant `default` and its owner key.
    pub tenant: TenantId,
    pub key: String,
    _dir: tempfile::TempDir,
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl TestApi {
    pub async fn start() -> TestApi {
        Self::with_lockout(LockoutPolicy::default()).await
    }

    pub async fn with_lockout(lockout: LockoutPolicy) -> TestApi {
        let dir = tempfile::tempdir().unwrap();
        let platform = LocalPlatform::open(
            &LocalConfig {
                data_dir: dir.path().to_owned(),
                public_base_url: ISSUER.into(),
                ingest_max_receives: 5,
            },
            StateMachine::pipeline().unwrap(),
        )
        .unwrap();
        let mut config = IdentityConfig::new(ISSUER);
        config.passwords = Arc::new(PasswordHasher::for_tests());
        config.lockout = lockout;
        let identity = Arc::new(Identity::start(platform.clone(), config).await.unwrap());
        let (tenant, key) = bootstrap_default_tenant(&identity, true).await.unwrap();
        // A newly promoted model is served on the next request.
        let state =
            ApiState::new(platform.clone(), identity.clone()).with_model_refresh(Duration::ZERO);
        TestApi {
            events: state.events.clone(),
            router: router(state),
            platform,
            identity,
            tenant,
            key: key.unwrap(),
            _dir: dir,
        }
    }

    /// A request with an optional bearer credential and JSON body.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        bearer: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let mut request = Request::builder().method(method).uri(path);
        if let Some(b) = bearer {
            request = request.header("authorization", format!("Bearer {b}"));
        }
        let request = match body {
            Some(v) => request
                .header("content-type", "application/json")
                .body(Body::from(v.to_string())),
            None => request.body(Body::empty()),
        }
        .unwrap();
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        Reply {
            status,
            headers,
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        }
    }

    pub async fn get(&self, path: &str, bearer: &str) -> Reply {
        self.call(Method::GET, path, Some(bearer), None).await
    }

    pub async fn delete(&self, path: &str, bearer: &str) -> Reply {
        self.call(Method::DELETE, path, Some(bearer), None).await
    }

    pub async fn post(&self, path: &str, bearer: Option<&str>, body: Value) -> Reply {
        self.call(Method::POST, path, bearer, Some(body)).await
    }

    /// `POST /v1/auth/refresh` with `token`.
    pub async fn use_refresh_token(&self, token: &str) -> Reply {
        self.post("/v1/auth/refresh", None, json!({ "refresh_token": token }))
            .await
    }

    /// Invite `email` to the tenant of `inviter` with `role` and accept it; returns the new
    /// user's id.
    pub async fn add_user(&self, inviter: &str, email: &str, role: Role) -> String {
        let invite = self
            .post(
                "/v1/invites",
                Some(inviter),
                json!({"email": email, "role": role}),
            )
            .await;
        assert_eq!(invite.status, StatusCode::CREATED, "{}", invite.body);
        let accepted = self
            .post(
                "/v1/auth/invites/accept",
                None,
                json!({"token": invite.body["invite_token"], "password": PASSWORD}),
            )
            .await;
        assert_eq!(accepted.status, StatusCode::CREATED, "{}", accepted.body);
        accepted.body["id"].as_str().unwrap().to_owned()
    }

    /// Sign in; returns the token response.
    pub async fn login(&self, email: &str) -> Value {
        let reply = self
            .post(
                "/v1/auth/login",
                None,
                json!({"email": email, "password": PASSWORD}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        reply.body
    }

    /// What the events worker would do by now: send the API's waiting events, ingest every
    /// message of the events queue (Parquet files), then fold the tenants written to into
    /// their rollups. Returns the messages ingested.
    pub async fn drain_events(&self) -> usize {
        use mvidarr_core::ports::Platform;
        self.events.flush().await;
        let function = mvidarr_events::EventsFunction::new(self.platform.clone());
        let written = std::sync::Mutex::new(std::collections::BTreeSet::new());
        let messages = drain(self.platform.events_queue(), async |body| {
            let (tenant, _) = function.ingest_message(body).await.unwrap();
            written.lock().unwrap().insert(tenant);
        })
        .await;
        for tenant in written.into_inner().unwrap() {
            function.fold(tenant).await.unwrap();
        }
        messages
    }

    /// What the report worker would do by now: generate every job of the reports queue with
    /// DataFusion over the embedded blob store. Returns the jobs handled.
    pub async fn drain_reports(&self) -> usize {
        use mvidarr_core::ports::Platform;
        let function = mvidarr_report_jobs::ReportFunction::new(
            self.platform.clone(),
            mvidarr_analytics::query::LocalEngine::new(self.platform.local_blobs().root()),
        );
        drain(self.platform.reports_queue(), async |body| {
            function.handle_message(body).await.unwrap();
        })
        .await
    }

    /// What the scheduler's tick would do at `now` (due schedules, alert rules, erasures,
    /// the day's retention sweep).
    pub async fn tick(&self, now: chrono::DateTime<Utc>) -> mvidarr_report_jobs::TickOutcome {
        mvidarr_report_jobs::ReportFunction::new(
            self.platform.clone(),
            mvidarr_analytics::query::LocalEngine::new(self.platform.local_blobs().root()),
        )
        .tick(now)
        .await
        .unwrap()
    }

    /// A new tenant with a signed-in owner, `media` catalogue media (`ext:m0`… titled
    /// `Song 0`…) and `profiles` profiles (`ext:u0`…); returns (tenant, owner access token,
    /// media ids).
    pub async fn catalogue_tenant(
        &self,
        name: &str,
        media: usize,
        profiles: usize,
    ) -> (TenantId, String, Vec<mvidarr_core::ids::MediaId>) {
        use mvidarr_core::external::ExternalId;
        use mvidarr_core::media::CatalogueEntry;
        use mvidarr_core::metadata::VideoMetadata;
        use mvidarr_core::ports::Platform;
        let (id, owner) = self.tenant_with_owner(name).await;
        let entries = (0..media)
            .map(|i| CatalogueEntry {
                external_id: ExternalId::parse(format!("m{i}")).unwrap(),
                metadata: VideoMetadata {
                    title: Some(format!("Song {i}")),
                    ..VideoMetadata::default()
                },
            })
            .collect();
        let media = mvidarr_core::repo::MediaRepo::new(self.platform.table())
            .import_catalogue(id, entries, Utc::now())
            .await
            .unwrap()
            .into_iter()
            .map(|i| i.id)
            .collect();
        for i in 0..profiles {
            let r = self
                .post(
                    "/v1/profiles",
                    Some(&owner),
                    json!({"external_id": format!("u{i}")}),
                )
                .await;
            assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        }
        (id, owner, media)
    }

    /// A new tenant with an owner who has signed in; returns (tenant, owner access token).
    pub async fn tenant_with_owner(&self, name: &str) -> (TenantId, String) {
        let email = format!("owner@{name}.example.com");
        let (tenant, invite) = self
            .identity
            .create_tenant(name, &email, Utc::now())
            .await
            .unwrap();
        let accepted = self
            .post(
                "/v1/auth/invites/accept",
                None,
                json!({"token": invite, "password": PASSWORD}),
            )
            .await;
        assert_eq!(accepted.status, StatusCode::CREATED, "{}", accepted.body);
        let tokens = self.login(&email).await;
        (
            tenant.id,
            tokens["access_token"].as_str().unwrap().to_owned(),
        )
    }
}

pub fn access(tokens: &Value) -> &str {
    tokens["access_token"].as_str().unwrap()
}

pub fn refresh(tokens: &Value) -> &str {
    tokens["refresh_token"].as_str().unwrap()
}

/// Receive and handle `queue`'s messages until it is empty (as a worker would); returns how
/// many were handled.
async fn drain(queue: &impl mvidarr_core::ports::Queue, handle: impl AsyncFn(&str)) -> usize {
    let mut handled = 0;
    loop {
        let messages = queue
            .receive(10, Duration::from_secs(60), Duration::ZERO)
            .await
            .unwrap();
        if messages.is_empty() {
            return handled;
        }
        for m in messages {
            handle(&m.body).await;
            queue.delete(&m.receipt_handle).await.unwrap();
            handled += 1;
        }
    }
}
