//! The embedded server's first run: a tenant `default` and an owner key to use it with.

use chrono::Utc;
use mvidarr_auth::ratelimit::Plan;
use mvidarr_auth::service::{AuthError, Identity};
use mvidarr_core::ids::TenantId;
use mvidarr_core::ports::Platform;
use mvidarr_core::repo::{RepoError, TenantRecord, TenantRepo};

/// On first start: create tenant `default` (on the enterprise plan: the largest rate limits)
/// and an API key with the owner's permissions.
/// Returns the tenant and a new key when one was made (the caller shows and stores it; it is
/// not kept here). `key_missing` asks for a fresh key for an existing tenant: the caller lost
/// the file that held the key (or a crash came between creating the tenant and saving its
/// key), and an owner with no key could never get in again.
pub async fn bootstrap_default_tenant<P: Platform>(
    identity: &Identity<P>,
    key_missing: bool,
) -> Result<(TenantId, Option<String>), AuthError> {
    let repo = TenantRepo::new(identity.platform().table());
    let tenant = match repo.by_name("default").await? {
        Some(t) if !key_missing => return Ok((t.id, None)),
        Some(t) => t.id,
        None => {
            let record = TenantRecord {
                id: TenantId::generate(),
                name: "default".into(),
                created_at: Utc::now(),
            };
            if repo.create(&record).await? {
                // The embedded server's own tenant: nobody to protect it from but its owner.
                identity
                    .set_plan(record.id, Plan::Enterprise, Utc::now())
                    .await?;
                record.id
            } else {
                // Lost a race with another process creating it: use theirs.
                repo.by_name("default")
                    .await?
                    .ok_or_else(|| RepoError::NotFound("tenant default".into()))?
                    .id
            }
        }
    };
    let key = identity
        .system_api_key(tenant, "bootstrap", Utc::now())
        .await?;
    Ok((tenant, Some(key.key)))
}
