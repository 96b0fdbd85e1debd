//! A tenant's tag vocabulary: the tags it defines, their synonyms and thresholds. Hierarchy is
//! in the names themselves (`genre/rock/punk` is under `genre/rock`), so a tag's settings are
//! inherited from its nearest defined ancestor, and a synonym of a parent renames the whole
//! branch (`genre/hiphop` → `genre/hip-hop` turns `genre/hiphop/trap` into `genre/hip-hop/trap`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::tag::{TagName, Thresholds};

/// One defined tag.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TagDefinition {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Other names that mean this tag (proposals and hand tags under them land here).
    #[serde(default)]
    pub synonyms: Vec<TagName>,
    /// This tag's thresholds; `None` inherits the nearest ancestor's, then the tenant default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thresholds: Option<Thresholds>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Vocabulary {
    /// Thresholds for tags that neither they nor an ancestor define.
    #[serde(default)]
    pub default_thresholds: Thresholds,
    #[serde(default)]
    pub tags: BTreeMap<TagName, TagDefinition>,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum InvalidVocabulary {
    #[error("synonym {synonym} is a defined tag, or above one")]
    SynonymIsATag { synonym: String },
    #[error("synonym {synonym} is given for both {first} and {second}")]
    SynonymTwice {
        synonym: String,
        first: String,
        second: String,
    },
    #[error("{0}")]
    Thresholds(#[from] crate::tag::InvalidThresholds),
    #[error("a vocabulary holds at most {max} tags and synonyms (got {got})")]
    TooLarge { max: usize, got: usize },
    #[error("the vocabulary is {got} bytes stored; at most {max}")]
    TooManyBytes { got: usize, max: usize },
    #[error("the description of {tag} is {got} characters; at most {max}")]
    DescriptionTooLong { tag: String, got: usize, max: usize },
}

/// Tags plus synonyms a vocabulary may hold: it is read on every tagging, so it stays one item.
pub const MAX_VOCABULARY_NAMES: usize = 2000;
/// Its stored size: under DynamoDB's 400 KB item limit with room for the item's keys.
pub const MAX_VOCABULARY_BYTES: usize = 350 * 1024;
/// Characters a tag's description may have.
pub const MAX_DESCRIPTION_CHARS: usize = 100;

impl Vocabulary {
    /// Checks the rules a stored vocabulary keeps: no name is both a tag and a synonym, no
    /// synonym means two tags, thresholds are ordered, and the whole fits one item.
    pub fn validate(&self) -> Result<(), InvalidVocabulary> {
        let names = self.tags.len() + self.tags.values().map(|d| d.synonyms.len()).sum::<usize>();
        if names > MAX_VOCABULARY_NAMES {
            return Err(InvalidVocabulary::TooLarge {
                max: MAX_VOCABULARY_NAMES,
                got: names,
            });
        }
        let bytes = serde_json::to_vec(self).map_or(usize::MAX, |b| b.len());
        if bytes > MAX_VOCABULARY_BYTES {
            return Err(InvalidVocabulary::TooManyBytes {
                got: bytes,
                max: MAX_VOCABULARY_BYTES,
            });
        }
        let t = self.default_thresholds;
        Thresholds::new(t.accept, t.review)?;
        let mut owner: BTreeMap<&TagName, &TagName> = BTreeMap::new();
        for (name, def) in &self.tags {
            let chars = def.description.as_deref().map_or(0, |d| d.chars().count());
            if chars > MAX_DESCRIPTION_CHARS {
                return Err(InvalidVocabulary::DescriptionTooLong {
                    tag: name.to_string(),
                    got: chars,
                    max: MAX_DESCRIPTION_CHARS,
                });
            }
            if let Some(t) = def.thresholds {
                Thresholds::new(t.accept, t.review)?;
            }
            for synonym in &def.synonyms {
                // A synonym renames its branch: were it a tag, or above one (`genre` for
                // `genre/music`), that tag would be renamed too, and again on every reading.
                let under = format!("{synonym}/");
                if self
                    .tags
                    .keys()
                    .any(|t| t == synonym || t.as_str().starts_with(&under))
                {
                    return Err(InvalidVocabulary::SynonymIsATag {
                        synonym: synonym.to_string(),
                    });
                }
                if let Some(first) = owner.insert(synonym, name) {
                    return Err(InvalidVocabulary::SynonymTwice {
                        synonym: synonym.to_string(),
                        first: first.to_string(),
                        second: name.to_string(),
                    });
                }
            }
        }
        Ok(())
    }

    /// The name a tag is kept under: the longest prefix (whole segments) that is a synonym is
    /// replaced by its tag; a name with no synonym in it is its own.
    pub fn canonical(&self, name: &TagName) -> TagName {
        let full = name.as_str();
        let prefixes = name
            .ancestors()
            .map(|a| (a, &full[a.len()..]))
            .chain(std::iter::once((full, "")));
        let mut best = None;
        for (prefix, rest) in prefixes {
            if let Some(tag) = self.synonym_owner(prefix) {
                best = Some((tag, rest));
            }
        }
        match best {
            Some((tag, rest)) => TagName::parse(&format!("{tag}{rest}")).unwrap_or(name.clone()),
            None => name.clone(),
        }
    }

    fn synonym_owner(&self, name: &str) -> Option<&TagName> {
        self.tags
            .iter()
            .find(|(_, def)| def.synonyms.iter().any(|s| s.as_str() == name))
            .map(|(tag, _)| tag)
    }

    /// The thresholds that apply to `name`: its own, else its nearest defined ancestor's, else
    /// the tenant default.
    pub fn thresholds(&self, name: &TagName) -> Thresholds {
        let own = std::iter::once(name.as_str());
        let ancestors = name.ancestors().collect::<Vec<_>>().into_iter().rev();
        own.chain(ancestors)
            .filter_map(|n| TagName::parse(n).ok())
            .find_map(|n| self.tags.get(&n).and_then(|d| d.thresholds))
            .unwrap_or(self.default_thresholds)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> TagName {
        TagName::parse(s).unwrap()
    }

    fn vocabulary() -> Vocabulary {
        let mut v = Vocabulary::default();
        v.tags.insert(
            name("genre/hip-hop"),
            TagDefinition {
                description: None,
                synonyms: vec![name("genre/hiphop"), name("genre/rap")],
                thresholds: Some(Thresholds::new(0.8, 0.3).unwrap()),
            },
        );
        v.tags.insert(
            name("genre/hip-hop/trap"),
            TagDefinition {
                description: None,
                synonyms: vec![],
                thresholds: None,
            },
        );
        v.tags.insert(
            name("explicit"),
            TagDefinition {
                description: Some("needs an age gate".into()),
                synonyms: vec![name("nsfw")],
                thresholds: Some(Thresholds::new(0.97, 0.1).unwrap()),
            },
        );
        v
    }

    #[test]
    fn synonyms_rename_a_tag_and_its_whole_branch() {
        let v = vocabulary();
        assert_eq!(v.canonical(&name("nsfw")), name("explicit"));
        assert_eq!(v.canonical(&name("genre/rap")), name("genre/hip-hop"));
        assert_eq!(
            v.canonical(&name("genre/hiphop/trap")),
            name("genre/hip-hop/trap")
        );
        assert_eq!(v.canonical(&name("genre/rock")), name("genre/rock"));
        // A synonym matches whole segments only.
        assert_eq!(v.canonical(&name("genre/rapcore")), name("genre/rapcore"));
        // Naming is settled: the canonical name of a canonical name is itself.
        for n in [
            "nsfw",
            "genre/rap",
            "genre/hiphop/trap",
            "genre/hip-hop",
            "explicit",
        ] {
            let once = v.canonical(&name(n));
            assert_eq!(v.canonical(&once), once, "{n}");
        }
    }

    #[test]
    fn thresholds_are_inherited_from_the_nearest_defined_ancestor() {
        let v = vocabulary();
        assert_eq!(v.thresholds(&name("explicit")).accept, 0.97);
        assert_eq!(v.thresholds(&name("genre/hip-hop/trap")).accept, 0.8);
        assert_eq!(v.thresholds(&name("genre/hip-hop/trap/drill")).review, 0.3);
        assert_eq!(v.thresholds(&name("genre/rock")), Thresholds::default());
    }

    #[test]
    fn a_vocabulary_with_clashing_names_is_refused() {
        assert_eq!(vocabulary().validate(), Ok(()));
        let mut v = vocabulary();
        v.tags
            .get_mut(&name("explicit"))
            .unwrap()
            .synonyms
            .push(name("genre/rap"));
        assert!(matches!(
            v.validate(),
            Err(InvalidVocabulary::SynonymTwice { .. })
        ));
        let mut v = vocabulary();
        v.tags
            .get_mut(&name("explicit"))
            .unwrap()
            .synonyms
            .push(name("genre/hip-hop/trap"));
        assert!(matches!(
            v.validate(),
            Err(InvalidVocabulary::SynonymIsATag { .. })
        ));
        // A synonym above a defined tag would rename it, again on every reading.
        let mut v = Vocabulary::default();
        v.tags.insert(
            name("genre/music"),
            TagDefinition {
                description: None,
                synonyms: vec![name("genre")],
                thresholds: None,
            },
        );
        assert!(matches!(
            v.validate(),
            Err(InvalidVocabulary::SynonymIsATag { .. })
        ));
        let mut v = vocabulary();
        v.tags.get_mut(&name("explicit")).unwrap().description = Some("x".repeat(101));
        assert!(matches!(
            v.validate(),
            Err(InvalidVocabulary::DescriptionTooLong { .. })
        ));
        let mut v = vocabulary();
        v.default_thresholds = Thresholds {
            accept: 0.3,
            review: 0.6,
        };
        assert!(matches!(
            v.validate(),
            Err(InvalidVocabulary::Thresholds(_))
        ));
    }

    #[test]
    fn proposals_are_placed_by_their_thresholds() {
        use crate::tag::TagStatus;
        let t = Thresholds::new(0.9, 0.4).unwrap();
        assert_eq!(t.place(0.95), TagStatus::Applied);
        assert_eq!(t.place(0.9), TagStatus::Applied);
        assert_eq!(t.place(0.5), TagStatus::Review);
        assert_eq!(t.place(0.39), TagStatus::Hidden);
        assert!(Thresholds::new(0.5, 0.6).is_err());
        assert!(Thresholds::new(1.1, 0.6).is_err());
    }

    #[test]
    fn the_review_queue_puts_unsure_and_popular_first() {
        use crate::tag::{review_impact, review_priority, uncertainty};
        assert_eq!(uncertainty(0.5), 1.0);
        assert_eq!(uncertainty(1.0), 0.0);
        assert!((uncertainty(0.75) - 0.5).abs() < 1e-12);
        let popular = review_impact(1000, 0);
        let obscure = review_impact(0, 0);
        assert!(popular > obscure);
        assert!(review_impact(0, 100) < obscure);
        assert!(review_priority(0.5, obscure) > review_priority(0.95, popular));
    }
}
