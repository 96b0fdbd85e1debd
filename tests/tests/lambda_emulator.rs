//! The real Lambda binaries (`mvidarr-api`, `mvidarr-auth`, `mvidarr-upload-trigger`,
//! `mvidarr-recommend`, debug builds) under cargo-lambda's Lambda Runtime API emulator, answering
//! events shaped like the ones API Gateway (HTTP API, payload v2, and its Lambda authorizer's
//! requests), SQS (`tests/fixtures/events/`) and an EventBridge schedule send, with their
//! resources (bucket, table, KMS key) on a moto server.
//! This is the whole path the unit tests skip: `main` reading its environment, the runtime
//! client polling `/next`, the event's JSON decoding, and the response's encoding.
//!
//! `cargo lambda watch --only-lambda-apis` serves the Runtime API without building or starting
//! anything; each function is started here with the environment Lambda gives it, pointed at
//! `http://127.0.0.1:<port>/.rt/<function name>`, and `cargo lambda invoke <function name>`
//! sends it one event and prints its response.

use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use chrono::Utc;
use mvidarr_auth::Role;
use mvidarr_auth::service::{Identity, IdentityConfig};
use mvidarr_core::ids::TenantId;
use mvidarr_core::ports::Platform;
use mvidarr_core::repo::{ModelRegistry, TenantRecord, TenantRepo};
use mvidarr_store_aws::AwsSettings;
use mvidarr_store_aws::platform::{AwsPlatform, AwsResources};
use mvidarr_tests::aws::Moto;
use mvidarr_tests::aws::dynamodb::new_table;
use mvidarr_tests::aws::kms::new_key;
use mvidarr_tests::aws::moto::{REGION, repo_root, unique_name};
use mvidarr_tests::aws::s3::{create_bucket, s3_client};
use serde_json::{Value, json};
use tempfile::TempDir;

const API: &str = "mvidarr-api";
const AUTHORIZER: &str = "mvidarr-auth";
const UPLOAD_TRIGGER: &str = "mvidarr-upload-trigger";
const RECOMMEND: &str = "mvidarr-recommend";

/// The `iss` of access tokens: the API's URL, as in the fixtures' `host`.
const TOKEN_ISSUER: &str = "https://k3m9xq2v7d.execute-api.us-east-1.amazonaws.com";

/// The longest one invocation may take (the first one includes the function's cold start).
const INVOKE_TIMEOUT: Duration = Duration::from_secs(20);

#[test]
fn api_answers_http_api_v2_events() {
    let resources = moto_resources();
    let mut lambda = Emulator::start();
    lambda.start_function(API, &resources);

    let health = lambda.invoke(API, "apigw-v2-healthz.json");
    assert_eq!(health["statusCode"], 200, "{health:#}");
    assert_eq!(
        body_json(&health),
        serde_json::json!({ "status": "ok" }),
        "{health:#}"
    );

    // No credentials at all: refused before the table is asked.
    let anonymous = lambda.invoke(API, "apigw-v2-media-unauthenticated.json");
    assert_unauthorized(&anonymous);

    // A well-formed key no tenant owns: refused after a DynamoDB lookup on moto, so this one
    // also shows the function reached its table through `AWS_ENDPOINT_URL` (an unreachable or
    // missing table would be a 500/503, not a 401).
    let unknown = lambda.invoke(API, "apigw-v2-media-unknown-key.json");
    assert_unauthorized(&unknown);
}

#[test]
fn upload_trigger_reports_exactly_the_messages_to_retry() {
    let resources = moto_resources();
    let table = &resources.table;
    let mut lambda = Emulator::start();
    lambda.start_function(UPLOAD_TRIGGER, &resources);

    // Three messages, none an upload to ingest:
    // - S3's `s3:TestEvent` (sent when the notification is configured): acknowledged;
    // - a body that is not JSON: can never be processed, reported as a failure so SQS
    //   redelivers it until the redrive policy moves it to the dead-letter queue, where it
    //   can be looked at;
    // - `ObjectCreated:Copy` of a quarantine key (not under `t/{tenant}/uploads/`): ignored
    //   and acknowledged.
    let response = lambda.invoke(UPLOAD_TRIGGER, "sqs-ingest-nothing-to-ingest.json");
    assert_eq!(
        response,
        serde_json::json!({
            "batchItemFailures": [{ "itemIdentifier": "c3f0b9a2-5d1e-4e8f-a7b6-2c9d8e7f6a5b" }]
        }),
        "{response:#}"
    );
    // Nothing was recorded for any of them.
    let items = runtime().block_on(async {
        let client = mvidarr_tests::aws::dynamodb::dynamo_client(Moto::shared()).await;
        client.scan().table_name(table).send().await
    });
    let items = items.unwrap_or_else(|e| panic!("scan {table}: {e:?}"));
    assert_eq!(items.count(), 0, "{:?}", items.items());
}

#[test]
fn authorizer_answers_http_api_authorizer_requests() {
    let resources = moto_resources();
    // A tenant and its key, made through the identity service on the same table and KMS key
    // (which also makes the first signing key, as the api would on its first cold start).
    let (tenant, key) = runtime().block_on(async {
        let identity = Identity::start(
            resources.platform().await,
            IdentityConfig::new(TOKEN_ISSUER),
        )
        .await
        .unwrap_or_else(|e| panic!("starting the identity service on moto: {e}"));
        let now = Utc::now();
        let (tenant, _invite) = identity
            .create_tenant("emulator", "owner@emulator.example.com", now)
            .await
            .unwrap();
        let key = identity
            .system_api_key(tenant.id, "emulator test", now)
            .await
            .unwrap();
        (tenant.id, key)
    });
    let mut lambda = Emulator::start();
    lambda.start_function(AUTHORIZER, &resources);

    // A JWT-shaped token no key of this deployment signed: refused, with nothing in context.
    let junk = lambda.invoke(AUTHORIZER, "apigw-v2-authorizer-junk-bearer.json");
    assert_eq!(
        junk,
        json!({ "isAuthorized": false, "context": {} }),
        "{junk:#}"
    );

    // The same request with the key: allowed, naming the caller for the api.
    let mut event: Value = serde_json::from_str(
        &std::fs::read_to_string(fixture("apigw-v2-authorizer-junk-bearer.json")).unwrap(),
    )
    .unwrap();
    let authorization = format!("Bearer {}", key.key);
    event["headers"]["authorization"] = json!(authorization);
    event["identitySource"] = json!([authorization]);
    let allowed = lambda.invoke_with(AUTHORIZER, "apigw-v2-authorizer-api-key", &event);
    assert_eq!(
        allowed,
        json!({
            "isAuthorized": true,
            "context": {
                "tenant": tenant.to_string(),
                "principal": format!("key:{}", key.record.id),
                "kind": "api_key",
                "role": "",
                "permissions": Role::Owner.permissions().to_scope_string(),
            }
        }),
        "{allowed:#}"
    );
    // Its logs name the key by id, never the key itself.
    let log = lambda.function_log(AUTHORIZER);
    assert!(log.contains("allowed"), "{log}");
    // `mvk_{id}_{secret}`: the secret is everything after the id (it may contain `_` itself).
    let secret = key.key.splitn(3, '_').nth(2).unwrap_or(&key.key);
    assert!(
        !log.contains(secret),
        "the key's secret is in the log:\n{log}"
    );
}

#[test]
fn recommend_trains_every_tenant_on_a_scheduled_event() {
    let resources = moto_resources();
    // A tenant with no data yet: it still gets a (empty) model, written to the bucket and
    // registered in the table.
    let tenant = runtime().block_on(async {
        let platform = resources.platform().await;
        let record = TenantRecord {
            id: TenantId::generate(),
            name: "emulator".into(),
            created_at: Utc::now(),
        };
        assert!(
            TenantRepo::new(platform.table())
                .create(&record)
                .await
                .unwrap()
        );
        record.id
    });
    let mut lambda = Emulator::start();
    lambda.start_function(RECOMMEND, &resources);

    // What an EventBridge rule with `rate(1 hour)` delivers.
    let event = json!({
        "version": "0",
        "id": "89d1a02d-5ec7-412e-82f5-13505f849b41",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        "region": REGION,
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/mvidarr-RecommendHourly"],
        "detail": {}
    });
    let summary = lambda.invoke_with(RECOMMEND, "eventbridge-scheduled", &event);
    assert_eq!(
        (&summary["trained"], &summary["failed"]),
        (&json!(1), &json!(0)),
        "{summary:#}"
    );
    let trained = &summary["tenants"][0];
    assert_eq!(trained["tenant"], tenant.to_string(), "{summary:#}");
    assert_eq!(
        (&trained["status"], &trained["version"], &trained["items"]),
        (&json!("trained"), &json!(1), &json!(0)),
        "{summary:#}"
    );
    let promoted = runtime().block_on(async {
        ModelRegistry::new(resources.platform().await.table())
            .current(tenant, "reco") // mvidarr_reco::service::FAMILY
            .await
            .unwrap()
    });
    let promoted = promoted.unwrap_or_else(|| panic!("nothing promoted\n{}", lambda.logs()));
    assert_eq!(promoted.version, 1);
}

fn assert_unauthorized(response: &Value) {
    assert_eq!(response["statusCode"], 401, "{response:#}");
    let headers = &response["headers"];
    assert_eq!(
        headers["content-type"], "application/problem+json",
        "{response:#}"
    );
    assert_eq!(headers["www-authenticate"], "Bearer", "{response:#}");
    let problem = body_json(response);
    assert_eq!(problem["status"], 401, "{problem:#}");
    assert_eq!(problem["title"], "Unauthorized", "{problem:#}");
    assert_eq!(problem["type"], "about:blank", "{problem:#}");
}

/// The JSON in an API Gateway v2 response's `body` (text, as lambda_http sends JSON types).
fn body_json(response: &Value) -> Value {
    assert_eq!(response["isBase64Encoded"], false, "{response:#}");
    let body = response["body"]
        .as_str()
        .unwrap_or_else(|| panic!("no body: {response:#}"));
    serde_json::from_str(body).unwrap_or_else(|e| panic!("body is not JSON ({e}): {body}"))
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| tokio::runtime::Runtime::new().expect("tokio runtime"))
}

/// What the stack gives a function, made on the shared moto server under names of its own.
struct Resources {
    bucket: String,
    table: String,
    kms_key_id: String,
}

impl Resources {
    /// The AWS platform over them, as a function builds it from its environment.
    async fn platform(&self) -> AwsPlatform {
        AwsPlatform::connect(
            &AwsSettings {
                endpoint_url: Some(Moto::shared().endpoint.clone()),
                region: Some(REGION.into()),
                static_credentials: Some(("testing".into(), "testing".into())),
            },
            &AwsResources {
                bucket: self.bucket.clone(),
                table: self.table.clone(),
                ingest_queue_url: None,
                events_queue_url: None,
                reports_queue_url: None,
                state_machine_arn: None,
                kms_key_id: Some(self.kms_key_id.clone()),
            },
        )
        .await
    }
}

/// A new bucket, table (single-table schema) and KMS key on the shared moto server.
fn moto_resources() -> Resources {
    runtime().block_on(async {
        let moto = Moto::shared();
        let bucket = unique_name("mvidarr-media");
        create_bucket(&s3_client(moto).await, &bucket).await;
        let table = new_table(moto).await;
        Resources {
            bucket,
            table: table.table_name().to_owned(),
            kms_key_id: new_key(moto).await,
        }
    })
}

fn fixture(event: &str) -> PathBuf {
    repo_root().join("tests/fixtures/events").join(event)
}

/// The debug binaries of the functions, built once per test process. `cargo test` builds
/// a package's binaries only for that package's own integration tests, and an old binary
/// would test old code, so this always asks cargo (a no-op when they are up to date).
fn binaries() -> &'static Path {
    static DIR: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let dir = DIR.get_or_init(|| {
        // This test runs as <target>/debug/deps/lambda_emulator-<hash>.
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .ok_or_else(|| format!("unexpected test binary path {}", exe.display()))?
            .to_path_buf();
        let target_dir = profile_dir
            .parent()
            .ok_or("no target directory")?
            .to_path_buf();
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let output = Command::new(cargo)
            .current_dir(repo_root())
            .env("CARGO_TARGET_DIR", &target_dir)
            // `--workspace`, not `-p`: cargo unifies features over the packages it builds, so
            // `-p` would compile the whole dependency tree (the AWS SDK…) a second time.
            .args(["build", "--quiet", "--workspace", "--bins"])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("running cargo build: {e}"))?;
        if !output.status.success() {
            return Err(format!(
                "cargo build of the Lambda binaries failed:\n{}",
                String::from_utf8_lossy(&output.stderr)
            ));
        }
        Ok(profile_dir)
    });
    dir.as_deref().unwrap_or_else(|e| panic!("{e}"))
}

fn cargo_lambda() -> PathBuf {
    let path = repo_root().join(".venv/bin/cargo-lambda");
    assert!(
        path.exists(),
        "{} is missing: run scripts/python/venv.sh (scripts/test.sh does) to install the pinned \
         cargo-lambda",
        path.display()
    );
    path
}

fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

/// A process started by this test, with its output in a log file; killed on drop.
struct Process {
    name: String,
    child: Child,
    log: PathBuf,
}

impl Process {
    fn spawn(name: &str, command: Command, logs: &Path) -> Process {
        Self::spawn_to(name, command, logs, None)
    }

    /// As [`Process::spawn`], with stdout to a file of its own.
    fn spawn_to(name: &str, mut command: Command, logs: &Path, stdout: Option<&Path>) -> Process {
        let log = logs.join(format!("{name}.log"));
        let file = std::fs::File::create(&log).expect("log file");
        let out = match stdout {
            Some(path) => std::fs::File::create(path).expect("stdout file"),
            None => file.try_clone().expect("log file"),
        };
        let child = command
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(file)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {name}: {e}"));
        Process {
            name: name.to_owned(),
            child,
            log,
        }
    }

    fn output(&self) -> String {
        format!(
            "--- {} ({}) ---\n{}",
            self.name,
            self.log.display(),
            std::fs::read_to_string(&self.log).unwrap_or_default()
        )
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `cargo lambda watch --only-lambda-apis` on a free port, and the functions attached to it.
/// Dropping it (at the end of a test, or when it panics) kills every process it started.
struct Emulator {
    port: u16,
    // Functions first: they are dropped (killed) before the emulator they poll.
    functions: Vec<Process>,
    emulator: Process,
    logs: TempDir,
}

impl Emulator {
    fn start() -> Emulator {
        let logs = tempfile::tempdir().expect("temp dir");
        let mut last_error = String::new();
        // Another process may take the port between the probe and the emulator's bind.
        for _ in 0..3 {
            let port = free_port();
            let mut command = Command::new(cargo_lambda());
            // It reads the workspace's metadata (`cargo metadata`) even when it builds nothing.
            command
                .current_dir(repo_root())
                .args(["lambda", "watch", "--only-lambda-apis", "--ignore-changes"])
                .args(["--invoke-address", "127.0.0.1", "--invoke-port"])
                .arg(port.to_string());
            let mut emulator = Process::spawn("cargo-lambda-watch", command, logs.path());
            match wait_listening(&mut emulator, port, Duration::from_secs(20)) {
                Ok(()) => {
                    return Emulator {
                        port,
                        functions: Vec::new(),
                        emulator,
                        logs,
                    };
                }
                Err(e) => last_error = format!("{e}\n{}", emulator.output()),
            }
        }
        panic!("the cargo-lambda emulator did not start: {last_error}");
    }

    /// Start the debug binary `name` as Lambda would: the Runtime API's address, the
    /// function's identity, the region and (test) credentials, and the stack's settings.
    fn start_function(&mut self, name: &str, resources: &Resources) {
        let moto = Moto::shared();
        let mut command = Command::new(binaries().join(name));
        command
            .current_dir(self.logs.path())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env(
                "AWS_LAMBDA_RUNTIME_API",
                format!("http://127.0.0.1:{}/.rt/{name}", self.port),
            )
            .env("AWS_LAMBDA_FUNCTION_NAME", name)
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1024")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}"))
            .env(
                "AWS_LAMBDA_LOG_STREAM_NAME",
                "2025/05/14/[$LATEST]0f1e2d3c4b5a69788796a5b4c3d2e1f0",
            )
            .env("AWS_REGION", REGION)
            .env("AWS_DEFAULT_REGION", REGION)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_SESSION_TOKEN", "testing")
            .env("AWS_ENDPOINT_URL", &moto.endpoint)
            .env("MEDIA_BUCKET", &resources.bucket)
            .env("TABLE_NAME", &resources.table)
            .env("KMS_KEY_ID", &resources.kms_key_id)
            .env("TOKEN_ISSUER", TOKEN_ISSUER)
            .env("MVIDARR_FFMPEG", repo_root().join("layers/dist/bin/ffmpeg"))
            .env("RUST_LOG", "info");
        self.functions
            .push(Process::spawn(name, command, self.logs.path()));
    }

    /// `cargo lambda invoke <function> --data-file tests/fixtures/events/<event>`: the
    /// function's response as JSON. Fails (with every process's output) when the invocation
    /// errs, a function exits, or no answer comes within [`INVOKE_TIMEOUT`].
    fn invoke(&mut self, function: &str, event: &str) -> Value {
        self.invoke_file(function, event, &fixture(event))
    }

    /// As [`Emulator::invoke`], with an event made by the test (saved under `name`).
    fn invoke_with(&mut self, function: &str, name: &str, event: &Value) -> Value {
        let path = self.logs.path().join(format!("{name}.json"));
        std::fs::write(&path, event.to_string()).expect("write the event");
        self.invoke_file(function, name, &path)
    }

    fn invoke_file(&mut self, function: &str, event: &str, data: &Path) -> Value {
        let mut command = Command::new(cargo_lambda());
        command
            .current_dir(repo_root())
            .args(["lambda", "invoke", "--invoke-address", "127.0.0.1"])
            .args(["--invoke-port", &self.port.to_string()])
            .args(["--output-format", "json", "--data-file"])
            .arg(data)
            .arg(function);
        let name = format!("invoke-{function}-{event}");
        let stdout_path = self.logs.path().join(format!("{name}.out"));
        let mut invoke = Process::spawn_to(&name, command, self.logs.path(), Some(&stdout_path));
        let started = Instant::now();
        let status = loop {
            if let Some(status) = invoke.child.try_wait().expect("waiting for invoke") {
                break status;
            }
            if let Some(f) = self.exited_function() {
                panic!(
                    "{f} exited during the invocation of {event}\n{}",
                    self.logs()
                );
            }
            if started.elapsed() > INVOKE_TIMEOUT {
                panic!(
                    "no response from {function} to {event} after {INVOKE_TIMEOUT:?}\n{}\n{}",
                    invoke.output(),
                    self.logs()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let stdout = std::fs::read_to_string(&stdout_path).unwrap_or_default();
        if !status.success() {
            panic!(
                "cargo lambda invoke {function} {event}: {status}\n{stdout}\n{}\n{}",
                invoke.output(),
                self.logs()
            );
        }
        serde_json::from_str(&stdout).unwrap_or_else(|e| {
            panic!(
                "{function}'s response to {event} is not JSON ({e}):\n{stdout}\n{}",
                self.logs()
            )
        })
    }

    fn exited_function(&mut self) -> Option<String> {
        self.functions.iter_mut().find_map(|f| {
            matches!(f.child.try_wait(), Ok(Some(_)) | Err(_)).then(|| f.name.clone())
        })
    }

    /// What the function `name` has logged so far.
    fn function_log(&self, name: &str) -> String {
        self.functions
            .iter()
            .filter(|f| f.name == name)
            .map(Process::output)
            .collect()
    }

    fn logs(&self) -> String {
        std::iter::once(&self.emulator)
            .chain(&self.functions)
            .map(Process::output)
            .collect::<Vec<_>>()
            .join("\n")
    }
}

fn wait_listening(process: &mut Process, port: u16, limit: Duration) -> Result<(), String> {
    let started = Instant::now();
    while started.elapsed() < limit {
        if let Some(status) = process.child.try_wait().map_err(|e| e.to_string())? {
            return Err(format!("{} exited with {status}", process.name));
        }
        if TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(format!(
        "{} not listening on 127.0.0.1:{port} after {limit:?}",
        process.name
    ))
}
