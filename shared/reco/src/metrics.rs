//! Offline ranking metrics at a cut-off `k`, averaged over the users that have held-out items.
//!
//! Definitions (binary relevance: an item is relevant when it is in the user's test set):
//! - precision@k = hits / k
//! - recall@k = hits / |test|
//! - nDCG@k = DCG / ideal DCG, DCG = Σ rel_i / log2(i + 1) over ranks i = 1..k, the ideal
//!   placing min(k, |test|) hits first
//! - MAP@k = (Σ precision@i · rel_i) / min(k, |test|)
//! - coverage = distinct items recommended to anyone / catalogue size

use std::collections::HashSet;

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RankingMetrics {
    pub precision: f64,
    pub recall: f64,
    pub ndcg: f64,
    pub map: f64,
    pub coverage: f64,
    /// Users averaged over.
    pub users: usize,
}

/// Scores `recommendations[u]` (best first) against `relevant[u]` for every user with a
/// non-empty test set.
pub fn evaluate(
    recommendations: &[Vec<u32>],
    relevant: &[HashSet<u32>],
    k: usize,
    catalogue_size: usize,
) -> RankingMetrics {
    assert_eq!(
        recommendations.len(),
        relevant.len(),
        "one list of recommendations per user"
    );
    let mut sums = [0f64; 4];
    let mut users = 0;
    let mut shown = HashSet::new();
    for (recs, truth) in recommendations.iter().zip(relevant) {
        let recs = &recs[..recs.len().min(k)];
        shown.extend(recs.iter().copied());
        if truth.is_empty() {
            continue;
        }
        users += 1;
        let (mut hits, mut dcg, mut ap) = (0usize, 0f64, 0f64);
        for (rank, item) in recs.iter().enumerate() {
            if truth.contains(item) {
                hits += 1;
                dcg += 1.0 / ((rank + 2) as f64).log2();
                ap += hits as f64 / (rank + 1) as f64;
            }
        }
        let ideal_hits = truth.len().min(k);
        let idcg: f64 = (0..ideal_hits).map(|r| 1.0 / ((r + 2) as f64).log2()).sum();
        sums[0] += hits as f64 / k as f64;
        sums[1] += hits as f64 / truth.len() as f64;
        sums[2] += dcg / idcg;
        sums[3] += ap / ideal_hits as f64;
    }
    let mean = |s: f64| if users == 0 { 0.0 } else { s / users as f64 };
    RankingMetrics {
        precision: mean(sums[0]),
        recall: mean(sums[1]),
        ndcg: mean(sums[2]),
        map: mean(sums[3]),
        coverage: if catalogue_size == 0 {
            0.0
        } else {
            shown.len() as f64 / catalogue_size as f64
        },
        users,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(items: &[u32]) -> HashSet<u32> {
        items.iter().copied().collect()
    }

    #[test]
    fn a_perfect_ranking_scores_one_everywhere_but_precision() {
        let m = evaluate(&[vec![1, 2, 3]], &[set(&[1, 2])], 3, 10);
        assert!((m.recall - 1.0).abs() < 1e-12);
        assert!((m.ndcg - 1.0).abs() < 1e-12);
        assert!((m.map - 1.0).abs() < 1e-12);
        assert!((m.precision - 2.0 / 3.0).abs() < 1e-12);
        assert!((m.coverage - 0.3).abs() < 1e-12);
    }

    #[test]
    fn worked_example_by_hand() {
        // Hits at ranks 2 and 4 of 4; three relevant items.
        let m = evaluate(&[vec![9, 1, 8, 2]], &[set(&[1, 2, 3])], 4, 100);
        assert!((m.precision - 0.5).abs() < 1e-12);
        assert!((m.recall - 2.0 / 3.0).abs() < 1e-12);
        let dcg = 1.0 / 3f64.log2() + 1.0 / 5f64.log2();
        let idcg = 1.0 + 1.0 / 3f64.log2() + 1.0 / 4f64.log2();
        assert!((m.ndcg - dcg / idcg).abs() < 1e-12);
        assert!((m.map - (0.5 + 0.5) / 3.0).abs() < 1e-12);
    }

    #[test]
    fn users_without_test_items_are_not_averaged_but_count_for_coverage() {
        let m = evaluate(&[vec![1], vec![5]], &[set(&[1]), set(&[])], 1, 10);
        assert_eq!(m.users, 1);
        assert!((m.precision - 1.0).abs() < 1e-12);
        assert!((m.coverage - 0.2).abs() < 1e-12);
    }

    #[test]
    fn no_users_is_all_zero_not_nan() {
        let m = evaluate(&[], &[], 10, 0);
        assert_eq!((m.precision, m.coverage, m.users), (0.0, 0.0, 0));
    }
}
