//! Serving: each tenant's promoted model, loaded once per process and swapped atomically when a
//! newer version is promoted. Requests read an `Arc` of the model in force, so a swap never
//! waits for them nor they for it. The registry's pointer is read at most once per refresh
//! interval per tenant; a model file whose SHA-256 differs from its registry record is refused
//! (the previous model, if any, stays in service).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use mvidarr_core::ids::TenantId;
use mvidarr_core::ports::blob::read_to_end;
use mvidarr_core::ports::{BlobError, BlobStore, Platform};
use mvidarr_core::repo::{ModelRegistry, ModelVersion, RepoError};
use sha2::{Digest, Sha256};
use tracing::{error, info, instrument};

use super::training::FAMILY;
use crate::model::{ModelError, RecoModel};

/// Model files larger than this are refused (a 100,000-item catalogue's is ~60 MB).
const MAX_MODEL_BYTES: usize = 1 << 30;

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Repo(#[from] RepoError),
    #[error("reading model file {key}: {source}")]
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
    #[error("model file {key} is not the registered one: SHA-256 {actual}, registry {expected}")]
    Integrity {
        key: String,
        expected: String,
        actual: String,
    },
    #[error(transparent)]
    Decode(#[from] ModelError),
    #[error("the model loading task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// The model a tenant is served from.
#[derive(Debug, Clone)]
pub struct Served {
    pub version: u32,
    pub model: Arc<RecoModel>,
}

#[derive(Clone)]
struct Slot {
    served: Option<Served>,
    checked_at: Instant,
}

pub struct Recommender<P> {
    platform: P,
    refresh: Duration,
    slots: RwLock<HashMap<TenantId, Slot>>,
    /// One load at a time per process: a burst of requests after a promotion loads once.
    loading: tokio::sync::Mutex<()>,
}

impl<P: Platform> Recommender<P> {
    /// `refresh`: how stale the view of the registry may be (a new version is served within it).
    pub fn new(platform: P, refresh: Duration) -> Self {
        Recommender {
            platform,
            refresh,
            slots: RwLock::new(HashMap::new()),
            loading: tokio::sync::Mutex::new(()),
        }
    }

    /// The tenant's promoted model, `None` before its first training.
    pub async fn model(&self, tenant: TenantId) -> Result<Option<Served>, ServeError> {
        if let Some(slot) = self.fresh_slot(tenant) {
            return Ok(slot.served);
        }
        let _one_loader = self.loading.lock().await;
        // Another request may have loaded it while this one waited.
        if let Some(slot) = self.fresh_slot(tenant) {
            return Ok(slot.served);
        }
        let previous = self.slot(tenant).and_then(|s| s.served);
        let registry = ModelRegistry::new(self.platform.table());
        let served = match registry.current(tenant, FAMILY).await? {
            None => None,
            Some(record)
                if previous
                    .as_ref()
                    .is_some_and(|p| p.version == record.version) =>
            {
                previous
            }
            Some(record) => match self.load(&record).await {
                Ok(model) => {
                    info!(%tenant, version = record.version, "recommender model loaded");
                    Some(Served {
                        version: record.version,
                        model: Arc::new(model),
                    })
                }
                Err(e) if previous.is_some() => {
                    error!(%tenant, version = record.version, error = %e,
                        "new recommender model refused; the previous one stays in service");
                    previous
                }
                Err(e) => return Err(e),
            },
        };
        self.slots
            .write()
            .expect("no code panics while holding the slots lock")
            .insert(
                tenant,
                Slot {
                    served: served.clone(),
                    checked_at: Instant::now(),
                },
            );
        Ok(served)
    }

    fn slot(&self, tenant: TenantId) -> Option<Slot> {
        self.slots
            .read()
            .expect("no code panics while holding the slots lock")
            .get(&tenant)
            .cloned()
    }

    fn fresh_slot(&self, tenant: TenantId) -> Option<Slot> {
        self.slot(tenant)
            .filter(|s| s.checked_at.elapsed() < self.refresh)
    }

    #[instrument(skip_all, fields(version = record.version))]
    async fn load(&self, record: &ModelVersion) -> Result<RecoModel, ServeError> {
        let key = record.blob_key.clone();
        let body = self
            .platform
            .blobs()
            .get(&key)
            .await
            .map_err(|source| ServeError::Blob {
                key: key.clone(),
                source,
            })?;
        let bytes =
            read_to_end(body, MAX_MODEL_BYTES)
                .await
                .map_err(|source| ServeError::Read {
                    key: key.clone(),
                    source,
                })?;
        let expected = record.sha256.clone();
        let model = tokio::task::spawn_blocking(move || {
            let actual = hex::encode(Sha256::digest(&bytes));
            if actual != expected {
                return Err(ServeError::Integrity {
                    key,
                    expected,
                    actual,
                });
            }
            Ok(RecoModel::from_bytes(&bytes)?)
        })
        .await??;
        Ok(model)
    }
}
