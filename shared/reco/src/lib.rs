//! Recommendations: models, training and their offline evaluation. Pure computation over
//! in-memory data (the platform reads events and writes models through its ports); the only
//! files read here are the public evaluation datasets.
//!
//! - [`matrix`]: the sparse user × item matrix every trainer reads.
//! - [`als`]: implicit-feedback ALS (collaborative filtering) and item–item similarity.
//! - [`content`]: similarity from tags, genres, artist and analysis measures (cold start).
//! - [`trending`]: time-decayed, anomaly-aware counts per window.
//! - [`model`]: one tenant's trained recommender and the personal blend it serves.
//! - [`popularity`]: the baseline.
//! - [`topk`]: the best `k` of many scores.
//! - [`metrics`], [`split`]: offline evaluation.
//! - [`datasets`]: Last.fm HetRec and MovieLens 100K loaders.

pub mod als;
pub mod content;
pub mod datasets;
pub mod matrix;
pub mod metrics;
pub mod model;
pub mod popularity;
pub mod split;
pub mod topk;
pub mod trending;
