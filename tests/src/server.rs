//! A real `mvidarr serve` process on a free port with its own data directory, and a small
//! client for the public API, for black-box tests and the benchmark.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};

pub struct Server {
    pub url: String,
    pub api_key: String,
    pub data: PathBuf,
    child: Option<Child>,
    log: PathBuf,
}

/// How to start a server.
#[derive(Clone, Default)]
pub struct ServerOptions {
    /// Extra environment (e.g. `MVIDARR_FFMPEG`, `MVIDARR_MAX_UPLOAD_BYTES`).
    pub env: Vec<(String, String)>,
}

/// Runs a command of the `mvidarr` binary on a data directory (`binary --data DATA ARGS…`) to
/// the end.
pub fn run_cli(binary: &Path, data: &Path, args: &[&str]) -> Output {
    Command::new(binary)
        .arg("--data")
        .arg(data)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", binary.display()))
}

/// What a successful command printed; the test fails with the command's stderr otherwise.
pub fn cli_stdout(binary: &Path, data: &Path, args: &[&str]) -> String {
    let out = run_cli(binary, data, args);
    assert!(
        out.status.success(),
        "{} {args:?} failed:\n{}",
        binary.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("the command prints UTF-8")
}

impl Server {
    /// Start `binary serve` on `data` and wait until it answers `/healthz`.
    pub fn start(binary: &Path, data: &Path, options: &ServerOptions) -> anyhow::Result<Server> {
        std::fs::create_dir_all(data)?;
        let log = data.with_extension(format!("{}.log", std::process::id()));
        let log_file = std::fs::File::options()
            .create(true)
            .append(true)
            .open(&log)?;
        let mut cmd = Command::new(binary);
        cmd.args(["--data"])
            .arg(data)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .stdout(log_file.try_clone()?)
            .stderr(log_file)
            .env("MVIDARR_LOG", "info");
        for (k, v) in &options.env {
            cmd.env(k, v);
        }
        let info = data.join("serve.json");
        let mut child = cmd
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let deadline = Instant::now() + Duration::from_secs(30);
        let url = loop {
            if let Some(status) = child.try_wait()? {
                bail!(
                    "mvidarr serve exited with {status}:\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
            if let Some(url) = std::fs::read(&info)
                .ok()
                .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
                // A killed server leaves its serve.json behind: wait for this one's.
                .filter(|v| v["pid"].as_u64() == Some(u64::from(child.id())))
                .and_then(|v| v["url"].as_str().map(str::to_owned))
            {
                break url;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                bail!(
                    "mvidarr serve did not start in 30 s:\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let api_key = std::fs::read_to_string(data.join("bootstrap-api-key"))?
            .trim()
            .to_owned();
        Ok(Server {
            url,
            api_key,
            data: data.to_owned(),
            child: Some(child),
            log,
        })
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// SIGKILL: no chance to clean up.
    pub fn kill_9(mut self) -> anyhow::Result<()> {
        if let Some(mut c) = self.child.take() {
            c.kill()?; // std sends SIGKILL on Unix
            c.wait()?;
        }
        Ok(())
    }

    /// SIGTERM and wait; returns whether it exited successfully.
    pub fn terminate(mut self) -> anyhow::Result<bool> {
        let Some(mut c) = self.child.take() else {
            return Ok(true);
        };
        Command::new("kill")
            .args(["-TERM", &c.id().to_string()])
            .status()?;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = c.try_wait()? {
                return Ok(status.success());
            }
            if Instant::now() > deadline {
                c.kill()?;
                bail!("mvidarr serve did not stop within 30 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn client(&self) -> ApiClient {
        ApiClient {
            http: reqwest::Client::new(),
            url: self.url.clone(),
            api_key: self.api_key.clone(),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The public API as a client sees it.
#[derive(Clone)]
pub struct ApiClient {
    pub http: reqwest::Client,
    pub url: String,
    pub api_key: String,
}

/// What `POST /v1/uploads` returned.
#[derive(Debug, Clone)]
pub struct Ticket {
    pub media_id: String,
    pub upload_url: String,
    pub content_type: String,
}

impl ApiClient {
    pub fn with_key(&self, key: &str) -> ApiClient {
        ApiClient {
            api_key: key.to_owned(),
            ..self.clone()
        }
    }

    /// A client with an API key of its own (made with this client's key, same scopes), so
    /// its requests spend a rate-limit bucket of their own.
    pub async fn with_own_key(&self, name: &str) -> anyhow::Result<ApiClient> {
        let request = self
            .http
            .post(format!("{}/v1/api-keys", self.url))
            .bearer_auth(&self.api_key)
            .json(&json!({
                "name": name,
                "scopes": ["media:read", "media:write"],
            }));
        let r = send_politely(request).await?;
        let status = r.status().as_u16();
        let body: Value = r.json().await.unwrap_or(Value::Null);
        if status != 201 {
            bail!("POST /v1/api-keys answered {status}: {body}");
        }
        let key = body["key"].as_str().context("key")?;
        Ok(self.with_key(key))
    }

    pub async fn get(&self, path: &str) -> anyhow::Result<(u16, Value)> {
        let request = self
            .http
            .get(format!("{}{path}", self.url))
            .bearer_auth(&self.api_key);
        let r = send_politely(request).await?;
        let status = r.status().as_u16();
        Ok((status, r.json().await.unwrap_or(Value::Null)))
    }

    /// A JSON request with this client's key; the status and the JSON answer.
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: &Value,
    ) -> anyhow::Result<(u16, Value)> {
        let request = self
            .http
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(&self.api_key)
            .json(body);
        let r = send_politely(request).await?;
        let status = r.status().as_u16();
        Ok((status, r.json().await.unwrap_or(Value::Null)))
    }

    pub async fn reserve(
        &self,
        filename: &str,
        content_type: &str,
        size: u64,
    ) -> anyhow::Result<(u16, Value)> {
        let request = self
            .http
            .post(format!("{}/v1/uploads", self.url))
            .bearer_auth(&self.api_key)
            .json(&json!({ "filename": filename, "content_type": content_type, "size": size }));
        let r = send_politely(request).await?;
        let status = r.status().as_u16();
        Ok((status, r.json().await.unwrap_or(Value::Null)))
    }

    pub async fn ticket(
        &self,
        filename: &str,
        content_type: &str,
        size: u64,
    ) -> anyhow::Result<Ticket> {
        let (status, body) = self.reserve(filename, content_type, size).await?;
        if status != 201 {
            bail!("POST /v1/uploads answered {status}: {body}");
        }
        Ok(Ticket {
            media_id: body["media_id"].as_str().context("media_id")?.to_owned(),
            upload_url: body["upload_url"]
                .as_str()
                .context("upload_url")?
                .to_owned(),
            content_type: body["headers"]["content-type"]
                .as_str()
                .unwrap_or(content_type)
                .to_owned(),
        })
    }

    /// PUT bytes to a presigned URL; returns the HTTP status.
    pub async fn put(&self, ticket: &Ticket, bytes: Vec<u8>) -> anyhow::Result<u16> {
        self.put_url(&ticket.upload_url, &ticket.content_type, bytes)
            .await
    }

    pub async fn put_url(
        &self,
        url: &str,
        content_type: &str,
        bytes: Vec<u8>,
    ) -> anyhow::Result<u16> {
        let r = self
            .http
            .put(url)
            .header("content-type", content_type)
            .body(bytes)
            .send()
            .await?;
        Ok(r.status().as_u16())
    }

    /// Reserve and upload; returns the media id.
    pub async fn upload(&self, filename: &str, bytes: Vec<u8>) -> anyhow::Result<String> {
        let ticket = self
            .ticket(filename, "video/mp4", bytes.len().max(1) as u64)
            .await?;
        let status = self.put(&ticket, bytes).await?;
        if status != 200 {
            bail!("PUT answered {status}");
        }
        Ok(ticket.media_id)
    }

    /// Poll until the media is in a final state; returns its view.
    pub async fn wait_final(&self, media_id: &str, timeout: Duration) -> anyhow::Result<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let (status, body) = self.get(&format!("/v1/media/{media_id}")).await?;
            if status == 200
                && matches!(
                    body["status"].as_str(),
                    Some("indexed" | "failed" | "quarantined")
                )
            {
                return Ok(body);
            }
            if Instant::now() > deadline {
                bail!("media {media_id} not final after {timeout:?}: {status} {body}");
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

/// Send, and when the API answers 429, wait as long as its `Retry-After` says and send again,
/// as a well-behaved client does.
async fn send_politely(request: reqwest::RequestBuilder) -> anyhow::Result<reqwest::Response> {
    loop {
        let attempt = request
            .try_clone()
            .context("a request with a streamed body cannot be retried")?;
        let response = attempt.send().await?;
        if response.status() != reqwest::StatusCode::TOO_MANY_REQUESTS {
            return Ok(response);
        }
        let wait = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(1);
        tokio::time::sleep(Duration::from_secs(wait.clamp(1, 60))).await;
    }
}
