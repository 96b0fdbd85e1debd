//! Model files in the blob store, kept honest by the registry: [`publish_model`] writes a file
//! under the next version of its family and registers it with its SHA-256; [`fetch_model`]
//! reads a registered file back and refuses one whose digest differs (a corrupted or swapped
//! file is never served).

use sha2::{Digest, Sha256};

use crate::Timestamp;
use crate::ids::TenantId;
use crate::ports::blob::read_to_end;
use crate::ports::{BlobError, BlobStore, Platform};

use super::{ModelFile, ModelRegistry, ModelVersion, RepoError};

#[derive(Debug, thiserror::Error)]
pub enum ModelFileError {
    #[error(transparent)]
    Repo(#[from] RepoError),
    #[error("model file {key}: {source}")]
    Blob {
        key: String,
        #[source]
        source: BlobError,
    },
    #[error("reading model file {key}: {source}")]
    Read {
        key: String,
        #[source]
        source: std::io::Error,
    },
    #[error("model file {key} has SHA-256 {actual}, the registry says {expected}: refused")]
    Integrity {
        key: String,
        expected: String,
        actual: String,
    },
}

impl ModelFileError {
    /// Whether trying again later can help.
    pub fn is_transient(&self) -> bool {
        match self {
            ModelFileError::Repo(e) => e.is_transient(),
            ModelFileError::Blob { source, .. } => matches!(source, BlobError::Transient(_)),
            ModelFileError::Read { source, .. } => source.kind() != std::io::ErrorKind::InvalidData,
            ModelFileError::Integrity { .. } => false,
        }
    }
}

/// Rounds of reserve-write-register when other trainers of the same family keep winning.
const MAX_PUBLISH_ATTEMPTS: u32 = 5;

/// Writes `bytes` as the next version of `family` and registers it with its digest and the
/// metrics `metrics_for(version)` gives. Does not promote it: that is the trainer's decision.
pub async fn publish_model<P: Platform>(
    platform: &P,
    tenant: TenantId,
    family: &str,
    bytes: Vec<u8>,
    metrics_for: impl Fn(u32) -> serde_json::Value,
    now: Timestamp,
) -> Result<ModelVersion, ModelFileError> {
    let registry = ModelRegistry::new(platform.table());
    let sha256 = hex::encode(Sha256::digest(&bytes));
    let size = bytes.len() as u64;
    let body = bytes::Bytes::from(bytes);
    let mut attempts = 0;
    loop {
        attempts += 1;
        let reservation = registry.next_version(tenant, family).await?;
        let key = reservation.blob_key(tenant, family, &sha256);
        platform
            .blobs()
            .put(
                &key,
                crate::ports::blob::body_of(body.clone()),
                Some("application/octet-stream"),
            )
            .await
            .map_err(|source| ModelFileError::Blob {
                key: key.clone(),
                source,
            })?;
        let file = ModelFile {
            sha256: sha256.clone(),
            size,
            metrics: metrics_for(reservation.version),
        };
        match registry
            .register(tenant, family, reservation, file, now)
            .await
        {
            Ok(version) => return Ok(version),
            // Another trainer took the number: the next one is free (the file written under
            // this reservation stays, named by its digest, and harms nobody).
            Err(RepoError::Contended { .. }) if attempts < MAX_PUBLISH_ATTEMPTS => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// The bytes of a registered model file (at most `max_bytes`), checked against its digest.
/// Hashing takes a second per few hundred megabytes: a large file is better read with
/// [`read_model`] and checked with [`verify`] off the async runtime.
pub async fn fetch_model<P: Platform>(
    platform: &P,
    record: &ModelVersion,
    max_bytes: usize,
) -> Result<Vec<u8>, ModelFileError> {
    let bytes = read_model(platform, record, max_bytes).await?;
    verify(&record.blob_key, &record.sha256, &bytes)?;
    Ok(bytes)
}

/// The bytes of a registered model file (at most `max_bytes`), not yet checked: pass them to
/// [`verify`] before use.
pub async fn read_model<P: Platform>(
    platform: &P,
    record: &ModelVersion,
    max_bytes: usize,
) -> Result<Vec<u8>, ModelFileError> {
    let key = record.blob_key.clone();
    let body = platform
        .blobs()
        .get(&key)
        .await
        .map_err(|source| ModelFileError::Blob {
            key: key.clone(),
            source,
        })?;
    let bytes = read_to_end(body, max_bytes)
        .await
        .map_err(|source| ModelFileError::Read {
            key: key.clone(),
            source,
        })?;
    Ok(bytes)
}

/// Refuses bytes whose SHA-256 is not `expected`.
pub fn verify(key: &str, expected: &str, bytes: &[u8]) -> Result<(), ModelFileError> {
    let actual = hex::encode(Sha256::digest(bytes));
    if actual == expected {
        Ok(())
    } else {
        Err(ModelFileError::Integrity {
            key: key.to_owned(),
            expected: expected.to_owned(),
            actual,
        })
    }
}
