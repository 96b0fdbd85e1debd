use serde::{Deserialize, Serialize};

use crate::Timestamp;
use crate::ids::TenantId;
use crate::keys::table as keys;
use crate::ports::{Condition, Item, Table};

use super::{RepoError, decode, encode};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TenantRecord {
    pub id: TenantId,
    pub name: String,
    pub created_at: Timestamp,
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
}
