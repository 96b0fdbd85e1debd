//! The model registry: every trained model version of a tenant, with the SHA-256 of its file,
//! its metrics and which version is promoted. Families name what a model is for (`reco`, and
//! e.g. `tags/live` for a per-tag classifier); versions count up from 1 within a family.
//!
//! Registering is two steps so the file can be named by its version: [`ModelRegistry::next_version`]
//! says which number to write the file under, and [`ModelRegistry::register`] records it in one
//! transaction with the family's head, conditional on the head being unchanged: two trainers
//! racing cannot both take a number (the loser gets `Contended` and trains again or retries).

use serde::{Deserialize, Serialize};

use crate::Timestamp;
use crate::ids::TenantId;
use crate::keys::{blob, table as keys};
use crate::ports::{Condition, Item, Query, Table, WriteOp};

use super::{RepoError, decode, encode, query_all};

/// One registered model file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelVersion {
    pub tenant: TenantId,
    pub family: String,
    pub version: u32,
    /// Hex SHA-256 of the file; loaders refuse a file that does not match.
    pub sha256: String,
    pub size: u64,
    pub blob_key: String,
    /// Whatever the trainer measured (data sizes, held-out scores, training time).
    pub metrics: serde_json::Value,
    pub created_at: Timestamp,
}

#[derive(Debug, Serialize, Deserialize)]
struct Head {
    latest: u32,
}

#[derive(Debug, Serialize, Deserialize)]
struct Current {
    version: u32,
    promoted_at: Timestamp,
}

/// What a trainer wrote: the file's digest and size, and what it measured.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelFile {
    pub sha256: String,
    pub size: u64,
    pub metrics: serde_json::Value,
}

/// A number to write a new model file under, and what the head was when it was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reservation {
    pub version: u32,
    head_version: Option<u64>,
}

pub struct ModelRegistry<'a, T> {
    table: &'a T,
}

impl<'a, T: Table> ModelRegistry<'a, T> {
    pub fn new(table: &'a T) -> Self {
        Self { table }
    }

    /// The version a new model of `family` would get, and the blob key to write it to.
    pub async fn next_version(
        &self,
        tenant: TenantId,
        family: &str,
    ) -> Result<(Reservation, String), RepoError> {
        let head = self
            .table
            .get(&keys::models_pk(tenant), &keys::model_head_sk(family))
            .await?;
        let (latest, head_version) = match head {
            Some(item) => {
                let v = item.version;
                (decode::<Head>(item)?.latest, Some(v))
            }
            None => (0, None),
        };
        let version = latest + 1;
        Ok((
            Reservation {
                version,
                head_version,
            },
            blob::model(tenant, family, version),
        ))
    }

    /// Records a model file written under a reservation. `Contended` when another version was
    /// registered since the reservation.
    pub async fn register(
        &self,
        tenant: TenantId,
        family: &str,
        reservation: Reservation,
        file: ModelFile,
        now: Timestamp,
    ) -> Result<ModelVersion, RepoError> {
        let record = ModelVersion {
            tenant,
            family: family.to_owned(),
            version: reservation.version,
            sha256: file.sha256,
            size: file.size,
            blob_key: blob::model(tenant, family, reservation.version),
            metrics: file.metrics,
            created_at: now,
        };
        let pk = keys::models_pk(tenant);
        let mut head = Item::new(
            pk.clone(),
            keys::model_head_sk(family),
            encode(&Head {
                latest: reservation.version,
            }),
        );
        let head_condition = match reservation.head_version {
            Some(v) => {
                head.version = v + 1;
                Condition::VersionIs(v)
            }
            None => {
                head.version = 1;
                Condition::Absent
            }
        };
        let ops = vec![
            WriteOp::Put {
                item: head,
                condition: head_condition,
            },
            WriteOp::Put {
                item: Item::new(
                    pk,
                    keys::model_version_sk(family, reservation.version),
                    encode(&record),
                ),
                condition: Condition::Absent,
            },
        ];
        match self.table.transact_write(ops).await {
            Ok(()) => Ok(record),
            Err(e) if e.is_conflict() => Err(RepoError::Contended {
                what: format!("model registry head of {family}"),
                attempts: 1,
            }),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn get(
        &self,
        tenant: TenantId,
        family: &str,
        version: u32,
    ) -> Result<Option<ModelVersion>, RepoError> {
        self.table
            .get(
                &keys::models_pk(tenant),
                &keys::model_version_sk(family, version),
            )
            .await?
            .map(decode)
            .transpose()
    }

    /// Makes `version` the one served (or rolls back to it). `NotFound` for an unknown version.
    pub async fn promote(
        &self,
        tenant: TenantId,
        family: &str,
        version: u32,
        now: Timestamp,
    ) -> Result<(), RepoError> {
        let pk = keys::models_pk(tenant);
        let ops = vec![
            WriteOp::Check {
                pk: pk.clone(),
                sk: keys::model_version_sk(family, version),
                condition: Condition::Exists,
            },
            WriteOp::Put {
                item: Item::new(
                    pk,
                    keys::model_current_sk(family),
                    encode(&Current {
                        version,
                        promoted_at: now,
                    }),
                ),
                condition: Condition::Always,
            },
        ];
        match self.table.transact_write(ops).await {
            Err(e) if e.is_conflict() => Err(RepoError::NotFound(format!(
                "model {family} version {version}"
            ))),
            other => Ok(other?),
        }
    }

    /// The promoted version's number, if any (one small read: servers poll it).
    pub async fn current_version(
        &self,
        tenant: TenantId,
        family: &str,
    ) -> Result<Option<u32>, RepoError> {
        let item = self
            .table
            .get(&keys::models_pk(tenant), &keys::model_current_sk(family))
            .await?;
        Ok(item.map(decode::<Current>).transpose()?.map(|c| c.version))
    }

    /// The promoted version's record, if any.
    pub async fn current(
        &self,
        tenant: TenantId,
        family: &str,
    ) -> Result<Option<ModelVersion>, RepoError> {
        match self.current_version(tenant, family).await? {
            Some(v) => self.get(tenant, family, v).await,
            None => Ok(None),
        }
    }

    /// Every version of a family, oldest first.
    pub async fn list(
        &self,
        tenant: TenantId,
        family: &str,
    ) -> Result<Vec<ModelVersion>, RepoError> {
        query_all(
            self.table,
            Query::partition(keys::models_pk(tenant)).prefix(keys::model_versions_prefix(family)),
        )
        .await
    }
}
