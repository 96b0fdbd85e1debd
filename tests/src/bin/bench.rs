//! Benchmarks for the embedded platform, printed as a table:
//!
//! - ingest throughput: N generated videos uploaded over HTTP to the real `mvidarr serve`,
//!   from the first request until every one is final (files/hour, probe included);
//! - per-file pipeline time (one file at a time, from the end of its upload to the moment its
//!   record says `indexed`)
//!   against ffmpeg's own time to open and probe the same file (`ffmpeg -i FILE`), as a ratio;
//! - SQLite queue throughput (send + receive + delete, batches of 10).
//!
//! Run it with `scripts/bench.sh` (release build).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use futures_util::StreamExt;
use mvidarr_core::ports::{OutgoingMessage, Queue};
use mvidarr_media::{Ffmpeg, SynthSpec, probe, synthesize};
use mvidarr_store_local::db::Database;
use mvidarr_store_local::queue::{QueueConfig, SqliteQueue};
use mvidarr_tests::server::{ApiClient, Server, ServerOptions};

#[derive(Parser)]
struct Args {
    /// Videos to ingest for the throughput figure.
    #[arg(long, default_value_t = 200)]
    files: usize,
    /// Distinct generated videos (the rest are re-uploads of these under new ids).
    #[arg(long, default_value_t = 20)]
    distinct: usize,
    /// Messages for the queue benchmark.
    #[arg(long, default_value_t = 20_000)]
    queue_messages: usize,
    /// Concurrent uploads in the throughput run.
    #[arg(long, default_value_t = 8)]
    parallel: usize,
    /// The `mvidarr` binary to benchmark (use a release build for real figures).
    #[arg(long)]
    mvidarr: PathBuf,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let tmp = tempfile::tempdir()?;
    let ffmpeg = Ffmpeg::locate()?;
    let distinct = args.distinct.clamp(1, args.files.max(1));

    eprintln!("generating {distinct} videos…");
    let mut videos = Vec::new();
    for i in 0..distinct {
        let spec = SynthSpec {
            duration: 1.0 + (i % 5) as f64 * 0.5,
            ..SynthSpec::default()
        };
        let path = tmp.path().join(format!("v{i}.mp4"));
        synthesize(&ffmpeg, &spec, &path).await?;
        videos.push(path);
    }

    let reference = ffmpeg_probe_time(&ffmpeg, &videos, 5).await?;
    let our_probe = our_probe_time(&ffmpeg, &videos, 5).await?;
    let per_file = pipeline_time(&args.mvidarr, &tmp.path().join("seq"), &videos).await?;
    let (throughput_n, wall) = throughput(
        &args.mvidarr,
        &tmp.path().join("bulk"),
        &videos,
        args.files,
        args.parallel,
    )
    .await?;
    let queue_rate = queue_throughput(&tmp.path().join("queue.db"), args.queue_messages).await?;

    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let files_per_hour = throughput_n as f64 / wall.as_secs_f64() * 3600.0;
    println!();
    println!("| measure | value |");
    println!("|---|---|");
    println!(
        "| cores | {} |",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "| ingest throughput ({throughput_n} files, {} in parallel) | {files_per_hour:.0} files/hour ({:.1} s wall) |",
        args.parallel,
        wall.as_secs_f64()
    );
    println!(
        "| per-file pipeline time, median (upload done → indexed) | {:.1} ms |",
        ms(median(&per_file))
    );
    println!(
        "| ffmpeg's own open/probe time (`ffmpeg -i FILE`), median | {:.1} ms |",
        ms(median(&reference))
    );
    println!(
        "| mvidarr probe (open + decode first frame), median | {:.1} ms |",
        ms(median(&our_probe))
    );
    let (pipeline, reference, probe_alone) = (
        ms(median(&per_file)),
        ms(median(&reference)),
        ms(median(&our_probe)),
    );
    println!(
        "| ratio pipeline / `ffmpeg -i` (target ≤ 1.20) | {:.2} |",
        pipeline / reference
    );
    println!(
        "| ratio pipeline / the same ffmpeg probe run alone | {:.2} (the platform adds {:.1} ms) |",
        pipeline / probe_alone,
        pipeline - probe_alone
    );
    println!(
        "| SQLite queue (send + receive + delete, batches of 10) | {queue_rate:.0} msgs/s (target ≥ 5000) |"
    );
    Ok(())
}

fn median(samples: &[Duration]) -> Duration {
    let mut s = samples.to_vec();
    s.sort();
    s.get(s.len() / 2).copied().unwrap_or_default()
}

/// How long `run` takes on each video, `rounds` times over.
async fn time_each<F, Fut>(
    videos: &[PathBuf],
    rounds: usize,
    run: F,
) -> anyhow::Result<Vec<Duration>>
where
    F: Fn(PathBuf) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let mut out = Vec::new();
    for _ in 0..rounds {
        for v in videos {
            let start = Instant::now();
            run(v.clone()).await?;
            out.push(start.elapsed());
        }
    }
    Ok(out)
}

/// ffmpeg alone opening and describing each file: the reference the pipeline is measured against.
async fn ffmpeg_probe_time(
    ffmpeg: &Ffmpeg,
    videos: &[PathBuf],
    rounds: usize,
) -> anyhow::Result<Vec<Duration>> {
    time_each(videos, rounds, |v| async move {
        let o = ffmpeg
            .command()
            .arg("-i")
            .arg(&v)
            .output()
            .await
            .context("running ffmpeg -i")?;
        // `ffmpeg -i` with no output exits 1 after printing the description.
        if !String::from_utf8_lossy(&o.stderr).contains("Duration:") {
            bail!("ffmpeg -i did not describe {}", v.display());
        }
        Ok(())
    })
    .await
}

/// mvidarr's probe (describe + decode the first frame), called as the pipeline calls it.
async fn our_probe_time(
    ffmpeg: &Ffmpeg,
    videos: &[PathBuf],
    rounds: usize,
) -> anyhow::Result<Vec<Duration>> {
    time_each(videos, rounds, |v| async move {
        probe(ffmpeg, &v.to_string_lossy(), Duration::from_secs(60)).await?;
        Ok(())
    })
    .await
}

fn start(binary: &Path, data: &Path) -> anyhow::Result<Server> {
    Server::start(binary, data, &ServerOptions::default())
}

/// One file at a time: from the moment its bytes are stored to the moment it is indexed.
async fn pipeline_time(
    binary: &Path,
    data: &Path,
    videos: &[PathBuf],
) -> anyhow::Result<Vec<Duration>> {
    let server = start(binary, data)?;
    let api = server.client();
    let mut out = Vec::new();
    // A warm-up file first: the first one pays for page-cache and SQLite warm-up.
    for (i, v) in std::iter::once(&videos[0]).chain(videos).enumerate() {
        let bytes = std::fs::read(v)?;
        let ticket = api.ticket("v.mp4", "video/mp4", bytes.len() as u64).await?;
        if api.put(&ticket, bytes).await? != 200 {
            bail!("upload failed");
        }
        let stored = chrono::Utc::now();
        // Polled gently; the time is read from the record (when it became indexed), so the
        // polling interval does not count.
        let media = wait_indexed(&api, &ticket.media_id, Duration::from_millis(5)).await?;
        let indexed: chrono::DateTime<chrono::Utc> = media["updated_at"]
            .as_str()
            .context("updated_at")?
            .parse()?;
        if i > 0 {
            out.push((indexed - stored).to_std().unwrap_or_default());
        }
    }
    server.terminate()?;
    Ok(out)
}

async fn wait_indexed(
    api: &ApiClient,
    id: &str,
    poll: Duration,
) -> anyhow::Result<serde_json::Value> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (_, m) = api.get(&format!("/v1/media/{id}")).await?;
        match m["status"].as_str() {
            Some("indexed") => return Ok(m),
            Some("failed" | "quarantined") => bail!("media {id} ended {m}"),
            _ if Instant::now() > deadline => bail!("media {id} not indexed in time: {m}"),
            _ => tokio::time::sleep(poll).await,
        }
    }
}

/// `n` uploads, `parallel` at a time, until all are indexed.
async fn throughput(
    binary: &Path,
    data: &Path,
    videos: &[PathBuf],
    n: usize,
    parallel: usize,
) -> anyhow::Result<(usize, Duration)> {
    let server = start(binary, data)?;
    // One key per lane: each key has its own rate-limit bucket, and eight clients polling
    // every 20 ms would otherwise measure the limiter, not the pipeline.
    let mut lanes = Vec::new();
    for lane in 0..parallel.max(1) {
        lanes.push(
            server
                .client()
                .with_own_key(&format!("bench lane {lane}"))
                .await?,
        );
    }
    let contents: Vec<Vec<u8>> = videos.iter().map(std::fs::read).collect::<Result<_, _>>()?;
    let start = Instant::now();
    let results: Vec<anyhow::Result<()>> = futures_util::stream::iter(0..n)
        .map(|i| {
            let api = lanes[i % lanes.len()].clone();
            let bytes = contents[i % contents.len()].clone();
            async move {
                let id = api.upload(&format!("v{i}.mp4"), bytes).await?;
                wait_indexed(&api, &id, Duration::from_millis(20))
                    .await
                    .map(drop)
            }
        })
        .buffer_unordered(parallel.max(1))
        .collect()
        .await;
    let wall = start.elapsed();
    for r in results {
        r?;
    }
    server.terminate()?;
    Ok((n, wall))
}

/// Send, receive and delete `n` messages in batches of 10, as the ingest worker does.
async fn queue_throughput(db_path: &Path, n: usize) -> anyhow::Result<f64> {
    let db = Database::open(db_path)?;
    let queue = SqliteQueue::open(
        db,
        "bench",
        QueueConfig {
            max_receives: 5,
            dead_letter: Some("bench-dlq".into()),
        },
    )?;
    let body = r#"{"Records":[{"eventName":"ObjectCreated:Put","s3":{"object":{"key":"t/x/uploads/y"}}}]}"#;
    let start = Instant::now();
    let mut done = 0;
    while done < n {
        queue
            .send_batch((0..10).map(|_| OutgoingMessage::new(body)).collect())
            .await?;
        let got = queue
            .receive(10, Duration::from_secs(30), Duration::ZERO)
            .await?;
        for m in &got {
            queue.delete(&m.receipt_handle).await?;
        }
        done += got.len();
    }
    Ok(done as f64 / start.elapsed().as_secs_f64())
}
