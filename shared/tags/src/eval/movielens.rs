//! MovieLens 100K as tagging data: each film's features from its co-interaction embedding (ALS
//! item factors over every rating: who watched what, not what genre it is) and its title
//! (words, bigrams, decade, year). The genre flags are only the ground truth.

use std::collections::BTreeSet;
use std::path::Path;

use mvidarr_core::metadata::VideoMetadata;
use mvidarr_core::tag::TagName;
use mvidarr_reco::als::{self, AlsConfig};
use mvidarr_reco::datasets::Dataset;
use mvidarr_reco::matrix::Csr;

use super::EvalError;
use crate::features::{FeatureSpec, Signals, features};
use crate::train::Example;

/// One film, ready to be an example for any genre.
#[derive(Debug, Clone, PartialEq)]
pub struct TaggedItem {
    /// MovieLens's film id.
    pub key: String,
    pub title: String,
    pub features: Vec<f32>,
    /// The truth.
    pub genres: Vec<String>,
    /// Ratings of the film, standing in for plays (the review queue's impact).
    pub plays: u64,
}

/// The prepared evaluation data.
#[derive(Debug, Clone)]
pub struct MovieLensTags {
    pub spec: FeatureSpec,
    pub als: AlsConfig,
    /// The 18 genres (MovieLens's `unknown` is not one), alphabetical.
    pub genres: Vec<String>,
    pub items: Vec<TaggedItem>,
    pub users: usize,
    pub interactions: usize,
}

/// The ALS settings of the embeddings: the reco crate's MovieLens benchmark settings with 32
/// factors (on genre AP, 32 did best of 16, 24, 32, 64 and 128; 0.64–0.66 micro AP across them).
pub fn als_config(seed: u64) -> AlsConfig {
    AlsConfig {
        factors: 32,
        regularization: 0.05,
        alpha: 5.0,
        iterations: 15,
        cg_steps: 3,
        seed,
    }
}

impl MovieLensTags {
    /// Reads `ml-100k` from `dir` and trains the embeddings (`seed` initialises ALS).
    pub fn load(dir: &Path, seed: u64) -> Result<MovieLensTags, EvalError> {
        let dataset = Dataset::movielens(dir)?;
        Ok(MovieLensTags::from_dataset(&dataset, &als_config(seed))?)
    }

    /// Embeds a loaded dataset's items with ALS and makes their features.
    pub fn from_dataset(
        d: &Dataset,
        config: &AlsConfig,
    ) -> Result<MovieLensTags, mvidarr_reco::als::AlsError> {
        // Every rating is an interaction of strength 1: co-watching is the signal, not taste.
        let watched = Csr::from_triplets(
            d.users.len(),
            d.items.len(),
            d.interactions.iter().map(|i| (i.user, i.item, 1.0)),
        );
        let model = als::fit(&watched, config)?;
        let seed = config.seed;
        let spec = FeatureSpec {
            analysis: false,
            embedding_dim: config.factors,
            embedding_source: Some(format!(
                "als {}f movielens-100k seed {seed}",
                config.factors
            )),
            ..FeatureSpec::default()
        };
        let mut plays = vec![0u64; d.items.len()];
        for i in &d.interactions {
            plays[i.item as usize] += 1;
        }
        let items = d
            .items
            .iter()
            .enumerate()
            .map(|(index, item)| {
                // The genres stay out of the metadata: they are what is being predicted.
                let metadata = VideoMetadata {
                    title: Some(title_without_year(&item.title).to_owned()),
                    year: item.year,
                    ..VideoMetadata::default()
                };
                let signals = Signals {
                    analyses: &[],
                    metadata: &metadata,
                    embedding: Some(model.items.row(index)),
                };
                TaggedItem {
                    key: item.external_id.clone(),
                    title: item.title.clone(),
                    features: features(&spec, &signals),
                    genres: item.genres.clone(),
                    plays: plays[index],
                }
            })
            .collect();
        let genres: BTreeSet<String> = d.items.iter().flat_map(|i| i.genres.clone()).collect();
        Ok(MovieLensTags {
            spec,
            als: config.clone(),
            genres: genres.into_iter().collect(),
            items,
            users: d.users.len(),
            interactions: d.interactions.len(),
        })
    }

    /// The genres asked for (all when `None`), checked.
    pub(super) fn pick_genres(&self, wanted: Option<&[String]>) -> Result<Vec<String>, EvalError> {
        match wanted {
            None => Ok(self.genres.clone()),
            Some(list) => list
                .iter()
                .map(|g| {
                    if self.genres.contains(g) {
                        Ok(g.clone())
                    } else {
                        Err(EvalError::UnknownGenre(g.clone()))
                    }
                })
                .collect(),
        }
    }

    pub(super) fn example(&self, item: usize, genre: &str) -> Example {
        let it = &self.items[item];
        Example {
            key: it.key.clone(),
            features: it.features.clone(),
            label: it.genres.iter().any(|g| g == genre),
            plays: it.plays,
        }
    }
}

/// The tag a genre becomes (the product's own naming, [`mvidarr_core::tag::genre_tag`]).
pub fn genre_tag(genre: &str) -> TagName {
    mvidarr_core::tag::genre_tag(genre)
        .unwrap_or_else(|| TagName::parse("genre/other").expect("a valid literal"))
}

/// `Toy Story (1995)` → `Toy Story`: the year is its own feature.
fn title_without_year(title: &str) -> &str {
    let t = title.trim_end();
    let Some(open) = t.rfind(" (") else {
        return t;
    };
    let inside = &t[open + 2..];
    if inside.len() == 5 && inside.ends_with(')') && inside[..4].bytes().all(|b| b.is_ascii_digit())
    {
        &t[..open]
    } else {
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_lose_their_year_only() {
        assert_eq!(title_without_year("Toy Story (1995)"), "Toy Story");
        assert_eq!(
            title_without_year("Shanghai Triad (Yao a yao yao dao waipo qiao) (1995)"),
            "Shanghai Triad (Yao a yao yao dao waipo qiao)"
        );
        assert_eq!(title_without_year("Untitled (Remix)"), "Untitled (Remix)");
    }

    #[test]
    fn genres_become_tag_names() {
        assert_eq!(genre_tag("Children's").as_str(), "genre/childrens");
        assert_eq!(genre_tag("Sci-Fi").as_str(), "genre/sci-fi");
        assert_eq!(genre_tag("Film-Noir").as_str(), "genre/film-noir");
    }
}
