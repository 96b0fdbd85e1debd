//! The tag evaluation on public data (the `tag-eval` binary prints these reports):
//!
//! - [`genres`]: how well heads predict MovieLens 100K genres from co-interaction embeddings
//!   and titles, never from the genre metadata; precision and coverage at the auto-accept
//!   threshold and the precision/coverage curve.
//! - [`learning`]: simulated review rounds, the review queue's active-learning order against a
//!   random order, precision at a fixed coverage after each retrain.
//!
//! Both read the dataset through [`MovieLensTags::load`] (the only I/O in this crate).

pub mod genres;
pub mod learning;
mod movielens;

use mvidarr_reco::als::AlsError;
use mvidarr_reco::datasets::DatasetError;

use crate::train::TrainError;

pub use genres::{GenreEvalConfig, GenreReport, GenreRow, genre_report, movielens_genres};
pub use learning::{
    ArmFigures, LearningConfig, LearningReport, RoundRow, learning_report, learning_rounds,
};
pub use movielens::{MovieLensTags, TaggedItem, als_config, genre_tag};

#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error(transparent)]
    Dataset(#[from] DatasetError),
    #[error("co-interaction embeddings: {0}")]
    Als(#[from] AlsError),
    #[error("genre {genre}: {source}")]
    Train {
        genre: String,
        #[source]
        source: TrainError,
    },
    #[error("unknown genre {0:?}")]
    UnknownGenre(String),
    #[error("invalid evaluation configuration: {0}")]
    Config(String),
}

/// `0.123` as `12.3%`; a missing figure as `–`.
fn percent(v: Option<f64>) -> String {
    v.map_or_else(|| "–".to_owned(), |v| format!("{:.1}%", 100.0 * v))
}

/// `0.1234` as `0.123`; a missing figure as `–`.
fn decimal(v: Option<f64>) -> String {
    v.map_or_else(|| "–".to_owned(), |v| format!("{v:.3}"))
}

#[cfg(test)]
mod tests {
    use mvidarr_reco::datasets::{CatalogueItem, Dataset, Interaction};
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::*;

    /// 300 invented films in two taste clusters; `Loud` films are the first cluster's, `Quiet`
    /// the second's, and a third of each cluster is also `Odd` (which no signal predicts).
    fn clustered() -> Dataset {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let items: Vec<CatalogueItem> = (0..300)
            .map(|i| {
                let mut genres = vec![if i < 150 { "Loud" } else { "Quiet" }.to_owned()];
                if i % 3 == 0 {
                    genres.push("Odd".to_owned());
                }
                CatalogueItem {
                    external_id: format!("{}", i + 1),
                    title: format!("Invented Film {i} (1990)"),
                    artist: None,
                    genres,
                    year: Some(1990),
                }
            })
            .collect();
        let mut interactions = Vec::new();
        for user in 0..200u32 {
            let home = if user < 100 { 0 } else { 150 };
            for _ in 0..30 {
                // Mostly films of the user's own cluster.
                let offset = if rng.random::<f64>() < 0.9 {
                    home
                } else {
                    150 - home
                };
                interactions.push(Interaction {
                    user,
                    item: offset + rng.random_range(0..150),
                    value: 4.0,
                    at: None,
                });
            }
        }
        Dataset {
            name: "clustered",
            users: (0..200).map(|u| u.to_string()).collect(),
            items,
            interactions,
        }
    }

    #[test]
    fn both_reports_run_on_a_small_catalogue() {
        let data = MovieLensTags::from_dataset(&clustered(), &als_config(1)).unwrap();
        assert_eq!(data.genres, ["Loud", "Odd", "Quiet"]);
        assert!(
            data.items
                .iter()
                .all(|i| i.features.len() == data.spec.len())
        );

        let report = genre_report(&data, &GenreEvalConfig::default()).unwrap();
        let ap = |genre: &str| {
            report
                .genres
                .iter()
                .find(|r| r.genre == genre)
                .and_then(|r| r.average_precision)
                .unwrap()
        };
        assert!(ap("Loud") > 0.95 && ap("Quiet") > 0.95, "{report}");
        assert!(ap("Odd") < 0.7, "nothing predicts Odd: {report}");
        assert!(report.to_string().contains("| **all (micro)** |"));

        let config = LearningConfig {
            seeds: vec![1],
            rounds: 3,
            batch: 30,
            genres: Some(vec!["Loud".to_owned()]),
            ..LearningConfig::default()
        };
        let learning = learning_report(&data, &config).unwrap();
        let decisions: Vec<usize> = learning.rounds.iter().map(|r| r.decisions).collect();
        assert_eq!(decisions, [30, 60, 90]);
        let last = learning.rounds[2];
        assert!(last.active.precision_at_coverage > 0.9, "{learning}");
        assert!(learning.to_string().contains("| 3 | 90 |"));
    }

    #[test]
    fn unknown_genres_and_bad_settings_are_refused() {
        let data = MovieLensTags::from_dataset(&clustered(), &als_config(1)).unwrap();
        let unknown = GenreEvalConfig {
            genres: Some(vec!["Polka".to_owned()]),
            ..GenreEvalConfig::default()
        };
        assert!(matches!(
            genre_report(&data, &unknown),
            Err(EvalError::UnknownGenre(g)) if g == "Polka"
        ));
        let no_rounds = LearningConfig {
            rounds: 0,
            ..LearningConfig::default()
        };
        assert!(matches!(
            learning_report(&data, &no_rounds),
            Err(EvalError::Config(_))
        ));
    }
}
