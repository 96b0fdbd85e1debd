//! Tags with confidences. A person's decision on a tag is kept with who and when: decisions are
//! training data for the per-tenant tag models.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::Timestamp;

/// A hierarchical tag name such as `genre/rock/punk`: lower-case segments of letters, digits,
/// `-` and `_`, joined by `/`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct TagName(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid tag name {0:?}: use lower-case segments of a-z, 0-9, '-' or '_' joined by '/'")]
pub struct InvalidTagName(pub String);

impl TagName {
    pub fn parse(s: &str) -> Result<Self, InvalidTagName> {
        let ok = !s.is_empty()
            && s.len() <= 128
            && s.split('/').all(|seg| {
                !seg.is_empty()
                    && seg.bytes().all(|b| {
                        b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_'
                    })
            });
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(InvalidTagName(s.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The ancestors, nearest last: `genre/rock/punk` → `genre`, `genre/rock`.
    pub fn ancestors(&self) -> impl Iterator<Item = &str> {
        self.0.match_indices('/').map(|(i, _)| &self.0[..i])
    }
}

impl fmt::Display for TagName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for TagName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        TagName::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Where a proposed tag came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TagSource {
    Analyzer {
        name: String,
        version: u32,
    },
    Model {
        name: String,
        version: String,
    },
    /// Tagged by hand; `actor` is who (`user:…` or `key:…`, as the audit log names them).
    Person {
        actor: String,
    },
    Import {
        source: String,
    },
}

/// Where a tag stands. A machine's proposal is placed by its confidence against the tag's
/// thresholds ([`Thresholds::place`]); a person's decision overrides it for good.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TagStatus {
    /// Confident enough to apply without a person: shown and searchable.
    Applied,
    /// Uncertain: waits in the review queue.
    #[serde(alias = "proposed")]
    Review,
    /// Too unlikely to show; kept as a suggestion (and for when thresholds change).
    Hidden,
    /// A person said yes (or tagged it by hand).
    Accepted,
    /// A person said no.
    Rejected,
}

impl TagStatus {
    /// Shown on the media and found by tag search.
    pub fn is_visible(self) -> bool {
        matches!(self, TagStatus::Applied | TagStatus::Accepted)
    }

    /// A person decided it: machines leave it alone.
    pub fn is_decided(self) -> bool {
        matches!(self, TagStatus::Accepted | TagStatus::Rejected)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            TagStatus::Applied => "applied",
            TagStatus::Review => "review",
            TagStatus::Hidden => "hidden",
            TagStatus::Accepted => "accepted",
            TagStatus::Rejected => "rejected",
        }
    }
}

/// A tag's two thresholds on calibrated confidence: at or above `accept` a proposal is applied,
/// at or above `review` it goes to review, below it is hidden.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Thresholds {
    pub accept: f64,
    pub review: f64,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("thresholds need 0 <= review <= accept <= 1 (got review {review}, accept {accept})")]
pub struct InvalidThresholds {
    pub accept: f64,
    pub review: f64,
}

impl Default for Thresholds {
    /// Apply at 90% (the seed's accuracy promise with a margin), review from 40%.
    fn default() -> Self {
        Self {
            accept: 0.9,
            review: 0.4,
        }
    }
}

impl Thresholds {
    pub fn new(accept: f64, review: f64) -> Result<Self, InvalidThresholds> {
        if (0.0..=1.0).contains(&review) && (review..=1.0).contains(&accept) {
            Ok(Self { accept, review })
        } else {
            Err(InvalidThresholds { accept, review })
        }
    }

    /// Where a machine's proposal with this confidence goes.
    pub fn place(&self, confidence: f64) -> TagStatus {
        if confidence >= self.accept {
            TagStatus::Applied
        } else if confidence >= self.review {
            TagStatus::Review
        } else {
            TagStatus::Hidden
        }
    }
}

/// The tag a genre becomes: `genre/` and the genre's words, transliterated to ASCII,
/// lower-cased and joined by `-` (`Children's` → `genre/childrens`, `Sci-Fi` →
/// `genre/sci-fi`, `Rock & Roll` → `genre/rock-roll`, `Électro` → `genre/electro`). `None`
/// when no word is left.
pub fn genre_tag(genre: &str) -> Option<TagName> {
    let ascii = deunicode::deunicode(genre)
        .to_ascii_lowercase()
        .replace('\'', "");
    let words: Vec<&str> = ascii
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    if words.is_empty() {
        return None;
    }
    TagName::parse(&format!("genre/{}", words.join("-"))).ok()
}

/// The model-registry family of a tag's learned classifier.
pub fn model_family(name: &TagName) -> String {
    format!("{MODEL_FAMILY_PREFIX}{name}")
}

/// What every tag model family starts with.
pub const MODEL_FAMILY_PREFIX: &str = "tags/";

/// The tag a model family is for (`None` for other families).
pub fn tag_of_family(family: &str) -> Option<TagName> {
    TagName::parse(family.strip_prefix(MODEL_FAMILY_PREFIX)?).ok()
}

/// How unsure a calibrated probability is: 1 at 0.5, 0 at 0 or 1.
pub fn uncertainty(confidence: f64) -> f64 {
    (1.0 - (2.0 * confidence.clamp(0.0, 1.0) - 1.0).abs()).max(0.0)
}

/// The review queue's order (active learning by uncertainty sampling, weighted): a decision
/// teaches the tag's model most where the model is least sure, and matters most where many
/// people will see the tag (`impact`, ≥ 0). Higher comes first.
pub fn review_priority(confidence: f64, impact: f64) -> f64 {
    uncertainty(confidence) * impact.max(0.0)
}

/// How much a decision on one media's tag is worth: a media people play often shows its tags
/// to more of them (`plays`), and a tag with few decisions so far learns more from each one
/// (`tag_decisions`). Both grow slowly, so neither swamps uncertainty.
pub fn review_impact(plays: u64, tag_decisions: u64) -> f64 {
    (1.0 + (plays as f64).ln_1p()) / (1.0 + tag_decisions as f64).sqrt()
}

/// A person's accept/reject of a tag: training data for the tenant's models.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// Who decided (`user:…` or `key:…`, as the audit log names them).
    pub by: String,
    pub at: Timestamp,
    pub accepted: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tag {
    pub name: TagName,
    /// Calibrated probability that the tag is right, 0–1.
    pub confidence: f64,
    pub source: TagSource,
    pub status: TagStatus,
    /// Evidence for people reviewing it (time ranges, frames, text).
    #[serde(default)]
    pub evidence: serde_json::Value,
    #[serde(default)]
    pub decisions: Vec<Decision>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn genres_become_genre_tags() {
        let tag = |g: &str| genre_tag(g).map(|t| t.to_string());
        assert_eq!(tag("Comedy").as_deref(), Some("genre/comedy"));
        assert_eq!(tag("Children's").as_deref(), Some("genre/childrens"));
        assert_eq!(tag("Film-Noir").as_deref(), Some("genre/film-noir"));
        assert_eq!(tag("Hip Hop").as_deref(), Some("genre/hip-hop"));
        assert_eq!(tag("Rock & Roll").as_deref(), Some("genre/rock-roll"));
        assert_eq!(tag("Électro").as_deref(), Some("genre/electro"));
        assert_eq!(tag("  ").as_deref(), None);
        assert_eq!(tag("&&").as_deref(), None);
    }

    #[test]
    fn tag_names_are_hierarchical_and_strict() {
        let t = TagName::parse("genre/rock/punk").unwrap();
        assert_eq!(t.ancestors().collect::<Vec<_>>(), ["genre", "genre/rock"]);
        for bad in [
            "",
            "Genre",
            "genre//rock",
            "/genre",
            "genre/",
            "gen re",
            "genre/rök",
        ] {
            assert!(TagName::parse(bad).is_err(), "{bad:?}");
        }
    }
}
