//! How well tag heads predict MovieLens 100K genres from the other signals.
//!
//! Per genre, a head is trained exactly as a tenant's would be ([`train`]): every film is an
//! example (accepted when it has the genre), the held-out films are the product's stable 25%
//! split, Platt scaling comes from cross-validation inside the training part. The held-out
//! films are then tagged at the auto-accept threshold. Micro-averaged figures pool every
//! (genre, held-out film) pair, so common genres weigh more; AP's no-skill level is the base rate.

use std::fmt;
use std::path::Path;

use rayon::prelude::*;
use serde::Serialize;

use super::movielens::{MovieLensTags, genre_tag};
use super::{EvalError, decimal, percent};
use crate::curve::{CurvePoint, PrecisionCoverage};
use crate::train::{Example, TrainConfig, split, train};

#[derive(Debug, Clone, PartialEq)]
pub struct GenreEvalConfig {
    /// Initialises the embeddings' ALS (the held-out split is the product's, by film id).
    pub seed: u64,
    /// The auto-accept threshold the headline precision and coverage are taken at.
    pub threshold: f64,
    /// Only these genres (all when `None`).
    pub genres: Option<Vec<String>>,
    pub train: TrainConfig,
    /// Where the micro-averaged curve is sampled.
    pub curve_thresholds: Vec<f64>,
}

impl Default for GenreEvalConfig {
    fn default() -> Self {
        GenreEvalConfig {
            seed: 1,
            threshold: 0.9,
            genres: None,
            train: TrainConfig::default(),
            curve_thresholds: vec![0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99],
        }
    }
}

/// One genre's held-out figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GenreRow {
    pub genre: String,
    pub tag: String,
    /// Films with the genre, of all films.
    pub films: usize,
    pub base_rate: f64,
    pub held_out: usize,
    pub held_out_positives: usize,
    pub average_precision: Option<f64>,
    pub roc_auc: Option<f64>,
    pub log_loss: Option<f64>,
    /// At the report's threshold.
    pub at_threshold: CurvePoint,
    /// Precision when the threshold is set to cover half the genre's films.
    pub precision_at_half_coverage: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GenreReport {
    pub films: usize,
    pub users: usize,
    pub interactions: usize,
    pub embedding: Option<String>,
    pub features: usize,
    pub l2: f64,
    pub held_out_fraction: f64,
    pub threshold: f64,
    pub genres: Vec<GenreRow>,
    /// (genre, held-out film) pairs pooled for the micro averages.
    pub pairs: usize,
    /// Every (genre, held-out film) pair pooled, at the threshold.
    pub micro_at_threshold: CurvePoint,
    pub micro_average_precision: Option<f64>,
    /// The pooled pairs' share of positives: AP's no-skill level.
    pub micro_base_rate: f64,
    pub macro_average_precision: Option<f64>,
    pub macro_base_rate: f64,
    /// The pooled precision/coverage curve at the configured thresholds.
    pub curve: Vec<CurvePoint>,
}

/// Loads MovieLens 100K from `dir` (the `ml-100k` folder) and runs [`genre_report`].
pub fn movielens_genres(dir: &Path, config: &GenreEvalConfig) -> Result<GenreReport, EvalError> {
    let data = MovieLensTags::load(dir, config.seed)?;
    genre_report(&data, config)
}

pub fn genre_report(
    data: &MovieLensTags,
    config: &GenreEvalConfig,
) -> Result<GenreReport, EvalError> {
    if !(0.0..=1.0).contains(&config.threshold) {
        return Err(EvalError::Config(
            "the threshold must be between 0 and 1".into(),
        ));
    }
    let genres = data.pick_genres(config.genres.as_deref())?;
    let train_config = TrainConfig {
        thresholds: vec![config.threshold],
        ..config.train.clone()
    };
    let results: Vec<(GenreRow, Vec<(f64, bool)>)> = genres
        .par_iter()
        .map(|genre| one_genre(data, genre, &train_config, config.threshold))
        .collect::<Result<_, _>>()?;
    let pooled = PrecisionCoverage::new(results.iter().flat_map(|(_, s)| s.iter().copied()));
    let rows: Vec<GenreRow> = results.into_iter().map(|(row, _)| row).collect();
    let aps: Vec<f64> = rows.iter().filter_map(|r| r.average_precision).collect();
    let n = rows.len().max(1) as f64;
    Ok(GenreReport {
        films: data.items.len(),
        users: data.users,
        interactions: data.interactions,
        embedding: data.spec.embedding_source.clone(),
        features: data.spec.len(),
        l2: config.train.l2,
        held_out_fraction: config.train.held_out_fraction,
        threshold: config.threshold,
        pairs: pooled.items(),
        micro_at_threshold: pooled.at_threshold(config.threshold),
        micro_average_precision: pooled.average_precision(),
        micro_base_rate: pooled.positives() as f64 / pooled.items().max(1) as f64,
        macro_average_precision: (!aps.is_empty())
            .then(|| aps.iter().sum::<f64>() / aps.len() as f64),
        macro_base_rate: rows.iter().map(|r| r.base_rate).sum::<f64>() / n,
        curve: pooled.at_thresholds(&config.curve_thresholds),
        genres: rows,
    })
}

fn one_genre(
    data: &MovieLensTags,
    genre: &str,
    config: &TrainConfig,
    threshold: f64,
) -> Result<(GenreRow, Vec<(f64, bool)>), EvalError> {
    let tag = genre_tag(genre);
    let examples: Vec<Example> = (0..data.items.len())
        .map(|i| data.example(i, genre))
        .collect();
    let trained =
        train(&tag, &examples, &data.spec, config).map_err(|source| EvalError::Train {
            genre: genre.to_owned(),
            source,
        })?;
    let (_, held_out) = split(&examples, config.held_out_fraction);
    let scored: Vec<(f64, bool)> = held_out
        .iter()
        .map(|e| {
            let c = trained
                .head
                .confidence(&e.features)
                .expect("the examples were made with the head's spec");
            (c, e.label)
        })
        .collect();
    let curve = PrecisionCoverage::new(scored.iter().copied());
    let films = examples.iter().filter(|e| e.label).count();
    let m = &trained.metrics.held_out;
    let row = GenreRow {
        genre: genre.to_owned(),
        tag: tag.to_string(),
        films,
        base_rate: films as f64 / examples.len().max(1) as f64,
        held_out: m.examples,
        held_out_positives: m.positives,
        average_precision: m.average_precision,
        roc_auc: m.roc_auc,
        log_loss: m.log_loss,
        at_threshold: curve.at_threshold(threshold),
        precision_at_half_coverage: curve.precision_at_coverage(0.5),
    };
    Ok((row, scored))
}

impl fmt::Display for GenreReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = self.threshold;
        writeln!(
            f,
            "### MovieLens 100K genres from co-interaction embeddings and titles"
        )?;
        writeln!(f)?;
        writeln!(
            f,
            "{} films, {} users, {} ratings; features: {} ({}, hashed title words, bigrams and year; \
             never the genres); L2 λ = {}; held out: the product's stable {:.0}% split by film id; \
             auto-accept threshold {t}.",
            self.films,
            self.users,
            self.interactions,
            self.features,
            self.embedding.as_deref().unwrap_or("no embedding"),
            self.l2,
            100.0 * self.held_out_fraction,
        )?;
        writeln!(f)?;
        writeln!(
            f,
            "| genre | films | base rate | held out (+) | AP | ROC AUC | precision @{t} | coverage @{t} | tagged @{t} | precision @50% coverage |"
        )?;
        writeln!(f, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")?;
        for r in &self.genres {
            writeln!(
                f,
                "| {} | {} | {} | {} ({}) | {} | {} | {} | {} | {} | {} |",
                r.genre,
                r.films,
                percent(Some(r.base_rate)),
                r.held_out,
                r.held_out_positives,
                decimal(r.average_precision),
                decimal(r.roc_auc),
                percent(r.at_threshold.precision),
                percent(r.at_threshold.coverage),
                r.at_threshold.tagged,
                percent(r.precision_at_half_coverage),
            )?;
        }
        let m = &self.micro_at_threshold;
        writeln!(
            f,
            "| **all (micro)** | | {} | {} pairs | {} | | **{}** | **{}** | {} | |",
            percent(Some(self.micro_base_rate)),
            self.pairs,
            decimal(self.micro_average_precision),
            percent(m.precision),
            percent(m.coverage),
            m.tagged,
        )?;
        writeln!(
            f,
            "| **mean (macro)** | | {} | | {} | | | | | |",
            percent(Some(self.macro_base_rate)),
            decimal(self.macro_average_precision),
        )?;
        writeln!(f)?;
        writeln!(f, "Precision/coverage curve (all genres pooled):")?;
        writeln!(f)?;
        writeln!(
            f,
            "| threshold | precision | coverage | share of pairs tagged |"
        )?;
        writeln!(f, "|---:|---:|---:|---:|")?;
        for p in &self.curve {
            writeln!(
                f,
                "| {} | {} | {} | {} |",
                p.threshold,
                percent(p.precision),
                percent(p.coverage),
                percent(Some(p.tagged_share)),
            )?;
        }
        Ok(())
    }
}
