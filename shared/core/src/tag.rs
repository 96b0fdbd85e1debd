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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TagStatus {
    Proposed,
    Accepted,
    Rejected,
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
