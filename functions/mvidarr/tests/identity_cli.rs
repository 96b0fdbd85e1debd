//! Identity on the real `mvidarr` binary: `tenant create` prints an owner invitation that a
//! person accepts over HTTP on a running server, then signs in with the production Argon2
//! parameters; `signing-key rotate` signs nobody out.

use mvidarr_tests::server::{Server, ServerOptions, cli_stdout, run_cli};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_mvidarr");

fn mvidarr(data: &std::path::Path, args: &[&str]) -> String {
    cli_stdout(BIN.as_ref(), data, args)
}

async fn post(url: &str, bearer: Option<&str>, body: Value) -> (u16, Value) {
    let mut request = reqwest::Client::new().post(url).json(&body);
    if let Some(b) = bearer {
        request = request.bearer_auth(b);
    }
    let r = request.send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_made_on_the_command_line_is_signed_in_to_over_http() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let server = Server::start(BIN.as_ref(), &data, &ServerOptions::default()).unwrap();

    let printed = mvidarr(
        &data,
        &["tenant", "create", "acme", "--owner", "Owner@Acme.example"],
    );
    let invite = printed
        .split_whitespace()
        .find(|w| w.starts_with("mvi_"))
        .unwrap_or_else(|| panic!("no invitation in:\n{printed}"))
        .to_owned();
    assert!(printed.contains(&server.url), "{printed}");
    // The name is taken now.
    let again = run_cli(
        BIN.as_ref(),
        &data,
        &["tenant", "create", "acme", "--owner", "x@acme.example"],
    );
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("exists"));

    let plan = mvidarr(&data, &["tenant", "set-plan", "acme", "pro"]);
    assert!(plan.contains("on the pro plan"), "{plan}");

    let password = "a long and unguessable passphrase 42";
    let (status, user) = post(
        &format!("{}/v1/auth/invites/accept", server.url),
        None,
        json!({"token": invite, "password": password}),
    )
    .await;
    assert_eq!(status, 201, "{user}");
    assert_eq!(user["role"], "owner");
    let (status, tokens) = post(
        &format!("{}/v1/auth/login", server.url),
        None,
        json!({"email": "owner@acme.example", "password": password}),
    )
    .await;
    assert_eq!(status, 200, "{tokens}");
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let client = server.client().with_key(&access);
    let (status, me) = client.get("/v1/me").await.unwrap();
    assert_eq!(status, 200);
    assert_eq!(me["role"], "owner");
    let (_, settings) = client.get("/v1/settings").await.unwrap();
    assert_eq!(settings["plan"], "pro", "{settings}");
    // The new tenant sees none of tenant `default`'s things, and the default key none of its.
    let (_, media) = client.get("/v1/media").await.unwrap();
    assert_eq!(media["items"].as_array().unwrap().len(), 0);

    let rotated = mvidarr(&data, &["signing-key", "rotate"]);
    assert!(rotated.contains("new signing key"), "{rotated}");
    assert_eq!(
        client.get("/v1/me").await.unwrap().0,
        200,
        "rotation signed someone out"
    );
    let (status, jwks) = client.get("/.well-known/jwks.json").await.unwrap();
    assert_eq!(status, 200);
    assert!(!jwks["keys"].as_array().unwrap().is_empty());
    server.terminate().unwrap();
}
