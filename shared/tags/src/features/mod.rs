//! Feature vectors: what a tag head sees of one media, dense and of a fixed length set by a
//! [`FeatureSpec`]. Three blocks, in this order:
//!
//! 1. **analysis** (optional): a few dozen well-scaled numbers decoded from the typed analysis
//!    documents, each analyzer with a presence flag so a missing analysis is not read as zeros;
//! 2. **text**: signed feature hashing of word tokens and bigrams from the metadata, L2-normalised;
//! 3. **embedding** (optional): a content or co-interaction embedding, L2-normalised, behind a
//!    presence flag.
//!
//! The spec travels inside every trained head, so serving computes exactly the features the
//! head was trained on.

mod analysis;
mod text;

use mvidarr_core::analysis::Analysis;
use mvidarr_core::metadata::VideoMetadata;
use serde::{Deserialize, Serialize};

/// The layout version of feature vectors: bump when any block changes meaning (a new analysis
/// slot, another tokeniser, another hash). A head records it; a head of another format is refused.
pub const FEATURE_FORMAT: u32 = 1;

/// Limits that keep a corrupted spec from asking for gigabytes.
const MAX_TEXT_BUCKETS: usize = 1 << 16;
const MAX_EMBEDDING_DIM: usize = 1 << 12;

/// What a feature vector is made of. Stored with every head.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeatureSpec {
    /// [`FEATURE_FORMAT`] when the head was trained.
    pub format: u32,
    /// Hash buckets of the text block (0 leaves the block out).
    pub text_buckets: usize,
    /// Whether the metadata's genres are hashed into the text block. Off for a head that learns
    /// genres (it would read its own answer); part of the spec so serving does as training did.
    pub metadata_genres: bool,
    /// Whether the analysis block is present.
    pub analysis: bool,
    /// Length of the embedding (0 leaves the block out).
    pub embedding_dim: usize,
    /// Which embedding (model and version, e.g. `reco v3`), recorded so serving feeds the same one.
    pub embedding_source: Option<String>,
}

impl Default for FeatureSpec {
    /// Analyses and 512 text buckets, no embedding, no metadata genres.
    fn default() -> Self {
        FeatureSpec {
            format: FEATURE_FORMAT,
            text_buckets: 512,
            metadata_genres: false,
            analysis: true,
            embedding_dim: 0,
            embedding_source: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    #[error("feature format {found} is not this build's ({FEATURE_FORMAT}): retrain the head")]
    Format { found: u32 },
    #[error("a feature spec needs {what} of at most {max} (got {got})")]
    TooLarge {
        what: &'static str,
        got: usize,
        max: usize,
    },
    #[error("a feature spec with no blocks makes empty vectors")]
    Empty,
}

/// Where each block sits in a vector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub analysis: std::ops::Range<usize>,
    pub text: std::ops::Range<usize>,
    /// The presence flag first, then the embedding's values.
    pub embedding: std::ops::Range<usize>,
}

impl FeatureSpec {
    /// Checks a spec read from a model file or built by a caller.
    pub fn check(&self) -> Result<(), SpecError> {
        if self.format != FEATURE_FORMAT {
            return Err(SpecError::Format { found: self.format });
        }
        if self.text_buckets > MAX_TEXT_BUCKETS {
            return Err(SpecError::TooLarge {
                what: "text buckets",
                got: self.text_buckets,
                max: MAX_TEXT_BUCKETS,
            });
        }
        if self.embedding_dim > MAX_EMBEDDING_DIM {
            return Err(SpecError::TooLarge {
                what: "an embedding length",
                got: self.embedding_dim,
                max: MAX_EMBEDDING_DIM,
            });
        }
        if self.is_empty() {
            return Err(SpecError::Empty);
        }
        Ok(())
    }

    pub fn layout(&self) -> Layout {
        let analysis = 0..if self.analysis { analysis::LEN } else { 0 };
        // Saturating: a spec read from a file is checked after its layout can be asked for.
        let text = analysis.end..analysis.end.saturating_add(self.text_buckets);
        let embedding_len = if self.embedding_dim > 0 {
            self.embedding_dim.saturating_add(1)
        } else {
            0
        };
        let embedding = text.end..text.end.saturating_add(embedding_len);
        Layout {
            analysis,
            text,
            embedding,
        }
    }

    /// The length of every vector this spec makes.
    pub fn len(&self) -> usize {
        self.layout().embedding.end
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A name per position (`analysis/scenes/shots_per_minute`, `text/17`, `embedding/3`), for
    /// explaining a head's strongest weights.
    pub fn names(&self) -> Vec<String> {
        let mut names = Vec::with_capacity(self.len());
        if self.analysis {
            names.extend(analysis::names().map(|n| format!("analysis/{n}")));
        }
        names.extend((0..self.text_buckets).map(|b| format!("text/{b}")));
        if self.embedding_dim > 0 {
            names.push("embedding/present".to_owned());
            names.extend((0..self.embedding_dim).map(|d| format!("embedding/{d}")));
        }
        names
    }
}

/// Everything known about one media that a head may use.
#[derive(Debug, Clone, Copy)]
pub struct Signals<'a> {
    /// The media's analysis documents, any analyzers and versions (the newest usable one of
    /// each analyzer is read; failed and undecodable ones count as missing).
    pub analyses: &'a [Analysis],
    pub metadata: &'a VideoMetadata,
    /// The embedding named by the spec's `embedding_source`, when the media has one.
    pub embedding: Option<&'a [f32]>,
}

/// The media's feature vector: always `spec.len()` finite values.
///
/// An embedding of another length than the spec's, or with a non-finite value, is treated as
/// missing (its presence flag stays 0): the head then scores from the other blocks rather than
/// from numbers in the wrong places.
pub fn features(spec: &FeatureSpec, signals: &Signals<'_>) -> Vec<f32> {
    let mut out = Vec::with_capacity(spec.len());
    if spec.analysis {
        out.extend(analysis::block(signals.analyses, signals.metadata));
    }
    if spec.text_buckets > 0 {
        out.extend(text::block(
            spec.text_buckets,
            signals.metadata,
            spec.metadata_genres,
        ));
    }
    if spec.embedding_dim > 0 {
        out.extend(embedding_block(spec.embedding_dim, signals.embedding));
    }
    debug_assert_eq!(out.len(), spec.len());
    out
}

fn embedding_block(dim: usize, embedding: Option<&[f32]>) -> Vec<f32> {
    let mut block = vec![0.0; dim + 1];
    let Some(e) = embedding.filter(|e| e.len() == dim && e.iter().all(|v| v.is_finite())) else {
        return block;
    };
    let norm = e
        .iter()
        .map(|&v| f64::from(v) * f64::from(v))
        .sum::<f64>()
        .sqrt();
    if norm > 0.0 {
        block[0] = 1.0;
        for (slot, &v) in block[1..].iter_mut().zip(e) {
            *slot = (f64::from(v) / norm) as f32;
        }
    }
    block
}

pub use text::tokens as text_tokens;

#[cfg(test)]
mod tests {
    use super::*;

    fn metadata() -> VideoMetadata {
        VideoMetadata {
            title: Some("Neon Harbour Lights".into()),
            artist_name: Some("The Invented Band".into()),
            year: Some(1987),
            directors: vec!["Ada Example".into()],
            genres: vec!["Synth Pop".into()],
            ..VideoMetadata::default()
        }
    }

    #[test]
    fn every_spec_makes_vectors_of_its_length() {
        let meta = metadata();
        let embedding = [3.0f32, 4.0];
        for spec in [
            FeatureSpec::default(),
            FeatureSpec {
                analysis: false,
                text_buckets: 64,
                embedding_dim: 2,
                ..FeatureSpec::default()
            },
            FeatureSpec {
                text_buckets: 0,
                embedding_dim: 2,
                ..FeatureSpec::default()
            },
        ] {
            let signals = Signals {
                analyses: &[],
                metadata: &meta,
                embedding: Some(&embedding),
            };
            let x = features(&spec, &signals);
            assert_eq!(x.len(), spec.len());
            assert_eq!(spec.names().len(), spec.len());
            assert!(x.iter().all(|v| v.is_finite()));
        }
    }

    #[test]
    fn the_embedding_is_normalised_and_flagged_or_left_out() {
        let spec = FeatureSpec {
            analysis: false,
            text_buckets: 0,
            embedding_dim: 2,
            embedding_source: Some("test v1".into()),
            ..FeatureSpec::default()
        };
        let meta = VideoMetadata::default();
        let with = |e: Option<&[f32]>| {
            features(
                &spec,
                &Signals {
                    analyses: &[],
                    metadata: &meta,
                    embedding: e,
                },
            )
        };
        assert_eq!(with(Some(&[3.0, 4.0])), [1.0, 0.6, 0.8]);
        assert_eq!(with(None), [0.0, 0.0, 0.0]);
        assert_eq!(with(Some(&[1.0, 2.0, 3.0])), [0.0; 3], "wrong length");
        assert_eq!(with(Some(&[f32::NAN, 1.0])), [0.0; 3], "not finite");
        assert_eq!(with(Some(&[0.0, 0.0])), [0.0; 3], "no direction");
    }

    #[test]
    fn metadata_genres_enter_only_when_the_spec_says_so() {
        let meta = metadata();
        let without_genres = VideoMetadata {
            genres: Vec::new(),
            ..metadata()
        };
        let signals = |m| Signals {
            analyses: &[],
            metadata: m,
            embedding: None,
        };
        let off = FeatureSpec::default();
        assert_eq!(
            features(&off, &signals(&meta)),
            features(&off, &signals(&without_genres))
        );
        let on = FeatureSpec {
            metadata_genres: true,
            ..FeatureSpec::default()
        };
        assert_ne!(
            features(&on, &signals(&meta)),
            features(&on, &signals(&without_genres))
        );
    }

    #[test]
    fn specs_from_elsewhere_are_checked() {
        assert_eq!(FeatureSpec::default().check(), Ok(()));
        let other = FeatureSpec {
            format: FEATURE_FORMAT + 1,
            ..FeatureSpec::default()
        };
        assert!(matches!(other.check(), Err(SpecError::Format { .. })));
        let huge = FeatureSpec {
            text_buckets: usize::MAX / 2,
            ..FeatureSpec::default()
        };
        assert!(matches!(huge.check(), Err(SpecError::TooLarge { .. })));
        let empty = FeatureSpec {
            analysis: false,
            text_buckets: 0,
            ..FeatureSpec::default()
        };
        assert_eq!(empty.check(), Err(SpecError::Empty));
    }
}
