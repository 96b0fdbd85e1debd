//! Recommendations: models, training and their offline evaluation — pure computation over
//! in-memory data — and [`service`], which trains from and serves through the platform's ports.
//!
//! - [`matrix`]: the sparse user × item matrix every trainer reads.
//! - [`als`]: implicit-feedback ALS (collaborative filtering) and item–item similarity.
//! - [`content`]: similarity from tags, genres, artist and analysis measures (cold start).
//! - [`trending`]: time-decayed, anomaly-aware counts per window.
//! - [`model`]: one tenant's trained recommender and the personal blend it serves.
//! - [`popularity`]: the baseline.
//! - [`topk`]: the best `k` of many scores; [`quantized`]: 8-bit factor codes for serving scans.
//! - [`metrics`], [`split`], [`eval`]: offline evaluation.
//! - [`datasets`]: Last.fm HetRec and MovieLens 100K loaders.
//! - [`service`]: training into the model registry; serving the promoted model.

pub mod als;
pub mod content;
pub mod datasets;
pub mod eval;
pub mod matrix;
pub mod metrics;
pub mod model;
pub mod popularity;
pub mod quantized;
pub mod service;
pub mod split;
pub mod topk;
pub mod trending;
