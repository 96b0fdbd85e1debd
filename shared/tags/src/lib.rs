//! Learned tags (pure computation): feature vectors, per-tag classifier heads and their
//! evaluation.
