//! What the tag step proposes for one media, pure: the analyzers' tags ([`crate::rules`]),
//! genres from its metadata, and the tenant's learned heads; each named as the tenant's
//! vocabulary names it and placed (applied, review, hidden) by that tag's thresholds.

use std::collections::{BTreeMap, BTreeSet};

use mvidarr_core::analysis::{
    Analysis, AnalyzerKind, AudioProfile, Moderation, OnScreenText, Probe, Quality, Scenes, newest,
};
use mvidarr_core::fingerprint::{FingerprintSummary, Relation};
use mvidarr_core::metadata::VideoMetadata;
use mvidarr_core::repo::Duplicate;
use mvidarr_core::tag::{Tag, TagName, TagSource, TagStatus, genre_tag, review_impact};
use mvidarr_core::vocabulary::Vocabulary;
use mvidarr_tags::{FeatureSpec, Signals, features};
use serde_json::json;

use crate::heads::LoadedHead;
use crate::rules::{Analyzed, PROPOSE_FROM, RuleInputs, analyzer_tags};

/// The newest usable analysis of each analyzer, decoded.
#[derive(Debug, Default)]
pub struct DecodedAnalyses {
    probe: Option<(Probe, u32)>,
    scenes: Option<(Scenes, u32)>,
    quality: Option<(Quality, u32)>,
    audio: Option<(AudioProfile, u32)>,
    moderation: Option<(Moderation, u32)>,
    text: Option<(OnScreenText, u32)>,
}

impl DecodedAnalyses {
    pub fn new(analyses: &[Analysis]) -> Self {
        Self {
            probe: newest(analyses, AnalyzerKind::Probe),
            scenes: newest(analyses, AnalyzerKind::Scenes),
            quality: newest(analyses, AnalyzerKind::Quality),
            audio: newest(analyses, AnalyzerKind::Audio),
            moderation: newest(analyses, AnalyzerKind::Moderation),
            text: newest(analyses, AnalyzerKind::Text),
        }
    }

    pub fn has_probe(&self) -> bool {
        self.probe.is_some()
    }

    pub fn rule_inputs(&self) -> RuleInputs<'_> {
        fn at<T>(d: &Option<(T, u32)>) -> Option<Analyzed<'_, T>> {
            d.as_ref().map(|(t, v)| Analyzed::new(t, *v))
        }
        RuleInputs {
            probe: at(&self.probe),
            scenes: at(&self.scenes),
            quality: at(&self.quality),
            audio: at(&self.audio),
            moderation: at(&self.moderation),
            text: at(&self.text),
        }
    }
}

/// Everything known about one media.
pub struct MediaFacts<'a> {
    pub analyses: &'a [Analysis],
    pub metadata: &'a VideoMetadata,
    /// Its collaborative embedding, when the recommender knows it.
    pub embedding: Option<&'a [f32]>,
    /// How many people engaged with it (0 for a new upload).
    pub audience: u64,
    /// Which embedding `embedding` is (`reco vN`): a head reads it only if it was trained on
    /// the same one (another version's factors are in another space).
    pub embedding_source: Option<String>,
    /// The tenant's other media sharing its material, best first (see [`duplicate_tag`]).
    pub duplicates: &'a [Duplicate],
}

impl MediaFacts<'_> {
    /// The embedding a head reading `spec` may be fed: only the one it was trained on.
    pub fn embedding_for(&self, spec: &FeatureSpec) -> Option<&[f32]> {
        match (&spec.embedding_source, &self.embedding_source) {
            (Some(wanted), Some(have)) if wanted == have => self.embedding,
            _ => None,
        }
    }
}

/// Whether people's decisions on `name` train a head: not for tags the probe establishes with
/// certainty, nor for duplicates (a fact about another media, not in this one's features).
pub fn is_learnable(name: &TagName) -> bool {
    const FIXED: [&str; 4] = ["resolution", "orientation", "audio/silent", "duplicate"];
    !FIXED
        .iter()
        .any(|f| name.as_str() == *f || name.as_str().starts_with(&format!("{f}/")))
}

/// A proposal and how much a person's decision on it is worth (it orders the review queue).
#[derive(Debug, Clone, PartialEq)]
pub struct Proposal {
    pub tag: Tag,
    pub impact: f64,
}

/// Genres the metadata states (an import or a person said so): certain.
fn metadata_tags(metadata: &VideoMetadata) -> Vec<Tag> {
    metadata
        .genres
        .iter()
        .filter_map(|g| {
            genre_tag(g).map(|name| Tag {
                name,
                confidence: 1.0,
                source: TagSource::Import {
                    source: "metadata".into(),
                },
                status: TagStatus::Review,
                evidence: json!({ "metadata_genre": g }),
                decisions: vec![],
            })
        })
        .collect()
}

/// A media that is another one again: `duplicate` when nearly all of each is in the other (a
/// re-upload or re-encode), `duplicate/excerpt` when nearly all of it is in a longer one. The
/// confidence is the fingerprint comparison's score (the share of material found), and the
/// evidence names the other media and the overlap of pictures and audio.
pub fn duplicate_tag(duplicates: &[Duplicate]) -> Option<Tag> {
    let (best, name) = duplicates
        .iter()
        .find_map(|d| match d.similarity.relation {
            Relation::Same => Some((d, "duplicate")),
            Relation::PartOf => Some((d, "duplicate/excerpt")),
            Relation::Contains | Relation::Overlaps => None,
        })?;
    Some(Tag {
        name: TagName::parse(name).expect("fixed tag names are valid"),
        confidence: best.similarity.score.clamp(0.0, 1.0),
        source: TagSource::Analyzer {
            name: AnalyzerKind::Fingerprint.as_str().into(),
            version: FingerprintSummary::VERSION,
        },
        status: TagStatus::Review,
        evidence: json!({
            "of": best.media_id,
            "score": best.similarity.score,
            "relation": best.similarity.relation,
            "pictures": best.similarity.pictures,
            "audio": best.similarity.audio,
        }),
        decisions: vec![],
    })
}

/// Strongest features listed as a learned tag's evidence.
const EVIDENCE_FEATURES: usize = 5;

/// A learned head's proposal, if its confidence reaches `floor`.
pub fn head_tag(head: &LoadedHead, facts: &MediaFacts<'_>, floor: f64) -> Option<Tag> {
    let signals = Signals {
        analyses: facts.analyses,
        metadata: facts.metadata,
        embedding: facts.embedding_for(&head.head.spec),
    };
    let x = features(&head.head.spec, &signals);
    let confidence = head.head.confidence(&x).ok()?;
    (confidence >= floor).then(|| Tag {
        name: head.head.tag.clone(),
        confidence,
        source: TagSource::Model {
            name: head.family.clone(),
            version: head.version.to_string(),
        },
        status: TagStatus::Review,
        evidence: json!({
            "model": head.family,
            "version": head.version,
            "strongest_features": head.head.strongest_features(&x, EVIDENCE_FEATURES),
        }),
        decisions: vec![],
    })
}

/// Every proposal for one media, named and placed by the vocabulary. Where two sources name
/// the same tag, the surer one stands. A head's proposal below [`PROPOSE_FROM`] is left out
/// unless the media already has that tag (`existing`): then it is kept, so a stored proposal
/// a better head now doubts moves down instead of staying where the old head put it.
pub fn propose(
    facts: &MediaFacts<'_>,
    decoded: &DecodedAnalyses,
    heads: &[LoadedHead],
    vocabulary: &Vocabulary,
    existing: &BTreeSet<TagName>,
) -> Vec<Proposal> {
    let learned = heads.iter().filter_map(|h| {
        let floor = if existing.contains(&vocabulary.canonical(&h.head.tag)) {
            0.0
        } else {
            PROPOSE_FROM
        };
        head_tag(h, facts, floor).map(|t| (t, h.decisions))
    });
    // A rule's or import's proposal is worth as much to review as the tag's head says: the
    // decisions it has learned from.
    let decisions: BTreeMap<TagName, u64> = heads
        .iter()
        .map(|h| (vocabulary.canonical(&h.head.tag), h.decisions))
        .collect();
    let fixed = analyzer_tags(&decoded.rule_inputs())
        .into_iter()
        .chain(metadata_tags(facts.metadata))
        .chain(duplicate_tag(facts.duplicates))
        .map(|t| {
            let learned = decisions
                .get(&vocabulary.canonical(&t.name))
                .copied()
                .unwrap_or(0);
            (t, learned)
        });
    let mut by_name: BTreeMap<TagName, (Tag, u64)> = BTreeMap::new();
    for (mut tag, decisions) in fixed.chain(learned) {
        tag.name = vocabulary.canonical(&tag.name);
        match by_name.get(&tag.name) {
            Some((kept, _)) if kept.confidence >= tag.confidence => {}
            _ => {
                by_name.insert(tag.name.clone(), (tag, decisions));
            }
        }
    }
    by_name
        .into_values()
        .map(|(mut tag, decisions)| {
            tag.status = vocabulary.thresholds(&tag.name).place(tag.confidence);
            Proposal {
                impact: review_impact(facts.audience, decisions),
                tag,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_re_upload_or_an_excerpt_is_tagged_with_the_other_media_as_evidence() {
        use mvidarr_core::fingerprint::{Overlap, Similarity};
        use mvidarr_core::ids::MediaId;
        let other = MediaId::generate();
        let found = |relation, score| Duplicate {
            media_id: other,
            similarity: Similarity {
                score,
                relation,
                pictures: Some(Overlap {
                    of_this: score,
                    of_other: score,
                }),
                audio: None,
            },
        };
        let tag = duplicate_tag(&[found(Relation::Same, 0.97)]).unwrap();
        assert_eq!((tag.name.as_str(), tag.confidence), ("duplicate", 0.97));
        assert_eq!(tag.evidence["of"], json!(other));
        let tag = duplicate_tag(&[found(Relation::PartOf, 0.9)]).unwrap();
        assert_eq!(tag.name.as_str(), "duplicate/excerpt");
        // The longer one, or one merely sharing some material, is not a duplicate.
        assert!(duplicate_tag(&[found(Relation::Contains, 0.9)]).is_none());
        assert!(duplicate_tag(&[found(Relation::Overlaps, 0.5)]).is_none());
        assert!(duplicate_tag(&[]).is_none());
    }

    #[test]
    fn certain_and_relational_tags_are_not_learned() {
        let learnable = |n: &str| is_learnable(&TagName::parse(n).unwrap());
        assert!(learnable("live") && learnable("genre/rock") && learnable("audio/instrumental"));
        assert!(!learnable("resolution/sd") && !learnable("orientation/portrait"));
        assert!(!learnable("audio/silent") && !learnable("duplicate"));
        assert!(!learnable("duplicate/excerpt"));
        assert!(learnable("duplicates-of-nothing"), "whole segments only");
    }

    #[test]
    fn a_head_reads_only_the_embedding_it_was_trained_on() {
        let metadata = VideoMetadata::default();
        let vector = [0.5f32; 4];
        let facts = MediaFacts {
            analyses: &[],
            metadata: &metadata,
            embedding: Some(&vector),
            audience: 0,
            embedding_source: Some("reco v3".into()),
            duplicates: &[],
        };
        let spec = |source: Option<&str>| FeatureSpec {
            embedding_dim: 4,
            embedding_source: source.map(str::to_owned),
            ..FeatureSpec::default()
        };
        assert!(facts.embedding_for(&spec(Some("reco v3"))).is_some());
        assert!(facts.embedding_for(&spec(Some("reco v2"))).is_none());
        assert!(facts.embedding_for(&spec(None)).is_none());
    }

    #[test]
    fn proposals_are_named_by_the_vocabulary_and_placed_by_thresholds() {
        use mvidarr_core::tag::Thresholds;
        use mvidarr_core::vocabulary::TagDefinition;
        let metadata = VideoMetadata {
            genres: vec!["Hip Hop".into(), "Rap".into()],
            ..Default::default()
        };
        let facts = MediaFacts {
            analyses: &[],
            metadata: &metadata,
            embedding: None,
            audience: 10,
            embedding_source: None,
            duplicates: &[],
        };
        let mut vocabulary = Vocabulary::default();
        vocabulary.tags.insert(
            TagName::parse("genre/hip-hop").unwrap(),
            TagDefinition {
                description: None,
                synonyms: vec![TagName::parse("genre/rap").unwrap()],
                thresholds: Some(Thresholds::new(1.0, 0.5).unwrap()),
            },
        );
        let proposals = propose(
            &facts,
            &DecodedAnalyses::default(),
            &[],
            &vocabulary,
            &BTreeSet::new(),
        );
        assert_eq!(proposals.len(), 1, "rap is hip-hop: one tag");
        let p = &proposals[0];
        assert_eq!(p.tag.name.as_str(), "genre/hip-hop");
        assert_eq!(p.tag.status, TagStatus::Applied);
        assert!(p.impact > review_impact(0, 0));
    }
}
