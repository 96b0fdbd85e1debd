//! The offline evaluation protocol shared by `reco-eval` and the tests: the two benchmark
//! datasets prepared the same way every time, and every model's top-10 lists scored by one
//! metric implementation.
//!
//! - Last.fm HetRec: a seeded per-user 80/20 holdout of the play counts; the strength is the
//!   log of the play count; every held-out artist is relevant.
//! - MovieLens 100K: `u1.base` / `u1.test`; ratings ≥ 4 are the positives (strength 1) and the
//!   relevant test items.

use std::collections::HashSet;
use std::path::Path;

use crate::als::{AlsConfig, AlsModel};
use crate::datasets::{Dataset, DatasetError, Interaction};
use crate::matrix::Csr;
use crate::metrics::{RankingMetrics, evaluate};
use crate::popularity::Popularity;
use crate::split::{per_user_holdout, relevant_sets};

/// The cut-off every metric is taken at.
pub const K: usize = 10;

#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error(transparent)]
    Dataset(#[from] DatasetError),
    #[error("unknown dataset {0:?} (lastfm, movielens)")]
    UnknownDataset(String),
}

/// A dataset prepared for evaluation: training strengths, held-out relevant items, and the
/// hyperparameters both libraries are run with.
pub struct Benchmark {
    pub name: &'static str,
    pub train: Csr,
    pub relevant: Vec<HashSet<u32>>,
    pub config: AlsConfig,
}

impl Benchmark {
    /// `lastfm` or `movielens` from the datasets folder; `seed` picks the Last.fm split and
    /// the factor initialisation.
    pub fn load(name: &str, root: &Path, seed: u64) -> Result<Benchmark, EvalError> {
        match name {
            "lastfm" => {
                let d = Dataset::lastfm(&root.join("lastfm-hetrec-2k"))?;
                let (train, test) = per_user_holdout(&d.interactions, d.users.len(), 0.2, seed);
                // Play counts span six orders of magnitude: their logarithm is the strength.
                let train = matrix(&d, &train, |plays| plays.ln_1p());
                Ok(Benchmark {
                    name: "lastfm",
                    relevant: relevant_sets(&test, d.users.len(), f32::MIN),
                    train,
                    config: AlsConfig {
                        factors: 64,
                        regularization: 0.05,
                        alpha: 2.0,
                        iterations: 15,
                        cg_steps: 3,
                        seed,
                    },
                })
            }
            "movielens" => {
                let (d, test) = Dataset::movielens_split(&root.join("ml-100k"), "u1")?;
                let positives: Vec<Interaction> = d
                    .interactions
                    .iter()
                    .filter(|i| i.value >= 4.0)
                    .copied()
                    .collect();
                let train = matrix(&d, &positives, |_| 1.0);
                Ok(Benchmark {
                    name: "movielens",
                    relevant: relevant_sets(&test, d.users.len(), 4.0),
                    train,
                    config: AlsConfig {
                        factors: 64,
                        regularization: 0.05,
                        alpha: 5.0,
                        iterations: 15,
                        cg_steps: 3,
                        seed,
                    },
                })
            }
            other => Err(EvalError::UnknownDataset(other.to_owned())),
        }
    }

    /// The users with held-out items, the first `sample` of them when given.
    pub fn eval_users(&self, sample: Option<usize>) -> Vec<usize> {
        let mut users: Vec<usize> = (0..self.train.rows())
            .filter(|&u| !self.relevant[u].is_empty())
            .collect();
        if let Some(n) = sample {
            users.truncate(n);
        }
        users
    }

    /// Scores one top-K list per user of `users` (training items must already be left out).
    pub fn score(&self, users: &[usize], lists: &[Vec<u32>]) -> RankingMetrics {
        let relevant: Vec<HashSet<u32>> = users.iter().map(|&u| self.relevant[u].clone()).collect();
        evaluate(lists, &relevant, K, self.train.cols())
    }

    pub fn popularity_lists(&self, users: &[usize]) -> Vec<Vec<u32>> {
        let popularity = Popularity::fit(&self.train);
        users
            .iter()
            .map(|&u| indices(&popularity.recommend(K, |i| self.train.contains(u, i))))
            .collect()
    }

    /// The model's exact top-K per user, training items left out.
    pub fn als_lists(&self, model: &AlsModel, users: &[usize]) -> Vec<Vec<u32>> {
        users
            .iter()
            .map(|&u| indices(&model.recommend(u, K, |i| self.train.contains(u, i))))
            .collect()
    }
}

fn indices(scored: &[crate::topk::Scored]) -> Vec<u32> {
    scored.iter().map(|s| s.index).collect()
}

fn matrix(d: &Dataset, rows: &[Interaction], strength: impl Fn(f32) -> f32) -> Csr {
    Csr::from_triplets(
        d.users.len(),
        d.items.len(),
        rows.iter().map(|i| (i.user, i.item, strength(i.value))),
    )
}
