//! Benchmark of the analysis pass (`mvidarr_media::analysis::analyze`), printed as a table and
//! optionally written as JSON (`--json PATH`):
//!
//! - CPU time of the full analysis against a plain decode (`ffmpeg -i clip -an -f null -`) of the
//!   same generated 3-minute 720p H.264 clip, side by side, alternating over `--rounds` rounds;
//!   decodes that skip non-reference frames, the loop filter or all but keyframes for context;
//! - throughput in files/hour, one and two analyses at a time;
//! - where the time goes: ffmpeg against our own threads in the full analysis; the analysis
//!   again without each model (NudeNet, Silero VAD, PP-OCR: their analyzers then skip their work);
//!   and
//!   the signal branches of the pass run on their own (the filters `analysis.rs` gives them, fed
//!   to the same shot detector, picture measures and loudness meter);
//! - peak RSS of the analysis process (and of its ffmpeg) on a ~100 MB upload;
//! - duplicates: the clip's fingerprint against that upload's (the same clip re-encoded), and
//!   what one full comparison costs;
//! - shot detection against PySceneDetect on the same clips: F1 within ±2 frames and CPU time.
//!
//! CPU time is the process tree's: every measured program runs as a child of this one, and the
//! figure is the growth of this process's `cutime + cstime` (`/proc/self/stat`) over the wait
//! for it, which the kernel adds up for the child and every descendant it waited for (ffmpeg).
//! The analysis itself runs in such a child: this binary again, with the hidden `analyze`
//! subcommand, which loads the models first (as a long-running worker has them) and reports
//! from `/proc/self/stat` the CPU of its own threads and of its ffmpeg children from then on:
//! that figure (probe + pass) is the one set against the plain decode; the whole tree's, with
//! process start and model loading, is shown beside it. Peak RSS is `VmHWM` from
//! `/proc/<pid>/status`: the analysis process's own at its end, and its ffmpeg's polled.
//!
//! Run it with `scripts/bench-analysis.sh` (release build, PySceneDetect's virtualenv). Clips are
//! generated once into `~/.cache/mvidarr/bench/`, named by a hash of their storyboard.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Parser, Subcommand, ValueEnum};
use futures_util::StreamExt;
use md5::{Digest, Md5};
use mvidarr_core::analysis::Probe;
use mvidarr_core::fingerprint::Fingerprint;
use mvidarr_media::analysis::{AnalysisOptions, analyze};
use mvidarr_media::frames::{PpmReader, for_each_sample_chunk, read_frame};
use mvidarr_media::loudness::LoudnessMeter;
use mvidarr_media::models::{Models, Pool};
use mvidarr_media::pass::{Output, Pass};
use mvidarr_media::picture::Grey;
use mvidarr_media::shots::{ShotDetector, Tuning};
use mvidarr_media::storyboard::{Join, Look, Storyboard, Truth, boundary_f1};
use mvidarr_media::{Ffmpeg, probe};
use serde_json::{Value, json};

#[derive(Parser)]
struct Args {
    #[command(subcommand)]
    worker: Option<Worker>,
    /// Write the figures as JSON here too.
    #[arg(long)]
    json: Option<PathBuf>,
    /// The Python with PySceneDetect installed (scripts/bench-analysis.sh makes .venv-bench);
    /// without it the comparison is left out.
    #[arg(long)]
    python: Option<PathBuf>,
    /// Rounds of the side-by-side CPU measurement (the median is reported).
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Where generated clips are kept.
    #[arg(long)]
    cache: Option<PathBuf>,
    /// Only the side-by-side CPU rounds (to measure the ratio again on a quieter machine).
    #[arg(long)]
    ratio_only: bool,
}

/// What this binary does when it is the measured child.
#[derive(Subcommand)]
enum Worker {
    /// Probe and analyze FILE `copies` times, `concurrent` at a time; print figures as JSON.
    #[command(hide = true)]
    Analyze(AnalyzeJob),
    /// Run one branch of the analysis pass on its own over FILE; print figures as JSON.
    #[command(hide = true)]
    Branch { branch: Branch, file: PathBuf },
}

#[derive(clap::Args)]
struct AnalyzeJob {
    file: PathBuf,
    #[arg(long, default_value_t = 1)]
    copies: usize,
    #[arg(long, default_value_t = 1)]
    concurrent: usize,
    /// Poll ffmpeg's peak RSS while it runs.
    #[arg(long)]
    sample_rss: bool,
    /// Models to leave out (their analyzers then report an error and skip their work).
    #[arg(long, value_delimiter = ',')]
    without: Vec<Model>,
}

/// A model of the analysis pass, for leaving it out.
#[derive(Clone, Copy, PartialEq, ValueEnum)]
enum Model {
    /// NudeNet, the moderation detector (on the sampled frames).
    Nudenet,
    /// Silero VAD, the speech detector of the audio profile.
    Vad,
    /// PP-OCR detection and recognition, for on-screen text.
    Ocr,
}

/// One branch of the analysis pass, as `analysis.rs` builds it.
#[derive(Clone, Copy, ValueEnum)]
enum Branch {
    /// Every frame at 128×72 RGB into the shot detector.
    Shots,
    /// Two frames a second at up to 1280×720, as PPM, into the picture measures.
    Picture,
    /// 48 kHz float PCM into the loudness meter.
    Audio,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    match args.worker {
        Some(Worker::Analyze(ref job)) => analyze_worker(job),
        Some(Worker::Branch { branch, ref file }) => branch_worker(branch, file),
        None => bench(&args),
    }
}

// ---------------------------------------------------------------------------------------------
// Test media

/// The clips the benchmark runs on, with their ground truth.
struct Clip {
    name: &'static str,
    path: PathBuf,
    truth: Truth,
    fps: u32,
    width: u32,
    height: u32,
}

/// A small deterministic generator (xorshift64*), so a storyboard is the same on every run.
struct Dice(u64);

impl Dice {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }

    fn between(&mut self, low: f64, high: f64) -> f64 {
        low + (high - low) * self.next()
    }
}

/// Which joins a storyboard uses, by share (the rest are cuts).
#[derive(Clone, Copy)]
struct JoinMix {
    fades: f64,
    dissolves: f64,
}

/// Shots of varied length (`shortest`–4 s; at least 2.4 s beside a fade or dissolve), cycling
/// through the moving looks, until the video lasts `total` seconds.
fn varied(
    (width, height, fps): (u32, u32, u32),
    total: f64,
    shortest: f64,
    mix: JoinMix,
    seed: u64,
) -> Storyboard {
    let mut dice = Dice(seed | 1);
    let frames = |s: f64| (s * f64::from(fps)).round() / f64::from(fps);
    let mut shots = Vec::new();
    let mut joins: Vec<Join> = Vec::new();
    let mut length = 0.0;
    loop {
        let before = joins.last().copied();
        let roll = dice.next();
        let after = if roll < mix.fades {
            Join::FadeThroughBlack(frames(dice.between(0.6, 1.0)))
        } else if roll < mix.fades + mix.dissolves {
            Join::Dissolve(frames(dice.between(0.5, 0.8)))
        } else {
            Join::Cut
        };
        let gradual =
            |j: Option<Join>| matches!(j, Some(Join::FadeThroughBlack(_) | Join::Dissolve(_)));
        let overlap = match before {
            Some(Join::Dissolve(t)) => t,
            _ => 0.0,
        };
        let low = if gradual(before) || gradual(Some(after)) {
            2.4
        } else {
            shortest
        };
        let mut seconds = frames(dice.between(low, 4.0));
        let remaining = total - length;
        // The last shot takes what is left once another one would not fit.
        let last = remaining - (seconds - overlap) < 2.4;
        if last {
            seconds = frames(remaining + overlap);
        }
        shots.push((Look::MOVING[shots.len() % Look::MOVING.len()], seconds));
        length += seconds - overlap;
        if last {
            break;
        }
        joins.push(after);
    }
    Storyboard {
        width,
        height,
        fps,
        shots,
        joins,
        bit_rate: None,
        tone: None,
        // Without a finishing filter the joins' output format is left to negotiation, which
        // gives 4:4:4 H.264 (twice the chroma of any camera's 4:2:0, much slower to decode);
        // a finish ends in `format=yuv420p`.
        finish: Some("null".into()),
    }
}

fn cache_dir(args: &Args) -> anyhow::Result<PathBuf> {
    let dir = match &args.cache {
        Some(dir) => dir.clone(),
        None => PathBuf::from(std::env::var_os("HOME").context("HOME is not set")?)
            .join(".cache/mvidarr/bench"),
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

/// Render `board` unless a clip of exactly this storyboard is already cached.
fn ensure_clip(
    rt: &tokio::runtime::Runtime,
    ffmpeg: &Ffmpeg,
    dir: &Path,
    name: &'static str,
    board: &Storyboard,
) -> anyhow::Result<Clip> {
    // The filter graph too: the storyboard module may draw the same board differently.
    let (graph, truth) = board.graph()?;
    let key = hex::encode(Md5::digest(format!("storyboard v1 {board:?} {graph}")));
    let path = dir.join(format!("{name}-{}.mp4", &key[..12]));
    if !path.exists() {
        eprintln!(
            "rendering {name}: {} shots, {:.0} s at {}x{} {} fps (once; kept in {})…",
            board.shots.len(),
            truth.duration,
            board.width,
            board.height,
            board.fps,
            dir.display()
        );
        let partial = path.with_extension("partial");
        rt.block_on(board.render(ffmpeg, &partial))
            .with_context(|| format!("rendering {name}"))?;
        std::fs::rename(&partial, &path)?;
    }
    Ok(Clip {
        name,
        path,
        truth,
        fps: board.fps,
        width: board.width,
        height: board.height,
    })
}

/// `source` re-encoded at `bit_rate` (audio copied), cached beside it: the ~100 MB upload.
fn ensure_reencoded(ffmpeg: &Ffmpeg, source: &Path, bit_rate: u64) -> anyhow::Result<PathBuf> {
    let stem = source
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("clip");
    let path = source.with_file_name(format!("{stem}-{}k.mp4", bit_rate / 1000));
    if !path.exists() {
        eprintln!(
            "re-encoding {} at {} kb/s (once)…",
            source.display(),
            bit_rate / 1000
        );
        let partial = path.with_extension("partial");
        let rate = bit_rate.to_string();
        let status = Command::new(ffmpeg.path())
            .args(["-nostdin", "-hide_banner", "-loglevel", "error", "-i"])
            .arg(source)
            .args([
                "-map", "0", "-c:v", "libx264", "-preset", "veryfast", "-b:v",
            ])
            .args([&rate, "-maxrate", &rate, "-bufsize"])
            .arg((bit_rate * 2).to_string())
            .args(["-c:a", "copy", "-f", "mp4", "-y"])
            .arg(&partial)
            .status()?;
        if !status.success() {
            bail!("re-encoding {} failed: {status}", source.display());
        }
        std::fs::rename(&partial, &path)?;
    }
    Ok(path)
}

// ---------------------------------------------------------------------------------------------
// Measuring

/// CPU seconds of a process from `/proc/<pid>/stat`: its own threads, and the children it
/// waited for (with their own waited-for descendants).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct ProcCpu {
    own: f64,
    children: f64,
}

impl std::ops::Sub for ProcCpu {
    type Output = ProcCpu;
    fn sub(self, earlier: ProcCpu) -> ProcCpu {
        ProcCpu {
            own: self.own - earlier.own,
            children: self.children - earlier.children,
        }
    }
}

/// Clock ticks per second of `/proc` times (USER_HZ; 100 on every Linux ABI in use).
fn ticks_per_second() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// utime, stime, cutime, cstime (fields 14–17) of a `/proc/…/stat` line, in ticks. The command
/// name (field 2) may hold spaces and parentheses, so fields are counted from its closing one.
fn parse_stat(stat: &str) -> Option<[u64; 4]> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| fields.get(n - 3)?.parse().ok();
    Some([field(14)?, field(15)?, field(16)?, field(17)?])
}

fn self_cpu(ticks: f64) -> anyhow::Result<ProcCpu> {
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    let [utime, stime, cutime, cstime] = parse_stat(&stat).context("parsing /proc/self/stat")?;
    Ok(ProcCpu {
        own: (utime + stime) as f64 / ticks,
        children: (cutime + cstime) as f64 / ticks,
    })
}

/// CPU seconds of each live thread of this process, busiest first.
fn thread_cpu(ticks: f64) -> Vec<(String, f64)> {
    let mut threads: Vec<(String, f64)> = std::fs::read_dir("/proc/self/task")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|task| {
            let stat = std::fs::read_to_string(task.path().join("stat")).ok()?;
            let name = stat[stat.find('(')? + 1..stat.rfind(')')?].to_string();
            let [utime, stime, ..] = parse_stat(&stat)?;
            Some((name, (utime + stime) as f64 / ticks))
        })
        .collect();
    threads.sort_by(|a, b| b.1.total_cmp(&a.1));
    threads
}

/// A `kB` field of `/proc/<pid>/status` (VmHWM is the peak resident set), in MiB.
fn status_mib(pid: &str, field: &str) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kb: f64 = line[field.len()..]
        .trim_start_matches(':')
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(kb / 1024.0)
}

/// The largest VmHWM seen among this process's children, polled every 50 ms until dropped.
/// VmHWM only grows, so the figure misses at most a child's last 50 ms.
struct ChildRss {
    stop: mpsc::Sender<()>,
    thread: std::thread::JoinHandle<f64>,
}

impl ChildRss {
    fn start() -> ChildRss {
        let me = std::process::id().to_string();
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            let mut peak: f64 = 0.0;
            while let Err(mpsc::RecvTimeoutError::Timeout) =
                stopped.recv_timeout(Duration::from_millis(50))
            {
                for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
                    let pid = entry.file_name().to_string_lossy().into_owned();
                    if !pid.bytes().all(|b| b.is_ascii_digit()) {
                        continue;
                    }
                    let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
                        continue;
                    };
                    let parent = stat
                        .rfind(')')
                        .and_then(|i| stat[i + 1..].split_whitespace().nth(1));
                    if parent == Some(me.as_str())
                        && let Some(hwm) = status_mib(&pid, "VmHWM")
                    {
                        peak = peak.max(hwm);
                    }
                }
            }
            peak
        });
        ChildRss { stop, thread }
    }

    fn finish(self) -> f64 {
        let _ = self.stop.send(());
        self.thread.join().unwrap_or(0.0)
    }
}

/// A measured child process: the process tree's CPU time, wall time and what it printed.
struct Run {
    cpu: f64,
    wall: Duration,
    stdout: String,
}

/// Run `command` to its end and measure it (see the module doc). Nothing else may be waited
/// for meanwhile, so runs are one at a time.
fn measured(ticks: f64, command: &mut Command) -> anyhow::Result<Run> {
    let before = self_cpu(ticks)?;
    let start = Instant::now();
    let output = command
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {command:?}"))?;
    let wall = start.elapsed();
    let after = self_cpu(ticks)?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(8).collect();
        bail!(
            "{command:?} failed ({}): {}",
            output.status,
            tail.join(" | ")
        );
    }
    Ok(Run {
        cpu: (after - before).children,
        wall,
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
    })
}

fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(f64::NAN)
}

fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

// ---------------------------------------------------------------------------------------------
// The measured children

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Runtime::new()?)
}

async fn probe_file(ffmpeg: &Ffmpeg, file: &Path) -> anyhow::Result<Probe> {
    Ok(probe(ffmpeg, &file.display().to_string(), Duration::from_secs(60)).await?)
}

/// The `analyze` child: the product's probe + analysis, as the analyze step runs them. The
/// models are loaded first (as a long-running worker has them) and that cost is reported apart.
fn analyze_worker(job: &AnalyzeJob) -> anyhow::Result<()> {
    let ticks = ticks_per_second();
    let rt = runtime()?;
    let ffmpeg = Ffmpeg::locate()?;
    let rss = job.sample_rss.then(ChildRss::start);
    let off = |model| job.without.contains(&model);
    let mut models = Models::default();
    if off(Model::Nudenet) {
        models.nudenet = Pool::new(|| Err("left out by the benchmark".into()));
    }
    if off(Model::Vad) {
        models.vad = Pool::new(|| Err("left out by the benchmark".into()));
    }
    if off(Model::Ocr) {
        models.ocr = Pool::new(|| Err("left out by the benchmark".into()));
    }
    let options = AnalysisOptions {
        models: Arc::new(models),
        ..AnalysisOptions::default()
    };
    let process_start = self_cpu(ticks)?;
    {
        // As many of each as will run at once; back into their pools at the end of the block.
        let concurrent = job.concurrent.clamp(1, job.copies.max(1));
        let _vad: Vec<_> = (0..concurrent)
            .filter(|_| !off(Model::Vad))
            .map(|_| options.models.vad.take())
            .collect::<Result<_, _>>()
            .map_err(|e| anyhow::anyhow!("loading Silero VAD: {e}"))?;
        let _nudenet: Vec<_> = (0..concurrent)
            .filter(|_| !off(Model::Nudenet))
            .map(|_| options.models.nudenet.take())
            .collect::<Result<_, _>>()
            .map_err(|e| anyhow::anyhow!("loading NudeNet: {e}"))?;
        let _ocr: Vec<_> = (0..concurrent)
            .filter(|_| !off(Model::Ocr))
            .map(|_| options.models.ocr.take())
            .collect::<Result<_, _>>()
            .map_err(|e| anyhow::anyhow!("loading PP-OCR: {e}"))?;
    }
    let start_cpu = self_cpu(ticks)?;
    let start = Instant::now();
    let one = |_| async {
        let probe = probe_file(&ffmpeg, &job.file).await?;
        let probed = self_cpu(ticks)?;
        let analysis = analyze(&ffmpeg, &job.file.display().to_string(), &probe, &options).await?;
        let scenes = match analysis.scenes {
            Some(Ok(scenes)) => scenes,
            Some(Err(e)) => bail!("scenes failed: {e}"),
            None => bail!("no video"),
        };
        if let Err(e) = &analysis.quality {
            bail!("quality failed: {e}");
        }
        if let Some(Err(e)) = &analysis.moderation
            && !off(Model::Nudenet)
        {
            bail!("moderation failed: {e}");
        }
        if let Some(Err(e)) = &analysis.audio
            && !off(Model::Vad)
        {
            bail!("audio profile failed: {e}");
        }
        if let Some(Err(e)) = &analysis.text
            && !off(Model::Ocr)
        {
            bail!("on-screen text failed: {e}");
        }
        if let Some(Err(e)) = &analysis.thumbnails {
            bail!("thumbnails failed: {e}");
        }
        let fingerprint = match analysis.fingerprint {
            Ok(fingerprint) => fingerprint,
            Err(e) => bail!("fingerprint failed: {e}"),
        };
        Ok::<_, anyhow::Error>((probed, scenes, analysis.decode, fingerprint))
    };
    let results: Vec<_> = rt.block_on(
        futures_util::stream::iter(0..job.copies)
            .map(one)
            .buffer_unordered(job.concurrent.max(1))
            .collect(),
    );
    let wall = start.elapsed();
    let end_cpu = self_cpu(ticks)?;
    // Read while the runtime's blocking threads (which ran the consumers) are still alive.
    let threads = thread_cpu(ticks);
    drop(rt);
    let ffmpeg_peak = rss.map(ChildRss::finish);
    let mut first = None;
    for result in results {
        let result = result?;
        first.get_or_insert(result);
    }
    let (probed, scenes, decode, fingerprint) = first.context("no analysis ran")?;
    let probe_cpu = probed - start_cpu;
    let total = end_cpu - start_cpu;
    let loading = start_cpu - process_start;
    let report = json!({
        // From after the models are loaded to the end of the last analysis.
        "wall_seconds": wall.as_secs_f64(),
        "own_cpu_seconds": total.own,
        "ffmpeg_cpu_seconds": total.children,
        "models_load_cpu_seconds": loading.own + loading.children,
        "process_start_cpu_seconds": process_start.own,
        // Meaningful with one copy: the probe's share of each.
        "probe_own_cpu_seconds": probe_cpu.own,
        "probe_ffmpeg_cpu_seconds": probe_cpu.children,
        "threads": threads.iter().filter(|t| t.1 > 0.0).map(|(n, s)| json!([n, s])).collect::<Vec<_>>(),
        "vm_hwm_mib": status_mib("self", "VmHWM"),
        "ffmpeg_vm_hwm_mib": ffmpeg_peak,
        "frames": scenes.frames,
        "cuts": scenes.transitions.iter().map(|t| t.at_seconds).collect::<Vec<_>>(),
        "decode_errors": decode.errors,
        "decode_complete": decode.complete,
        "fingerprint": fingerprint,
    });
    println!("{report}");
    Ok(())
}

/// A branch's consumer: what it found, as JSON.
type BranchWork = Box<dyn FnOnce(&mut dyn Read) -> Result<Value, String> + Send>;

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// The `branch` child: one branch of the analysis pass over the same decode settings, with the
/// filters `analysis.rs` gives it and the same consumer work.
fn branch_worker(branch: Branch, file: &Path) -> anyhow::Result<()> {
    let ticks = ticks_per_second();
    let rt = runtime()?;
    let ffmpeg = Ffmpeg::locate()?;
    let probe = rt.block_on(probe_file(&ffmpeg, file))?;
    let start_cpu = self_cpu(ticks)?;
    let fps = probe
        .video
        .first()
        .and_then(|v| v.fps)
        .filter(|f| *f > 0.0 && *f <= 240.0)
        .unwrap_or(25.0);
    let (tx, rx) = mpsc::channel::<Result<Value, String>>();
    let (graph, options, consumer): (String, Vec<String>, BranchWork) = match branch {
        Branch::Shots => (
            format!("[0:v:0]fps={fps},scale=128:72:flags=area,format=rgb24[out]"),
            strings(&["-map", "[out]", "-c:v", "rawvideo", "-f", "rawvideo"]),
            Box::new(move |reader| {
                let mut detector = ShotDetector::new(fps, Tuning::default());
                let mut frame = vec![0u8; 128 * 72 * 3];
                while read_frame(reader, &mut frame).map_err(|e| e.to_string())? {
                    detector.push(&frame);
                }
                let found = detector.finish();
                Ok(json!({
                    "frames": found.frames,
                    "cuts": found.transitions.iter().map(|t| t.at_seconds).collect::<Vec<_>>(),
                }))
            }),
        ),
        Branch::Picture => {
            let source_width = probe.video.first().map_or(1, |v| v.width.max(1));
            (
                    "[0:v:0]fps=2,scale='min(1280,iw)':'min(720,ih)':force_original_aspect_ratio=decrease:force_divisible_by=2:flags=bicubic,format=rgb24[out]".into(),
                    strings(&["-map", "[out]", "-c:v", "ppm", "-f", "image2pipe"]),
                    Box::new(move |reader| {
                        let mut ppm = PpmReader::new(reader);
                        let (mut count, mut checksum) = (0u64, 0.0f64);
                        while let Some(image) = ppm.next_image().map_err(|e| e.to_string())? {
                            let grey = Grey::from_rgb(&image);
                            let reduced = grey.reduced_to(360);
                            let grid = 8.0 * f64::from(image.width()) / f64::from(source_width);
                            let (rows, columns) = grey.dark_lines(20.0);
                            checksum += reduced.sharpness()
                                + reduced.noise_sigma()
                                + grey.blockiness(grid)
                                + grey.mean()
                                + (rows.iter().filter(|d| **d).count()
                                    + columns.iter().filter(|d| **d).count())
                                    as f64;
                            count += 1;
                        }
                        Ok(json!({ "frames": count, "checksum": std::hint::black_box(checksum) }))
                    }),
                )
        }
        Branch::Audio => (
            "[0:a:0]aresample=48000,aformat=sample_fmts=flt:channel_layouts=stereo[out]".into(),
            strings(&["-map", "[out]", "-c:a", "pcm_f32le", "-f", "f32le"]),
            Box::new(move |reader| {
                let mut meter = LoudnessMeter::new(2, 48_000).map_err(|e| e.to_string())?;
                for_each_sample_chunk::<Box<dyn std::error::Error + Send + Sync>>(
                    reader,
                    48_000 / 10 * 2,
                    |chunk| Ok(meter.push(chunk)?),
                )
                .map_err(|e| e.to_string())?;
                let quality = meter.finish().map_err(|e| e.to_string())?;
                Ok(json!({ "integrated_lufs": quality.integrated_lufs }))
            }),
        ),
    };
    let report = rt.block_on(
        Pass {
            input_options: Vec::new(),
            input: file.display().to_string(),
            filter_graph: Some(graph),
            outputs: vec![Output {
                options,
                consumer: Box::new(move |reader| {
                    let _ = tx.send(consumer(reader));
                }),
            }],
            file_outputs: Vec::new(),
            timeout: Duration::from_secs(1800),
        }
        .run(&ffmpeg),
    )?;
    if !report.succeeded() {
        bail!(
            "ffmpeg failed: {}",
            report
                .log
                .lines()
                .rev()
                .take(5)
                .collect::<Vec<_>>()
                .join(" | ")
        );
    }
    let mut found = rx
        .recv()
        .context("the consumer sent nothing")?
        .map_err(anyhow::Error::msg)?;
    let cpu = self_cpu(ticks)? - start_cpu;
    found["own_cpu_seconds"] = json!(cpu.own);
    found["ffmpeg_cpu_seconds"] = json!(cpu.children);
    println!("{found}");
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The benchmark

/// PySceneDetect's `detect()` (OpenCV backend, its automatic downscaling) with a detector at its
/// default settings; prints the cut times (each later scene's start) as JSON.
const PYSCENEDETECT: &str = r#"
import json, sys
from scenedetect import detect, AdaptiveDetector, ContentDetector
path, which = sys.argv[1], sys.argv[2]
detector = AdaptiveDetector() if which == "adaptive" else ContentDetector()
scenes = detect(path, detector, show_progress=False)
print(json.dumps({"cuts": [float(start.seconds) for start, _ in scenes[1:]]}))
"#;

/// The measured commands, each run as a child of this process.
struct Bench {
    ticks: f64,
    exe: PathBuf,
    ffmpeg: Ffmpeg,
    python: Option<PathBuf>,
}

/// The figures of one analysis child.
struct Analyzed {
    run: Run,
    report: Value,
}

impl Analyzed {
    fn figure(&self, key: &str) -> f64 {
        self.report[key].as_f64().unwrap_or(f64::NAN)
    }

    /// Our process and its ffmpeg from after the models are loaded: probe + analysis.
    fn warm_cpu(&self) -> f64 {
        self.figure("own_cpu_seconds") + self.figure("ffmpeg_cpu_seconds")
    }

    fn cuts(&self) -> Vec<f64> {
        cuts_of(&self.report)
    }
}

fn cuts_of(report: &Value) -> Vec<f64> {
    report["cuts"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_f64).collect())
        .unwrap_or_default()
}

impl Bench {
    /// `ffmpeg <input options> -i FILE -an [filters] -f null -`.
    fn decode(&self, file: &Path, before_input: &[&str], filters: &[&str]) -> anyhow::Result<Run> {
        measured(
            self.ticks,
            Command::new(self.ffmpeg.path())
                .args(["-nostdin", "-hide_banner", "-loglevel", "error"])
                .args(before_input)
                .arg("-i")
                .arg(file)
                .arg("-an")
                .args(filters)
                .args(["-f", "null", "-"]),
        )
    }

    fn analyze(&self, file: &Path, extra: &[&str]) -> anyhow::Result<Analyzed> {
        let run = measured(
            self.ticks,
            Command::new(&self.exe).arg("analyze").arg(file).args(extra),
        )?;
        let report =
            serde_json::from_str(run.stdout.trim()).context("the analyze child's report")?;
        Ok(Analyzed { run, report })
    }

    fn branch(&self, branch: &str, file: &Path) -> anyhow::Result<(Run, Value)> {
        let run = measured(
            self.ticks,
            Command::new(&self.exe).args(["branch", branch]).arg(file),
        )?;
        let report =
            serde_json::from_str(run.stdout.trim()).context("the branch child's report")?;
        Ok((run, report))
    }

    /// The interpreter starting and importing what the comparison script imports.
    fn python_startup(&self) -> anyhow::Result<Option<Run>> {
        let Some(python) = &self.python else {
            return Ok(None);
        };
        Ok(Some(measured(
            self.ticks,
            Command::new(python).args(["-c", "import scenedetect, cv2, numpy"]),
        )?))
    }

    fn pyscenedetect(
        &self,
        file: &Path,
        detector: &str,
    ) -> anyhow::Result<Option<(Run, Vec<f64>)>> {
        let Some(python) = &self.python else {
            return Ok(None);
        };
        let run = measured(
            self.ticks,
            Command::new(python)
                .args(["-c", PYSCENEDETECT])
                .arg(file)
                .arg(detector),
        )?;
        let report: Value = serde_json::from_str(run.stdout.lines().last().unwrap_or_default())
            .context("PySceneDetect's report")?;
        Ok(Some((run, cuts_of(&report))))
    }
}

/// What the benchmark found so far: rows of a `| measure | value |` table and JSON sections.
#[derive(Default)]
struct Report {
    rows: Vec<(String, String)>,
    json: serde_json::Map<String, Value>,
}

impl Report {
    fn row(&mut self, measure: impl Into<String>, value: impl Into<String>) {
        self.rows.push((measure.into(), value.into()));
    }

    fn section(&mut self, name: &str, figures: Value) {
        self.json.insert(name.into(), figures);
    }

    /// Print the table; write the JSON to `path` if given.
    fn finish(mut self, path: Option<&Path>) -> anyhow::Result<()> {
        let load = load_average();
        self.row("load average at the end", format!("{load:.2}"));
        self.section("load_average_at_end", json!(load));
        println!();
        println!("| measure | value |");
        println!("|---|---|");
        for (measure, value) in &self.rows {
            println!("| {measure} | {value} |");
        }
        if let Some(path) = path {
            std::fs::write(
                path,
                serde_json::to_string_pretty(&Value::Object(self.json))?,
            )
            .with_context(|| format!("writing {}", path.display()))?;
            println!("\nfigures written to {}", path.display());
        }
        Ok(())
    }
}

/// The generated media, checked to be what the figures claim.
struct Media {
    main: Clip,
    shorts: [Clip; 3],
    /// The main clip at a higher bit rate: the ~100 MB upload.
    upload: PathBuf,
}

fn bench(args: &Args) -> anyhow::Result<()> {
    let ffmpeg = Ffmpeg::locate()?;
    let mut report = Report::default();
    let media = prepare(args, &ffmpeg, &mut report)?;
    let b = Bench {
        ticks: ticks_per_second(),
        exe: std::env::current_exe()?,
        ffmpeg,
        python: args.python.clone(),
    };
    let side = side_by_side(&b, &media.main, args.rounds, &mut report)?;
    if !args.ratio_only {
        context_decodes(&b, &media.main, side.decode_median, &mut report)?;
        breakdown(&b, &media.main, &side, &mut report)?;
        throughput(&b, &media.main, &mut report)?;
        let upload = peak_rss(&b, &media, &side, &mut report)?;
        duplicates(&side.typical, &upload, &mut report)?;
        shots_vs_pyscenedetect(&b, &media, &side.typical, &mut report)?;
    }
    report.finish(args.json.as_deref())
}

fn size_mb(path: &Path) -> f64 {
    std::fs::metadata(path).map_or(f64::NAN, |m| m.len() as f64 / 1e6)
}

/// Render (once) the clips, and describe the main one.
fn prepare(args: &Args, ffmpeg: &Ffmpeg, report: &mut Report) -> anyhow::Result<Media> {
    let rt = runtime()?;
    let dir = cache_dir(args)?;
    let main_board = Storyboard {
        bit_rate: Some(4_000_000),
        tone: Some((440.0, 0.3)),
        ..varied(
            (1280, 720, 30),
            180.0,
            0.8,
            JoinMix {
                fades: 0.12,
                dissolves: 0.12,
            },
            2024,
        )
    };
    let main = ensure_clip(&rt, ffmpeg, &dir, "main-720p", &main_board)?;
    let short = |name, fps, shortest, fades, dissolves, seed| {
        let board = varied(
            (640, 360, fps),
            60.0,
            shortest,
            JoinMix { fades, dissolves },
            seed,
        );
        ensure_clip(&rt, ffmpeg, &dir, name, &board)
    };
    let shorts = [
        short("cuts-360p25", 25, 0.8, 0.0, 0.0, 7)?,
        short("fades-360p30", 30, 0.8, 0.45, 0.0, 11)?,
        short("dissolves-360p30", 30, 1.0, 0.0, 0.55, 13)?,
    ];
    let upload = ensure_reencoded(ffmpeg, &main.path, 4_700_000)?;
    let described = rt.block_on(probe_file(ffmpeg, &main.path))?;
    let stream = described.video.first().context("the clip has no video")?;
    let pixels = stream.pixel_format.clone().unwrap_or_default();
    if pixels != "yuv420p" {
        bail!(
            "{} is {pixels}, not yuv420p: delete it to render it again",
            main.path.display()
        );
    }
    let profile = stream.profile.clone().unwrap_or_default();
    let kbps = described.bit_rate.unwrap_or(0) / 1000;
    let joins = &main.truth.joins;
    let count = |kind: fn(&Join) -> bool| joins.iter().filter(|j| kind(j)).count();
    let load = load_average();
    let source = Command::new("git")
        .args(["describe", "--always", "--dirty"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    report.row(
        "cores",
        format!(
            "{} (shared with other work: load average {load:.2} at the start)",
            std::thread::available_parallelism().map_or(0, |n| n.get())
        ),
    );
    report.row(
        "clip",
        format!(
            "{} shots ({} joins: {} cuts, {} fades, {} dissolves), {:.0} s {}x{} {} fps H.264 ({profile}, {pixels}) at 4 Mb/s target, {kbps} kb/s in all with the AAC tone, {:.1} MB",
            main_board.shots.len(),
            joins.len(),
            count(|j| *j == Join::Cut),
            count(|j| matches!(j, Join::FadeThroughBlack(_))),
            count(|j| matches!(j, Join::Dissolve(_))),
            main.truth.duration,
            main.width,
            main.height,
            main.fps,
            size_mb(&main.path)
        ),
    );
    report.section(
        "clip",
        json!({
            "path": main.path, "shots": main_board.shots.len(), "seconds": main.truth.duration,
            "width": main.width, "height": main.height, "fps": main.fps, "megabytes": size_mb(&main.path),
            "profile": profile, "pixel_format": pixels, "kbps": kbps,
            "load_average_at_start": load, "source": source,
        }),
    );
    Ok(Media {
        main,
        shorts,
        upload,
    })
}

/// What the side-by-side rounds found.
struct SideBySide {
    decode_median: f64,
    analysis_median: f64,
    /// The round whose analysis CPU is nearest the median.
    typical: Analyzed,
}

fn list(values: &[f64]) -> String {
    values
        .iter()
        .map(|x| format!("{x:.2}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The full analysis against a plain decode of the same clip, alternating round by round.
fn side_by_side(
    b: &Bench,
    main: &Clip,
    rounds: usize,
    report: &mut Report,
) -> anyhow::Result<SideBySide> {
    eprintln!("CPU time, analysis vs plain decode, {rounds} rounds…");
    let (mut decode_cpu, mut warm_cpu, mut cold_cpu, mut ratios, mut loads) =
        (vec![], vec![], vec![], vec![], vec![]);
    let mut analyses = Vec::new();
    for _ in 0..rounds.max(1) {
        loads.push(load_average());
        let decode = b.decode(&main.path, &[], &[])?;
        let analysis = b.analyze(&main.path, &[])?;
        decode_cpu.push(decode.cpu);
        warm_cpu.push(analysis.warm_cpu());
        cold_cpu.push(analysis.run.cpu);
        ratios.push(analysis.warm_cpu() / decode.cpu);
        eprintln!(
            "  decode {:.2} CPU-s, analysis {:.2} CPU-s (ffmpeg {:.2}, ours {:.2}; {:.2} with process start and model loading), load {:.2}",
            decode.cpu,
            analysis.warm_cpu(),
            analysis.figure("ffmpeg_cpu_seconds"),
            analysis.figure("own_cpu_seconds"),
            analysis.run.cpu,
            load_average()
        );
        analyses.push(analysis);
    }
    let (decode_median, analysis_median) = (median(&decode_cpu), median(&warm_cpu));
    report.row(
        "plain decode `ffmpeg -i clip -an -f null -`, CPU (median)",
        format!("{decode_median:.2} s (rounds: {})", list(&decode_cpu)),
    );
    report.row(
        "full analysis (probe + pass, all analyzers, models loaded), CPU of our process + its ffmpeg (median)",
        format!("{analysis_median:.2} s (rounds: {})", list(&warm_cpu)),
    );
    report.row(
        "… the same child's whole process tree (adds process start and model loading)",
        format!("{:.2} s (rounds: {})", median(&cold_cpu), list(&cold_cpu)),
    );
    report.row(
        "**ratio analysis / plain decode (target ≤ 1.0)**",
        format!(
            "**{:.2}×** median (per round: {}; load average {})",
            median(&ratios),
            list(&ratios),
            list(&loads)
        ),
    );
    report.row(
        "CPU-bound ceiling at this cost (cores × 3600 s / analysis CPU-s per file)",
        format!(
            "{:.0} files/hour (≥ 1,000 needs ≤ {:.1} CPU-s per file here)",
            available_cores() * 3600.0 / analysis_median,
            available_cores() * 3.6
        ),
    );
    report.section(
        "cpu",
        json!({
            "decode_seconds": decode_cpu, "analysis_seconds": warm_cpu, "analysis_tree_seconds": cold_cpu,
            "ratios": ratios, "decode_median": decode_median, "analysis_median": analysis_median,
            "analysis_tree_median": median(&cold_cpu), "ratio_median": median(&ratios),
            "load_average_per_round": loads,
            "cpu_bound_files_per_hour": available_cores() * 3600.0 / analysis_median,
        }),
    );
    let typical = analyses
        .into_iter()
        .min_by(|x, y| {
            (x.warm_cpu() - analysis_median)
                .abs()
                .total_cmp(&(y.warm_cpu() - analysis_median).abs())
        })
        .context("no analysis round")?;
    Ok(SideBySide {
        decode_median,
        analysis_median,
        typical,
    })
}

fn available_cores() -> f64 {
    std::thread::available_parallelism().map_or(1.0, |n| n.get() as f64)
}

/// Decodes that skip work, for context: what a pass could save by decoding less.
fn context_decodes(
    b: &Bench,
    main: &Clip,
    decode_median: f64,
    report: &mut Report,
) -> anyhow::Result<()> {
    eprintln!("context decodes…");
    let mut context = serde_json::Map::new();
    for (label, key, opts) in [
        (
            "`-skip_frame noref` (no non-reference frames)",
            "skip_frame_noref",
            &["-skip_frame:v", "noref"][..],
        ),
        (
            "`-skip_frame bidir` (no B-frames)",
            "skip_frame_bidir",
            &["-skip_frame:v", "bidir"][..],
        ),
        (
            "`-skip_loop_filter all`",
            "skip_loop_filter_all",
            &["-skip_loop_filter:v", "all"][..],
        ),
        (
            "`-skip_frame noref -skip_loop_filter all`",
            "skip_noref_and_loop_filter",
            &["-skip_frame:v", "noref", "-skip_loop_filter:v", "all"][..],
        ),
        (
            "`-skip_frame nokey` (keyframes only)",
            "skip_frame_nokey",
            &["-skip_frame:v", "nokey"][..],
        ),
    ] {
        let run = b.decode(&main.path, opts, &[])?;
        report.row(
            format!("decode with {label}, CPU (context)"),
            format!(
                "{:.2} s ({:.2}× the plain decode)",
                run.cpu,
                run.cpu / decode_median
            ),
        );
        context.insert(key.into(), json!(run.cpu));
    }
    report.section("context_decodes_cpu_seconds", Value::Object(context));
    Ok(())
}

/// Where the time of the full analysis goes.
fn breakdown(b: &Bench, main: &Clip, side: &SideBySide, report: &mut Report) -> anyhow::Result<()> {
    eprintln!("breakdown…");
    let typical = &side.typical;
    let full = side.analysis_median;
    let own = typical.figure("own_cpu_seconds");
    let ff = typical.figure("ffmpeg_cpu_seconds");
    let probe_ff = typical.figure("probe_ffmpeg_cpu_seconds");
    let probe_own = typical.figure("probe_own_cpu_seconds");
    let loading = typical.figure("models_load_cpu_seconds");
    let busiest: Vec<String> = typical.report["threads"]
        .as_array()
        .into_iter()
        .flatten()
        .take(8)
        .filter_map(|t| Some(format!("{} {:.2}", t[0].as_str()?, t[1].as_f64()?)))
        .collect();
    report.row(
        "where the time goes (the median round): ffmpeg",
        format!(
            "{:.2} s for the pass (decode, filters, audio) + {probe_ff:.2} s for the probe",
            ff - probe_ff
        ),
    );
    report.row(
        "… our process (every consumer: shots, picture measures, moderation, on-screen text, thumbnails, loudness, audio profile)",
        format!(
            "{:.2} s + {probe_own:.2} s probing (busiest threads, for the whole child: {})",
            own - probe_own,
            busiest.join(", ")
        ),
    );
    report.row(
        "… loading the models (once per process; not in the ratio)",
        format!(
            "{loading:.2} s; process start, exit and the rest: {:.2} s",
            typical.run.cpu - ff - own - loading
        ),
    );
    let mut ablations = serde_json::Map::new();
    for (without, label) in [
        ("nudenet", "moderation (NudeNet on each new picture)"),
        (
            "vad",
            "the audio profile (Silero VAD, speech/music, tempo, energy)",
        ),
        ("ocr", "on-screen text (PP-OCR on changed pictures)"),
        (
            "nudenet,vad,ocr",
            "any model (signal analyzers and thumbnails only)",
        ),
    ] {
        let run = b.analyze(&main.path, &["--without", without])?;
        let saved = full - run.warm_cpu();
        report.row(
            format!("analysis without {label}"),
            format!(
                "{:.2} s (ffmpeg {:.2}, ours {:.2}): saves ≈ {saved:.2} s ({:.0}% of the analysis)",
                run.warm_cpu(),
                run.figure("ffmpeg_cpu_seconds"),
                run.figure("own_cpu_seconds"),
                saved / full * 100.0
            ),
        );
        ablations.insert(
            without.into(),
            json!({"cpu_seconds": run.warm_cpu(), "ffmpeg_cpu_seconds": run.figure("ffmpeg_cpu_seconds"),
                   "own_cpu_seconds": run.figure("own_cpu_seconds"), "saved_vs_median_full": saved}),
        );
    }
    let mut branches = serde_json::Map::new();
    let idet = b.decode(
        &main.path,
        &[],
        &[
            "-vf",
            "select='lt(mod(n\\,25)\\,8)',crop=w='min(iw\\,640)':h='min(ih\\,360)':y=0,idet",
        ],
    )?;
    for (name, label) in [
        ("shots", "every frame 128×72 RGB → shot detector"),
        (
            "picture",
            "2 frames/s up to 1280×720 PPM → sharpness, noise, blocks, bars; no moderation or thumbnails",
        ),
        (
            "audio",
            "48 kHz float PCM → EBU R128 loudness, true peak, clipping",
        ),
    ] {
        let (run, found) = b.branch(name, &main.path)?;
        let (bf, bo) = (
            found["ffmpeg_cpu_seconds"].as_f64().unwrap_or(f64::NAN),
            found["own_cpu_seconds"].as_f64().unwrap_or(f64::NAN),
        );
        let marginal = if name == "audio" {
            String::new()
        } else {
            format!(", {:+.2} s over the plain decode", bf - side.decode_median)
        };
        report.row(
            format!("branch alone: {name} ({label})"),
            format!(
                "ffmpeg {bf:.2} s{marginal}; ours {bo:.2} s; tree {:.2} s",
                run.cpu
            ),
        );
        branches.insert(
            name.into(),
            json!({"tree_cpu_seconds": run.cpu, "ffmpeg_cpu_seconds": bf, "own_cpu_seconds": bo}),
        );
    }
    report.row(
        "branch alone: idet (8 of every 25 frames, top-left 640×360; ffmpeg only)",
        format!(
            "ffmpeg {:.2} s, {:+.2} s over the plain decode",
            idet.cpu,
            idet.cpu - side.decode_median
        ),
    );
    branches.insert(
        "idet".into(),
        json!({"tree_cpu_seconds": idet.cpu, "ffmpeg_cpu_seconds": idet.cpu}),
    );
    report.section(
        "breakdown",
        json!({
            "analysis_cpu_seconds": typical.warm_cpu(),
            "analysis_tree_cpu_seconds": typical.run.cpu,
            "analysis_ffmpeg_cpu_seconds": ff,
            "analysis_own_cpu_seconds": own,
            "probe_ffmpeg_cpu_seconds": probe_ff,
            "probe_own_cpu_seconds": probe_own,
            "models_load_cpu_seconds": loading,
            "threads": typical.report["threads"].clone(),
            "without_models": Value::Object(ablations),
            "branches_alone": Value::Object(branches),
        }),
    );
    Ok(())
}

/// Files/hour, one and two analyses at a time in one process (models loaded first).
fn throughput(b: &Bench, main: &Clip, report: &mut Report) -> anyhow::Result<()> {
    eprintln!("throughput…");
    let mut figures = serde_json::Map::new();
    for (concurrent, files) in [(1usize, 2usize), (2, 4)] {
        let load = load_average();
        let run = b.analyze(
            &main.path,
            &[
                "--copies",
                &files.to_string(),
                "--concurrent",
                &concurrent.to_string(),
            ],
        )?;
        let wall = run.figure("wall_seconds");
        let per_hour = files as f64 / wall * 3600.0;
        report.row(
            format!(
                "throughput, {concurrent} at a time ({files} files, probe included, models loaded)"
            ),
            format!(
                "**{per_hour:.0} files/hour** ({wall:.1} s wall for {files}, {:.1} CPU-s; load average {load:.2}; {:.1} s wall with process start and model loading)",
                run.warm_cpu(),
                run.run.wall.as_secs_f64()
            ),
        );
        figures.insert(
            format!("concurrent_{concurrent}"),
            json!({
                "files": files, "wall_seconds": wall, "files_per_hour": per_hour,
                "cpu_seconds": run.warm_cpu(), "tree_wall_seconds": run.run.wall.as_secs_f64(),
                "tree_cpu_seconds": run.run.cpu, "load_average_at_start": load,
            }),
        );
    }
    report.section("throughput", Value::Object(figures));
    Ok(())
}

/// Peak RSS of the analysis on the ~100 MB upload, beside the main clip's from the rounds.
fn peak_rss(
    b: &Bench,
    media: &Media,
    side: &SideBySide,
    report: &mut Report,
) -> anyhow::Result<Analyzed> {
    eprintln!("peak RSS…");
    let rss = b.analyze(&media.upload, &["--sample-rss"])?;
    let (ours, theirs) = (rss.figure("vm_hwm_mib"), rss.figure("ffmpeg_vm_hwm_mib"));
    let main = side.typical.figure("vm_hwm_mib");
    report.row(
        format!(
            "peak RSS on a {:.0} MB upload (720p, 4.7 Mb/s, {:.0} s)",
            size_mb(&media.upload),
            media.main.truth.duration
        ),
        format!(
            "analysis process {ours:.0} MiB (VmHWM; {main:.0} MiB on the {:.0} MB clip); its ffmpeg {theirs:.0} MiB (VmHWM, polled)",
            size_mb(&media.main.path)
        ),
    );
    report.section(
        "peak_rss",
        json!({
            "upload": media.upload, "megabytes": size_mb(&media.upload),
            "analysis_process_vm_hwm_mib": ours, "ffmpeg_vm_hwm_mib": theirs,
            "main_clip_analysis_process_vm_hwm_mib": main,
        }),
    );
    Ok(rss)
}

/// The main clip against its re-encode (the RSS upload: same pictures at 4.7 Mb/s): the
/// similarity the duplicates API would report, the index keys each files, and what one
/// full comparison of two 3-minute fingerprints costs.
fn duplicates(main: &Analyzed, upload: &Analyzed, report: &mut Report) -> anyhow::Result<()> {
    let read = |a: &Analyzed| -> anyhow::Result<Fingerprint> {
        serde_json::from_value(a.report["fingerprint"].clone()).context("the child's fingerprint")
    };
    let (main, upload) = (read(main)?, read(upload)?);
    let similarity = main.similarity(&upload);
    let (main_keys, upload_keys) = (main.index_keys(), upload.index_keys());
    let shared = main_keys.iter().filter(|k| upload_keys.contains(k)).count();
    let rounds = 50;
    let mut times = Vec::new();
    for _ in 0..rounds {
        let start = Instant::now();
        std::hint::black_box(main.similarity(std::hint::black_box(&upload)));
        times.push(start.elapsed().as_secs_f64() * 1e3);
    }
    let compare_ms = median(&times);
    report.row(
        "duplicates: the clip vs its 4.7 Mb/s re-encode",
        format!(
            "score {:.3} ({:?}); {} and {} index keys, {shared} shared; one full comparison of the two {:.0}-s fingerprints ({} + {} pictures, {} + {} audio items) {compare_ms:.2} ms (median of {rounds})",
            similarity.score,
            similarity.relation,
            main_keys.len(),
            upload_keys.len(),
            main.seconds(),
            main.pictures.len(),
            upload.pictures.len(),
            main.audio.len(),
            upload.audio.len(),
        ),
    );
    report.section(
        "duplicates",
        json!({
            "similarity": similarity, "index_keys": [main_keys.len(), upload_keys.len()],
            "shared_index_keys": shared, "compare_ms_median": compare_ms,
        }),
    );
    Ok(())
}

/// Boundaries in `truth` with nothing found within `tolerance`, and found ones with no
/// boundary within it: where a detector went wrong.
fn misses(truth: &[f64], found: &[f64], tolerance: f64) -> (Vec<f64>, Vec<f64>) {
    let near = |x: f64, set: &[f64]| set.iter().any(|y| (x - y).abs() <= tolerance);
    let round = |x: &f64| (x * 1000.0).round() / 1000.0;
    (
        truth
            .iter()
            .filter(|t| !near(**t, found))
            .map(round)
            .collect(),
        found
            .iter()
            .filter(|f| !near(**f, truth))
            .map(round)
            .collect(),
    )
}

/// Our shot boundaries against PySceneDetect's on the main clip and the short ones.
fn shots_vs_pyscenedetect(
    b: &Bench,
    media: &Media,
    main_analysis: &Analyzed,
    report: &mut Report,
) -> anyhow::Result<()> {
    eprintln!("shot detection vs PySceneDetect…");
    let mut clips_out = Vec::new();
    match b.python_startup()? {
        Some(startup) => {
            report.row(
                "PySceneDetect start-up alone (python + importing scenedetect, cv2), CPU",
                format!(
                    "{:.2} s (in its figures below, as process start is in our tree figures)",
                    startup.cpu
                ),
            );
            report.section("pyscenedetect_startup_cpu_seconds", json!(startup.cpu));
        }
        None => report.row("PySceneDetect", "not run (no --python)"),
    }
    for clip in std::iter::once(&media.main).chain(&media.shorts) {
        let tolerance = 2.0 / f64::from(clip.fps) + 1e-6;
        let f1 = |found: &[f64]| boundary_f1(&clip.truth.boundaries, found, tolerance);
        let analyzed;
        let full = if clip.name == media.main.name {
            main_analysis
        } else {
            analyzed = b.analyze(&clip.path, &[])?;
            &analyzed
        };
        let (shots_run, shots_found) = b.branch("shots", &clip.path)?;
        let ours = f1(&full.cuts());
        let ours_alone = f1(&cuts_of(&shots_found));
        let (missed, extra) = misses(&clip.truth.boundaries, &full.cuts(), tolerance);
        let title = format!(
            "{} ({} boundaries, {:.0} s {}x{} {} fps)",
            clip.name,
            clip.truth.boundaries.len(),
            clip.truth.duration,
            clip.width,
            clip.height,
            clip.fps
        );
        report.row(
            format!("shots {title}: ours"),
            format!(
                "F1 {:.3} (P {:.3} R {:.3}); CPU: full analysis {:.2} s ({:.2} s whole tree), shot branch alone {:.2} s whole tree (its cuts: {})",
                ours.2, ours.0, ours.1, full.warm_cpu(), full.run.cpu, shots_run.cpu,
                if (ours_alone.2 - ours.2).abs() < 1e-9 { "F1 equal" } else { "F1 differs" },
            ),
        );
        let mut entry = json!({
            "clip": clip.name, "boundaries": clip.truth.boundaries.len(), "seconds": clip.truth.duration,
            "width": clip.width, "height": clip.height, "fps": clip.fps,
            "ours": {"precision": ours.0, "recall": ours.1, "f1": ours.2,
                     "full_analysis_cpu_seconds": full.warm_cpu(), "full_analysis_tree_cpu_seconds": full.run.cpu,
                     "shot_branch_tree_cpu_seconds": shots_run.cpu,
                     "shot_branch_f1": ours_alone.2, "missed": missed, "extra": extra},
        });
        for detector in ["adaptive", "content"] {
            let Some((run, cuts)) = b.pyscenedetect(&clip.path, detector)? else {
                continue;
            };
            let theirs = f1(&cuts);
            let (missed, extra) = misses(&clip.truth.boundaries, &cuts, tolerance);
            report.row(
                format!("shots {title}: PySceneDetect detect-{detector}"),
                format!(
                    "F1 {:.3} (P {:.3} R {:.3}); CPU {:.2} s → CPU ours / theirs: **shot branch {:.2}×**, full analysis {:.2}× ({:.2}× whole tree); F1 ours − theirs {:+.3}",
                    theirs.2, theirs.0, theirs.1, run.cpu, shots_run.cpu / run.cpu, full.warm_cpu() / run.cpu, full.run.cpu / run.cpu, ours.2 - theirs.2,
                ),
            );
            entry[detector] = json!({
                "precision": theirs.0, "recall": theirs.1, "f1": theirs.2, "cpu_seconds": run.cpu,
                "cpu_ratio_full_analysis": full.warm_cpu() / run.cpu, "cpu_ratio_full_analysis_tree": full.run.cpu / run.cpu,
                "cpu_ratio_shot_branch": shots_run.cpu / run.cpu, "missed": missed, "extra": extra,
            });
        }
        clips_out.push(entry);
    }
    report.section(
        "shots_vs_pyscenedetect",
        json!({
            "tolerance_frames": 2,
            "pyscenedetect": "scenedetect 0.7.2 (opencv-python-headless 4.12.0.88), detect() with the OpenCV backend and its automatic downscaling; AdaptiveDetector() and ContentDetector() at their defaults",
            "clips": clips_out,
        }),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_times_are_read_past_a_command_name_with_spaces() {
        let stat = "42 (tokio (w) 1) S 1 42 42 0 -1 4194304 100 0 0 0 250 30 7 2 20 0 3 0";
        assert_eq!(parse_stat(stat), Some([250, 30, 7, 2]));
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn misses_name_the_boundaries_nothing_matched_and_the_finds_nothing_explains() {
        let (missed, extra) = misses(&[1.0, 2.0, 3.0], &[1.05, 2.5, 3.0], 0.08);
        assert_eq!((missed, extra), (vec![2.0], vec![2.5]));
    }

    #[test]
    fn varied_storyboards_last_the_asked_time() {
        let board = varied(
            (64, 36, 30),
            60.0,
            0.8,
            JoinMix {
                fades: 0.2,
                dissolves: 0.2,
            },
            5,
        );
        let (_, truth) = board.graph().unwrap();
        assert!((truth.duration - 60.0).abs() < 0.05, "{}", truth.duration);
        assert_eq!(board.joins.len() + 1, board.shots.len());
        assert!(board.shots.iter().all(|(_, s)| *s >= 0.8 - 1e-9));
    }
}
