//! The model registry: every trained model version of a tenant, with the SHA-256 of its file,
//! its metrics and which version is promoted. Families name what a model is for (`reco`, and
//! e.g. `tags/live` for a per-tag classifier); versions count up from 1 within a family.
//!
//! Registering is two steps so the file can be named by its version: [`ModelRegistry::next_version`]
//! says which number to write the file under ([`Reservation::blob_key`]: the number and the
//! file's digest, so racing trainers never overwrite each other's file), and
//! [`ModelRegistry::register`] records it in one transaction with the family's head, conditional
//! on the head being unchanged: two trainers racing cannot both take a number (the loser gets
//! `Contended` and retries with the next one). Automatic promotion only moves forward
//! ([`ModelRegistry::promote_if_newer`]); [`ModelRegistry::promote`] also rolls back.

use serde::{Deserialize, Serialize};

use crate::Timestamp;
use crate::ids::TenantId;
use crate::keys::{blob, table as keys};
use crate::ports::{Condition, Item, Query, Table, WriteOp};

use super::{RepoError, decode, encode, query_all_with};

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

/// When a promotion may move the pointer.
#[derive(Debug, Clone, Copy)]
enum Guard {
    /// Always (a person promoting or rolling back).
    Any,
    /// Only forward: to a version newer than the promoted one.
    Newer,
    /// Only if the promoted version is still this one.
    CurrentIs(Option<u32>),
}

/// Rounds of read-and-swap of the promoted pointer before giving up.
const MAX_PROMOTE_ATTEMPTS: u32 = 8;

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

impl Reservation {
    /// Where the file with this digest is written under this reservation.
    pub fn blob_key(&self, tenant: TenantId, family: &str, sha256: &str) -> String {
        blob::model(tenant, family, self.version, sha256)
    }
}

pub struct ModelRegistry<'a, T> {
    table: &'a T,
}

impl<'a, T: Table> ModelRegistry<'a, T> {
    pub fn new(table: &'a T) -> Self {
        Self { table }
    }

    /// The version a new model of `family` would get.
    pub async fn next_version(
        &self,
        tenant: TenantId,
        family: &str,
    ) -> Result<Reservation, RepoError> {
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
        Ok(Reservation {
            version: latest + 1,
            head_version,
        })
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
            blob_key: reservation.blob_key(tenant, family, &file.sha256),
            sha256: file.sha256,
            size: file.size,
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
        let family_item = Item::new(
            pk.clone(),
            keys::model_family_sk(family),
            encode(&Head {
                latest: reservation.version,
            }),
        );
        let ops = vec![
            WriteOp::Put {
                item: head,
                condition: head_condition,
            },
            // The head decides the race; this only lists the family.
            WriteOp::Put {
                item: family_item,
                condition: Condition::Always,
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
        self.swap_current(tenant, family, version, now, Guard::Any)
            .await
            .map(|_| ())
    }

    /// Promotes `version` unless a version at least as new is promoted already (a slower
    /// trainer finishing late must not replace a newer model). Whether it was promoted.
    pub async fn promote_if_newer(
        &self,
        tenant: TenantId,
        family: &str,
        version: u32,
        now: Timestamp,
    ) -> Result<bool, RepoError> {
        self.swap_current(tenant, family, version, now, Guard::Newer)
            .await
    }

    /// Promotes `version` only if the promoted version is still `expected` (`None`: none is):
    /// a trainer that compared its model with `expected` must not replace a version promoted
    /// meanwhile, by another trainer or by a person rolling back. Whether it was promoted.
    pub async fn promote_if_current(
        &self,
        tenant: TenantId,
        family: &str,
        version: u32,
        expected: Option<u32>,
        now: Timestamp,
    ) -> Result<bool, RepoError> {
        self.swap_current(tenant, family, version, now, Guard::CurrentIs(expected))
            .await
    }

    /// Points `current` at `version` with a compare-and-set on the pointer, in one transaction
    /// with a check that the version exists.
    async fn swap_current(
        &self,
        tenant: TenantId,
        family: &str,
        version: u32,
        now: Timestamp,
        guard: Guard,
    ) -> Result<bool, RepoError> {
        let pk = keys::models_pk(tenant);
        let sk = keys::model_current_sk(family);
        for _ in 0..MAX_PROMOTE_ATTEMPTS {
            let current = self.table.get(&pk, &sk).await?;
            let promoted = current
                .as_ref()
                .map(|item| decode::<Current>(item.clone()).map(|c| c.version))
                .transpose()?;
            let allowed = match guard {
                Guard::Any => true,
                Guard::Newer => promoted.is_none_or(|p| p < version),
                Guard::CurrentIs(expected) => promoted == expected,
            };
            if !allowed {
                return Ok(false);
            }
            let condition = match &current {
                Some(item) => Condition::VersionIs(item.version),
                None => Condition::Absent,
            };
            let mut item = Item::new(
                pk.clone(),
                sk.clone(),
                encode(&Current {
                    version,
                    promoted_at: now,
                }),
            );
            item.version = current.map_or(1, |c| c.version + 1);
            let ops = vec![
                WriteOp::Check {
                    pk: pk.clone(),
                    sk: keys::model_version_sk(family, version),
                    condition: Condition::Exists,
                },
                WriteOp::Put { item, condition },
            ];
            match self.table.transact_write(ops).await {
                Ok(()) => return Ok(true),
                // The pointer moved, or the version is unknown: the record tells which.
                Err(e) if e.is_conflict() => {
                    if self.get(tenant, family, version).await?.is_none() {
                        return Err(RepoError::NotFound(format!(
                            "model {family} version {version}"
                        )));
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(RepoError::Contended {
            what: format!("model registry pointer of {family}"),
            attempts: MAX_PROMOTE_ATTEMPTS,
        })
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
        let prefix = keys::model_versions_prefix(family);
        let items = query_all_with(
            self.table,
            Query::partition(keys::models_pk(tenant)).prefix(prefix.as_str()),
            Ok,
        )
        .await?;
        // Family names nest (`tags/a` and `tags/a/v`): keep this family's own version records.
        items
            .into_iter()
            .filter(|item| item.sk[prefix.len()..].bytes().all(|b| b.is_ascii_digit()))
            .map(decode)
            .collect()
    }

    /// The families under `prefix` (e.g. `tags/`) that have a registered version, with their
    /// latest version number: one small item per family, whatever its number of versions.
    pub async fn families(
        &self,
        tenant: TenantId,
        prefix: &str,
    ) -> Result<Vec<(String, u32)>, RepoError> {
        let listed = keys::model_families_prefix("");
        query_all_with(
            self.table,
            Query::partition(keys::models_pk(tenant)).prefix(keys::model_families_prefix(prefix)),
            |item| {
                let family = item.sk[listed.len()..].to_owned();
                Ok((family, decode::<Head>(item)?.latest))
            },
        )
        .await
    }
}
