//! RFC 8725 (JWT best current practice) attacks against the real API router: every forged,
//! stale or misdirected token is a 401, whatever the route.

mod support;

use axum::http::{Method, StatusCode};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use mvidarr_auth::Role;
use mvidarr_auth::envelope;
use mvidarr_auth::store::{SigningKeyRecord, SigningKeyRepo, SigningKeyState};
use mvidarr_core::ports::Platform;
use serde_json::{Value, json};
use support::{TestApi, access, refresh};

/// The deployment's real signing key, read back from the store as an attacker who stole it
/// would use it (to show that the claim checks, not only the signature, hold).
async fn real_key(api: &TestApi) -> (String, EncodingKey, [u8; 32]) {
    let record: SigningKeyRecord = SigningKeyRepo::new(api.platform.table())
        .all()
        .await
        .unwrap()
        .into_iter()
        .map(|v| v.record)
        .find(|k| k.state == SigningKeyState::Active)
        .unwrap();
    let pkcs8 = envelope::open(
        api.platform.key_wrap(),
        &SigningKeyRecord::seal_context(record.kid),
        &record.sealed,
    )
    .await
    .unwrap();
    let public: [u8; 32] = URL_SAFE_NO_PAD
        .decode(&record.x)
        .unwrap()
        .try_into()
        .unwrap();
    (
        record.kid.to_string(),
        EncodingKey::from_ed_der(pkcs8.expose()),
        public,
    )
}

fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

fn header(kid: &str) -> Header {
    let mut h = Header::new(Algorithm::EdDSA);
    h.typ = Some("at+jwt".into());
    h.kid = Some(kid.to_owned());
    h
}

async fn status(api: &TestApi, token: &str) -> StatusCode {
    api.get("/v1/media", token).await.status
}

#[tokio::test]
async fn forged_stale_and_misdirected_tokens_are_refused() {
    let api = TestApi::start().await;
    let (_, owner) = api.tenant_with_owner("acme").await;
    assert_eq!(status(&api, &owner).await, StatusCode::OK);
    let claims = claims_of(&owner);
    let (kid, key, public) = real_key(&api).await;
    let sign = |h: Header, c: &Value| jsonwebtoken::encode(&h, c, &key).unwrap();
    let now = Utc::now().timestamp();
    // Control: re-signing the genuine claims with the real key is accepted.
    assert_eq!(
        status(&api, &sign(header(&kid), &claims)).await,
        StatusCode::OK
    );

    let mut cases: Vec<(&str, String)> = Vec::new();
    let with = |f: &dyn Fn(&mut Value)| {
        let mut c = claims.clone();
        f(&mut c);
        c
    };
    // alg: none, unsigned.
    let none =
        URL_SAFE_NO_PAD.encode(json!({"alg": "none", "typ": "at+jwt", "kid": kid}).to_string());
    let body = owner.split('.').nth(1).unwrap();
    cases.push(("alg none", format!("{none}.{body}.")));
    cases.push(("alg none, no signature part", format!("{none}.{body}")));
    // HS256 with the public key as the shared secret, raw and as published.
    for secret in [public.to_vec(), URL_SAFE_NO_PAD.encode(public).into_bytes()] {
        let mut h = Header::new(Algorithm::HS256);
        h.typ = Some("at+jwt".into());
        h.kid = Some(kid.clone());
        cases.push((
            "HS256 signed with the public key",
            jsonwebtoken::encode(&h, &claims, &EncodingKey::from_secret(&secret)).unwrap(),
        ));
    }
    // A key of the attacker's own, under an unknown kid and under ours.
    let stranger = aws_lc_rs::signature::Ed25519KeyPair::generate()
        .unwrap()
        .to_pkcs8v1()
        .unwrap();
    let stranger = EncodingKey::from_ed_der(stranger.as_ref());
    cases.push((
        "unknown kid",
        jsonwebtoken::encode(&header("01J0000000000000000000000A"), &claims, &stranger).unwrap(),
    ));
    cases.push((
        "our kid, another key",
        jsonwebtoken::encode(&header(&kid), &claims, &stranger).unwrap(),
    ));
    let mut no_kid = header(&kid);
    no_kid.kid = None;
    cases.push(("no kid", sign(no_kid, &claims)));
    let mut untyped = header(&kid);
    untyped.typ = Some("JWT".into());
    cases.push(("typ JWT (an ID token, say)", sign(untyped, &claims)));
    let mut jku = header(&kid);
    jku.jku = Some("https://attacker.example/jwks.json".into());
    cases.push(("jku pointing elsewhere", sign(jku, &claims)));
    // Claims.
    cases.push((
        "expired",
        sign(
            header(&kid),
            &with(&|c| {
                c["exp"] = json!(now - 120);
                c["iat"] = json!(now - 1020);
                c["nbf"] = json!(now - 1020);
            }),
        ),
    ));
    cases.push((
        "nbf in the future",
        sign(header(&kid), &with(&|c| c["nbf"] = json!(now + 120))),
    ));
    cases.push((
        "wrong iss",
        sign(
            header(&kid),
            &with(&|c| c["iss"] = json!("https://attacker.example")),
        ),
    ));
    cases.push((
        "wrong aud",
        sign(header(&kid), &with(&|c| c["aud"] = json!("another-api"))),
    ));
    cases.push((
        "no aud",
        sign(
            header(&kid),
            &with(&|c| {
                c.as_object_mut().unwrap().remove("aud");
            }),
        ),
    ));
    cases.push((
        "no exp",
        sign(
            header(&kid),
            &with(&|c| {
                c.as_object_mut().unwrap().remove("exp");
            }),
        ),
    ));
    // Tampered payload under the genuine signature.
    let mut parts: Vec<String> = owner.split('.').map(str::to_owned).collect();
    parts[1] =
        URL_SAFE_NO_PAD.encode(with(&|c| c["roles"] = json!(["owner", "admin"])).to_string());
    cases.push(("tampered payload", parts.join(".")));
    // A session that does not exist (forged with the real key: only the session check stops it).
    cases.push((
        "unknown session",
        sign(
            header(&kid),
            &with(&|c| c["sid"] = json!("01J0000000000000000000000B")),
        ),
    ));
    // Oversized: refused before any parsing.
    let mut big = header(&kid);
    big.cty = Some("x".repeat(8 * 1024));
    cases.push(("oversized header", sign(big, &claims)));
    cases.push(("garbage", "ey.ey.ey".into()));

    for (what, token) in &cases {
        let r = api.get("/v1/media", token).await;
        assert_eq!(
            r.status,
            StatusCode::UNAUTHORIZED,
            "{what} was accepted: {}",
            r.body
        );
        // The refusal never echoes the token.
        assert!(!r.body.to_string().contains(token.as_str()), "{what}");
    }
    // The genuine token still works after all that.
    assert_eq!(status(&api, &owner).await, StatusCode::OK);
}

#[tokio::test]
async fn tokens_of_revoked_sessions_and_reused_refresh_tokens_are_refused() {
    let api = TestApi::start().await;
    let (_, owner) = api.tenant_with_owner("acme").await;
    api.add_user(&owner, "v@example.com", Role::Viewer).await;
    let tokens = api.login("v@example.com").await;
    let next = api.use_refresh_token(refresh(&tokens)).await.body;
    let reuse = api.use_refresh_token(refresh(&tokens)).await;
    assert_eq!(reuse.status, StatusCode::UNAUTHORIZED);
    assert_eq!(status(&api, access(&next)).await, StatusCode::UNAUTHORIZED);

    let other = api.login("v@example.com").await;
    api.call(Method::POST, "/v1/auth/logout", Some(access(&other)), None)
        .await;
    assert_eq!(status(&api, access(&other)).await, StatusCode::UNAUTHORIZED);

    // The token of a deleted (erased) user, still within its 15 minutes.
    let last = api.login("v@example.com").await;
    let me = api.get("/v1/me", access(&last)).await.body["user"]
        .as_str()
        .unwrap()
        .to_owned();
    let erased = api.delete(&format!("/v1/users/{me}"), &owner).await;
    assert_eq!(erased.status, StatusCode::NO_CONTENT);
    assert_eq!(status(&api, access(&last)).await, StatusCode::UNAUTHORIZED);
}
