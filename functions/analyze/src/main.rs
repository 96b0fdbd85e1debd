//! Lambda: the `Analyze` task of the pipeline state machine.

use mvidarr_analyze::Analyze;
use mvidarr_lambda::{Error, init_tracing, platform_from_env, run_step};
use mvidarr_media::Ffmpeg;

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_tracing();
    let analyze = Analyze::new(platform_from_env().await?, Ffmpeg::locate()?);
    run_step("analyze", |input| analyze.handle(input)).await
}
