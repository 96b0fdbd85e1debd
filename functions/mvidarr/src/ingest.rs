//! `mvidarr ingest`: upload files through the public API path (reserve → signed PUT) and wait
//! for each to reach a final state, with a progress bar and a summary. Talks to the running
//! `mvidarr serve` that owns the data directory, or runs the platform in-process if none does.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Deserialize;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::app::{App, ServeArgs, bootstrap_key_path};
use crate::data_dir;

/// File extensions taken from a directory (files named explicitly are always sent).
const VIDEO_EXTENSIONS: &[&str] = &[
    "mp4", "m4v", "mov", "mkv", "webm", "avi", "ts", "m2ts", "mts", "mpg", "mpeg", "flv", "ogv",
    "wmv", "3gp",
];

#[derive(clap::Args, Debug)]
pub struct IngestArgs {
    /// Files, or directories to search for video files.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// API base URL; by default the server running on --data, else an in-process one.
    #[arg(long, env = "MVIDARR_SERVER")]
    pub server: Option<String>,
    /// API key; by default the bootstrap key in the data directory.
    #[arg(long, env = "MVIDARR_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// Give up waiting for a file to finish after this many seconds.
    #[arg(long, default_value_t = 600)]
    pub timeout: u64,
    /// Files uploaded at once.
    #[arg(long, default_value_t = 4)]
    pub parallel: usize,
}

#[derive(Debug, Deserialize)]
struct Ticket {
    media_id: String,
    upload_url: String,
    headers: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
struct MediaView {
    status: String,
    reason: Option<String>,
}

/// How one file ended.
#[derive(Debug)]
enum FileResult {
    Final {
        status: String,
        reason: Option<String>,
    },
    Error(String),
}

pub async fn run(data: &Path, args: IngestArgs) -> anyhow::Result<ExitCode> {
    let files = collect_files(&args.paths)?;
    if files.is_empty() {
        bail!("no video files found in {:?}", args.paths);
    }
    // Use the server that owns the data directory, or run one here for the duration.
    let mut local = None;
    let server = match (&args.server, data_dir::is_locked(data)) {
        (Some(s), _) => s.trim_end_matches('/').to_owned(),
        (None, true) => {
            data_dir::read_server_info(data)
                .context("the data directory is locked but serve.json is missing; pass --server")?
                .url
        }
        (None, false) => {
            let serve_args = ServeArgs {
                listen: "127.0.0.1:0".parse()?,
                ..ServeArgs::defaults()
            };
            let app = App::build(data, serve_args).await?;
            let url = app.url.clone();
            let stop = CancellationToken::new();
            let handle = tokio::spawn(app.run(stop.clone()));
            local = Some((stop, handle));
            url
        }
    };
    let key = match &args.api_key {
        Some(k) => k.clone(),
        None => std::fs::read_to_string(bootstrap_key_path(data))
            .with_context(|| {
                format!(
                    "no --api-key given and no bootstrap key in {}",
                    data.display()
                )
            })?
            .trim()
            .to_owned(),
    };
    let client = reqwest::Client::new();
    let bar = ProgressBar::new(files.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let deadline = Duration::from_secs(args.timeout);
    let results: Vec<(PathBuf, FileResult)> = {
        use futures_util::StreamExt;
        futures_util::stream::iter(files)
            .map(|path| {
                let (client, server, key, bar) = (&client, &server, &key, &bar);
                async move {
                    let r = ingest_one(client, server, key, &path, deadline)
                        .await
                        .unwrap_or_else(|e| FileResult::Error(format!("{e:#}")));
                    bar.inc(1);
                    bar.set_message(
                        path.file_name()
                            .map(|n| n.to_string_lossy().into_owned())
                            .unwrap_or_default(),
                    );
                    (path, r)
                }
            })
            .buffer_unordered(args.parallel.max(1))
            .collect()
            .await
    };
    bar.finish_and_clear();
    if let Some((stop, handle)) = local {
        stop.cancel();
        handle.await??;
    }
    Ok(summarize(&results))
}

fn summarize(results: &[(PathBuf, FileResult)]) -> ExitCode {
    let count = |s: &str| {
        results
            .iter()
            .filter(|(_, r)| matches!(r, FileResult::Final { status, .. } if status == s))
            .count()
    };
    let errors = results
        .iter()
        .filter(|(_, r)| matches!(r, FileResult::Error(_)))
        .count();
    println!(
        "{} files: {} indexed, {} quarantined, {} failed, {} not finished",
        results.len(),
        count("indexed"),
        count("quarantined"),
        count("failed"),
        errors
    );
    for (path, r) in results {
        match r {
            FileResult::Final {
                status,
                reason: Some(reason),
            } => println!("  {status:<11} {}: {reason}", path.display()),
            FileResult::Error(e) => println!("  error       {}: {e}", path.display()),
            FileResult::Final { .. } => {}
        }
    }
    if errors > 0 {
        ExitCode::FAILURE
    } else if count("indexed") < results.len() {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    }
}

async fn ingest_one(
    client: &reqwest::Client,
    server: &str,
    key: &str,
    path: &Path,
    deadline: Duration,
) -> anyhow::Result<FileResult> {
    let file = tokio::fs::File::open(path)
        .await
        .with_context(|| format!("opening {}", path.display()))?;
    let size = file.metadata().await?.len();
    let filename = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let content_type = content_type_for(path);
    let response = client
        .post(format!("{server}/v1/uploads"))
        .bearer_auth(key)
        .json(&json!({ "filename": filename, "content_type": content_type, "size": size }))
        .send()
        .await?;
    if !response.status().is_success() {
        let status = response.status();
        bail!(
            "upload refused ({status}): {}",
            response.text().await.unwrap_or_default()
        );
    }
    let ticket: Ticket = response.json().await?;
    let mut put = client
        .put(&ticket.upload_url)
        .header(reqwest::header::CONTENT_LENGTH, size)
        .body(reqwest::Body::wrap_stream(
            tokio_util::io::ReaderStream::new(file),
        ));
    for (k, v) in &ticket.headers {
        put = put.header(k, v);
    }
    let response = put.send().await?;
    if !response.status().is_success() {
        let status = response.status();
        bail!(
            "upload failed ({status}): {}",
            response.text().await.unwrap_or_default()
        );
    }
    let started = Instant::now();
    let mut delay = Duration::from_millis(50);
    loop {
        let view: MediaView = client
            .get(format!("{server}/v1/media/{}", ticket.media_id))
            .bearer_auth(key)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        if matches!(view.status.as_str(), "indexed" | "failed" | "quarantined") {
            return Ok(FileResult::Final {
                status: view.status,
                reason: view.reason,
            });
        }
        if started.elapsed() > deadline {
            bail!("still {} after {} s", view.status, deadline.as_secs());
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(1));
    }
}

fn content_type_for(path: &Path) -> &'static str {
    match path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("mp4" | "m4v") => "video/mp4",
        Some("mov") => "video/quicktime",
        Some("mkv") => "video/x-matroska",
        Some("webm") => "video/webm",
        Some("avi") => "video/x-msvideo",
        Some("ts" | "m2ts" | "mts") => "video/mp2t",
        Some("mpg" | "mpeg") => "video/mpeg",
        _ => "application/octet-stream",
    }
}

fn collect_files(paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in paths {
        let meta = std::fs::metadata(p).with_context(|| format!("reading {}", p.display()))?;
        if meta.is_dir() {
            let mut stack = vec![p.clone()];
            while let Some(dir) = stack.pop() {
                for entry in std::fs::read_dir(&dir)? {
                    let path = entry?.path();
                    if path.is_dir() {
                        stack.push(path);
                    } else if path.extension().and_then(|e| e.to_str()).is_some_and(|e| {
                        VIDEO_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str())
                    }) {
                        out.push(path);
                    }
                }
            }
        } else {
            out.push(p.clone());
        }
    }
    out.sort();
    Ok(out)
}
