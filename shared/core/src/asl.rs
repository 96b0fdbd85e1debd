//! The subset of the Amazon States Language the pipeline uses, and what a state machine does
//! after each step. Pure: the local runner (store-local) persists executions and calls task
//! handlers; Step Functions runs the very same definition (`infra/pipeline.asl.json`) in AWS.
//!
//! Supported: `Task` (Resource, Next/End, Retry, Catch, TimeoutSeconds, ResultPath), `Pass`
//! (Result, ResultPath), `Succeed`, `Fail`. A definition using anything else is refused when it
//! is parsed, never half-run.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

/// Matches every error (`States.ALL`).
pub const ALL_ERRORS: &str = "States.ALL";
/// Matches every error but a timeout (`States.TaskFailed`).
pub const TASK_FAILED: &str = "States.TaskFailed";
/// A task ran past its `TimeoutSeconds`.
pub const TIMEOUT: &str = "States.Timeout";
/// The execution cannot go on (an unknown state, a task that panicked…).
pub const RUNTIME: &str = "States.Runtime";

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StateMachine {
    #[serde(default)]
    pub comment: Option<String>,
    pub start_at: String,
    pub states: BTreeMap<String, State>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "Type")]
pub enum State {
    Task(TaskState),
    Pass(PassState),
    Succeed {},
    Fail {
        #[serde(rename = "Error", default)]
        error: Option<String>,
        #[serde(rename = "Cause", default)]
        cause: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TaskState {
    pub resource: String,
    #[serde(default)]
    pub next: Option<String>,
    #[serde(default)]
    pub end: bool,
    #[serde(default)]
    pub retry: Vec<Retrier>,
    #[serde(default)]
    pub catch: Vec<Catcher>,
    #[serde(default)]
    pub timeout_seconds: Option<u64>,
    #[serde(default = "default_result_path")]
    pub result_path: Option<String>,
    #[serde(default)]
    pub comment: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PassState {
    #[serde(default)]
    pub next: Option<String>,
    #[serde(default)]
    pub end: bool,
    #[serde(default)]
    pub result: Option<Value>,
    #[serde(default = "default_result_path")]
    pub result_path: Option<String>,
    #[serde(default)]
    pub comment: Option<String>,
}

fn default_result_path() -> Option<String> {
    Some("$".into())
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Retrier {
    pub error_equals: Vec<String>,
    #[serde(default = "one")]
    pub interval_seconds: f64,
    #[serde(default = "three")]
    pub max_attempts: u32,
    #[serde(default = "two")]
    pub backoff_rate: f64,
    #[serde(default)]
    pub max_delay_seconds: Option<f64>,
}

fn one() -> f64 {
    1.0
}
fn two() -> f64 {
    2.0
}
fn three() -> u32 {
    3
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Catcher {
    pub error_equals: Vec<String>,
    pub next: String,
    #[serde(default = "default_result_path")]
    pub result_path: Option<String>,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DefinitionError {
    #[error("state machine definition is not valid ASL for this runner: {0}")]
    Parse(String),
    #[error("state {state:?} names {target:?}, which does not exist")]
    UnknownState { state: String, target: String },
    #[error("state {0:?} has neither Next nor End")]
    Dangling(String),
    #[error("unsupported ResultPath {0:?}: use \"$\", \"$.field\" or null")]
    ResultPath(String),
}

/// A task's result as the runner saw it.
#[derive(Debug, Clone, PartialEq)]
pub enum TaskOutcome {
    Succeeded(Value),
    Failed { error: String, cause: String },
}

/// What to do next.
#[derive(Debug, Clone, PartialEq)]
pub enum Transition {
    /// Run `state` with `input`.
    Goto {
        state: String,
        input: Value,
    },
    /// Run the same state again with the same input after `delay`; `retrier` is the index of
    /// the retrier whose count went up.
    Retry {
        delay: Duration,
        retrier: usize,
    },
    Succeeded(Value),
    Failed {
        error: String,
        cause: String,
    },
}

/// The media pipeline, `infra/pipeline.asl.json`: the file Step Functions runs in AWS and the
/// local runner interprets.
pub const PIPELINE_DEFINITION: &str = include_str!("../../../infra/pipeline.asl.json");

impl StateMachine {
    /// The media pipeline's definition, parsed.
    pub fn pipeline() -> Result<Self, DefinitionError> {
        Self::parse(PIPELINE_DEFINITION)
    }

    pub fn parse(json: &str) -> Result<Self, DefinitionError> {
        let sm: StateMachine =
            serde_json::from_str(json).map_err(|e| DefinitionError::Parse(e.to_string()))?;
        sm.check()?;
        Ok(sm)
    }

    fn check(&self) -> Result<(), DefinitionError> {
        let exists = |state: &str, target: &str| {
            if self.states.contains_key(target) {
                Ok(())
            } else {
                Err(DefinitionError::UnknownState {
                    state: state.into(),
                    target: target.into(),
                })
            }
        };
        exists("StartAt", &self.start_at)?;
        for (name, state) in &self.states {
            let (next, end, paths): (&Option<String>, bool, Vec<&Option<String>>) = match state {
                State::Task(t) => {
                    for c in &t.catch {
                        exists(name, &c.next)?;
                    }
                    let mut paths = vec![&t.result_path];
                    paths.extend(t.catch.iter().map(|c| &c.result_path));
                    (&t.next, t.end, paths)
                }
                State::Pass(p) => (&p.next, p.end, vec![&p.result_path]),
                State::Succeed {} | State::Fail { .. } => continue,
            };
            match next {
                Some(n) => exists(name, n)?,
                None if end => {}
                None => return Err(DefinitionError::Dangling(name.clone())),
            }
            for p in paths.into_iter().flatten() {
                if p != "$" && !is_simple_field_path(p) {
                    return Err(DefinitionError::ResultPath(p.clone()));
                }
            }
        }
        Ok(())
    }

    /// Task states in the order a successful execution meets them.
    pub fn happy_path(&self) -> Vec<(&str, &TaskState)> {
        let mut out = Vec::new();
        let mut at = Some(self.start_at.as_str());
        while let Some(name) = at {
            at = match self.states.get(name) {
                Some(State::Task(t)) => {
                    out.push((name, t));
                    t.next.as_deref()
                }
                Some(State::Pass(p)) => p.next.as_deref(),
                _ => None,
            };
            if out.len() > self.states.len() {
                break; // a loop; `check` does not forbid them, so stop rather than spin
            }
        }
        out
    }

    /// What follows entering a `Pass`, `Succeed` or `Fail` state (they need no task run).
    pub fn enter_non_task(&self, state: &str, input: Value) -> Option<Transition> {
        // A persisted execution may name a state a newer definition no longer has.
        let Some(found) = self.states.get(state) else {
            return Some(unknown_state(state));
        };
        match found {
            State::Task(_) => None,
            State::Pass(p) => {
                let output = apply_result_path(
                    input,
                    p.result.clone().unwrap_or(Value::Null),
                    &p.result_path,
                );
                Some(continue_to(p.next.as_deref(), p.end, output))
            }
            State::Succeed {} => Some(Transition::Succeeded(input)),
            State::Fail { error, cause } => Some(Transition::Failed {
                error: error.clone().unwrap_or_else(|| "States.Fail".into()),
                cause: cause.clone().unwrap_or_default(),
            }),
        }
    }

    /// What follows a task's outcome, given how often each of its retriers has fired already.
    pub fn after_task(
        &self,
        state: &str,
        input: Value,
        retries_so_far: &[u32],
        outcome: TaskOutcome,
    ) -> Transition {
        let Some(State::Task(task)) = self.states.get(state) else {
            return unknown_state(state);
        };
        match outcome {
            TaskOutcome::Succeeded(result) => {
                let output = apply_result_path(input, result, &task.result_path);
                continue_to(task.next.as_deref(), task.end, output)
            }
            TaskOutcome::Failed { error, cause } => {
                // The first retrier that matches decides; if it is used up, no other is tried.
                if let Some((i, r)) = task
                    .retry
                    .iter()
                    .enumerate()
                    .find(|(_, r)| matches(&r.error_equals, &error))
                {
                    let done = retries_so_far.get(i).copied().unwrap_or(0);
                    if done < r.max_attempts {
                        let mut secs = r.interval_seconds * r.backoff_rate.powi(done as i32);
                        if let Some(cap) = r.max_delay_seconds {
                            secs = secs.min(cap);
                        }
                        return Transition::Retry {
                            delay: Duration::from_secs_f64(secs.max(0.0)),
                            retrier: i,
                        };
                    }
                }
                if let Some(c) = task.catch.iter().find(|c| matches(&c.error_equals, &error)) {
                    let err = serde_json::json!({ "Error": error, "Cause": cause });
                    return Transition::Goto {
                        state: c.next.clone(),
                        input: apply_result_path(input, err, &c.result_path),
                    };
                }
                Transition::Failed { error, cause }
            }
        }
    }
}

/// The failure of an execution whose current state is not a Task of this definition.
pub fn unknown_state(state: &str) -> Transition {
    Transition::Failed {
        error: RUNTIME.into(),
        cause: format!("the definition has no Task state named {state:?}"),
    }
}

fn matches(patterns: &[String], error: &str) -> bool {
    patterns
        .iter()
        .any(|p| p == error || p == ALL_ERRORS || (p == TASK_FAILED && error != TIMEOUT))
}

fn continue_to(next: Option<&str>, end: bool, output: Value) -> Transition {
    match next {
        Some(n) if !end => Transition::Goto {
            state: n.to_owned(),
            input: output,
        },
        _ => Transition::Succeeded(output),
    }
}

fn is_simple_field_path(p: &str) -> bool {
    p.strip_prefix("$.")
        .is_some_and(|f| !f.is_empty() && f.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
}

/// `ResultPath`: `"$"` replaces the input with the result, `"$.field"` sets one field of the
/// input, `null` discards the result and passes the input on.
fn apply_result_path(input: Value, result: Value, path: &Option<String>) -> Value {
    match path.as_deref() {
        None => input,
        Some("$") => result,
        Some(p) => {
            let field = p.trim_start_matches("$.");
            let mut obj = match input {
                Value::Object(m) => m,
                _ => serde_json::Map::new(),
            };
            obj.insert(field.to_owned(), result);
            Value::Object(obj)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const DEF: &str = r#"{
      "StartAt": "A",
      "States": {
        "A": {"Type": "Task", "Resource": "${A}", "Next": "B", "ResultPath": null,
              "Retry": [{"ErrorEquals": ["Transient"], "IntervalSeconds": 2, "MaxAttempts": 2, "BackoffRate": 3}],
              "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "AFailed", "ResultPath": "$.error"}]},
        "AFailed": {"Type": "Pass", "Result": "a", "ResultPath": "$.failed_step", "Next": "Mark"},
        "Mark": {"Type": "Task", "Resource": "${Mark}", "End": true},
        "B": {"Type": "Succeed"}
      }
    }"#;

    #[test]
    fn success_passes_input_on_when_result_path_is_null() {
        let sm = StateMachine::parse(DEF).unwrap();
        let t = sm.after_task(
            "A",
            json!({"m": 1}),
            &[],
            TaskOutcome::Succeeded(json!("ignored")),
        );
        assert_eq!(
            t,
            Transition::Goto {
                state: "B".into(),
                input: json!({"m": 1})
            }
        );
    }

    #[test]
    fn transient_errors_retry_with_backoff_then_are_caught() {
        let sm = StateMachine::parse(DEF).unwrap();
        let fail = || TaskOutcome::Failed {
            error: "Transient".into(),
            cause: "busy".into(),
        };
        assert_eq!(
            sm.after_task("A", json!({}), &[0], fail()),
            Transition::Retry {
                delay: Duration::from_secs(2),
                retrier: 0
            }
        );
        assert_eq!(
            sm.after_task("A", json!({}), &[1], fail()),
            Transition::Retry {
                delay: Duration::from_secs(6),
                retrier: 0
            }
        );
        let caught = sm.after_task("A", json!({"m": 1}), &[2], fail());
        assert_eq!(
            caught,
            Transition::Goto {
                state: "AFailed".into(),
                input: json!({"m": 1, "error": {"Error": "Transient", "Cause": "busy"}})
            }
        );
    }

    #[test]
    fn permanent_errors_are_caught_without_retry() {
        let sm = StateMachine::parse(DEF).unwrap();
        let t = sm.after_task(
            "A",
            json!({}),
            &[],
            TaskOutcome::Failed {
                error: "Permanent".into(),
                cause: "bad".into(),
            },
        );
        assert!(matches!(t, Transition::Goto { ref state, .. } if state == "AFailed"));
    }

    #[test]
    fn pass_states_set_their_result_path() {
        let sm = StateMachine::parse(DEF).unwrap();
        let t = sm.enter_non_task("AFailed", json!({"m": 1})).unwrap();
        assert_eq!(
            t,
            Transition::Goto {
                state: "Mark".into(),
                input: json!({"m": 1, "failed_step": "a"})
            }
        );
    }

    #[test]
    fn happy_path_lists_task_states_in_order() {
        let sm = StateMachine::parse(DEF).unwrap();
        let names: Vec<_> = sm.happy_path().into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["A"]);
    }

    #[test]
    fn the_pipeline_definition_parses_and_runs_analyze_tag_index() {
        let sm = StateMachine::pipeline().unwrap();
        let names: Vec<_> = sm.happy_path().into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["Analyze", "Tag", "Index"]);
        for (name, task) in sm.happy_path() {
            assert!(
                task.retry
                    .iter()
                    .any(|r| r.error_equals.iter().any(|e| e == "Transient")),
                "{name} does not retry Transient"
            );
            assert!(
                task.catch
                    .iter()
                    .any(|c| c.error_equals.iter().any(|e| e == ALL_ERRORS)),
                "{name} does not catch"
            );
        }
    }

    #[test]
    fn an_execution_in_a_state_the_definition_lacks_fails_instead_of_panicking() {
        let sm = StateMachine::parse(DEF).unwrap();
        assert!(
            matches!(sm.enter_non_task("Gone", json!({})), Some(Transition::Failed { ref error, .. }) if error == RUNTIME)
        );
        let t = sm.after_task("Gone", json!({}), &[], TaskOutcome::Succeeded(json!(null)));
        assert!(matches!(t, Transition::Failed { ref error, .. } if error == RUNTIME));
    }

    #[test]
    fn broken_definitions_are_refused() {
        assert!(matches!(
            StateMachine::parse(r#"{"StartAt": "X", "States": {"A": {"Type": "Succeed"}}}"#),
            Err(DefinitionError::UnknownState { .. })
        ));
        assert!(matches!(
            StateMachine::parse(r#"{"StartAt": "A", "States": {"A": {"Type": "Map"}}}"#),
            Err(DefinitionError::Parse(_))
        ));
        assert!(matches!(
            StateMachine::parse(
                r#"{"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": "r"}}}"#
            ),
            Err(DefinitionError::Dangling(_))
        ));
    }
}
