//! Training one tenant's recommender from the platform's stores and registering it: read the
//! catalogue (indexed media with their metadata, tags and probe), the profiles and every
//! event; train; write the model file under its version; record it with its SHA-256 and
//! metrics; promote it. Servers notice the new version on their next check.

use std::collections::HashMap;
use std::time::Instant;

use chrono::{DateTime, Utc};
use mvidarr_core::ids::{MediaId, ProfileId, TenantId};
use mvidarr_core::media::{Media, MediaStatus};
use mvidarr_core::ports::Platform;
use mvidarr_core::repo::{
    EventRepo, MediaRepo, ModelFileError, ModelRegistry, ModelVersion, ProfileRepo, RepoError,
    TagRepo, publish_model,
};
use serde::Serialize;
use tracing::{info, instrument};

use crate::content::ContentFeatures;
use crate::model::{
    ModelError, RecoModel, TrainConfig, TrainingEvent, TrainingItem, TrainingSet, event_strength,
};

/// The registry family of the recommender.
pub const FAMILY: &str = "reco";

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error(transparent)]
    Repo(#[from] RepoError),
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error("writing the model file: {0}")]
    File(#[from] ModelFileError),
    #[error("the training task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

impl TrainError {
    /// Whether running the training again later can help.
    pub fn is_transient(&self) -> bool {
        match self {
            TrainError::Repo(e) => e.is_transient(),
            TrainError::File(e) => e.is_transient(),
            TrainError::Model(_) | TrainError::Task(_) => false,
        }
    }
}

/// What one training run did, as recorded with the model version.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrainReport {
    pub version: u32,
    pub items: usize,
    pub users: usize,
    pub events: usize,
    /// Distinct user–item pairs the model learned from.
    pub interactions: usize,
    /// Events whose kind says nothing about taste, or whose media is not recommendable.
    pub events_ignored: usize,
    pub read_seconds: f64,
    pub train_seconds: f64,
    pub model_bytes: usize,
}

/// Trains, registers and promotes a new model for `tenant` as of `now`.
#[instrument(skip_all, fields(%tenant))]
pub async fn train_tenant<P: Platform>(
    platform: &P,
    tenant: TenantId,
    config: &TrainConfig,
    now: DateTime<Utc>,
) -> Result<(ModelVersion, TrainReport), TrainError> {
    let started = Instant::now();
    let (set, ignored) = read_training_set(platform, tenant).await?;
    let read_seconds = started.elapsed().as_secs_f64();
    let events = set.events.len();

    let started = Instant::now();
    let config = config.clone();
    let unix_now = now.timestamp();
    let (model, bytes) = tokio::task::spawn_blocking(move || {
        let model = RecoModel::train(&set, &config, unix_now)?;
        let bytes = model.to_bytes();
        Ok::<_, ModelError>((model, bytes))
    })
    .await??;
    let train_seconds = started.elapsed().as_secs_f64();

    let mut report = TrainReport {
        version: 0,
        items: model.item_count(),
        users: model.user_count(),
        events,
        interactions: model.interaction_count(),
        events_ignored: ignored,
        read_seconds,
        train_seconds,
        model_bytes: bytes.len(),
    };
    let version = publish(platform, tenant, bytes, &mut report, now).await?;
    info!(
        version = version.version,
        items = report.items,
        users = report.users,
        interactions = report.interactions,
        train_seconds,
        "recommender trained and promoted"
    );
    Ok((version, report))
}

/// Writes a model file under the next version of [`FAMILY`], registers it with its digest and
/// `report` (whose `version` it fills in) and promotes it unless a newer one is promoted.
pub async fn publish<P: Platform>(
    platform: &P,
    tenant: TenantId,
    bytes: Vec<u8>,
    report: &mut TrainReport,
    now: DateTime<Utc>,
) -> Result<ModelVersion, TrainError> {
    let metrics = report.clone();
    let version = publish_model(
        platform,
        tenant,
        FAMILY,
        bytes,
        |version| {
            let report = TrainReport {
                version,
                ..metrics.clone()
            };
            serde_json::to_value(&report).expect("a report is plain data")
        },
        now,
    )
    .await?;
    report.version = version.version;
    // A newer model promoted meanwhile (another trainer) stays in service.
    ModelRegistry::new(platform.table())
        .promote_if_newer(tenant, FAMILY, version.version, now)
        .await?;
    Ok(version)
}

/// The tenant's recommendable catalogue, profiles and taste-bearing events, and how many
/// events were left out.
pub async fn read_training_set<P: Platform>(
    platform: &P,
    tenant: TenantId,
) -> Result<(TrainingSet, usize), RepoError> {
    let table = platform.table();
    let media: Vec<Media> = MediaRepo::new(table)
        .list_all(tenant)
        .await?
        .into_iter()
        .filter(|m| m.status == MediaStatus::Indexed)
        .collect();
    let ids: Vec<MediaId> = media.iter().map(|m| m.id).collect();
    let tag_lists: Vec<Vec<String>> = TagRepo::new(table)
        .list_each(tenant, &ids)
        .await?
        .into_iter()
        .map(|tags| {
            tags.into_iter()
                .filter(|t| t.status.is_visible())
                .map(|t| t.name.as_str().to_owned())
                .collect()
        })
        .collect();
    let item_index: HashMap<MediaId, u32> = media
        .iter()
        .enumerate()
        .map(|(i, m)| (m.id, i as u32))
        .collect();
    let items = media
        .iter()
        .zip(tag_lists)
        .map(|(m, tags)| training_item(m, tags))
        .collect();

    let profiles = ProfileRepo::new(table).list_all(tenant).await?;
    let user_index: HashMap<ProfileId, u32> = profiles
        .iter()
        .enumerate()
        .map(|(i, p)| (p.id, i as u32))
        .collect();
    let mut events = Vec::new();
    let mut ignored = 0;
    for e in EventRepo::new(table).all(tenant).await? {
        let count = e.props.get("count").and_then(serde_json::Value::as_f64);
        let strength = event_strength(e.kind.as_str(), count);
        match (
            user_index.get(&e.profile),
            item_index.get(&e.media),
            strength,
        ) {
            (Some(&user), Some(&item), Some(strength)) => events.push(TrainingEvent {
                user,
                item,
                strength,
                at: e.at.timestamp(),
            }),
            _ => ignored += 1,
        }
    }
    let set = TrainingSet {
        items,
        users: profiles.iter().map(|p| p.id.to_string()).collect(),
        events,
    };
    Ok((set, ignored))
}

/// A media as the content model sees it: metadata, tags, and measures from its probe.
fn training_item(media: &Media, tags: Vec<String>) -> TrainingItem {
    let meta = &media.metadata;
    let title = meta.title.clone().unwrap_or_else(|| media.filename.clone());
    TrainingItem {
        id: media.id.to_string(),
        title,
        features: ContentFeatures {
            tags,
            genres: meta.genres.clone(),
            artist: meta.artist_name.clone(),
            numeric: probe_measures(media),
        },
    }
}

/// Duration (log seconds), frame rate and aspect ratio: all or nothing, so every vector has
/// the same dimensions.
fn probe_measures(media: &Media) -> Vec<f32> {
    let Some(probe) = &media.probe else {
        return Vec::new();
    };
    let (Some(duration), Some(video)) = (probe.duration_seconds, probe.video.first()) else {
        return Vec::new();
    };
    if video.height == 0 {
        return Vec::new();
    }
    vec![
        duration.max(0.0).ln_1p() as f32,
        video.fps.unwrap_or(0.0) as f32,
        video.width as f32 / video.height as f32,
    ]
}
