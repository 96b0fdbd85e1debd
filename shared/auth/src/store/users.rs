//! People, their passwords and lockout state, and invitations.

use chrono::{DateTime, Utc};
use mvidarr_core::ids::{InviteId, TenantId, UserId};
use mvidarr_core::keys::table as keys;
use mvidarr_core::ports::{Condition, Item, Query, Table, WriteOp};
use mvidarr_core::repo::{RepoError, decode, encode, query_all};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{Versioned, put_over, query_versioned, versioned, won};
use crate::policy::Role;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserStatus {
    Active,
    /// Personal data removed (GDPR erasure); the id stays so the audit chain keeps its actors.
    Erased,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserRecord {
    pub id: UserId,
    pub tenant: TenantId,
    /// Normalised (see [`normalize_email`]); empty once erased.
    pub email: String,
    #[serde(default)]
    pub name: Option<String>,
    pub role: Role,
    pub status: UserStatus,
    /// TOTP is enabled: a password alone no longer signs in.
    #[serde(default)]
    pub mfa: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// `login/{digest(email)}` → the tenants where that email is a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginPointer {
    pub tenant: TenantId,
    pub user: UserId,
}

/// Never printed: holds the password hash.
#[derive(Clone, Serialize, Deserialize)]
pub struct PasswordRecord {
    pub phc: String,
    pub changed_at: DateTime<Utc>,
}

impl std::fmt::Debug for PasswordRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordRecord")
            .field("changed_at", &self.changed_at)
            .finish_non_exhaustive()
    }
}

/// Consecutive failed sign-ins and the lock they caused.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LockoutRecord {
    pub failures: u32,
    pub locked_until: Option<DateTime<Utc>>,
}

/// An invitation: the secret is in the link, only its hash here.
#[derive(Clone, Serialize, Deserialize)]
pub struct InviteRecord {
    pub id: InviteId,
    pub tenant: TenantId,
    pub email: String,
    pub role: Role,
    pub secret_sha256: String,
    pub invited_by: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

impl std::fmt::Debug for InviteRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InviteRecord")
            .field("id", &self.id)
            .field("tenant", &self.tenant)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

/// Emails compare case-insensitively and without surrounding space.
pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// The key under which an email's sign-in pointers are filed.
pub fn email_digest(email: &str) -> String {
    hex::encode(Sha256::digest(normalize_email(email).as_bytes()))
}

const PASSWORD_SK: &str = "password";
const LOCKOUT_SK: &str = "lockout";

pub struct UserRepo<'a, T> {
    table: &'a T,
}

impl<'a, T: Table> UserRepo<'a, T> {
    pub fn new(table: &'a T) -> Self {
        Self { table }
    }

    /// Create a user with their password. `Ok(false)` if the email is already a user of
    /// the tenant (the sign-in pointer is written only if absent, in the same transaction).
    pub async fn create(&self, user: &UserRecord, phc: &str) -> Result<bool, RepoError> {
        self.transact(new_user_ops(user, phc)).await
    }

    async fn transact(&self, ops: Vec<WriteOp>) -> Result<bool, RepoError> {
        won(self.table.transact_write(ops).await)
    }

    pub async fn get(
        &self,
        tenant: TenantId,
        user: UserId,
    ) -> Result<Option<Versioned<UserRecord>>, RepoError> {
        self.table
            .get(&keys::users_pk(tenant), &user.to_string())
            .await?
            .map(versioned)
            .transpose()
    }

    /// The tenant's users with the versions they were read at.
    pub async fn list_versioned(
        &self,
        tenant: TenantId,
    ) -> Result<Vec<Versioned<UserRecord>>, RepoError> {
        query_versioned(
            self.table,
            Query::partition(keys::users_pk(tenant)).limit(1000),
        )
        .await
    }

    /// Write back a user read at `version`, provided the users in `unchanged` are still at
    /// the versions given (in one transaction); `Ok(false)` otherwise. The last-owner rule
    /// rests on it: two owners demoting each other at once cannot both succeed.
    pub async fn update_keeping(
        &self,
        user: &UserRecord,
        version: u64,
        unchanged: &[(UserId, u64)],
    ) -> Result<bool, RepoError> {
        let mut item = self.item(user);
        item.version = version + 1;
        let mut ops = vec![WriteOp::Put {
            item,
            condition: Condition::VersionIs(version),
        }];
        ops.extend(unchanged.iter().map(|(id, v)| WriteOp::Check {
            pk: keys::users_pk(user.tenant),
            sk: id.to_string(),
            condition: Condition::VersionIs(*v),
        }));
        self.transact(ops).await
    }

    pub async fn list(&self, tenant: TenantId) -> Result<Vec<UserRecord>, RepoError> {
        query_all(
            self.table,
            Query::partition(keys::users_pk(tenant)).limit(1000),
        )
        .await
    }

    /// Write back a user read at `version`; `Ok(false)` if someone changed it meanwhile.
    pub async fn update(&self, user: &UserRecord, version: u64) -> Result<bool, RepoError> {
        let item = Item::new(
            keys::users_pk(user.tenant),
            user.id.to_string(),
            encode(user),
        );
        put_over(self.table, item, Some(version)).await
    }

    /// A user's item, for writes that go in one transaction with other records.
    pub fn item(&self, user: &UserRecord) -> Item {
        Item::new(
            keys::users_pk(user.tenant),
            user.id.to_string(),
            encode(user),
        )
    }

    /// The tenants where `email` is a user.
    pub async fn sign_in_pointers(&self, email: &str) -> Result<Vec<LoginPointer>, RepoError> {
        query_all(
            self.table,
            Query::partition(keys::login_pk(&email_digest(email))).limit(100),
        )
        .await
    }

    pub async fn delete_sign_in_pointer(
        &self,
        email: &str,
        tenant: TenantId,
    ) -> Result<(), RepoError> {
        self.table
            .delete(
                &keys::login_pk(&email_digest(email)),
                &format!("t/{tenant}"),
                Condition::Always,
            )
            .await?;
        Ok(())
    }

    /// Remove every security record of a user: password, lockout, second factor, sessions.
    pub async fn delete_security_records(
        &self,
        tenant: TenantId,
        user: UserId,
    ) -> Result<usize, RepoError> {
        let pk = keys::user_security_pk(tenant, user);
        let mut deleted = 0;
        loop {
            let page = self.table.query(Query::partition(&pk).limit(100)).await?;
            if page.items.is_empty() {
                return Ok(deleted);
            }
            for item in page.items {
                self.table.delete(&pk, &item.sk, Condition::Always).await?;
                deleted += 1;
            }
        }
    }

    pub async fn password(
        &self,
        tenant: TenantId,
        user: UserId,
    ) -> Result<Option<PasswordRecord>, RepoError> {
        self.table
            .get(&keys::user_security_pk(tenant, user), PASSWORD_SK)
            .await?
            .map(decode)
            .transpose()
    }

    pub async fn set_password(
        &self,
        tenant: TenantId,
        user: UserId,
        record: &PasswordRecord,
    ) -> Result<(), RepoError> {
        let item = Item::new(
            keys::user_security_pk(tenant, user),
            PASSWORD_SK,
            encode(record),
        );
        self.table.put(item, Condition::Always).await?;
        Ok(())
    }

    pub async fn lockout(
        &self,
        tenant: TenantId,
        user: UserId,
    ) -> Result<Option<Versioned<LockoutRecord>>, RepoError> {
        self.table
            .get(&keys::user_security_pk(tenant, user), LOCKOUT_SK)
            .await?
            .map(versioned)
            .transpose()
    }

    /// Write the lockout state read at `version` (`None`: there was none). `Ok(false)` if a
    /// concurrent sign-in changed it first.
    pub async fn put_lockout(
        &self,
        tenant: TenantId,
        user: UserId,
        record: &LockoutRecord,
        version: Option<u64>,
    ) -> Result<bool, RepoError> {
        let item = Item::new(
            keys::user_security_pk(tenant, user),
            LOCKOUT_SK,
            encode(record),
        );
        put_over(self.table, item, version).await
    }

    pub async fn clear_lockout(&self, tenant: TenantId, user: UserId) -> Result<(), RepoError> {
        self.table
            .delete(
                &keys::user_security_pk(tenant, user),
                LOCKOUT_SK,
                Condition::Always,
            )
            .await?;
        Ok(())
    }

    pub async fn put_invite(&self, invite: &InviteRecord) -> Result<(), RepoError> {
        let item = Item::new(
            keys::invites_pk(invite.tenant),
            invite.id.to_string(),
            encode(invite),
        )
        .with_expiry(invite.expires_at.timestamp());
        self.table.put(item, Condition::Absent).await?;
        Ok(())
    }

    pub async fn invite(
        &self,
        tenant: TenantId,
        id: InviteId,
    ) -> Result<Option<InviteRecord>, RepoError> {
        self.table
            .get(&keys::invites_pk(tenant), &id.to_string())
            .await?
            .map(decode)
            .transpose()
    }

    /// Accept an invitation: the user and their password are created and the invite is
    /// consumed in one transaction, so one invite makes at most one user. `Ok(false)` if the
    /// invite was already used or the email meanwhile became a user.
    pub async fn accept_invite(
        &self,
        invite: &InviteRecord,
        user: &UserRecord,
        phc: &str,
    ) -> Result<bool, RepoError> {
        let mut ops = vec![WriteOp::Delete {
            pk: keys::invites_pk(invite.tenant),
            sk: invite.id.to_string(),
            condition: Condition::Exists,
        }];
        ops.extend(new_user_ops(user, phc));
        self.transact(ops).await
    }
}

/// The user, their sign-in pointer (only if absent: one user per email per tenant) and their
/// password.
fn new_user_ops(user: &UserRecord, phc: &str) -> Vec<WriteOp> {
    vec![
        WriteOp::Put {
            item: Item::new(
                keys::users_pk(user.tenant),
                user.id.to_string(),
                encode(user),
            ),
            condition: Condition::Absent,
        },
        WriteOp::Put {
            item: Item::new(
                keys::login_pk(&email_digest(&user.email)),
                format!("t/{}", user.tenant),
                encode(&LoginPointer {
                    tenant: user.tenant,
                    user: user.id,
                }),
            ),
            condition: Condition::Absent,
        },
        WriteOp::Put {
            item: Item::new(
                keys::user_security_pk(user.tenant, user.id),
                PASSWORD_SK,
                encode(&PasswordRecord {
                    phc: phc.to_owned(),
                    changed_at: user.created_at,
                }),
            ),
            condition: Condition::Always,
        },
    ]
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;
    use crate::store::test_tables::sqlite;

    fn owner(tenant: TenantId, email: &str) -> UserRecord {
        UserRecord {
            id: UserId::generate(),
            tenant,
            email: email.into(),
            name: None,
            role: Role::Owner,
            status: UserStatus::Active,
            mfa: false,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    #[tokio::test]
    async fn two_owners_demoting_each_other_from_the_same_reads_cannot_both_win() {
        let (table, _dir) = sqlite();
        let repo = UserRepo::new(&table);
        let tenant = TenantId::generate();
        let (a, b) = (owner(tenant, "a@x.example"), owner(tenant, "b@x.example"));
        assert!(repo.create(&a, "phc").await.unwrap());
        assert!(repo.create(&b, "phc").await.unwrap());
        let va = repo.get(tenant, a.id).await.unwrap().unwrap().version;
        let vb = repo.get(tenant, b.id).await.unwrap().unwrap().version;
        // Each read the other as the last other owner; both write.
        let demoted_b = UserRecord {
            role: Role::Admin,
            ..b.clone()
        };
        let demoted_a = UserRecord {
            role: Role::Admin,
            ..a.clone()
        };
        assert!(
            repo.update_keeping(&demoted_b, vb, &[(a.id, va)])
                .await
                .unwrap()
        );
        assert!(
            !repo
                .update_keeping(&demoted_a, va, &[(b.id, vb)])
                .await
                .unwrap()
        );
        let owners = repo
            .list(tenant)
            .await
            .unwrap()
            .into_iter()
            .filter(|u| u.role == Role::Owner)
            .count();
        assert_eq!(owners, 1);
    }
}
