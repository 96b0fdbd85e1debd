//! Training a tenant's tag heads from people's decisions, then re-tagging its catalogue.
//!
//! For each tag people accepted or rejected: feature vectors of the decided media (their
//! analyses, metadata text and collaborative embedding from the promoted recommender), a
//! logistic head calibrated on out-of-fold scores ([`mvidarr_tags::train`]), registered as the
//! next version of family `tags/<name>` with its held-out metrics. It is promoted only when it
//! beats the promoted version on the same held-out media (or, for a tag's first head, the
//! prior: always answering the share of accepted decisions). Then every indexed media is
//! proposed again with the promoted heads, so better heads mean better tags at once.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Instant;

use chrono::{DateTime, Utc};
use futures_util::{StreamExt, TryStreamExt};
use mvidarr_core::analysis::Analysis;
use mvidarr_core::ids::{MediaId, TenantId};
use mvidarr_core::media::{Media, MediaStatus};
use mvidarr_core::ports::Platform;
use mvidarr_core::repo::{
    AnalysisRepo, MediaRepo, ModelFileError, ModelRegistry, RepoError, TagRepo, VocabularyRepo,
    publish_model, read_model, verify_model,
};
use mvidarr_core::tag::{TagName, TagSource, TagStatus, model_family};
use mvidarr_reco::model::RecoModel;
use mvidarr_tags::{
    Comparison, Example, FeatureSpec, HeadMetrics, Signals, TrainConfig, TrainError, compare,
    compare_with_prior, evaluate, features, is_held_out, train,
};
use serde::Serialize;
use sha2::{Digest, Sha256};
use tracing::{info, instrument, warn};

use crate::heads::{HeadError, load_head, promoted_heads};
use crate::proposals::{DecodedAnalyses, MediaFacts, is_learnable, propose};

/// Requests in flight at once while reading the catalogue's analyses and tags.
const CONCURRENT_READS: usize = 8;
/// A recommender file larger than this is not read for embeddings.
const MAX_RECO_BYTES: usize = 1 << 30;

#[derive(Debug, Clone, Default)]
pub struct TrainTagsOptions {
    pub config: TrainConfig,
    /// Train this tag only (the others are still re-proposed with their promoted heads).
    pub only: Option<TagName>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TagTrainReport {
    pub tenant: TenantId,
    /// The embedding the heads were trained with (`reco vN`), if the tenant has a recommender.
    pub embedding: Option<String>,
    pub tags: Vec<TagResult>,
    /// Indexed media proposed again with the promoted heads, and proposals that changed.
    pub media_retagged: usize,
    pub proposals_written: usize,
    pub seconds: f64,
}

impl TagTrainReport {
    pub fn promoted(&self) -> usize {
        self.tags
            .iter()
            .filter(|t| matches!(t.outcome, TagOutcome::Promoted { .. }))
            .count()
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct TagResult {
    pub tag: TagName,
    #[serde(flatten)]
    pub outcome: TagOutcome,
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum TagOutcome {
    /// Registered and promoted: it beat what was served.
    Promoted {
        version: u32,
        previous: Option<u32>,
        comparison: Comparison,
        metrics: HeadMetrics,
    },
    /// Registered, not promoted: it did not beat the promoted version (or the prior).
    Kept {
        version: u32,
        current: Option<u32>,
        comparison: Comparison,
        metrics: HeadMetrics,
    },
    /// Not enough decisions to learn from: no model was made.
    TooFewDecisions { message: String },
    /// The same decisions, features and settings as the latest version: nothing to retrain.
    Unchanged { version: u32 },
}

#[derive(Debug, thiserror::Error)]
pub enum TagTrainError {
    #[error(transparent)]
    Repo(#[from] RepoError),
    #[error(transparent)]
    File(#[from] ModelFileError),
    #[error("training tag {tag}: {source}")]
    Train {
        tag: TagName,
        #[source]
        source: TrainError,
    },
    #[error("evaluating tag {tag}'s current head: {message}")]
    Evaluate { tag: TagName, message: String },
    #[error("the training task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

impl TagTrainError {
    pub fn is_transient(&self) -> bool {
        match self {
            TagTrainError::Repo(e) => e.is_transient(),
            TagTrainError::File(e) => e.is_transient(),
            _ => false,
        }
    }
}

/// The tenant's catalogue as the trainer reads it: media, their analyses, and the
/// recommender whose item factors are the collaborative embedding.
struct Catalogue {
    media: HashMap<MediaId, Media>,
    analyses: HashMap<MediaId, Vec<Analysis>>,
    reco: Option<(u32, RecoModel)>,
}

impl Catalogue {
    /// The name of the embedding this catalogue has (`reco vN`), as feature specs record it.
    fn embedding_source(&self) -> Option<String> {
        self.reco.as_ref().map(|(v, _)| format!("reco v{v}"))
    }

    fn facts(&self, id: MediaId) -> Option<MediaFacts<'_>> {
        let media = self.media.get(&id)?;
        let key = id.to_string();
        let reco = self.reco.as_ref().map(|(_, m)| m);
        Some(MediaFacts {
            analyses: self.analyses.get(&id).map_or(&[], Vec::as_slice),
            metadata: &media.metadata,
            embedding: reco.and_then(|m| m.item_embedding(&key)),
            audience: reco.map_or(0, |m| m.audience(&key)),
            embedding_source: self.embedding_source(),
            // Duplicates were tagged when the media was; re-tagging leaves them be.
            duplicates: &[],
        })
    }

    fn features(&self, spec: &FeatureSpec, id: MediaId) -> Option<Vec<f32>> {
        let facts = self.facts(id)?;
        Some(features(
            spec,
            &Signals {
                analyses: facts.analyses,
                metadata: facts.metadata,
                embedding: facts.embedding_for(spec),
            },
        ))
    }

    /// The feature spec new heads are trained with: analyses, text, and the recommender's
    /// factors when there is one.
    fn spec(&self) -> FeatureSpec {
        match &self.reco {
            Some((_, model)) if model.embedding_dim() > 0 => FeatureSpec {
                embedding_dim: model.embedding_dim(),
                embedding_source: self.embedding_source(),
                ..FeatureSpec::default()
            },
            _ => FeatureSpec::default(),
        }
    }
}

/// Trains (per [`TrainTagsOptions`]) and re-tags `tenant`'s catalogue as of `now`.
#[instrument(skip_all, fields(%tenant))]
pub async fn train_tenant_tags<P: Platform>(
    platform: &P,
    tenant: TenantId,
    options: &TrainTagsOptions,
    now: DateTime<Utc>,
) -> Result<TagTrainReport, TagTrainError> {
    let started = Instant::now();
    let table = platform.table();
    let catalogue = read_catalogue(platform, tenant).await?;
    let spec = catalogue.spec();

    let mut labels: BTreeMap<TagName, Vec<(MediaId, bool)>> = BTreeMap::new();
    for found in TagRepo::new(table).decided(tenant).await? {
        let tag = found.tag.record;
        if is_learnable(&tag.name) && options.only.as_ref().is_none_or(|only| *only == tag.name) {
            labels
                .entry(tag.name)
                .or_default()
                .push((found.media, tag.status == TagStatus::Accepted));
        }
    }
    let mut results = Vec::new();
    for (tag, decided) in labels {
        let outcome = train_tag(
            platform, tenant, &catalogue, &spec, &tag, &decided, options, now,
        )
        .await?;
        results.push(TagResult { tag, outcome });
    }

    let (media_retagged, proposals_written) = retag(platform, tenant, &catalogue).await?;
    let report = TagTrainReport {
        tenant,
        embedding: spec.embedding_source.clone(),
        tags: results,
        media_retagged,
        proposals_written,
        seconds: started.elapsed().as_secs_f64(),
    };
    info!(
        tags = report.tags.len(),
        promoted = report.promoted(),
        media_retagged,
        proposals_written,
        seconds = report.seconds,
        "tag heads trained and catalogue re-tagged"
    );
    Ok(report)
}

#[allow(clippy::too_many_arguments)]
async fn train_tag<P: Platform>(
    platform: &P,
    tenant: TenantId,
    catalogue: &Catalogue,
    spec: &FeatureSpec,
    tag: &TagName,
    decided: &[(MediaId, bool)],
    options: &TrainTagsOptions,
    now: DateTime<Utc>,
) -> Result<TagOutcome, TagTrainError> {
    let config = &options.config;
    let family = model_family(tag);
    let registry = ModelRegistry::new(platform.table());
    let digest = training_digest(spec, config, decided);
    let latest = registry.next_version(tenant, &family).await?.version - 1;
    if latest > 0
        && let Some(record) = registry.get(tenant, &family, latest).await?
        && record
            .metrics
            .get("training_digest")
            .and_then(|d| d.as_str())
            == Some(&digest)
    {
        info!(%tag, version = latest, "the same decisions as the latest head: not retrained");
        return Ok(TagOutcome::Unchanged { version: latest });
    }
    let examples: Vec<Example> = decided
        .iter()
        .filter_map(|&(id, label)| {
            Some(Example {
                key: id.to_string(),
                features: catalogue.features(spec, id)?,
                label,
                plays: catalogue.facts(id)?.audience,
            })
        })
        .collect();
    let trained = {
        let (tag, spec, config) = (tag.clone(), spec.clone(), config.clone());
        tokio::task::spawn_blocking(move || train(&tag, &examples, &spec, &config)).await?
    };
    let trained = match trained {
        Ok(t) => t,
        Err(e @ (TrainError::TooFewDecisions { .. } | TrainError::TooFewToLearn { .. })) => {
            warn!(%tag, reason = %e, "no model trained");
            return Ok(TagOutcome::TooFewDecisions {
                message: e.to_string(),
            });
        }
        Err(source) => {
            return Err(TagTrainError::Train {
                tag: tag.clone(),
                source,
            });
        }
    };

    let current = registry.current(tenant, &family).await?;
    let held_out: Vec<(MediaId, bool)> = decided
        .iter()
        .copied()
        .filter(|(id, _)| is_held_out(&id.to_string(), config.held_out_fraction))
        .collect();
    let comparison = match &current {
        Some(record) => match load_head(platform, record).await {
            Ok(head) => {
                // The current head reads vectors made its own way (its spec).
                let examples: Vec<Example> = held_out
                    .iter()
                    .filter_map(|&(id, label)| {
                        Some(Example {
                            key: id.to_string(),
                            features: catalogue.features(&head.spec, id)?,
                            label,
                            plays: 0,
                        })
                    })
                    .collect();
                let theirs = evaluate(&head, &examples, &config.thresholds).map_err(|e| {
                    TagTrainError::Evaluate {
                        tag: tag.clone(),
                        message: e.to_string(),
                    }
                })?;
                compare(&trained.metrics.held_out, &theirs)
            }
            // A promoted file that is refused cannot be served either: any sound head is
            // better than it. Transient failures stop the run instead.
            Err(HeadError::File(e)) if e.is_transient() => return Err(e.into()),
            Err(e) => {
                warn!(%tag, error = %e, "the promoted head is refused; judging the new one against the prior");
                compare_with_prior(&trained.metrics)
            }
        },
        None => compare_with_prior(&trained.metrics),
    };

    let mut metrics = serde_json::to_value(&trained.metrics).expect("metrics are plain data");
    metrics["comparison"] = serde_json::to_value(&comparison).expect("plain data");
    metrics["compared_with"] = current.as_ref().map_or_else(
        || "prior".into(),
        |c| format!("version {}", c.version).into(),
    );
    metrics["training_digest"] = digest.into();
    let record = publish_model(
        platform,
        tenant,
        &family,
        trained.head.to_bytes(),
        |_| metrics.clone(),
        now,
    )
    .await?;
    let previous = current.map(|c| c.version);
    // Promoted only over the version it was compared with: a rollback or another trainer's
    // promotion meanwhile stands.
    if matches!(comparison, Comparison::Better { .. })
        && registry
            .promote_if_current(tenant, &family, record.version, previous, now)
            .await?
    {
        info!(%tag, version = record.version, ?previous, "tag head promoted");
        return Ok(TagOutcome::Promoted {
            version: record.version,
            previous,
            comparison,
            metrics: trained.metrics,
        });
    }
    info!(%tag, version = record.version, ?previous, "tag head registered, not promoted");
    Ok(TagOutcome::Kept {
        version: record.version,
        current: previous,
        comparison,
        metrics: trained.metrics,
    })
}

/// What a head is trained from: the feature spec, the training settings and every decision.
/// Equal digests make equal heads (training is deterministic), so the second is not made.
fn training_digest(
    spec: &FeatureSpec,
    config: &TrainConfig,
    decided: &[(MediaId, bool)],
) -> String {
    let mut lines: Vec<String> = decided
        .iter()
        .map(|(id, label)| format!("{id}\t{}", u8::from(*label)))
        .collect();
    lines.sort_unstable();
    let mut hasher = Sha256::new();
    hasher.update(serde_json::to_vec(spec).expect("a spec is plain data"));
    hasher.update(serde_json::to_vec(config).expect("a config is plain data"));
    for line in lines {
        hasher.update(line.as_bytes());
        hasher.update(b"\n");
    }
    hex::encode(hasher.finalize())
}

async fn read_catalogue<P: Platform>(
    platform: &P,
    tenant: TenantId,
) -> Result<Catalogue, TagTrainError> {
    let table = platform.table();
    let media: HashMap<MediaId, Media> = MediaRepo::new(table)
        .list_all(tenant)
        .await?
        .into_iter()
        .map(|m| (m.id, m))
        .collect();
    let repo = AnalysisRepo::new(table);
    let analyses: HashMap<MediaId, Vec<Analysis>> =
        futures_util::stream::iter(media.keys().copied())
            .map(|id| {
                let repo = &repo;
                async move { Ok::<_, RepoError>((id, repo.list(tenant, id).await?)) }
            })
            .buffer_unordered(CONCURRENT_READS)
            .try_collect()
            .await?;
    let registry = ModelRegistry::new(table);
    let reco = match registry
        .current(tenant, mvidarr_reco::service::FAMILY)
        .await?
    {
        Some(record) => {
            let bytes = read_model(platform, &record, MAX_RECO_BYTES).await?;
            let (key, sha256) = (record.blob_key.clone(), record.sha256.clone());
            // Hashing and decoding tens of megabytes: off the runtime's workers.
            let decoded = tokio::task::spawn_blocking(move || {
                verify_model(&key, &sha256, &bytes).map(|()| RecoModel::from_bytes(&bytes))
            })
            .await??;
            match decoded {
                Ok(model) => Some((record.version, model)),
                Err(e) => {
                    warn!(error = %e, "the recommender does not decode; tags train without embeddings");
                    None
                }
            }
        }
        None => None,
    };
    Ok(Catalogue {
        media,
        analyses,
        reco,
    })
}

/// Proposes every indexed media's tags again with the promoted heads. How many media, and
/// how many proposals changed.
async fn retag<P: Platform>(
    platform: &P,
    tenant: TenantId,
    catalogue: &Catalogue,
) -> Result<(usize, usize), TagTrainError> {
    let table = platform.table();
    let heads = promoted_heads(platform, tenant, &[]).await?;
    let vocabulary = VocabularyRepo::new(table).get(tenant).await?.record;
    let repo = TagRepo::new(table);
    let mut ids: Vec<MediaId> = catalogue
        .media
        .values()
        .filter(|m| m.status == MediaStatus::Indexed)
        .map(|m| m.id)
        .collect();
    ids.sort();
    let (mut media, mut written) = (0, 0);
    for id in ids {
        let Some(facts) = catalogue.facts(id) else {
            continue;
        };
        let existing: BTreeSet<TagName> = repo
            .list(tenant, id)
            .await?
            .into_iter()
            .filter(|t| matches!(t.source, TagSource::Model { .. }))
            .map(|t| t.name)
            .collect();
        let decoded = DecodedAnalyses::new(facts.analyses);
        for p in propose(&facts, &decoded, &heads, &vocabulary, &existing) {
            if repo.propose(tenant, id, &p.tag, p.impact).await? {
                written += 1;
            }
        }
        media += 1;
    }
    Ok((media, written))
}
