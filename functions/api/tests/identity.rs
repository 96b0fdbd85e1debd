//! Users, sessions and API keys through the API: invitation → sign-in → refresh → sign-out,
//! refresh-token reuse, lockout, scopes and revocation, role changes, key rotation.

mod support;

use std::time::Duration;

use axum::http::{Method, StatusCode};
use chrono::Utc;
use mvidarr_auth::Role;
use mvidarr_auth::service::LockoutPolicy;
use mvidarr_auth::totp::{self, TotpSecret};
use serde_json::json;
use support::{PASSWORD, TestApi, access, refresh};

#[tokio::test]
async fn an_invited_user_signs_in_refreshes_and_signs_out() {
    let api = TestApi::start().await;
    let (_, owner) = api.tenant_with_owner("acme").await;
    let user = api
        .add_user(&owner, "Editor@Example.com", Role::Editor)
        .await;

    // Emails compare case-insensitively.
    let tokens = api.login("editor@example.com").await;
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["expires_in"], 900);
    let me = api.get("/v1/me", access(&tokens)).await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.body["user"], user.as_str());
    assert_eq!(me.body["role"], "editor");
    assert!(
        me.body["permissions"]
            .as_array()
            .unwrap()
            .contains(&json!("media:write"))
    );
    assert_eq!(
        api.get("/v1/media", access(&tokens)).await.status,
        StatusCode::OK
    );

    let renewed = api.use_refresh_token(refresh(&tokens)).await;
    assert_eq!(renewed.status, StatusCode::OK, "{}", renewed.body);
    assert_eq!(renewed.headers["cache-control"], "no-store");
    assert_ne!(refresh(&renewed.body), refresh(&tokens));
    assert_eq!(
        api.get("/v1/me", access(&renewed.body)).await.status,
        StatusCode::OK
    );

    let out = api
        .call(
            Method::POST,
            "/v1/auth/logout",
            Some(access(&renewed.body)),
            None,
        )
        .await;
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    // Every token of the session stops working at once, access and refresh alike.
    for token in [access(&tokens), access(&renewed.body)] {
        assert_eq!(
            api.get("/v1/me", token).await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    let again = api.use_refresh_token(refresh(&renewed.body)).await;
    assert_eq!(again.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_reused_refresh_token_revokes_the_whole_session() {
    let api = TestApi::start().await;
    let (_, owner) = api.tenant_with_owner("acme").await;
    api.add_user(&owner, "v@example.com", Role::Viewer).await;
    let first = api.login("v@example.com").await;
    let second = api.use_refresh_token(refresh(&first)).await.body;
    // The thief (or a broken client) replays the first refresh token.
    let replay = api.use_refresh_token(refresh(&first)).await;
    assert_eq!(replay.status, StatusCode::UNAUTHORIZED);
    // The legitimate holder of the newest token is out too, and so is its access token.
    let legit = api.use_refresh_token(refresh(&second)).await;
    assert_eq!(legit.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        api.get("/v1/me", access(&second)).await.status,
        StatusCode::UNAUTHORIZED
    );
    // Another session of the same user is untouched.
    let other = api.login("v@example.com").await;
    assert_eq!(
        api.get("/v1/me", access(&other)).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn junk_refresh_tokens_revoke_nothing() {
    let api = TestApi::start().await;
    let (_, owner) = api.tenant_with_owner("acme").await;
    api.add_user(&owner, "v@example.com", Role::Viewer).await;
    let tokens = api.login("v@example.com").await;
    let genuine = refresh(&tokens);
    // Same session, wrong secret: refused, and the real token still works.
    let forged = format!("{}{}", &genuine[..genuine.len() - 43], "A".repeat(43));
    for junk in ["", "mvr_x", forged.as_str()] {
        let r = api.use_refresh_token(junk).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{junk}");
    }
    let ok = api.use_refresh_token(genuine).await;
    assert_eq!(ok.status, StatusCode::OK);
}

#[tokio::test]
async fn repeated_failures_lock_the_account_with_backoff() {
    let api = TestApi::with_lockout(LockoutPolicy {
        threshold: 3,
        first_lock: chrono::Duration::seconds(1),
        max_lock: chrono::Duration::seconds(60),
    })
    .await;
    let (_, owner) = api.tenant_with_owner("acme").await;
    api.add_user(&owner, "v@example.com", Role::Viewer).await;
    let attempt = |password: &'static str| {
        api.post(
            "/v1/auth/login",
            None,
            json!({"email": "v@example.com", "password": password}),
        )
    };
    for _ in 0..2 {
        let r = attempt("wrong password").await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        assert!(r.headers.get("retry-after").is_none());
    }
    let locked = attempt("wrong password").await;
    assert_eq!(locked.status, StatusCode::UNAUTHORIZED);
    assert_eq!(locked.headers["retry-after"], "1");
    // Locked: even the right password is refused, with the same body as a wrong one.
    let right_but_locked = attempt(PASSWORD).await;
    assert_eq!(right_but_locked.status, StatusCode::UNAUTHORIZED);
    assert_eq!(right_but_locked.body["detail"], locked.body["detail"]);
    assert!(right_but_locked.headers.get("retry-after").is_some());
    tokio::time::sleep(Duration::from_millis(1100)).await;
    // One more failure after the lock doubles it.
    let doubled = attempt("wrong password").await;
    assert_eq!(doubled.headers["retry-after"], "2");
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(attempt(PASSWORD).await.status, StatusCode::OK);
    // Success resets the count: two failures do not lock again.
    for _ in 0..2 {
        assert!(
            attempt("wrong password")
                .await
                .headers
                .get("retry-after")
                .is_none()
        );
    }
}

#[tokio::test]
async fn unknown_emails_and_wrong_passwords_get_the_same_answer() {
    let api = TestApi::start().await;
    let (_, owner) = api.tenant_with_owner("acme").await;
    api.add_user(&owner, "v@example.com", Role::Viewer).await;
    let wrong = api
        .post(
            "/v1/auth/login",
            None,
            json!({"email": "v@example.com", "password": "nope"}),
        )
        .await;
    let unknown = api
        .post(
            "/v1/auth/login",
            None,
            json!({"email": "x@example.com", "password": "nope"}),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!((wrong.status, &wrong.body), (unknown.status, &unknown.body));
    // Sign-in attempts are limited per email, whether or not the account exists, so who
    // gets a 429 first tells nothing either.
    let mut first_429 = Vec::new();
    for email in ["v@example.com", "x@example.com"] {
        let mut n = 1;
        loop {
            n += 1;
            let r = api
                .post(
                    "/v1/auth/login",
                    None,
                    json!({"email": email, "password": "nope"}),
                )
                .await;
            if r.status == StatusCode::TOO_MANY_REQUESTS {
                assert!(r.headers.get("retry-after").is_some());
                break;
            }
            assert!(n < 50, "no limit on sign-in attempts for {email}");
        }
        first_429.push(n);
    }
    assert_eq!(first_429[0], first_429[1]);
}

#[tokio::test]
async fn api_keys_act_within_their_scopes_and_die_when_revoked() {
    let api = TestApi::start().await;
    let created = api
        .post(
            "/v1/api-keys",
            Some(&api.key),
            json!({"name": "dashboard", "scopes": ["media:read"]}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let key = created.body["key"].as_str().unwrap().to_owned();
    let id = created.body["id"].as_str().unwrap().to_owned();
    assert_eq!(api.get("/v1/media", &key).await.status, StatusCode::OK);
    let upload = api
        .post(
            "/v1/uploads",
            Some(&key),
            json!({"filename": "a.mp4", "content_type": "video/mp4", "size": 10}),
        )
        .await;
    assert_eq!(upload.status, StatusCode::FORBIDDEN);

    // Listed without its secret or hash, with its last use.
    let listed = api.get("/v1/api-keys", &api.key).await;
    let entry = listed.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == id.as_str())
        .unwrap()
        .clone();
    assert_eq!(entry["scopes"], json!(["media:read"]));
    assert!(entry["last_used_at"].is_string(), "{entry}");
    let text = listed.body.to_string();
    assert!(!text.contains(&key[key.len() - 43..]) && !text.contains("sha256"));

    let revoked = api.delete(&format!("/v1/api-keys/{id}"), &api.key).await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT);
    assert_eq!(
        api.get("/v1/media", &key).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn keys_cannot_exceed_their_makers_permissions_and_bad_requests_are_400() {
    let api = TestApi::start().await;
    let (_, owner) = api.tenant_with_owner("acme").await;
    api.add_user(&owner, "admin@example.com", Role::Admin).await;
    let admin = api.login("admin@example.com").await;
    let wider = api
        .post(
            "/v1/api-keys",
            Some(access(&admin)),
            json!({"name": "x", "scopes": ["admin:settings"]}),
        )
        .await;
    assert_eq!(wider.status, StatusCode::FORBIDDEN);
    for (body, why) in [
        (
            json!({"name": "x", "scopes": ["media:destroy"]}),
            "unknown scope",
        ),
        (json!({"name": "x", "scopes": []}), "no scope"),
        (json!({"name": "", "scopes": ["media:read"]}), "empty name"),
        (
            json!({"name": "a\u{7}b", "scopes": ["media:read"]}),
            "control character",
        ),
        (
            json!({"name": "x", "scopes": ["media:read"], "expires_at": "2001-01-01T00:00:00Z"}),
            "expired already",
        ),
    ] {
        let r = api.post("/v1/api-keys", Some(access(&admin)), body).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{why}: {}", r.body);
    }
    // An expired key is refused like a revoked one.
    let soon = api
        .identity
        .create_api_key(
            &api.identity
                .authenticate(&api.key, Utc::now())
                .await
                .unwrap(),
            "short",
            Role::Viewer.permissions(),
            Some(Utc::now() + chrono::Duration::milliseconds(300)),
            Utc::now(),
        )
        .await
        .unwrap();
    assert_eq!(api.get("/v1/media", &soon.key).await.status, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        api.get("/v1/media", &soon.key).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn roles_bound_what_one_may_grant_and_changes_apply_to_live_sessions() {
    let api = TestApi::start().await;
    let (_, owner) = api.tenant_with_owner("acme").await;
    let admin_id = api.add_user(&owner, "admin@example.com", Role::Admin).await;
    let admin = api.login("admin@example.com").await;
    // An admin may invite editors, not owners.
    let owner_invite = api
        .post(
            "/v1/invites",
            Some(access(&admin)),
            json!({"email": "o2@example.com", "role": "owner"}),
        )
        .await;
    assert_eq!(owner_invite.status, StatusCode::FORBIDDEN);
    let editor_id = api
        .add_user(access(&admin), "ed@example.com", Role::Editor)
        .await;
    let editor = api.login("ed@example.com").await;
    let upload = json!({"filename": "a.mp4", "content_type": "video/mp4", "size": 10});
    assert_eq!(
        api.post("/v1/uploads", Some(access(&editor)), upload.clone())
            .await
            .status,
        StatusCode::CREATED
    );
    // Demoted to viewer: the very next request of the same session is refused.
    let demote = api
        .call(
            Method::PATCH,
            &format!("/v1/users/{editor_id}"),
            Some(access(&admin)),
            Some(json!({"role": "viewer"})),
        )
        .await;
    assert_eq!(demote.status, StatusCode::OK, "{}", demote.body);
    assert_eq!(
        api.post("/v1/uploads", Some(access(&editor)), upload)
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    // An admin cannot touch the owner, and the last owner cannot be demoted.
    let users = api.get("/v1/users", access(&admin)).await.body;
    let owner_id = users["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["role"] == "owner")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = api
        .call(
            Method::PATCH,
            &format!("/v1/users/{owner_id}"),
            Some(access(&admin)),
            Some(json!({"role": "viewer"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = api
        .call(
            Method::PATCH,
            &format!("/v1/users/{owner_id}"),
            Some(&owner),
            Some(json!({"role": "admin"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    // An admin cannot promote themself.
    let r = api
        .call(
            Method::PATCH,
            &format!("/v1/users/{admin_id}"),
            Some(access(&admin)),
            Some(json!({"role": "owner"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn invitations_are_single_use_and_demand_a_strong_password() {
    let api = TestApi::start().await;
    let (_, owner) = api.tenant_with_owner("acme").await;
    let invite = api
        .post(
            "/v1/invites",
            Some(&owner),
            json!({"email": "new@example.com", "role": "viewer"}),
        )
        .await;
    let token = invite.body["invite_token"].as_str().unwrap();
    for weak in ["short", "new@example.com!!", "passwordpassword"] {
        let r = api
            .post(
                "/v1/auth/invites/accept",
                None,
                json!({"token": token, "password": weak}),
            )
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{weak}: {}", r.body);
    }
    let ok = api
        .post(
            "/v1/auth/invites/accept",
            None,
            json!({"token": token, "password": PASSWORD}),
        )
        .await;
    assert_eq!(ok.status, StatusCode::CREATED);
    let again = api
        .post(
            "/v1/auth/invites/accept",
            None,
            json!({"token": token, "password": PASSWORD}),
        )
        .await;
    assert_eq!(again.status, StatusCode::UNAUTHORIZED);
    // Inviting an existing user is a conflict.
    let dup = api
        .post(
            "/v1/invites",
            Some(&owner),
            json!({"email": "NEW@example.com", "role": "viewer"}),
        )
        .await;
    assert_eq!(dup.status, StatusCode::CONFLICT);
}

#[tokio::test]
async fn a_key_rotation_signs_out_nobody_and_the_jwks_lists_both_keys() {
    let api = TestApi::start().await;
    let (_, owner) = api.tenant_with_owner("acme").await;
    let before = api.get("/.well-known/jwks.json", "").await;
    assert_eq!(before.status, StatusCode::OK);
    assert_eq!(before.body["keys"].as_array().unwrap().len(), 1);
    let old_kid = before.body["keys"][0]["kid"].clone();

    api.identity.rotate_signing_key(Utc::now()).await.unwrap();
    assert_eq!(api.get("/v1/me", &owner).await.status, StatusCode::OK);
    let after = api.get("/.well-known/jwks.json", "").await.body;
    let kids: Vec<_> = after["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].clone())
        .collect();
    assert_eq!(kids.len(), 2);
    assert!(kids.contains(&old_kid));
    let fresh = api.login("owner@acme.example.com").await;
    let header = access(&fresh).split('.').next().unwrap().to_owned();
    let header: serde_json::Value = serde_json::from_slice(
        &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, header).unwrap(),
    )
    .unwrap();
    assert_ne!(header["kid"], old_kid);
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(header["alg"], "EdDSA");
}

/// The code `offset` steps from `base` (a test fixes `base` once, so a step boundary passing
/// mid-test does not change which codes are "spent").
fn code(secret: &TotpSecret, base: u64, offset: i64) -> String {
    format!(
        "{:06}",
        secret.code_at_step(base.saturating_add_signed(offset))
    )
}

fn current_step() -> u64 {
    totp::step_at(Utc::now().timestamp())
}

#[tokio::test]
async fn two_factor_sign_in_with_totp_and_single_use_recovery_codes() {
    let api = TestApi::start().await;
    let (_, owner) = api.tenant_with_owner("acme").await;
    api.add_user(&owner, "v@example.com", Role::Viewer).await;
    let session = api.login("v@example.com").await;
    let enrol = api
        .post(
            "/v1/me/mfa/totp",
            Some(access(&session)),
            json!({"password": PASSWORD}),
        )
        .await;
    assert_eq!(enrol.status, StatusCode::CREATED, "{}", enrol.body);
    assert!(
        enrol.body["otpauth_uri"]
            .as_str()
            .unwrap()
            .starts_with("otpauth://totp/MVidarr:")
    );
    let secret = TotpSecret::from_base32(enrol.body["secret"].as_str().unwrap()).unwrap();
    let t0 = current_step();
    // A wrong first code does not enable anything.
    let wrong = api
        .post(
            "/v1/me/mfa/totp/confirm",
            Some(access(&session)),
            json!({"code": "000000"}),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::BAD_REQUEST);
    let confirmed = api
        .post(
            "/v1/me/mfa/totp/confirm",
            Some(access(&session)),
            json!({"code": code(&secret, t0, 0)}),
        )
        .await;
    assert_eq!(confirmed.status, StatusCode::OK, "{}", confirmed.body);
    let recovery: Vec<String> =
        serde_json::from_value(confirmed.body["recovery_codes"].clone()).unwrap();
    assert_eq!(recovery.len(), 10);

    // The password alone now gets a challenge, not tokens.
    let sign_in = || {
        api.post(
            "/v1/auth/login",
            None,
            json!({"email": "v@example.com", "password": PASSWORD}),
        )
    };
    let challenge = sign_in().await;
    assert_eq!(challenge.body["mfa_required"], true, "{}", challenge.body);
    assert!(challenge.body.get("access_token").is_none());
    let mfa_token = challenge.body["mfa_token"].as_str().unwrap().to_owned();
    // The code just used to confirm cannot be used again (replay), the next step's can.
    let replay = api
        .post(
            "/v1/auth/mfa",
            None,
            json!({"mfa_token": mfa_token, "code": code(&secret, t0, 0)}),
        )
        .await;
    assert_eq!(replay.status, StatusCode::UNAUTHORIZED);
    let done = api
        .post(
            "/v1/auth/mfa",
            None,
            json!({"mfa_token": mfa_token, "code": code(&secret, t0, 1)}),
        )
        .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    let amr = serde_json::from_slice::<serde_json::Value>(
        &base64::Engine::decode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            access(&done.body).split('.').nth(1).unwrap(),
        )
        .unwrap(),
    )
    .unwrap()["amr"]
        .clone();
    assert_eq!(amr, json!(["pwd", "otp"]));
    // A used challenge is gone.
    let again = api
        .post(
            "/v1/auth/mfa",
            None,
            json!({"mfa_token": mfa_token, "code": code(&secret, t0, 1)}),
        )
        .await;
    assert_eq!(again.status, StatusCode::UNAUTHORIZED);

    // Recovery codes: any spelling, each once.
    let token = sign_in().await.body["mfa_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let shouted = recovery[0].to_uppercase().replace('-', " ");
    let rec = api
        .post(
            "/v1/auth/mfa",
            None,
            json!({"mfa_token": token, "recovery_code": shouted}),
        )
        .await;
    assert_eq!(rec.status, StatusCode::OK, "{}", rec.body);
    let token = sign_in().await.body["mfa_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let reused = api
        .post(
            "/v1/auth/mfa",
            None,
            json!({"mfa_token": token, "recovery_code": recovery[0]}),
        )
        .await;
    assert_eq!(reused.status, StatusCode::UNAUTHORIZED);
    // Both factors at once, or neither, is a bad request.
    let both = api
        .post(
            "/v1/auth/mfa",
            None,
            json!({"mfa_token": token, "code": "123456", "recovery_code": recovery[1]}),
        )
        .await;
    assert_eq!(both.status, StatusCode::BAD_REQUEST);

    // Five wrong codes void the challenge, even for the right code after.
    let token = sign_in().await.body["mfa_token"]
        .as_str()
        .unwrap()
        .to_owned();
    for _ in 0..5 {
        let r = api
            .post(
                "/v1/auth/mfa",
                None,
                json!({"mfa_token": token, "code": "999999"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }
    let late = api
        .post(
            "/v1/auth/mfa",
            None,
            json!({"mfa_token": token, "recovery_code": recovery[2]}),
        )
        .await;
    assert_eq!(late.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn turning_two_factor_off_needs_a_fresh_code() {
    let api = TestApi::start().await;
    let (_, owner) = api.tenant_with_owner("acme").await;
    let enrol = api
        .post(
            "/v1/me/mfa/totp",
            Some(&owner),
            json!({"password": PASSWORD}),
        )
        .await;
    let secret = TotpSecret::from_base32(enrol.body["secret"].as_str().unwrap()).unwrap();
    let t0 = current_step();
    let confirm = api
        .post(
            "/v1/me/mfa/totp/confirm",
            Some(&owner),
            json!({"code": code(&secret, t0, 0)}),
        )
        .await;
    assert_eq!(confirm.status, StatusCode::OK);
    let again = api
        .post(
            "/v1/me/mfa/totp",
            Some(&owner),
            json!({"password": PASSWORD}),
        )
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT, "enrolling twice");
    let no_password = api
        .post(
            "/v1/me/mfa/totp/disable",
            Some(&owner),
            json!({"password": "not my password at all", "code": code(&secret, t0, 1)}),
        )
        .await;
    assert_eq!(
        no_password.status,
        StatusCode::FORBIDDEN,
        "a stolen session turned it off"
    );
    for (steps, why) in [(-1, "an older code"), (0, "the code already spent")] {
        let r = api
            .post(
                "/v1/me/mfa/totp/disable",
                Some(&owner),
                json!({"password": PASSWORD, "code": code(&secret, t0, steps)}),
            )
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{why} turned it off");
    }
    let off = api
        .post(
            "/v1/me/mfa/totp/disable",
            Some(&owner),
            json!({"password": PASSWORD, "code": code(&secret, t0, 1)}),
        )
        .await;
    assert_eq!(off.status, StatusCode::NO_CONTENT, "{}", off.body);
    let tokens = api.login("owner@acme.example.com").await;
    assert!(tokens["access_token"].is_string(), "{tokens}");
    let me = api.get("/v1/me", &owner).await;
    assert_eq!(me.status, StatusCode::OK);
}

#[tokio::test]
async fn changing_the_password_needs_the_current_one_and_ends_the_other_sessions() {
    let api = TestApi::start().await;
    let (_, owner) = api.tenant_with_owner("acme").await;
    api.add_user(&owner, "v@example.com", Role::Viewer).await;
    let here = api.login("v@example.com").await;
    let elsewhere = api.login("v@example.com").await;
    let change = |current: &'static str, new: &'static str| {
        api.post(
            "/v1/me/password",
            Some(access(&here)),
            json!({"current_password": current, "new_password": new}),
        )
    };
    let wrong = change("not my password", "a brand new long passphrase 7").await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN, "{}", wrong.body);
    let weak = change(PASSWORD, "short").await;
    assert_eq!(weak.status, StatusCode::BAD_REQUEST);
    let ok = change(PASSWORD, "a brand new long passphrase 7").await;
    assert_eq!(ok.status, StatusCode::NO_CONTENT, "{}", ok.body);
    // This session goes on; the other one ended; the old password no longer signs in.
    assert_eq!(
        api.get("/v1/me", access(&here)).await.status,
        StatusCode::OK
    );
    assert_eq!(
        api.get("/v1/me", access(&elsewhere)).await.status,
        StatusCode::UNAUTHORIZED
    );
    let old = api
        .post(
            "/v1/auth/login",
            None,
            json!({"email": "v@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(old.status, StatusCode::UNAUTHORIZED);
    let new = api
        .post(
            "/v1/auth/login",
            None,
            json!({"email": "v@example.com", "password": "a brand new long passphrase 7"}),
        )
        .await;
    assert_eq!(new.status, StatusCode::OK);
    // An API key has no password.
    let by_key = api
        .post(
            "/v1/me/password",
            Some(&api.key),
            json!({"current_password": "x", "new_password": "y"}),
        )
        .await;
    assert_eq!(by_key.status, StatusCode::BAD_REQUEST);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_guesses_each_spend_one_of_a_challenges_attempts() {
    let api = TestApi::start().await;
    let (_, owner) = api.tenant_with_owner("acme").await;
    let enrol = api
        .post(
            "/v1/me/mfa/totp",
            Some(&owner),
            json!({"password": PASSWORD}),
        )
        .await;
    let secret = TotpSecret::from_base32(enrol.body["secret"].as_str().unwrap()).unwrap();
    let t0 = current_step();
    api.post(
        "/v1/me/mfa/totp/confirm",
        Some(&owner),
        json!({"code": code(&secret, t0, 0)}),
    )
    .await;
    let challenge = api
        .post(
            "/v1/auth/login",
            None,
            json!({"email": "owner@acme.example.com", "password": PASSWORD}),
        )
        .await;
    let token = challenge.body["mfa_token"].as_str().unwrap().to_owned();
    let guesses = (0..20).map(|i| {
        api.post(
            "/v1/auth/mfa",
            None,
            json!({"mfa_token": token, "code": format!("{:06}", 100_000 + i)}),
        )
    });
    for r in futures_util::future::join_all(guesses).await {
        assert_ne!(r.status, StatusCode::OK);
    }
    // Twenty guesses at once spent the challenge: the right code is refused now.
    let right = api
        .post(
            "/v1/auth/mfa",
            None,
            json!({"mfa_token": token, "code": code(&secret, t0, 1)}),
        )
        .await;
    assert_eq!(right.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn keys_follow_their_makers_demotion_and_revocation() {
    let api = TestApi::start().await;
    let (_, owner) = api.tenant_with_owner("acme").await;
    let admin_id = api.add_user(&owner, "admin@example.com", Role::Admin).await;
    let admin = api.login("admin@example.com").await;
    let made = api
        .post(
            "/v1/api-keys",
            Some(access(&admin)),
            json!({"name": "admin's", "scopes": ["admin:users", "media:read", "api-keys:manage"]}),
        )
        .await;
    let key = made.body["key"].as_str().unwrap().to_owned();
    // A key made by that key, without an expiry of its own.
    let child = api
        .post(
            "/v1/api-keys",
            Some(&key),
            json!({"name": "child", "scopes": ["media:read"]}),
        )
        .await;
    assert_eq!(child.status, StatusCode::CREATED, "{}", child.body);
    let child_key = child.body["key"].as_str().unwrap().to_owned();
    assert_eq!(api.get("/v1/users", &key).await.status, StatusCode::OK);

    // Demoted to viewer: the key keeps only what a viewer may do.
    api.call(
        Method::PATCH,
        &format!("/v1/users/{admin_id}"),
        Some(&owner),
        Some(json!({"role": "viewer"})),
    )
    .await;
    assert_eq!(
        api.get("/v1/users", &key).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(api.get("/v1/media", &key).await.status, StatusCode::OK);

    // Revoking the maker revokes what it made.
    let id = made.body["id"].as_str().unwrap();
    let revoked = api.delete(&format!("/v1/api-keys/{id}"), &owner).await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT);
    assert_eq!(
        api.get("/v1/media", &child_key).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_owners_demoting_each_other_at_once_leave_one_owner() {
    let api = TestApi::start().await;
    let api = &api;
    for round in 0..5 {
        let (_, first) = api.tenant_with_owner(&format!("race{round}")).await;
        let second_email = format!("second{round}@example.com");
        let second_id = api.add_user(&first, &second_email, Role::Owner).await;
        let second = access(&api.login(&second_email).await).to_owned();
        let first_id = api.get("/v1/me", &first).await.body["user"]
            .as_str()
            .unwrap()
            .to_owned();
        let demote = |token: String, target: String| async move {
            api.call(
                Method::PATCH,
                &format!("/v1/users/{target}"),
                Some(&token),
                Some(json!({"role": "admin"})),
            )
            .await
            .status
        };
        let (a, b) = tokio::join!(
            demote(first.clone(), second_id),
            demote(second.clone(), first_id)
        );
        let users = api.get("/v1/users", &first).await.body;
        let owners = users["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|u| u["role"] == "owner")
            .count();
        assert_eq!(owners, 1, "round {round}: {a} and {b} left {owners} owners");
    }
}
