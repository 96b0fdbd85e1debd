//! Runs a Step Functions definition's states in order in this process, invoking each Task's
//! Lambda handler, for tests on moto (which records executions but does not run them). The
//! transitions — Next, Retry with backoff, Catch with ResultPath — are the same interpreter
//! (`mvidarr_core::asl`) the embedded runner uses, fed the definition Step Functions holds.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;

use lambda_runtime::{Context, Diagnostic, LambdaEvent};
use mvidarr_core::asl::{StateMachine, TaskOutcome, Transition};
use serde_json::Value;

type Handler = Box<dyn Fn(LambdaEvent<Value>) -> HandlerFuture + Send + Sync>;
type HandlerFuture = Pin<Box<dyn Future<Output = Result<Value, Diagnostic>> + Send>>;

/// Lambda handlers by the function ARN a Task state names as its `Resource`.
#[derive(Default)]
pub struct Functions {
    by_arn: BTreeMap<String, Handler>,
}

impl Functions {
    pub fn register<F, Fut>(mut self, arn: impl Into<String>, handler: F) -> Self
    where
        F: Fn(LambdaEvent<Value>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Value, Diagnostic>> + Send + 'static,
    {
        self.by_arn
            .insert(arn.into(), Box::new(move |event| Box::pin(handler(event))));
        self
    }
}

/// How an execution ended, and the states it went through (retries repeat a state).
#[derive(Debug)]
pub struct Run {
    pub visited: Vec<String>,
    pub end: Transition,
}

/// Run `machine` from its start state with `input`. Retry delays are divided by
/// `delay_divisor` so tests that exercise retries stay quick.
pub async fn run(
    machine: &StateMachine,
    functions: &Functions,
    input: Value,
    delay_divisor: u32,
) -> Run {
    let mut visited = Vec::new();
    let mut state = machine.start_at.clone();
    let mut input = input;
    let mut retries: Vec<u32> = Vec::new();
    let mut invocation = 0u32;
    loop {
        visited.push(state.clone());
        assert!(visited.len() < 100, "execution does not end: {visited:?}");
        let transition = match machine.enter_non_task(&state, input.clone()) {
            Some(t) => t,
            None => {
                let mvidarr_core::asl::State::Task(task) = &machine.states[&state] else {
                    unreachable!("enter_non_task handles every other state type")
                };
                let handler = functions
                    .by_arn
                    .get(&task.resource)
                    .unwrap_or_else(|| panic!("no function registered for {}", task.resource));
                invocation += 1;
                let mut context = Context::default();
                context.request_id = format!("test-request-{invocation}");
                context.invoked_function_arn = task.resource.clone();
                let outcome = match handler(LambdaEvent::new(input.clone(), context)).await {
                    Ok(result) => TaskOutcome::Succeeded(result),
                    // Step Functions' Cause for a Lambda error is the function's error reply.
                    Err(d) => TaskOutcome::Failed {
                        cause: serde_json::json!({
                            "errorType": d.error_type, "errorMessage": d.error_message,
                        })
                        .to_string(),
                        error: d.error_type,
                    },
                };
                machine.after_task(&state, input.clone(), &retries, outcome)
            }
        };
        match transition {
            Transition::Goto {
                state: next,
                input: next_input,
            } => {
                state = next;
                input = next_input;
                retries.clear();
            }
            Transition::Retry { delay, retrier } => {
                if retries.len() <= retrier {
                    retries.resize(retrier + 1, 0);
                }
                retries[retrier] += 1;
                tokio::time::sleep(delay / delay_divisor.max(1)).await;
            }
            end @ (Transition::Succeeded(_) | Transition::Failed { .. }) => {
                return Run { visited, end };
            }
        }
    }
}

/// A Lambda function ARN in moto's account and region.
pub fn function_arn(name: &str) -> String {
    format!(
        "arn:aws:lambda:{}:{}:function:{name}",
        super::moto::REGION,
        super::moto::ACCOUNT
    )
}
