//! The analytics record: one row per fact, whoever reported it. Client events (what a tenant's
//! app posts to `POST /v1/events`) and the platform's own events (uploads, analyses, tag
//! decisions, API calls) become the same [`AnalyticsEvent`], travel the same events queue in
//! [`EventBatch`]es, and land in the same Parquet files and rollups.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::Timestamp;
use crate::event::{EventKind, StoredEvent};
use crate::ids::{MediaId, ProfileId, TenantId};

/// What happened. Client kinds come from tenants' apps; the rest the platform records itself
/// (a client posting one of those is refused: only the platform knows they happened).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AnalyticsKind {
    Client(EventKind),
    /// A media was accepted for analysis (its upload passed validation).
    Upload,
    /// An upload was refused and kept aside.
    Quarantine,
    /// The pipeline finished with a media: `ok` says whether it succeeded, `duration_ms` how
    /// long it took from upload to the end.
    AnalysisDone,
    /// A person accepted or rejected a tag (`tag`, `ok` = accepted).
    TagDecision,
    /// A search of the catalogue through the API.
    Search,
    /// An API request: `route`, `status`, `duration_ms` (the usage that is metered).
    ApiCall,
}

impl AnalyticsKind {
    pub const PLATFORM: [AnalyticsKind; 6] = [
        AnalyticsKind::Upload,
        AnalyticsKind::Quarantine,
        AnalyticsKind::AnalysisDone,
        AnalyticsKind::TagDecision,
        AnalyticsKind::Search,
        AnalyticsKind::ApiCall,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AnalyticsKind::Client(kind) => kind.as_str(),
            AnalyticsKind::Upload => "upload",
            AnalyticsKind::Quarantine => "quarantine",
            AnalyticsKind::AnalysisDone => "analysis_done",
            AnalyticsKind::TagDecision => "tag_decision",
            AnalyticsKind::Search => "search",
            AnalyticsKind::ApiCall => "api_call",
        }
    }

    pub fn parse(s: &str) -> Option<AnalyticsKind> {
        EventKind::parse(s)
            .ok()
            .map(AnalyticsKind::Client)
            .or_else(|| Self::PLATFORM.into_iter().find(|k| k.as_str() == s))
    }

    /// Whether only the platform records this kind.
    pub fn is_platform(self) -> bool {
        !matches!(self, AnalyticsKind::Client(_))
    }
}

impl fmt::Display for AnalyticsKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for AnalyticsKind {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for AnalyticsKind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Self::parse(&s)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown analytics kind {s:?}")))
    }
}

/// The most watch time one play or completion may report: a day.
pub const MAX_WATCH_MS: u64 = 24 * 3600 * 1000;

/// One fact, as queued, stored in Parquet and counted in rollups. The tenant is its batch's.
/// Fields a kind does not use stay `None` (columns in Parquet, so reports need no JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnalyticsEvent {
    /// Unique within the tenant: `client:{id}` for a client's event, `{kind}:{subject}` for
    /// the platform's, so a repeated report of one fact is one event.
    pub id: String,
    pub kind: AnalyticsKind,
    pub at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media: Option<MediaId>,
    /// The tenant's profile the event is about (client events).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<ProfileId>,
    /// Who reported or did it (`user:…`, `key:…`, `system:…`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    /// How long the media was watched (plays, completions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watch_ms: Option<u64>,
    /// How long it took (analyses, API calls).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    /// Whether it succeeded (analyses) or was accepted (tag decisions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ok: Option<bool>,
    /// The HTTP status of an API call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// The route template of an API call (`/v1/media/{id}`), never the concrete path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
    /// The tag of a tag decision; the quarantine reason of a quarantine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub props: Map<String, Value>,
}

impl AnalyticsEvent {
    /// A platform event with nothing but its kind, id and time; the builders below fill in
    /// the rest.
    pub fn platform(kind: AnalyticsKind, id: impl Into<String>, at: Timestamp) -> Self {
        Self {
            id: id.into(),
            kind,
            at,
            media: None,
            user: None,
            actor: None,
            watch_ms: None,
            duration_ms: None,
            ok: None,
            status: None,
            route: None,
            label: None,
            props: Map::new(),
        }
    }

    /// A media passed validation and entered the pipeline.
    pub fn upload(media: MediaId, at: Timestamp) -> Self {
        Self {
            media: Some(media),
            ..Self::platform(AnalyticsKind::Upload, format!("upload:{media}"), at)
        }
    }

    /// An upload was quarantined for `reason`.
    pub fn quarantine(media: MediaId, reason: &str, at: Timestamp) -> Self {
        Self {
            media: Some(media),
            label: Some(reason.to_owned()),
            ..Self::platform(AnalyticsKind::Quarantine, format!("quarantine:{media}"), at)
        }
    }

    /// The pipeline finished with a media, `ok` or failed, `duration_ms` after its upload.
    pub fn analysis_done(media: MediaId, ok: bool, duration_ms: u64, at: Timestamp) -> Self {
        Self {
            media: Some(media),
            ok: Some(ok),
            duration_ms: Some(duration_ms),
            ..Self::platform(
                AnalyticsKind::AnalysisDone,
                format!("analysis_done:{media}"),
                at,
            )
        }
    }

    /// `actor` accepted (`accepted`) or rejected `tag` on a media. One event per decision
    /// version, so a re-decision counts again and a retried request does not.
    pub fn tag_decision(
        media: MediaId,
        tag: &str,
        accepted: bool,
        version: u64,
        actor: &str,
        at: Timestamp,
    ) -> Self {
        Self {
            media: Some(media),
            ok: Some(accepted),
            label: Some(tag.to_owned()),
            actor: Some(actor.to_owned()),
            ..Self::platform(
                AnalyticsKind::TagDecision,
                format!("tag_decision:{media}:{tag}:{version}"),
                at,
            )
        }
    }

    /// An API request was answered.
    pub fn api_call(
        request_id: &str,
        route: &str,
        status: u16,
        duration_ms: u64,
        actor: Option<&str>,
        at: Timestamp,
    ) -> Self {
        Self {
            route: Some(route.to_owned()),
            status: Some(status),
            duration_ms: Some(duration_ms),
            actor: actor.map(str::to_owned),
            ..Self::platform(AnalyticsKind::ApiCall, format!("api_call:{request_id}"), at)
        }
    }

    /// The UTC day it happened on (its partition).
    pub fn date(&self) -> chrono::NaiveDate {
        self.at.date_naive()
    }
}

impl From<StoredEvent> for AnalyticsEvent {
    fn from(e: StoredEvent) -> Self {
        let watch_ms = e.props.get(WATCH_MS).and_then(Value::as_u64);
        Self {
            // In their own namespace: a client's id never equals a platform event's.
            id: format!("client:{}", e.id),
            kind: AnalyticsKind::Client(e.kind),
            at: e.at,
            media: Some(e.media),
            user: Some(e.profile),
            actor: Some(e.actor),
            watch_ms,
            duration_ms: None,
            ok: None,
            status: None,
            route: None,
            label: None,
            props: e.props,
        }
    }
}

/// The prop a play or completion reports its watch time in.
pub const WATCH_MS: &str = "watch_ms";

/// Events of one tenant travelling together: one events-queue message. Its id is a digest of
/// the tenant and its events' ids, so a redelivered message, or the same events sent again
/// (a retried request, a retried pipeline step), is applied once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventBatch {
    pub id: String,
    pub tenant: TenantId,
    pub events: Vec<AnalyticsEvent>,
}

impl EventBatch {
    pub fn new(tenant: TenantId, events: Vec<AnalyticsEvent>) -> Self {
        use sha2::{Digest, Sha256};
        let mut ids: Vec<&str> = events.iter().map(|e| e.id.as_str()).collect();
        ids.sort_unstable();
        let mut digest = Sha256::new();
        digest.update(tenant.to_string());
        for id in ids {
            digest.update([0]);
            digest.update(id);
        }
        let id = hex::encode(&digest.finalize()[..16]);
        Self { id, tenant, events }
    }
}
