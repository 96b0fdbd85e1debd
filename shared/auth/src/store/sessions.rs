//! Sessions: one per sign-in, holding the refresh-token family. The access check of every
//! request reads the session, so revoking it takes effect at once.

use chrono::{DateTime, Utc};
use mvidarr_core::ids::{SessionId, TenantId, UserId};
use mvidarr_core::keys::table as keys;
use mvidarr_core::ports::{Condition, Item, Query, Table, WriteOp};
use mvidarr_core::repo::{RepoError, encode};
use serde::{Deserialize, Serialize};

use super::{Versioned, put_over, query_versioned, versioned, won};
use crate::policy::Role;

/// How many earlier refresh secrets are remembered to recognise a replay.
pub const REMEMBERED_SECRETS: usize = 16;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionRecord {
    pub id: SessionId,
    pub tenant: TenantId,
    pub user: UserId,
    /// The user's role, copied here so a request costs one read; rewritten on role changes.
    pub role: Role,
    pub amr: Vec<String>,
    /// How many times the refresh token was rotated.
    pub generation: u32,
    /// Hex SHA-256 of the current refresh secret.
    pub secret_sha256: String,
    /// Hashes of earlier secrets, newest last: presenting one of them is a replay.
    #[serde(default)]
    pub prior_sha256: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub refreshed_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    #[serde(default)]
    pub revoked_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub revoked_reason: Option<String>,
}

impl SessionRecord {
    pub fn is_live(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && self.expires_at > now
    }

    /// Move to a new refresh secret, remembering the old one.
    pub fn rotate(&mut self, new_secret_sha256: String, now: DateTime<Utc>) {
        let old = std::mem::replace(&mut self.secret_sha256, new_secret_sha256);
        self.prior_sha256.push(old);
        if self.prior_sha256.len() > REMEMBERED_SECRETS {
            self.prior_sha256.remove(0);
        }
        self.generation += 1;
        self.refreshed_at = now;
    }

    pub fn revoke(&mut self, reason: &str, now: DateTime<Utc>) {
        if self.revoked_at.is_none() {
            self.revoked_at = Some(now);
            self.revoked_reason = Some(reason.to_owned());
        }
    }
}

fn session_sk(id: SessionId) -> String {
    format!("session/{id}")
}

fn item(session: &SessionRecord) -> Item {
    Item::new(
        keys::user_security_pk(session.tenant, session.user),
        session_sk(session.id),
        encode(session),
    )
    // Kept until it expires, revoked or not: a replayed secret of a revoked family must
    // still be recognised as one.
    .with_expiry(session.expires_at.timestamp())
}

pub struct SessionRepo<'a, T> {
    table: &'a T,
}

impl<'a, T: Table> SessionRepo<'a, T> {
    pub fn new(table: &'a T) -> Self {
        Self { table }
    }

    /// Create a session, provided its user's item is still at `user_version`; `Ok(false)`
    /// if the user changed (a role change or erasure won the race).
    pub async fn create_for(
        &self,
        session: &SessionRecord,
        user_version: u64,
    ) -> Result<bool, RepoError> {
        let ops = vec![
            WriteOp::Put {
                item: item(session),
                condition: Condition::Absent,
            },
            WriteOp::Check {
                pk: keys::users_pk(session.tenant),
                sk: session.user.to_string(),
                condition: Condition::VersionIs(user_version),
            },
        ];
        won(self.table.transact_write(ops).await)
    }

    pub async fn get(
        &self,
        tenant: TenantId,
        user: UserId,
        id: SessionId,
    ) -> Result<Option<Versioned<SessionRecord>>, RepoError> {
        self.table
            .get(&keys::user_security_pk(tenant, user), &session_sk(id))
            .await?
            .map(versioned)
            .transpose()
    }

    /// Write a session read at `version`; `Ok(false)` if it changed meanwhile.
    pub async fn update(&self, session: &SessionRecord, version: u64) -> Result<bool, RepoError> {
        put_over(self.table, item(session), Some(version)).await
    }

    pub async fn list(
        &self,
        tenant: TenantId,
        user: UserId,
    ) -> Result<Vec<Versioned<SessionRecord>>, RepoError> {
        query_versioned(
            self.table,
            Query::partition(keys::user_security_pk(tenant, user))
                .prefix("session/")
                .limit(1000),
        )
        .await
    }

    /// Apply `change` to every live session of a user (revoke them, or copy a new role),
    /// re-reading any that changed under us.
    pub async fn update_all_live(
        &self,
        tenant: TenantId,
        user: UserId,
        now: DateTime<Utc>,
        change: impl Fn(&mut SessionRecord),
    ) -> Result<usize, RepoError> {
        let mut changed = 0;
        for Versioned { record, version } in self.list(tenant, user).await? {
            let (mut session, mut version) = (record, version);
            let mut attempts = 0;
            while session.is_live(now) {
                change(&mut session);
                if self.update(&session, version).await? {
                    changed += 1;
                    break;
                }
                attempts += 1;
                if attempts == 5 {
                    return Err(RepoError::Contended {
                        what: format!("session {}", session.id),
                        attempts,
                    });
                }
                match self.get(tenant, user, session.id).await? {
                    Some(fresh) => (session, version) = (fresh.record, fresh.version),
                    None => break,
                }
            }
        }
        Ok(changed)
    }
}
