//! Training a tag's head from people's decisions, its held-out evaluation, and the rule that
//! decides whether a new head replaces the current one.
//!
//! - **Split.** Each decided media is held out or not by a stable hash of its key
//!   ([`is_held_out`]): the same media stays held out across retrains, so every version of a
//!   tag's head is scored on media none of them learnt from, and a candidate and the current
//!   head can be compared on the very same examples.
//! - **Fit.** Logistic regression on the training part; Platt scaling fitted on out-of-fold
//!   scores from a stratified k-fold over the training part, then applied to the head refitted
//!   on the whole training part (as scikit-learn's `CalibratedClassifierCV(ensemble=False)`).
//! - **Promotion.** [`beats`]: lower held-out log loss on the same fold (see [`compare`]).

use mvidarr_core::tag::TagName;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::curve::{CurvePoint, PrecisionCoverage};
use crate::features::{FeatureSpec, SpecError};
use crate::hash::unit_draw;
use crate::head::{FeatureLengthMismatch, TagHead};
use crate::logistic::{Design, fit};
use crate::platt::Platt;

/// One decided media for one tag.
#[derive(Debug, Clone, PartialEq)]
pub struct Example {
    /// The media's id: it decides the held-out split, so pass the same key on every retrain.
    /// One example per media (a changed mind is the latest decision, not two examples).
    pub key: String,
    /// Made with the spec the head is trained with.
    pub features: Vec<f32>,
    /// Accepted (true) or rejected.
    pub label: bool,
    /// How often the media is played (the review queue's impact; not used for fitting).
    pub plays: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// λ of the L2 penalty on the weights (scikit-learn's `1/C`).
    pub l2: f64,
    /// The share of media held out from fitting to evaluate and compare heads.
    pub held_out_fraction: f64,
    /// Accepted decisions needed before a head is trained.
    pub min_positives: usize,
    /// Rejected decisions needed before a head is trained.
    pub min_negatives: usize,
    /// Folds over the training part whose out-of-fold scores Platt scaling is fitted on.
    pub calibration_folds: usize,
    /// Confidences at which the held-out precision and coverage are reported.
    pub thresholds: Vec<f64>,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            l2: 1.0,
            held_out_fraction: 0.25,
            min_positives: 8,
            min_negatives: 8,
            calibration_folds: 5,
            thresholds: vec![0.4, 0.5, 0.7, 0.9],
        }
    }
}

/// Fewest examples of each label the training part must keep for the fit and its calibration.
pub const MIN_TRAINING_PER_LABEL: usize = 2;

/// Held-out log losses closer than this (nats per example) are a tie.
pub const LOG_LOSS_TIE: f64 = 1e-4;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TrainError {
    #[error("{}", too_few(tag, *positives, *negatives, *needed_positives, *needed_negatives))]
    TooFewDecisions {
        tag: TagName,
        positives: usize,
        negatives: usize,
        needed_positives: usize,
        needed_negatives: usize,
    },
    #[error(
        "tag {tag}: after holding out {held_out} decided media to evaluate the model, \
         {positives} accepted and {negatives} rejected decisions are left to learn from; \
         at least {MIN_TRAINING_PER_LABEL} of each are needed (a few more decisions will do)"
    )]
    TooFewToLearn {
        tag: TagName,
        positives: usize,
        negatives: usize,
        held_out: usize,
    },
    #[error("the features of {key} have {got} values; the feature spec makes {expected}")]
    FeatureLength {
        key: String,
        got: usize,
        expected: usize,
    },
    #[error("the features of {key} hold a value that is not a finite number")]
    NotFinite { key: String },
    #[error(transparent)]
    Spec(#[from] SpecError),
    #[error("invalid training configuration: {0}")]
    Config(String),
}

fn too_few(tag: &TagName, pos: usize, neg: usize, need_pos: usize, need_neg: usize) -> String {
    let needed = if need_pos == need_neg {
        format!("at least {need_pos} of each are needed")
    } else {
        format!("at least {need_pos} accepted and {need_neg} rejected are needed")
    };
    format!("tag {tag} has {pos} accepted and {neg} rejected decisions; {needed}")
}

impl TrainConfig {
    fn check(&self) -> Result<(), TrainError> {
        let bad = |why: &str| Err(TrainError::Config(why.to_owned()));
        if !(self.l2.is_finite() && self.l2 > 0.0) {
            return bad("l2 must be a positive number");
        }
        if !(0.0..=0.9).contains(&self.held_out_fraction) {
            return bad("held_out_fraction must be between 0 and 0.9");
        }
        if self.calibration_folds < 2 {
            return bad("calibration_folds must be at least 2");
        }
        if self.thresholds.iter().any(|t| !(0.0..=1.0).contains(t)) {
            return bad("thresholds must be between 0 and 1");
        }
        Ok(())
    }
}

/// Whether the media with this key is held out from fitting (stable across runs and retrains;
/// a larger fraction holds out a superset).
pub fn is_held_out(key: &str, fraction: f64) -> bool {
    unit_draw("held-out", key) < fraction
}

/// The examples as (training part, held-out part), by [`is_held_out`].
pub fn split(examples: &[Example], fraction: f64) -> (Vec<&Example>, Vec<&Example>) {
    examples
        .iter()
        .partition(|e| !is_held_out(&e.key, fraction))
}

/// A trained head and how it did.
#[derive(Debug, Clone, PartialEq)]
pub struct Trained {
    pub head: TagHead,
    pub metrics: HeadMetrics,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeadMetrics {
    pub train_positives: usize,
    pub train_negatives: usize,
    pub calibration_folds: usize,
    /// Whether the final fit reached its tolerance (it nearly always does; recorded to see it).
    pub converged: bool,
    pub held_out: HeldOutMetrics,
}

/// A head's figures on held-out examples.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeldOutMetrics {
    pub examples: usize,
    pub positives: usize,
    pub negatives: usize,
    /// SHA-256 of the held-out keys and labels: two heads' figures compare only when equal.
    pub fold: String,
    /// Mean negative log-likelihood of the calibrated confidences (lower is better).
    pub log_loss: Option<f64>,
    /// Mean squared error of the confidences.
    pub brier: Option<f64>,
    pub average_precision: Option<f64>,
    pub roc_auc: Option<f64>,
    /// Precision and coverage at each configured threshold.
    pub at_thresholds: Vec<CurvePoint>,
}

/// Trains `tag`'s head from decided examples.
pub fn train(
    tag: &TagName,
    examples: &[Example],
    spec: &FeatureSpec,
    config: &TrainConfig,
) -> Result<Trained, TrainError> {
    config.check()?;
    spec.check()?;
    let dim = spec.len();
    for e in examples {
        if e.features.len() != dim {
            return Err(TrainError::FeatureLength {
                key: e.key.clone(),
                got: e.features.len(),
                expected: dim,
            });
        }
        if e.features.iter().any(|v| !v.is_finite()) {
            return Err(TrainError::NotFinite { key: e.key.clone() });
        }
    }
    let positives = examples.iter().filter(|e| e.label).count();
    let negatives = examples.len() - positives;
    if positives < config.min_positives || negatives < config.min_negatives {
        return Err(TrainError::TooFewDecisions {
            tag: tag.clone(),
            positives,
            negatives,
            needed_positives: config.min_positives,
            needed_negatives: config.min_negatives,
        });
    }
    let (training, held_out) = split(examples, config.held_out_fraction);
    let train_positives = training.iter().filter(|e| e.label).count();
    let train_negatives = training.len() - train_positives;
    if train_positives < MIN_TRAINING_PER_LABEL || train_negatives < MIN_TRAINING_PER_LABEL {
        return Err(TrainError::TooFewToLearn {
            tag: tag.clone(),
            positives: train_positives,
            negatives: train_negatives,
            held_out: held_out.len(),
        });
    }

    let design = Design::from_dense(dim, training.iter().map(|e| e.features.as_slice()));
    let labels: Vec<bool> = training.iter().map(|e| e.label).collect();
    let folds = calibration_folds(&training, config.calibration_folds);

    // The fold fits and the final fit are independent: run them side by side. Each is
    // sequential inside, so the result does not depend on the thread count.
    let jobs: Vec<Option<usize>> = (0..config.calibration_folds)
        .map(Some)
        .chain([None])
        .collect();
    let fits: Vec<_> = jobs
        .par_iter()
        .map(|job| match job {
            Some(fold) => {
                let (inside, outside): (Vec<usize>, Vec<usize>) =
                    (0..training.len()).partition(|&i| folds[i] != *fold);
                let fitted = fit(
                    &design.select(&inside),
                    &select(&labels, &inside),
                    config.l2,
                );
                let mut theta = fitted.weights;
                theta.push(fitted.bias);
                let scores: Vec<(usize, f64)> = outside
                    .iter()
                    .map(|&i| (i, design.margin(i, &theta)))
                    .collect();
                (scores, None)
            }
            None => (Vec::new(), Some(fit(&design, &labels, config.l2))),
        })
        .collect();
    let mut out_of_fold = vec![0.0; training.len()];
    let mut final_fit = None;
    for (scores, whole) in fits {
        for (i, s) in scores {
            out_of_fold[i] = s;
        }
        if whole.is_some() {
            final_fit = whole;
        }
    }
    let final_fit = final_fit.expect("the final fit is one of the jobs");
    let platt = Platt::fit(&out_of_fold, &labels);
    let head = TagHead {
        tag: tag.clone(),
        spec: spec.clone(),
        weights: final_fit.weights,
        bias: final_fit.bias,
        platt,
    };
    let held_out = evaluate(&head, held_out, &config.thresholds)
        .expect("every example's length was checked against the spec");
    Ok(Trained {
        head,
        metrics: HeadMetrics {
            train_positives,
            train_negatives,
            calibration_folds: config.calibration_folds,
            converged: final_fit.converged,
            held_out,
        },
    })
}

fn select(labels: &[bool], rows: &[usize]) -> Vec<bool> {
    rows.iter().map(|&i| labels[i]).collect()
}

/// A calibration fold per training example, stratified: each label's examples, in stable-hash
/// order, are dealt round-robin, so every fold gets its share of the rarer label.
fn calibration_folds(training: &[&Example], folds: usize) -> Vec<usize> {
    let mut assignment = vec![0; training.len()];
    for label in [true, false] {
        let mut members: Vec<(f64, &str, usize)> = training
            .iter()
            .enumerate()
            .filter(|(_, e)| e.label == label)
            .map(|(i, e)| (unit_draw("calibration", &e.key), e.key.as_str(), i))
            .collect();
        members.sort_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.cmp(b.1)));
        for (rank, (_, _, i)) in members.into_iter().enumerate() {
            assignment[i] = rank % folds;
        }
    }
    assignment
}

/// A head's figures on held-out examples (made with the head's spec).
pub fn evaluate<'a>(
    head: &TagHead,
    held_out: impl IntoIterator<Item = &'a Example>,
    thresholds: &[f64],
) -> Result<HeldOutMetrics, FeatureLengthMismatch> {
    let mut rows = Vec::new();
    for e in held_out {
        rows.push((e.key.as_str(), e.label, head.confidence(&e.features)?));
    }
    Ok(held_out_metrics(&rows, thresholds))
}

fn held_out_metrics(rows: &[(&str, bool, f64)], thresholds: &[f64]) -> HeldOutMetrics {
    let positives = rows.iter().filter(|r| r.1).count();
    let n = rows.len() as f64;
    let mean = |f: &dyn Fn(bool, f64) -> f64| {
        (!rows.is_empty()).then(|| rows.iter().map(|&(_, y, p)| f(y, p)).sum::<f64>() / n)
    };
    let curve = PrecisionCoverage::new(rows.iter().map(|&(_, y, p)| (p, y)));
    HeldOutMetrics {
        examples: rows.len(),
        positives,
        negatives: rows.len() - positives,
        fold: fold_digest(rows),
        log_loss: mean(&|y, p| {
            let p = p.clamp(1e-15, 1.0 - 1e-15);
            if y { -p.ln() } else { -(1.0 - p).ln() }
        }),
        brier: mean(&|y, p| (p - f64::from(u8::from(y))).powi(2)),
        average_precision: curve.average_precision(),
        roc_auc: curve.roc_auc(),
        at_thresholds: curve.at_thresholds(thresholds),
    }
}

/// SHA-256 over the sorted `key ⇥ label` lines.
fn fold_digest(rows: &[(&str, bool, f64)]) -> String {
    let mut lines: Vec<(&str, bool)> = rows.iter().map(|&(k, y, _)| (k, y)).collect();
    lines.sort_unstable();
    let mut hasher = Sha256::new();
    for (key, label) in lines {
        hasher.update(key.as_bytes());
        hasher.update(if label { b"\t1\n" } else { b"\t0\n" });
    }
    hex::encode(hasher.finalize())
}

/// The outcome of comparing a candidate head with the current one.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Comparison {
    /// Lower held-out log loss by `gain` nats per example.
    Better { gain: f64 },
    /// Not lower by more than [`LOG_LOSS_TIE`]: the current head stays.
    NotBetter { gain: f64 },
    /// The figures cannot decide (the reason says why): the current head stays.
    Incomparable { reason: String },
}

/// Compares a candidate's held-out figures with the current head's **on the same held-out
/// examples** (evaluate the current head on the candidate's held-out fold with [`evaluate`]).
///
/// The rule: the candidate is better when its held-out log loss is lower by more than
/// [`LOG_LOSS_TIE`]. Log loss, not precision at a threshold, because it scores the calibrated
/// confidences the thresholds and the review queue act on, and it is defined on folds too small
/// for a stable precision. A tie keeps the current head (no churn of versions for nothing).
/// Incomparable, so the current head stays: figures from different folds; an empty fold; a fold
/// without both accepted and rejected examples (there a head that always says "no" would win).
pub fn compare(candidate: &HeldOutMetrics, current: &HeldOutMetrics) -> Comparison {
    let incomparable = |reason: &str| Comparison::Incomparable {
        reason: reason.to_owned(),
    };
    if candidate.fold != current.fold {
        return incomparable("the heads were evaluated on different held-out examples");
    }
    if candidate.positives == 0 || candidate.negatives == 0 {
        return incomparable("the held-out fold lacks accepted or rejected examples");
    }
    let (Some(new), Some(old)) = (candidate.log_loss, current.log_loss) else {
        return incomparable("the held-out fold is empty");
    };
    let gain = old - new;
    if gain > LOG_LOSS_TIE {
        Comparison::Better { gain }
    } else {
        Comparison::NotBetter { gain }
    }
}

/// Compares a first head with the prior: always answering the training share of accepted
/// decisions, scored on the head's own held-out examples. A first head is promoted only if
/// it is better than knowing nothing but that share. Same rule and tie as [`compare`].
pub fn compare_with_prior(metrics: &HeadMetrics) -> Comparison {
    let held = &metrics.held_out;
    let Some(ours) = held.log_loss else {
        return Comparison::Incomparable {
            reason: "the held-out fold is empty".into(),
        };
    };
    if held.positives == 0 || held.negatives == 0 {
        return Comparison::Incomparable {
            reason: "the held-out fold lacks accepted or rejected examples".into(),
        };
    }
    let trained = (metrics.train_positives + metrics.train_negatives).max(1) as f64;
    let p = (metrics.train_positives as f64 / trained).clamp(1e-6, 1.0 - 1e-6);
    let prior = -(held.positives as f64 * p.ln() + held.negatives as f64 * (1.0 - p).ln())
        / held.examples as f64;
    let gain = prior - ours;
    if gain > LOG_LOSS_TIE {
        Comparison::Better { gain }
    } else {
        Comparison::NotBetter { gain }
    }
}

/// Whether the candidate should replace the current head ([`compare`] says `Better`).
pub fn beats(candidate: &HeldOutMetrics, current: &HeldOutMetrics) -> bool {
    matches!(compare(candidate, current), Comparison::Better { .. })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn first_head(positives: usize, negatives: usize, log_loss: f64) -> HeadMetrics {
        HeadMetrics {
            train_positives: 12,
            train_negatives: 12,
            calibration_folds: 5,
            converged: true,
            held_out: HeldOutMetrics {
                examples: positives + negatives,
                positives,
                negatives,
                fold: String::new(),
                log_loss: Some(log_loss),
                brier: None,
                average_precision: None,
                roc_auc: None,
                at_thresholds: Vec::new(),
            },
        }
    }

    #[test]
    fn a_first_head_must_beat_the_prior() {
        // The prior of a 50/50 training set costs ln 2 ≈ 0.693 per example.
        assert!(matches!(
            compare_with_prior(&first_head(4, 4, 0.5)),
            Comparison::Better { .. }
        ));
        assert!(matches!(
            compare_with_prior(&first_head(4, 4, 0.7)),
            Comparison::NotBetter { .. }
        ));
        assert!(matches!(
            compare_with_prior(&first_head(4, 0, 0.1)),
            Comparison::Incomparable { .. }
        ));
    }
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn tag() -> TagName {
        TagName::parse("style/live").unwrap()
    }

    /// Vectors the length of `spec()`, labelled by a noisy linear rule on their first values.
    fn examples(n: usize, seed: u64, noise: f64) -> Vec<Example> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let dim = spec().len();
        (0..n)
            .map(|i| {
                let x: Vec<f32> = (0..dim).map(|_| rng.random_range(-1.0..1.0)).collect();
                let z = 3.0 * f64::from(x[0]) - 2.0 * f64::from(x[1]) + f64::from(x[2]) - 0.5;
                let u: f64 = rng.random_range(1e-12..1.0);
                Example {
                    key: format!("media-{seed}-{i}"),
                    features: x,
                    label: z + noise * (u / (1.0 - u)).ln() > 0.0,
                    plays: i as u64 % 7,
                }
            })
            .collect()
    }

    fn spec() -> FeatureSpec {
        FeatureSpec {
            analysis: false,
            text_buckets: 0,
            embedding_dim: 15,
            embedding_source: Some("synthetic".into()),
            ..FeatureSpec::default()
        }
    }

    #[test]
    fn a_head_learns_a_noisy_rule_and_reports_held_out_figures() {
        let data = examples(2000, 1, 0.5);
        let trained = train(&tag(), &data, &spec(), &TrainConfig::default()).unwrap();
        let m = &trained.metrics;
        assert!(m.converged);
        assert_eq!(
            m.train_positives + m.train_negatives + m.held_out.examples,
            2000
        );
        let share = m.held_out.examples as f64 / 2000.0;
        assert!((share - 0.25).abs() < 0.04, "held out {share}");
        assert!(m.held_out.roc_auc.unwrap() > 0.95, "{m:?}");
        assert!(m.held_out.log_loss.unwrap() < 0.3, "{m:?}");
        let w = &trained.head.weights;
        assert!(w[0] > 0.0 && w[1] < 0.0 && w[2] > 0.0, "{:?}", &w[..3]);
        assert!(w[0].abs() > w[1].abs() && w[1].abs() > w[2].abs());
        let at = |t: f64| {
            m.held_out
                .at_thresholds
                .iter()
                .find(|p| p.threshold == t)
                .unwrap()
        };
        assert!(at(0.9).precision.unwrap() > 0.9, "{:?}", at(0.9));
    }

    #[test]
    fn confidences_are_calibrated_on_held_out_data() {
        let data = examples(6000, 2, 1.0);
        let trained = train(&tag(), &data, &spec(), &TrainConfig::default()).unwrap();
        let test = examples(6000, 3, 1.0);
        let mut bins = [(0.0f64, 0.0f64, 0usize); 5];
        for e in &test {
            let c = trained.head.confidence(&e.features).unwrap();
            let bin = &mut bins[((c * 5.0) as usize).min(4)];
            bin.0 += c;
            bin.1 += f64::from(u8::from(e.label));
            bin.2 += 1;
        }
        for (confidence, positives, n) in bins {
            if n >= 300 {
                let (mean, rate) = (confidence / n as f64, positives / n as f64);
                assert!(
                    (mean - rate).abs() < 0.05,
                    "mean {mean} observed {rate} (n {n})"
                );
            }
        }
    }

    #[test]
    fn too_few_decisions_say_what_is_missing() {
        let mut data = examples(200, 4, 0.5);
        data.retain(|e| !e.label);
        data.truncate(1);
        data.extend(
            examples(400, 5, 0.5)
                .into_iter()
                .filter(|e| e.label)
                .take(3),
        );
        let err = train(&tag(), &data, &spec(), &TrainConfig::default()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "tag style/live has 3 accepted and 1 rejected decisions; at least 8 of each are needed"
        );
        let uneven = TrainConfig {
            min_negatives: 20,
            ..TrainConfig::default()
        };
        let err = train(&tag(), &data, &spec(), &uneven).unwrap_err();
        assert!(
            err.to_string()
                .ends_with("at least 8 accepted and 20 rejected are needed")
        );
    }

    #[test]
    fn too_few_left_after_holding_out_is_its_own_error() {
        // Eight of each, all but one accepted decision on held-out media.
        let all = examples(3000, 6, 0.5);
        let held = |e: &&Example| is_held_out(&e.key, 0.25);
        let mut data: Vec<Example> = all
            .iter()
            .filter(|e| e.label)
            .filter(held)
            .take(7)
            .cloned()
            .collect();
        data.extend(
            all.iter()
                .filter(|e| e.label && !is_held_out(&e.key, 0.25))
                .take(1)
                .cloned(),
        );
        data.extend(all.iter().filter(|e| !e.label).take(8).cloned());
        let err = train(&tag(), &data, &spec(), &TrainConfig::default()).unwrap_err();
        assert!(
            matches!(err, TrainError::TooFewToLearn { positives: 1, .. }),
            "{err}"
        );
    }

    #[test]
    fn bad_vectors_and_configurations_are_refused() {
        let mut data = examples(100, 7, 0.5);
        data[3].features.pop();
        assert!(matches!(
            train(&tag(), &data, &spec(), &TrainConfig::default()),
            Err(TrainError::FeatureLength {
                got: 15,
                expected: 16,
                ..
            })
        ));
        let mut data = examples(100, 7, 0.5);
        data[5].features[0] = f32::INFINITY;
        assert!(matches!(
            train(&tag(), &data, &spec(), &TrainConfig::default()),
            Err(TrainError::NotFinite { .. })
        ));
        let data = examples(100, 7, 0.5);
        for config in [
            TrainConfig {
                l2: 0.0,
                ..TrainConfig::default()
            },
            TrainConfig {
                held_out_fraction: 1.0,
                ..TrainConfig::default()
            },
            TrainConfig {
                calibration_folds: 1,
                ..TrainConfig::default()
            },
            TrainConfig {
                thresholds: vec![1.5],
                ..TrainConfig::default()
            },
        ] {
            assert!(matches!(
                train(&tag(), &data, &spec(), &config),
                Err(TrainError::Config(_))
            ));
        }
    }

    #[test]
    fn the_split_is_deterministic_stable_and_grows_by_supersets() {
        // Golden: which media are held out may never change silently (retrains compare on it).
        let held: Vec<bool> = (0..12)
            .map(|i| is_held_out(&format!("m{i}"), 0.25))
            .collect();
        let expected: Vec<bool> = (0..12).map(|i| i == 4 || i == 11).collect();
        assert_eq!(held, expected);
        let keys: Vec<String> = (0..20_000).map(|i| format!("01J{i:08}")).collect();
        let share = keys.iter().filter(|k| is_held_out(k, 0.25)).count() as f64 / 20_000.0;
        assert!((share - 0.25).abs() < 0.01, "{share}");
        assert!(
            keys.iter()
                .filter(|k| is_held_out(k, 0.2))
                .all(|k| is_held_out(k, 0.25))
        );
        let data = examples(300, 8, 0.5);
        let mut reversed = data.clone();
        reversed.reverse();
        let keys_of = |part: Vec<&Example>| {
            let mut k: Vec<String> = part.into_iter().map(|e| e.key.clone()).collect();
            k.sort();
            k
        };
        assert_eq!(
            keys_of(split(&data, 0.25).1),
            keys_of(split(&reversed, 0.25).1)
        );
    }

    #[test]
    fn training_is_deterministic() {
        let data = examples(500, 9, 0.5);
        let a = train(&tag(), &data, &spec(), &TrainConfig::default()).unwrap();
        let b = train(&tag(), &data, &spec(), &TrainConfig::default()).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn a_head_from_more_decisions_beats_one_from_fewer_on_its_fold() {
        let data = examples(1200, 10, 0.5);
        let config = TrainConfig::default();
        let few: Vec<Example> = data[..40].to_vec();
        let current = train(&tag(), &few, &spec(), &config).unwrap();
        let candidate = train(&tag(), &data, &spec(), &config).unwrap();
        let (_, fold) = split(&data, config.held_out_fraction);
        let current_there = evaluate(&current.head, fold, &config.thresholds).unwrap();
        let outcome = compare(&candidate.metrics.held_out, &current_there);
        assert!(
            matches!(outcome, Comparison::Better { gain } if gain > 0.05),
            "{outcome:?}"
        );
        assert!(beats(&candidate.metrics.held_out, &current_there));
        assert!(!beats(&current_there, &candidate.metrics.held_out));
        // Its own figures are from another fold: not comparable.
        assert!(matches!(
            compare(&candidate.metrics.held_out, &current.metrics.held_out),
            Comparison::Incomparable { .. }
        ));
    }

    fn metrics(log_loss: Option<f64>, positives: usize, negatives: usize) -> HeldOutMetrics {
        HeldOutMetrics {
            examples: positives + negatives,
            positives,
            negatives,
            fold: "same".into(),
            log_loss,
            brier: None,
            average_precision: None,
            roc_auc: None,
            at_thresholds: Vec::new(),
        }
    }

    #[test]
    fn ties_and_undecidable_folds_keep_the_current_head() {
        let current = metrics(Some(0.40), 3, 5);
        assert!(beats(&metrics(Some(0.35), 3, 5), &current));
        assert!(
            !beats(&metrics(Some(0.40 - LOG_LOSS_TIE / 2.0), 3, 5), &current),
            "a tie"
        );
        assert!(!beats(&metrics(Some(0.45), 3, 5), &current));
        assert!(matches!(
            compare(&metrics(Some(0.01), 0, 5), &metrics(Some(0.40), 0, 5)),
            Comparison::Incomparable { .. }
        ));
        assert!(matches!(
            compare(&metrics(None, 0, 0), &metrics(None, 0, 0)),
            Comparison::Incomparable { .. }
        ));
    }

    #[test]
    fn metrics_survive_serde() {
        let data = examples(300, 11, 0.5);
        let m = train(&tag(), &data, &spec(), &TrainConfig::default())
            .unwrap()
            .metrics;
        let json = serde_json::to_string(&m).unwrap();
        assert_eq!(serde_json::from_str::<HeadMetrics>(&json).unwrap(), m);
    }
}
