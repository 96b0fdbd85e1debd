//! The identity service on the AWS adapters (DynamoDB, KMS) against `moto_server`, with the
//! real SDK: the same flows the API tests run on SQLite — invitation, sign-in, refresh and its
//! reuse, API keys, the audit chain, rate limits — plus `mvidarr tenant create --aws` and
//! `mvidarr signing-key rotate --aws` run as the binary with the stack's environment.

use std::process::Command;
use std::sync::Arc;

use chrono::Utc;
use mvidarr_auth::password::PasswordHasher;
use mvidarr_auth::ratelimit::Limit;
use mvidarr_auth::service::{AuthError, Credentials, Identity, IdentityConfig, LoginOutcome};
use mvidarr_auth::store::{AuditLog, RateLimiter};
use mvidarr_auth::{Permission, Permissions, Role, Subject};
use mvidarr_core::ports::Platform;
use mvidarr_tests::aws::Moto;
use mvidarr_tests::aws::moto::{REGION, repo_root};
use mvidarr_tests::aws::stack::Stack;

const ISSUER: &str = "urn:mvidarr:test";
const PASSWORD: &str = "correct horse battery staple 9";

async fn identity(stack: &Stack) -> Identity<mvidarr_store_aws::platform::AwsPlatform> {
    let mut config = IdentityConfig::new(ISSUER);
    config.passwords = Arc::new(PasswordHasher::for_tests());
    Identity::start(stack.platform.clone(), config)
        .await
        .unwrap()
}

async fn sign_in<P: Platform>(
    identity: &Identity<P>,
    email: &str,
) -> Result<LoginOutcome, AuthError> {
    identity
        .login(
            &Credentials {
                email,
                password: PASSWORD,
                tenant: None,
            },
            Utc::now(),
        )
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_refresh_keys_and_audit_on_dynamodb_and_kms() {
    let moto = Moto::shared();
    let stack = Stack::create(moto).await;
    let identity = identity(&stack).await;
    let now = Utc::now();
    let (tenant, invite) = identity
        .create_tenant("acme", "owner@acme.example", now)
        .await
        .unwrap();
    identity
        .accept_invite(&invite, PASSWORD, None, now)
        .await
        .unwrap();
    let LoginOutcome::Tokens(tokens) = sign_in(&identity, "owner@acme.example").await.unwrap()
    else {
        panic!("no second factor was set up");
    };
    let owner = identity
        .authenticate(&tokens.access_token, Utc::now())
        .await
        .unwrap();
    assert_eq!(owner.tenant, tenant.id);
    assert_eq!(owner.role, Some(Role::Owner));

    // A second process (a cold Lambda) verifies the same token with keys it reads itself.
    let verifier = Identity::new(stack.platform.clone(), IdentityConfig::verifier(ISSUER));
    assert_eq!(
        verifier
            .authenticate(&tokens.access_token, Utc::now())
            .await
            .unwrap()
            .subject,
        owner.subject
    );

    // Refresh rotates; the old refresh token again revokes the session everywhere.
    let renewed = identity
        .refresh(&tokens.refresh_token, Utc::now())
        .await
        .unwrap();
    assert!(
        identity
            .refresh(&tokens.refresh_token, Utc::now())
            .await
            .is_err()
    );
    assert!(
        identity
            .refresh(&renewed.refresh_token, Utc::now())
            .await
            .is_err()
    );
    assert!(
        verifier
            .authenticate(&renewed.access_token, Utc::now())
            .await
            .is_err()
    );

    // API keys: scoped, listed through the (eventually consistent) index, revoked at once.
    let LoginOutcome::Tokens(tokens) = sign_in(&identity, "owner@acme.example").await.unwrap()
    else {
        panic!("no tokens");
    };
    let owner = identity
        .authenticate(&tokens.access_token, Utc::now())
        .await
        .unwrap();
    let key = identity
        .create_api_key(
            &owner,
            "ci",
            Permissions::from_iter([Permission::MediaRead]),
            None,
            Utc::now(),
        )
        .await
        .unwrap();
    let by_key = verifier.authenticate(&key.key, Utc::now()).await.unwrap();
    assert!(by_key.may(Permission::MediaRead) && !by_key.may(Permission::MediaWrite));
    assert!(
        identity
            .list_api_keys(&owner)
            .await
            .unwrap()
            .iter()
            .any(|k| k.id == key.record.id)
    );
    identity
        .revoke_api_key(&owner, key.record.id, Utc::now())
        .await
        .unwrap();
    assert!(verifier.authenticate(&key.key, Utc::now()).await.is_err());

    // Every step above is in the tenant's chain, which verifies on DynamoDB.
    let report = AuditLog::new(stack.platform.table())
        .verify(tenant.id)
        .await
        .unwrap();
    assert!(report.ok, "{report:?}");
    assert!(report.entries >= 6, "{report:?}");

    // Rate-limit buckets hold across callers through DynamoDB's conditional writes.
    let limiter = RateLimiter::new(stack.platform.table());
    let limit = Limit {
        capacity: 3,
        refill_per_minute: 0,
    };
    let actor = Subject::user_actor(owner.user().unwrap());
    let mut allowed = 0;
    for _ in 0..5 {
        let d = limiter
            .check(tenant.id, &actor, &limit, Utc::now().timestamp_millis(), 1)
            .await
            .unwrap();
        allowed += u32::from(d.allowed);
    }
    assert_eq!(allowed, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_creates_tenants_and_rotates_keys_on_the_stack() {
    let moto = Moto::shared();
    let stack = Stack::create(moto).await;
    let resources = &stack.resources;
    let bin = std::env::var("CARGO_BIN_EXE_mvidarr")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| mvidarr_binary());
    let run = |args: &[&str]| {
        let out = Command::new(&bin)
            .args(args)
            .env("AWS_ENDPOINT_URL", &moto.endpoint)
            .env("AWS_REGION", REGION)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("MEDIA_BUCKET", &resources.bucket)
            .env("TABLE_NAME", &resources.table)
            .env("KMS_KEY_ID", resources.kms_key_id.as_deref().unwrap())
            .env("TOKEN_ISSUER", ISSUER)
            .env("API_URL", "https://api.example")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "mvidarr {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let printed = run(&[
        "tenant",
        "create",
        "acme",
        "--owner",
        "owner@acme.example",
        "--aws",
    ]);
    assert!(
        printed.contains("https://api.example/v1/auth/invites/accept"),
        "{printed}"
    );
    let invite = printed
        .split_whitespace()
        .find(|w| w.starts_with("mvi_"))
        .unwrap()
        .to_owned();
    // The invitation is good on the stack, accepted here in-process.
    let identity = identity(&stack).await;
    identity
        .accept_invite(&invite, PASSWORD, None, Utc::now())
        .await
        .unwrap();
    let LoginOutcome::Tokens(before) = sign_in(&identity, "owner@acme.example").await.unwrap()
    else {
        panic!("no tokens");
    };
    let rotated = run(&["signing-key", "rotate", "--aws"]);
    assert!(rotated.contains("new signing key"), "{rotated}");
    // Tokens signed before the rotation still verify, in a process that reads the keys anew.
    let fresh = Identity::new(stack.platform.clone(), IdentityConfig::verifier(ISSUER));
    assert!(
        fresh
            .authenticate(&before.access_token, Utc::now())
            .await
            .is_ok()
    );
    assert_eq!(fresh.keyring().await.unwrap().jwks().keys.len(), 2);
}

/// The `mvidarr` binary (debug), built by cargo if needed: `CARGO_BIN_EXE_*` exists only for
/// a package's own binaries.
fn mvidarr_binary() -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    let target = exe.parent().and_then(|p| p.parent()).unwrap().to_path_buf();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(repo_root())
        .env("CARGO_TARGET_DIR", target.parent().unwrap())
        .args(["build", "-q", "-p", "mvidarr", "--bin", "mvidarr"])
        .status()
        .unwrap();
    assert!(status.success(), "building mvidarr failed");
    target.join("mvidarr")
}
