//! Lambda: the `Tag` task of the pipeline state machine.

use mvidarr_lambda::{Error, init_tracing, platform_from_env, run_step};
use mvidarr_tag::TagStep;

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_tracing();
    let tag = TagStep::new(platform_from_env().await?);
    run_step("tag", |input| tag.handle(input)).await
}
