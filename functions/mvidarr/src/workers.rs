//! The background halves of `mvidarr serve`: the ingest, events and reports queue consumers
//! (what SQS → Lambda does in AWS), the pipeline runner (what Step Functions does) and the
//! scheduler's tick (what an EventBridge schedule does).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use mvidarr_analytics::query::LocalEngine;
use mvidarr_analyze::Analyze;
use mvidarr_api::EventReporter;
use mvidarr_api::usage::FLUSH_AFTER;
use mvidarr_core::ids::TenantId;
use mvidarr_core::ports::queue::MAX_BATCH;
use mvidarr_core::ports::{Platform, Queue, ReceivedMessage};
use mvidarr_core::step::{StepInput, task_outcome};
use mvidarr_core::upload::UploadLimits;
use mvidarr_events::{EventsError, EventsFunction};
use mvidarr_media::Ffmpeg;
use mvidarr_report_jobs::{ReportError, ReportFunction, TickOutcome};
use mvidarr_store_local::LocalPlatform;
use mvidarr_store_local::pipeline::TaskRegistry;
use mvidarr_store_local::queue::SqliteQueue;
use mvidarr_tag::TagStep;
use mvidarr_upload_trigger::{TriggerConfig, TriggerError, UploadTrigger};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

/// How long a received ingest message stays hidden while it is worked on; validation probes
/// the file, which for a long 4K master can take a while.
const INGEST_VISIBILITY: Duration = Duration::from_secs(300);

pub async fn run_ingest(
    platform: LocalPlatform,
    ffmpeg: Ffmpeg,
    limits: UploadLimits,
    max_receives: u32,
    concurrency: usize,
    stop: CancellationToken,
) {
    let trigger = Arc::new(UploadTrigger::new(
        platform.clone(),
        ffmpeg,
        TriggerConfig {
            limits,
            max_receives,
            ..TriggerConfig::default()
        },
    ));
    let queue = platform.ingest_queue().clone();
    consume(
        "ingest",
        queue,
        INGEST_VISIBILITY,
        concurrency,
        stop,
        move |message| {
            let trigger = trigger.clone();
            async move {
                match trigger
                    .handle_message(&message.body, message.receive_count)
                    .await
                {
                    Ok(outcomes) => {
                        for o in &outcomes {
                            info!(outcome = ?o, "ingest record done");
                        }
                        Ok(())
                    }
                    Err(e) => Err(Failed {
                        malformed: matches!(e, TriggerError::Malformed(_)),
                        error: e.to_string(),
                    }),
                }
            }
        },
    )
    .await;
}

/// How long a received events message stays hidden: a batch is a few files and transactions.
const EVENTS_VISIBILITY: Duration = Duration::from_secs(60);

/// How often the events worker folds what it wrote into the rollups while it is busy: the
/// dashboards lag the events by about this much, and each fold counts a second's batches at
/// once.
pub const FOLD_INTERVAL: Duration = Duration::from_secs(1);

/// The events worker: what the events Lambda does on the events queue. Batches are written
/// as they arrive; a companion loop folds the tenants written to every [`FOLD_INTERVAL`]
/// (and once more on the way out), as the Lambda does at the end of an invocation.
pub async fn run_events(platform: LocalPlatform, concurrency: usize, stop: CancellationToken) {
    let function = Arc::new(EventsFunction::new(platform.clone()));
    let written: Arc<std::sync::Mutex<BTreeSet<TenantId>>> = Arc::default();
    let folds = tokio::spawn(fold_written(
        function.clone(),
        written.clone(),
        stop.clone(),
    ));
    let queue = platform.events_queue().clone();
    consume(
        "events",
        queue,
        EVENTS_VISIBILITY,
        concurrency,
        stop,
        move |message| {
            let function = function.clone();
            let written = written.clone();
            async move {
                let (tenant, _) =
                    function
                        .ingest_message(&message.body)
                        .await
                        .map_err(|e| Failed {
                            malformed: matches!(e, EventsError::Malformed(_)),
                            error: e.to_string(),
                        })?;
                lock(&written).insert(tenant);
                Ok(())
            }
        },
    )
    .await;
    if folds.await.is_err() {
        error!("the events fold loop panicked");
    }
}

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Fold the tenants in `written` every [`FOLD_INTERVAL`] until `stop`, then once more. A
/// failed fold keeps its tenant for the next round (the scheduler's tick also folds every
/// tenant's pending days).
async fn fold_written(
    function: Arc<EventsFunction<LocalPlatform>>,
    written: Arc<std::sync::Mutex<BTreeSet<TenantId>>>,
    stop: CancellationToken,
) {
    loop {
        let stopping = tokio::select! {
            _ = tokio::time::sleep(FOLD_INTERVAL) => false,
            _ = stop.cancelled() => true,
        };
        let tenants = std::mem::take(&mut *lock(&written));
        for tenant in tenants {
            if let Err(e) = function.fold(tenant).await {
                warn!(%tenant, error = %e, "events not folded; the next round retries");
                lock(&written).insert(tenant);
            }
        }
        if stopping {
            break;
        }
    }
}

/// How long a received report message stays hidden: a year of events is a few seconds of
/// queries, a PDF a few more.
const REPORTS_VISIBILITY: Duration = Duration::from_secs(300);

/// The report worker: what the report Lambda does on the reports queue, with DataFusion over
/// the embedded blob store's Parquet files. One report at a time: its queries use the cores.
pub async fn run_reports(
    function: Arc<ReportFunction<LocalPlatform, LocalEngine>>,
    stop: CancellationToken,
) {
    let queue = function.platform().reports_queue().clone();
    consume(
        "reports",
        queue,
        REPORTS_VISIBILITY,
        1,
        stop,
        move |message| {
            let function = function.clone();
            async move {
                function
                    .handle_message(&message.body)
                    .await
                    .map(|outcome| info!(?outcome, "report job handled"))
                    .map_err(|e| Failed {
                        malformed: matches!(e, ReportError::Malformed(_)),
                        error: e.to_string(),
                    })
            }
        },
    )
    .await;
}

/// The scheduler: what the EventBridge schedule does in AWS, every `every` (and once at start,
/// so runs due while the server was stopped are made at once).
pub async fn tick_reports(
    function: Arc<ReportFunction<LocalPlatform, LocalEngine>>,
    every: Duration,
    stop: CancellationToken,
) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while tokio::select! {
        _ = ticks.tick() => true,
        _ = stop.cancelled() => false,
    } {
        match function.tick(chrono::Utc::now()).await {
            Ok(outcome) if outcome != TickOutcome::default() => {
                info!(?outcome, "scheduler tick");
            }
            Ok(_) => {}
            Err(e) => warn!(error = %e, "scheduler tick failed; the next one retries"),
        }
    }
}

/// Send the API's waiting analytics events every [`FLUSH_AFTER`], and the last ones on `stop`.
pub async fn flush_api_events(events: Arc<EventReporter<LocalPlatform>>, stop: CancellationToken) {
    let mut every = tokio::time::interval(FLUSH_AFTER);
    while tokio::select! {
        _ = every.tick() => true,
        _ = stop.cancelled() => false,
    } {
        events.flush().await;
    }
    events.flush().await;
}

/// Why a message was not handled.
struct Failed {
    /// Never handled however often it comes (it goes to the dead-letter queue in the end).
    malformed: bool,
    error: String,
}

/// Consume `queue` as an SQS-triggered Lambda would: each message on its own, acknowledged
/// when `handle` succeeds, otherwise left to come back after an exponential backoff until the
/// queue moves it to its dead-letter queue. Nothing is dropped.
async fn consume<F, Fut>(
    name: &'static str,
    queue: SqliteQueue,
    visibility: Duration,
    concurrency: usize,
    stop: CancellationToken,
    handle: F,
) where
    F: Fn(ReceivedMessage) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Result<(), Failed>> + Send,
{
    // Receive only as many messages as there are free workers, and start each as soon as
    // it arrives: a slow message holds one worker, never the whole consumer.
    let concurrency = concurrency.max(1);
    let workers = Arc::new(Semaphore::new(concurrency));
    while !stop.is_cancelled() {
        let first = tokio::select! {
            p = workers.clone().acquire_owned() => p,
            _ = stop.cancelled() => break,
        };
        let Ok(first) = first else { break };
        let free = 1 + workers.available_permits().min(MAX_BATCH - 1);
        let batch = tokio::select! {
            b = queue.receive(free, visibility, Duration::from_secs(1)) => b,
            _ = stop.cancelled() => break,
        };
        let messages = match batch {
            Ok(m) => m,
            Err(e) => {
                warn!(queue = name, error = %e, "receive failed");
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
        };
        let mut first = Some(first);
        for message in messages {
            let permit = match first.take() {
                Some(p) => p,
                None => match workers.clone().acquire_owned().await {
                    Ok(p) => p,
                    Err(_) => break,
                },
            };
            let (queue, stop, handle) = (queue.clone(), stop.clone(), handle.clone());
            // Each message is acknowledged on its own, so one bad message never redelivers
            // the good ones (what SQS partial batch responses do). A panic (a bug) in the task
            // leaves its message in the queue, to be retried and in the end dead-lettered.
            tokio::spawn(async move {
                handle_one(name, &queue, message, &stop, handle).await;
                drop(permit);
            });
        }
    }
    // Wait for in-flight messages: they finish, or hand themselves back on `stop`.
    let _ = workers.acquire_many(concurrency as u32).await;
    info!(queue = name, "workers stopped");
}

async fn handle_one<F, Fut>(
    name: &'static str,
    queue: &SqliteQueue,
    message: ReceivedMessage,
    stop: &CancellationToken,
    handle: F,
) where
    F: Fn(ReceivedMessage) -> Fut,
    Fut: Future<Output = Result<(), Failed>>,
{
    let (receipt, message_id, receive_count) = (
        message.receipt_handle.clone(),
        message.message_id.clone(),
        message.receive_count,
    );
    let result = tokio::select! {
        r = handle(message) => r,
        _ = stop.cancelled() => {
            // Hand it back now rather than after its visibility timeout.
            let _ = queue.change_visibility(&receipt, Duration::ZERO).await;
            return;
        }
    };
    match result {
        Ok(()) => {
            if let Err(e) = queue.delete(&receipt).await {
                warn!(queue = name, error = %e, "could not acknowledge a message; it will be redelivered (handled idempotently)");
            }
        }
        Err(failed) => {
            let backoff = Duration::from_secs(1u64 << receive_count.min(6));
            if failed.malformed {
                error!(queue = name, error = %failed.error, %message_id, "malformed message");
            } else {
                warn!(queue = name, error = %failed.error, receive_count, ?backoff, "message failed; will retry");
            }
            let _ = queue.change_visibility(&receipt, backoff).await;
        }
    }
}

/// The task handlers the pipeline definition names, wired to the same step functions the
/// Lambdas run.
pub fn task_registry(platform: &LocalPlatform, ffmpeg: &Ffmpeg) -> TaskRegistry {
    let analyze = Arc::new(Analyze::new(platform.clone(), ffmpeg.clone()));
    let tag = Arc::new(TagStep::new(platform.clone()));
    let (p1, p2) = (platform.clone(), platform.clone());
    TaskRegistry::new()
        .register("AnalyzeFunctionArn", move |input| {
            let analyze = analyze.clone();
            async move { task_outcome(async { analyze.handle(StepInput::parse(input)?).await }.await) }
        })
        .register("TagFunctionArn", move |input| {
            let tag = tag.clone();
            async move { task_outcome(async { tag.handle(StepInput::parse(input)?).await }.await) }
        })
        .register("IndexFunctionArn", move |input| {
            let p = p1.clone();
            async move {
                task_outcome(async { mvidarr_index::index(&p, StepInput::parse(input)?).await }.await)
            }
        })
        .register("MarkFailedFunctionArn", move |input| {
            let p = p2.clone();
            async move {
                task_outcome(
                    async { mvidarr_index::mark_failed(&p, StepInput::parse(input)?).await }.await,
                )
            }
        })
}

pub async fn run_pipeline(
    platform: LocalPlatform,
    ffmpeg: Ffmpeg,
    workers: usize,
    stop: CancellationToken,
) {
    let registry = task_registry(&platform, &ffmpeg);
    let missing = registry.missing(platform.local_pipeline().machine());
    assert!(
        missing.is_empty(),
        "pipeline definition names tasks with no handler: {missing:?}"
    );
    platform
        .local_pipeline()
        .run_workers(registry, workers, async move { stop.cancelled().await })
        .await;
    info!("pipeline workers stopped");
}
