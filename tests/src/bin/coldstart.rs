//! Cold-start benchmark for Lambda binaries: the time from starting the process to its first
//! Runtime API request (`GET /2018-06-01/runtime/invocation/next`), which is the part of a
//! Lambda cold start that is the function's own (its `main` up to the runtime loop: logging,
//! configuration, SDK clients, router). Lambda's own share (fetching the code, starting the
//! sandbox) is the same for every function of the same size and is not measured here.
//!
//! A minimal fake Runtime API (a `TcpListener` on 127.0.0.1) accepts the connection, reads the
//! request line, records the time and the child is killed. Runs are interleaved across the
//! binaries (baseline, A, B, baseline, A, B, …) so drift on the machine hits all alike; each
//! binary's median and p90 are printed with their ratio to the baseline (`hello-lambda`, the
//! smallest `lambda_runtime` function) and the binary's file size.
//!
//! Init must not call AWS: every binary gets `AWS_ENDPOINT_URL` pointing at a second listener
//! that only counts connections, and the table shows that count (it should be 0).
//!
//! `scripts/bench-coldstart.sh` builds release binaries and runs this.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use mvidarr_tests::aws::moto::repo_root;

#[derive(Parser)]
#[command(about = "Process start → first Runtime API request, per Lambda binary")]
struct Args {
    /// The baseline binary the others are compared with (`hello-lambda`).
    #[arg(long)]
    baseline: PathBuf,
    /// Measured runs per binary (interleaved across the binaries).
    #[arg(long, default_value_t = 30)]
    runs: usize,
    /// Unmeasured runs per binary first (page cache, dynamic loader caches).
    #[arg(long, default_value_t = 2)]
    warmup: usize,
    /// The longest one start may take before it counts as a failure.
    #[arg(long, default_value_t = 10_000)]
    timeout_ms: u64,
    /// Extra or overriding environment for every binary, KEY=VALUE (repeatable).
    #[arg(long = "env", value_name = "KEY=VALUE", value_parser = parse_env)]
    envs: Vec<(String, String)>,
    /// Exit with an error when a binary's median exceeds this many times the baseline's.
    #[arg(long)]
    max_ratio: Option<f64>,
    /// The binaries to measure.
    #[arg(required = true)]
    binaries: Vec<PathBuf>,
}

fn parse_env(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("{s:?} is not KEY=VALUE"))
}

/// One first request, as the fake Runtime API saw it.
struct Hit {
    at: Instant,
    request_line: String,
}

/// The fake Runtime API: every connection's first line, timestamped as soon as it is read.
struct FakeRuntimeApi {
    address: String,
    hits: Receiver<std::io::Result<Hit>>,
}

impl FakeRuntimeApi {
    fn start() -> anyhow::Result<Self> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        let address = listener.local_addr()?.to_string();
        let (tx, hits) = channel();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let hit = stream.and_then(|stream| {
                    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
                    let mut line = String::new();
                    BufReader::new(&stream).read_line(&mut line)?;
                    let at = Instant::now();
                    // No answer: the child is killed next.
                    Ok(Hit {
                        at,
                        request_line: line.trim_end().to_owned(),
                    })
                });
                if tx.send(hit).is_err() {
                    return;
                }
            }
        });
        Ok(Self { address, hits })
    }

    /// Forget anything left over from an earlier run.
    fn drain(&self) {
        while self.hits.try_recv().is_ok() {}
    }
}

/// A listener standing in for every AWS endpoint: it counts connections and drops them.
struct AwsSentinel {
    endpoint: String,
    connections: Arc<AtomicUsize>,
}

impl AwsSentinel {
    fn start() -> anyhow::Result<Self> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        let endpoint = format!("http://{}", listener.local_addr()?);
        let connections = Arc::new(AtomicUsize::new(0));
        let counter = connections.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                counter.fetch_add(1, Ordering::SeqCst);
                drop(stream);
            }
        });
        Ok(Self {
            endpoint,
            connections,
        })
    }

    fn count(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

struct Binary {
    label: String,
    path: PathBuf,
    size: u64,
    samples: Vec<Duration>,
    aws_connections: usize,
    log: PathBuf,
}

/// A started child that is killed however the run ends.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let api = FakeRuntimeApi::start()?;
    let aws = AwsSentinel::start()?;
    let logs = tempfile::tempdir()?;
    let env = environment(&args, &api, &aws);
    let timeout = Duration::from_millis(args.timeout_ms);

    let paths: Vec<PathBuf> = std::iter::once(args.baseline.clone())
        .chain(args.binaries.iter().cloned())
        .collect();
    let labels = labels(&paths);
    let mut binaries = Vec::new();
    for (i, (path, label)) in paths.iter().zip(labels).enumerate() {
        let size = std::fs::metadata(path)
            .with_context(|| format!("{}", path.display()))?
            .len();
        binaries.push(Binary {
            label,
            path: path.clone(),
            size,
            samples: Vec::with_capacity(args.runs),
            aws_connections: 0,
            log: logs.path().join(format!("{i}.log")),
        });
    }

    eprintln!(
        "{} binaries × ({} warm-up + {} measured) runs, fake Runtime API on {}",
        binaries.len(),
        args.warmup,
        args.runs,
        api.address
    );
    for round in 0..args.warmup + args.runs {
        for b in &mut binaries {
            let before = aws.count();
            let elapsed = measure(b, &env, &api, timeout)?;
            b.aws_connections += aws.count() - before;
            if round >= args.warmup {
                b.samples.push(elapsed);
            }
        }
    }

    report(&binaries, args.max_ratio)
}

/// What Lambda gives every function, the stack's settings, and the AWS endpoint sentinel.
fn environment(args: &Args, api: &FakeRuntimeApi, aws: &AwsSentinel) -> Vec<(String, String)> {
    let ffmpeg = repo_root().join("layers/dist/bin/ffmpeg");
    if !ffmpeg.is_file() {
        eprintln!(
            "warning: {} is missing (bash layers/fetch-ffmpeg.sh); functions that need ffmpeg \
             will not start",
            ffmpeg.display()
        );
    }
    let mut env: Vec<(String, String)> = [
        ("AWS_LAMBDA_RUNTIME_API", api.address.as_str()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1024"),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_SESSION_TOKEN", "testing"),
        ("AWS_ENDPOINT_URL", aws.endpoint.as_str()),
        ("MEDIA_BUCKET", "mvidarr-media-123456789012-us-east-1"),
        ("TABLE_NAME", "mvidarr-table"),
        (
            "INGEST_QUEUE_URL",
            "https://sqs.us-east-1.amazonaws.com/123456789012/mvidarr-ingest",
        ),
        (
            "STATE_MACHINE_ARN",
            "arn:aws:states:us-east-1:123456789012:stateMachine:mvidarr-pipeline",
        ),
        ("MVIDARR_FFMPEG", &ffmpeg.to_string_lossy()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    if let Some(path) = std::env::var_os("PATH") {
        env.push(("PATH".into(), path.to_string_lossy().into_owned()));
    }
    let mut merged: HashMap<String, String> = env.into_iter().collect();
    merged.extend(args.envs.iter().cloned());
    let mut env: Vec<_> = merged.into_iter().collect();
    env.sort();
    env
}

/// Start `b` once and time it to its first Runtime API request.
fn measure(
    b: &Binary,
    env: &[(String, String)],
    api: &FakeRuntimeApi,
    timeout: Duration,
) -> anyhow::Result<Duration> {
    api.drain();
    let log = std::fs::File::options()
        .create(true)
        .append(true)
        .open(&b.log)?;
    let mut command = Command::new(&b.path);
    command
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env("AWS_LAMBDA_FUNCTION_NAME", &b.label)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    let started = Instant::now();
    let mut child = Running(
        command
            .spawn()
            .with_context(|| format!("starting {}", b.path.display()))?,
    );
    loop {
        match api.hits.recv_timeout(Duration::from_millis(5)) {
            Ok(hit) => {
                let hit = hit.context("reading the first Runtime API request")?;
                let elapsed = hit.at.saturating_duration_since(started);
                if !hit
                    .request_line
                    .starts_with("GET /2018-06-01/runtime/invocation/next ")
                {
                    bail!(
                        "{}: first request was {:?}, not GET …/invocation/next",
                        b.label,
                        hit.request_line
                    );
                }
                return Ok(elapsed);
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => bail!("the fake Runtime API stopped"),
        }
        if let Some(status) = child.0.try_wait()? {
            bail!(
                "{} exited with {status} before asking for an event:\n{}",
                b.label,
                tail(&b.log)
            );
        }
        if started.elapsed() > timeout {
            bail!(
                "{} made no Runtime API request within {timeout:?}:\n{}",
                b.label,
                tail(&b.log)
            );
        }
    }
}

fn tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// File names, or whole paths where two binaries share a name (a debug and a release build).
fn labels(paths: &[PathBuf]) -> Vec<String> {
    let name = |p: &PathBuf| {
        p.file_name()
            .map_or_else(|| p.display().to_string(), |n| n.to_string_lossy().into())
    };
    paths
        .iter()
        .map(|p| {
            let n = name(p);
            if paths.iter().filter(|q| name(q) == n).count() > 1 {
                p.display().to_string()
            } else {
                n
            }
        })
        .collect()
}

/// The `q`-quantile of sorted samples, interpolated between the nearest two.
fn quantile(sorted: &[Duration], q: f64) -> f64 {
    let ms: Vec<f64> = sorted.iter().map(|d| d.as_secs_f64() * 1000.0).collect();
    if ms.is_empty() {
        return f64::NAN;
    }
    let pos = q * (ms.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    ms[lo] + (ms[hi] - ms[lo]) * (pos - lo as f64)
}

fn report(binaries: &[Binary], max_ratio: Option<f64>) -> anyhow::Result<()> {
    struct Row<'a> {
        b: &'a Binary,
        median: f64,
        p90: f64,
        min: f64,
        max: f64,
    }
    let rows: Vec<Row> = binaries
        .iter()
        .map(|b| {
            let mut s = b.samples.clone();
            s.sort();
            Row {
                b,
                median: quantile(&s, 0.5),
                p90: quantile(&s, 0.9),
                min: quantile(&s, 0.0),
                max: quantile(&s, 1.0),
            }
        })
        .collect();
    let base = &rows[0];
    println!();
    println!(
        "cold start = process start → first GET /2018-06-01/runtime/invocation/next ({} runs each)",
        base.b.samples.len()
    );
    println!();
    println!(
        "| binary | size | median ms | p90 ms | min ms | max ms | median ÷ baseline | p90 ÷ baseline | AWS connections |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut over = Vec::new();
    for (i, r) in rows.iter().enumerate() {
        let ratio = r.median / base.median;
        let label = if i == 0 {
            format!("{} (baseline)", r.b.label)
        } else {
            r.b.label.clone()
        };
        println!(
            "| {label} | {:.1} MiB | {:.2} | {:.2} | {:.2} | {:.2} | {ratio:.2}× | {:.2}× | {} |",
            r.b.size as f64 / (1024.0 * 1024.0),
            r.median,
            r.p90,
            r.min,
            r.max,
            r.p90 / base.p90,
            r.b.aws_connections,
        );
        if let Some(max) = max_ratio
            && i > 0
            && ratio > max
        {
            over.push(format!("{} ({ratio:.2}× > {max}×)", r.b.label));
        }
    }
    let calls: Vec<_> = rows
        .iter()
        .filter(|r| r.b.aws_connections > 0)
        .map(|r| r.b.label.as_str())
        .collect();
    if !calls.is_empty() {
        eprintln!(
            "warning: {} connected to AWS during init; init must not call AWS",
            calls.join(", ")
        );
    }
    if !over.is_empty() {
        bail!("cold start over the limit: {}", over.join(", "));
    }
    Ok(())
}
