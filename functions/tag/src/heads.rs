//! A tenant's promoted tag heads: read from the model registry (family `tags/<name>`), each
//! file checked against the SHA-256 the registry holds, and kept in memory between
//! invocations. A head whose file is refused (digest, format, or a head for another tag) is
//! logged and left out: the media still gets its other tags.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mvidarr_core::ids::TenantId;
use mvidarr_core::ports::Platform;
use mvidarr_core::repo::{ModelFileError, ModelRegistry, ModelVersion, fetch_model};
use mvidarr_core::tag::{MODEL_FAMILY_PREFIX, TagName, tag_of_family};
use mvidarr_tags::TagHead;
use tracing::{error, info};

/// Head files larger than this are refused (a head is a few kilobytes).
pub const MAX_HEAD_BYTES: usize = 16 << 20;

/// A promoted head and where it came from.
#[derive(Debug, Clone)]
pub struct LoadedHead {
    pub family: String,
    pub version: u32,
    pub head: Arc<TagHead>,
    /// How many people's decisions it learned from (its training positives and negatives).
    pub decisions: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum HeadError {
    #[error(transparent)]
    File(#[from] ModelFileError),
    #[error("{0}")]
    Decode(#[from] mvidarr_tags::ModelFileError),
    #[error("model family {family} holds a head for tag {tag}")]
    WrongTag { family: String, tag: TagName },
}

/// One registered head file, verified and decoded.
pub async fn load_head<P: Platform>(
    platform: &P,
    record: &ModelVersion,
) -> Result<TagHead, HeadError> {
    let bytes = fetch_model(platform, record, MAX_HEAD_BYTES).await?;
    let head = TagHead::from_bytes(&bytes)?;
    if tag_of_family(&record.family).as_ref() != Some(&head.tag) {
        return Err(HeadError::WrongTag {
            family: record.family.clone(),
            tag: head.tag,
        });
    }
    Ok(head)
}

/// The training decisions a registered head's metrics record.
fn decisions_of(record: &ModelVersion) -> u64 {
    let count = |k: &str| record.metrics.get(k).and_then(|v| v.as_u64()).unwrap_or(0);
    count("train_positives") + count("train_negatives")
}

/// Every promoted head of `tenant`, loading only those not already in `known` (same family
/// and version). Refused files are logged and left out; a store failing for now is an error
/// (retrying then gets the head, where leaving it out would cost the media its tag for good).
pub async fn promoted_heads<P: Platform>(
    platform: &P,
    tenant: TenantId,
    known: &[LoadedHead],
) -> Result<Vec<LoadedHead>, ModelFileError> {
    let registry = ModelRegistry::new(platform.table());
    let mut heads = Vec::new();
    for (family, _) in registry.families(tenant, MODEL_FAMILY_PREFIX).await? {
        let Some(version) = registry.current_version(tenant, &family).await? else {
            continue;
        };
        if let Some(same) = known
            .iter()
            .find(|h| h.family == family && h.version == version)
        {
            heads.push(same.clone());
            continue;
        }
        let Some(record) = registry.get(tenant, &family, version).await? else {
            continue;
        };
        match load_head(platform, &record).await {
            Ok(head) => {
                info!(%tenant, family, version, "tag head loaded");
                heads.push(LoadedHead {
                    decisions: decisions_of(&record),
                    family,
                    version,
                    head: Arc::new(head),
                });
            }
            Err(HeadError::File(e)) if e.is_transient() => return Err(e),
            Err(e) => {
                error!(%tenant, family, version, error = %e, "tag head refused; its tag is not proposed");
            }
        }
    }
    Ok(heads)
}

/// A tenant's heads and when the registry was last read for them.
type Slot = (Instant, Arc<Vec<LoadedHead>>);

/// The heads of each tenant, re-read from the registry at most every `refresh`.
pub struct HeadCache<P> {
    platform: P,
    refresh: Duration,
    slots: Mutex<HashMap<TenantId, Slot>>,
}

impl<P: Platform> HeadCache<P> {
    pub fn new(platform: P, refresh: Duration) -> Self {
        Self {
            platform,
            refresh,
            slots: Mutex::new(HashMap::new()),
        }
    }

    pub async fn heads(&self, tenant: TenantId) -> Result<Arc<Vec<LoadedHead>>, ModelFileError> {
        let cached = self
            .slots
            .lock()
            .expect("no code panics while holding the head cache")
            .get(&tenant)
            .cloned();
        if let Some((at, heads)) = &cached
            && at.elapsed() < self.refresh
        {
            return Ok(heads.clone());
        }
        let known = cached.map(|(_, h)| h).unwrap_or_default();
        let heads = Arc::new(promoted_heads(&self.platform, tenant, &known).await?);
        self.slots
            .lock()
            .expect("no code panics while holding the head cache")
            .insert(tenant, (Instant::now(), heads.clone()));
        Ok(heads)
    }
}
