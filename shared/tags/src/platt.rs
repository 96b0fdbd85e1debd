//! Platt scaling: a raw score `s` becomes the probability `σ(a·s + b)`, with `a` and `b` fitted
//! by maximum likelihood on scores the model gave to examples it was not trained on. The
//! targets are Platt's smoothed labels — `(N₊ + 1)/(N₊ + 2)` for positives, `1/(N₋ + 2)` for
//! negatives — so a handful of examples cannot produce certainties of exactly 0 or 1. The fit is
//! Newton's method with backtracking (Lin, Lin & Weng, "A note on Platt's probabilistic outputs
//! for support vector machines", 2007).

use serde::{Deserialize, Serialize};

use crate::logistic::{sigmoid, softplus};

/// `confidence = σ(a·score + b)`. Platt's paper writes `1/(1 + exp(A·f + B))`: `a = −A`, `b = −B`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Platt {
    pub a: f64,
    pub b: f64,
}

const MAX_STEPS: usize = 100;
/// Keeps the 2×2 Newton system invertible when every score is the same.
const RIDGE: f64 = 1e-12;

impl Platt {
    /// Raw scores read as log-odds, unchanged.
    pub const IDENTITY: Platt = Platt { a: 1.0, b: 0.0 };

    pub fn apply(&self, score: f64) -> f64 {
        sigmoid(self.a * score + self.b)
    }

    /// Fits `a` and `b` to held-out `scores` and their `labels`.
    ///
    /// `a` is kept at or above 0: on a few noisy examples the best fit can come out reversed
    /// (higher scores, lower confidence), and a head that contradicts its own model helps no one.
    /// Then `a = 0` and `b` is the smoothed base rate's log-odds: the head knows only the prior.
    pub fn fit(scores: &[f64], labels: &[bool]) -> Platt {
        debug_assert_eq!(scores.len(), labels.len());
        let positives = labels.iter().filter(|&&l| l).count() as f64;
        let negatives = labels.len() as f64 - positives;
        let high = (positives + 1.0) / (positives + 2.0);
        let low = 1.0 / (negatives + 2.0);
        let targets: Vec<f64> = labels.iter().map(|&l| if l { high } else { low }).collect();
        let prior = Platt {
            a: 0.0,
            b: ((positives + 1.0) / (negatives + 1.0)).ln(),
        };
        let loss = |p: Platt| -> f64 {
            scores
                .iter()
                .zip(&targets)
                .map(|(&s, &t)| {
                    let u = p.a * s + p.b;
                    softplus(u) - t * u
                })
                .sum()
        };
        let mut current = prior;
        let mut value = loss(current);
        for _ in 0..MAX_STEPS {
            let (mut ga, mut gb) = (0.0, 0.0);
            let (mut haa, mut hab, mut hbb) = (RIDGE, 0.0, RIDGE);
            for (&s, &t) in scores.iter().zip(&targets) {
                let p = current.apply(s);
                let d = p - t;
                ga += d * s;
                gb += d;
                let w = p * (1.0 - p);
                haa += w * s * s;
                hab += w * s;
                hbb += w;
            }
            if ga.abs() < 1e-7 && gb.abs() < 1e-7 {
                break;
            }
            let det = haa * hbb - hab * hab;
            if det <= 0.0 || !det.is_finite() {
                break;
            }
            let da = -(hbb * ga - hab * gb) / det;
            let db = -(haa * gb - hab * ga) / det;
            let slope = ga * da + gb * db;
            let mut length = 1.0;
            let mut moved = false;
            while length >= 1e-10 {
                let trial = Platt {
                    a: current.a + length * da,
                    b: current.b + length * db,
                };
                let trial_value = loss(trial);
                if trial_value <= value + 1e-4 * length * slope {
                    current = trial;
                    value = trial_value;
                    moved = true;
                    break;
                }
                length *= 0.5;
            }
            if !moved {
                break;
            }
        }
        if current.a >= 0.0 && current.a.is_finite() && current.b.is_finite() {
            current
        } else {
            prior
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn over_confident_scores_become_calibrated() {
        // The true log-odds are a third of the raw score and shifted: σ(score) is far too sure.
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let scores: Vec<f64> = (0..20_000).map(|_| rng.random_range(-12.0..12.0)).collect();
        let labels: Vec<bool> = scores
            .iter()
            .map(|&s| rng.random::<f64>() < sigmoid(s / 3.0 - 0.5))
            .collect();
        let platt = Platt::fit(&scores, &labels);
        assert!((platt.a - 1.0 / 3.0).abs() < 0.03, "{platt:?}");
        assert!((platt.b + 0.5).abs() < 0.1, "{platt:?}");
        // Reliability: in every confidence decile the share of positives matches the mean
        // confidence.
        let mut bins = [(0.0f64, 0.0f64, 0usize); 10];
        for (&s, &l) in scores.iter().zip(&labels) {
            let c = platt.apply(s);
            let bin = &mut bins[((c * 10.0) as usize).min(9)];
            bin.0 += c;
            bin.1 += f64::from(u8::from(l));
            bin.2 += 1;
        }
        for (confidence, positives, n) in bins {
            if n >= 200 {
                let (mean, rate) = (confidence / n as f64, positives / n as f64);
                assert!(
                    (mean - rate).abs() < 0.05,
                    "bin mean {mean}, observed {rate} (n {n})"
                );
            }
        }
        // The raw scores were not: above 0.9 their observed rate is far lower.
        let raw_sure: Vec<bool> = scores
            .iter()
            .zip(&labels)
            .filter(|(s, _)| sigmoid(**s) > 0.9)
            .map(|(_, l)| *l)
            .collect();
        let raw_rate = raw_sure.iter().filter(|&&l| l).count() as f64 / raw_sure.len() as f64;
        assert!(raw_rate < 0.85, "raw rate above 0.9: {raw_rate}");
    }

    #[test]
    fn few_examples_never_give_certainty() {
        let platt = Platt::fit(&[-3.0, -2.0, 2.0, 3.0], &[false, false, true, true]);
        let (low, high) = (platt.apply(-3.0), platt.apply(3.0));
        assert!(low > 0.1 && high < 0.9, "{low} {high}");
        assert!(high > 0.5 && low < 0.5);
    }

    #[test]
    fn a_reversed_fit_falls_back_to_the_prior() {
        let platt = Platt::fit(
            &[-2.0, -1.0, 1.0, 2.0, 3.0],
            &[true, true, false, false, false],
        );
        assert_eq!(platt.a, 0.0);
        assert!(
            (platt.apply(5.0) - 3.0 / 7.0).abs() < 1e-9,
            "the smoothed prior: odds (2 + 1) : (3 + 1)"
        );
    }

    #[test]
    fn identical_scores_give_the_base_rate() {
        let platt = Platt::fit(&[0.0; 4], &[true, false, false, false]);
        assert!(platt.a.is_finite() && platt.b.is_finite());
        let c = platt.apply(0.0);
        assert!((c - 0.25).abs() < 0.1, "{c}");
    }
}
