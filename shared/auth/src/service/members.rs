//! Tenants, invitations and roles.

use super::*;
use mvidarr_core::ports::table::MAX_TRANSACT_ITEMS;

/// An invitation link's token: `mvi_{tenant}_{invite}_{secret}`.
struct InviteToken {
    tenant: TenantId,
    invite: InviteId,
    secret: String,
}

impl InviteToken {
    const PREFIX: &'static str = "mvi_";

    fn format(tenant: TenantId, invite: InviteId, secret: &OpaqueSecret) -> String {
        format!("{}{tenant}_{invite}_{}", Self::PREFIX, secret.expose())
    }

    fn parse(s: &str) -> Option<Self> {
        let mut parts = s.strip_prefix(Self::PREFIX)?.splitn(3, '_');
        let tenant = parts.next()?.parse().ok()?;
        let invite = parts.next()?.parse().ok()?;
        let secret = parts.next()?;
        is_well_formed(secret).then(|| Self {
            tenant,
            invite,
            secret: secret.to_owned(),
        })
    }
}

impl<P: Platform> Identity<P> {
    // ---- tenants, invitations, users ----

    pub(super) async fn resolve_tenant(
        &self,
        name_or_id: &str,
    ) -> Result<Option<TenantId>, AuthError> {
        if let Ok(id) = name_or_id.parse::<TenantId>() {
            return Ok(Some(id));
        }
        Ok(TenantRepo::new(self.platform.table())
            .by_name(name_or_id)
            .await?
            .map(|t| t.id))
    }

    /// A new tenant and an invitation for its owner (the link's token is returned once).
    pub async fn create_tenant(
        &self,
        name: &str,
        owner_email: &str,
        now: DateTime<Utc>,
    ) -> Result<(TenantRecord, String), AuthError> {
        if name.is_empty()
            || name.len() > 64
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(AuthError::Invalid(
                "a tenant name is 1–64 letters, digits, '-' or '_'".into(),
            ));
        }
        let tenant = TenantRecord {
            id: TenantId::generate(),
            name: name.to_owned(),
            created_at: now,
        };
        if !TenantRepo::new(self.platform.table())
            .create(&tenant)
            .await?
        {
            return Err(AuthError::Conflict(format!("tenant {name} exists")));
        }
        let token = self
            .store_invite(tenant.id, owner_email, Role::Owner, "system", now)
            .await?;
        self.audit(
            tenant.id,
            AuditDraft::new(now, "system", actions::USER_INVITED)
                .detail("role", Role::Owner.as_str())
                .pii(normalize_email(owner_email)),
        )
        .await;
        Ok((tenant, token))
    }

    /// Invite someone to the caller's tenant with a role no higher than the caller's own.
    pub async fn invite(
        &self,
        by: &Principal,
        email: &str,
        role: Role,
        now: DateTime<Utc>,
    ) -> Result<String, AuthError> {
        self.check_may_grant(by, role)?;
        let users = UserRepo::new(self.platform.table());
        if users
            .sign_in_pointers(email)
            .await?
            .iter()
            .any(|p| p.tenant == by.tenant)
        {
            return Err(AuthError::Conflict(
                "that email is already a user here".into(),
            ));
        }
        let token = self
            .store_invite(by.tenant, email, role, &by.actor(), now)
            .await?;
        self.audit(
            by.tenant,
            AuditDraft::new(now, by.actor(), actions::USER_INVITED)
                .detail("role", role.as_str())
                .pii(normalize_email(email)),
        )
        .await;
        Ok(token)
    }

    pub(super) fn check_may_grant(&self, by: &Principal, role: Role) -> Result<(), AuthError> {
        // API keys act within their scopes but never hand out roles.
        match by.role {
            Some(own) if role <= own => Ok(()),
            _ => Err(AuthError::Forbidden(format!(
                "you may not grant the {role} role"
            ))),
        }
    }

    async fn store_invite(
        &self,
        tenant: TenantId,
        email: &str,
        role: Role,
        invited_by: &str,
        now: DateTime<Utc>,
    ) -> Result<String, AuthError> {
        let email = normalize_email(email);
        if !looks_like_email(&email) {
            return Err(AuthError::Invalid(format!(
                "{email:?} is not an email address"
            )));
        }
        let secret = OpaqueSecret::generate();
        let invite = InviteRecord {
            id: InviteId::generate(),
            tenant,
            email,
            role,
            secret_sha256: secret.sha256_hex(),
            invited_by: invited_by.to_owned(),
            created_at: now,
            expires_at: now + self.config.invite_lifetime,
        };
        UserRepo::new(self.platform.table())
            .put_invite(&invite)
            .await?;
        Ok(InviteToken::format(tenant, invite.id, &secret))
    }

    /// Accept an invitation: the invited email becomes a user with the password chosen here.
    pub async fn accept_invite(
        &self,
        token: &str,
        password: &str,
        name: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<UserRecord, AuthError> {
        let presented = InviteToken::parse(token).ok_or(AuthError::InvalidCredentials)?;
        let users = UserRepo::new(self.platform.table());
        let invite = users
            .invite(presented.tenant, presented.invite)
            .await?
            .filter(|i| matches_digest(&presented.secret, &i.secret_sha256) && i.expires_at > now)
            .ok_or(AuthError::InvalidCredentials)?;
        PasswordRules::check(password, &invite.email, &["mvidarr"])
            .map_err(AuthError::WeakPassword)?;
        let phc = self.hash_password(password).await?;
        let user = UserRecord {
            id: UserId::generate(),
            tenant: invite.tenant,
            email: invite.email.clone(),
            name: name.map(str::to_owned),
            role: invite.role,
            status: UserStatus::Active,
            mfa: false,
            created_at: now,
            updated_at: now,
        };
        if !users.accept_invite(&invite, &user, &phc).await? {
            return Err(AuthError::Conflict(
                "the invitation was already used, or the email is already a user".into(),
            ));
        }
        Ok(user)
    }

    /// An active user of the caller's tenant whose role the caller may take away (theirs is
    /// at least as high) and replace with `new_role` (`None`: erasure), provided the tenant
    /// keeps an owner.
    ///
    /// Returns the user and, when an owner is being removed, the other owners as read: the
    /// write must keep them unchanged ([`UserRepo::update_keeping`]), so that two owners
    /// removing each other at once cannot leave the tenant without one.
    pub(super) async fn user_to_change(
        &self,
        by: &Principal,
        user: UserId,
        new_role: Option<Role>,
    ) -> Result<(Versioned<UserRecord>, Vec<(UserId, u64)>), AuthError> {
        let target = UserRepo::new(self.platform.table())
            .get(by.tenant, user)
            .await?
            .filter(|u| u.record.status == UserStatus::Active)
            .ok_or_else(|| AuthError::NotFound(format!("user {user}")))?;
        self.check_may_grant(by, target.record.role)?;
        if let Some(role) = new_role {
            self.check_may_grant(by, role)?;
        }
        if target.record.role != Role::Owner || new_role == Some(Role::Owner) {
            return Ok((target, Vec::new()));
        }
        let other_owners: Vec<(UserId, u64)> = UserRepo::new(self.platform.table())
            .list_versioned(by.tenant)
            .await?
            .into_iter()
            .filter(|u| {
                u.record.role == Role::Owner
                    && u.record.status == UserStatus::Active
                    && u.record.id != user
            })
            // A transaction holds 100 writes; past a few dozen owners the race is moot.
            .take(MAX_TRANSACT_ITEMS - 1)
            .map(|u| (u.record.id, u.version))
            .collect();
        if other_owners.is_empty() {
            return Err(AuthError::Conflict(
                "a tenant keeps at least one owner".into(),
            ));
        }
        Ok((target, other_owners))
    }

    pub async fn list_users(&self, by: &Principal) -> Result<Vec<UserRecord>, AuthError> {
        Ok(UserRepo::new(self.platform.table())
            .list(by.tenant)
            .await?
            .into_iter()
            .filter(|u| u.status == UserStatus::Active)
            .collect())
    }

    /// Change a user's role. Only someone holding at least both the old and the new role may
    /// (an admin cannot demote an owner or make one); live sessions take the new role at once.
    pub async fn set_role(
        &self,
        by: &Principal,
        user: UserId,
        role: Role,
        now: DateTime<Utc>,
    ) -> Result<UserRecord, AuthError> {
        let users = UserRepo::new(self.platform.table());
        let (
            Versioned {
                record: mut target,
                version,
            },
            other_owners,
        ) = self.user_to_change(by, user, Some(role)).await?;
        let from = target.role;
        target.role = role;
        target.updated_at = now;
        if !users
            .update_keeping(&target, version, &other_owners)
            .await?
        {
            return Err(AuthError::Conflict(
                "the user changed meanwhile; retry".into(),
            ));
        }
        SessionRepo::new(self.platform.table())
            .update_all_live(by.tenant, user, now, |s| s.role = role)
            .await?;
        self.narrow_keys_of(by, user, role, now).await?;
        self.audit(
            by.tenant,
            AuditDraft::new(now, by.actor(), actions::ROLE_CHANGED)
                .target(Subject::user_actor(user))
                .detail("from", from.as_str())
                .detail("to", role.as_str()),
        )
        .await;
        Ok(target)
    }
}

fn looks_like_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && email.len() <= 254
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invite_tokens_parse_back_and_refuse_junk() {
        let (t, i) = (TenantId::generate(), InviteId::generate());
        let secret = OpaqueSecret::generate();
        let parsed = InviteToken::parse(&InviteToken::format(t, i, &secret)).unwrap();
        assert_eq!((parsed.tenant, parsed.invite), (t, i));
        assert_eq!(parsed.secret, secret.expose());
        for junk in ["", "mvi_", "mvi_x", &format!("mvi_{t}_{i}_short")] {
            assert!(InviteToken::parse(junk).is_none(), "{junk}");
        }
    }

    #[test]
    fn email_shapes() {
        for ok in ["a@b.co", "first.last+tag@example.org"] {
            assert!(looks_like_email(ok), "{ok}");
        }
        for bad in ["", "a", "a@b", "@b.co", "a@.co", "a@b.", "a b@c.de"] {
            assert!(!looks_like_email(bad), "{bad}");
        }
    }
}
