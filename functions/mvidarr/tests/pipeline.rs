//! The local Step Functions runner (`LocalPipeline`) executing the real definition,
//! `infra/pipeline.asl.json`: idempotent starts, the happy path with the real step handlers,
//! Catch → MarkFailed, Retry with the definition's backoff, and a state interrupted by
//! shutdown running again after restart.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::Utc;
use mvidarr_core::asl::{State, StateMachine, TaskOutcome};
use mvidarr_core::ids::{MediaId, TenantId};
use mvidarr_core::keys;
use mvidarr_core::media::{Media, MediaStatus, Step};
use mvidarr_core::ports::{
    BlobStore, ExecutionName, Pipeline, PipelineInput, Platform, Queue, StartOutcome,
};
use mvidarr_core::repo::{Created, MediaRepo, TagRepo};
use mvidarr_core::step::{PERMANENT, StepInput, TRANSIENT, task_outcome};
use mvidarr_core::tag::{TagSource, TagStatus};
use mvidarr_media::SynthSpec;
use mvidarr_store_local::LocalPlatform;
use mvidarr_store_local::pipeline::{ExecutionStatus, LocalPipeline, TaskRegistry};
use mvidarr_tests::conformance::blob::body_of;
use mvidarr_tests::fixtures;
use mvidarr_tests::tenants::open_platform;
use mvidarr_upload_trigger::{RecordOutcome, TriggerConfig, UploadTrigger};
use serde_json::Value;
use tempfile::TempDir;
use tokio::sync::{Notify, oneshot};
use tokio::task::JoinHandle;

/// Pipeline conformance: a name starts one execution, however often it is started.
async fn start_is_idempotent_by_execution_name<P: Pipeline>(pipeline: &P) {
    let input = PipelineInput {
        tenant: TenantId::generate(),
        media_id: MediaId::generate(),
    };
    let name = ExecutionName::for_media(input.media_id, "0cc175b9c0f1b6a831c399e269772661");
    let other = ExecutionName::for_media(input.media_id, "92eb5ffee6ae2fec3ad71c777531578f");

    let first = pipeline.start(&name, &input).await.unwrap();
    let repeated = pipeline.start(&name, &input).await.unwrap();
    let different = pipeline.start(&other, &input).await.unwrap();

    assert_eq!(first, StartOutcome::Started);
    assert_eq!(repeated, StartOutcome::AlreadyExists);
    assert_eq!(different, StartOutcome::Started);
}

struct Env {
    _tmp: TempDir,
    platform: LocalPlatform,
}

impl Env {
    fn new() -> Self {
        let tmp = tempfile::tempdir().expect("temp dir");
        let platform = open_platform(&tmp.path().join("data"));
        Self {
            _tmp: tmp,
            platform,
        }
    }

    fn pipeline(&self) -> &LocalPipeline {
        self.platform.local_pipeline()
    }

    /// A media record already validated (status Analyzing) and its execution started, as the
    /// trigger leaves them; for tests whose tasks do not read the object.
    async fn started_media(&self) -> (PipelineInput, ExecutionName) {
        let (tenant, id) = (TenantId::generate(), MediaId::generate());
        let now = Utc::now();
        let etag = "9e107d9d372bb6826bd81d3542a419d6";
        let media = Media {
            id,
            tenant,
            filename: "clip.mp4".into(),
            content_type: "video/mp4".into(),
            size: 1,
            blob_key: keys::blob::upload(tenant, id),
            bucket: "mvidarr-local".into(),
            etag: etag.into(),
            status: MediaStatus::Analyzing,
            probe: None,
            metadata: Default::default(),
            external_id: None,
            created_at: now,
            updated_at: now,
            version: 1,
        };
        let created = MediaRepo::new(self.platform.table())
            .create_once(media)
            .await
            .unwrap();
        assert!(matches!(created, Created::New(_)));
        let input = PipelineInput {
            tenant,
            media_id: id,
        };
        let name = ExecutionName::for_media(id, etag);
        assert_eq!(
            self.pipeline().start(&name, &input).await.unwrap(),
            StartOutcome::Started
        );
        (input, name)
    }

    async fn media(&self, input: &PipelineInput) -> Media {
        MediaRepo::new(self.platform.table())
            .get(input.tenant, input.media_id)
            .await
            .unwrap()
            .expect("media record")
    }
}

/// `run_workers` in a spawned task, stopped on demand.
struct Workers {
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl Workers {
    /// Two workers, as `mvidarr serve` runs them on a small machine.
    fn start(pipeline: &LocalPipeline, registry: TaskRegistry) -> Self {
        Self::start_n(pipeline, registry, 2)
    }

    fn start_n(pipeline: &LocalPipeline, registry: TaskRegistry, workers: usize) -> Self {
        let (stop, stopped) = oneshot::channel::<()>();
        let pipeline = pipeline.clone();
        let task = tokio::spawn(async move {
            pipeline
                .run_workers(registry, workers, async move {
                    let _ = stopped.await;
                })
                .await;
        });
        Self { stop, task }
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        self.task.await.expect("workers panicked");
    }
}

/// Poll until the execution is no longer running.
async fn wait_final(
    pipeline: &LocalPipeline,
    name: &ExecutionName,
    within: Duration,
) -> ExecutionStatus {
    let deadline = Instant::now() + within;
    loop {
        let status = pipeline.status(name.as_str()).await.unwrap();
        match status {
            Some(ExecutionStatus::Running { .. }) => {}
            Some(done) => return done,
            None => panic!("no execution named {}", name.as_str()),
        }
        assert!(
            Instant::now() < deadline,
            "execution still {status:?} after {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A registry whose Analyze task is `analyze`, Tag and Index succeed without work, and
/// MarkFailed is the real one.
fn registry_with_analyze<F, Fut>(platform: &LocalPlatform, analyze: F) -> TaskRegistry
where
    F: Fn(Value) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = TaskOutcome> + Send + 'static,
{
    let p = platform.clone();
    TaskRegistry::new()
        .register("AnalyzeFunctionArn", analyze)
        .register("TagFunctionArn", |_| async {
            TaskOutcome::Succeeded(Value::Null)
        })
        .register("IndexFunctionArn", |_| async {
            TaskOutcome::Succeeded(Value::Null)
        })
        .register("MarkFailedFunctionArn", move |input| {
            let p = p.clone();
            async move {
                task_outcome(
                    async { mvidarr_index::mark_failed(&p, StepInput::parse(input)?).await }.await,
                )
            }
        })
}

#[tokio::test]
async fn the_local_pipeline_starts_an_execution_name_once() {
    let env = Env::new();

    start_is_idempotent_by_execution_name(env.pipeline()).await;

    assert_eq!(env.pipeline().running_count().await.unwrap(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_uploaded_video_runs_analyze_tag_index_and_ends_indexed_with_tags() {
    let env = Env::new();
    let tmp = tempfile::tempdir().unwrap();
    let ffmpeg = fixtures::ffmpeg();
    let video = fixtures::make(tmp.path(), "clip.mp4", &SynthSpec::default()).await;
    let (tenant, id) = (TenantId::generate(), MediaId::generate());
    env.platform
        .blobs()
        .put(
            &keys::blob::upload(tenant, id),
            body_of(vec![Bytes::from(std::fs::read(&video).unwrap())]),
            Some("video/mp4"),
        )
        .await
        .unwrap();
    let queue = env.platform.ingest_queue();
    let notification = queue
        .receive(1, Duration::from_secs(60), Duration::ZERO)
        .await
        .unwrap()
        .remove(0);
    let trigger = UploadTrigger::new(
        env.platform.clone(),
        ffmpeg.clone(),
        TriggerConfig::default(),
    );
    let outcomes = trigger.handle_message(&notification.body, 1).await.unwrap();
    assert_eq!(outcomes, [RecordOutcome::Started(id)]);
    let input = PipelineInput {
        tenant,
        media_id: id,
    };
    let name = ExecutionName::for_media(id, &env.media(&input).await.etag);

    let workers = Workers::start(
        env.pipeline(),
        mvidarr::workers::task_registry(&env.platform, &ffmpeg),
    );
    let status = wait_final(env.pipeline(), &name, Duration::from_secs(30)).await;
    workers.stop().await;

    assert!(
        matches!(status, ExecutionStatus::Succeeded { .. }),
        "{status:?}"
    );
    assert_eq!(env.media(&input).await.status, MediaStatus::Indexed);
    let tags = TagRepo::new(env.platform.table())
        .list(tenant, id)
        .await
        .unwrap();
    // Facts the probe establishes are certain: applied under the default thresholds. The
    // other analyzers' tags (their rules are tested on their own) come with confidences.
    for fact in ["orientation/landscape", "resolution/sd"] {
        let tag = tags.iter().find(|t| t.name.as_str() == fact);
        assert_eq!(
            tag.map(|t| t.status),
            Some(TagStatus::Applied),
            "{fact}: {tags:?}"
        );
    }
    assert!(
        tags.iter().all(|t| (0.0..=1.0).contains(&t.confidence)
            && matches!(t.source, TagSource::Analyzer { .. })),
        "{tags:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_permanent_task_failure_is_caught_and_recorded_on_the_media() {
    let env = Env::new();
    let (input, name) = env.started_media().await;
    let calls = Arc::new(AtomicU32::new(0));
    let counted = calls.clone();
    let registry = registry_with_analyze(&env.platform, move |_| {
        counted.fetch_add(1, Ordering::SeqCst);
        async {
            TaskOutcome::Failed {
                error: PERMANENT.into(),
                cause: "the decoder refused frame 0".into(),
            }
        }
    });

    let workers = Workers::start(env.pipeline(), registry);
    let status = wait_final(env.pipeline(), &name, Duration::from_secs(10)).await;
    workers.stop().await;

    match status {
        ExecutionStatus::Failed { error, .. } => assert_eq!(error, "MediaFailed"),
        other => panic!("expected the execution to fail, got {other:?}"),
    }
    assert_eq!(
        env.media(&input).await.status,
        MediaStatus::Failed {
            step: Step::Analyze,
            reason: "the decoder refused frame 0".into()
        }
    );
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "a permanent failure is not retried"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_task_fails_its_media_and_the_workers_keep_running() {
    let env = Env::new();
    let (input, name) = env.started_media().await;
    let registry = registry_with_analyze(&env.platform, |_| async {
        panic!("a bug in an analyzer");
    });

    let workers = Workers::start(env.pipeline(), registry);
    let status = wait_final(env.pipeline(), &name, Duration::from_secs(10)).await;
    // The same workers still run executions after the panic.
    let (second, second_name) = env.started_media().await;
    let second_status = wait_final(env.pipeline(), &second_name, Duration::from_secs(10)).await;
    workers.stop().await;

    assert!(
        matches!(status, ExecutionStatus::Failed { ref error, .. } if error == "MediaFailed"),
        "{status:?}"
    );
    assert_eq!(
        env.media(&input).await.status,
        MediaStatus::Failed {
            step: Step::Analyze,
            reason: "the task panicked".into()
        }
    );
    assert!(
        matches!(second_status, ExecutionStatus::Failed { .. }),
        "{second_status:?}"
    );
    assert!(matches!(
        env.media(&second).await.status,
        MediaStatus::Failed { .. }
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transient_task_failure_is_retried_with_backoff_until_it_succeeds() {
    let env = Env::new();
    let (input, name) = env.started_media().await;
    let calls: Arc<Mutex<Vec<Instant>>> = Arc::default();
    let log = calls.clone();
    let registry = registry_with_analyze(&env.platform, move |_| {
        let attempt = {
            let mut log = log.lock().unwrap();
            log.push(Instant::now());
            log.len()
        };
        async move {
            if attempt <= 2 {
                TaskOutcome::Failed {
                    error: TRANSIENT.into(),
                    cause: "throttled".into(),
                }
            } else {
                TaskOutcome::Succeeded(Value::Null)
            }
        }
    });

    let workers = Workers::start(env.pipeline(), registry);
    let status = wait_final(env.pipeline(), &name, Duration::from_secs(20)).await;
    workers.stop().await;

    assert!(
        matches!(status, ExecutionStatus::Succeeded { .. }),
        "{status:?}"
    );
    let calls = calls.lock().unwrap().clone();
    assert_eq!(calls.len(), 3);
    // The definition's Retry: IntervalSeconds 2, BackoffRate 2.0 (ms-resolution schedule).
    let gaps: Vec<Duration> = calls.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(gaps[0] >= Duration::from_millis(1_990), "{gaps:?}");
    assert!(gaps[1] >= Duration::from_millis(3_990), "{gaps:?}");
    assert_eq!(env.media(&input).await.status, MediaStatus::Analyzing);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_state_interrupted_by_shutdown_runs_again_after_restart() {
    let env = Env::new();
    let (_, name) = env.started_media().await;
    let calls = Arc::new(AtomicU32::new(0));
    let finished = Arc::new(AtomicU32::new(0));
    let running = Arc::new(Notify::new());
    let registry = {
        let (calls, finished, running) = (calls.clone(), finished.clone(), running.clone());
        registry_with_analyze(&env.platform, move |_| {
            let first = calls.fetch_add(1, Ordering::SeqCst) == 0;
            let (finished, running) = (finished.clone(), running.clone());
            async move {
                if first {
                    running.notify_one();
                    tokio::time::sleep(Duration::from_secs(5)).await;
                }
                finished.fetch_add(1, Ordering::SeqCst);
                TaskOutcome::Succeeded(Value::Null)
            }
        })
    };

    // Two workers: the idle one must not claim the state the busy one hands back during
    // shutdown (the stop signal stays set once given).
    let workers = Workers::start_n(env.pipeline(), registry.clone(), 2);
    tokio::time::timeout(Duration::from_secs(5), running.notified())
        .await
        .expect("the slow task never started");
    let stopping = Instant::now();
    workers.stop().await;
    let stop_took = stopping.elapsed();
    let after_stop = env.pipeline().status(name.as_str()).await.unwrap();
    let finished_before_restart = finished.load(Ordering::SeqCst);
    // No `release_all_leases`: a graceful stop must hand the state back by itself.
    let workers = Workers::start_n(env.pipeline(), registry, 1);
    let status = wait_final(env.pipeline(), &name, Duration::from_secs(10)).await;
    workers.stop().await;

    assert!(
        stop_took < Duration::from_secs(2),
        "stopping waited for the task: {stop_took:?}"
    );
    assert_eq!(finished_before_restart, 0);
    assert_eq!(
        after_stop,
        Some(ExecutionStatus::Running {
            state: "Analyze".into()
        })
    );
    assert!(
        matches!(status, ExecutionStatus::Succeeded { .. }),
        "{status:?}"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert_eq!(finished.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn every_task_in_the_definition_has_a_handler_and_the_happy_path_is_analyze_tag_index() {
    let env = Env::new();
    let machine = StateMachine::pipeline().unwrap();
    let registry = mvidarr::workers::task_registry(&env.platform, &fixtures::ffmpeg());
    let without_mark_failed = TaskRegistry::new()
        .register("AnalyzeFunctionArn", |_| async {
            TaskOutcome::Succeeded(Value::Null)
        })
        .register("TagFunctionArn", |_| async {
            TaskOutcome::Succeeded(Value::Null)
        })
        .register("IndexFunctionArn", |_| async {
            TaskOutcome::Succeeded(Value::Null)
        });

    let missing = registry.missing(&machine);
    let missing_without_mark_failed = without_mark_failed.missing(&machine);
    let happy: Vec<(&str, &str)> = machine
        .happy_path()
        .into_iter()
        .map(|(name, task)| (name, task.resource.as_str()))
        .collect();

    assert!(missing.is_empty(), "{missing:?}");
    assert_eq!(missing_without_mark_failed, ["${MarkFailedFunctionArn}"]);
    assert_eq!(
        happy,
        [
            ("Analyze", "${AnalyzeFunctionArn}"),
            ("Tag", "${TagFunctionArn}"),
            ("Index", "${IndexFunctionArn}"),
        ]
    );
    // Each step's Catch names the step on the way to MarkFailed, which ends in the Fail state.
    for (name, task) in machine.happy_path() {
        let catch = task.catch.first().expect("every step catches");
        let Some(State::Pass(pass)) = machine.states.get(&catch.next) else {
            panic!("{name} catches into {}, not a Pass state", catch.next);
        };
        assert_eq!(pass.result, Some(Value::from(name.to_lowercase())));
        assert_eq!(pass.next.as_deref(), Some("MarkFailed"));
    }
    let Some(State::Task(mark_failed)) = machine.states.get("MarkFailed") else {
        panic!("no MarkFailed task");
    };
    let end = mark_failed.next.as_deref().expect("MarkFailed continues");
    assert!(matches!(
        machine.states.get(end),
        Some(State::Fail { error: Some(e), .. }) if e == "MediaFailed"
    ));
}
