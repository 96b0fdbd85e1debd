//! A `moto_server` process on 127.0.0.1 and SDK configuration that talks to it.

use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_config::SdkConfig;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use mvidarr_store_aws::{AwsSettings, sdk_config};

pub const REGION: &str = "us-east-1";
/// moto's default account.
pub const ACCOUNT: &str = "123456789012";

pub struct Moto {
    pub endpoint: String,
    child: Child,
}

impl Moto {
    /// One server for the whole test binary, started on first use. It exits when the test
    /// process does (see `scripts/python/moto_server.py`).
    pub fn shared() -> &'static Moto {
        static SHARED: OnceLock<Moto> = OnceLock::new();
        SHARED.get_or_init(|| Moto::start().unwrap_or_else(|e| panic!("{e}")))
    }

    /// A server of one's own, stopped on drop: for tests that need moto's state to themselves.
    pub fn start() -> Result<Moto, String> {
        let python = venv_python()?;
        let launcher = repo_root().join("scripts/python/moto_server.py");
        // Another process can take the port between our probe and moto's bind; try again then.
        let mut last_error = String::new();
        for _ in 0..5 {
            let port = free_port().map_err(|e| format!("no free port: {e}"))?;
            let log = std::env::temp_dir().join(format!("moto-{port}.log"));
            let log_file = std::fs::File::create(&log).map_err(|e| e.to_string())?;
            let child = Command::new(&python)
                .arg(&launcher)
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdin(Stdio::null())
                .stdout(log_file.try_clone().map_err(|e| e.to_string())?)
                .stderr(log_file)
                .spawn()
                .map_err(|e| format!("starting {}: {e}", python.display()))?;
            let mut moto = Moto {
                endpoint: format!("http://127.0.0.1:{port}"),
                child,
            };
            match moto.wait_ready(Duration::from_secs(30)) {
                Ok(()) => return Ok(moto),
                Err(e) => {
                    let output = std::fs::read_to_string(&log).unwrap_or_default();
                    last_error = format!("moto_server did not start: {e}\n{output}");
                }
            }
        }
        Err(last_error)
    }

    fn wait_ready(&mut self, limit: Duration) -> Result<(), String> {
        let started = Instant::now();
        let address = self.endpoint.trim_start_matches("http://").to_owned();
        while started.elapsed() < limit {
            if let Some(status) = self.child.try_wait().map_err(|e| e.to_string())? {
                return Err(format!("exited with {status}"));
            }
            // moto's server binds its socket only once the app is loaded, so a connection
            // means it is ready to answer.
            if TcpStream::connect(&address).is_ok() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(format!("not listening on {address} after {limit:?}"))
    }

    /// SDK configuration for this server: its endpoint, a fixed region and test credentials.
    pub async fn sdk_config(&self) -> SdkConfig {
        sdk_config(&AwsSettings {
            endpoint_url: Some(self.endpoint.clone()),
            region: Some(REGION.to_owned()),
            static_credentials: Some(("testing".to_owned(), "testing".to_owned())),
        })
        .await
    }

    /// Forget every resource (moto's reset API).
    pub async fn reset(&self) {
        reqwest::Client::new()
            .post(format!("{}/moto-api/reset", self.endpoint))
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .expect("reset moto");
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// SDK configuration for a loopback port nothing listens on (free a moment ago), with two
/// quick attempts and short timeouts: for checking, fast, that an unreachable service is a
/// transient failure. Every service's client built from it fails to connect.
pub async fn unreachable_sdk_config() -> SdkConfig {
    let port = free_port().expect("a free port");
    sdk_config(&AwsSettings {
        endpoint_url: Some(format!("http://127.0.0.1:{port}")),
        region: Some(REGION.to_owned()),
        static_credentials: Some(("testing".to_owned(), "testing".to_owned())),
    })
    .await
    .into_builder()
    .retry_config(
        RetryConfig::standard()
            .with_max_attempts(2)
            .with_initial_backoff(Duration::from_millis(10)),
    )
    .timeout_config(
        TimeoutConfig::builder()
            .connect_timeout(Duration::from_millis(500))
            .operation_attempt_timeout(Duration::from_secs(1))
            .operation_timeout(Duration::from_secs(3))
            .build(),
    )
    .build()
}

/// A resource name no other test (or earlier run against the same server) uses:
/// `{prefix}-{pid}-{time}-{counter}`, lowercase, so it is a valid bucket, table or queue name.
pub fn unique_name(prefix: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() % 1_000_000_000);
    format!(
        "{prefix}-{}-{nanos}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is inside the repository")
        .to_path_buf()
}

fn venv_python() -> Result<PathBuf, String> {
    let python = repo_root().join(".venv/bin/python");
    if python.exists() {
        Ok(python)
    } else {
        Err(format!(
            "{} is missing: run scripts/python/venv.sh (scripts/test.sh does) to install the \
             pinned moto_server",
            python.display()
        ))
    }
}

fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port())
}
