//! A state machine on moto for the `SfnPipeline` tests. moto records executions (name, input,
//! status) but runs nothing, so the Lambda ARNs the definition names need not exist.

use aws_sdk_sfn::Client;
pub use mvidarr_store_aws::sfn::substitute_definition;
use mvidarr_store_aws::sfn::{SfnPipeline, create_state_machine};

use super::moto::{ACCOUNT, Moto, REGION, repo_root, unique_name};

/// A role ARN of the shape Step Functions wants (moto checks the shape only).
pub const FAKE_ROLE_ARN: &str = "arn:aws:iam::123456789012:role/mvidarr-pipeline";

pub async fn sfn_client(moto: &Moto) -> Client {
    Client::new(&moto.sdk_config().await)
}

/// The fake Lambda ARN a placeholder stands for: `AnalyzeFunctionArn` becomes
/// `arn:aws:lambda:us-east-1:123456789012:function:mvidarr-AnalyzeFunction`.
pub fn fake_lambda_arn(placeholder: &str) -> String {
    let function = placeholder.strip_suffix("Arn").unwrap_or(placeholder);
    format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:mvidarr-{function}")
}

/// `infra/pipeline.asl.json` with its placeholders replaced by [`fake_lambda_arn`].
pub fn pipeline_definition() -> String {
    let path = repo_root().join("infra/pipeline.asl.json");
    let asl = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    substitute_definition(&asl, fake_lambda_arn)
}

/// A fresh state machine (under a name of its own) from the project's pipeline definition.
pub async fn new_state_machine(moto: &Moto) -> SfnPipeline {
    let client = sfn_client(moto).await;
    let arn = create_state_machine(
        &client,
        &unique_name("pipeline"),
        &pipeline_definition(),
        FAKE_ROLE_ARN,
    )
    .await
    .unwrap_or_else(|e| panic!("creating a state machine on moto: {e}"));
    SfnPipeline::new(client, arn)
}

/// A pipeline whose client talks to a port nothing listens on, trying twice: every start fails
/// to connect.
pub async fn unreachable_pipeline() -> SfnPipeline {
    let client = Client::new(&super::moto::unreachable_sdk_config().await);
    SfnPipeline::new(
        client,
        format!("arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:unreachable"),
    )
}
