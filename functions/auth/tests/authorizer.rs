//! The authorizer's decisions on events shaped as API Gateway sends them, over the identity
//! service on the embedded platform.

mod support;

use chrono::{Duration, Utc};
use lambda_runtime::{Context, Diagnostic, LambdaEvent};
use mvidarr_auth::{Permission, Permissions, Role};
use mvidarr_auth_fn::{AuthorizerError, AuthorizerResponse, CallerKind, handle};
use serde_json::{Value, json};
use support::{World, allowed, assert_refused, bearer, event};

#[tokio::test]
async fn an_access_token_is_allowed_with_the_users_context() {
    let world = World::new().await;

    let response = world.authorize(Some(&bearer(&world.owner_token))).await;

    let caller = allowed(response.as_ref().unwrap());
    assert_eq!(caller.tenant, world.tenant.to_string());
    assert_eq!(caller.principal, world.owner.subject.to_string());
    assert!(
        caller.principal.starts_with("user:"),
        "{}",
        caller.principal
    );
    assert_eq!(caller.kind, CallerKind::User);
    assert_eq!(caller.role, "owner");
    assert_eq!(
        caller.permissions,
        Role::Owner.permissions().to_scope_string()
    );
}

#[tokio::test]
async fn an_api_key_is_allowed_with_its_scopes_and_no_role() {
    let world = World::new().await;
    let (key, principal) = world
        .api_key(&[Permission::MediaRead, Permission::MediaWrite], None)
        .await;

    let response = world.authorize(Some(&bearer(&key))).await;

    let caller = allowed(response.as_ref().unwrap());
    assert_eq!(caller.tenant, world.tenant.to_string());
    assert_eq!(caller.principal, principal.subject.to_string());
    assert!(caller.principal.starts_with("key:"), "{}", caller.principal);
    assert_eq!(caller.kind, CallerKind::ApiKey);
    assert_eq!(caller.role, "");
    assert_eq!(caller.permissions, "media:read media:write");
}

#[tokio::test]
async fn the_scheme_is_case_insensitive() {
    let world = World::new().await;
    for scheme in ["bearer", "BEARER", "bEaReR"] {
        let authorization = format!("{scheme} {}", world.owner_token);
        let response = world.authorize(Some(&authorization)).await.unwrap();
        allowed(&response);
    }
}

#[tokio::test]
async fn a_revoked_api_key_is_refused_at_once() {
    let world = World::new().await;
    let (key, principal) = world.api_key(&[Permission::MediaRead], None).await;
    allowed(&world.authorize(Some(&bearer(&key))).await.unwrap());
    let mvidarr_auth::Subject::ApiKey { id } = principal.subject else {
        panic!("a key's principal is a key");
    };

    world
        .identity
        .revoke_api_key(&world.owner, id, Utc::now())
        .await
        .unwrap();

    let response = world.authorize(Some(&bearer(&key))).await.unwrap();
    assert_refused(&response, "revoked key");
}

#[tokio::test]
async fn an_expired_api_key_is_refused() {
    let world = World::new().await;
    let expires = Utc::now() + Duration::minutes(5);
    let (key, _) = world.api_key(&[Permission::MediaRead], Some(expires)).await;

    let response = world
        .authorize_at(Some(&bearer(&key)), expires + Duration::seconds(1))
        .await
        .unwrap();

    assert_refused(&response, "expired key");
}

#[tokio::test]
async fn the_access_token_of_a_signed_out_session_is_refused() {
    let world = World::new().await;
    allowed(
        &world
            .authorize(Some(&bearer(&world.owner_token)))
            .await
            .unwrap(),
    );

    world
        .identity
        .logout(&world.owner, Utc::now())
        .await
        .unwrap();

    let response = world
        .authorize(Some(&bearer(&world.owner_token)))
        .await
        .unwrap();
    assert_refused(&response, "signed-out session");
}

#[tokio::test]
async fn requests_without_a_valid_bearer_credential_are_refused() {
    let world = World::new().await;
    let (key, _) = world.api_key(&[Permission::MediaRead], None).await;
    let mut tampered_token = world.owner_token.clone();
    let last = tampered_token.pop().unwrap();
    tampered_token.push(if last == 'A' { 'B' } else { 'A' });
    // `mvk_{id}_{secret}`: keep the prefix and id, replace the secret (which may contain `_`).
    let key_id_part = key.splitn(3, '_').take(2).collect::<Vec<_>>().join("_");
    let wrong_secret = format!("{key_id_part}_{}", "x".repeat(43));
    let cases: Vec<(&str, Option<String>)> = vec![
        ("no Authorization header", None),
        ("an empty header", Some(String::new())),
        (
            "Basic credentials",
            Some("Basic b3duZXI6aHVudGVyMg==".into()),
        ),
        ("the scheme alone", Some("Bearer".into())),
        ("the scheme and spaces", Some("Bearer    ".into())),
        ("a token without a scheme", Some(world.owner_token.clone())),
        ("garbage", Some(bearer("garbage"))),
        ("the fixture's junk JWT", event_authorization()),
        ("a tampered token", Some(bearer(&tampered_token))),
        ("a key with the wrong secret", Some(bearer(&wrong_secret))),
        ("a 10 KB header", Some(bearer(&"a".repeat(10 * 1024)))),
        (
            "a valid token padded to 10 KB",
            Some(format!(
                "Bearer {}{}",
                world.owner_token,
                " ".repeat(10 * 1024)
            )),
        ),
    ];
    for (case, authorization) in cases {
        let response = world
            .authorize(authorization.as_deref())
            .await
            .unwrap_or_else(|e| panic!("{case}: {e}"));
        assert_refused(&response, case);
    }
}

/// The Authorization value of the fixture as stored.
fn event_authorization() -> Option<String> {
    let fixture: Value = serde_json::from_str(support::FIXTURE).unwrap();
    fixture["headers"]["authorization"]
        .as_str()
        .map(str::to_owned)
}

/// API Gateway caches the answer under the identity source: the decision is made on it, so a
/// cached answer can never belong to another credential.
#[tokio::test]
async fn the_identity_source_decides_when_it_differs_from_the_header() {
    let world = World::new().await;
    let valid = bearer(&world.owner_token);

    let mut request = event(Some(&valid));
    request.identity_source = Some(vec![bearer("garbage")]);
    let response = mvidarr_auth_fn::authorize(&world.identity, &request, Utc::now()).await;
    assert_refused(&response.unwrap(), "junk identity source, valid header");

    let mut request = event(Some(&bearer("garbage")));
    request.identity_source = Some(vec![valid.clone()]);
    let response = mvidarr_auth_fn::authorize(&world.identity, &request, Utc::now()).await;
    allowed(&response.unwrap());

    // Without identity sources (an authorizer API Gateway does not cache), the header.
    let mut request = event(Some(&valid));
    request.identity_source = None;
    let response = mvidarr_auth_fn::authorize(&world.identity, &request, Utc::now()).await;
    allowed(&response.unwrap());
}

/// A Deny would be cached for the whole TTL: an outage fails the invocation instead (API
/// Gateway answers 500 and caches nothing).
#[tokio::test]
async fn a_table_outage_fails_the_invocation_instead_of_refusing() {
    let world = World::new().await;
    let (key, _) = world.api_key(&[Permission::MediaRead], None).await;
    world.set_table_down(true);

    for (case, credential) in [("api key", &key), ("access token", &world.owner_token)] {
        let outcome = world.authorize(Some(&bearer(credential))).await;
        let Err(error @ AuthorizerError::Unavailable(_)) = outcome else {
            panic!("{case}: {outcome:?}");
        };
        let diagnostic = Diagnostic::from(error);
        assert_eq!(diagnostic.error_type, "Unavailable", "{case}");
        assert!(
            diagnostic.error_message.contains("table is down"),
            "{case}: the cause is reported: {}",
            diagnostic.error_message
        );
    }

    world.set_table_down(false);
    allowed(&world.authorize(Some(&bearer(&key))).await.unwrap());
}

#[tokio::test]
async fn the_lambda_handler_decides_on_the_event_payload() {
    let world = World::new().await;
    let allow = LambdaEvent::new(event(Some(&bearer(&world.owner_token))), Context::default());
    let deny = LambdaEvent::new(event(Some(&bearer("garbage"))), Context::default());

    allowed(&handle(&world.identity, allow).await.unwrap());
    assert_refused(&handle(&world.identity, deny).await.unwrap(), "garbage");
}

/// `EnableSimpleResponses`: `{"isAuthorized": bool, "context": {string: string}}`.
#[tokio::test]
async fn responses_serialize_to_the_simple_response_shape() {
    let world = World::new().await;
    let (key, principal) = world.api_key(&[Permission::MediaRead], None).await;

    let allow = world.authorize(Some(&bearer(&key))).await.unwrap();
    let deny = world.authorize(Some(&bearer("garbage"))).await.unwrap();

    let allow_json = serde_json::to_value(&allow).unwrap();
    assert_eq!(
        allow_json,
        json!({
            "isAuthorized": true,
            "context": {
                "tenant": world.tenant.to_string(),
                "principal": principal.subject.to_string(),
                "kind": "api_key",
                "role": "",
                "permissions": "media:read",
            }
        })
    );
    assert!(
        allow_json["context"]
            .as_object()
            .unwrap()
            .values()
            .all(Value::is_string),
        "context values are flat strings: {allow_json}"
    );
    assert_eq!(
        serde_json::to_value(&deny).unwrap(),
        json!({"isAuthorized": false, "context": {}})
    );
    // And they read back (what the emulator test decodes).
    for response in [allow, deny] {
        let text = serde_json::to_string(&response).unwrap();
        let back: AuthorizerResponse = serde_json::from_str(&text).unwrap();
        assert_eq!(back, response);
    }
}

#[tokio::test]
async fn the_authorizer_writes_nothing_and_holds_no_private_key() {
    let world = World::new().await;
    let created = world
        .identity
        .create_api_key(
            &world.owner,
            "fresh",
            Permissions::from_iter([Permission::MediaRead]),
            None,
            Utc::now(),
        )
        .await
        .unwrap();
    let allowed = world.authorize(Some(&bearer(&created.key))).await.unwrap();
    assert!(allowed.is_authorized);
    // The API records a key's last use; the authorizer (read-only in the stack) does not try.
    let listed = world.identity.list_api_keys(&world.owner).await.unwrap();
    let key = listed.iter().find(|k| k.id == created.record.id).unwrap();
    assert_eq!(key.last_used_at, None);
    // It verifies tokens but cannot mint one.
    assert!(
        world
            .verifier
            .keyring()
            .await
            .unwrap()
            .signing_kid()
            .is_none()
    );
    assert!(
        world
            .authorize(Some(&bearer(&world.owner_token)))
            .await
            .unwrap()
            .is_authorized
    );
}
