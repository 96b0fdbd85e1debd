//! The steps that end an execution: `index` marks an analyzed and tagged media `Indexed` (the
//! listing index is the status index of the table; search and recommendation indexes join here
//! when they land), and `mark_failed` records the failing step and its reason on the media.
//! One crate, two Lambda handlers (`index`, `mark-failed` binaries), both tiny.

use chrono::Utc;
use mvidarr_core::media::MediaEvent;
use mvidarr_core::ports::Platform;
use mvidarr_core::repo::{MediaRepo, RepoError};
use mvidarr_core::step::{StepError, StepInput};
use tracing::{info, instrument};

#[instrument(skip_all, fields(tenant = %input.tenant, media = %input.media_id))]
pub async fn index<P: Platform>(platform: &P, input: StepInput) -> Result<(), StepError> {
    // `advance` refuses any status but Tagging (an illegal transition is a permanent error)
    // and acknowledges a replay on an already indexed media.
    MediaRepo::new(platform.table())
        .advance(
            input.tenant,
            input.media_id,
            MediaEvent::Indexed,
            Utc::now(),
        )
        .await?;
    info!("indexed");
    Ok(())
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
        Ok(_) | Err(RepoError::NotFound(_)) => {
            info!(step = step.as_str(), %reason, "media failed");
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}
