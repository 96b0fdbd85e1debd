//! Lambda: the `Index` task of the pipeline state machine.

use mvidarr_lambda::{Error, init_tracing, platform_from_env, run_step};

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_tracing();
    let platform = platform_from_env().await?;
    run_step("index", |input| mvidarr_index::index(&platform, input)).await
}
