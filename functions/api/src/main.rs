//! Lambda: the REST API behind API Gateway (HTTP API, payload v2).

use mvidarr_api::{ApiState, router};
use mvidarr_lambda::{Error, init_tracing, platform_from_env};

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_tracing();
    let app = router(ApiState::new(platform_from_env().await?));
    lambda_http::run(app).await
}
