//! Learned tags (pure computation): feature vectors, per-tag classifier heads and their
//! evaluation.
//!
//! - [`features`]: a media's analyses, metadata and embedding as one fixed-length vector.
//! - [`head`]: a tag's logistic head with Platt calibration, and its model file.
//! - [`train`]: training from people's decisions, the held-out split, evaluation and promotion.
//! - [`curve`]: precision and coverage over confidence thresholds.
//! - [`eval`]: the tag evaluation on MovieLens 100K genres (reads the dataset).
//! - [`platt`]: calibration of raw scores; [`hash`]: the stable hash behind buckets and splits.
//!
//! The logistic solver itself (`logistic`) is private: heads are made by [`train::train`].

pub mod curve;
pub mod eval;
pub mod features;
pub mod hash;
pub mod head;
mod logistic;
pub mod platt;
pub mod train;

pub use curve::{CurvePoint, PrecisionCoverage};
pub use features::{FEATURE_FORMAT, FeatureSpec, Signals, features};
pub use head::{FeatureLengthMismatch, ModelFileError, TagHead};
pub use platt::Platt;
pub use train::{
    Comparison, Example, HeadMetrics, HeldOutMetrics, TrainConfig, TrainError, Trained, beats,
    compare, compare_with_prior, evaluate, is_held_out, split, train,
};
