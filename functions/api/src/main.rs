//! Lambda: the REST API behind API Gateway (HTTP API, payload v2).

use mvidarr_api::{ApiState, lambda_router};
use std::sync::Arc;

use mvidarr_lambda::{Error, identity_from_env, init_tracing, platform_from_env};

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_tracing();
    let platform = platform_from_env().await?;
    let identity = Arc::new(identity_from_env(platform.clone())?);
    let app = lambda_router(ApiState::new(platform, identity));
    lambda_http::run(app).await
}
