//! What every Lambda `main.rs` shares, so each stays wiring only: JSON logs, the AWS platform
//! from the environment the stack sets, and pipeline steps run as Step Functions tasks with a
//! span (request id, tenant, media) and an EMF metric line per invocation.

pub mod metrics;

use std::future::Future;
use std::time::Instant;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse};
use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use mvidarr_auth::service::{Identity, IdentityConfig};
use mvidarr_core::step::{StepError, StepInput};
use mvidarr_store_aws::AwsSettings;
use mvidarr_store_aws::platform::{AwsPlatform, AwsResources};
use serde_json::Value;
use tracing::Instrument;

pub use lambda_runtime::Error;

/// An SQS-triggered invocation's answer (`ReportBatchItemFailures`): the messages that failed,
/// by message id, so that only they are delivered again.
pub fn sqs_batch_response<E: std::fmt::Display>(
    results: impl IntoIterator<Item = (String, Result<(), E>)>,
) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    for (id, result) in results {
        if let Err(e) = result {
            tracing::warn!(message_id = %id, error = %e, "message failed; it will be redelivered");
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            response.batch_item_failures.push(failure);
        }
    }
    response
}

/// JSON logs, one object per line, as CloudWatch Logs Insights wants them. The current span's
/// fields (request id, tenant, media) go into every line.
pub fn init_tracing() {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info".into())
                // At trace, lambda_runtime logs every raw event: bearer tokens, passwords.
                .add_directive("lambda_runtime=info".parse().expect("a valid directive")),
        )
        .with_current_span(true)
        .with_span_list(false)
        .without_time() // Lambda timestamps every line itself
        .init();
}

/// The platform this function runs on, built once per cold start from the names the stack
/// gives it (`MEDIA_BUCKET`, `TABLE_NAME`, and per function `INGEST_QUEUE_URL`,
/// `STATE_MACHINE_ARN`). `AWS_ENDPOINT_URL` points every client elsewhere (moto in tests).
pub async fn platform_from_env() -> Result<AwsPlatform, Error> {
    let resources = AwsResources::from_env()?;
    let settings = AwsSettings {
        endpoint_url: std::env::var("AWS_ENDPOINT_URL")
            .ok()
            .filter(|v| !v.is_empty()),
        ..AwsSettings::default()
    };
    Ok(AwsPlatform::connect(&settings, &resources).await)
}

/// The identity service, from the same platform. `TOKEN_ISSUER` is the `iss` of every access
/// token. No AWS call here: the signing keys are read on the first request that needs them,
/// so init stays free of network calls.
pub fn identity_from_env(platform: AwsPlatform) -> Result<Identity<AwsPlatform>, Error> {
    Ok(Identity::new(
        platform,
        IdentityConfig::new(&issuer_from_env()?),
    ))
}

/// The identity service as the Lambda authorizer uses it: authenticate only, no writes and
/// no private key (its role may read the table, nothing more).
pub fn verifier_from_env(platform: AwsPlatform) -> Result<Identity<AwsPlatform>, Error> {
    Ok(Identity::new(
        platform,
        IdentityConfig::verifier(&issuer_from_env()?),
    ))
}

fn issuer_from_env() -> Result<String, Error> {
    Ok(std::env::var("TOKEN_ISSUER").map_err(|_| "TOKEN_ISSUER is not set")?)
}

/// A step's error as Lambda reports it: `errorType` is what the state machine's
/// `Retry`/`Catch` match on.
pub fn diagnostic(e: StepError) -> Diagnostic {
    Diagnostic {
        error_type: e.name().to_owned(),
        error_message: e.to_string(),
    }
}

/// One invocation of a pipeline step: parse the state input, run the step inside a span that
/// names the request, tenant and media, emit its EMF metrics, and return the same input (the
/// definition discards task results with `ResultPath: null`).
pub async fn invoke_step<F, Fut>(
    step_name: &str,
    step: &F,
    event: LambdaEvent<Value>,
) -> Result<Value, Diagnostic>
where
    F: Fn(StepInput) -> Fut,
    Fut: Future<Output = Result<(), StepError>>,
{
    let request_id = event.context.request_id.clone();
    let input = StepInput::parse(event.payload.clone()).map_err(|e| {
        tracing::error!(%request_id, step = step_name, error = %e, "unreadable step input");
        diagnostic(e)
    })?;
    let span = tracing::info_span!(
        "step",
        step = step_name,
        %request_id,
        tenant = %input.tenant,
        media = %input.media_id,
    );
    let started = Instant::now();
    // Boxed: the step's future nests the SDK's futures deeply enough that, inlined into the
    // runtime's, its type passes the compiler's default recursion limit.
    let outcome = Box::pin(step(input)).instrument(span.clone()).await;
    let error_type = outcome.as_ref().err().map(StepError::name);
    metrics::emit(&metrics::step_metrics(
        step_name,
        started.elapsed(),
        error_type,
    ));
    match outcome {
        Ok(()) => Ok(event.payload),
        Err(e) => {
            span.in_scope(|| tracing::warn!(error = %e, kind = e.name(), "step failed"));
            Err(diagnostic(e))
        }
    }
}

/// Run a pipeline step as a Step Functions Lambda task until the runtime stops.
pub async fn run_step<F, Fut>(step_name: &'static str, step: F) -> Result<(), Error>
where
    F: Fn(StepInput) -> Fut,
    Fut: Future<Output = Result<(), StepError>>,
{
    let step = &step;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        invoke_step(step_name, step, event)
    }))
    .await
}
