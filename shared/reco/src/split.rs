//! Train/test splits for offline evaluation.

use std::collections::HashSet;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use crate::datasets::Interaction;

/// Per user, a seeded random `test_fraction` of their items is held out (rounded, at least one
/// when the user has two or more, none when they have one: a user needs history to be served).
pub fn per_user_holdout(
    interactions: &[Interaction],
    users: usize,
    test_fraction: f64,
    seed: u64,
) -> (Vec<Interaction>, Vec<Interaction>) {
    let mut by_user: Vec<Vec<Interaction>> = vec![Vec::new(); users];
    for i in interactions {
        by_user[i.user as usize].push(*i);
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (mut train, mut test) = (Vec::new(), Vec::new());
    for mut rows in by_user {
        // Sorted first so the shuffle's outcome depends on the seed, not on the file's order.
        rows.sort_unstable_by_key(|i| i.item);
        rows.shuffle(&mut rng);
        let held = if rows.len() < 2 {
            0
        } else {
            ((rows.len() as f64 * test_fraction).round() as usize).clamp(1, rows.len() - 1)
        };
        test.extend_from_slice(&rows[..held]);
        train.extend_from_slice(&rows[held..]);
    }
    (train, test)
}

/// Each user's relevant test items: those whose value is at least `min_value`.
pub fn relevant_sets(test: &[Interaction], users: usize, min_value: f32) -> Vec<HashSet<u32>> {
    let mut sets = vec![HashSet::new(); users];
    for i in test.iter().filter(|i| i.value >= min_value) {
        sets[i.user as usize].insert(i.item);
    }
    sets
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(user: u32, n: u32) -> Vec<Interaction> {
        (0..n)
            .map(|item| Interaction {
                user,
                item,
                value: 1.0,
                at: None,
            })
            .collect()
    }

    #[test]
    fn twenty_percent_per_user_and_nothing_lost() {
        let mut all = rows(0, 10);
        all.extend(rows(1, 1));
        all.extend(rows(2, 3));
        let (train, test) = per_user_holdout(&all, 3, 0.2, 1);
        assert_eq!(train.len() + test.len(), all.len());
        let count = |set: &[Interaction], u| set.iter().filter(|i| i.user == u).count();
        assert_eq!(count(&test, 0), 2);
        assert_eq!(count(&test, 1), 0, "a lone interaction stays in training");
        assert_eq!(count(&test, 2), 1);
    }

    #[test]
    fn the_split_depends_on_the_seed_only() {
        let all = rows(0, 50);
        let mut reversed = all.clone();
        reversed.reverse();
        assert_eq!(
            per_user_holdout(&all, 1, 0.2, 9)
                .1
                .iter()
                .map(|i| i.item)
                .collect::<HashSet<_>>(),
            per_user_holdout(&reversed, 1, 0.2, 9)
                .1
                .iter()
                .map(|i| i.item)
                .collect::<HashSet<_>>()
        );
        assert_ne!(
            per_user_holdout(&all, 1, 0.2, 9).1,
            per_user_holdout(&all, 1, 0.2, 10).1
        );
    }
}
