//! The Media record and its status machine:
//! `Uploaded → Validating → Analyzing → Tagging → Indexed`, or `Failed{step, reason}` /
//! `Quarantined{reason}`. Transitions are a total function that returns an error for an illegal
//! move; nothing panics on a surprising event (events arrive duplicated and out of order).

use serde::{Deserialize, Serialize};

use crate::Timestamp;
use crate::analysis::Probe;
use crate::external::ExternalId;
use crate::ids::{MediaId, TenantId};
use crate::metadata::VideoMetadata;

/// The pipeline step a failure happened in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    Validate,
    Analyze,
    Tag,
    Index,
}

impl Step {
    pub fn as_str(self) -> &'static str {
        match self {
            Step::Validate => "validate",
            Step::Analyze => "analyze",
            Step::Tag => "tag",
            Step::Index => "index",
        }
    }

    pub fn parse(s: &str) -> Option<Step> {
        [Step::Validate, Step::Analyze, Step::Tag, Step::Index]
            .into_iter()
            .find(|step| step.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum MediaStatus {
    Uploaded,
    Validating,
    Analyzing,
    Tagging,
    Indexed,
    Failed { step: Step, reason: String },
    Quarantined { reason: String },
}

impl MediaStatus {
    /// The status name used in the API and in the by-status index.
    pub fn name(&self) -> &'static str {
        match self {
            MediaStatus::Uploaded => "uploaded",
            MediaStatus::Validating => "validating",
            MediaStatus::Analyzing => "analyzing",
            MediaStatus::Tagging => "tagging",
            MediaStatus::Indexed => "indexed",
            MediaStatus::Failed { .. } => "failed",
            MediaStatus::Quarantined { .. } => "quarantined",
        }
    }

    pub const NAMES: [&'static str; 7] = [
        "uploaded",
        "validating",
        "analyzing",
        "tagging",
        "indexed",
        "failed",
        "quarantined",
    ];

    /// Final states never change again.
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            MediaStatus::Indexed | MediaStatus::Failed { .. } | MediaStatus::Quarantined { .. }
        )
    }

    pub fn reason(&self) -> Option<&str> {
        match self {
            MediaStatus::Failed { reason, .. } | MediaStatus::Quarantined { reason } => {
                Some(reason)
            }
            _ => None,
        }
    }

    /// Position along the happy path; lets a redelivered step see that its work is done.
    fn rank(&self) -> u8 {
        match self {
            MediaStatus::Uploaded => 0,
            MediaStatus::Validating => 1,
            MediaStatus::Analyzing => 2,
            MediaStatus::Tagging => 3,
            MediaStatus::Indexed => 4,
            MediaStatus::Failed { .. } | MediaStatus::Quarantined { .. } => 5,
        }
    }

    /// Whether applying `event` here would be a replay of a move already made (the status is
    /// already at or past where the event leads). Handlers use this to acknowledge duplicates.
    pub fn already_past(&self, event: &MediaEvent) -> bool {
        let target = match event {
            MediaEvent::StartValidation => MediaStatus::Validating,
            MediaEvent::Validated => MediaStatus::Analyzing,
            MediaEvent::Analyzed => MediaStatus::Tagging,
            MediaEvent::Indexed => MediaStatus::Indexed,
            MediaEvent::Rejected { .. } | MediaEvent::StepFailed { .. } => {
                return self.is_final();
            }
        };
        self.rank() >= target.rank()
    }
}

/// What happened to a media.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum MediaEvent {
    StartValidation,
    Validated,
    Rejected {
        reason: String,
    },
    Analyzed,
    /// Tags are proposed and the media is in the indexes: it is ready.
    Indexed,
    StepFailed {
        step: Step,
        reason: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("illegal media transition: {event:?} while {from}")]
pub struct IllegalTransition {
    pub from: &'static str,
    pub event: MediaEvent,
}

/// The status machine. Pure: the caller persists the result with a version check.
pub fn transition(from: &MediaStatus, event: MediaEvent) -> Result<MediaStatus, IllegalTransition> {
    use MediaEvent as E;
    use MediaStatus as S;
    let next = match (from, &event) {
        (S::Uploaded, E::StartValidation) => S::Validating,
        (S::Validating, E::Validated) => S::Analyzing,
        (S::Uploaded | S::Validating, E::Rejected { reason }) => S::Quarantined {
            reason: reason.clone(),
        },
        (S::Analyzing, E::Analyzed) => S::Tagging,
        (S::Tagging, E::Indexed) => S::Indexed,
        (s, E::StepFailed { step, reason }) if !s.is_final() => S::Failed {
            step: *step,
            reason: reason.clone(),
        },
        _ => {
            return Err(IllegalTransition {
                from: from.name(),
                event,
            });
        }
    };
    Ok(next)
}

/// An uploaded video as the platform tracks it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Media {
    pub id: MediaId,
    pub tenant: TenantId,
    pub filename: String,
    pub content_type: String,
    /// Bytes, as stored.
    pub size: u64,
    /// Where the bytes are now (moves to the quarantine prefix on rejection).
    pub blob_key: String,
    /// The bucket and entity tag of the object version this record was made from.
    pub bucket: String,
    pub etag: String,
    pub status: MediaStatus,
    /// Technical facts read at validation; the `probe` analysis document holds the same.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probe: Option<Probe>,
    /// What the video is: title, artist, year, genres… (empty for an upload nobody described).
    #[serde(default, skip_serializing_if = "VideoMetadata::is_empty")]
    pub metadata: VideoMetadata,
    /// The tenant's own id for this media (a catalogue or dataset id), unique within the
    /// tenant; always a valid [`ExternalId`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// Optimistic-concurrency version of the stored record; bumped on every write.
    #[serde(default)]
    pub version: u64,
}

/// A media known from a catalogue or dataset by its metadata, before any video exists.
#[derive(Debug, Clone, PartialEq)]
pub struct CatalogueEntry {
    pub external_id: ExternalId,
    pub metadata: VideoMetadata,
}

impl Media {
    /// A *catalogue entry*: a media known only by its metadata, imported from a dataset or a
    /// client's catalogue, with **no video bytes** — size 0, an empty `blob_key`, `bucket`,
    /// `etag`, `filename` and `content_type`, and no probe. It is `Indexed` from the start
    /// (nothing is left for the pipeline to do, and recommendations may name it), so code that
    /// reads the bytes must check [`Media::has_video`] first. If the video is uploaded later,
    /// it arrives as a media of its own.
    pub fn catalogue_entry(tenant: TenantId, entry: CatalogueEntry, now: Timestamp) -> Media {
        Media {
            id: MediaId::generate(),
            tenant,
            filename: String::new(),
            content_type: String::new(),
            size: 0,
            blob_key: String::new(),
            bucket: String::new(),
            etag: String::new(),
            status: MediaStatus::Indexed,
            probe: None,
            metadata: entry.metadata,
            external_id: Some(entry.external_id.into_string()),
            created_at: now,
            updated_at: now,
            version: 0,
        }
    }

    /// Whether video bytes stand behind this record (false for a catalogue entry).
    pub fn has_video(&self) -> bool {
        !self.blob_key.is_empty()
    }

    /// Apply an event: the new status, a fresh `updated_at`. The version is the repository's job.
    pub fn apply(&mut self, event: MediaEvent, now: Timestamp) -> Result<(), IllegalTransition> {
        self.status = transition(&self.status, event)?;
        self.updated_at = now;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use MediaEvent as E;
    use MediaStatus as S;

    fn failed() -> S {
        S::Failed {
            step: Step::Analyze,
            reason: "x".into(),
        }
    }
    fn quarantined() -> S {
        S::Quarantined { reason: "x".into() }
    }
    fn all_states() -> Vec<S> {
        vec![
            S::Uploaded,
            S::Validating,
            S::Analyzing,
            S::Tagging,
            S::Indexed,
            failed(),
            quarantined(),
        ]
    }
    fn all_events() -> Vec<E> {
        vec![
            E::StartValidation,
            E::Validated,
            E::Rejected {
                reason: "bad".into(),
            },
            E::Analyzed,
            E::Indexed,
            E::StepFailed {
                step: Step::Tag,
                reason: "boom".into(),
            },
        ]
    }

    #[test]
    fn happy_path_reaches_indexed() {
        let mut s = S::Uploaded;
        for e in [E::StartValidation, E::Validated, E::Analyzed, E::Indexed] {
            s = transition(&s, e).unwrap();
        }
        assert_eq!(s, S::Indexed);
    }

    #[test]
    fn rejection_quarantines_only_before_analysis() {
        let reject = E::Rejected {
            reason: "zero bytes".into(),
        };
        assert_eq!(
            transition(&S::Validating, reject.clone()).unwrap(),
            S::Quarantined {
                reason: "zero bytes".into()
            }
        );
        assert!(transition(&S::Analyzing, reject).is_err());
    }

    #[test]
    fn final_states_accept_no_event() {
        for s in all_states().into_iter().filter(S::is_final) {
            for e in all_events() {
                assert!(transition(&s, e.clone()).is_err(), "{s:?} accepted {e:?}");
            }
        }
    }

    #[test]
    fn every_non_final_state_can_fail_with_its_reason() {
        for s in all_states().into_iter().filter(|s| !s.is_final()) {
            let next = transition(
                &s,
                E::StepFailed {
                    step: Step::Analyze,
                    reason: "ffmpeg crashed".into(),
                },
            )
            .unwrap();
            assert_eq!(next.reason(), Some("ffmpeg crashed"));
            assert_eq!(next.name(), "failed");
        }
    }

    #[test]
    fn the_machine_is_total_and_never_skips_a_step() {
        // Exhaustively: every (state, event) pair either errors or moves exactly one step on.
        for s in all_states() {
            for e in all_events() {
                if let Ok(next) = transition(&s, e.clone()) {
                    assert!(
                        next.is_final() || next.rank() == s.rank() + 1,
                        "{s:?} + {e:?} -> {next:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn replays_are_recognised_as_already_past() {
        assert!(S::Analyzing.already_past(&E::Validated));
        assert!(S::Indexed.already_past(&E::Analyzed));
        assert!(!S::Validating.already_past(&E::Validated));
        assert!(failed().already_past(&E::StepFailed {
            step: Step::Tag,
            reason: "again".into()
        }));
    }

    #[test]
    fn a_catalogue_entry_is_indexed_metadata_without_video() {
        let entry = CatalogueEntry {
            external_id: ExternalId::parse("242").unwrap(),
            metadata: VideoMetadata {
                title: Some("Kolya (1996)".into()),
                year: Some(1996),
                genres: vec!["Comedy".into()],
                ..VideoMetadata::default()
            },
        };
        let now = chrono::Utc::now();
        let media = Media::catalogue_entry(TenantId::generate(), entry.clone(), now);
        assert_eq!(media.status, S::Indexed);
        assert_eq!((media.size, media.blob_key.as_str()), (0, ""));
        assert!(!media.has_video());
        assert_eq!(media.external_id.as_deref(), Some("242"));
        assert_eq!(media.metadata, entry.metadata);
        // It round-trips, and records written before metadata existed still read.
        let json = serde_json::to_value(&media).unwrap();
        assert_eq!(
            serde_json::from_value::<Media>(json.clone()).unwrap(),
            media
        );
        let mut old = json;
        let fields = old.as_object_mut().unwrap();
        fields.remove("metadata");
        fields.remove("external_id");
        let read: Media = serde_json::from_value(old).unwrap();
        assert!(read.metadata.is_empty() && read.external_id.is_none());
    }

    #[test]
    fn status_serializes_with_its_name_and_reason() {
        let json = serde_json::to_value(failed()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"state": "failed", "step": "analyze", "reason": "x"})
        );
        for (s, name) in all_states().iter().zip(S::NAMES) {
            assert_eq!(s.name(), name);
        }
    }
}
