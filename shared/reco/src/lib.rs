//! Recommendations: models, training and their offline evaluation. Pure computation over
//! in-memory data (the platform reads events and writes models through its ports); the only
//! files read here are the public evaluation datasets.
//!
//! - [`datasets`]: Last.fm HetRec and MovieLens 100K loaders.

pub mod datasets;
