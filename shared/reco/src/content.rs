//! Content similarity: what an item *is*, not who played it, so a new video with no plays has
//! neighbours from the moment it is analysed (cold start).
//!
//! Text features (tags, genres, the artist) become a TF-IDF vector, L2-normalised; numeric
//! analysis features (tempo, cut rate, loudness…) are standardised per dimension and
//! L2-normalised. Similarity is the cosine of the text vectors, blended with the numeric cosine
//! where both items have numeric features.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::als::dot;
use crate::topk::{Scored, top_k};

/// What is known about one item's content.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ContentFeatures {
    pub tags: Vec<String>,
    pub genres: Vec<String>,
    pub artist: Option<String>,
    /// Analysis measures, the same dimensions in the same order for every item, or empty.
    pub numeric: Vec<f32>,
}

/// How much each kind of text feature counts before IDF.
const GENRE_WEIGHT: f32 = 1.0;
const TAG_WEIGHT: f32 = 1.0;
const ARTIST_WEIGHT: f32 = 1.5;
/// The numeric cosine's share where both items have numeric features.
const NUMERIC_SHARE: f32 = 0.2;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContentIndex {
    names: Vec<String>,
    /// Per item, its normalised `(feature, weight)` pairs, sorted by feature.
    vectors: Vec<Vec<(u32, f32)>>,
    /// Per feature, the items carrying it and their weights.
    postings: Vec<Vec<(u32, f32)>>,
    /// Per item, its standardised, normalised numeric vector (empty when it has none).
    numeric: Vec<Vec<f32>>,
    /// The length of every non-empty numeric vector.
    numeric_dim: usize,
}

impl ContentIndex {
    pub fn build(items: &[ContentFeatures]) -> ContentIndex {
        let mut names: Vec<String> = Vec::new();
        let mut ids: HashMap<String, u32> = HashMap::new();
        let mut raw: Vec<Vec<(u32, f32)>> = Vec::with_capacity(items.len());
        for item in items {
            let mut v: HashMap<u32, f32> = HashMap::new();
            let named = item
                .genres
                .iter()
                .map(|g| (format!("genre:{}", g.to_lowercase()), GENRE_WEIGHT))
                .chain(
                    item.tags
                        .iter()
                        .map(|t| (format!("tag:{}", t.to_lowercase()), TAG_WEIGHT)),
                )
                .chain(
                    item.artist
                        .iter()
                        .map(|a| (format!("artist:{}", a.to_lowercase()), ARTIST_WEIGHT)),
                );
            for (name, weight) in named {
                let id = *ids.entry(name.clone()).or_insert_with(|| {
                    names.push(name);
                    names.len() as u32 - 1
                });
                let slot = v.entry(id).or_default();
                *slot = slot.max(weight);
            }
            raw.push(v.into_iter().collect());
        }
        let mut document_frequency = vec![0u32; names.len()];
        for v in &raw {
            for &(f, _) in v {
                document_frequency[f as usize] += 1;
            }
        }
        let n = items.len() as f32;
        let mut postings = vec![Vec::new(); names.len()];
        let vectors: Vec<Vec<(u32, f32)>> = raw
            .into_iter()
            .enumerate()
            .map(|(item, mut v)| {
                for (f, w) in v.iter_mut() {
                    *w *= ((1.0 + n) / (1.0 + document_frequency[*f as usize] as f32)).ln() + 1.0;
                }
                normalise_pairs(&mut v);
                v.sort_unstable_by_key(|&(f, _)| f);
                for &(f, w) in &v {
                    postings[f as usize].push((item as u32, w));
                }
                v
            })
            .collect();
        let numeric = standardise(items);
        ContentIndex {
            names,
            vectors,
            postings,
            numeric_dim: numeric.iter().map(Vec::len).max().unwrap_or(0),
            numeric,
        }
    }

    pub fn len(&self) -> usize {
        self.vectors.len()
    }

    pub fn is_empty(&self) -> bool {
        self.vectors.is_empty()
    }

    /// Every item's similarity to a weighted set of items (one item, or a user's history):
    /// the text cosine, refined by the numeric one for items that share text features (an
    /// item with nothing in common is not similar however close its measures).
    fn scores_for(&self, query: &[(u32, f32)]) -> Vec<f32> {
        let mut text = vec![0f32; self.len()];
        let mut query_numeric = vec![0f32; self.numeric_dim];
        let mut has_numeric = false;
        for &(item, weight) in query {
            for &(f, w) in &self.vectors[item as usize] {
                for &(other, ow) in &self.postings[f as usize] {
                    text[other as usize] += weight * w * ow;
                }
            }
            let v = &self.numeric[item as usize];
            if !v.is_empty() {
                has_numeric = true;
                for (q, x) in query_numeric.iter_mut().zip(v) {
                    *q += weight * x;
                }
            }
        }
        if has_numeric {
            for (t, v) in text.iter_mut().zip(&self.numeric) {
                if *t > 0.0 && !v.is_empty() {
                    *t = (1.0 - NUMERIC_SHARE) * *t + NUMERIC_SHARE * dot(v, &query_numeric);
                }
            }
        }
        text
    }

    /// The `k` items most like `item` (itself excluded; only positive similarities).
    pub fn similar(&self, item: u32, k: usize) -> Vec<Scored> {
        let scores = self.scores_for(&[(item, 1.0)]);
        top_k(&scores, k, |i| i == item || scores[i as usize] <= 0.0)
    }

    /// The `k` items most like a weighted history, skipping what `skip` names.
    pub fn similar_to_history(
        &self,
        history: &[(u32, f32)],
        k: usize,
        skip: impl Fn(u32) -> bool,
    ) -> Vec<Scored> {
        let total: f32 = history.iter().map(|(_, w)| w.abs()).sum();
        if total == 0.0 {
            return Vec::new();
        }
        let query: Vec<(u32, f32)> = history.iter().map(|&(i, w)| (i, w / total)).collect();
        let scores = self.scores_for(&query);
        top_k(&scores, k, |i| skip(i) || scores[i as usize] <= 0.0)
    }

    /// The features two items share, strongest first (for "why was this recommended").
    pub fn shared_features(&self, a: u32, b: u32) -> Vec<&str> {
        let (va, vb) = (&self.vectors[a as usize], &self.vectors[b as usize]);
        let mut shared: Vec<(u32, f32)> = va
            .iter()
            .filter_map(|&(f, w)| {
                vb.binary_search_by_key(&f, |&(g, _)| g)
                    .ok()
                    .map(|at| (f, w * vb[at].1))
            })
            .collect();
        shared.sort_unstable_by(|x, y| y.1.total_cmp(&x.1).then(x.0.cmp(&y.0)));
        shared
            .into_iter()
            .map(|(f, _)| self.names[f as usize].as_str())
            .collect()
    }
}

fn normalise_pairs(v: &mut [(u32, f32)]) {
    let norm = v.iter().map(|(_, w)| w * w).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|(_, w)| *w /= norm);
    }
}

/// Z-scores per dimension over the items that have numeric features, then unit length. Items
/// whose vector has another length than the most common one are treated as having none.
fn standardise(items: &[ContentFeatures]) -> Vec<Vec<f32>> {
    let mut lengths: HashMap<usize, usize> = HashMap::new();
    for item in items.iter().filter(|i| !i.numeric.is_empty()) {
        *lengths.entry(item.numeric.len()).or_default() += 1;
    }
    let Some((dim, _)) = lengths.into_iter().max_by_key(|&(len, n)| (n, len)) else {
        return vec![Vec::new(); items.len()];
    };
    let usable =
        |i: &ContentFeatures| i.numeric.len() == dim && i.numeric.iter().all(|x| x.is_finite());
    let rows: Vec<&Vec<f32>> = items
        .iter()
        .filter(|i| usable(i))
        .map(|i| &i.numeric)
        .collect();
    let n = rows.len() as f32;
    let mean: Vec<f32> = (0..dim)
        .map(|d| rows.iter().map(|r| r[d]).sum::<f32>() / n)
        .collect();
    let std: Vec<f32> = (0..dim)
        .map(|d| (rows.iter().map(|r| (r[d] - mean[d]).powi(2)).sum::<f32>() / n).sqrt())
        .collect();
    items
        .iter()
        .map(|item| {
            if !usable(item) {
                return Vec::new();
            }
            let mut z: Vec<f32> = (0..dim)
                .map(|d| {
                    if std[d] > 0.0 {
                        (item.numeric[d] - mean[d]) / std[d]
                    } else {
                        0.0
                    }
                })
                .collect();
            let norm = dot(&z, &z).sqrt();
            if norm > 0.0 {
                z.iter_mut().for_each(|x| *x /= norm);
            }
            z
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(
        genres: &[&str],
        tags: &[&str],
        artist: Option<&str>,
        numeric: &[f32],
    ) -> ContentFeatures {
        ContentFeatures {
            tags: tags.iter().map(|s| s.to_string()).collect(),
            genres: genres.iter().map(|s| s.to_string()).collect(),
            artist: artist.map(str::to_owned),
            numeric: numeric.to_vec(),
        }
    }

    fn catalogue() -> Vec<ContentFeatures> {
        vec![
            item(
                &["punk", "rock"],
                &["live"],
                Some("The Clash"),
                &[170.0, 40.0],
            ),
            item(&["punk"], &["live"], Some("Ramones"), &[180.0, 45.0]),
            item(&["pop"], &["animation"], Some("a-ha"), &[110.0, 10.0]),
            item(&["punk", "rock"], &[], Some("The Clash"), &[165.0, 38.0]),
            item(&["jazz"], &[], None, &[]),
        ]
    }

    #[test]
    fn a_brand_new_item_has_neighbours_from_its_features_alone() {
        let index = ContentIndex::build(&catalogue());
        let similar: Vec<u32> = index.similar(3, 3).iter().map(|s| s.index).collect();
        assert_eq!(similar[0], 0, "same artist and genres first: {similar:?}");
        assert_eq!(similar[1], 1);
        assert!(
            !similar.contains(&2) && !similar.contains(&4),
            "nothing in common: {similar:?}"
        );
    }

    #[test]
    fn shared_features_explain_a_match() {
        let index = ContentIndex::build(&catalogue());
        let shared = index.shared_features(0, 3);
        assert_eq!(shared[0], "artist:the clash");
        assert!(shared.contains(&"genre:punk") && shared.contains(&"genre:rock"));
        assert!(index.shared_features(0, 2).is_empty());
    }

    #[test]
    fn a_history_finds_what_is_like_all_of_it() {
        let index = ContentIndex::build(&catalogue());
        let recs = index.similar_to_history(&[(0, 1.0), (1, 1.0)], 5, |i| i <= 1);
        assert_eq!(recs[0].index, 3);
        assert!(index.similar_to_history(&[], 5, |_| false).is_empty());
    }

    #[test]
    fn numeric_features_break_ties_between_equal_texts() {
        let items = vec![
            item(&["rock"], &[], None, &[100.0]),
            item(&["rock"], &[], None, &[102.0]),
            item(&["rock"], &[], None, &[40.0]),
            item(&["pop"], &[], None, &[70.0]),
        ];
        let index = ContentIndex::build(&items);
        let similar: Vec<u32> = index.similar(0, 2).iter().map(|s| s.index).collect();
        assert_eq!(similar, [1, 2]);
    }

    #[test]
    fn odd_numeric_vectors_are_ignored_not_fatal() {
        let items = vec![
            item(&["rock"], &[], None, &[1.0, 2.0]),
            item(&["rock"], &[], None, &[f32::NAN, 2.0]),
            item(&["rock"], &[], None, &[3.0]),
        ];
        let index = ContentIndex::build(&items);
        assert_eq!(index.similar(0, 5).len(), 2);
        assert!(index.similar(0, 5).iter().all(|s| s.score.is_finite()));
    }
}
