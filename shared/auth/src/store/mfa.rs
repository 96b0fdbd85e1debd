//! A user's second factor: the TOTP secret (sealed), the recovery codes (hashed) and the
//! short-lived challenges that sit between a correct password and a session.

use chrono::{DateTime, Utc};
use mvidarr_core::ids::{TenantId, UserId};
use mvidarr_core::keys::table as keys;
use mvidarr_core::ports::{Condition, Item, Query, Table, WriteOp};
use mvidarr_core::repo::{RepoError, encode};
use serde::{Deserialize, Serialize};

use super::{Versioned, put_over, versioned, won};
use crate::envelope::Sealed;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TotpState {
    /// Enrolled, waiting for the first code to prove the authenticator has the secret.
    Pending,
    Enabled,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TotpRecord {
    pub sealed: Sealed,
    pub state: TotpState,
    /// The step of the last accepted code: no code at or before it is accepted again.
    #[serde(default)]
    pub last_step: Option<u64>,
    pub created_at: DateTime<Utc>,
}

impl TotpRecord {
    pub fn seal_context(tenant: TenantId, user: UserId) -> String {
        format!("totp/{tenant}/{user}")
    }
}

/// Between the password and the second factor: the secret is in the client's `mfa_token`.
#[derive(Clone, Serialize, Deserialize)]
pub struct MfaChallenge {
    pub secret_sha256: String,
    pub amr: Vec<String>,
    /// Answers tried so far, right or wrong (each is charged before it is checked).
    pub attempts: u32,
    pub expires_at: DateTime<Utc>,
}

impl std::fmt::Debug for MfaChallenge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MfaChallenge")
            .field("attempts", &self.attempts)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

const TOTP_SK: &str = "totp";
const RECOVERY_PREFIX: &str = "recovery/";

fn challenge_sk(id: &str) -> String {
    format!("mfa-challenge/{id}")
}

pub struct MfaRepo<'a, T> {
    table: &'a T,
}

impl<'a, T: Table> MfaRepo<'a, T> {
    pub fn new(table: &'a T) -> Self {
        Self { table }
    }

    pub async fn totp(
        &self,
        tenant: TenantId,
        user: UserId,
    ) -> Result<Option<Versioned<TotpRecord>>, RepoError> {
        self.table
            .get(&keys::user_security_pk(tenant, user), TOTP_SK)
            .await?
            .map(versioned)
            .transpose()
    }

    fn totp_item(tenant: TenantId, user: UserId, record: &TotpRecord) -> Item {
        Item::new(
            keys::user_security_pk(tenant, user),
            TOTP_SK,
            encode(record),
        )
    }

    /// Write the TOTP record over the version read (`None`: there was none).
    pub async fn put_totp(
        &self,
        tenant: TenantId,
        user: UserId,
        record: &TotpRecord,
        read_at: Option<u64>,
    ) -> Result<bool, RepoError> {
        put_over(self.table, Self::totp_item(tenant, user, record), read_at).await
    }

    /// Turn TOTP on: the record enabled (at the version read), the user item flagged (at its
    /// version) and the recovery codes stored, all or nothing.
    pub async fn enable(
        &self,
        tenant: TenantId,
        user: UserId,
        totp: (&TotpRecord, u64),
        user_item: (Item, u64),
        recovery_digests: &[String],
        now: DateTime<Utc>,
    ) -> Result<bool, RepoError> {
        let mut totp_item = Self::totp_item(tenant, user, totp.0);
        totp_item.version = totp.1 + 1;
        let (mut user_item, user_version) = user_item;
        user_item.version = user_version + 1;
        let mut ops = vec![
            WriteOp::Put {
                item: totp_item,
                condition: Condition::VersionIs(totp.1),
            },
            WriteOp::Put {
                item: user_item,
                condition: Condition::VersionIs(user_version),
            },
        ];
        ops.extend(recovery_digests.iter().map(|d| WriteOp::Put {
            item: Item::new(
                keys::user_security_pk(tenant, user),
                format!("{RECOVERY_PREFIX}{d}"),
                serde_json::json!({ "created_at": now }),
            ),
            condition: Condition::Always,
        }));
        won(self.table.transact_write(ops).await)
    }

    /// Use a recovery code: deleting it only if it exists means two concurrent uses of one
    /// code cannot both succeed.
    pub async fn use_recovery_code(
        &self,
        tenant: TenantId,
        user: UserId,
        digest_hex: &str,
    ) -> Result<bool, RepoError> {
        won(self
            .table
            .delete(
                &keys::user_security_pk(tenant, user),
                &format!("{RECOVERY_PREFIX}{digest_hex}"),
                Condition::Exists,
            )
            .await)
    }

    pub async fn recovery_codes_left(
        &self,
        tenant: TenantId,
        user: UserId,
    ) -> Result<usize, RepoError> {
        let page = self
            .table
            .query(
                Query::partition(keys::user_security_pk(tenant, user))
                    .prefix(RECOVERY_PREFIX)
                    .limit(100),
            )
            .await?;
        Ok(page.items.len())
    }

    /// Remove the TOTP record and every recovery code.
    pub async fn remove_all(&self, tenant: TenantId, user: UserId) -> Result<(), RepoError> {
        let pk = keys::user_security_pk(tenant, user);
        let page = self
            .table
            .query(Query::partition(&pk).prefix(RECOVERY_PREFIX).limit(100))
            .await?;
        for item in page.items {
            self.table.delete(&pk, &item.sk, Condition::Always).await?;
        }
        self.table.delete(&pk, TOTP_SK, Condition::Always).await?;
        Ok(())
    }

    pub async fn put_challenge(
        &self,
        tenant: TenantId,
        user: UserId,
        id: &str,
        challenge: &MfaChallenge,
        read_at: Option<u64>,
    ) -> Result<bool, RepoError> {
        let item = Item::new(
            keys::user_security_pk(tenant, user),
            challenge_sk(id),
            encode(challenge),
        )
        .with_expiry(challenge.expires_at.timestamp());
        put_over(self.table, item, read_at).await
    }

    pub async fn challenge(
        &self,
        tenant: TenantId,
        user: UserId,
        id: &str,
    ) -> Result<Option<Versioned<MfaChallenge>>, RepoError> {
        self.table
            .get(&keys::user_security_pk(tenant, user), &challenge_sk(id))
            .await?
            .map(versioned)
            .transpose()
    }

    /// Consume a challenge read at `version`: `Ok(false)` if it was used or changed meanwhile.
    pub async fn consume_challenge(
        &self,
        tenant: TenantId,
        user: UserId,
        id: &str,
        version: u64,
    ) -> Result<bool, RepoError> {
        won(self
            .table
            .delete(
                &keys::user_security_pk(tenant, user),
                &challenge_sk(id),
                Condition::VersionIs(version),
            )
            .await)
    }
}
