//! Lambda: SQS (events queue) → events, with partial batch failures.

use lambda_runtime::{LambdaEvent, service_fn};
use mvidarr_events::EventsFunction;
use mvidarr_lambda::{Error, init_tracing, platform_from_env};
use tracing::Instrument;

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_tracing();
    let function = EventsFunction::new(platform_from_env().await?);
    let function = &function;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<_>| {
        let span = tracing::info_span!("events", request_id = %event.context.request_id);
        async move { Ok::<_, Error>(function.handle_sqs_event(event.payload).await) }
            .instrument(span)
    }))
    .await
}
