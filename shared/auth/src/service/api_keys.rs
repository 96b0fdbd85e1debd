//! API keys: made, listed and revoked by people; used by programs.

use super::*;

/// A created API key: the secret appears here once and is never stored.
pub struct CreatedApiKey {
    pub key: String,
    pub record: ApiKeyRecord,
}

impl std::fmt::Debug for CreatedApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedApiKey")
            .field("id", &self.record.id)
            .finish_non_exhaustive()
    }
}

impl<P: Platform> Identity<P> {
    // ---- API keys ----

    /// A new API key for the caller's tenant, with scopes no wider than the caller's own.
    pub async fn create_api_key(
        &self,
        by: &Principal,
        name: &str,
        scopes: Permissions,
        expires_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<CreatedApiKey, AuthError> {
        if name.trim().is_empty() || name.len() > 100 || name.chars().any(char::is_control) {
            return Err(AuthError::Invalid(
                "a key name is 1–100 characters without control characters".into(),
            ));
        }
        if scopes.is_empty() {
            return Err(AuthError::Invalid("a key needs at least one scope".into()));
        }
        if !scopes.is_subset_of(by.permissions) {
            return Err(AuthError::Forbidden(
                "a key's scopes cannot exceed your own permissions".into(),
            ));
        }
        if expires_at.is_some_and(|e| e <= now) {
            return Err(AuthError::Invalid("expires_at is in the past".into()));
        }
        // A key made by a key lives no longer than its maker (and is revoked with it).
        let expires_at = match by.subject {
            Subject::ApiKey { id } => {
                let maker = ApiKeyRepo::new(self.platform.table())
                    .get(id)
                    .await?
                    .ok_or(AuthError::InvalidCredentials)?
                    .record;
                match (expires_at, maker.expires_at) {
                    (Some(wanted), Some(limit)) => Some(wanted.min(limit)),
                    (wanted, limit) => wanted.or(limit),
                }
            }
            Subject::User { .. } => expires_at,
        };
        let created = self
            .store_api_key(by.tenant, name.trim(), scopes, expires_at, &by.actor(), now)
            .await?;
        self.audit(
            by.tenant,
            AuditDraft::new(now, by.actor(), actions::APIKEY_CREATED)
                .target(format!("key:{}", created.record.id))
                .detail("scopes", scopes.to_scope_string()),
        )
        .await;
        Ok(created)
    }

    async fn store_api_key(
        &self,
        tenant: TenantId,
        name: &str,
        scopes: Permissions,
        expires_at: Option<DateTime<Utc>>,
        created_by: &str,
        now: DateTime<Utc>,
    ) -> Result<CreatedApiKey, RepoError> {
        let id = ApiKeyId::generate();
        let (key, secret_sha256) = new_key(id);
        let record = ApiKeyRecord {
            id,
            tenant,
            name: name.to_owned(),
            secret_sha256,
            scopes,
            created_at: now,
            created_by: Some(created_by.to_owned()),
            expires_at,
            revoked: false,
            revoked_at: None,
            last_used_at: None,
        };
        ApiKeyRepo::new(self.platform.table())
            .create(&record)
            .await?;
        Ok(CreatedApiKey { key, record })
    }

    /// A key with the owner's permissions for a tenant, made by the system itself (the
    /// embedded server's first-run key, `mvidarr tenant key`).
    pub async fn system_api_key(
        &self,
        tenant: TenantId,
        name: &str,
        now: DateTime<Utc>,
    ) -> Result<CreatedApiKey, AuthError> {
        Ok(self
            .store_api_key(tenant, name, Role::Owner.permissions(), None, "system", now)
            .await?)
    }

    pub async fn list_api_keys(&self, by: &Principal) -> Result<Vec<ApiKeyRecord>, AuthError> {
        Ok(ApiKeyRepo::new(self.platform.table())
            .list(by.tenant)
            .await?)
    }

    /// Revoke a key of the caller's tenant; it stops working on its next use, and so do the
    /// keys it made (and theirs).
    pub async fn revoke_api_key(
        &self,
        by: &Principal,
        id: ApiKeyId,
        now: DateTime<Utc>,
    ) -> Result<ApiKeyRecord, AuthError> {
        let revoked = self.revoke_one(by, id, now).await?;
        let mut makers = vec![format!("key:{id}")];
        while let Some(maker) = makers.pop() {
            for child in self.list_api_keys(by).await? {
                if child.created_by.as_deref() == Some(maker.as_str()) && !child.revoked {
                    self.revoke_one(by, child.id, now).await?;
                    makers.push(format!("key:{}", child.id));
                }
            }
        }
        Ok(revoked)
    }

    async fn revoke_one(
        &self,
        by: &Principal,
        id: ApiKeyId,
        now: DateTime<Utc>,
    ) -> Result<ApiKeyRecord, AuthError> {
        let repo = ApiKeyRepo::new(self.platform.table());
        for _ in 0..5 {
            let Versioned {
                record: mut key,
                version,
            } = repo
                .get_in(by.tenant, id)
                .await?
                .ok_or_else(|| AuthError::NotFound(format!("api key {id}")))?;
            if key.revoked {
                return Ok(key);
            }
            key.revoked = true;
            key.revoked_at = Some(now);
            if repo.update(&key, version).await? {
                self.audit(
                    by.tenant,
                    AuditDraft::new(now, by.actor(), actions::APIKEY_REVOKED)
                        .target(format!("key:{id}")),
                )
                .await;
                return Ok(key);
            }
        }
        Err(AuthError::Conflict("the key kept changing; retry".into()))
    }

    /// After a user's role changed: the keys they made keep only what the new role allows
    /// (a key left with nothing is revoked).
    pub(super) async fn narrow_keys_of(
        &self,
        by: &Principal,
        user: UserId,
        role: Role,
        now: DateTime<Utc>,
    ) -> Result<(), AuthError> {
        let maker = Subject::user_actor(user);
        let repo = ApiKeyRepo::new(self.platform.table());
        for key in self.list_api_keys(by).await? {
            if key.created_by.as_deref() != Some(maker.as_str()) || key.revoked {
                continue;
            }
            let allowed = key.scopes.intersection(role.permissions());
            if allowed == key.scopes {
                continue;
            }
            if allowed.is_empty() {
                self.revoke_api_key(by, key.id, now).await?;
                continue;
            }
            for _ in 0..5 {
                let Some(Versioned {
                    record: mut current,
                    version,
                }) = repo.get_in(by.tenant, key.id).await?
                else {
                    break;
                };
                current.scopes = current.scopes.intersection(role.permissions());
                if repo.update(&current, version).await? {
                    break;
                }
            }
        }
        Ok(())
    }
}
