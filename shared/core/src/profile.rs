//! Profiles: the people whose plays a tenant records — an app's end users, the members of a
//! household — and whom recommendations are for. A profile is not an account: it never signs
//! in, holds no personal data beyond an optional external id (the tenant's own name for the
//! person, e.g. its user id), and is created by the tenant's app or by an import.

use serde::{Deserialize, Serialize};

use crate::Timestamp;
use crate::ids::{ProfileId, TenantId};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    pub id: ProfileId,
    pub tenant: TenantId,
    /// The tenant's id for this person, unique within the tenant (see
    /// [`crate::external::ExternalId`] for what it may be).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    pub created_at: Timestamp,
}
