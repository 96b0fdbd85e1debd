//! Serving: each tenant's promoted model, loaded once per process and swapped atomically when a
//! newer version is promoted. Requests read an `Arc` of the model in force, so a swap never
//! waits for them; while one request refreshes a tenant, the others are served the model in
//! memory. The registry's pointer is read at most once per refresh interval per tenant; a
//! model file whose SHA-256 differs from its registry record is refused, and so is a registry
//! that cannot be read, with the previous model, if any, staying in service.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use mvidarr_core::ids::TenantId;
use mvidarr_core::ports::Platform;
use mvidarr_core::repo::{
    ModelFileError, ModelRegistry, ModelVersion, RepoError, read_model, verify_model,
};
use tracing::{error, info, instrument};

use super::training::FAMILY;
use crate::model::{ModelError, RecoModel};

/// Model files larger than this are refused (a 100,000-item catalogue's is ~60 MB).
const MAX_MODEL_BYTES: usize = 1 << 30;

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Repo(#[from] RepoError),
    #[error(transparent)]
    File(#[from] ModelFileError),
    #[error(transparent)]
    Decode(#[from] ModelError),
    #[error("the model loading task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
    /// The promoted model could not be loaded lately, and there is no earlier one to serve.
    #[error("no recommender model can be served right now: {0}")]
    Unavailable(String),
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
    /// Why the promoted model could not be loaded, when nothing is served: remembered for a
    /// refresh interval so requests do not each fetch and hash a bad file again.
    failure: Option<String>,
    checked_at: Instant,
}

impl Slot {
    fn answer(&self) -> Result<Option<Served>, ServeError> {
        match (&self.served, &self.failure) {
            (None, Some(reason)) => Err(ServeError::Unavailable(reason.clone())),
            (served, _) => Ok(served.clone()),
        }
    }
}

pub struct Recommender<P> {
    platform: P,
    refresh: Duration,
    slots: RwLock<HashMap<TenantId, Slot>>,
    /// Per tenant, one refresh at a time: a burst of requests after a promotion loads once,
    /// and one tenant's slow load never holds up another's requests.
    loading: Mutex<HashMap<TenantId, Arc<tokio::sync::Mutex<()>>>>,
}

impl<P: Platform> Recommender<P> {
    /// `refresh`: how stale the view of the registry may be (a new version is served within it).
    pub fn new(platform: P, refresh: Duration) -> Self {
        Recommender {
            platform,
            refresh,
            slots: RwLock::new(HashMap::new()),
            loading: Mutex::new(HashMap::new()),
        }
    }

    /// The tenant's promoted model, `None` before its first training. While one request
    /// refreshes a tenant's model, the others are served the model already in memory.
    pub async fn model(&self, tenant: TenantId) -> Result<Option<Served>, ServeError> {
        let slot = self.slot(tenant);
        if let Some(slot) = &slot
            && slot.checked_at.elapsed() < self.refresh
        {
            return slot.answer();
        }
        let lock = self.tenant_lock(tenant);
        let _refreshing = match lock.clone().try_lock_owned() {
            Ok(guard) => guard,
            Err(_) => match slot.as_ref().and_then(|s| s.served.clone()) {
                Some(previous) => return Ok(Some(previous)),
                None => lock.lock_owned().await,
            },
        };
        // Another request may have refreshed it while this one waited.
        let slot = self.slot(tenant);
        if let Some(slot) = &slot
            && slot.checked_at.elapsed() < self.refresh
        {
            return slot.answer();
        }
        let previous = slot.and_then(|s| s.served);
        let (served, failure) = self.refresh_from_registry(tenant, previous).await;
        let slot = Slot {
            served,
            failure,
            checked_at: Instant::now(),
        };
        self.slots
            .write()
            .expect("no code panics while holding the slots lock")
            .insert(tenant, slot.clone());
        slot.answer()
    }

    /// The model to serve after reading the registry: the promoted one, or the previous one
    /// when the registry cannot be read or the promoted file cannot be loaded (then with the
    /// reason, if there is no previous one).
    async fn refresh_from_registry(
        &self,
        tenant: TenantId,
        previous: Option<Served>,
    ) -> (Option<Served>, Option<String>) {
        let registry = ModelRegistry::new(self.platform.table());
        let record = match registry.current(tenant, FAMILY).await {
            Ok(None) => return (None, None),
            Ok(Some(record)) => record,
            Err(e) => {
                error!(%tenant, error = %e, "reading the model registry failed");
                let failure = previous.is_none().then(|| e.to_string());
                return (previous, failure);
            }
        };
        if let Some(p) = &previous
            && p.version == record.version
        {
            return (previous, None);
        }
        match self.load(&record).await {
            Ok(model) => {
                info!(%tenant, version = record.version, "recommender model loaded");
                let served = Served {
                    version: record.version,
                    model: Arc::new(model),
                };
                (Some(served), None)
            }
            Err(e) => {
                error!(%tenant, version = record.version, error = %e,
                    "recommender model refused; the previous one (if any) stays in service");
                let failure = previous.is_none().then(|| e.to_string());
                (previous, failure)
            }
        }
    }

    fn tenant_lock(&self, tenant: TenantId) -> Arc<tokio::sync::Mutex<()>> {
        self.loading
            .lock()
            .expect("no code panics while holding the loading map")
            .entry(tenant)
            .or_default()
            .clone()
    }

    fn slot(&self, tenant: TenantId) -> Option<Slot> {
        self.slots
            .read()
            .expect("no code panics while holding the slots lock")
            .get(&tenant)
            .cloned()
    }

    #[instrument(skip_all, fields(version = record.version))]
    async fn load(&self, record: &ModelVersion) -> Result<RecoModel, ServeError> {
        let bytes = read_model(&self.platform, record, MAX_MODEL_BYTES).await?;
        let (key, sha256) = (record.blob_key.clone(), record.sha256.clone());
        // Hashing and decoding tens of megabytes: off the runtime's workers.
        tokio::task::spawn_blocking(move || {
            verify_model(&key, &sha256, &bytes)?;
            Ok(RecoModel::from_bytes(&bytes)?)
        })
        .await?
    }
}
