//! CPU cost of each reader of sampled frames, as the analysis pass feeds them: `cargo run
//! --release -p mvidarr-media --example sampled_cost -- CLIP [--fps 2] [--frames N]`.
//!
//! ffmpeg decodes CLIP to PPM at `--fps` frames a second (the pass's `sample` branch: up to
//! 1280×720, bicubic, RGB) in its own process; this thread times the moderation screener, the
//! text reader and the picture measures on each frame. CPU time is this thread's (utime + stime
//! from `/proc/thread-self/stat`, 10 ms ticks, unbiased over many frames); wall time is shown
//! beside it.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use mvidarr_media::Ffmpeg;
use mvidarr_media::frames::PpmReader;
use mvidarr_media::moderation::Screener;
use mvidarr_media::picture::Grey;
use mvidarr_media::storyboard::{Join, Storyboard};
use mvidarr_media::text::TextReader;
use mvidarr_ml::nsfw::NudeNet;
use mvidarr_ml::ocr::{Ocr, OcrOptions, SideLimit};

/// This thread's CPU time so far.
fn thread_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap_or_default();
    // Fields after the parenthesised command name: state is field 3, utime 14, stime 15.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i - 3).and_then(|f| f.parse::<u64>().ok());
    let total = ticks(14).unwrap_or(0) + ticks(15).unwrap_or(0);
    Duration::from_millis(total * 10)
}

#[derive(Default)]
struct Cost {
    cpu: Duration,
    wall: Duration,
}

impl Cost {
    fn time<T>(&mut self, work: impl FnOnce() -> T) -> T {
        let (cpu, wall) = (thread_cpu(), Instant::now());
        let out = work();
        self.wall += wall.elapsed();
        self.cpu += thread_cpu().saturating_sub(cpu);
        out
    }
}

/// The captions clip of `ground_truth.rs`'s `on_screen_text_is_read_with_its_time_range`
/// (1.0–4.0 s, 5.0–8.0 s, 6.0–11.0 s over four moving shots of 3 s), rendered to `out`.
fn render_captions(out: &str) -> Result<(), Box<dyn std::error::Error>> {
    let captions = [
        ("LIVE AT THE ROYAL HALL", 1.0, 4.0, 40),
        ("Directed by Ana Lima", 5.0, 8.0, 290),
        ("Track 3 - Night Drive 2026", 6.0, 11.0, 40),
    ];
    let board = Storyboard::cycling(640, 360, 25, 4, 3.0, &[Join::Cut]).with_captions(&captions);
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(board.render(&Ffmpeg::locate()?, Path::new(out)))?;
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // `RUST_LOG=mvidarr_media=debug` shows each text detection.
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let mut clip = None;
    let (mut fps, mut limit) = (2.0f64, usize::MAX);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--fps" => fps = args.next().ok_or("--fps needs a number")?.parse()?,
            "--frames" => limit = args.next().ok_or("--frames needs a number")?.parse()?,
            "--captions" => {
                let out = args.next().ok_or("--captions needs an output path")?;
                render_captions(&out)?;
                clip = Some(out);
            }
            _ => clip = Some(arg),
        }
    }
    let clip = clip.ok_or("usage: sampled_cost CLIP|--captions OUT [--fps 2] [--frames N]")?;
    let mut nudenet = NudeNet::new()?;
    // As `models::Models::default` builds it.
    let mut ocr = Ocr::with_options(OcrOptions {
        det_side: SideLimit::Max(960),
        ..OcrOptions::default()
    })?;
    let ffmpeg = Ffmpeg::locate()?;
    let mut child = std::process::Command::new(ffmpeg.path())
        .args(["-v", "error", "-nostdin", "-i", &clip, "-an", "-vf"])
        .arg(format!(
            "fps={fps},scale='min(1280,iw)':'min(720,ih)':force_original_aspect_ratio=decrease:\
             force_divisible_by=2:flags=bicubic,format=rgb24"
        ))
        .args(["-c:v", "ppm", "-f", "image2pipe", "-"])
        .stdout(Stdio::piped())
        .spawn()?;
    let mut stdout = child.stdout.take().ok_or("no stdout")?;
    let mut ppm = PpmReader::new(&mut stdout);
    let mut screener = Screener::new(&mut nudenet);
    let mut text = TextReader::new(&mut ocr);
    let (mut moderation, mut reading, mut grey_cost) =
        (Cost::default(), Cost::default(), Cost::default());
    let (mut sharp, mut noise, mut blocks) = (Cost::default(), Cost::default(), Cost::default());
    let mut frames = 0usize;
    let mut checksum = 0.0f64;
    while frames < limit {
        let Some(image) = ppm.next_image()? else {
            break;
        };
        let seconds = frames as f64 / fps;
        moderation.time(|| screener.offer(&image, seconds))?;
        reading.time(|| text.offer(&image, seconds))?;
        let (grey, reduced) = grey_cost.time(|| {
            let grey = Grey::from_rgb(&image);
            let reduced = grey.reduced_to(360);
            (grey, reduced)
        });
        checksum += sharp.time(|| reduced.sharpness());
        checksum += noise.time(|| reduced.noise_sigma());
        checksum += blocks.time(|| grey.blockiness(8.0));
        frames += 1;
    }
    drop(ppm);
    let _ = child.kill();
    let _ = child.wait();
    let checks = screener.checks.len();
    let found = text.finish(frames as f64 / fps);
    let row = |name: &str, cost: &Cost| {
        println!(
            "{name:<22} {:>8.2} CPU-s {:>8.2} wall-s {:>8.2} ms/frame",
            cost.cpu.as_secs_f64(),
            cost.wall.as_secs_f64(),
            cost.cpu.as_secs_f64() * 1e3 / frames.max(1) as f64
        );
    };
    println!("{frames} frames at {fps} fps from {clip}");
    row("moderation (NudeNet)", &moderation);
    row("text (OCR)", &reading);
    row("grey + reduce", &grey_cost);
    row("sharpness", &sharp);
    row("noise", &noise);
    row("blockiness", &blocks);
    let picture = grey_cost.cpu + sharp.cpu + noise.cpu + blocks.cpu;
    println!(
        "picture measures total  {:>6.2} CPU-s; all readers {:.2} CPU-s",
        picture.as_secs_f64(),
        (picture + moderation.cpu + reading.cpu).as_secs_f64()
    );
    println!(
        "moderation: {checks} frames checked; text: {} detections, {} regions detected, {} read, {} lines (checksum {checksum:.1})",
        found.frames_detected,
        found.regions_detected,
        found.regions_read,
        found.lines.len()
    );
    for line in found.lines.iter().take(40) {
        println!(
            "  {:>6.1}–{:>6.1} {:.2} {:?}",
            line.start_seconds, line.end_seconds, line.confidence, line.text
        );
    }
    Ok(())
}
