//! Who is calling: the outcome of authentication, and the only input to authorisation.

use std::fmt;

use mvidarr_core::ids::{ApiKeyId, SessionId, TenantId, UserId};
use serde::{Deserialize, Serialize};

use crate::policy::{Permission, Permissions, Role};

/// The authenticated party.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Subject {
    /// A person, signed in through a session (one refresh-token family).
    User { id: UserId, session: SessionId },
    /// A program holding an API key.
    ApiKey { id: ApiKeyId },
}

/// An authenticated caller within one tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    pub tenant: TenantId,
    pub subject: Subject,
    /// A user's role; API keys have scopes instead.
    pub role: Option<Role>,
    pub permissions: Permissions,
}

impl Principal {
    pub fn may(&self, permission: Permission) -> bool {
        self.permissions.contains(permission)
    }

    pub fn user(&self) -> Option<UserId> {
        match self.subject {
            Subject::User { id, .. } => Some(id),
            Subject::ApiKey { .. } => None,
        }
    }

    /// The actor as recorded in the audit log: an id, never personal data.
    pub fn actor(&self) -> String {
        self.subject.to_string()
    }
}

impl Subject {
    /// How a user appears as an actor (audit log, `created_by`), whichever session acted.
    pub fn user_actor(id: UserId) -> String {
        format!("user:{id}")
    }
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Subject::User { id, .. } => f.write_str(&Subject::user_actor(*id)),
            Subject::ApiKey { id } => write!(f, "key:{id}"),
        }
    }
}
