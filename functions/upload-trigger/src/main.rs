//! Lambda: SQS (ingest queue, S3 notifications) → upload-trigger, with partial batch failures.

use lambda_runtime::{LambdaEvent, service_fn};
use mvidarr_lambda::{Error, init_tracing, platform_from_env};
use mvidarr_media::Ffmpeg;
use mvidarr_upload_trigger::{TriggerConfig, UploadTrigger};

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_tracing();
    let trigger = UploadTrigger::new(
        platform_from_env()?,
        Ffmpeg::locate()?,
        TriggerConfig::from_env()?,
    );
    let trigger = &trigger;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<_>| async move {
        Ok::<_, Error>(trigger.handle_sqs_event(event.payload).await)
    }))
    .await
}
