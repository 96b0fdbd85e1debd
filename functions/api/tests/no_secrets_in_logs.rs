//! Nothing secret reaches the logs: every identity flow runs with every log level on, and
//! the captured output is searched for each secret that went through the API.

mod support;

use std::io::Write;
use std::sync::{Arc, Mutex};

use axum::http::{Method, StatusCode};
use chrono::Utc;
use mvidarr_auth::totp::{self, TotpSecret};
use serde_json::json;
use support::{PASSWORD, TestApi, access, refresh};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn no_password_token_key_or_code_is_ever_logged() {
    let captured = Captured::default();
    let writer = captured.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .init();

    let mut api = TestApi::start().await;
    // As served: with the HTTP trace layer of `mvidarr serve`.
    api.router = api
        .router
        .clone()
        .layer(tower_http::trace::TraceLayer::new_for_http());
    let mut secrets: Vec<String> = vec![PASSWORD.into(), api.key.clone()];

    let (_, owner) = api.tenant_with_owner("acme").await;
    secrets.push(owner.clone());
    let invite = api
        .post(
            "/v1/invites",
            Some(&owner),
            json!({"email": "v@example.com", "role": "viewer"}),
        )
        .await;
    secrets.push(invite.body["invite_token"].as_str().unwrap().into());
    api.post(
        "/v1/auth/invites/accept",
        None,
        json!({"token": secrets.last().unwrap(), "password": PASSWORD}),
    )
    .await;
    let wrong = "a wrong password that is long";
    secrets.push(wrong.into());
    api.post(
        "/v1/auth/login",
        None,
        json!({"email": "v@example.com", "password": wrong}),
    )
    .await;
    let tokens = api.login("v@example.com").await;
    secrets.extend([access(&tokens).to_owned(), refresh(&tokens).to_owned()]);
    let renewed = api.use_refresh_token(refresh(&tokens)).await.body;
    secrets.extend([access(&renewed).to_owned(), refresh(&renewed).to_owned()]);
    // Reuse (revokes the family: logged as a warning, without the token).
    api.use_refresh_token(refresh(&tokens)).await;

    let session = api.login("v@example.com").await;
    secrets.extend([access(&session).to_owned(), refresh(&session).to_owned()]);
    let enrol = api
        .post(
            "/v1/me/mfa/totp",
            Some(access(&session)),
            json!({"password": PASSWORD}),
        )
        .await;
    let base32 = enrol.body["secret"].as_str().unwrap().to_owned();
    secrets.push(base32.clone());
    let secret = TotpSecret::from_base32(&base32).unwrap();
    let t0 = totp::step_at(Utc::now().timestamp());
    let code0 = format!("{:06}", secret.code_at_step(t0));
    let confirm = api
        .post(
            "/v1/me/mfa/totp/confirm",
            Some(access(&session)),
            json!({"code": code0}),
        )
        .await;
    let codes: Vec<String> =
        serde_json::from_value(confirm.body["recovery_codes"].clone()).unwrap();
    secrets.extend(codes.iter().cloned());
    let challenge = api
        .post(
            "/v1/auth/login",
            None,
            json!({"email": "v@example.com", "password": PASSWORD}),
        )
        .await;
    let mfa_token = challenge.body["mfa_token"].as_str().unwrap().to_owned();
    secrets.push(mfa_token.clone());
    let done = api
        .post(
            "/v1/auth/mfa",
            None,
            json!({"mfa_token": mfa_token, "recovery_code": codes[0]}),
        )
        .await;
    assert_eq!(done.status, StatusCode::OK);
    secrets.extend([
        access(&done.body).to_owned(),
        refresh(&done.body).to_owned(),
    ]);

    let key = api
        .post(
            "/v1/api-keys",
            Some(&owner),
            json!({"name": "k", "scopes": ["media:read"]}),
        )
        .await;
    let key = key.body["key"].as_str().unwrap().to_owned();
    secrets.push(key.clone());
    api.get("/v1/media", &key).await;
    api.get("/v1/media", &format!("{key}x")).await;
    api.call(
        Method::POST,
        "/v1/me/export",
        Some(access(&done.body)),
        None,
    )
    .await;

    let new_password = "another long passphrase for the logs test";
    secrets.push(new_password.into());
    let changed = api
        .post(
            "/v1/me/password",
            Some(access(&done.body)),
            json!({"current_password": PASSWORD, "new_password": new_password}),
        )
        .await;
    assert_eq!(changed.status, StatusCode::NO_CONTENT);

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.len() > 1000,
        "too little was logged to prove anything:\n{logs}"
    );
    for secret in &secrets {
        // Whole, and the part after the last separator (an API key's or token's secret).
        let tail = secret.rsplit(['_', '.']).next().unwrap();
        for needle in [secret.as_str(), tail] {
            if needle.len() >= 8 {
                assert!(
                    !logs.contains(needle),
                    "a secret was logged ({}…)",
                    &needle[..4]
                );
            }
        }
    }
}
