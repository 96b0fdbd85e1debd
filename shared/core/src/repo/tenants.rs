use serde::{Deserialize, Serialize};

use crate::Timestamp;
use crate::ids::TenantId;
use crate::keys::table as keys;
use crate::ports::{Condition, Item, Table, WriteOp};

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
        let by_name = Item::new(
            keys::TENANTS_PK,
            format!("name/{}", tenant.name),
            encode(tenant),
        );
        let by_id = Item::new(
            keys::TENANTS_PK,
            format!("id/{}", tenant.id),
            encode(tenant),
        );
        let ops = [by_name, by_id]
            .into_iter()
            .map(|item| WriteOp::Put {
                item,
                condition: Condition::Absent,
            })
            .collect();
        match self.table.transact_write(ops).await {
            Ok(()) => Ok(true),
            Err(e) if e.is_conflict() => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn by_name(&self, name: &str) -> Result<Option<TenantRecord>, RepoError> {
        self.get(&format!("name/{name}")).await
    }

    /// Tenants made before ids were filed too are found by name only.
    pub async fn by_id(&self, id: TenantId) -> Result<Option<TenantRecord>, RepoError> {
        self.get(&format!("id/{id}")).await
    }

    async fn get(&self, sk: &str) -> Result<Option<TenantRecord>, RepoError> {
        self.table
            .get(keys::TENANTS_PK, sk)
            .await?
            .map(decode)
            .transpose()
    }
}
