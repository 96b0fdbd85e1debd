//! Lambda: the reports queue (SQS, partial batch failures) and the scheduler's tick (an
//! EventBridge schedule), told apart by the event's shape. Report queries run on Athena over
//! the stack's Glue table (`ANALYTICS_DATABASE`, `ANALYTICS_TABLE`, `ATHENA_WORKGROUP`).
// The Athena and Lambda futures nest deeper than the default limit allows.
#![recursion_limit = "256"]

use aws_lambda_events::event::sqs::SqsEvent;
use chrono::Utc;
use lambda_runtime::{LambdaEvent, service_fn};
use mvidarr_analytics::athena::AthenaEngine;
use mvidarr_lambda::{Error, init_tracing, platform_from_env};
use mvidarr_report_jobs::ReportFunction;
use mvidarr_store_aws::{AwsSettings, sdk_config};
use serde_json::{Value, json};
use tracing::Instrument;

fn setting(name: &'static str) -> Result<String, Error> {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .ok_or_else(|| format!("{name} is not set: the stack gives the report function its Athena names (template.yaml)").into())
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_tracing();
    let platform = platform_from_env().await?;
    let settings = AwsSettings {
        endpoint_url: std::env::var("AWS_ENDPOINT_URL")
            .ok()
            .filter(|v| !v.is_empty()),
        ..AwsSettings::default()
    };
    let athena = aws_sdk_athena::Client::new(&sdk_config(&settings).await);
    let engine = AthenaEngine::new(
        athena,
        &setting("ANALYTICS_DATABASE")?,
        &setting("ANALYTICS_TABLE")?,
        &setting("ATHENA_WORKGROUP")?,
    )?;
    let function = ReportFunction::new(platform, engine);
    let function = &function;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let span = tracing::info_span!("report", request_id = %event.context.request_id);
        async move {
            let payload = event.payload;
            if payload.get("Records").is_some() {
                let sqs: SqsEvent = serde_json::from_value(payload)?;
                return Ok::<_, Error>(serde_json::to_value(function.handle_sqs_event(sqs).await)?);
            }
            // An EventBridge scheduled event: what is due now runs (a late tick catches up).
            let outcome = function.tick(Utc::now()).await?;
            Ok(json!({"scheduled": outcome.scheduled, "schedules_ended": outcome.schedules_ended}))
        }
        .instrument(span)
    }))
    .await
}
