//! `reco-bench`: serving figures for a synthetic catalogue (100,000 items, 50,000 users by
//! default): training time, model file size, resident memory of the loaded model, and the
//! in-process latency (p50/p99/max) of top-20 lists of every kind and of similar items.
//!
//! The catalogue: items by artist (10 each) with a genre and two tags; each user has a favourite
//! genre and plays ~40 items drawn from a Zipf-like popularity, mostly in that genre.

use std::time::{Duration, Instant};

use clap::Parser;
use mvidarr_reco::als::AlsConfig;
use mvidarr_reco::content::ContentFeatures;
use mvidarr_reco::model::{
    BlendConfig, Kind, RecoModel, TrainConfig, TrainingEvent, TrainingItem, TrainingSet,
};
use mvidarr_reco::trending::Window;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

#[derive(Parser)]
#[command(about = "Recommendation serving benchmark on a synthetic catalogue")]
struct Args {
    #[arg(long, default_value_t = 100_000)]
    items: usize,
    #[arg(long, default_value_t = 50_000)]
    users: usize,
    /// Plays per user, on average.
    #[arg(long, default_value_t = 40)]
    plays: usize,
    #[arg(long, default_value_t = 64)]
    factors: usize,
    #[arg(long, default_value_t = 10)]
    iterations: usize,
    /// Requests timed per kind.
    #[arg(long, default_value_t = 2_000)]
    requests: usize,
    /// Write the figures here as JSON.
    #[arg(long)]
    json: Option<std::path::PathBuf>,
    /// (Internal) decode the model file at this path in this fresh process and print how much
    /// resident memory the decoded model takes.
    #[arg(long, hide = true)]
    measure_load: Option<std::path::PathBuf>,
}

const GENRES: usize = 20;
const TAGS: usize = 200;
const NOW: i64 = 1_800_000_000;

#[derive(Serialize)]
struct Latency {
    kind: &'static str,
    p50_us: f64,
    p99_us: f64,
    max_us: f64,
}

#[derive(Serialize)]
struct Figures {
    items: usize,
    users: usize,
    interactions: usize,
    train_seconds: f64,
    model_bytes: usize,
    encode_seconds: f64,
    decode_seconds: f64,
    loaded_model_rss_bytes: Option<u64>,
    latencies: Vec<Latency>,
}

fn main() -> Result<(), String> {
    let args = Args::parse();
    if let Some(path) = &args.measure_load {
        return measure_load(path);
    }
    let set = synthetic(&args);
    let config = TrainConfig {
        als: AlsConfig {
            factors: args.factors,
            iterations: args.iterations,
            ..AlsConfig::default()
        },
        trending_limit: 200,
    };
    eprintln!(
        "training on {} items, {} users, {} events…",
        args.items,
        args.users,
        set.events.len()
    );
    let started = Instant::now();
    let trained = RecoModel::train(&set, &config, NOW).map_err(|e| e.to_string())?;
    let train_seconds = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let bytes = trained.to_bytes();
    let encode_seconds = started.elapsed().as_secs_f64();
    drop(trained);
    drop(set);

    let loaded_model_rss_bytes = loaded_size_in_fresh_process(&bytes)?;
    let started = Instant::now();
    let model = RecoModel::from_bytes(&bytes).map_err(|e| e.to_string())?;
    let decode_seconds = started.elapsed().as_secs_f64();

    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let blend = BlendConfig::default();
    let mut latencies = Vec::new();
    let kinds = [
        ("personal", Kind::Personal),
        ("collab", Kind::Collab),
        ("content", Kind::Content),
        ("trending", Kind::Trending(Window::Day)),
    ];
    for (name, kind) in kinds {
        let samples = time(args.requests, || {
            let user = format!("u{}", rng.random_range(0..args.users));
            let recs = model.recommend(Some(&user), kind, 20, &blend);
            assert!(!recs.is_empty(), "{name} for {user} is empty");
        });
        latencies.push(summarise(name, samples));
    }
    let samples = time(args.requests, || {
        let item = format!("i{}", rng.random_range(0..args.items));
        let similar = model.similar(&item, 20).expect("a catalogue item");
        assert!(!similar.is_empty());
    });
    latencies.push(summarise("similar", samples));

    let figures = Figures {
        items: args.items,
        users: args.users,
        interactions: model.interaction_count(),
        train_seconds,
        model_bytes: bytes.len(),
        encode_seconds,
        decode_seconds,
        loaded_model_rss_bytes,
        latencies,
    };
    print(&figures);
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&figures).map_err(|e| e.to_string())?;
        std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}

fn synthetic(args: &Args) -> TrainingSet {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let items: Vec<TrainingItem> = (0..args.items)
        .map(|i| {
            let genre = rng.random_range(0..GENRES);
            TrainingItem {
                id: format!("i{i}"),
                title: format!("Video {i}"),
                features: ContentFeatures {
                    tags: (0..2)
                        .map(|_| format!("t{}", rng.random_range(0..TAGS)))
                        .collect(),
                    genres: vec![format!("g{genre}")],
                    artist: Some(format!("a{}", i / 10)),
                    numeric: vec![rng.random_range(3.0..6.0), 25.0, 1.78],
                },
            }
        })
        .collect();
    let mut by_genre: Vec<Vec<u32>> = vec![Vec::new(); GENRES];
    for (i, item) in items.iter().enumerate() {
        let g: usize = item.features.genres[0][1..].parse().expect("g{n}");
        by_genre[g].push(i as u32);
    }
    let mut events = Vec::with_capacity(args.users * args.plays);
    for user in 0..args.users as u32 {
        let favourite = rng.random_range(0..GENRES);
        let plays = rng.random_range(args.plays / 2..=args.plays * 3 / 2);
        for _ in 0..plays {
            // Four in five plays in the favourite genre; rank drawn Zipf-like (rank ~ u²).
            let pool = if rng.random_bool(0.8) {
                &by_genre[favourite]
            } else {
                &by_genre[rng.random_range(0..GENRES)]
            };
            let u: f64 = rng.random();
            let item = pool[((u * u) * pool.len() as f64) as usize % pool.len()];
            events.push(TrainingEvent {
                user,
                item,
                strength: 1.0,
                at: NOW - rng.random_range(0..7 * 86_400),
            });
        }
    }
    TrainingSet {
        items,
        users: (0..args.users).map(|u| format!("u{u}")).collect(),
        events,
    }
}

fn time(n: usize, mut f: impl FnMut()) -> Vec<Duration> {
    (0..n)
        .map(|_| {
            let started = Instant::now();
            f();
            started.elapsed()
        })
        .collect()
}

fn summarise(kind: &'static str, mut samples: Vec<Duration>) -> Latency {
    samples.sort_unstable();
    let at = |q: f64| {
        let i = ((samples.len() as f64 * q).ceil() as usize).clamp(1, samples.len()) - 1;
        samples[i].as_secs_f64() * 1e6
    };
    Latency {
        kind,
        p50_us: at(0.50),
        p99_us: at(0.99),
        max_us: at(1.0),
    }
}

/// The loaded model's memory, measured where nothing else was allocated before: a fresh
/// process reads the file, then reports its resident size grown by decoding.
fn loaded_size_in_fresh_process(bytes: &[u8]) -> Result<Option<u64>, String> {
    let path = std::env::temp_dir().join(format!("reco-bench-{}.bin", std::process::id()));
    std::fs::write(&path, bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let out = std::process::Command::new(exe)
        .arg("--measure-load")
        .arg(&path)
        .output()
        .map_err(|e| e.to_string());
    let _ = std::fs::remove_file(&path);
    let out = out?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().parse().ok())
}

fn measure_load(path: &std::path::Path) -> Result<(), String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let before = resident_bytes().ok_or("no /proc/self/status")?;
    let model = RecoModel::from_bytes(&bytes).map_err(|e| e.to_string())?;
    let after = resident_bytes().ok_or("no /proc/self/status")?;
    println!("{}", after.saturating_sub(before));
    drop(model);
    Ok(())
}

/// This process's resident set size, from /proc (Linux), in bytes.
fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

fn print(f: &Figures) {
    println!(
        "catalogue: {} items, {} users, {} interactions",
        f.items, f.users, f.interactions
    );
    println!("training: {:.1} s", f.train_seconds);
    println!(
        "model file: {:.1} MB (encode {:.2} s, decode {:.2} s); loaded model resident: {}",
        f.model_bytes as f64 / 1e6,
        f.encode_seconds,
        f.decode_seconds,
        f.loaded_model_rss_bytes
            .map_or("n/a".into(), |b| format!("{:.1} MB", b as f64 / 1e6))
    );
    println!("| list (top 20) | p50 µs | p99 µs | max µs |");
    println!("|---|---|---|---|");
    for l in &f.latencies {
        println!(
            "| {} | {:.0} | {:.0} | {:.0} |",
            l.kind, l.p50_us, l.p99_us, l.max_us
        );
    }
}
