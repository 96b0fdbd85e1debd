//! `tag-eval`: how good the automatic tags are (issue 7), in three parts.
//!
//! - `media`: generated media whose truth is known by construction (letterboxed, fast cuts,
//!   captions, noise, speech…) run through the real analysis and the analyzer tags; precision
//!   and coverage per tag at the auto-accept threshold and at 0.5.
//! - `genres`: MovieLens 100K genres predicted by per-genre heads from co-interaction
//!   embeddings and titles (never the genre metadata), on the product's held-out split;
//!   precision and coverage at the auto-accept threshold, and the precision/coverage curve.
//! - `learning`: review decisions simulated from the truth in rounds of 50, retrained after
//!   each; precision at a fixed coverage per round, the review queue's order (uncertainty ×
//!   impact, as `GET /v1/review` serves it) against random order.
//!
//! `all` (the default) runs the three. MovieLens is read from `../shared/datasets/ml-100k`;
//! the media part needs ffmpeg (`layers/dist`) and writes its files to a temporary directory.
//! Run it with `scripts/tag-eval.sh` (release build).

use std::time::Instant;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use mvidarr_reco::datasets::shared_datasets_dir;
use mvidarr_tags::eval::{
    GenreEvalConfig, LearningConfig, MovieLensTags, genre_report, learning_report,
};
use mvidarr_tests::tag_truth::{TruthConfig, evaluate};

#[derive(Parser)]
#[command(
    about = "Evaluate the automatic tags: generated media, MovieLens genres, learning rounds"
)]
struct Cli {
    #[command(subcommand)]
    part: Option<Part>,
    /// The auto-accept threshold headline precision and coverage are read at.
    #[arg(long, global = true, default_value_t = mvidarr_core::tag::Thresholds::default().accept)]
    threshold: f64,
    /// Print the reports as JSON instead of tables.
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Subcommand, Clone, Copy, PartialEq, Eq)]
enum Part {
    /// Generated media with known truth through the analysis and the analyzer tags.
    Media {
        /// Media generated per case.
        #[arg(long, default_value_t = 3)]
        per_case: usize,
    },
    /// MovieLens 100K genres from co-interaction embeddings and titles.
    Genres,
    /// Review rounds of 50 decisions, queue order against random order.
    Learning {
        #[arg(long, default_value_t = 10)]
        rounds: usize,
    },
    /// All three (the default).
    All,
}

fn print<T: serde::Serialize + std::fmt::Display>(json: bool, report: &T) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(report)?);
    } else {
        println!("{report}");
    }
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if !(0.0..=1.0).contains(&cli.threshold) {
        bail!("--threshold must be between 0 and 1");
    }
    let part = cli.part.unwrap_or(Part::All);
    if matches!(part, Part::Media { .. } | Part::All) {
        let per_case = match part {
            Part::Media { per_case } => per_case,
            _ => 3,
        };
        let started = Instant::now();
        let dir = tempfile::tempdir()?;
        let config = TruthConfig {
            per_case,
            threshold: cli.threshold,
            ..TruthConfig::default()
        };
        let report = evaluate(dir.path(), &mvidarr_tests::fixtures::ffmpeg(), &config)
            .await
            .map_err(|e| anyhow::anyhow!("generated media: {e:?}"))?;
        print(cli.json, &report)?;
        eprintln!("media part: {:.1} s", started.elapsed().as_secs_f64());
    }
    if matches!(part, Part::Genres | Part::Learning { .. } | Part::All) {
        let root = shared_datasets_dir().context("../shared/datasets is absent")?;
        let started = Instant::now();
        let data = MovieLensTags::load(&root.join("ml-100k"), GenreEvalConfig::default().seed)?;
        eprintln!(
            "MovieLens loaded and embedded: {:.1} s",
            started.elapsed().as_secs_f64()
        );
        if matches!(part, Part::Genres | Part::All) {
            let started = Instant::now();
            let config = GenreEvalConfig {
                threshold: cli.threshold,
                ..GenreEvalConfig::default()
            };
            print(cli.json, &genre_report(&data, &config)?)?;
            eprintln!("genres part: {:.1} s", started.elapsed().as_secs_f64());
        }
        if matches!(part, Part::Learning { .. } | Part::All) {
            let rounds = match part {
                Part::Learning { rounds } => rounds,
                _ => LearningConfig::default().rounds,
            };
            let started = Instant::now();
            let config = LearningConfig {
                rounds,
                ..LearningConfig::default()
            };
            print(cli.json, &learning_report(&data, &config)?)?;
            eprintln!("learning part: {:.1} s", started.elapsed().as_secs_f64());
        }
    }
    Ok(())
}
