use serde::{Deserialize, Serialize};

use crate::Timestamp;
use crate::ids::TenantId;
use crate::keys::table as keys;
use crate::ports::table::MAX_PAGE_ITEMS;
use crate::ports::{Condition, Item, Query, Table, WriteOp};

use super::{RepoError, decode, encode, query_all};

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

    /// Every tenant, in name order. Read from the name entries: every tenant has one, while
    /// tenants made before ids were filed too have no id entry.
    pub async fn list_all(&self) -> Result<Vec<TenantRecord>, RepoError> {
        query_all(
            self.table,
            Query::partition(keys::TENANTS_PK)
                .prefix("name/")
                .limit(MAX_PAGE_ITEMS),
        )
        .await
    }

    async fn get(&self, sk: &str) -> Result<Option<TenantRecord>, RepoError> {
        self.table
            .get(keys::TENANTS_PK, sk)
            .await?
            .map(decode)
            .transpose()
    }
}
