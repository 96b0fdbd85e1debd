//! An identity service on the embedded platform (whose table can be switched off, as in an
//! outage), a tenant with a signed-in owner, and authorizer events shaped as API Gateway sends
//! them (`tests/fixtures/events/apigw-v2-authorizer-junk-bearer.json`, credential replaced).
#![allow(dead_code)] // each test binary uses its own part of it

use std::sync::Arc;

use aws_lambda_events::http::HeaderValue;
use aws_lambda_events::http::header::AUTHORIZATION;
use chrono::{DateTime, Utc};
use mvidarr_auth::password::PasswordHasher;
use mvidarr_auth::service::{Credentials, Identity, IdentityConfig, LoginOutcome};
use mvidarr_auth::{Permission, Permissions, Principal};
use mvidarr_auth_fn::{
    AuthorizerContext, AuthorizerError, AuthorizerRequest, AuthorizerResponse, CallerContext,
    authorize,
};
use mvidarr_core::asl::StateMachine;
use mvidarr_core::ids::TenantId;
use mvidarr_store_local::{LocalConfig, LocalPlatform};
use mvidarr_tests::outage::{OutagePlatform, OutageTable};

pub const ISSUER: &str = "http://127.0.0.1:9";
pub const PASSWORD: &str = "correct horse battery staple 9";
pub const OWNER_EMAIL: &str = "owner@acme.example.com";

/// The authorizer event API Gateway sends for `GET /v1/media` (with a junk bearer token).
pub const FIXTURE: &str =
    include_str!("../../../../tests/fixtures/events/apigw-v2-authorizer-junk-bearer.json");

/// The fixture with `authorization` where API Gateway puts it: in the header and, as the
/// configured identity source, in `identitySource`. `None`: no `Authorization` at all.
pub fn event(authorization: Option<&str>) -> AuthorizerRequest {
    let mut request: AuthorizerRequest =
        serde_json::from_str(FIXTURE).expect("the fixture is an authorizer v2 request");
    request.headers.remove(AUTHORIZATION);
    request.identity_source = None;
    if let Some(value) = authorization {
        let header = HeaderValue::from_str(value).expect("a valid header value");
        request.headers.insert(AUTHORIZATION, header);
        request.identity_source = Some(vec![value.to_owned()]);
    }
    request
}

pub fn bearer(credential: &str) -> String {
    format!("Bearer {credential}")
}

/// A tenant `acme` whose owner has signed in.
pub struct World {
    /// The full service (the API's): sets things up.
    pub identity: Identity<OutagePlatform>,
    /// The service as the authorizer runs it: verify only, on the same store.
    pub verifier: Identity<OutagePlatform>,
    pub tenant: TenantId,
    pub owner: Principal,
    pub owner_token: String,
    outage: OutageTable,
    _dir: tempfile::TempDir,
}

impl World {
    pub async fn new() -> World {
        let dir = tempfile::tempdir().expect("temp dir");
        let local = LocalPlatform::open(
            &LocalConfig {
                data_dir: dir.path().to_owned(),
                public_base_url: ISSUER.into(),
                ingest_max_receives: 5,
            },
            StateMachine::pipeline().expect("the pipeline definition"),
        )
        .expect("open the embedded platform");
        let platform = OutagePlatform::new(local);
        let outage = platform.outage().clone();
        let mut config = IdentityConfig::new(ISSUER);
        config.passwords = Arc::new(PasswordHasher::for_tests());
        let verifier = Identity::new(platform.clone(), IdentityConfig::verifier(ISSUER));
        let identity = Identity::start(platform, config)
            .await
            .expect("start the identity service");

        let now = Utc::now();
        let (tenant, invite) = identity
            .create_tenant("acme", OWNER_EMAIL, now)
            .await
            .expect("create the tenant");
        identity
            .accept_invite(&invite, PASSWORD, None, now)
            .await
            .expect("accept the owner's invitation");
        let credentials = Credentials {
            email: OWNER_EMAIL,
            password: PASSWORD,
            tenant: None,
        };
        let LoginOutcome::Tokens(tokens) =
            identity.login(&credentials, now).await.expect("sign in")
        else {
            panic!("the owner has no second factor");
        };
        let owner = identity
            .authenticate(&tokens.access_token, now)
            .await
            .expect("the owner's token authenticates");
        World {
            identity,
            verifier,
            tenant: tenant.id,
            owner,
            owner_token: tokens.access_token,
            outage,
            _dir: dir,
        }
    }

    /// An API key of the owner's with `scopes` (and `expires_at`, if given).
    pub async fn api_key(
        &self,
        scopes: &[Permission],
        expires_at: Option<DateTime<Utc>>,
    ) -> (String, Principal) {
        let created = self
            .identity
            .create_api_key(
                &self.owner,
                "ci",
                Permissions::from_iter(scopes.iter().copied()),
                expires_at,
                Utc::now(),
            )
            .await
            .expect("create an API key");
        let principal = self
            .identity
            .authenticate(&created.key, Utc::now())
            .await
            .expect("the new key authenticates");
        (created.key, principal)
    }

    /// Table reads and writes fail from now on (or work again).
    pub fn set_table_down(&self, down: bool) {
        if down {
            self.outage.fail_everything();
        } else {
            self.outage.repair();
        }
    }

    /// The authorizer's answer to an event carrying `authorization`.
    pub async fn authorize(
        &self,
        authorization: Option<&str>,
    ) -> Result<AuthorizerResponse, AuthorizerError> {
        self.authorize_at(authorization, Utc::now()).await
    }

    pub async fn authorize_at(
        &self,
        authorization: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<AuthorizerResponse, AuthorizerError> {
        authorize(&self.verifier, &event(authorization), now).await
    }
}

/// The caller of an allowed response.
pub fn allowed(response: &AuthorizerResponse) -> &CallerContext {
    assert!(response.is_authorized, "refused: {response:?}");
    response
        .context
        .caller
        .as_ref()
        .expect("an allowed response names the caller")
}

pub fn assert_refused(response: &AuthorizerResponse, case: &str) {
    assert!(!response.is_authorized, "{case}: allowed: {response:?}");
    assert_eq!(
        response.context,
        AuthorizerContext::default(),
        "{case}: a refusal carries no context"
    );
}
