//! `analyze`: the analysis step. It needs the probe (validation stored it; probed again only
//! if missing, e.g. after a probe version bump), then runs the analysis pass — one decode of
//! the media feeding every signal analyzer — and stores one document per analyzer.
//!
//! An analyzer that fails gets a record saying why (`error`) and the others' documents stand:
//! the media goes on through the pipeline with a partial analysis rather than being lost. Only
//! failures worth retrying (ffmpeg could not start, the store is unreachable) fail the step.

use std::time::Duration;

use chrono::Utc;
use mvidarr_core::analysis::{
    Analysis, AnalyzerKind, AudioProfile, Moderation, OnScreenText, Probe, Quality, Scenes,
    Thumbnail, ThumbnailImage, Thumbnails,
};
use mvidarr_core::fingerprint::{Fingerprint, FingerprintSummary};
use mvidarr_core::ids::{MediaId, TenantId};
use mvidarr_core::keys;
use mvidarr_core::media::{Media, MediaEvent, MediaStatus};
use mvidarr_core::ports::{BlobError, BlobStore, Platform};
use mvidarr_core::repo::{AnalysisRepo, FingerprintIndex, MediaRepo};
use mvidarr_core::step::{StepError, StepInput};
use mvidarr_media::analysis::{AnalysisOptions, analyze};
use mvidarr_media::pass::PassError;
use mvidarr_media::thumbnails::Chosen;
use mvidarr_media::{Ffmpeg, ProbeError, RunError, probe};
use tracing::{info, instrument, warn};

pub struct Analyze<P> {
    platform: P,
    ffmpeg: Ffmpeg,
    probe_timeout: Duration,
    options: AnalysisOptions,
}

impl<P: Platform> Analyze<P> {
    pub fn new(platform: P, ffmpeg: Ffmpeg) -> Self {
        Self {
            platform,
            ffmpeg,
            probe_timeout: Duration::from_secs(300),
            options: AnalysisOptions::default(),
        }
    }

    /// Different analysis settings (tests use a short timeout).
    pub fn with_options(mut self, options: AnalysisOptions) -> Self {
        self.options = options;
        self
    }

    #[instrument(skip_all, fields(tenant = %input.tenant, media = %input.media_id))]
    pub async fn handle(&self, input: StepInput) -> Result<(), StepError> {
        let table = self.platform.table();
        let media = MediaRepo::new(table)
            .require(input.tenant, input.media_id)
            .await?;
        if media.status.already_past(&MediaEvent::Analyzed) {
            return Ok(()); // a replay: this step's work is done
        }
        if media.status != MediaStatus::Analyzing {
            return Err(StepError::Permanent(format!(
                "media is {}, not analyzing",
                media.status.name()
            )));
        }
        let analyses = AnalysisRepo::new(table);
        let (tenant, id) = (input.tenant, input.media_id);
        let stored_probe = analyses
            .get(tenant, id, AnalyzerKind::Probe, Probe::VERSION)
            .await?
            .and_then(|a| serde_json::from_value::<Probe>(a.result).ok());
        // A replay after the documents were stored skips the pass.
        let done = match &stored_probe {
            None => false,
            Some(probe) => {
                let mut all = true;
                for (kind, version) in pass_documents(probe) {
                    all &= analyses.exists(tenant, id, kind, version).await?;
                }
                all
            }
        };
        if !done {
            let input_location = self.location(&media).await?;
            let probe = match stored_probe {
                Some(probe) => probe,
                None => {
                    let probe = self.probe(&input_location).await?;
                    analyses
                        .put(
                            tenant,
                            &Analysis::of(
                                id,
                                AnalyzerKind::Probe,
                                Probe::VERSION,
                                Utc::now(),
                                &probe,
                            ),
                        )
                        .await?;
                    info!("probed");
                    probe
                }
            };
            self.analyze(tenant, id, &input_location, &probe).await?;
        }
        MediaRepo::new(table)
            .advance(tenant, id, MediaEvent::Analyzed, Utc::now())
            .await?;
        Ok(())
    }

    /// Where ffmpeg reads the uploaded object from.
    async fn location(&self, media: &Media) -> Result<String, StepError> {
        let location = self
            .platform
            .blobs()
            .location(&media.blob_key)
            .await
            .map_err(|e| match e {
                // Retrying cannot bring back an object that is gone.
                BlobError::NotFound { .. } => {
                    StepError::Permanent(format!("the uploaded object is gone: {e}"))
                }
                e => StepError::Transient(e.to_string()),
            })?;
        Ok(location.as_input().into_owned())
    }

    async fn probe(&self, input: &str) -> Result<Probe, StepError> {
        probe(&self.ffmpeg, input, self.probe_timeout)
            .await
            .map_err(|e| match e {
                e if e.is_transient() => StepError::Transient(e.to_string()),
                ProbeError::Unreadable { reason } => {
                    StepError::Permanent(format!("ffmpeg cannot read the file: {reason}"))
                }
                e => StepError::Permanent(e.to_string()),
            })
    }

    /// Run the analysis pass and store each analyzer's document or failure.
    async fn analyze(
        &self,
        tenant: TenantId,
        id: MediaId,
        input: &str,
        probe: &Probe,
    ) -> Result<(), StepError> {
        let now = Utc::now();
        let analysis = match analyze(&self.ffmpeg, input, probe, &self.options).await {
            Ok(analysis) => analysis,
            // ffmpeg could not be started or its output read: worth another attempt.
            Err(PassError::Run(RunError::Spawn { .. }) | PassError::TempDir(_)) => {
                return Err(StepError::Transient(
                    "the analysis pass could not start".into(),
                ));
            }
            // The same bytes would fail the same way again: record it and go on.
            Err(e) => {
                warn!(error = %e, "analysis pass failed");
                let reason = format!("the analysis pass failed: {e}");
                let analyses = AnalysisRepo::new(self.platform.table());
                for (kind, version) in pass_documents(probe) {
                    analyses
                        .put(
                            tenant,
                            &Analysis::failed(id, kind, version, now, reason.clone()),
                        )
                        .await?;
                }
                return Ok(());
            }
        };
        let analyses = AnalysisRepo::new(self.platform.table());
        let record = |kind, version, result: Result<serde_json::Value, String>| match result {
            Ok(value) => Analysis::of(id, kind, version, now, &value),
            Err(error) => Analysis::failed(id, kind, version, now, error),
        };
        let json = |value: Result<serde_json::Value, serde_json::Error>| {
            value.map_err(|e| format!("the document did not serialise: {e}"))
        };
        let mut documents = vec![record(
            AnalyzerKind::Quality,
            Quality::VERSION,
            analysis.quality.and_then(|d| json(serde_json::to_value(d))),
        )];
        if let Some(scenes) = analysis.scenes {
            let value = scenes.and_then(|d| json(serde_json::to_value(d)));
            documents.push(record(AnalyzerKind::Scenes, Scenes::VERSION, value));
        }
        if let Some(moderation) = analysis.moderation {
            let value = moderation.and_then(|d| json(serde_json::to_value(d)));
            documents.push(record(AnalyzerKind::Moderation, Moderation::VERSION, value));
        }
        if let Some(chosen) = analysis.thumbnails {
            let value = match chosen {
                Ok(chosen) => self.store_thumbnails(tenant, id, chosen).await?,
                Err(e) => Err(e),
            };
            documents.push(record(AnalyzerKind::Thumbnails, Thumbnails::VERSION, value));
        }
        if let Some(text) = analysis.text {
            let value = text.and_then(|d| json(serde_json::to_value(d)));
            documents.push(record(AnalyzerKind::Text, OnScreenText::VERSION, value));
        }
        if let Some(audio) = analysis.audio {
            let value = audio.and_then(|d| json(serde_json::to_value(d)));
            documents.push(record(AnalyzerKind::Audio, AudioProfile::VERSION, value));
        }
        let value = match analysis.fingerprint {
            Ok(fingerprint) => self.store_fingerprint(tenant, id, &fingerprint).await?,
            Err(e) => Err(e),
        };
        documents.push(record(
            AnalyzerKind::Fingerprint,
            FingerprintSummary::VERSION,
            value,
        ));
        let failed: Vec<&str> = documents
            .iter()
            .filter(|d| d.error.is_some())
            .map(|d| d.kind.as_str())
            .collect();
        if failed.is_empty() {
            info!("analysed");
        } else {
            warn!(?failed, "partial analysis");
        }
        for document in &documents {
            analyses.put(tenant, document).await?;
        }
        Ok(())
    }
}

impl<P: Platform> Analyze<P> {
    /// Write one derived artefact held in memory (a replay overwrites the same key).
    async fn put_derived(
        &self,
        key: &str,
        bytes: Vec<u8>,
        content_type: &str,
        what: &str,
    ) -> Result<(), StepError> {
        self.platform
            .blobs()
            .put(
                key,
                mvidarr_core::ports::blob::body_of(bytes),
                Some(content_type),
            )
            .await
            .map_err(|e| StepError::Transient(format!("storing {what}: {e}")))?;
        Ok(())
    }

    /// Store the fingerprint as a blob (too big for a table item on long media) and file the
    /// media in the duplicate index; both are overwrites of the same keys on a rerun. The
    /// document is written after both, so a stored document means the media is findable.
    async fn store_fingerprint(
        &self,
        tenant: TenantId,
        id: MediaId,
        fingerprint: &Fingerprint,
    ) -> Result<Result<serde_json::Value, String>, StepError> {
        let key = keys::blob::derived(tenant, id, "fingerprint.json");
        let body = match serde_json::to_vec(fingerprint) {
            Ok(body) => body,
            Err(e) => return Ok(Err(format!("the fingerprint did not serialise: {e}"))),
        };
        self.put_derived(&key, body, "application/json", "the fingerprint")
            .await?;
        let index_keys = fingerprint.index_keys();
        FingerprintIndex::new(self.platform.table())
            .file(tenant, id, &index_keys)
            .await?;
        let summary = FingerprintSummary::of(fingerprint, key, index_keys.len());
        Ok(serde_json::to_value(summary)
            .map_err(|e| format!("the document did not serialise: {e}")))
    }

    /// Write each chosen frame's JPEGs under the media's prefix (the same keys on a rerun, so
    /// a replay overwrites rather than adds) and describe them.
    async fn store_thumbnails(
        &self,
        tenant: TenantId,
        id: MediaId,
        chosen: Vec<Chosen>,
    ) -> Result<Result<serde_json::Value, String>, StepError> {
        let mut items = Vec::new();
        for (rank, frame) in chosen.into_iter().enumerate() {
            let mut images = Vec::new();
            for (width, height, jpeg) in frame.jpegs {
                let key =
                    keys::blob::derived(tenant, id, &format!("thumbnails/{rank}-{width}.jpg"));
                let size = jpeg.len() as u64;
                self.put_derived(&key, jpeg, "image/jpeg", "a thumbnail")
                    .await?;
                images.push(ThumbnailImage {
                    width,
                    height,
                    content_type: "image/jpeg".into(),
                    key,
                    bytes: size,
                });
            }
            items.push(Thumbnail {
                rank: rank as u32,
                seconds: frame.seconds,
                score: frame.score,
                dhash: format!("{:016x}", frame.hash),
                images,
            });
        }
        Ok(serde_json::to_value(Thumbnails { items })
            .map_err(|e| format!("the document did not serialise: {e}")))
    }
}

/// The documents the analysis pass writes for media the probe describes.
fn pass_documents(probe: &Probe) -> Vec<(AnalyzerKind, u32)> {
    let mut documents = vec![
        (AnalyzerKind::Quality, Quality::VERSION),
        (AnalyzerKind::Fingerprint, FingerprintSummary::VERSION),
    ];
    if !probe.video.is_empty() {
        documents.push((AnalyzerKind::Scenes, Scenes::VERSION));
        documents.push((AnalyzerKind::Moderation, Moderation::VERSION));
        documents.push((AnalyzerKind::Thumbnails, Thumbnails::VERSION));
        documents.push((AnalyzerKind::Text, OnScreenText::VERSION));
    }
    if !probe.audio.is_empty() {
        documents.push((AnalyzerKind::Audio, AudioProfile::VERSION));
    }
    documents
}
