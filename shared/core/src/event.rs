//! Analytics events: append-only facts `{tenant, kind, subject, actor, at, props}`.

use serde::{Deserialize, Serialize};

use crate::Timestamp;
use crate::ids::{EventId, TenantId};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub id: EventId,
    pub tenant: TenantId,
    /// What happened: `upload`, `analysis_done`, `view`, `play`, `api_call`…
    pub kind: String,
    /// What it happened to (usually a media id).
    pub subject: Option<String>,
    /// Who did it (a user, an API key, or `system`).
    pub actor: Option<String>,
    pub at: Timestamp,
    #[serde(default)]
    pub props: serde_json::Map<String, serde_json::Value>,
}
