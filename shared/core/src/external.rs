//! External ids: the name a record has in another system (a dataset, a client's catalogue, an
//! app's user table), and references that name a record either by our id or by that name.
//!
//! A reference is written `01J…` (our ULID) or `ext:<external id>`; the `ext:` prefix cannot
//! start a ULID, so the two never overlap.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::ids::InvalidId;

/// The most characters an external id may have.
pub const MAX_EXTERNAL_ID_CHARS: usize = 128;

/// How a reference to a record by its external id starts.
pub const EXTERNAL_PREFIX: &str = "ext:";

/// A record's id in another system: 1–128 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ExternalId(String);

/// A string that is not a valid external id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid external id {value:?}: expected 1-{MAX_EXTERNAL_ID_CHARS} characters without control characters"
)]
pub struct InvalidExternalId {
    pub value: String,
}

impl ExternalId {
    pub fn parse(value: impl Into<String>) -> Result<Self, InvalidExternalId> {
        let value = value.into();
        let chars = value.chars().count();
        if chars == 0 || chars > MAX_EXTERNAL_ID_CHARS || value.chars().any(char::is_control) {
            return Err(InvalidExternalId { value });
        }
        Ok(Self(value))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for ExternalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for ExternalId {
    type Err = InvalidExternalId;
    fn from_str(s: &str) -> Result<Self, InvalidExternalId> {
        Self::parse(s)
    }
}

impl Serialize for ExternalId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for ExternalId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Self::parse(String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// A record named by our id or by its external id (`ext:…`), as clients write it in paths
/// and event bodies. Which record it names, if any, is the repository's question.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ExternalRef<I> {
    Id(I),
    External(ExternalId),
}

/// A string that is neither an id of the expected kind nor `ext:<external id>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidRef {
    #[error(
        "invalid {kind} reference {value:?}: expected a 26-character ULID or ext:<external id>"
    )]
    Id { kind: &'static str, value: String },
    #[error(transparent)]
    External(#[from] InvalidExternalId),
}

impl<I: FromStr<Err = InvalidId>> FromStr for ExternalRef<I> {
    type Err = InvalidRef;
    fn from_str(s: &str) -> Result<Self, InvalidRef> {
        match s.strip_prefix(EXTERNAL_PREFIX) {
            Some(external) => Ok(ExternalRef::External(ExternalId::parse(external)?)),
            None => s
                .parse()
                .map(ExternalRef::Id)
                .map_err(|e: InvalidId| InvalidRef::Id {
                    kind: e.kind,
                    value: e.value,
                }),
        }
    }
}

impl<I: fmt::Display> fmt::Display for ExternalRef<I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExternalRef::Id(id) => id.fmt(f),
            ExternalRef::External(ext) => write!(f, "{EXTERNAL_PREFIX}{ext}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{MediaId, ProfileId};

    #[test]
    fn a_reference_is_an_id_or_an_external_id() {
        let id = MediaId::generate();
        assert_eq!(
            id.to_string().parse::<ExternalRef<MediaId>>(),
            Ok(ExternalRef::Id(id))
        );
        assert_eq!(
            "ext:tt0111161".parse::<ExternalRef<MediaId>>(),
            Ok(ExternalRef::External(
                ExternalId::parse("tt0111161").unwrap()
            ))
        );
        // Anything after the prefix is the external id, colons included.
        let r: ExternalRef<ProfileId> = "ext:app:user:42".parse().unwrap();
        assert_eq!(r.to_string(), "ext:app:user:42");
        assert_eq!(ExternalRef::Id(id).to_string(), id.to_string());
    }

    #[test]
    fn bad_references_are_refused_with_their_kind() {
        let err = "42".parse::<ExternalRef<ProfileId>>().unwrap_err();
        assert_eq!(
            err,
            InvalidRef::Id {
                kind: "profile",
                value: "42".into()
            }
        );
        assert!(err.to_string().contains("ext:<external id>"), "{err}");
        for bad in ["ext:", "EXT:1", "ext:a\nb", ""] {
            assert!(bad.parse::<ExternalRef<MediaId>>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn external_ids_are_1_to_128_characters_without_control_characters() {
        assert!(ExternalId::parse("x").is_ok());
        assert!(
            ExternalId::parse("é".repeat(128)).is_ok(),
            "characters, not bytes"
        );
        assert!(ExternalId::parse("x".repeat(129)).is_err());
        assert!(ExternalId::parse("").is_err());
        assert!(ExternalId::parse("a\tb").is_err());
        assert!(ExternalId::parse("a\u{7f}").is_err());
        assert!(ExternalId::parse("with space/and slash").is_ok());
    }

    #[test]
    fn external_ids_deserialize_only_when_valid() {
        assert_eq!(
            serde_json::from_str::<ExternalId>("\"u1\"")
                .unwrap()
                .as_str(),
            "u1"
        );
        assert!(serde_json::from_str::<ExternalId>("\"\"").is_err());
    }
}
