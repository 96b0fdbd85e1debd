//! Lambda: SQS (ingest queue, S3 notifications) → upload-trigger, with partial batch failures.

use lambda_runtime::{LambdaEvent, service_fn};
use mvidarr_lambda::{Error, init_tracing, platform_from_env};
use mvidarr_media::Ffmpeg;
use mvidarr_upload_trigger::{TriggerConfig, UploadTrigger};
use tracing::Instrument;

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_tracing();
    let trigger = UploadTrigger::new(
        platform_from_env().await?,
        Ffmpeg::locate()?,
        TriggerConfig::from_env()?,
    );
    let trigger = &trigger;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<_>| {
        let span = tracing::info_span!("ingest", request_id = %event.context.request_id);
        async move { Ok::<_, Error>(trigger.handle_sqs_event(event.payload).await) }
            .instrument(span)
    }))
    .await
}
