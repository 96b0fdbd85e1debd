//! The popularity baseline: every user gets the items the most users interacted with.

use serde::{Deserialize, Serialize};

use crate::matrix::Csr;
use crate::topk::{Scored, top_k};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Popularity {
    /// Distinct users per item.
    users_per_item: Vec<f32>,
}

impl Popularity {
    pub fn fit(user_items: &Csr) -> Self {
        let mut users_per_item = vec![0f32; user_items.cols()];
        for (_, item, _) in user_items.triplets() {
            users_per_item[item as usize] += 1.0;
        }
        Popularity { users_per_item }
    }

    /// Items it knows.
    pub fn len(&self) -> usize {
        self.users_per_item.len()
    }

    pub fn is_empty(&self) -> bool {
        self.users_per_item.is_empty()
    }

    /// Distinct users who interacted with `item`.
    pub fn users_of(&self, item: u32) -> f32 {
        self.users_per_item[item as usize]
    }

    pub fn recommend(&self, k: usize, skip: impl Fn(u32) -> bool) -> Vec<Scored> {
        top_k(&self.users_per_item, k, skip)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn most_users_first_and_seen_items_skipped() {
        let m = Csr::from_triplets(
            3,
            3,
            [
                (0, 2, 9.0),
                (1, 1, 1.0),
                (2, 1, 1.0),
                (0, 0, 1.0),
                (1, 0, 1.0),
                (2, 0, 1.0),
            ],
        );
        let p = Popularity::fit(&m);
        let recs: Vec<u32> = p.recommend(3, |_| false).iter().map(|s| s.index).collect();
        assert_eq!(recs, [0, 1, 2], "counted by users, not by play counts");
        assert_eq!(p.recommend(1, |i| i == 0)[0].index, 1);
    }
}
