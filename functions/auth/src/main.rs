//! Lambda: the HTTP API's Lambda authorizer (payload format 2.0, simple responses).

use lambda_runtime::{LambdaEvent, service_fn};
use mvidarr_auth_fn::handle;
use mvidarr_lambda::{Error, identity_from_env, init_tracing, platform_from_env};

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_tracing();
    let identity = identity_from_env(platform_from_env().await?).await?;
    let identity = &identity;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<_>| {
        handle(identity, event)
    }))
    .await
}
