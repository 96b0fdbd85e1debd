//! The authorizer never logs a credential: allowed, refused and failed requests run with every
//! log level on, as JSON lines with span fields (as `init_tracing` writes them in Lambda), and
//! the output is searched for each credential and for its secret part alone.
//!
//! A test binary of its own: the subscriber is process-wide.

mod support;

use std::io::Write;
use std::sync::{Arc, Mutex};

use chrono::Utc;
use lambda_runtime::{Context, LambdaEvent};
use mvidarr_auth::Permission;
use mvidarr_auth_fn::handle;
use support::{World, bearer, event};

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
async fn no_token_or_key_is_ever_logged() {
    let captured = Captured::default();
    let writer = captured.clone();
    tracing_subscriber::fmt()
        .json()
        .with_current_span(true)
        .with_span_list(true)
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .init();

    let world = World::new().await;
    let (key, principal) = world.api_key(&[Permission::MediaRead], None).await;
    let (revoked_key, revoked) = world.api_key(&[Permission::MediaRead], None).await;
    let mvidarr_auth::Subject::ApiKey { id } = revoked.subject else {
        panic!("a key's principal is a key");
    };
    world
        .identity
        .revoke_api_key(&world.owner, id, Utc::now())
        .await
        .unwrap();
    let junk = "junk-credential-that-must-not-appear-0123456789";
    let oversized = format!("oversized-{}", "z".repeat(10 * 1024));
    // Set up before capturing what the authorizer logs.
    captured.0.lock().unwrap().clear();

    let mut secrets = vec![
        world.owner_token.clone(),
        key.clone(),
        revoked_key.clone(),
        junk.to_owned(),
        oversized.clone(),
    ];
    let requests = [
        bearer(&world.owner_token),
        bearer(&key),
        bearer(&revoked_key),
        bearer(junk),
        format!("Basic {junk}"),
        bearer(&oversized),
    ];
    for authorization in &requests {
        let event = LambdaEvent::new(event(Some(authorization)), Context::default());
        handle(&world.identity, event).await.unwrap();
    }
    world.set_table_down(true);
    for credential in [&key, &world.owner_token] {
        let event = LambdaEvent::new(event(Some(&bearer(credential))), Context::default());
        handle(&world.identity, event).await.unwrap_err();
    }

    // The parts that are secret on their own: a key's secret after its id, a token's signature.
    for credential in [key.clone(), revoked_key.clone()] {
        // `mvk_{id}_{secret}`: the secret may contain `_` itself.
        secrets.push(credential.splitn(3, '_').nth(2).unwrap().to_owned());
    }
    secrets.push(world.owner_token.rsplit_once('.').unwrap().1.to_owned());

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    // The capture works: each decision was logged, naming the caller by id.
    assert!(logs.contains("\"allowed\""), "{logs}");
    assert!(logs.contains("\"refused\""), "{logs}");
    assert!(logs.contains("could not authenticate"), "{logs}");
    assert!(logs.contains(&principal.subject.to_string()), "{logs}");
    for secret in &secrets {
        assert!(
            !logs.contains(secret.as_str()),
            "a credential reached the logs ({} chars starting {:?}):\n{logs}",
            secret.len(),
            &secret[..8.min(secret.len())]
        );
    }
}
