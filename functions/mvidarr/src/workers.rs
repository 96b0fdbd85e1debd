//! The background halves of `mvidarr serve`: the ingest-queue consumer (what SQS → Lambda
//! does in AWS) and the pipeline runner (what Step Functions does).

use std::sync::Arc;
use std::time::Duration;

use mvidarr_analyze::Analyze;
use mvidarr_core::ports::queue::MAX_BATCH;
use mvidarr_core::ports::{Platform, Queue, ReceivedMessage};
use mvidarr_core::step::{StepInput, task_outcome};
use mvidarr_core::upload::UploadLimits;
use mvidarr_media::Ffmpeg;
use mvidarr_store_local::LocalPlatform;
use mvidarr_store_local::pipeline::TaskRegistry;
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
    // Receive only as many messages as there are free workers, and start each as soon as
    // it arrives: a slow probe holds one worker, never the whole consumer.
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
            b = platform.ingest_queue().receive(free, INGEST_VISIBILITY, Duration::from_secs(1)) => b,
            _ = stop.cancelled() => break,
        };
        let messages = match batch {
            Ok(m) => m,
            Err(e) => {
                warn!(error = %e, "ingest receive failed");
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
            let (platform, trigger, stop) = (platform.clone(), trigger.clone(), stop.clone());
            // Each message is acknowledged on its own, so one bad record never redelivers the
            // good ones (what SQS partial batch responses do). A panic (a bug) in the task
            // leaves its message in the queue, to be retried and in the end dead-lettered.
            tokio::spawn(async move {
                handle_ingest(&trigger, platform.ingest_queue(), message, &stop).await;
                drop(permit);
            });
        }
    }
    // Wait for in-flight messages: they finish, or hand themselves back on `stop`.
    let _ = workers.acquire_many(concurrency as u32).await;
    info!("ingest workers stopped");
}

async fn handle_ingest(
    trigger: &UploadTrigger<LocalPlatform>,
    queue: &impl Queue,
    message: ReceivedMessage,
    stop: &CancellationToken,
) {
    let result = tokio::select! {
        r = trigger.handle_message(&message.body, message.receive_count) => r,
        _ = stop.cancelled() => {
            // Hand it back now rather than after its visibility timeout.
            let _ = queue.change_visibility(&message.receipt_handle, Duration::ZERO).await;
            return;
        }
    };
    match result {
        Ok(outcomes) => {
            for o in &outcomes {
                info!(outcome = ?o, "ingest record done");
            }
            if let Err(e) = queue.delete(&message.receipt_handle).await {
                warn!(error = %e, "could not acknowledge an ingest message; it will be redelivered (handled idempotently)");
            }
        }
        Err(e) => {
            // Leave it in the queue: back off exponentially, and after `max_receives` the
            // queue moves it to the dead-letter queue. Nothing is dropped.
            let backoff = Duration::from_secs(1u64 << message.receive_count.min(6));
            match &e {
                TriggerError::Malformed(_) => {
                    error!(error = %e, message_id = %message.message_id, "malformed ingest message")
                }
                _ => {
                    warn!(error = %e, receive_count = message.receive_count, ?backoff, "ingest failed; will retry")
                }
            }
            let _ = queue
                .change_visibility(&message.receipt_handle, backoff)
                .await;
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
