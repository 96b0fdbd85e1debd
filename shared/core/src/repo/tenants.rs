use serde::{Deserialize, Serialize};

use crate::Timestamp;
use crate::ids::{ApiKeyId, TenantId};
use crate::keys::table as keys;
use crate::ports::{Condition, Item, Table};

use super::{RepoError, decode, encode};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TenantRecord {
    pub id: TenantId,
    pub name: String,
    pub created_at: Timestamp,
}

/// An API key as stored: the secret itself is never kept, only its SHA-256.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiKeyRecord {
    pub id: ApiKeyId,
    pub tenant: TenantId,
    pub name: String,
    /// Hex SHA-256 of the secret part of the key.
    pub secret_sha256: String,
    pub created_at: Timestamp,
    #[serde(default)]
    pub revoked: bool,
}

pub struct TenantRepo<'a, T> {
    table: &'a T,
}

impl<'a, T: Table> TenantRepo<'a, T> {
    pub fn new(table: &'a T) -> Self {
        Self { table }
    }

    /// Create a tenant unless one with that name exists (names are unique; the sort key is
    /// the name so the uniqueness is a conditional write, not a read-then-write race).
    pub async fn create(&self, tenant: &TenantRecord) -> Result<bool, RepoError> {
        let item = Item::new(
            keys::TENANTS_PK,
            format!("name/{}", tenant.name),
            encode(tenant),
        );
        match self.table.put(item, Condition::Absent).await {
            Ok(()) => Ok(true),
            Err(e) if e.is_conflict() => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn by_name(&self, name: &str) -> Result<Option<TenantRecord>, RepoError> {
        match self
            .table
            .get(keys::TENANTS_PK, &format!("name/{name}"))
            .await?
        {
            Some(item) => Ok(Some(decode(item)?)),
            None => Ok(None),
        }
    }

    pub async fn put_api_key(&self, key: &ApiKeyRecord) -> Result<(), RepoError> {
        let item = Item::new(keys::api_key_pk(key.id), keys::API_KEY_SK, encode(key));
        self.table.put(item, Condition::Absent).await?;
        Ok(())
    }

    pub async fn api_key(&self, id: ApiKeyId) -> Result<Option<ApiKeyRecord>, RepoError> {
        match self
            .table
            .get(&keys::api_key_pk(id), keys::API_KEY_SK)
            .await?
        {
            Some(item) => Ok(Some(decode(item)?)),
            None => Ok(None),
        }
    }
}
