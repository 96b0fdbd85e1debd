//! `reco-eval`: offline evaluation of the recommenders on Last.fm HetRec (per-user 80/20
//! holdout, seeded) and MovieLens 100K (`u1.base`/`u1.test`, ratings ≥ 4 as positives), side by
//! side with the PyPI `implicit` package on the same split and hyperparameters, and a popularity
//! baseline. Prints one table and, with `--json`, writes every figure.
//!
//! `implicit` reads the split this binary writes (see `scripts/python/reco_implicit.py`); both
//! sides' recommendations are scored by the same metric code here, so the figures compare the
//! models and nothing else. `implicit` stores the confidence itself (`C = α·value`), so it is
//! given `1 + α·r` with α = 1: the same objective as ours.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use clap::Parser;
use mvidarr_reco::als::{self, AlsModel};
use mvidarr_reco::datasets::shared_datasets_dir;
use mvidarr_reco::eval::{Benchmark, K};
use mvidarr_reco::metrics::RankingMetrics;
use serde::Serialize;

#[derive(Parser)]
#[command(about = "Offline evaluation of the recommenders, side by side with `implicit`")]
struct Args {
    /// The guide's datasets folder (default: `../shared/datasets` above the working directory).
    #[arg(long)]
    datasets: Option<PathBuf>,
    /// Which datasets to run.
    #[arg(long, value_delimiter = ',', default_value = "lastfm,movielens")]
    only: Vec<String>,
    /// Seeds: the Last.fm split and both libraries' initialisation.
    #[arg(long, value_delimiter = ',', default_value = "1,2,3")]
    seeds: Vec<u64>,
    /// Thread counts to time training with.
    #[arg(long, value_delimiter = ',', default_value = "1,2")]
    threads: Vec<usize>,
    /// Evaluate only the first N test users (a quick run); all by default.
    #[arg(long)]
    sample_users: Option<usize>,
    /// Python with `implicit` installed (scripts/reco-eval.sh makes one); without it, only our
    /// models and the baseline run.
    #[arg(long)]
    implicit_python: Option<PathBuf>,
    #[arg(long, default_value = "scripts/python/reco_implicit.py")]
    implicit_script: PathBuf,
    /// Where the split files for `implicit` go (a temporary folder by default).
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// Write every figure here as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
}

/// One model's figures on one dataset and seed.
#[derive(Debug, Serialize)]
struct Row {
    dataset: String,
    seed: u64,
    model: String,
    metrics: RankingMetrics,
    /// Training seconds by thread count.
    fit_seconds: Vec<(usize, f64)>,
}

fn main() -> Result<(), String> {
    let args = Args::parse();
    let root = args
        .datasets
        .clone()
        .or_else(shared_datasets_dir)
        .ok_or("no datasets folder: pass --datasets or run inside the project")?;
    let work = match &args.work_dir {
        Some(dir) => dir.clone(),
        None => std::env::temp_dir().join(format!("reco-eval-{}", std::process::id())),
    };
    let mut rows = Vec::new();
    for name in &args.only {
        for &seed in &args.seeds {
            let prepared = Benchmark::load(name, &root, seed).map_err(|e| e.to_string())?;
            rows.extend(run(&args, &prepared, seed, &work)?);
        }
    }
    print_table(&rows);
    print_summary(&rows);
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&rows).map_err(|e| e.to_string())?;
        std::fs::write(path, text).map_err(|e| format!("writing {}: {e}", path.display()))?;
    }
    if args.work_dir.is_none() {
        let _ = std::fs::remove_dir_all(&work);
    }
    Ok(())
}

fn run(args: &Args, p: &Benchmark, seed: u64, work: &Path) -> Result<Vec<Row>, String> {
    let eval_users = p.eval_users(args.sample_users);
    let mut rows = Vec::new();
    let lists = p.popularity_lists(&eval_users);
    rows.push(row(
        p,
        seed,
        "popularity",
        p.score(&eval_users, &lists),
        Vec::new(),
    ));

    let mut timings = Vec::new();
    let mut model: Option<AlsModel> = None;
    for &threads in &args.threads {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .map_err(|e| e.to_string())?;
        let started = Instant::now();
        let fitted = pool
            .install(|| als::fit(&p.train, &p.config))
            .map_err(|e| e.to_string())?;
        timings.push((threads, started.elapsed().as_secs_f64()));
        model = Some(fitted);
    }
    let model = model.ok_or("--threads is empty")?;
    let lists = p.als_lists(&model, &eval_users);
    rows.push(row(
        p,
        seed,
        "mvidarr ALS",
        p.score(&eval_users, &lists),
        timings,
    ));

    if let Some(python) = &args.implicit_python {
        let dir = work.join(format!("{}-seed{seed}", p.name));
        write_split(&dir, p, &eval_users)?;
        let mut timings = Vec::new();
        let mut recs = Vec::new();
        for &threads in &args.threads {
            let out = run_implicit(python, &args.implicit_script, &dir, threads)?;
            timings.push((threads, out.fit_seconds));
            recs = out.recommendations;
        }
        let version = format!("implicit {}", implicit_version(&dir, &args.threads)?);
        rows.push(row(p, seed, &version, p.score(&eval_users, &recs), timings));
    }
    Ok(rows)
}

fn row(
    p: &Benchmark,
    seed: u64,
    model: &str,
    metrics: RankingMetrics,
    fit_seconds: Vec<(usize, f64)>,
) -> Row {
    Row {
        dataset: p.name.to_owned(),
        seed,
        model: model.to_owned(),
        metrics,
        fit_seconds,
    }
}

/// The split in the files `reco_implicit.py` reads.
fn write_split(dir: &Path, p: &Benchmark, eval_users: &[usize]) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let c = &p.config;
    let meta = serde_json::json!({
        "users": p.train.rows(), "items": p.train.cols(), "factors": c.factors,
        "regularization": c.regularization, "iterations": c.iterations,
        "cg_steps": c.cg_steps, "seed": c.seed, "k": K,
    });
    let mut train = String::with_capacity(p.train.nnz() * 16);
    for (u, i, r) in p.train.triplets() {
        // Hu et al.'s confidence, which `implicit` takes as given.
        train.push_str(&format!("{u}\t{i}\t{}\n", 1.0 + c.alpha * r.abs()));
    }
    let users: String = eval_users.iter().map(|u| format!("{u}\n")).collect();
    for (name, body) in [
        ("meta.json", meta.to_string()),
        ("train.tsv", train),
        ("eval_users.txt", users),
    ] {
        std::fs::write(dir.join(name), body).map_err(|e| format!("writing {name}: {e}"))?;
    }
    Ok(())
}

#[derive(serde::Deserialize)]
struct ImplicitRun {
    fit_seconds: f64,
    recommendations: Vec<Vec<u32>>,
    implicit_version: String,
}

fn run_implicit(
    python: &Path,
    script: &Path,
    dir: &Path,
    threads: usize,
) -> Result<ImplicitRun, String> {
    let status = Command::new(python)
        .arg(script)
        .arg(dir)
        .args(["--threads", &threads.to_string()])
        .status()
        .map_err(|e| format!("running {}: {e}", python.display()))?;
    if !status.success() {
        return Err(format!(
            "{} {} failed: {status}",
            python.display(),
            script.display()
        ));
    }
    read_implicit(dir, threads)
}

fn read_implicit(dir: &Path, threads: usize) -> Result<ImplicitRun, String> {
    let path = dir.join(format!("implicit_t{threads}.json"));
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

fn implicit_version(dir: &Path, threads: &[usize]) -> Result<String, String> {
    let first = threads.first().ok_or("--threads is empty")?;
    Ok(read_implicit(dir, *first)?.implicit_version)
}

fn print_table(rows: &[Row]) {
    println!(
        "| dataset | seed | model | P@10 | R@10 | nDCG@10 | MAP@10 | coverage | users | fit s (threads) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for r in rows {
        let m = &r.metrics;
        let fits: Vec<String> = r
            .fit_seconds
            .iter()
            .map(|(t, s)| format!("{s:.3} ({t})"))
            .collect();
        println!(
            "| {} | {} | {} | {:.4} | {:.4} | {:.4} | {:.4} | {:.3} | {} | {} |",
            r.dataset,
            r.seed,
            r.model,
            m.precision,
            m.recall,
            m.ndcg,
            m.map,
            m.coverage,
            m.users,
            fits.join(", ")
        );
    }
}

/// Per dataset and model: each metric's mean ± standard deviation over the seeds, and the
/// median training time per thread count.
fn print_summary(rows: &[Row]) {
    let mut groups: Vec<(&str, &str)> = Vec::new();
    for r in rows {
        if !groups.contains(&(r.dataset.as_str(), r.model.as_str())) {
            groups.push((&r.dataset, &r.model));
        }
    }
    println!();
    println!(
        "| dataset | model | seeds | P@10 | R@10 | nDCG@10 | MAP@10 | coverage | median fit s (threads) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for (dataset, model) in groups {
        let group: Vec<&Row> = rows
            .iter()
            .filter(|r| r.dataset == dataset && r.model == model)
            .collect();
        let stat = |f: fn(&RankingMetrics) -> f64| {
            let xs: Vec<f64> = group.iter().map(|r| f(&r.metrics)).collect();
            let mean = xs.iter().sum::<f64>() / xs.len() as f64;
            let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / xs.len() as f64;
            format!("{mean:.4} ± {:.4}", var.sqrt())
        };
        let mut threads: Vec<usize> = group
            .iter()
            .flat_map(|r| r.fit_seconds.iter().map(|(t, _)| *t))
            .collect();
        threads.sort_unstable();
        threads.dedup();
        let fits: Vec<String> = threads
            .iter()
            .map(|&t| {
                let mut xs: Vec<f64> = group
                    .iter()
                    .flat_map(|r| {
                        r.fit_seconds
                            .iter()
                            .filter(|(n, _)| *n == t)
                            .map(|(_, s)| *s)
                    })
                    .collect();
                xs.sort_unstable_by(f64::total_cmp);
                format!("{:.3} ({t})", xs[xs.len() / 2])
            })
            .collect();
        println!(
            "| {dataset} | {model} | {} | {} | {} | {} | {} | {} | {} |",
            group.len(),
            stat(|m| m.precision),
            stat(|m| m.recall),
            stat(|m| m.ndcg),
            stat(|m| m.map),
            stat(|m| m.coverage),
            fits.join(", ")
        );
    }
}
