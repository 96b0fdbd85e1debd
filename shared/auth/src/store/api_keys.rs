//! API key records: a global item per key (found by the id in the presented key, so the
//! authentication path is one strongly consistent read) listed per tenant through the index.

use chrono::{DateTime, Utc};
use mvidarr_core::ids::{ApiKeyId, TenantId};
use mvidarr_core::keys::table as keys;
use mvidarr_core::ports::{Index, Item, Query, Table};
use mvidarr_core::repo::{RepoError, encode, query_all};
use serde::{Deserialize, Serialize};

use super::{Versioned, put_over, versioned};
use crate::policy::{Permissions, Role};

/// The secret itself is never kept, only its SHA-256.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiKeyRecord {
    pub id: ApiKeyId,
    pub tenant: TenantId,
    pub name: String,
    pub secret_sha256: String,
    /// What the key may do. Keys made before scopes existed were the tenant owner's.
    #[serde(default = "owner_permissions")]
    pub scopes: Permissions,
    pub created_at: DateTime<Utc>,
    /// Who made it (`user:…`, or `system` for the first key of a tenant).
    #[serde(default)]
    pub created_by: Option<String>,
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub revoked: bool,
    #[serde(default)]
    pub revoked_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub last_used_at: Option<DateTime<Utc>>,
}

fn owner_permissions() -> Permissions {
    Role::Owner.permissions()
}

impl ApiKeyRecord {
    pub fn is_usable(&self, now: DateTime<Utc>) -> bool {
        !self.revoked && self.expires_at.is_none_or(|e| e > now)
    }
}

fn item(key: &ApiKeyRecord) -> Item {
    Item::new(keys::api_key_pk(key.id), keys::API_KEY_SK, encode(key))
        .with_index(keys::api_keys_index_pk(key.tenant), key.id.to_string())
}

pub struct ApiKeyRepo<'a, T> {
    table: &'a T,
}

impl<'a, T: Table> ApiKeyRepo<'a, T> {
    pub fn new(table: &'a T) -> Self {
        Self { table }
    }

    pub async fn create(&self, key: &ApiKeyRecord) -> Result<(), RepoError> {
        if !put_over(self.table, item(key), None).await? {
            return Err(RepoError::Contended {
                what: format!("api key {}", key.id),
                attempts: 1,
            });
        }
        Ok(())
    }

    pub async fn get(&self, id: ApiKeyId) -> Result<Option<Versioned<ApiKeyRecord>>, RepoError> {
        self.table
            .get(&keys::api_key_pk(id), keys::API_KEY_SK)
            .await?
            .map(versioned)
            .transpose()
    }

    /// A key of this tenant (another tenant's key is not found).
    pub async fn get_in(
        &self,
        tenant: TenantId,
        id: ApiKeyId,
    ) -> Result<Option<Versioned<ApiKeyRecord>>, RepoError> {
        Ok(self.get(id).await?.filter(|k| k.record.tenant == tenant))
    }

    /// Write back a key read at `version`; `Ok(false)` if it changed meanwhile.
    pub async fn update(&self, key: &ApiKeyRecord, version: u64) -> Result<bool, RepoError> {
        put_over(self.table, item(key), Some(version)).await
    }

    /// The tenant's keys, oldest first. Read through the index, so a key made a moment ago
    /// may be missing on DynamoDB; authentication never lists.
    pub async fn list(&self, tenant: TenantId) -> Result<Vec<ApiKeyRecord>, RepoError> {
        query_all(
            self.table,
            Query::partition(keys::api_keys_index_pk(tenant))
                .on_index(Index::Gsi1)
                .limit(1000),
        )
        .await
    }
}
