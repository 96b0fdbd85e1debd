//! The contract between the pipeline and its steps: a step receives the execution's input
//! and fails with an error whose *name* decides what the state machine does — `Transient` is
//! retried with backoff (see `infra/pipeline.asl.json`), anything else is caught and recorded.

use serde::Deserialize;

use crate::ids::{MediaId, TenantId};
use crate::media::Step;
use crate::repo::RepoError;

/// The error name Step Functions matches in `Retry`.
pub const TRANSIENT: &str = "Transient";
/// The error name of failures a retry cannot cure.
pub const PERMANENT: &str = "Permanent";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StepError {
    #[error("{0}")]
    Transient(String),
    #[error("{0}")]
    Permanent(String),
}

impl StepError {
    /// The name the state machine's `ErrorEquals` sees (Lambda's `errorType`).
    pub fn name(&self) -> &'static str {
        match self {
            StepError::Transient(_) => TRANSIENT,
            StepError::Permanent(_) => PERMANENT,
        }
    }
}

/// In AWS, a Lambda task's `Cause` is the function's error reply as JSON
/// (`{"errorMessage": …, "errorType": …}`); locally it is the message itself. Either way the
/// media record gets the plain message.
fn lambda_error_message(cause: &str) -> String {
    serde_json::from_str::<serde_json::Value>(cause)
        .ok()
        .and_then(|v| v.get("errorMessage")?.as_str().map(str::to_owned))
        .unwrap_or_else(|| cause.to_owned())
}

/// A step's result as the state machine sees it (what Lambda's reply says in AWS).
pub fn task_outcome(result: Result<(), StepError>) -> crate::asl::TaskOutcome {
    match result {
        Ok(()) => crate::asl::TaskOutcome::Succeeded(serde_json::Value::Null),
        Err(e) => crate::asl::TaskOutcome::Failed {
            error: e.name().to_owned(),
            cause: e.to_string(),
        },
    }
}

impl From<RepoError> for StepError {
    fn from(e: RepoError) -> Self {
        if e.is_transient() {
            StepError::Transient(e.to_string())
        } else {
            StepError::Permanent(e.to_string())
        }
    }
}

/// The input every step reads: the execution input, plus what a `Catch` added on failure.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct StepInput {
    pub tenant: TenantId,
    pub media_id: MediaId,
    /// Set by the `*Failed` pass states before `MarkFailed`.
    #[serde(default)]
    pub failed_step: Option<String>,
    /// Set by `Catch` (`ResultPath: $.error`): `{"Error": …, "Cause": …}`.
    #[serde(default)]
    pub error: Option<CaughtError>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct CaughtError {
    #[serde(rename = "Error")]
    pub error: String,
    #[serde(rename = "Cause", default)]
    pub cause: String,
}

impl StepInput {
    pub fn parse(value: serde_json::Value) -> Result<Self, StepError> {
        serde_json::from_value(value)
            .map_err(|e| StepError::Permanent(format!("bad step input: {e}")))
    }

    /// The failed step and reason for `MarkFailed`.
    pub fn failure(&self) -> (Step, String) {
        let step = self
            .failed_step
            .as_deref()
            .and_then(Step::parse)
            .unwrap_or(Step::Analyze);
        let reason = match &self.error {
            Some(e) if !e.cause.is_empty() => lambda_error_message(&e.cause),
            Some(e) => e.error.clone(),
            None => "unknown failure".into(),
        };
        (step, reason)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(cause: &str) -> StepInput {
        StepInput::parse(serde_json::json!({
            "tenant": "01ARZ3NDEKTSV4RRFFQ69G5FAV",
            "media_id": "01ARZ3NDEKTSV4RRFFQ69G5FAW",
            "failed_step": "tag",
            "error": {"Error": "Permanent", "Cause": cause},
        }))
        .unwrap()
    }

    #[test]
    fn the_failure_reason_is_the_plain_message_in_both_worlds() {
        let aws =
            input(r#"{"errorMessage":"no probe analysis to tag from","errorType":"Permanent"}"#);
        assert_eq!(
            aws.failure(),
            (Step::Tag, "no probe analysis to tag from".into())
        );
        let local = input("no probe analysis to tag from");
        assert_eq!(
            local.failure(),
            (Step::Tag, "no probe analysis to tag from".into())
        );
    }
}
