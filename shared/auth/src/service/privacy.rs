//! GDPR: a person's data exported (Art. 15/20) and erased (Art. 17). Erasure removes personal
//! data and every credential but keeps the user's id, so the audit chain — which holds only
//! ids and commitments to personal data — stays valid and records the erasure itself.

use super::*;
use crate::store::{MfaRepo, TotpState};
use mvidarr_core::repo::{AnalyticsErasure, ErasureRepo};

/// A user's data, as `POST /v1/me/export` returns it.
#[derive(Debug, Serialize)]
pub struct UserExport {
    pub exported_at: DateTime<Utc>,
    pub profile: UserRecord,
    /// The tenant this account belongs to. (The same email may be a user of other tenants:
    /// those are other accounts, and which they are is not this caller's to learn.)
    pub tenant: Membership,
    pub sessions: Vec<SessionExport>,
    pub api_keys_created: Vec<ApiKeyExport>,
    pub two_factor: TwoFactorExport,
}

#[derive(Debug, Serialize)]
pub struct Membership {
    pub tenant: TenantId,
    pub tenant_name: Option<String>,
}

/// A session without its secrets.
#[derive(Debug, Serialize)]
pub struct SessionExport {
    pub id: SessionId,
    pub role: Role,
    pub amr: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub refreshed_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub revoked_reason: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct ApiKeyExport {
    pub id: ApiKeyId,
    pub name: String,
    pub scopes: Permissions,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize)]
pub struct TwoFactorExport {
    pub totp_enabled: bool,
    pub recovery_codes_left: usize,
}

impl<P: Platform> Identity<P> {
    /// Everything stored about the calling user (secrets only as facts: no hashes, no seeds).
    pub async fn export_user(
        &self,
        principal: &Principal,
        now: DateTime<Utc>,
    ) -> Result<UserExport, AuthError> {
        let user_id = principal.user().ok_or_else(|| {
            AuthError::Invalid("an API key has no personal data to export".into())
        })?;
        let table = self.platform.table();
        let profile = self.active_user(principal.tenant, user_id).await?;
        let tenant = Membership {
            tenant: principal.tenant,
            tenant_name: TenantRepo::new(table)
                .by_id(principal.tenant)
                .await?
                .map(|t| t.name),
        };
        let sessions = SessionRepo::new(table)
            .list(principal.tenant, user_id)
            .await?
            .into_iter()
            .map(|v| v.record)
            .map(|s| SessionExport {
                id: s.id,
                role: s.role,
                amr: s.amr,
                created_at: s.created_at,
                refreshed_at: s.refreshed_at,
                expires_at: s.expires_at,
                revoked_at: s.revoked_at,
                revoked_reason: s.revoked_reason,
            })
            .collect();
        let actor = principal.actor();
        let api_keys_created = ApiKeyRepo::new(table)
            .list(principal.tenant)
            .await?
            .into_iter()
            .filter(|k| k.created_by.as_deref() == Some(actor.as_str()))
            .map(|k| ApiKeyExport {
                id: k.id,
                name: k.name,
                scopes: k.scopes,
                created_at: k.created_at,
                revoked_at: k.revoked_at,
                last_used_at: k.last_used_at,
            })
            .collect();
        let mfa = MfaRepo::new(table);
        let two_factor = TwoFactorExport {
            totp_enabled: mfa
                .totp(principal.tenant, user_id)
                .await?
                .is_some_and(|t| t.record.state == TotpState::Enabled),
            recovery_codes_left: mfa.recovery_codes_left(principal.tenant, user_id).await?,
        };
        self.audit(
            principal.tenant,
            AuditDraft::new(now, principal.actor(), actions::DATA_EXPORTED)
                .target(Subject::user_actor(user_id)),
        )
        .await;
        Ok(UserExport {
            exported_at: now,
            profile,
            tenant,
            sessions,
            api_keys_created,
            two_factor,
        })
    }

    /// Erase a user of the caller's tenant: their profile's personal data, sign-in pointer,
    /// password, second factor and sessions are removed and the API keys they made revoked;
    /// their analytics events, and their keys', are queued for pseudonymisation. The id
    /// remains (as `erased`) so references to it, in the audit chain above all, still resolve
    /// to "an erased user".
    ///
    /// The user is marked erased first (a sign-in racing the erasure then fails its check of
    /// the user's version) and the email is blanked last, so an erasure interrupted half way
    /// can be run again and finishes.
    pub async fn erase_user(
        &self,
        by: &Principal,
        user: UserId,
        now: DateTime<Utc>,
    ) -> Result<(), AuthError> {
        let table = self.platform.table();
        let users = UserRepo::new(table);
        let found = users
            .get(by.tenant, user)
            .await?
            .ok_or_else(|| AuthError::NotFound(format!("user {user}")))?;
        let (
            Versioned {
                record: mut target,
                mut version,
            },
            other_owners,
        ) = match found.record.status {
            UserStatus::Active => self.user_to_change(by, user, None).await?,
            // An erasure that stopped half way: finish it.
            UserStatus::Erased if !found.record.email.is_empty() => {
                self.check_may_grant(by, found.record.role)?;
                (found, Vec::new())
            }
            UserStatus::Erased => return Err(AuthError::NotFound(format!("user {user}"))),
        };
        let changed_meanwhile = || AuthError::Conflict("the user changed meanwhile; retry".into());
        if target.status == UserStatus::Active {
            target.status = UserStatus::Erased;
            target.mfa = false;
            target.updated_at = now;
            if !users
                .update_keeping(&target, version, &other_owners)
                .await?
            {
                return Err(changed_meanwhile());
            }
            version += 1;
        }
        let email = target.email.clone();
        users.delete_sign_in_pointer(&email, by.tenant).await?;
        // Password, lockout, TOTP, recovery codes, challenges and sessions: every access
        // token of theirs stops working with the sessions.
        users.delete_security_records(by.tenant, user).await?;
        let actor = Subject::user_actor(user);
        let keys = ApiKeyRepo::new(table);
        // Their analytics events name them, and the keys they made, as the actor: each is
        // pseudonymised by the scheduler's tick. Recorded before the erasure's last step, so
        // an erasure cut short here is finished, recording included, when it is asked again.
        let mut subjects = vec![actor.clone()];
        for key in keys.list(by.tenant).await? {
            if key.created_by.as_deref() == Some(actor.as_str()) {
                subjects.push(format!("key:{}", key.id));
                if !key.revoked {
                    self.revoke_api_key(by, key.id, now).await?;
                }
            }
        }
        let erasures = ErasureRepo::new(table);
        for subject in subjects {
            erasures
                .request(&AnalyticsErasure {
                    tenant: by.tenant,
                    subject,
                    requested_by: by.actor(),
                    requested_at: now,
                    done_at: None,
                    files_rewritten: 0,
                    rows_changed: 0,
                })
                .await?;
        }
        // Personal data the audit log kept about them goes too; the entries' commitments stay,
        // so the chain still verifies.
        let erased_rows = AuditLog::new(table)
            .erase_pii_where(by.tenant, |row| row.data == email)
            .await?;
        target.email = String::new();
        target.name = None;
        if !users.update(&target, version).await? {
            return Err(changed_meanwhile());
        }
        self.audit(
            by.tenant,
            AuditDraft::new(now, by.actor(), actions::USER_ERASED)
                .target(Subject::user_actor(user))
                .detail("audit_pii_erased", erased_rows.len().to_string()),
        )
        .await;
        tracing::info!(tenant = %by.tenant, %user, by = %by.actor(), "user erased");
        Ok(())
    }
}
