//! The precision/coverage curve of a tag's confidences over items whose truth is known.
//!
//! At a threshold `t` the tag is applied to every item with confidence ≥ `t`. **Coverage** is
//! the share of the truly-tagged items that get the tag (recall); **precision** the share of
//! tagged items that truly have it; **tagged share** the share of all items tagged.

use serde::{Deserialize, Serialize};

/// The figures at one threshold.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CurvePoint {
    pub threshold: f64,
    /// `None` when nothing is tagged.
    pub precision: Option<f64>,
    /// `None` when no item truly has the tag.
    pub coverage: Option<f64>,
    pub tagged_share: f64,
    pub tagged: usize,
    pub correctly_tagged: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PrecisionCoverage {
    /// (confidence, truth), highest confidence first.
    scored: Vec<(f64, bool)>,
    positives: usize,
}

impl PrecisionCoverage {
    /// From (confidence, truth) pairs; a NaN confidence sorts lowest.
    pub fn new(scored: impl IntoIterator<Item = (f64, bool)>) -> Self {
        let mut scored: Vec<(f64, bool)> = scored
            .into_iter()
            .map(|(c, t)| (if c.is_nan() { f64::NEG_INFINITY } else { c }, t))
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0));
        let positives = scored.iter().filter(|(_, t)| *t).count();
        PrecisionCoverage { scored, positives }
    }

    pub fn items(&self) -> usize {
        self.scored.len()
    }

    pub fn positives(&self) -> usize {
        self.positives
    }

    fn point(&self, threshold: f64, tagged: usize, correctly_tagged: usize) -> CurvePoint {
        CurvePoint {
            threshold,
            precision: (tagged > 0).then(|| correctly_tagged as f64 / tagged as f64),
            coverage: (self.positives > 0).then(|| correctly_tagged as f64 / self.positives as f64),
            tagged_share: if self.scored.is_empty() {
                0.0
            } else {
                tagged as f64 / self.scored.len() as f64
            },
            tagged,
            correctly_tagged,
        }
    }

    /// One point per distinct confidence, from the highest threshold down.
    pub fn points(&self) -> Vec<CurvePoint> {
        let mut points = Vec::new();
        let mut correct = 0;
        for (i, &(c, truth)) in self.scored.iter().enumerate() {
            correct += usize::from(truth);
            let last_of_tie = self.scored.get(i + 1).is_none_or(|next| next.0 != c);
            if last_of_tie {
                points.push(self.point(c, i + 1, correct));
            }
        }
        points
    }

    /// The figures when the tag is applied at confidence ≥ `threshold`.
    pub fn at_threshold(&self, threshold: f64) -> CurvePoint {
        let tagged = self.scored.partition_point(|(c, _)| *c >= threshold);
        let correct = self.scored[..tagged].iter().filter(|(_, t)| *t).count();
        self.point(threshold, tagged, correct)
    }

    pub fn at_thresholds(&self, thresholds: &[f64]) -> Vec<CurvePoint> {
        thresholds.iter().map(|&t| self.at_threshold(t)).collect()
    }

    /// The precision at the highest threshold whose coverage reaches `target` (0–1): what a
    /// tenant gets by setting the threshold to cover that share of the truly-tagged items.
    /// `None` when no item truly has the tag.
    pub fn precision_at_coverage(&self, target: f64) -> Option<f64> {
        if self.positives == 0 {
            return None;
        }
        self.points()
            .into_iter()
            .find(|p| p.coverage.is_some_and(|c| c >= target - 1e-12))
            .and_then(|p| p.precision)
    }

    /// Average precision: the mean over truly-tagged items of the precision at the threshold
    /// that first covers each one (tied confidences share one threshold). The base rate for a
    /// scorer that knows nothing; 1 for a perfect one. `None` without truly-tagged items.
    pub fn average_precision(&self) -> Option<f64> {
        if self.positives == 0 {
            return None;
        }
        let mut sum = 0.0;
        let mut covered = 0;
        for p in self.points() {
            let newly = p.correctly_tagged - covered;
            sum += newly as f64 * p.precision.unwrap_or(0.0);
            covered = p.correctly_tagged;
        }
        Some(sum / self.positives as f64)
    }

    /// The area under the ROC curve: the chance a truly-tagged item outranks an untagged one
    /// (ties count half). `None` unless both kinds are present.
    pub fn roc_auc(&self) -> Option<f64> {
        let negatives = self.scored.len() - self.positives;
        if self.positives == 0 || negatives == 0 {
            return None;
        }
        // Walk from the lowest confidence up, counting negatives already passed.
        let mut wins = 0.0;
        let mut negatives_below = 0.0;
        let mut i = self.scored.len();
        while i > 0 {
            let c = self.scored[i - 1].0;
            let mut j = i;
            let (mut tie_pos, mut tie_neg) = (0.0, 0.0);
            while j > 0 && self.scored[j - 1].0 == c {
                if self.scored[j - 1].1 {
                    tie_pos += 1.0;
                } else {
                    tie_neg += 1.0;
                }
                j -= 1;
            }
            wins += tie_pos * (negatives_below + 0.5 * tie_neg);
            negatives_below += tie_neg;
            i = j;
        }
        Some(wins / (self.positives as f64 * negatives as f64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn curve() -> PrecisionCoverage {
        PrecisionCoverage::new([
            (0.95, true),
            (0.9, false),
            (0.8, true),
            (0.6, true),
            (0.3, false),
            (0.1, false),
        ])
    }

    #[test]
    fn points_at_thresholds() {
        let c = curve();
        let p = c.at_threshold(0.85);
        assert_eq!((p.tagged, p.correctly_tagged), (2, 1));
        assert_eq!(p.precision, Some(0.5));
        assert_eq!(p.coverage, Some(1.0 / 3.0));
        assert_eq!(p.tagged_share, 2.0 / 6.0);
        let none = c.at_threshold(0.99);
        assert_eq!((none.precision, none.coverage), (None, Some(0.0)));
    }

    #[test]
    fn precision_at_coverage_takes_the_highest_threshold_that_reaches_it() {
        let c = curve();
        assert_eq!(c.precision_at_coverage(0.3), Some(1.0));
        assert_eq!(c.precision_at_coverage(0.5), Some(2.0 / 3.0));
        assert_eq!(c.precision_at_coverage(1.0), Some(0.75));
        assert_eq!(
            PrecisionCoverage::new([(0.5, false)]).precision_at_coverage(0.5),
            None
        );
    }

    #[test]
    fn average_precision_and_auc() {
        let c = curve();
        let ap = c.average_precision().unwrap();
        assert!((ap - (1.0 + 2.0 / 3.0 + 0.75) / 3.0).abs() < 1e-12);
        // Positives outrank 1+3+3 of the 3×3 positive–negative pairs: 7/9.
        assert!((c.roc_auc().unwrap() - 7.0 / 9.0).abs() < 1e-12);
        let perfect = PrecisionCoverage::new([(0.9, true), (0.1, false)]);
        assert_eq!(perfect.average_precision(), Some(1.0));
        assert_eq!(perfect.roc_auc(), Some(1.0));
    }

    #[test]
    fn ties_share_one_threshold() {
        let c = PrecisionCoverage::new([(0.5, true), (0.5, false), (0.5, true), (0.2, false)]);
        assert_eq!(c.points().len(), 2);
        assert!((c.average_precision().unwrap() - 2.0 / 3.0).abs() < 1e-12);
        // Each positive beats the 0.2 negative and ties the 0.5 one: (1 + 0.5) × 2 / 4.
        assert!((c.roc_auc().unwrap() - 0.75).abs() < 1e-12);
    }
}
