//! Lambda: the HTTP API's Lambda authorizer (payload format 2.0, simple responses).
// The runtime's service future wraps the whole identity service's: its layout nests deeper
// than the default limit allows.
#![recursion_limit = "256"]

use lambda_runtime::{LambdaEvent, service_fn};
use mvidarr_auth_fn::handle;
use mvidarr_lambda::{Error, init_tracing, platform_from_env, verifier_from_env};

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_tracing();
    let identity = verifier_from_env(platform_from_env().await?)?;
    let identity = &identity;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<_>| {
        handle(identity, event)
    }))
    .await
}
