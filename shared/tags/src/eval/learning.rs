//! Learning from people, simulated: reviewers decide a genre's tag on 50 films per round
//! (accepting what is true, rejecting what is false), the head is retrained after each round
//! and promoted only if it [`beats`] the current one, as in the product. Two arms see the same
//! films and differ only in which films reach the reviewers:
//!
//! - **active**: the review queue's order, `review_priority(confidence,
//!   review_impact(plays, decisions so far))`, from the current head's confidences;
//! - **random**: a seeded random order.
//!
//! Per seed, a random 30% of films is the test set (never reviewed); the rest is the pool. The
//! first round is the same random batch in both arms, and an arm keeps drawing at random
//! until it has a head (a genre needs 8 accepted and 8 rejected decisions for one). After each
//! round the test set is tagged by the arm's head; the figure is the precision at a fixed
//! coverage, the no-skill base rate while there is no head. Means over genres and seeds.

use std::fmt;
use std::path::Path;

use mvidarr_core::tag::{review_impact, review_priority};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::Serialize;

use super::movielens::{MovieLensTags, genre_tag};
use super::{EvalError, percent};
use crate::curve::PrecisionCoverage;
use crate::hash::{stable_hash, unit_draw};
use crate::head::TagHead;
use crate::train::{
    Comparison, Example, TrainConfig, TrainError, beats, compare_with_prior, evaluate, split, train,
};

#[derive(Debug, Clone, PartialEq)]
pub struct LearningConfig {
    /// Initialises the embeddings' ALS.
    pub als_seed: u64,
    /// One simulation per seed (test set and random order); figures are averaged.
    pub seeds: Vec<u64>,
    pub rounds: usize,
    /// Decisions per genre per round.
    pub batch: usize,
    /// The coverage (share of the test set's truly-tagged films) precision is read at.
    pub fixed_coverage: f64,
    /// The share of films set aside as the test set.
    pub test_fraction: f64,
    /// Only these genres (all when `None`).
    pub genres: Option<Vec<String>>,
    pub train: TrainConfig,
}

impl Default for LearningConfig {
    fn default() -> Self {
        LearningConfig {
            als_seed: 1,
            seeds: vec![1, 2, 3, 4, 5],
            rounds: 10,
            batch: 50,
            fixed_coverage: 0.5,
            test_fraction: 0.3,
            genres: None,
            train: TrainConfig::default(),
        }
    }
}

/// One arm's figures after a round, averaged over genres and seeds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ArmFigures {
    /// Precision at the fixed coverage on the test set.
    pub precision_at_coverage: f64,
    /// Average precision on the test set.
    pub average_precision: f64,
    /// The share of (genre, seed) runs that have a head.
    pub with_head: f64,
    /// Accepted decisions so far (true films found), per genre.
    pub positives_found: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RoundRow {
    pub round: usize,
    /// Decisions per genre so far.
    pub decisions: usize,
    pub active: ArmFigures,
    pub random: ArmFigures,
}

/// The last round per genre (means over seeds).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GenreLast {
    pub genre: String,
    pub base_rate: f64,
    pub active: ArmFigures,
    pub random: ArmFigures,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LearningReport {
    pub seeds: Vec<u64>,
    pub batch: usize,
    pub fixed_coverage: f64,
    pub test_fraction: f64,
    pub genres: Vec<String>,
    /// The test sets' base rate, averaged: the precision of a tagger that knows nothing.
    pub base_rate: f64,
    pub rounds: Vec<RoundRow>,
    pub last_round_by_genre: Vec<GenreLast>,
}

/// Loads MovieLens 100K from `dir` (the `ml-100k` folder) and runs [`learning_report`].
pub fn learning_rounds(dir: &Path, config: &LearningConfig) -> Result<LearningReport, EvalError> {
    let data = MovieLensTags::load(dir, config.als_seed)?;
    learning_report(&data, config)
}

pub fn learning_report(
    data: &MovieLensTags,
    config: &LearningConfig,
) -> Result<LearningReport, EvalError> {
    if config.seeds.is_empty() || config.rounds == 0 || config.batch == 0 {
        return Err(EvalError::Config(
            "seeds, rounds and batch must not be empty or zero".into(),
        ));
    }
    if !(0.0..=1.0).contains(&config.fixed_coverage)
        || !(0.05..=0.9).contains(&config.test_fraction)
    {
        return Err(EvalError::Config(
            "fixed_coverage must be in 0–1 and test_fraction in 0.05–0.9".into(),
        ));
    }
    let genres = data.pick_genres(config.genres.as_deref())?;
    let runs: Vec<(usize, u64)> = (0..genres.len())
        .flat_map(|g| config.seeds.iter().map(move |&s| (g, s)))
        .collect();
    let results: Vec<Run> = runs
        .par_iter()
        .map(|&(g, seed)| simulate(data, &genres[g], seed, config))
        .collect::<Result<_, _>>()?;

    let mean = |figures: &mut dyn Iterator<Item = Figures>| -> ArmFigures {
        let all: Vec<Figures> = figures.collect();
        let n = all.len().max(1) as f64;
        ArmFigures {
            precision_at_coverage: all.iter().map(|f| f.precision).sum::<f64>() / n,
            average_precision: all.iter().map(|f| f.average_precision).sum::<f64>() / n,
            with_head: all.iter().filter(|f| f.has_head).count() as f64 / n,
            positives_found: all.iter().map(|f| f.positives as f64).sum::<f64>() / n,
        }
    };
    let rounds = (0..config.rounds)
        .map(|r| RoundRow {
            round: r + 1,
            decisions: results
                .iter()
                .map(|run| run.rounds[r].decisions)
                .max()
                .unwrap_or(0),
            active: mean(&mut results.iter().map(|run| run.rounds[r].active)),
            random: mean(&mut results.iter().map(|run| run.rounds[r].random)),
        })
        .collect();
    let last = config.rounds - 1;
    let last_round_by_genre = genres
        .iter()
        .enumerate()
        .map(|(g, genre)| {
            let of_genre: Vec<&Run> = runs
                .iter()
                .zip(&results)
                .filter(|((rg, _), _)| *rg == g)
                .map(|(_, run)| run)
                .collect();
            GenreLast {
                genre: genre.clone(),
                base_rate: of_genre.iter().map(|r| r.base_rate).sum::<f64>()
                    / of_genre.len().max(1) as f64,
                active: mean(&mut of_genre.iter().map(|run| run.rounds[last].active)),
                random: mean(&mut of_genre.iter().map(|run| run.rounds[last].random)),
            }
        })
        .collect();
    Ok(LearningReport {
        seeds: config.seeds.clone(),
        batch: config.batch,
        fixed_coverage: config.fixed_coverage,
        test_fraction: config.test_fraction,
        base_rate: results.iter().map(|r| r.base_rate).sum::<f64>() / results.len() as f64,
        genres,
        rounds,
        last_round_by_genre,
    })
}

/// One arm after one round, for one genre and seed.
#[derive(Debug, Clone, Copy)]
struct Figures {
    precision: f64,
    average_precision: f64,
    has_head: bool,
    positives: usize,
}

struct RoundFigures {
    decisions: usize,
    active: Figures,
    random: Figures,
}

struct Run {
    base_rate: f64,
    rounds: Vec<RoundFigures>,
}

/// One arm's reviewers and head.
struct Arm {
    decided: Vec<usize>,
    is_decided: Vec<bool>,
    head: Option<TagHead>,
    /// The next position in the random order.
    cursor: usize,
}

impl Arm {
    fn new(items: usize) -> Arm {
        Arm {
            decided: Vec::new(),
            is_decided: vec![false; items],
            head: None,
            cursor: 0,
        }
    }

    fn decide(&mut self, item: usize) {
        if !self.is_decided[item] {
            self.is_decided[item] = true;
            self.decided.push(item);
        }
    }

    /// The next `n` undecided films of the random order.
    fn draw_random(&mut self, order: &[usize], n: usize) {
        let mut taken = 0;
        while taken < n && self.cursor < order.len() {
            let item = order[self.cursor];
            self.cursor += 1;
            if !self.is_decided[item] {
                self.decide(item);
                taken += 1;
            }
        }
    }

    /// The top `n` undecided films of the review queue, ties in the random order.
    fn draw_by_priority(&mut self, data: &MovieLensTags, order: &[usize], n: usize) {
        let Some(head) = &self.head else {
            return self.draw_random(order, n);
        };
        let decisions = self.decided.len() as u64;
        let mut queue: Vec<(f64, usize, usize)> = order
            .iter()
            .enumerate()
            .filter(|(_, item)| !self.is_decided[**item])
            .map(|(rank, &item)| {
                let it = &data.items[item];
                let confidence = head
                    .confidence(&it.features)
                    .expect("films' features are made with the head's spec");
                let priority = review_priority(confidence, review_impact(it.plays, decisions));
                (priority, rank, item)
            })
            .collect();
        queue.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        for &(_, _, item) in queue.iter().take(n) {
            self.decide(item);
        }
    }

    /// Retrains on every decision so far; the candidate replaces the head if there is none or
    /// if it beats it on the candidate's held-out fold.
    fn retrain(
        &mut self,
        data: &MovieLensTags,
        genre: &str,
        config: &TrainConfig,
    ) -> Result<(), EvalError> {
        let examples: Vec<Example> = self
            .decided
            .iter()
            .map(|&i| data.example(i, genre))
            .collect();
        let candidate = match train(&genre_tag(genre), &examples, &data.spec, config) {
            Ok(c) => c,
            Err(TrainError::TooFewDecisions { .. } | TrainError::TooFewToLearn { .. }) => {
                return Ok(());
            }
            Err(source) => {
                return Err(EvalError::Train {
                    genre: genre.to_owned(),
                    source,
                });
            }
        };
        let promote = match &self.head {
            // As the product: a first head must beat the prior.
            None => matches!(
                compare_with_prior(&candidate.metrics),
                Comparison::Better { .. }
            ),
            Some(current) => {
                let (_, fold) = split(&examples, config.held_out_fraction);
                let current_there = evaluate(current, fold, &config.thresholds)
                    .expect("films' features are made with the head's spec");
                beats(&candidate.metrics.held_out, &current_there)
            }
        };
        if promote {
            self.head = Some(candidate.head);
        }
        Ok(())
    }

    fn figures(&self, data: &MovieLensTags, test: &[usize], genre: &str, coverage: f64) -> Figures {
        let truth = |i: usize| data.items[i].genres.iter().any(|g| g == genre);
        let base_rate =
            test.iter().filter(|&&i| truth(i)).count() as f64 / test.len().max(1) as f64;
        let positives = self.decided.iter().filter(|&&i| truth(i)).count();
        let Some(head) = &self.head else {
            return Figures {
                precision: base_rate,
                average_precision: base_rate,
                has_head: false,
                positives,
            };
        };
        let curve = PrecisionCoverage::new(test.iter().map(|&i| {
            let c = head
                .confidence(&data.items[i].features)
                .expect("films' features are made with the head's spec");
            (c, truth(i))
        }));
        Figures {
            precision: curve.precision_at_coverage(coverage).unwrap_or(base_rate),
            average_precision: curve.average_precision().unwrap_or(base_rate),
            has_head: true,
            positives,
        }
    }
}

fn simulate(
    data: &MovieLensTags,
    genre: &str,
    seed: u64,
    config: &LearningConfig,
) -> Result<Run, EvalError> {
    let salt = format!("learning test set {seed}");
    let (test, mut pool): (Vec<usize>, Vec<usize>) = (0..data.items.len())
        .partition(|&i| unit_draw(&salt, &data.items[i].key) < config.test_fraction);
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ stable_hash(genre.as_bytes()));
    pool.shuffle(&mut rng);
    let order = pool;
    let truth = |i: usize| data.items[i].genres.iter().any(|g| g == genre);
    let base_rate = test.iter().filter(|&&i| truth(i)).count() as f64 / test.len().max(1) as f64;

    let mut active = Arm::new(data.items.len());
    let mut random = Arm::new(data.items.len());
    let mut rounds = Vec::with_capacity(config.rounds);
    for round in 0..config.rounds {
        if round == 0 {
            // The seed batch: the same random films in both arms.
            active.draw_random(&order, config.batch);
            random.draw_random(&order, config.batch);
        } else {
            active.draw_by_priority(data, &order, config.batch);
            random.draw_random(&order, config.batch);
        }
        active.retrain(data, genre, &config.train)?;
        random.retrain(data, genre, &config.train)?;
        rounds.push(RoundFigures {
            decisions: active.decided.len(),
            active: active.figures(data, &test, genre, config.fixed_coverage),
            random: random.figures(data, &test, genre, config.fixed_coverage),
        });
    }
    Ok(Run { base_rate, rounds })
}

impl fmt::Display for LearningReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cov = format!("{:.0}%", 100.0 * self.fixed_coverage);
        writeln!(
            f,
            "### Learning from review decisions: active-learning order vs random order"
        )?;
        writeln!(f)?;
        writeln!(
            f,
            "MovieLens 100K, {} genres × {} seeds; per seed {:.0}% of films are the test set, \
             reviewers decide {} films per genre per round from the rest (accepting true genres, \
             rejecting false ones); retrained and promoted by held-out log loss after each round. \
             Precision at {cov} coverage on the test set (base rate {} where there is no head yet), \
             mean over genres and seeds.",
            self.genres.len(),
            self.seeds.len(),
            100.0 * self.test_fraction,
            self.batch,
            percent(Some(self.base_rate)),
        )?;
        writeln!(f)?;
        writeln!(
            f,
            "| round | decisions per genre | precision @{cov} active | precision @{cov} random | AP active | AP random | with a head active / random | true films found active / random |"
        )?;
        writeln!(f, "|---:|---:|---:|---:|---:|---:|---:|---:|")?;
        for r in &self.rounds {
            writeln!(
                f,
                "| {} | {} | {} | {} | {:.3} | {:.3} | {} / {} | {:.1} / {:.1} |",
                r.round,
                r.decisions,
                percent(Some(r.active.precision_at_coverage)),
                percent(Some(r.random.precision_at_coverage)),
                r.active.average_precision,
                r.random.average_precision,
                percent(Some(r.active.with_head)),
                percent(Some(r.random.with_head)),
                r.active.positives_found,
                r.random.positives_found,
            )?;
        }
        writeln!(f)?;
        writeln!(f, "Last round by genre (mean over seeds):")?;
        writeln!(f)?;
        writeln!(
            f,
            "| genre | base rate | precision @{cov} active | precision @{cov} random | true films found active / random |"
        )?;
        writeln!(f, "|---|---:|---:|---:|---:|")?;
        for g in &self.last_round_by_genre {
            writeln!(
                f,
                "| {} | {} | {} | {} | {:.1} / {:.1} |",
                g.genre,
                percent(Some(g.base_rate)),
                percent(Some(g.active.precision_at_coverage)),
                percent(Some(g.random.precision_at_coverage)),
                g.active.positives_found,
                g.random.positives_found,
            )?;
        }
        Ok(())
    }
}
