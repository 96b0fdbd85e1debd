//! OCR latency on one 720p frame with two lines of text drawn by ffmpeg: p50/p99 of detection,
//! recognition and the whole `read`, over repeated runs on the same frame. Wall time, and the
//! calling thread's CPU time (the sessions run with one intra-op thread, on the caller's thread),
//! which stays meaningful when other work shares the cores; the minimum is the closest to an
//! idle machine.
//!
//! `cargo run -p mvidarr-ml --release --example ocr_latency [runs] [plain|busy] [min|max side]`
//! (default: 20 runs, a plain background, RapidOCR's detection size: short side ≥ 736). `busy`
//! draws over testsrc2, whose clock is read too and whose patterns give the detector a few
//! false boxes that recognition then rejects — each of them costs a recognition run.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use mvidarr_ml::ocr::{Ocr, OcrOptions, SideLimit};

fn ffmpeg() -> PathBuf {
    std::env::var_os("MVIDARR_FFMPEG")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../layers/dist/bin/ffmpeg")
        })
}

/// A 1280×720 frame with two lines of text, as RGB.
fn frame(background: &str) -> image::RgbImage {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut filters = Vec::new();
    for (i, (text, size, x, y)) in [
        ("Breaking News: 42 ships sighted", 44, 80, 520),
        ("Live from Rotterdam, 09:15", 32, 80, 590),
    ]
    .into_iter()
    .enumerate()
    {
        let path = dir.path().join(format!("line{i}.txt"));
        std::fs::File::create(&path)
            .and_then(|mut f| f.write_all(text.as_bytes()))
            .expect("text file");
        filters.push(format!(
            "drawtext=textfile={}:fontcolor=white:fontsize={size}:x={x}:y={y}:box=1:boxcolor=black@0.6",
            path.display()
        ));
    }
    let mut child = Command::new(ffmpeg())
        .args(["-v", "error", "-f", "lavfi", "-i", background, "-vf"])
        .arg(filters.join(","))
        .args(["-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("ffmpeg runs");
    let mut raw = Vec::new();
    child
        .stdout
        .take()
        .expect("stdout")
        .read_to_end(&mut raw)
        .expect("frame bytes");
    assert!(child.wait().expect("ffmpeg exits").success());
    image::RgbImage::from_raw(1280, 720, raw).expect("one 1280×720 frame")
}

/// The calling thread's CPU time so far (Linux `/proc/thread-self/schedstat`, nanoseconds on CPU).
fn thread_cpu() -> Duration {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .map(Duration::from_nanos)
        .unwrap_or_default()
}

/// Wall and CPU time of `f`.
fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration, Duration) {
    let (wall, cpu) = (Instant::now(), thread_cpu());
    let out = f();
    (out, wall.elapsed(), thread_cpu() - cpu)
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1e3
}

fn report(name: &str, mut wall: Vec<Duration>, mut cpu: Vec<Duration>) {
    wall.sort();
    cpu.sort();
    println!(
        "{name:<10} wall p50 {:6.1} p99 {:6.1} min {:6.1} ms   cpu p50 {:6.1} p99 {:6.1} min {:6.1} ms   (n = {})",
        percentile(&wall, 0.5),
        percentile(&wall, 0.99),
        percentile(&wall, 0.0),
        percentile(&cpu, 0.5),
        percentile(&cpu, 0.99),
        percentile(&cpu, 0.0),
        wall.len()
    );
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let runs: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(20);
    let background = match args.next().as_deref() {
        Some("busy") => "testsrc2=s=1280x720:r=25",
        _ => "color=c=0x203040:s=1280x720",
    };
    let mut options = OcrOptions::default();
    if let Some(kind) = args.next() {
        let side: u32 = args.next().map(|a| a.parse()).transpose()?.unwrap_or(960);
        options.det_side = match kind.as_str() {
            "max" => SideLimit::Max(side),
            _ => SideLimit::Min(side),
        };
    }
    let frame = frame(background);
    let started = Instant::now();
    let mut ocr = Ocr::with_options(options)?;
    println!(
        "sessions built in {:.0} ms; {:?}",
        started.elapsed().as_secs_f64() * 1e3,
        options.det_side
    );

    let boxes = ocr.detect(&frame)?;
    println!("{} boxes, {} read:", boxes.len(), ocr.read(&frame)?.len());
    for line in ocr.recognize(&frame, &boxes)? {
        println!(
            "  {:?} ({:.3}) at {:?}",
            line.text,
            line.confidence,
            line.quad.bounds()
        );
    }
    let mut times: [(Vec<Duration>, Vec<Duration>); 3] = Default::default();
    for _ in 0..runs {
        let (boxes, wall, cpu) = timed(|| ocr.detect(&frame));
        let boxes = boxes?;
        times[0].0.push(wall);
        times[0].1.push(cpu);
        let (lines, wall, cpu) = timed(|| ocr.recognize(&frame, &boxes));
        lines?;
        times[1].0.push(wall);
        times[1].1.push(cpu);
        let (lines, wall, cpu) = timed(|| ocr.read(&frame));
        lines?;
        times[2].0.push(wall);
        times[2].1.push(cpu);
    }
    for (name, (wall, cpu)) in ["detect", "recognize", "read"].into_iter().zip(times) {
        report(name, wall, cpu);
    }
    Ok(())
}
