//! Artist and video metadata, following MVidarr's own model: an artist has a name, genres and
//! external ids; a video has a title, its artist, year, duration, directors, genres and external
//! ids (IMVDb, YouTube…).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::ids::ArtistId;

/// Identifiers of the same thing in other catalogues, e.g. `{"imvdb": "12345", "youtube": "dQw4w9WgXcQ"}`.
pub type ExternalIds = BTreeMap<String, String>;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Artist {
    pub id: ArtistId,
    pub name: String,
    #[serde(default)]
    pub genres: Vec<String>,
    #[serde(default)]
    pub external_ids: ExternalIds,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct VideoMetadata {
    pub title: Option<String>,
    pub artist: Option<ArtistId>,
    /// The artist's name as credited, kept even when no artist record exists yet.
    pub artist_name: Option<String>,
    pub year: Option<u16>,
    pub duration_seconds: Option<f64>,
    #[serde(default)]
    pub directors: Vec<String>,
    #[serde(default)]
    pub genres: Vec<String>,
    #[serde(default)]
    pub external_ids: ExternalIds,
}

impl VideoMetadata {
    /// Nothing is known: the record omits it.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}
