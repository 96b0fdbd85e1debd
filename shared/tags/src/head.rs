//! A tag's classifier head: logistic weights over a [`FeatureSpec`]'s vectors, and the Platt
//! scaling that turns its raw score into a calibrated confidence. Stored as a model file: a
//! format tag, then the head in postcard.

use mvidarr_core::tag::TagName;
use serde::{Deserialize, Serialize};

use crate::features::{FeatureSpec, Signals, SpecError, features};
use crate::platt::Platt;

/// The first bytes of every head file. postcard does not describe its own layout, so a file
/// written by a build with another layout is refused by this tag, not misread.
const FORMAT: &[u8] = b"mvidarr-tag-head v1\n";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TagHead {
    /// The tag this head proposes.
    pub tag: TagName,
    /// How the vectors it reads are made; serving computes them with this spec.
    pub spec: FeatureSpec,
    /// One weight per feature (`spec.len()`).
    pub weights: Vec<f64>,
    pub bias: f64,
    pub platt: Platt,
}

/// A feature vector of the wrong length for a head (computed with another spec).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a feature vector of {got} values for a head that reads {expected}")]
pub struct FeatureLengthMismatch {
    pub got: usize,
    pub expected: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum ModelFileError {
    #[error("not a tag head file of this format (starts with {0:?})")]
    Format(String),
    #[error("the tag head file does not decode: {0}")]
    Decode(#[from] postcard::Error),
    #[error("the tag head's feature spec is unusable: {0}")]
    Spec(#[from] SpecError),
    #[error("the tag head has {weights} weights but its feature spec makes {expected} features")]
    Shape { weights: usize, expected: usize },
    #[error("the tag head holds a value that is not a finite number")]
    NotFinite,
}

impl TagHead {
    /// The raw score (log-odds before calibration) of a feature vector.
    pub fn score(&self, x: &[f32]) -> Result<f64, FeatureLengthMismatch> {
        if x.len() != self.weights.len() {
            return Err(FeatureLengthMismatch {
                got: x.len(),
                expected: self.weights.len(),
            });
        }
        Ok(self.raw(x))
    }

    /// The calibrated probability that the tag applies, 0–1.
    pub fn confidence(&self, x: &[f32]) -> Result<f64, FeatureLengthMismatch> {
        Ok(self.platt.apply(self.score(x)?))
    }

    /// The confidence for a media's signals, its vector made with this head's own spec (so
    /// it cannot have the wrong length).
    pub fn confidence_of(&self, signals: &Signals<'_>) -> f64 {
        let x = features(&self.spec, signals);
        self.platt.apply(self.raw(&x))
    }

    fn raw(&self, x: &[f32]) -> f64 {
        self.bias
            + self
                .weights
                .iter()
                .zip(x)
                .map(|(w, &v)| w * f64::from(v))
                .sum::<f64>()
    }

    /// The `k` features that push the confidence up most for this vector (name, contribution
    /// to the raw score): evidence a reviewer can read.
    pub fn strongest_features(&self, x: &[f32], k: usize) -> Vec<(String, f64)> {
        let names = self.spec.names();
        let mut contributions: Vec<(String, f64)> = names
            .into_iter()
            .zip(self.weights.iter().zip(x))
            .map(|(n, (w, &v))| (n, w * f64::from(v)))
            .filter(|(_, c)| *c > 0.0)
            .collect();
        contributions.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        contributions.truncate(k);
        contributions
    }

    /// The model file.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = FORMAT.to_vec();
        bytes.extend(
            postcard::to_stdvec(self).expect("a head encodes: plain numbers, strings and lists"),
        );
        bytes
    }

    /// Reads a model file, refusing another format, a spec this build cannot compute, a weight
    /// count that does not match the spec, and non-finite numbers.
    pub fn from_bytes(bytes: &[u8]) -> Result<TagHead, ModelFileError> {
        let body = bytes.strip_prefix(FORMAT).ok_or_else(|| {
            let start = &bytes[..bytes.len().min(FORMAT.len())];
            ModelFileError::Format(String::from_utf8_lossy(start).into_owned())
        })?;
        let head: TagHead = postcard::from_bytes(body)?;
        head.spec.check()?;
        if head.weights.len() != head.spec.len() {
            return Err(ModelFileError::Shape {
                weights: head.weights.len(),
                expected: head.spec.len(),
            });
        }
        let numbers = head
            .weights
            .iter()
            .chain([&head.bias, &head.platt.a, &head.platt.b]);
        if numbers.into_iter().any(|v| !v.is_finite()) {
            return Err(ModelFileError::NotFinite);
        }
        Ok(head)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mvidarr_core::metadata::VideoMetadata;

    fn head() -> TagHead {
        let spec = FeatureSpec {
            analysis: false,
            text_buckets: 8,
            embedding_dim: 2,
            embedding_source: Some("test v1".into()),
            ..FeatureSpec::default()
        };
        let weights = (0..spec.len()).map(|i| i as f64 * 0.25 - 1.0).collect();
        TagHead {
            tag: TagName::parse("style/live").unwrap(),
            spec,
            weights,
            bias: -0.5,
            platt: Platt { a: 0.8, b: 0.1 },
        }
    }

    #[test]
    fn a_model_file_round_trips() {
        let head = head();
        let back = TagHead::from_bytes(&head.to_bytes()).unwrap();
        assert_eq!(back, head);
        let meta = VideoMetadata {
            title: Some("Live at the Invented Hall".into()),
            ..VideoMetadata::default()
        };
        let signals = Signals {
            analyses: &[],
            metadata: &meta,
            embedding: Some(&[1.0, 1.0]),
        };
        assert_eq!(back.confidence_of(&signals), head.confidence_of(&signals));
        let x = features(&head.spec, &signals);
        assert_eq!(head.confidence(&x).unwrap(), head.confidence_of(&signals));
    }

    #[test]
    fn another_format_or_a_corrupted_file_is_refused() {
        let bytes = head().to_bytes();
        let mut other = bytes.clone();
        other[FORMAT.len() - 2] = b'2';
        assert!(matches!(
            TagHead::from_bytes(&other),
            Err(ModelFileError::Format(_))
        ));
        assert!(matches!(
            TagHead::from_bytes(b"{\"weights\": []}"),
            Err(ModelFileError::Format(_))
        ));
        let truncated = &bytes[..bytes.len() - 9];
        assert!(matches!(
            TagHead::from_bytes(truncated),
            Err(ModelFileError::Decode(_))
        ));
    }

    #[test]
    fn weights_that_do_not_fit_the_spec_are_refused() {
        let mut wrong = head();
        wrong.weights.pop();
        assert!(matches!(
            TagHead::from_bytes(&wrong.to_bytes()),
            Err(ModelFileError::Shape {
                weights: 10,
                expected: 11
            })
        ));
        let mut nan = head();
        nan.platt.a = f64::NAN;
        assert!(matches!(
            TagHead::from_bytes(&nan.to_bytes()),
            Err(ModelFileError::NotFinite)
        ));
        let mut future = head();
        future.spec.format += 1;
        assert!(matches!(
            TagHead::from_bytes(&future.to_bytes()),
            Err(ModelFileError::Spec(SpecError::Format { .. }))
        ));
    }

    #[test]
    fn a_vector_of_the_wrong_length_is_an_error() {
        assert_eq!(
            head().confidence(&[0.0; 3]),
            Err(FeatureLengthMismatch {
                got: 3,
                expected: 11
            })
        );
    }

    #[test]
    fn strongest_features_name_what_pushed_the_score_up() {
        let head = head();
        let mut x = vec![0.0f32; head.spec.len()];
        x[10] = 1.0; // embedding/1, weight 1.5
        x[9] = 1.0; // embedding/0, weight 1.25
        x[0] = 1.0; // text/0, weight −1
        let top = head.strongest_features(&x, 5);
        assert_eq!(
            top,
            [
                ("embedding/1".to_owned(), 1.5),
                ("embedding/0".to_owned(), 1.25)
            ]
        );
    }
}
