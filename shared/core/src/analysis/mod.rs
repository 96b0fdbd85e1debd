//! Analysis documents: one per media per analyzer version, so re-analysis with a newer analyzer
//! is a new record beside the old one, never an overwrite.

use serde::{Deserialize, Serialize};

use crate::Timestamp;
use crate::ids::MediaId;

/// Which analyzer produced a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnalyzerKind {
    Probe,
    Scenes,
    Quality,
    Thumbnails,
    Text,
    Moderation,
    Audio,
    Fingerprint,
}

impl AnalyzerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AnalyzerKind::Probe => "probe",
            AnalyzerKind::Scenes => "scenes",
            AnalyzerKind::Quality => "quality",
            AnalyzerKind::Thumbnails => "thumbnails",
            AnalyzerKind::Text => "text",
            AnalyzerKind::Moderation => "moderation",
            AnalyzerKind::Audio => "audio",
            AnalyzerKind::Fingerprint => "fingerprint",
        }
    }
}

/// One analyzer's result for one media.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Analysis {
    pub media_id: MediaId,
    pub kind: AnalyzerKind,
    /// The analyzer's version; a new version is a new document.
    pub version: u32,
    pub created_at: Timestamp,
    /// The analyzer's output, schema owned by that analyzer (`null` when it failed).
    pub result: serde_json::Value,
    /// Why the analyzer failed, when it did: the media's other analyses stand (a partial
    /// analysis), and this record says which part is missing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Analysis {
    /// A successful analyzer's document.
    pub fn of<T: Serialize>(
        media_id: MediaId,
        kind: AnalyzerKind,
        version: u32,
        created_at: Timestamp,
        result: &T,
    ) -> Analysis {
        let result = serde_json::to_value(result).unwrap_or_default();
        Analysis {
            media_id,
            kind,
            version,
            created_at,
            result,
            error: None,
        }
    }

    /// The record of an analyzer that failed: no result, and why.
    pub fn failed(
        media_id: MediaId,
        kind: AnalyzerKind,
        version: u32,
        created_at: Timestamp,
        error: impl Into<String>,
    ) -> Analysis {
        Analysis {
            error: Some(error.into()),
            ..Analysis::of(
                media_id,
                kind,
                version,
                created_at,
                &serde_json::Value::Null,
            )
        }
    }
}

/// The technical facts of a media file, as read by the probe.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Probe {
    /// Container format names, as the demuxer reports them (e.g. `mov,mp4,m4a,3gp,3g2,mj2`).
    pub container: String,
    pub duration_seconds: Option<f64>,
    /// Overall bit rate in bits per second.
    pub bit_rate: Option<u64>,
    pub video: Vec<VideoStream>,
    pub audio: Vec<AudioStream>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VideoStream {
    pub index: u32,
    pub codec: String,
    pub profile: Option<String>,
    pub pixel_format: Option<String>,
    pub width: u32,
    pub height: u32,
    pub fps: Option<f64>,
    pub bit_rate: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AudioStream {
    pub index: u32,
    pub codec: String,
    pub sample_rate: Option<u32>,
    pub channels: Option<u32>,
    pub channel_layout: Option<String>,
    pub bit_rate: Option<u64>,
}

impl Probe {
    /// The probe analyzer's version: bump when the parsed fields change meaning.
    pub const VERSION: u32 = 1;
}

/// The newest successful document of `kind` among `analyses` that decodes as `T`, with its
/// analyzer version; a failed or undecodable document counts as missing (an older one that
/// decodes is used instead).
pub fn newest<T: serde::de::DeserializeOwned>(
    analyses: &[Analysis],
    kind: AnalyzerKind,
) -> Option<(T, u32)> {
    let mut candidates: Vec<&Analysis> = analyses
        .iter()
        .filter(|a| a.kind == kind && a.error.is_none())
        .collect();
    candidates.sort_by_key(|a| std::cmp::Reverse((a.version, a.created_at)));
    candidates
        .into_iter()
        .find_map(|a| T::deserialize(&a.result).ok().map(|t| (t, a.version)))
}

mod findings;
pub use findings::*;
