//! What the benchmark binaries share: running a helper script (the autocannon load script, the
//! DuckDB script) that answers with one JSON line, the load script's report, API keys for the
//! load, the machine's load average, and stopping on a signal.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;

use anyhow::{Context, ensure};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// Write `config` to `config_path`, run `program script config_path` with `env`, and read the
/// last JSON line it printed (its report). Its stderr goes to ours.
pub async fn run_json_script<R: DeserializeOwned>(
    program: &Path,
    script: &Path,
    config_path: &Path,
    config: &Value,
    env: &[(&str, String)],
) -> anyhow::Result<R> {
    std::fs::write(config_path, serde_json::to_vec(config)?)
        .with_context(|| format!("writing {}", config_path.display()))?;
    let mut command = tokio::process::Command::new(program);
    command
        .arg(script)
        .arg(config_path)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    for (name, value) in env {
        command.env(name, value);
    }
    let running = || format!("running {} {}", program.display(), script.display());
    let output = command.output().await.with_context(running)?;
    ensure!(
        output.status.success(),
        "{} failed ({})",
        running(),
        output.status
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .with_context(|| format!("{} printed no report", script.display()))?;
    serde_json::from_str(line).with_context(|| format!("{}'s report: {line}", script.display()))
}

/// Run the load script (`scripts/node/bench-reco.mjs`) on `paths` for `duration_seconds`
/// with `connections` in flight; the keys go in its environment, not on disk.
#[allow(clippy::too_many_arguments)]
pub async fn run_load(
    node: &Path,
    script: &Path,
    config_path: &Path,
    url: &str,
    paths: &[String],
    connections: usize,
    duration_seconds: u64,
    keys: &[String],
) -> anyhow::Result<LoadReport> {
    let config = json!({
        "url": url,
        "paths": paths,
        "connections": connections,
        "duration_seconds": duration_seconds,
    });
    run_json_script(
        node,
        script,
        config_path,
        &config,
        &[("BENCH_RECO_API_KEYS", keys.join(","))],
    )
    .await
}

/// What the load script reports for one run.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct LoadReport {
    pub duration_seconds: f64,
    pub responses: u64,
    pub ok: u64,
    pub statuses: BTreeMap<String, u64>,
    pub errors: u64,
    pub timeouts: u64,
    pub requests_per_second: f64,
    pub latency_ms: LatencyMs,
    pub autocannon_latency_ms: LatencyMs,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct LatencyMs {
    pub p50: Option<f64>,
    pub p99: Option<f64>,
    pub max: Option<f64>,
    #[serde(default)]
    pub mean: Option<f64>,
}

impl LoadReport {
    /// A 10-second report with these status counts and failures, latencies 1–3 ms: what the
    /// tests of code reading reports start from.
    pub fn from_counts(statuses: &[(&str, u64)], errors: u64, timeouts: u64) -> LoadReport {
        let statuses: BTreeMap<String, u64> = statuses
            .iter()
            .map(|(s, n)| ((*s).to_owned(), *n))
            .collect();
        let responses = statuses.values().sum();
        let ok = statuses
            .iter()
            .filter(|(s, _)| s.starts_with('2'))
            .map(|(_, n)| n)
            .sum();
        let latency = LatencyMs {
            p50: Some(1.0),
            p99: Some(2.0),
            max: Some(3.0),
            mean: Some(1.1),
        };
        LoadReport {
            duration_seconds: 10.0,
            responses,
            ok,
            statuses,
            errors,
            timeouts,
            requests_per_second: responses as f64 / 10.0,
            latency_ms: latency.clone(),
            autocannon_latency_ms: latency,
        }
    }

    /// Every request answered 2xx, no socket error nor timeout, and at least one response.
    pub fn check(&self) -> Result<(), String> {
        if self.responses == 0 {
            return Err("no response at all".into());
        }
        let refused: Vec<String> = self
            .statuses
            .iter()
            .filter(|(status, _)| !status.starts_with('2'))
            .map(|(status, n)| format!("{n} × {status}"))
            .collect();
        if !refused.is_empty() || self.ok != self.responses {
            return Err(format!(
                "non-2xx answers: {} (of {} responses)",
                refused.join(", "),
                self.responses
            ));
        }
        if self.errors > 0 || self.timeouts > 0 {
            return Err(format!(
                "{} errors, {} timeouts",
                self.errors, self.timeouts
            ));
        }
        Ok(())
    }
}

/// `count` API keys named `{name} {i}` with `scopes`, made with the owner key (each has a
/// rate-limit bucket of its own, so the load is not throttled).
pub async fn api_keys(
    http: &reqwest::Client,
    url: &str,
    owner: &str,
    count: usize,
    name: &str,
    scopes: &[&str],
) -> anyhow::Result<Vec<String>> {
    let mut keys = Vec::with_capacity(count);
    for i in 0..count {
        let response = http
            .post(format!("{url}/v1/api-keys"))
            .bearer_auth(owner)
            .json(&json!({ "name": format!("{name} {i}"), "scopes": scopes }))
            .send()
            .await?;
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        ensure!(status == 201, "POST /v1/api-keys answered {status}: {body}");
        keys.push(body["key"].as_str().context("key")?.to_owned());
    }
    Ok(keys)
}

/// The 1, 5 and 15 minute load averages (Linux).
pub fn load_average() -> Option<[f64; 3]> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    let mut fields = text.split_whitespace().map(str::parse::<f64>);
    Some([
        fields.next()?.ok()?,
        fields.next()?.ok()?,
        fields.next()?.ok()?,
    ])
}

pub fn show_load(load: Option<[f64; 3]>) -> String {
    load.map_or("n/a".into(), |[a, b, c]| format!("{a:.2} {b:.2} {c:.2}"))
}

/// Milliseconds with two decimals, or `n/a`.
pub fn ms(value: Option<f64>) -> String {
    value.map_or("n/a".into(), |v| format!("{v:.2}"))
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn stop_requested() {
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
