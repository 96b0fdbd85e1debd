use serde::{Deserialize, Serialize};

use crate::Timestamp;
use crate::ids::{MediaId, TenantId};
use crate::keys::table as keys;
use crate::ports::{Condition, Item, Table};

use super::{RepoError, decode, encode};

/// What a client declared in `POST /v1/uploads`, kept until its bytes arrive.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UploadReservation {
    pub media_id: MediaId,
    pub tenant: TenantId,
    pub filename: String,
    pub content_type: String,
    pub declared_size: u64,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

pub struct UploadRepo<'a, T> {
    table: &'a T,
}

impl<'a, T: Table> UploadRepo<'a, T> {
    pub fn new(table: &'a T) -> Self {
        Self { table }
    }

    pub async fn reserve(&self, r: &UploadReservation) -> Result<(), RepoError> {
        let item = Item::new(
            keys::uploads_pk(r.tenant),
            r.media_id.to_string(),
            encode(r),
        );
        self.table.put(item, Condition::Absent).await?;
        Ok(())
    }

    pub async fn get(
        &self,
        tenant: TenantId,
        media: MediaId,
    ) -> Result<Option<UploadReservation>, RepoError> {
        match self
            .table
            .get(&keys::uploads_pk(tenant), &media.to_string())
            .await?
        {
            Some(item) => Ok(Some(decode(item)?)),
            None => Ok(None),
        }
    }
}
