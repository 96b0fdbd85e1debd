//! Identity benchmarks, printed as a table (release build: `scripts/bench-auth.sh`):
//!
//! - access-token verification per second on one core: the full check every time
//!   (`Keyring::verify_uncached`: size and header checks, Ed25519 signature, claims) against
//!   the bare Ed25519 signature check it contains, and as requests see it (`Keyring::verify`,
//!   which remembers a verified token until it expires);
//! - the Lambda authorizer's handler, p50/p99 in-process (the API Gateway event in, the simple
//!   response out, as a verifier on the embedded store);
//! - request authentication latency, p50/p99, in-process on the embedded store: an access
//!   token (verify + one session read) and an API key (one read), as the API and the Lambda
//!   authorizer do it on every request;
//! - Argon2id with the production parameters: hash and verify time, and a whole sign-in.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use clap::Parser;
use mvidarr_auth::Role;
use mvidarr_auth::password::PasswordHasher;
use mvidarr_auth::service::{Credentials, Identity, IdentityConfig, LoginOutcome};
use mvidarr_auth::token::{Keyring, SigningKey, TokenSubject};
use mvidarr_core::ids::{SessionId, TenantId, UserId};
use mvidarr_tests::tenants::open_platform;

#[derive(Parser)]
struct Args {
    /// Seconds spent on the verification-rate figure.
    #[arg(long, default_value_t = 3.0)]
    seconds: f64,
    /// Requests timed for each latency figure.
    #[arg(long, default_value_t = 20_000)]
    requests: usize,
    /// Argon2 hashes/verifications timed.
    #[arg(long, default_value_t = 20)]
    hashes: usize,
}

fn per_second(seconds: f64, mut work: impl FnMut()) -> f64 {
    let deadline = Duration::from_secs_f64(seconds);
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < deadline {
        for _ in 0..100 {
            work();
        }
        n += 100;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1000.0)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    println!("| figure | value |\n|---|---|");

    // Verification rate, one thread.
    let key = SigningKey::generate()?;
    let public = key.verifying_key();
    let ring = Keyring::new("https://bench", "mvidarr-api", Some(key), []);
    let subject = TokenSubject {
        user: UserId::generate(),
        tenant: TenantId::generate(),
        session: SessionId::generate(),
        role: Role::Editor,
        amr: vec!["pwd".into()],
    };
    let (token, _) = ring.mint(&subject, Utc::now().timestamp())?;
    let verifies = per_second(args.seconds, || {
        std::hint::black_box(ring.verify_uncached(std::hint::black_box(&token)).is_ok());
    });
    let remembered = per_second(args.seconds, || {
        std::hint::black_box(ring.verify(std::hint::black_box(&token)).is_ok());
    });
    let (message, signature) = token.rsplit_once('.').unwrap();
    let signature =
        base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, signature)?;
    let raw_public = base64::Engine::decode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        public.x(),
    )?;
    let raw = per_second(args.seconds, || {
        let key = aws_lc_rs::signature::UnparsedPublicKey::new(
            &aws_lc_rs::signature::ED25519,
            &raw_public,
        );
        std::hint::black_box(key.verify(message.as_bytes(), &signature).is_ok());
    });
    println!(
        "| access-token verifications / s, 1 core, full check every time (jsonwebtoken, EdDSA) | {verifies:.0} |"
    );
    println!("| bare Ed25519 signature checks / s, 1 core (aws-lc-rs) | {raw:.0} |");
    println!(
        "| access-token verifications / s, 1 core, as requests see them (verified tokens remembered) | {remembered:.0} |"
    );

    // Request authentication on the embedded store.
    let tmp = tempfile::tempdir()?;
    let platform = open_platform(&tmp.path().join("data"));
    let mut config = IdentityConfig::new("https://bench");
    config.passwords = Arc::new(PasswordHasher::for_tests());
    let identity = Identity::start(platform, config).await?;
    let now = Utc::now();
    let (tenant, invite) = identity
        .create_tenant("bench", "owner@bench.example.com", now)
        .await?;
    identity
        .accept_invite(&invite, "correct horse battery staple 9", None, now)
        .await?;
    let LoginOutcome::Tokens(tokens) = identity
        .login(
            &Credentials {
                email: "owner@bench.example.com",
                password: "correct horse battery staple 9",
                tenant: None,
            },
            now,
        )
        .await?
    else {
        anyhow::bail!("no tokens");
    };
    let api_key = identity.system_api_key(tenant.id, "bench", now).await?.key;
    for (what, credential) in [
        ("access token", tokens.access_token.as_str()),
        ("API key", api_key.as_str()),
    ] {
        let mut samples = Vec::with_capacity(args.requests);
        for i in 0..args.requests + 1000 {
            let start = Instant::now();
            identity.authenticate(credential, Utc::now()).await?;
            if i >= 1000 {
                samples.push(start.elapsed());
            }
        }
        samples.sort();
        println!(
            "| authenticate a request ({what}), p50 / p99, in-process, SQLite | {} / {} |",
            ms(percentile(&samples, 0.5)),
            ms(percentile(&samples, 0.99))
        );
    }

    // The authorizer's handler, as a verifier over the same store.
    let verifier = Identity::new(
        identity.platform().clone(),
        IdentityConfig::verifier("https://bench"),
    );
    let fixture = std::fs::read_to_string(
        mvidarr_tests::aws::moto::repo_root()
            .join("tests/fixtures/events/apigw-v2-authorizer-junk-bearer.json"),
    )?;
    for (what, credential) in [
        ("access token", tokens.access_token.as_str()),
        ("API key", api_key.as_str()),
    ] {
        let mut event: mvidarr_auth_fn::AuthorizerRequest = serde_json::from_str(&fixture)?;
        let header = format!("Bearer {credential}");
        event.headers.insert("authorization", header.parse()?);
        event.identity_source = Some(vec![header]);
        let mut samples = Vec::with_capacity(args.requests);
        for i in 0..args.requests + 1000 {
            let start = Instant::now();
            let answer = mvidarr_auth_fn::authorize(&verifier, &event, Utc::now()).await?;
            if i >= 1000 {
                samples.push(start.elapsed());
            }
            anyhow::ensure!(
                answer.is_authorized,
                "the authorizer refused the bench credential"
            );
        }
        samples.sort();
        println!(
            "| Lambda authorizer handler ({what}), p50 / p99, in-process, SQLite | {} / {} |",
            ms(percentile(&samples, 0.5)),
            ms(percentile(&samples, 0.99))
        );
    }

    // Argon2id, production parameters.
    let hasher = PasswordHasher::production();
    let (m, t, p) = hasher.costs();
    let mut hash_times = Vec::new();
    let mut phc = String::new();
    for _ in 0..args.hashes {
        let start = Instant::now();
        phc = hasher.hash("correct horse battery staple 9")?;
        hash_times.push(start.elapsed());
    }
    let mut verify_times = Vec::new();
    for _ in 0..args.hashes {
        let start = Instant::now();
        assert!(hasher.verify("correct horse battery staple 9", &phc));
        verify_times.push(start.elapsed());
    }
    hash_times.sort();
    verify_times.sort();
    println!(
        "| Argon2id (m = {} MiB, t = {t}, p = {p}) hash / verify, median | {} / {} |",
        m / 1024,
        ms(percentile(&hash_times, 0.5)),
        ms(percentile(&verify_times, 0.5))
    );

    let tmp = tempfile::tempdir()?;
    let identity = Identity::start(
        open_platform(&tmp.path().join("data")),
        IdentityConfig::new("https://bench"),
    )
    .await?;
    let (_, invite) = identity
        .create_tenant("bench", "owner@bench.example.com", now)
        .await?;
    identity
        .accept_invite(&invite, "correct horse battery staple 9", None, now)
        .await?;
    // Eight: an account's sign-ins are themselves rate limited (a burst of 10).
    let mut logins = Vec::new();
    for _ in 0..8 {
        let start = Instant::now();
        identity
            .login(
                &Credentials {
                    email: "owner@bench.example.com",
                    password: "correct horse battery staple 9",
                    tenant: None,
                },
                Utc::now(),
            )
            .await?;
        logins.push(start.elapsed());
    }
    logins.sort();
    println!(
        "| whole sign-in (POST /v1/auth/login work, production Argon2), median | {} |",
        ms(percentile(&logins, 0.5))
    );
    Ok(())
}
