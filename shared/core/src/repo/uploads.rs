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
    /// Set while an upload of the bytes is in progress or done: one reservation, one upload.
    #[serde(default)]
    pub claimed: bool,
}

/// What claiming a reservation found.
#[derive(Debug, Clone, PartialEq)]
pub enum Claim {
    /// This caller may upload now, within what the reservation declared.
    Claimed(UploadReservation),
    /// Another upload has it (or had it).
    Taken,
    /// Nothing was reserved under this id.
    NoReservation,
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

    /// Take the reservation for one upload, atomically (a version-checked write): of two
    /// uploads racing for it exactly one gets `Claimed`.
    pub async fn claim(&self, tenant: TenantId, media: MediaId) -> Result<Claim, RepoError> {
        self.set_claimed(tenant, media, true).await
    }

    /// Give a claim back after an upload that stored nothing, so the client can try again.
    pub async fn release(&self, tenant: TenantId, media: MediaId) -> Result<(), RepoError> {
        self.set_claimed(tenant, media, false).await.map(drop)
    }

    async fn set_claimed(
        &self,
        tenant: TenantId,
        media: MediaId,
        claimed: bool,
    ) -> Result<Claim, RepoError> {
        let (pk, sk) = (keys::uploads_pk(tenant), media.to_string());
        let Some(item) = self.table.get(&pk, &sk).await? else {
            return Ok(Claim::NoReservation);
        };
        let version = item.version;
        let mut reservation: UploadReservation = decode(item)?;
        if reservation.claimed == claimed {
            return Ok(Claim::Taken);
        }
        reservation.claimed = claimed;
        let mut item = Item::new(pk, sk, encode(&reservation));
        item.version = version + 1;
        match self.table.put(item, Condition::VersionIs(version)).await {
            Ok(()) => Ok(Claim::Claimed(reservation)),
            Err(e) if e.is_conflict() => Ok(Claim::Taken),
            Err(e) => Err(e.into()),
        }
    }
}
