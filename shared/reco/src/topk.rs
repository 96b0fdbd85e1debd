//! Choosing the best `k` of many scores without sorting them all.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

use serde::{Deserialize, Serialize};

/// A scored candidate, ordered by score and then by the lower index, so ties break the same
/// way on every run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Scored {
    pub index: u32,
    pub score: f32,
}

impl Eq for Scored {}

impl Ord for Scored {
    fn cmp(&self, other: &Self) -> Ordering {
        self.score
            .total_cmp(&other.score)
            .then_with(|| other.index.cmp(&self.index))
    }
}

impl PartialOrd for Scored {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// The `k` highest scores, best first, skipping indices for which `skip` is true and any NaN.
pub fn top_k(scores: &[f32], k: usize, skip: impl Fn(u32) -> bool) -> Vec<Scored> {
    top_k_of(
        scores.iter().enumerate().map(|(i, &s)| Scored {
            index: i as u32,
            score: s,
        }),
        k,
        skip,
    )
}

/// The `k` best of any candidates, best first.
pub fn top_k_of(
    candidates: impl IntoIterator<Item = Scored>,
    k: usize,
    skip: impl Fn(u32) -> bool,
) -> Vec<Scored> {
    if k == 0 {
        return Vec::new();
    }
    // A min-heap of the best k so far: its root is the one to beat.
    let mut heap: BinaryHeap<Reverse<Scored>> = BinaryHeap::with_capacity(k + 1);
    for c in candidates {
        if c.score.is_nan() {
            continue;
        }
        // `skip` may be a set lookup: ask it only about candidates good enough to enter.
        if heap.len() < k {
            if !skip(c.index) {
                heap.push(Reverse(c));
            }
        } else if let Some(mut worst) = heap.peek_mut()
            && c > worst.0
            && !skip(c.index)
        {
            *worst = Reverse(c);
        }
    }
    let mut best: Vec<Scored> = heap.into_iter().map(|Reverse(s)| s).collect();
    best.sort_unstable_by(|a, b| b.cmp(a));
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_best_come_first_and_ties_go_to_the_lower_index() {
        let got = top_k(&[0.5, 0.9, 0.5, f32::NAN, 0.1], 3, |_| false);
        let idx: Vec<u32> = got.iter().map(|s| s.index).collect();
        assert_eq!(idx, [1, 0, 2]);
    }

    #[test]
    fn skipped_indices_never_appear() {
        let got = top_k(&[3.0, 2.0, 1.0], 2, |i| i == 0);
        assert_eq!(got.iter().map(|s| s.index).collect::<Vec<_>>(), [1, 2]);
        assert!(top_k(&[1.0], 0, |_| false).is_empty());
    }

    proptest! {
        #[test]
        fn agrees_with_a_full_sort(scores in prop::collection::vec(-1e3f32..1e3, 0..200), k in 0usize..30) {
            let got: Vec<u32> = top_k(&scores, k, |i| i % 7 == 3).iter().map(|s| s.index).collect();
            let mut all: Vec<Scored> = scores.iter().enumerate()
                .filter(|(i, _)| i % 7 != 3)
                .map(|(i, &s)| Scored { index: i as u32, score: s }).collect();
            all.sort_unstable_by(|a, b| b.cmp(a));
            let want: Vec<u32> = all.iter().take(k).map(|s| s.index).collect();
            prop_assert_eq!(got, want);
        }
    }
}
