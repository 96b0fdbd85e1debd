//! Inference latency of Silero VAD (one 32 ms window) and NudeNet 320n (one 720p frame: the
//! letterbox to 320×320 and the model run), p50/p99 over repeated runs. Wall time, and the
//! calling thread's CPU time (sessions run with one intra-op thread on the caller's thread).
//!
//! `cargo run -p mvidarr-ml --release --example vad_nsfw_latency [runs]` (default 200).

use std::time::{Duration, Instant};

use mvidarr_ml::nsfw::NudeNet;
use mvidarr_ml::vad::{Vad, WINDOW_SAMPLES};

/// The calling thread's CPU time so far.
fn thread_cpu() -> Duration {
    // /proc/thread-self/stat fields 14 and 15: user and system time in clock ticks (100 Hz).
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap_or_default();
    let after_name = stat.rsplit(')').next().unwrap_or_default();
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i).and_then(|f| f.parse::<u64>().ok()))
        .sum();
    Duration::from_millis(ticks * 10)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}

fn report(name: &str, mut times: Vec<Duration>, cpu: Duration) {
    times.sort();
    let n = times.len() as u32;
    println!(
        "{name:<28} p50 {:>8.3} ms  p99 {:>8.3} ms  mean CPU {:>8.3} ms  ({n} runs)",
        percentile(&times, 0.5).as_secs_f64() * 1e3,
        percentile(&times, 0.99).as_secs_f64() * 1e3,
        (cpu / n).as_secs_f64() * 1e3,
    );
}

fn main() {
    let runs: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(200);

    let mut vad = Vad::new().expect("Silero VAD loads");
    // A chirp with noise: the model does the same work whatever the content.
    let samples: Vec<f32> = (0..WINDOW_SAMPLES * (runs + 10))
        .map(|i| {
            let t = i as f32 / 16_000.0;
            0.3 * (2.0 * std::f32::consts::PI * (200.0 + 300.0 * t) * t).sin()
                + 0.01 * ((i * 7919 % 1000) as f32 / 1000.0 - 0.5)
        })
        .collect();
    let mut windows = samples.chunks_exact(WINDOW_SAMPLES);
    for window in windows.by_ref().take(10) {
        vad.push(window).expect("warm-up");
    }
    let mut times = Vec::with_capacity(runs);
    let cpu_start = thread_cpu();
    for window in windows.take(runs) {
        let start = Instant::now();
        vad.push(window).expect("VAD runs");
        times.push(start.elapsed());
    }
    report("silero-vad (32 ms window)", times, thread_cpu() - cpu_start);

    let mut detector = NudeNet::new().expect("NudeNet loads");
    let frame = image::RgbImage::from_fn(1280, 720, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, ((x + y) % 256) as u8])
    });
    for _ in 0..3 {
        detector.detect(&frame).expect("warm-up");
    }
    let runs = runs.min(100);
    let mut times = Vec::with_capacity(runs);
    let cpu_start = thread_cpu();
    for _ in 0..runs {
        let start = Instant::now();
        detector.detect(&frame).expect("NudeNet runs");
        times.push(start.elapsed());
    }
    report("nudenet-320n (720p frame)", times, thread_cpu() - cpu_start);
}
