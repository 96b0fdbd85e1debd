//! [`Pipeline`] on Step Functions: `start` is `StartExecution` under the [`ExecutionName`] with
//! the [`PipelineInput`] as JSON.
//!
//! Starting a name again is a no-op, which Step Functions reports in one of two ways:
//!
//! - `ExecutionAlreadyExists`, when the input differs or the earlier execution has finished
//!   (or the machine is EXPRESS).
//! - Success, when a STANDARD machine still runs an execution of that name with the same input
//!   (the upload trigger's repeat: same media, same content): the answer names the existing
//!   execution with its original `startDate`, and nothing in it tells a new execution from an
//!   old one to the second.
//!
//! So `start` first asks (`DescribeExecution`) whether the name exists, and says
//! [`StartOutcome::AlreadyExists`] without starting if it does; otherwise it starts, and an
//! `ExecutionAlreadyExists` from a start that raced another is `AlreadyExists` too. What stays
//! undecidable is two starts racing between their look and their start with the same input:
//! both succeed and both say `Started`, although Step Functions ran one execution. The outcome
//! is informational only (nothing ever runs twice), so a look that fails (say, a role without
//! `states:DescribeExecution`) is logged and the start goes ahead without it.
//!
//! The caller's role needs `states:StartExecution` on the state machine and
//! `states:DescribeExecution` on its executions (`arn:…:execution:{machine}:*`).

use std::sync::Arc;

use aws_sdk_sfn::Client;
use aws_sdk_sfn::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sfn::types::StateMachineType;
use mvidarr_core::ports::{ExecutionName, Pipeline, PipelineError, PipelineInput, StartOutcome};

use crate::error::{Failure, classify};

/// One state machine. Cheap to clone.
#[derive(Clone)]
pub struct SfnPipeline {
    client: Client,
    state_machine_arn: Arc<str>,
}

impl std::fmt::Debug for SfnPipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SfnPipeline")
            .field("state_machine_arn", &self.state_machine_arn)
            .finish()
    }
}

/// What Step Functions records of one execution.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecutionInfo {
    pub execution_arn: String,
    /// `RUNNING`, `SUCCEEDED`, `FAILED`, `TIMED_OUT`, `ABORTED`, ...
    pub status: String,
    /// The input it was started with, parsed (`None` if Step Functions did not return it).
    pub input: Option<serde_json::Value>,
}

impl SfnPipeline {
    pub fn new(client: Client, state_machine_arn: impl Into<String>) -> Self {
        Self {
            client,
            state_machine_arn: state_machine_arn.into().into(),
        }
    }

    pub fn state_machine_arn(&self) -> &str {
        &self.state_machine_arn
    }

    /// The ARN an execution of this machine named `name` has:
    /// `arn:{partition}:states:{region}:{account}:execution:{machine}:{name}`.
    pub fn execution_arn(&self, name: &ExecutionName) -> Result<String, PipelineError> {
        let parts: Vec<&str> = self.state_machine_arn.split(':').collect();
        match parts.as_slice() {
            [
                "arn",
                partition,
                "states",
                region,
                account,
                "stateMachine",
                machine,
                ..,
            ] => Ok(format!(
                "arn:{partition}:states:{region}:{account}:execution:{machine}:{}",
                name.as_str()
            )),
            _ => Err(PipelineError::Backend(format!(
                "not a state machine ARN: {}",
                self.state_machine_arn
            ))),
        }
    }

    /// The execution named `name`, or `None` if there is none.
    pub async fn describe(
        &self,
        name: &ExecutionName,
    ) -> Result<Option<ExecutionInfo>, PipelineError> {
        let arn = self.execution_arn(name)?;
        let out = match self
            .client
            .describe_execution()
            .execution_arn(&arn)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_execution_does_not_exist()) =>
            {
                return Ok(None);
            }
            Err(e) => return Err(pipeline_error(&e)),
        };
        let input = out
            .input()
            .map(serde_json::from_str)
            .transpose()
            .map_err(|e| PipelineError::Backend(format!("execution input is not JSON: {e}")))?;
        Ok(Some(ExecutionInfo {
            execution_arn: out.execution_arn().to_owned(),
            status: out.status().as_str().to_owned(),
            input,
        }))
    }

    /// The input the execution named `name` was started with, or `None` if there is none.
    pub async fn execution_input(
        &self,
        name: &ExecutionName,
    ) -> Result<Option<serde_json::Value>, PipelineError> {
        Ok(self.describe(name).await?.and_then(|info| info.input))
    }
}

impl Pipeline for SfnPipeline {
    async fn start(
        &self,
        name: &ExecutionName,
        input: &PipelineInput,
    ) -> Result<StartOutcome, PipelineError> {
        match self.describe(name).await {
            Ok(Some(_)) => return Ok(StartOutcome::AlreadyExists),
            Ok(None) => {}
            Err(e) => tracing::warn!(
                execution = name.as_str(),
                error = %e,
                "could not look for an earlier execution; starting anyway"
            ),
        }
        let input =
            serde_json::to_string(input).map_err(|e| PipelineError::Backend(e.to_string()))?;
        let result = self
            .client
            .start_execution()
            .state_machine_arn(&*self.state_machine_arn)
            .name(name.as_str())
            .input(input)
            .send()
            .await;
        match result {
            Ok(_) => Ok(StartOutcome::Started),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_execution_already_exists()) =>
            {
                Ok(StartOutcome::AlreadyExists)
            }
            Err(e) => Err(pipeline_error(&e)),
        }
    }
}

/// Create a STANDARD state machine; returns its ARN. For tests and tools; the deployed machine
/// comes from the template.
pub async fn create_state_machine(
    client: &Client,
    name: &str,
    definition_json: &str,
    role_arn: &str,
) -> Result<String, PipelineError> {
    let out = client
        .create_state_machine()
        .name(name)
        .definition(definition_json)
        .role_arn(role_arn)
        .r#type(StateMachineType::Standard)
        .send()
        .await
        .map_err(|e| pipeline_error(&e))?;
    Ok(out.state_machine_arn().to_owned())
}

/// Replace every `${Name}` in an ASL definition (`infra/pipeline.asl.json`) with
/// `arn_for("Name")`, as CloudFormation's `DefinitionSubstitutions` does. A name is one or more
/// of `[A-Za-z0-9_]`; a `${` not followed by a name and `}` is left as it is.
pub fn substitute_definition(asl: &str, arn_for: impl Fn(&str) -> String) -> String {
    let mut out = String::with_capacity(asl.len());
    let mut rest = asl;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        let len = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(after.len());
        out.push_str(&rest[..start]);
        if len > 0 && after[len..].starts_with('}') {
            out.push_str(&arn_for(&after[..len]));
            rest = &after[len + 1..];
        } else {
            out.push_str("${");
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

fn pipeline_error<E>(err: &SdkError<E, aws_sdk_sfn::config::http::HttpResponse>) -> PipelineError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match classify(err) {
        Failure::Transient(m) => PipelineError::Transient(m),
        other => PipelineError::Backend(other.describe()),
    }
}
