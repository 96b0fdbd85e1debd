//! The steps that end an execution: `index` marks an analyzed and tagged media `Indexed` (the
//! listing index is the status index of the table; search and recommendation indexes join here
//! when they land), and `mark_failed` records the failing step and its reason on the media.
//! One crate, two Lambda handlers (`index`, `mark-failed` binaries), both tiny.

use chrono::Utc;
use mvidarr_core::analytics::{AnalyticsEvent, report_events};
use mvidarr_core::media::{Media, MediaEvent};
use mvidarr_core::ports::Platform;
use mvidarr_core::repo::{MediaRepo, RepoError};
use mvidarr_core::step::{StepError, StepInput};
use tracing::{info, instrument};

#[instrument(skip_all, fields(tenant = %input.tenant, media = %input.media_id))]
pub async fn index<P: Platform>(platform: &P, input: StepInput) -> Result<(), StepError> {
    // `advance` refuses any status but Tagging (an illegal transition is a permanent error)
    // and acknowledges a replay on an already indexed media.
    let media = MediaRepo::new(platform.table())
        .advance(
            input.tenant,
            input.media_id,
            MediaEvent::Indexed,
            Utc::now(),
        )
        .await?;
    info!("indexed");
    report_done(platform, &media, true).await;
    Ok(())
}

/// The pipeline is done with a media: report how it went and how long it took from upload.
/// The media is indexed or failed whatever happens here, so a queue failure is logged, not
/// raised (a retried step reports the same event, counted once).
async fn report_done<P: Platform>(platform: &P, media: &Media, ok: bool) {
    let took = (media.updated_at - media.created_at)
        .num_milliseconds()
        .max(0) as u64;
    let event = AnalyticsEvent::analysis_done(media.id, ok, took, media.updated_at);
    report_events(platform.events_queue(), media.tenant, vec![event]).await;
}

#[instrument(skip_all, fields(tenant = %input.tenant, media = %input.media_id))]
pub async fn mark_failed<P: Platform>(platform: &P, input: StepInput) -> Result<(), StepError> {
    let (step, reason) = input.failure();
    let event = MediaEvent::StepFailed {
        step,
        reason: reason.clone(),
    };
    match MediaRepo::new(platform.table())
        .advance(input.tenant, input.media_id, event, Utc::now())
        .await
    {
        Ok(media) => {
            info!(step = step.as_str(), %reason, "media failed");
            report_done(platform, &media, false).await;
            Ok(())
        }
        Err(RepoError::NotFound(_)) => Ok(()),
        Err(e) => Err(e.into()),
    }
}
