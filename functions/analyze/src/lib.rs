//! `analyze`: the analysis step. For now the analysis is the probe (container, duration,
//! streams). Validation probed the file already and stored that document; this step reuses it
//! when it is there for the current probe version — probing the same bytes twice would double
//! the pipeline's cost — and probes otherwise (e.g. after a probe version bump).

use std::time::Duration;

use chrono::Utc;
use mvidarr_core::analysis::{Analysis, AnalyzerKind, Probe};
use mvidarr_core::media::{MediaEvent, MediaStatus};
use mvidarr_core::ports::{BlobError, BlobStore, Platform};
use mvidarr_core::repo::{AnalysisRepo, MediaRepo};
use mvidarr_core::step::{StepError, StepInput};
use mvidarr_media::{Ffmpeg, ProbeError, probe};
use tracing::{info, instrument};

pub struct Analyze<P> {
    platform: P,
    ffmpeg: Ffmpeg,
    probe_timeout: Duration,
}

impl<P: Platform> Analyze<P> {
    pub fn new(platform: P, ffmpeg: Ffmpeg) -> Self {
        Self {
            platform,
            ffmpeg,
            probe_timeout: Duration::from_secs(300),
        }
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
        let have_probe = analyses
            .exists(
                input.tenant,
                input.media_id,
                AnalyzerKind::Probe,
                Probe::VERSION,
            )
            .await?;
        if !have_probe {
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
            let probe = probe(&self.ffmpeg, &location.as_input(), self.probe_timeout)
                .await
                .map_err(|e| match e {
                    e if e.is_transient() => StepError::Transient(e.to_string()),
                    ProbeError::Unreadable { reason } => {
                        StepError::Permanent(format!("ffmpeg cannot read the file: {reason}"))
                    }
                    e => StepError::Permanent(e.to_string()),
                })?;
            analyses
                .put(
                    input.tenant,
                    &Analysis {
                        media_id: input.media_id,
                        kind: AnalyzerKind::Probe,
                        version: Probe::VERSION,
                        created_at: Utc::now(),
                        result: serde_json::to_value(&probe).unwrap_or_default(),
                    },
                )
                .await?;
            info!("probed");
        }
        MediaRepo::new(table)
            .advance(
                input.tenant,
                input.media_id,
                MediaEvent::Analyzed,
                Utc::now(),
            )
            .await?;
        Ok(())
    }
}
