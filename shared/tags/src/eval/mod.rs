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
