//! Property tests on everything that parses a credential: arbitrary `Authorization` headers
//! and arbitrary token strings in sign-in bodies never panic and never get past a 4xx.

mod support;

use std::sync::OnceLock;

use axum::body::Body;
use axum::http::{HeaderValue, Request, StatusCode};
use proptest::prelude::*;
use serde_json::json;
use support::TestApi;
use tower::ServiceExt;

/// One runtime and one API for every case (starting one per case would dominate the run).
fn shared() -> &'static (tokio::runtime::Runtime, TestApi) {
    static SHARED: OnceLock<(tokio::runtime::Runtime, TestApi)> = OnceLock::new();
    SHARED.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let api = rt.block_on(TestApi::start());
        (rt, api)
    })
}

/// Strings shaped like our credentials, with the structure intact but parts garbled, plus
/// plain noise of any length up to past the token size limit.
fn credential_like() -> impl Strategy<Value = String> {
    let part = "[A-Za-z0-9_.=+/-]{0,60}";
    prop_oneof![
        any::<String>(),
        proptest::collection::vec(any::<u8>(), 0..9000)
            .prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
        (part, part, part).prop_map(|(a, b, c)| format!("{a}.{b}.{c}")),
        (part, part).prop_map(|(a, b)| format!("mvk_{a}_{b}")),
        (part, part, part, part).prop_map(|(a, b, c, d)| format!("mvr_{a}_{b}_{c}_{d}")),
        (part, part, part).prop_map(|(a, b, c)| format!("mvi_{a}_{b}_{c}")),
        (part, part, part, part).prop_map(|(a, b, c, d)| format!("mvm_{a}_{b}_{c}_{d}")),
        "eyJ[A-Za-z0-9_-]{0,300}\\.eyJ[A-Za-z0-9_-]{0,300}\\.[A-Za-z0-9_-]{0,100}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn any_authorization_header_is_a_clean_401(value in credential_like(), scheme in "(Bearer|bearer|BEARER|Basic|)( |  |)") {
        let (rt, api) = shared();
        rt.block_on(async {
            let header = format!("{scheme}{value}");
            let Ok(header) = HeaderValue::from_bytes(header.as_bytes()) else {
                return Ok(()); // not sendable over HTTP at all
            };
            let request = Request::get("/v1/media")
                .header("authorization", header)
                .body(Body::empty())
                .unwrap();
            let response = api.router.clone().oneshot(request).await.unwrap();
            prop_assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
            Ok(())
        })?;
    }

    #[test]
    fn any_token_in_a_sign_in_body_is_a_4xx(token in credential_like()) {
        let (rt, api) = shared();
        rt.block_on(async {
            for (path, body) in [
                ("/v1/auth/refresh", json!({"refresh_token": token})),
                ("/v1/auth/mfa", json!({"mfa_token": token, "code": "123456"})),
                ("/v1/auth/mfa", json!({"mfa_token": token, "recovery_code": token})),
                ("/v1/auth/invites/accept", json!({"token": token, "password": "correct horse battery staple 9"})),
                ("/v1/auth/login", json!({"email": token, "password": token})),
            ] {
                let r = api.post(path, None, body).await;
                prop_assert!(r.status.is_client_error(), "{} gave {}: {}", path, r.status, r.body);
            }
            Ok(())
        })?;
    }
}
