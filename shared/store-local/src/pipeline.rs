//! The in-process stand-in for Step Functions: it runs the same ASL definition
//! (`infra/pipeline.asl.json`), with the same retry and catch rules, and keeps every
//! execution's progress in SQLite so that a crash (even `kill -9`) loses nothing: a state whose
//! task was running when the process died is run again after restart (tasks are idempotent,
//! exactly as Step Functions + Lambda require).
//!
//! Executions are rows; workers claim a runnable row with a lease, run its current state, and
//! write the next state in one statement that only succeeds while they still hold the lease.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use futures_util::FutureExt;
use mvidarr_core::asl::{RUNTIME, StateMachine, TIMEOUT, TaskOutcome, Transition};
use mvidarr_core::ports::{ExecutionName, Pipeline, PipelineError, PipelineInput, StartOutcome};
use rusqlite::{OptionalExtension, params};
use serde_json::Value;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, info, info_span, warn};

use crate::db::{Database, DbError};

/// A task's implementation: takes the state input, returns its outcome.
pub type TaskFn =
    Arc<dyn Fn(Value) -> Pin<Box<dyn Future<Output = TaskOutcome> + Send>> + Send + Sync>;

/// Task handlers by resource name: `"${AnalyzeFunctionArn}"` in the definition is looked up
/// as `AnalyzeFunctionArn`, the same placeholder SAM substitutes with the Lambda's ARN.
#[derive(Clone, Default)]
pub struct TaskRegistry {
    tasks: HashMap<String, TaskFn>,
}

impl TaskRegistry {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn register<F, Fut>(mut self, resource: &str, f: F) -> Self
    where
        F: Fn(Value) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = TaskOutcome> + Send + 'static,
    {
        self.tasks
            .insert(resource.to_owned(), Arc::new(move |v| Box::pin(f(v))));
        self
    }

    fn get(&self, resource: &str) -> Option<&TaskFn> {
        let name = resource
            .strip_prefix("${")
            .and_then(|r| r.strip_suffix('}'))
            .unwrap_or(resource);
        self.tasks.get(name)
    }

    /// Resources the definition names that have no handler here.
    pub fn missing(&self, sm: &StateMachine) -> Vec<String> {
        sm.states
            .values()
            .filter_map(|s| match s {
                mvidarr_core::asl::State::Task(t) if self.get(&t.resource).is_none() => {
                    Some(t.resource.clone())
                }
                _ => None,
            })
            .collect()
    }
}

/// How an execution ended, or that it is still going.
#[derive(Debug, Clone, PartialEq)]
pub enum ExecutionStatus {
    Running { state: String },
    Succeeded { output: Value },
    Failed { error: String, cause: String },
}

#[derive(Clone)]
pub struct LocalPipeline {
    db: Database,
    machine: Arc<StateMachine>,
    wake: Arc<Notify>,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS executions (
    name          TEXT PRIMARY KEY,
    input         TEXT NOT NULL,
    state         TEXT NOT NULL,
    state_input   TEXT NOT NULL,
    retries       TEXT NOT NULL DEFAULT '[]',
    status        TEXT NOT NULL DEFAULT 'running',
    output        TEXT,
    error         TEXT,
    cause         TEXT,
    run_at_ms     INTEGER NOT NULL,
    lease_until_ms INTEGER NOT NULL DEFAULT 0,
    lease_token   INTEGER NOT NULL DEFAULT 0,
    transitions   INTEGER NOT NULL DEFAULT 0,
    started_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS executions_runnable ON executions(status, run_at_ms);
";

fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

fn backend(e: DbError) -> PipelineError {
    if e.is_busy() {
        PipelineError::Transient(e.to_string())
    } else {
        PipelineError::Backend(e.to_string())
    }
}

/// One claimed unit of work.
struct Claim {
    name: String,
    state: String,
    state_input: Value,
    retries: Vec<u32>,
    token: i64,
}

impl LocalPipeline {
    pub fn open(db: Database, machine: StateMachine) -> Result<Self, PipelineError> {
        db.call_blocking(|c| c.execute_batch(SCHEMA))
            .map_err(backend)?;
        Ok(Self {
            db,
            machine: Arc::new(machine),
            wake: Arc::new(Notify::new()),
        })
    }

    pub fn machine(&self) -> &StateMachine {
        &self.machine
    }

    /// Make every running execution claimable now. Called at startup by the one process that
    /// owns the data directory: leases still held belong to a process that died.
    pub async fn release_all_leases(&self) -> Result<usize, PipelineError> {
        self.db
            .call(|c| c.execute("UPDATE executions SET lease_until_ms = 0 WHERE status = 'running' AND lease_until_ms > 0", []))
            .await
            .map_err(backend)
    }

    pub async fn status(&self, name: &str) -> Result<Option<ExecutionStatus>, PipelineError> {
        let name = name.to_owned();
        self.db
            .call(move |c| {
                c.query_row(
                    "SELECT status, state, output, error, cause FROM executions WHERE name = ?1",
                    [name],
                    |r| {
                        let status: String = r.get(0)?;
                        Ok(match status.as_str() {
                            "succeeded" => ExecutionStatus::Succeeded {
                                output: serde_json::from_str(
                                    &r.get::<_, Option<String>>(2)?.unwrap_or_default(),
                                )
                                .unwrap_or(Value::Null),
                            },
                            "failed" => ExecutionStatus::Failed {
                                error: r.get::<_, Option<String>>(3)?.unwrap_or_default(),
                                cause: r.get::<_, Option<String>>(4)?.unwrap_or_default(),
                            },
                            _ => ExecutionStatus::Running { state: r.get(1)? },
                        })
                    },
                )
                .optional()
            })
            .await
            .map_err(backend)
    }

    /// Executions not yet finished.
    pub async fn running_count(&self) -> Result<u64, PipelineError> {
        self.db
            .call(|c| {
                c.query_row(
                    "SELECT COUNT(*) FROM executions WHERE status = 'running'",
                    [],
                    |r| r.get(0),
                )
            })
            .await
            .map_err(backend)
    }

    async fn claim(&self, lease: Duration) -> Result<Option<Claim>, PipelineError> {
        let lease_ms = lease.as_millis() as i64;
        self.db
            .call(move |c| {
                let now = now_ms();
                let token: i64 = rand::random::<i64>() & i64::MAX;
                c.query_row(
                    "UPDATE executions SET lease_until_ms = ?1 + ?2, lease_token = ?3
                     WHERE name = (SELECT name FROM executions
                                   WHERE status = 'running' AND run_at_ms <= ?1 AND lease_until_ms <= ?1
                                   ORDER BY run_at_ms LIMIT 1)
                     RETURNING name, state, state_input, retries",
                    params![now, lease_ms, token],
                    |r| {
                        Ok(Claim {
                            name: r.get(0)?,
                            state: r.get(1)?,
                            state_input: serde_json::from_str(&r.get::<_, String>(2)?).unwrap_or(Value::Null),
                            retries: serde_json::from_str(&r.get::<_, String>(3)?).unwrap_or_default(),
                            token,
                        })
                    },
                )
                .optional()
            })
            .await
            .map_err(backend)
    }

    /// Record a transition, if this worker still holds the lease. Returns false if it lost it.
    async fn advance(&self, claim: &Claim, transition: Transition) -> Result<bool, PipelineError> {
        let name = claim.name.clone();
        let token = claim.token;
        let mut retries = claim.retries.clone();
        self.db
            .call(move |c| {
                let now = now_ms();
                let updated = Utc::now().to_rfc3339();
                let n = match transition {
                    Transition::Goto { state, input } => c.execute(
                        "UPDATE executions SET state = ?1, state_input = ?2, retries = '[]', run_at_ms = ?3,
                           lease_until_ms = 0, transitions = transitions + 1, updated_at = ?4
                         WHERE name = ?5 AND lease_token = ?6 AND status = 'running'",
                        params![state, input.to_string(), now, updated, name, token],
                    )?,
                    Transition::Retry { delay, retrier } => {
                        if retries.len() <= retrier {
                            retries.resize(retrier + 1, 0);
                        }
                        retries[retrier] += 1;
                        c.execute(
                            "UPDATE executions SET retries = ?1, run_at_ms = ?2, lease_until_ms = 0, updated_at = ?3
                             WHERE name = ?4 AND lease_token = ?5 AND status = 'running'",
                            params![serde_json::to_string(&retries).unwrap_or_default(), now + delay.as_millis() as i64, updated, name, token],
                        )?
                    }
                    Transition::Succeeded(output) => c.execute(
                        "UPDATE executions SET status = 'succeeded', output = ?1, lease_until_ms = 0, updated_at = ?2
                         WHERE name = ?3 AND lease_token = ?4 AND status = 'running'",
                        params![output.to_string(), updated, name, token],
                    )?,
                    Transition::Failed { error, cause } => c.execute(
                        "UPDATE executions SET status = 'failed', error = ?1, cause = ?2, lease_until_ms = 0, updated_at = ?3
                         WHERE name = ?4 AND lease_token = ?5 AND status = 'running'",
                        params![error, cause, updated, name, token],
                    )?,
                };
                Ok(n == 1)
            })
            .await
            .map_err(backend)
    }

    /// Give a claimed state back unrun (on shutdown), so it is picked up at once next time.
    async fn release(&self, claim: &Claim) -> Result<(), PipelineError> {
        let (name, token) = (claim.name.clone(), claim.token);
        self.db
            .call(move |c| {
                c.execute(
                    "UPDATE executions SET lease_until_ms = 0 WHERE name = ?1 AND lease_token = ?2",
                    params![name, token],
                )
            })
            .await
            .map_err(backend)
            .map(|_| ())
    }

    /// Run one claimed state to its transition.
    async fn step(&self, claim: &Claim, tasks: &TaskRegistry) -> Transition {
        if let Some(t) = self
            .machine
            .enter_non_task(&claim.state, claim.state_input.clone())
        {
            return t;
        }
        let Some(mvidarr_core::asl::State::Task(task)) = self.machine.states.get(&claim.state)
        else {
            return mvidarr_core::asl::unknown_state(&claim.state);
        };
        let outcome = match tasks.get(&task.resource) {
            None => TaskOutcome::Failed {
                error: RUNTIME.into(),
                cause: format!("no handler for resource {}", task.resource),
            },
            Some(f) => {
                // A panicking task fails its state (as a crashed Lambda would), not the worker.
                let fut = std::panic::AssertUnwindSafe(f(claim.state_input.clone()))
                    .catch_unwind()
                    .map(|r| {
                        r.unwrap_or_else(|_| TaskOutcome::Failed {
                            error: RUNTIME.into(),
                            cause: "the task panicked".into(),
                        })
                    });
                match task.timeout_seconds {
                    Some(secs) => tokio::time::timeout(Duration::from_secs(secs), fut)
                        .await
                        .unwrap_or_else(|_| TaskOutcome::Failed {
                            error: TIMEOUT.into(),
                            cause: format!("task ran longer than {secs} s"),
                        }),
                    None => fut.await,
                }
            }
        };
        if let TaskOutcome::Failed { error, cause } = &outcome {
            warn!(execution = %claim.name, state = %claim.state, %error, %cause, "task failed");
        }
        self.machine.after_task(
            &claim.state,
            claim.state_input.clone(),
            &claim.retries,
            outcome,
        )
    }

    /// Run workers until `shutdown` resolves. A state interrupted by shutdown is released and
    /// runs again from its start next time; tasks are idempotent.
    pub async fn run_workers(
        &self,
        tasks: TaskRegistry,
        workers: usize,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) {
        // A token, not a Notify: once cancelled it stays cancelled, so a worker between two
        // awaits cannot miss the signal and start a long task during shutdown.
        let stop = CancellationToken::new();
        let mut handles = Vec::new();
        for id in 0..workers.max(1) {
            let (this, tasks, stop) = (self.clone(), tasks.clone(), stop.clone());
            handles.push(tokio::spawn(async move {
                this.worker_loop(id, &tasks, &stop).await;
            }));
        }
        shutdown.await;
        stop.cancel();
        for h in handles {
            let _ = h.await;
        }
    }

    async fn worker_loop(&self, id: usize, tasks: &TaskRegistry, stop: &CancellationToken) {
        // Longer than any task timeout, so a live worker never loses its lease mid-task.
        let lease = Duration::from_secs(self.max_task_timeout() + 60);
        while !stop.is_cancelled() {
            let claim = match self.claim(lease).await {
                Ok(Some(c)) => c,
                Ok(None) => {
                    tokio::select! {
                        _ = self.wake.notified() => {}
                        _ = stop.cancelled() => {}
                        _ = tokio::time::sleep(Duration::from_millis(250)) => {}
                    }
                    continue;
                }
                Err(e) => {
                    warn!(worker = id, error = %e, "pipeline claim failed");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    continue;
                }
            };
            let span = info_span!("pipeline_state", execution = %claim.name, state = %claim.state);
            let transition = tokio::select! {
                t = self.step(&claim, tasks).instrument(span.clone()) => t,
                _ = stop.cancelled() => {
                    if let Err(e) = self.release(&claim).await {
                        warn!(error = %e, "could not release a lease on shutdown; it expires by itself");
                    }
                    break;
                }
            };
            let _enter = span.enter();
            match &transition {
                Transition::Succeeded(_) => info!("execution succeeded"),
                Transition::Failed { error, .. } => info!(%error, "execution failed"),
                Transition::Retry { delay, .. } => info!(?delay, "retrying state"),
                Transition::Goto { state, .. } => info!(next = %state, "state done"),
            }
            drop(_enter);
            match self.advance(&claim, transition).await {
                Ok(true) => self.wake.notify_one(),
                Ok(false) => {
                    warn!(execution = %claim.name, "lost the lease; another worker owns this execution")
                }
                Err(e) => {
                    warn!(execution = %claim.name, error = %e, "could not record a transition; the state runs again")
                }
            }
        }
    }

    fn max_task_timeout(&self) -> u64 {
        self.machine
            .states
            .values()
            .filter_map(|s| match s {
                mvidarr_core::asl::State::Task(t) => t.timeout_seconds,
                _ => None,
            })
            .max()
            .unwrap_or(900)
    }
}

impl Pipeline for LocalPipeline {
    async fn start(
        &self,
        name: &ExecutionName,
        input: &PipelineInput,
    ) -> Result<StartOutcome, PipelineError> {
        let name = name.as_str().to_owned();
        let input =
            serde_json::to_string(input).map_err(|e| PipelineError::Backend(e.to_string()))?;
        let start_at = self.machine.start_at.clone();
        let inserted = self
            .db
            .call(move |c| {
                let now = Utc::now().to_rfc3339();
                c.execute(
                    "INSERT INTO executions (name, input, state, state_input, run_at_ms, started_at, updated_at)
                     VALUES (?1, ?2, ?3, ?2, ?4, ?5, ?5) ON CONFLICT(name) DO NOTHING",
                    params![name, input, start_at, now_ms(), now],
                )
            })
            .await
            .map_err(backend)?;
        if inserted == 1 {
            self.wake.notify_one();
            Ok(StartOutcome::Started)
        } else {
            Ok(StartOutcome::AlreadyExists)
        }
    }
}
