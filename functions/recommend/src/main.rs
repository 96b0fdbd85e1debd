//! Lambda: the EventBridge schedule → train every tenant's recommender.

use chrono::Utc;
use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use mvidarr_lambda::{Error, init_tracing, platform_from_env};
use mvidarr_recommend::{Recommend, RecommendConfig};
use tracing::Instrument;

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_tracing();
    let recommend = Recommend::new(platform_from_env().await?, RecommendConfig::from_env()?);
    let recommend = &recommend;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<_>| {
        let span = tracing::info_span!("recommend", request_id = %event.context.request_id);
        let run = recommend.handle(event.payload, Utc::now());
        async move { run.await.map_err(Diagnostic::from) }.instrument(span)
    }))
    .await
}
