//! Implicit-feedback matrix factorisation: alternating least squares with confidence weights
//! (Hu, Koren & Volinsky, "Collaborative Filtering for Implicit Feedback Datasets", 2008), each
//! row solved by a few conjugate-gradient steps warm-started from the previous iteration
//! (Takács, Pilászy & Tikk 2011, as the `implicit` library does).
//!
//! For a stored strength `r` the confidence is `c = 1 + α·|r|` and the preference is 1 when
//! `r > 0`, 0 when `r < 0` (an explicit dislike); unobserved cells have `c = 1`, `p = 0`.
//! Rows are solved in parallel on the current rayon pool; each row's solve reads only the other
//! side's factors, so the result does not depend on the number of threads.

use ndarray::ArrayView2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::matrix::Csr;
use crate::quantized::QuantizedRows;
use crate::topk::{Scored, top_k, top_k_of};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlsConfig {
    pub factors: usize,
    /// λ, added to the diagonal of every row's normal equations.
    pub regularization: f32,
    /// α in `c = 1 + α·r`.
    pub alpha: f32,
    pub iterations: usize,
    /// Conjugate-gradient steps per row and iteration (3 is `implicit`'s default).
    pub cg_steps: usize,
    pub seed: u64,
}

impl Default for AlsConfig {
    fn default() -> Self {
        AlsConfig {
            factors: 64,
            regularization: 0.05,
            alpha: 2.0,
            iterations: 15,
            cg_steps: 3,
            seed: 42,
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum AlsError {
    #[error("factors must be at least 1")]
    NoFactors,
    #[error("regularization, alpha and every value must be finite, regularization and alpha ≥ 0")]
    NotFinite,
}

/// A dense row-major matrix of factor vectors, one row per user or item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FactorMatrix {
    rows: usize,
    dim: usize,
    data: Vec<f32>,
}

impl FactorMatrix {
    fn random(rows: usize, dim: usize, rng: &mut ChaCha8Rng) -> Self {
        // Small positive values, as `implicit` starts: large ones slow the first iterations.
        let data = (0..rows * dim)
            .map(|_| rng.random::<f32>() * 0.01)
            .collect();
        FactorMatrix { rows, dim, data }
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn dim(&self) -> usize {
        self.dim
    }

    pub fn row(&self, r: usize) -> &[f32] {
        &self.data[r * self.dim..(r + 1) * self.dim]
    }

    /// `YᵀY + λI`, row-major `dim × dim`.
    fn gram(&self, regularization: f32) -> Vec<f32> {
        let y = ArrayView2::from_shape((self.rows, self.dim), &self.data)
            .expect("rows × dim is the data's length");
        let mut g = y.t().dot(&y);
        for d in 0..self.dim {
            g[[d, d]] += regularization;
        }
        g.iter().copied().collect()
    }
}

/// A trained model: user and item factors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlsModel {
    pub config: AlsConfig,
    pub users: FactorMatrix,
    pub items: FactorMatrix,
    /// Each item vector's length, for cosine similarity.
    item_norms: Vec<f32>,
    /// 8-bit codes of the item factors (raw, and divided by their norms) for serving scans;
    /// derived, so rebuilt after decoding rather than stored.
    #[serde(skip)]
    serving: Option<ServingCodes>,
}

#[derive(Debug, Clone, PartialEq)]
struct ServingCodes {
    items: QuantizedRows,
    unit_items: QuantizedRows,
    /// `YᵀY + λI` of the item factors, for folding in new histories without recomputing it.
    gram: Vec<f32>,
}

/// Candidates scored approximately per requested item before the exact re-ranking.
const RERANK_FACTOR: usize = 8;
const RERANK_MIN: usize = 200;

/// Trains on a users × items matrix of strengths (play counts, ratings, event weights).
pub fn fit(strengths: &Csr, config: &AlsConfig) -> Result<AlsModel, AlsError> {
    if config.factors == 0 {
        return Err(AlsError::NoFactors);
    }
    if !config.regularization.is_finite()
        || config.regularization < 0.0
        || !config.alpha.is_finite()
        || config.alpha < 0.0
        || strengths.triplets().any(|(_, _, v)| !v.is_finite())
    {
        return Err(AlsError::NotFinite);
    }
    // The sign carries the preference, the magnitude the confidence (as `implicit` stores it).
    let cui = strengths.map_values(|r| {
        let c = 1.0 + config.alpha * r.abs();
        if r > 0.0 { c } else { -c }
    });
    let ciu = cui.transpose();
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    let mut users = FactorMatrix::random(cui.rows(), config.factors, &mut rng);
    let mut items = FactorMatrix::random(cui.cols(), config.factors, &mut rng);
    for _ in 0..config.iterations {
        solve_rows(&cui, &mut users, &items, config);
        solve_rows(&ciu, &mut items, &users, config);
    }
    let item_norms = (0..items.rows())
        .map(|i| dot(items.row(i), items.row(i)).sqrt())
        .collect();
    let mut model = AlsModel {
        config: config.clone(),
        users,
        items,
        item_norms,
        serving: None,
    };
    model.prepare_serving();
    Ok(model)
}

/// One half-iteration: every row of `x` re-solved against the fixed `y`.
fn solve_rows(c: &Csr, x: &mut FactorMatrix, y: &FactorMatrix, config: &AlsConfig) {
    let dim = x.dim;
    let yty = y.gram(config.regularization);
    x.data.par_chunks_mut(dim).enumerate().for_each_init(
        || Scratch::new(dim),
        |scratch, (row, xu)| {
            let (cols, confidences) = c.row(row);
            conjugate_gradient(xu, cols, confidences, y, &yty, config.cg_steps, scratch);
        },
    );
}

struct Scratch {
    r: Vec<f32>,
    p: Vec<f32>,
    ap: Vec<f32>,
}

impl Scratch {
    fn new(dim: usize) -> Self {
        Scratch {
            r: vec![0.0; dim],
            p: vec![0.0; dim],
            ap: vec![0.0; dim],
        }
    }
}

/// Improves `x` towards the solution of `(YᵀCY + λI) x = YᵀCp` without forming `YᵀCY`:
/// `YᵀCY = YᵀY + Yᵀ(C − I)Y`, and `C − I` is zero outside the row's stored cells.
fn conjugate_gradient(
    x: &mut [f32],
    cols: &[u32],
    confidences: &[f32],
    y: &FactorMatrix,
    yty: &[f32],
    steps: usize,
    s: &mut Scratch,
) {
    let dim = x.len();
    // r = YᵀCp − (YᵀCY + λI)x
    mat_vec(yty, x, &mut s.r);
    s.r.iter_mut().for_each(|v| *v = -*v);
    for (&i, &signed) in cols.iter().zip(confidences) {
        let yi = y.row(i as usize);
        let c = signed.abs();
        let preference = if signed > 0.0 { c } else { 0.0 };
        axpy(preference - (c - 1.0) * dot(yi, x), yi, &mut s.r);
    }
    s.p.copy_from_slice(&s.r);
    let mut rs_old = dot(&s.r, &s.r);
    if rs_old < 1e-20 {
        return;
    }
    for _ in 0..steps {
        // Ap = (YᵀY + λI)p + Yᵀ(C − I)Yp
        mat_vec(yty, &s.p, &mut s.ap);
        for (&i, &signed) in cols.iter().zip(confidences) {
            let yi = y.row(i as usize);
            axpy((signed.abs() - 1.0) * dot(yi, &s.p), yi, &mut s.ap);
        }
        let step = rs_old / dot(&s.p, &s.ap);
        if !step.is_finite() {
            return;
        }
        axpy(step, &s.p, x);
        axpy(-step, &s.ap, &mut s.r);
        let rs_new = dot(&s.r, &s.r);
        if rs_new < 1e-20 {
            return;
        }
        let beta = rs_new / rs_old;
        for d in 0..dim {
            s.p[d] = s.r[d] + beta * s.p[d];
        }
        rs_old = rs_new;
    }
}

impl AlsModel {
    /// The predicted preference of `user` for every item.
    pub fn user_scores(&self, user: usize) -> Vec<f32> {
        self.scores_for(self.users.row(user))
    }

    /// The predicted preference of a factor vector for every item.
    pub fn scores_for(&self, vector: &[f32]) -> Vec<f32> {
        (0..self.items.rows())
            .map(|i| dot(self.items.row(i), vector))
            .collect()
    }

    /// The `k` best items for a trained user, leaving out those `skip` names (e.g. seen ones).
    /// Exact: every item scored with the `f32` factors (what evaluation uses).
    pub fn recommend(&self, user: usize, k: usize, skip: impl Fn(u32) -> bool) -> Vec<Scored> {
        top_k(&self.user_scores(user), k, skip)
    }

    /// Builds the 8-bit codes the serving scans read (after training or decoding).
    pub fn prepare_serving(&mut self) {
        let dim = self.items.dim;
        let unit: Vec<f32> = self
            .items
            .data
            .chunks_exact(dim)
            .zip(&self.item_norms)
            .flat_map(|(row, &n)| row.iter().map(move |v| if n > 0.0 { v / n } else { 0.0 }))
            .collect();
        self.serving = Some(ServingCodes {
            items: QuantizedRows::new(&self.items.data, dim),
            unit_items: QuantizedRows::new(&unit, dim),
            gram: self.items.gram(self.config.regularization),
        });
    }

    /// [`Self::recommend`] for serving: the catalogue scanned with 8-bit codes, the best
    /// `max(8k, 200)` re-ranked exactly. Falls back to the exact scan before `prepare_serving`.
    pub fn recommend_fast(&self, user: usize, k: usize, skip: impl Fn(u32) -> bool) -> Vec<Scored> {
        self.recommend_fast_for(self.users.row(user), k, skip)
    }

    /// [`Self::recommend_fast`] for any user vector (e.g. one folded in from a new history).
    pub fn recommend_fast_for(
        &self,
        query: &[f32],
        k: usize,
        skip: impl Fn(u32) -> bool,
    ) -> Vec<Scored> {
        let Some(codes) = &self.serving else {
            return top_k(&self.scores_for(query), k, skip);
        };
        let approximate = codes
            .items
            .scores_iter(query)
            .enumerate()
            .map(|(i, score)| Scored {
                index: i as u32,
                score,
            });
        let pool = top_k_of(approximate, (k * RERANK_FACTOR).max(RERANK_MIN), &skip);
        let exact = pool.into_iter().map(|s| Scored {
            index: s.index,
            score: dot(self.items.row(s.index as usize), query),
        });
        top_k_of(exact, k, |_| false)
    }

    /// A user vector for a history the model was not trained on (a new or changed user):
    /// one least-squares solve against the fixed item factors.
    pub fn fold_in(&self, history: &[(u32, f32)]) -> Vec<f32> {
        let mut sorted: Vec<(u32, f32)> = history.to_vec();
        sorted.sort_unstable_by_key(|&(i, _)| i);
        let row = Csr::from_triplets(1, self.items.rows(), sorted.iter().map(|&(i, r)| (0, i, r)))
            .map_values(|r| {
                let c = 1.0 + self.config.alpha * r.abs();
                if r > 0.0 { c } else { -c }
            });
        let mut x = vec![0.0; self.items.dim()];
        let computed;
        let yty = match &self.serving {
            Some(codes) => &codes.gram,
            None => {
                computed = self.items.gram(self.config.regularization);
                &computed
            }
        };
        let (cols, confidences) = row.row(0);
        // Enough steps to converge from zero (CG solves a `dim`-sized system in ≤ dim steps).
        let steps = self.items.dim().min(32);
        conjugate_gradient(
            &mut x,
            cols,
            confidences,
            &self.items,
            yty,
            steps,
            &mut Scratch::new(self.items.dim()),
        );
        x
    }

    /// Cosine similarity of two items' factors (0 when either has none).
    pub fn item_similarity(&self, a: u32, b: u32) -> f32 {
        let norms = self.item_norms[a as usize] * self.item_norms[b as usize];
        if norms == 0.0 {
            return 0.0;
        }
        dot(self.items.row(a as usize), self.items.row(b as usize)) / norms
    }

    /// The `k` items whose factors point the most the same way as `item`'s, itself excluded.
    pub fn similar_items(&self, item: u32, k: usize) -> Vec<Scored> {
        let norm = self.item_norms[item as usize];
        if norm == 0.0 {
            return Vec::new();
        }
        let exact = |i: u32| self.item_similarity(item, i);
        let Some(codes) = &self.serving else {
            let scores: Vec<f32> = (0..self.items.rows() as u32).map(exact).collect();
            return top_k(&scores, k, |i| {
                i == item || self.item_norms[i as usize] == 0.0
            });
        };
        let query: Vec<f32> = self
            .items
            .row(item as usize)
            .iter()
            .map(|v| v / norm)
            .collect();
        let pool = top_k(
            &codes.unit_items.scores(&query),
            (k * RERANK_FACTOR).max(RERANK_MIN),
            |i| i == item || self.item_norms[i as usize] == 0.0,
        );
        top_k_of(
            pool.into_iter().map(|s| Scored {
                index: s.index,
                score: exact(s.index),
            }),
            k,
            |_| false,
        )
    }
}

/// A dot product written so the compiler vectorises it (eight independent accumulators).
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    let split = a.len() / 8 * 8;
    let mut acc = [0f32; 8];
    for (xa, xb) in a[..split].chunks_exact(8).zip(b[..split].chunks_exact(8)) {
        for j in 0..8 {
            acc[j] += xa[j] * xb[j];
        }
    }
    let tail: f32 = a[split..].iter().zip(&b[split..]).map(|(x, y)| x * y).sum();
    acc.iter().sum::<f32>() + tail
}

fn axpy(alpha: f32, x: &[f32], y: &mut [f32]) {
    for (yi, xi) in y.iter_mut().zip(x) {
        *yi += alpha * xi;
    }
}

/// `out = m · v` for a symmetric row-major `m` (a Gram matrix): the sum of `v[j]` times row
/// `j`, which vectorises without a horizontal sum per element.
fn mat_vec(m: &[f32], v: &[f32], out: &mut [f32]) {
    out.fill(0.0);
    for (row, &vj) in m.chunks_exact(v.len()).zip(v) {
        axpy(vj, row, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two groups of users who each play about 70% of their own group's items and nothing else.
    fn two_communities() -> Csr {
        let mut t = Vec::new();
        for u in 0..20u32 {
            let group = u % 2;
            for i in 0..10u32 {
                if (u * 3 + i * 7) % 10 < 7 {
                    t.push((u, group * 10 + i, 3.0));
                }
            }
        }
        Csr::from_triplets(20, 20, t)
    }

    fn config() -> AlsConfig {
        AlsConfig {
            factors: 8,
            regularization: 0.1,
            alpha: 1.0,
            iterations: 10,
            cg_steps: 3,
            seed: 7,
        }
    }

    #[test]
    fn an_unplayed_item_of_the_users_own_community_ranks_first() {
        let m = two_communities();
        let model = fit(&m, &config()).unwrap();
        for user in 0..20usize {
            let recs = model.recommend(user, 1, |i| m.contains(user, i));
            let community = (user as u32 % 2) * 10;
            assert!(
                (community..community + 10).contains(&recs[0].index),
                "user {user}: {recs:?}"
            );
        }
    }

    #[test]
    fn similar_items_stay_within_their_community() {
        let model = fit(&two_communities(), &config()).unwrap();
        let similar = model.similar_items(3, 5);
        assert_eq!(similar.len(), 5);
        assert!(
            similar.iter().all(|s| s.index < 10 && s.index != 3),
            "{similar:?}"
        );
        assert!(model.item_similarity(3, 4) > model.item_similarity(3, 14));
    }

    #[test]
    fn the_same_seed_gives_the_same_model_on_any_number_of_threads() {
        let m = two_communities();
        let one = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap()
            .install(|| fit(&m, &config()).unwrap());
        let two = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap()
            .install(|| fit(&m, &config()).unwrap());
        assert_eq!(one, two);
        let other_seed = fit(
            &m,
            &AlsConfig {
                seed: 8,
                ..config()
            },
        )
        .unwrap();
        assert_ne!(one.users, other_seed.users);
    }

    #[test]
    fn folding_in_a_history_recovers_a_trained_users_taste() {
        let m = two_communities();
        let model = fit(&m, &config()).unwrap();
        let (cols, vals) = m.row(4);
        let history: Vec<(u32, f32)> = cols.iter().copied().zip(vals.iter().copied()).collect();
        let x = model.fold_in(&history);
        let top = top_k(&model.scores_for(&x), 1, |i| m.contains(4, i));
        assert!(top.iter().all(|s| s.index < 10), "{top:?}");
    }

    #[test]
    fn more_iterations_lower_the_weighted_loss() {
        let m = two_communities();
        let loss = |iterations| {
            let model = fit(
                &m,
                &AlsConfig {
                    iterations,
                    ..config()
                },
            )
            .unwrap();
            weighted_loss(&m, &model)
        };
        let (l1, l5) = (loss(1), loss(5));
        assert!(l5 < l1, "loss after 5 iterations {l5} ≥ after 1 {l1}");
    }

    /// Σ c(p − xᵀy)² + λ(Σ‖x‖² + Σ‖y‖²) over every cell: the objective ALS minimises.
    fn weighted_loss(m: &Csr, model: &AlsModel) -> f32 {
        let cfg = &model.config;
        let mut loss = 0.0;
        for u in 0..m.rows() {
            for i in 0..m.cols() as u32 {
                let pred = dot(model.users.row(u), model.items.row(i as usize));
                let (c, p) = match m.row(u).0.binary_search(&i) {
                    Ok(at) => (1.0 + cfg.alpha * m.row(u).1[at], 1.0),
                    Err(_) => (1.0, 0.0),
                };
                loss += c * (p - pred) * (p - pred);
            }
        }
        let norms: f32 = model
            .users
            .data
            .iter()
            .chain(&model.items.data)
            .map(|v| v * v)
            .sum();
        loss + cfg.regularization * norms
    }

    #[test]
    fn the_serving_scan_finds_the_same_top_items_as_the_exact_one() {
        // 300 users over 3,000 items: the code scan's pool of 200 is a small part of it.
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let triplets: Vec<(u32, u32, f32)> = (0..300u32)
            .flat_map(|u| {
                let base = (u % 10) * 300;
                (0..30)
                    .map(|_| (u, base + rng.random_range(0..300u32), 1.0))
                    .collect::<Vec<_>>()
            })
            .collect();
        let m = Csr::from_triplets(300, 3000, triplets);
        let model = fit(
            &m,
            &AlsConfig {
                factors: 16,
                ..config()
            },
        )
        .unwrap();
        let (mut same, mut total) = (0, 0);
        for u in 0..300 {
            let exact = model.recommend(u, 10, |i| m.contains(u, i));
            let fast = model.recommend_fast(u, 10, |i| m.contains(u, i));
            assert!(fast.iter().all(|s| !m.contains(u, s.index)));
            same += fast
                .iter()
                .filter(|f| exact.iter().any(|e| e.index == f.index))
                .count();
            total += exact.len();
        }
        assert!(same as f64 >= 0.99 * total as f64, "{same} of {total}");
        let exact: Vec<u32> = {
            let mut plain = model.clone();
            plain.serving = None;
            plain.similar_items(5, 10).iter().map(|s| s.index).collect()
        };
        let fast: Vec<u32> = model.similar_items(5, 10).iter().map(|s| s.index).collect();
        assert_eq!(fast, exact);
    }

    #[test]
    fn bad_configurations_are_refused() {
        let m = two_communities();
        let zero = AlsConfig {
            factors: 0,
            ..config()
        };
        assert_eq!(fit(&m, &zero).unwrap_err(), AlsError::NoFactors);
        let negative_alpha = AlsConfig {
            alpha: -1.0,
            ..config()
        };
        assert_eq!(fit(&m, &negative_alpha).unwrap_err(), AlsError::NotFinite);
        let nan = Csr::from_triplets(1, 1, [(0, 0, f32::NAN)]);
        assert_eq!(fit(&nan, &config()).unwrap_err(), AlsError::NotFinite);
    }

    #[test]
    fn a_user_without_history_gets_a_zero_vector_not_nan() {
        let m = Csr::from_triplets(3, 4, [(0, 1, 2.0), (1, 2, 1.0)]);
        let model = fit(&m, &config()).unwrap();
        assert!(model.users.row(2).iter().all(|v| v.is_finite()));
        assert!(model.fold_in(&[]).iter().all(|&v| v == 0.0));
    }
}
