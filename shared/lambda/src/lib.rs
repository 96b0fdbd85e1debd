//! What every Lambda `main.rs` shares, so each stays wiring only.
//!
//! Until the AWS adapters land (`shared/store-aws`, the AWS issue), the Lambda binaries wire
//! the embedded adapters on a data directory given by `MVIDARR_DATA` (e.g. an EFS mount); the
//! handlers do not change when that swap happens, only [`platform_from_env`]. The embedded
//! store assumes one owning process (it clears its temp folder on open, and creates its
//! signing key on first use), so this interim wiring is for a single instance at a time
//! (reserved concurrency 1), not for production scale.

use std::future::Future;

use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use mvidarr_core::asl::StateMachine;
use mvidarr_core::step::{StepError, StepInput};
use mvidarr_store_local::{LocalConfig, LocalPlatform};
use serde_json::Value;

pub use lambda_runtime::Error;

/// JSON logs, one object per line, as CloudWatch Logs Insights wants them.
pub fn init_tracing() {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_current_span(false)
        .without_time() // Lambda timestamps every line itself
        .init();
}

/// The platform this function runs on, built once per cold start.
pub fn platform_from_env() -> Result<LocalPlatform, Error> {
    let data_dir = std::env::var_os("MVIDARR_DATA")
        .ok_or("MVIDARR_DATA is not set")?
        .into();
    let public_base_url = std::env::var("MVIDARR_PUBLIC_URL").unwrap_or_default();
    let machine = StateMachine::pipeline()?;
    Ok(LocalPlatform::open(
        &LocalConfig {
            data_dir,
            public_base_url,
            ingest_max_receives: 5,
        },
        machine,
    )?)
}

/// A step's error as Lambda reports it: `errorType` is what the state machine's
/// `Retry`/`Catch` match on.
pub fn diagnostic(e: StepError) -> Diagnostic {
    Diagnostic {
        error_type: e.name().to_owned(),
        error_message: e.to_string(),
    }
}

/// Run a pipeline step as a Step Functions Lambda task: the state input in, the same input
/// out (the definition discards task results with `ResultPath: null`).
pub async fn run_step<F, Fut>(step: F) -> Result<(), Error>
where
    F: Fn(StepInput) -> Fut,
    Fut: Future<Output = Result<(), StepError>>,
{
    let step = &step;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let input = StepInput::parse(event.payload.clone()).map_err(diagnostic)?;
        step(input).await.map_err(diagnostic)?;
        Ok::<Value, Diagnostic>(event.payload)
    }))
    .await
}
