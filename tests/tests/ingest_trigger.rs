//! `upload-trigger` against the real embedded adapters: objects are written to the local blob
//! store, which emits the S3 `ObjectCreated` notification into the ingest queue exactly as S3
//! does, and that notification is what the trigger is fed. Duplicates, reordering, stale
//! events, quarantine, poison messages and the Lambda's SQS batch entry point.

use std::path::Path;
use std::time::Duration;

use aws_lambda_events::event::sqs::SqsEvent;
use bytes::Bytes;
use chrono::Utc;
use mvidarr_core::ids::{MediaId, TenantId};
use mvidarr_core::keys;
use mvidarr_core::media::{Media, MediaEvent, MediaStatus, Step};
use mvidarr_core::ports::{
    BlobError, BlobStore, ExecutionName, ObjectInfo, OutgoingMessage, Pipeline, PipelineInput,
    Platform, Queue, StartOutcome,
};
use mvidarr_core::repo::MediaRepo;
use mvidarr_core::upload::UploadLimits;
use mvidarr_media::{AudioSpec, Container, Ffmpeg, SynthSpec, synthesize_audio_only};
use mvidarr_store_local::pipeline::ExecutionStatus;
use mvidarr_store_local::{LocalConfig, LocalPlatform};
use mvidarr_tests::conformance::blob::{body_of, collect};
use mvidarr_tests::fixtures::{self, fake_ffmpeg, random_bytes};
use mvidarr_tests::tenants::open_platform;
use mvidarr_upload_trigger::{RecordOutcome, TriggerConfig, TriggerError, UploadTrigger};
use tempfile::TempDir;

/// The ingest queue's `maxReceiveCount` in the poison-message tests.
const MAX_RECEIVES: u32 = 3;

/// A fresh data directory with its platform, and one tenant to upload as.
struct Ingest {
    tmp: TempDir,
    platform: LocalPlatform,
    tenant: TenantId,
}

impl Ingest {
    /// The platform every test in `tests/` opens (ingest `max_receives` = 5, the trigger's default).
    fn new() -> Self {
        let tmp = tempfile::tempdir().expect("temp dir");
        let platform = open_platform(&tmp.path().join("data"));
        Self {
            tmp,
            platform,
            tenant: TenantId::generate(),
        }
    }

    fn with_max_receives(max_receives: u32) -> Self {
        let tmp = tempfile::tempdir().expect("temp dir");
        let platform = LocalPlatform::open(
            &LocalConfig {
                data_dir: tmp.path().join("data"),
                public_base_url: "http://127.0.0.1:9".into(),
                ingest_max_receives: max_receives,
            },
            mvidarr_core::asl::StateMachine::pipeline().unwrap(),
        )
        .unwrap();
        Self {
            tmp,
            platform,
            tenant: TenantId::generate(),
        }
    }

    fn dir(&self) -> &Path {
        self.tmp.path()
    }

    fn trigger(&self) -> UploadTrigger<LocalPlatform> {
        self.trigger_with(fixtures::ffmpeg(), TriggerConfig::default())
    }

    fn trigger_with(&self, ffmpeg: Ffmpeg, config: TriggerConfig) -> UploadTrigger<LocalPlatform> {
        UploadTrigger::new(self.platform.clone(), ffmpeg, config)
    }

    fn upload_key(&self, media: MediaId) -> String {
        keys::blob::upload(self.tenant, media)
    }

    /// Write an upload the way a presigned PUT does; the store sends the notification.
    async fn put(&self, media: MediaId, bytes: &[u8]) -> ObjectInfo {
        self.platform
            .blobs()
            .put(
                &self.upload_key(media),
                body_of(vec![Bytes::copy_from_slice(bytes)]),
                Some("video/mp4"),
            )
            .await
            .expect("put upload")
    }

    /// The one notification waiting in the ingest queue (taken out, so tests can deliver it
    /// when and as often as they like).
    async fn take_notification(&self) -> String {
        let queue = self.platform.ingest_queue();
        let got = queue
            .receive(10, Duration::from_secs(60), Duration::ZERO)
            .await
            .unwrap();
        assert_eq!(
            got.len(),
            1,
            "expected exactly one notification, got {got:?}"
        );
        queue.delete(&got[0].receipt_handle).await.unwrap();
        got[0].body.clone()
    }

    async fn media(&self, id: MediaId) -> Media {
        MediaRepo::new(self.platform.table())
            .get(self.tenant, id)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("no media record for {id}"))
    }

    async fn media_count(&self) -> usize {
        MediaRepo::new(self.platform.table())
            .list(self.tenant, None, 100, None)
            .await
            .unwrap()
            .items
            .len()
    }

    async fn advance(&self, id: MediaId, event: MediaEvent) {
        MediaRepo::new(self.platform.table())
            .advance(self.tenant, id, event, Utc::now())
            .await
            .unwrap();
    }

    async fn running_executions(&self) -> u64 {
        self.platform
            .local_pipeline()
            .running_count()
            .await
            .unwrap()
    }
}

/// A real video made by ffmpeg (2 s, 320x240, H.264 + AAC in MP4 unless `spec` says otherwise).
async fn video(dir: &Path, name: &str, spec: &SynthSpec) -> Vec<u8> {
    std::fs::read(fixtures::make(dir, name, spec).await).unwrap()
}

async fn default_video(dir: &Path) -> Vec<u8> {
    video(dir, "clip.mp4", &SynthSpec::default()).await
}

fn rank(status: &MediaStatus) -> u8 {
    match status {
        MediaStatus::Uploaded => 0,
        MediaStatus::Validating => 1,
        MediaStatus::Analyzing => 2,
        MediaStatus::Tagging => 3,
        MediaStatus::Indexed => 4,
        MediaStatus::Failed { .. } | MediaStatus::Quarantined { .. } => 5,
    }
}

/// One delivery of one message, handled as `mvidarr serve`'s ingest worker does.
struct Delivery {
    message_id: String,
    body: String,
    receive_count: u32,
    result: Result<Vec<RecordOutcome>, TriggerError>,
}

/// One receive from the ingest queue, each message handled like the worker: acknowledged on
/// success, made visible again at once on failure (the worker backs off; tests need not).
async fn deliver_once(
    platform: &LocalPlatform,
    trigger: &UploadTrigger<LocalPlatform>,
) -> Vec<Delivery> {
    let queue = platform.ingest_queue();
    let messages = queue
        .receive(10, Duration::from_secs(30), Duration::ZERO)
        .await
        .unwrap();
    let mut out = Vec::new();
    for m in messages {
        let result = trigger.handle_message(&m.body, m.receive_count).await;
        match &result {
            Ok(_) => queue.delete(&m.receipt_handle).await.unwrap(),
            Err(_) => queue
                .change_visibility(&m.receipt_handle, Duration::ZERO)
                .await
                .unwrap(),
        }
        out.push(Delivery {
            message_id: m.message_id,
            body: m.body,
            receive_count: m.receive_count,
            result,
        });
    }
    out
}

/// Deliver until the ingest queue has nothing left to give.
async fn drain(platform: &LocalPlatform, trigger: &UploadTrigger<LocalPlatform>) -> Vec<Delivery> {
    let mut all = Vec::new();
    for _ in 0..20 {
        let round = deliver_once(platform, trigger).await;
        if round.is_empty() {
            return all;
        }
        all.extend(round);
    }
    panic!("the ingest queue never emptied after 20 rounds");
}

async fn dead_letters(platform: &LocalPlatform) -> Vec<(String, String)> {
    let mut got: Vec<_> = platform
        .ingest_dead_letters()
        .receive(10, Duration::from_secs(30), Duration::ZERO)
        .await
        .unwrap()
        .into_iter()
        .map(|m| (m.message_id, m.body))
        .collect();
    got.sort();
    got
}

fn only(outcomes: Result<Vec<RecordOutcome>, TriggerError>) -> RecordOutcome {
    let mut outcomes = outcomes.unwrap_or_else(|e| panic!("handle_message failed: {e}"));
    assert_eq!(outcomes.len(), 1, "{outcomes:?}");
    outcomes.remove(0)
}

fn quarantine_reason(outcome: RecordOutcome) -> (MediaId, String) {
    match outcome {
        RecordOutcome::Quarantined { media, reason } => (media, reason),
        other => panic!("expected Quarantined, got {other:?}"),
    }
}

#[tokio::test]
async fn a_duplicate_object_created_notification_makes_one_media_and_one_execution() {
    let env = Ingest::new();
    let trigger = env.trigger();
    let id = MediaId::generate();
    let info = env.put(id, &default_video(env.dir()).await).await;
    let notification = env.take_notification().await;

    let first = only(trigger.handle_message(&notification, 1).await);
    let second = only(trigger.handle_message(&notification, 1).await);

    assert_eq!(first, RecordOutcome::Started(id));
    assert!(
        matches!(second, RecordOutcome::Started(m) | RecordOutcome::AlreadyDone(m) if m == id),
        "{second:?}"
    );
    assert_eq!(env.media_count().await, 1);
    let media = env.media(id).await;
    assert_eq!(media.status, MediaStatus::Analyzing);
    assert_eq!(media.etag, info.etag);
    let name = ExecutionName::for_media(id, &info.etag);
    assert_eq!(
        env.platform
            .local_pipeline()
            .status(name.as_str())
            .await
            .unwrap(),
        Some(ExecutionStatus::Running {
            state: "Analyze".into()
        })
    );
    assert_eq!(env.running_executions().await, 1);
    let again = env
        .platform
        .pipeline()
        .start(
            &name,
            &PipelineInput {
                tenant: env.tenant,
                media_id: id,
            },
        )
        .await
        .unwrap();
    assert_eq!(again, StartOutcome::AlreadyExists);
}

#[tokio::test]
async fn notifications_delivered_out_of_order_make_one_media_each() {
    let env = Ingest::new();
    let trigger = env.trigger();
    let bytes = default_video(env.dir()).await;
    let (a, b) = (MediaId::generate(), MediaId::generate());
    env.put(a, &bytes).await;
    let event_a = env.take_notification().await;
    env.put(b, &bytes).await;
    let event_b = env.take_notification().await;

    let outcomes = [
        only(trigger.handle_message(&event_b, 1).await),
        only(trigger.handle_message(&event_a, 1).await),
        only(trigger.handle_message(&event_b, 2).await),
        only(trigger.handle_message(&event_a, 2).await),
    ];

    assert_eq!(outcomes[0], RecordOutcome::Started(b));
    assert_eq!(outcomes[1], RecordOutcome::Started(a));
    for (outcome, id) in outcomes[2..].iter().zip([b, a]) {
        assert!(
            matches!(outcome, RecordOutcome::Started(m) | RecordOutcome::AlreadyDone(m) if *m == id),
            "{outcome:?}"
        );
    }
    assert_eq!(env.media_count().await, 2);
    assert_eq!(env.media(a).await.status, MediaStatus::Analyzing);
    assert_eq!(env.media(b).await.status, MediaStatus::Analyzing);
    assert_eq!(env.running_executions().await, 2);
}

#[tokio::test]
async fn a_replayed_notification_never_moves_a_media_backwards() {
    let env = Ingest::new();
    let trigger = env.trigger();
    let id = MediaId::generate();
    env.put(id, &default_video(env.dir()).await).await;
    let notification = env.take_notification().await;
    assert_eq!(
        only(trigger.handle_message(&notification, 1).await),
        RecordOutcome::Started(id)
    );
    let mut seen = vec![env.media(id).await.status];

    // Replayed while the pipeline runs, then after it has tagged, then after it has indexed.
    let replay_while_analyzing = only(trigger.handle_message(&notification, 1).await);
    seen.push(env.media(id).await.status);
    env.advance(id, MediaEvent::Analyzed).await;
    let replay_while_tagging = only(trigger.handle_message(&notification, 1).await);
    seen.push(env.media(id).await.status);
    env.advance(id, MediaEvent::Indexed).await;
    let replay_when_indexed = only(trigger.handle_message(&notification, 1).await);
    seen.push(env.media(id).await.status);

    assert!(
        matches!(replay_while_analyzing, RecordOutcome::Started(m) | RecordOutcome::AlreadyDone(m) if m == id),
        "{replay_while_analyzing:?}"
    );
    assert_eq!(replay_while_tagging, RecordOutcome::AlreadyDone(id));
    assert_eq!(replay_when_indexed, RecordOutcome::AlreadyDone(id));
    assert_eq!(
        seen,
        [
            MediaStatus::Analyzing,
            MediaStatus::Analyzing,
            MediaStatus::Tagging,
            MediaStatus::Indexed
        ]
    );
    assert!(seen.windows(2).all(|w| rank(&w[0]) <= rank(&w[1])));
    assert_eq!(env.media_count().await, 1);
    assert_eq!(env.running_executions().await, 1);
}

#[tokio::test]
async fn a_stale_notification_for_an_overwritten_object_is_ignored() {
    let env = Ingest::new();
    let trigger = env.trigger();
    let id = MediaId::generate();
    let first = env.put(id, &random_bytes(50_000, 3)).await;
    let first_event = env.take_notification().await;
    let second = env.put(id, &default_video(env.dir()).await).await;
    let second_event = env.take_notification().await;
    assert_ne!(first.etag, second.etag);

    let stale = only(trigger.handle_message(&first_event, 1).await);
    let record_after_stale = MediaRepo::new(env.platform.table())
        .get(env.tenant, id)
        .await
        .unwrap();
    let current = only(trigger.handle_message(&second_event, 1).await);
    let stale_again = only(trigger.handle_message(&first_event, 2).await);

    match stale {
        RecordOutcome::Ignored { key, why } => {
            assert_eq!(key, env.upload_key(id));
            assert!(why.contains("stale"), "{why}");
        }
        other => panic!("expected Ignored, got {other:?}"),
    }
    assert!(record_after_stale.is_none(), "{record_after_stale:?}");
    assert_eq!(current, RecordOutcome::Started(id));
    assert!(
        matches!(stale_again, RecordOutcome::Ignored { .. }),
        "{stale_again:?}"
    );
    let media = env.media(id).await;
    assert_eq!(media.etag, second.etag);
    assert_eq!(media.status, MediaStatus::Analyzing);
    assert_eq!(env.media_count().await, 1);
    assert_eq!(
        env.platform
            .local_pipeline()
            .status(ExecutionName::for_media(id, &first.etag).as_str())
            .await
            .unwrap(),
        None,
        "no execution for the overwritten content"
    );
}

#[tokio::test]
async fn a_file_that_is_not_a_video_is_moved_to_quarantine_with_its_reason_never_deleted() {
    let env = Ingest::new();
    let trigger = std::sync::Arc::new(env.trigger());
    let id = MediaId::generate();
    let bytes = random_bytes(100_000, 7);
    let uploaded = env.put(id, &bytes).await;
    let notification = env.take_notification().await;

    let (media_id, reason) =
        quarantine_reason(only(trigger.handle_message(&notification, 1).await));

    assert_eq!(media_id, id);
    assert!(reason.contains("not a video container"), "{reason}");
    let media = env.media(id).await;
    assert_eq!(
        media.status,
        MediaStatus::Quarantined {
            reason: reason.clone()
        }
    );
    let quarantine_key = keys::blob::quarantine(env.tenant, id);
    assert_eq!(media.blob_key, quarantine_key);
    let blobs = env.platform.blobs();
    assert!(matches!(
        blobs.head(&env.upload_key(id)).await,
        Err(BlobError::NotFound { .. })
    ));
    let moved = blobs.head(&quarantine_key).await.unwrap();
    assert_eq!(moved.etag, uploaded.etag);
    assert_eq!(
        collect(blobs.get(&quarantine_key).await.unwrap()).await,
        bytes
    );
    let tags = blobs.get_tags(&quarantine_key).await.unwrap();
    assert_eq!(tags.get("quarantine"), Some(&reason));

    // The move's own notification (ObjectCreated:Copy under quarantine/) is no upload, and a
    // replay of the original notification finds the work done.
    let copy_event = env.take_notification().await;
    let copy = only(trigger.handle_message(&copy_event, 1).await);
    let replay = only(trigger.handle_message(&notification, 2).await);

    assert!(
        matches!(&copy, RecordOutcome::Ignored { key, .. } if *key == quarantine_key),
        "{copy:?}"
    );
    assert_eq!(replay, RecordOutcome::AlreadyDone(id));
    assert_eq!(env.media_count().await, 1);
    assert_eq!(env.media(id).await.status, media.status);
    assert_eq!(
        collect(blobs.get(&quarantine_key).await.unwrap()).await,
        bytes
    );
    assert_eq!(env.running_executions().await, 0);
}

#[tokio::test]
async fn an_upload_that_crashes_ffmpeg_every_time_fails_validation_and_goes_to_the_dead_letter_queue()
 {
    let env = Ingest::with_max_receives(MAX_RECEIVES);
    let crashing = Ffmpeg::new(fake_ffmpeg(env.dir(), 0.0, true));
    let trigger = env.trigger_with(
        crashing,
        TriggerConfig {
            max_receives: MAX_RECEIVES,
            ..TriggerConfig::default()
        },
    );
    let id = MediaId::generate();
    env.put(id, &default_video(env.dir()).await).await;

    let mut deliveries = Vec::new();
    let mut status_after = Vec::new();
    loop {
        let round = deliver_once(&env.platform, &trigger).await;
        if round.is_empty() {
            break;
        }
        assert!(deliveries.len() < 10, "the message is never dead-lettered");
        deliveries.extend(round);
        status_after.push(env.media(id).await.status);
    }

    let counts: Vec<u32> = deliveries.iter().map(|d| d.receive_count).collect();
    assert_eq!(counts, [1, 2, 3]);
    for d in &deliveries {
        assert!(
            matches!(d.result, Err(TriggerError::Transient(_))),
            "delivery {}: {:?}",
            d.receive_count,
            d.result
        );
    }
    // Only the delivery the queue will not repeat records the failure.
    assert_eq!(
        status_after[..2],
        [MediaStatus::Validating, MediaStatus::Validating]
    );
    match &status_after[2] {
        MediaStatus::Failed {
            step: Step::Validate,
            reason,
        } => assert!(reason.contains("SIGSEGV"), "{reason}"),
        other => panic!("expected Failed at validate, got {other:?}"),
    }
    assert!(
        env.platform
            .ingest_queue()
            .receive(10, Duration::from_secs(30), Duration::ZERO)
            .await
            .unwrap()
            .is_empty()
    );
    let dead = dead_letters(&env.platform).await;
    assert_eq!(
        dead,
        [(deliveries[0].message_id.clone(), deliveries[0].body.clone())]
    );
    assert!(dead[0].1.contains(&env.upload_key(id)), "{}", dead[0].1);
    assert_eq!(env.media_count().await, 1);
    assert_eq!(env.running_executions().await, 0);
}

#[tokio::test]
async fn malformed_messages_go_to_the_dead_letter_queue_after_max_receives() {
    let env = Ingest::with_max_receives(MAX_RECEIVES);
    let trigger = env.trigger_with(
        fixtures::ffmpeg(),
        TriggerConfig {
            max_receives: MAX_RECEIVES,
            ..TriggerConfig::default()
        },
    );
    let bodies = [
        "not json",
        r#"{"eventVersion":"2.1","eventSource":"aws:s3","eventName":"ObjectCreated:Put"}"#,
        r#"{"Records":[]}"#,
    ];
    let ids = env
        .platform
        .ingest_queue()
        .send_batch(bodies.iter().map(|b| OutgoingMessage::new(*b)).collect())
        .await
        .unwrap();

    let deliveries = drain(&env.platform, &trigger).await;

    for (id, body) in ids.iter().zip(bodies) {
        let mine: Vec<_> = deliveries.iter().filter(|d| &d.message_id == id).collect();
        let counts: Vec<u32> = mine.iter().map(|d| d.receive_count).collect();
        assert_eq!(counts, [1, 2, 3], "{body}");
        for d in mine {
            assert!(
                matches!(d.result, Err(TriggerError::Malformed(_))),
                "{body}: {:?}",
                d.result
            );
        }
    }
    let mut expected: Vec<_> = ids
        .iter()
        .cloned()
        .zip(bodies.iter().map(|b| (*b).to_owned()))
        .collect();
    expected.sort();
    assert_eq!(dead_letters(&env.platform).await, expected);
    assert_eq!(
        env.platform.ingest_queue().approximate_len().await.unwrap(),
        0
    );
}

/// S3's own message when notifications are configured on a bucket
/// (docs.aws.amazon.com/AmazonS3/latest/userguide/notification-content-structure.html).
const S3_TEST_EVENT: &str = r#"{
  "Service": "Amazon S3",
  "Event": "s3:TestEvent",
  "Time": "2014-10-13T15:57:02.089Z",
  "Bucket": "amzn-s3-demo-bucket",
  "RequestId": "5582815E1AEA5ADF",
  "HostId": "8cLeGAmw098X5cv4Zkwcmo8vvZa3eH3eKxsPzbB9wrR+YstdA6Knx4Ip8EXAMPLE"
}"#;

#[tokio::test]
async fn the_s3_test_event_is_acknowledged_with_no_records() {
    let env = Ingest::new();
    let trigger = env.trigger();
    env.platform
        .ingest_queue()
        .send_batch(vec![OutgoingMessage::new(S3_TEST_EVENT)])
        .await
        .unwrap();

    let deliveries = drain(&env.platform, &trigger).await;

    match &deliveries[0].result {
        Ok(outcomes) => assert!(outcomes.is_empty(), "{outcomes:?}"),
        Err(e) => panic!("the S3 test event was refused: {e}"),
    }
    assert_eq!(deliveries.len(), 1);
    assert!(dead_letters(&env.platform).await.is_empty());
    assert_eq!(env.media_count().await, 0);
}

#[tokio::test]
async fn an_sqs_batch_reports_only_the_malformed_message_as_failed() {
    let env = Ingest::new();
    let trigger = env.trigger();
    let id = MediaId::generate();
    let info = env.put(id, &default_video(env.dir()).await).await;
    let fixture = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/sqs-s3-batch.json"),
    )
    .unwrap()
    .replace("${BUCKET}", &info.bucket)
    .replace("${KEY}", &info.key)
    .replace("${SIZE}", &info.size.to_string())
    .replace("${ETAG}", &info.etag);
    let event: SqsEvent = serde_json::from_str(&fixture).unwrap();
    assert_eq!(event.records.len(), 2);
    let malformed_id = event.records[1].message_id.clone().unwrap();

    let response = trigger.handle_sqs_event(event).await;

    let failed: Vec<_> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    assert_eq!(failed, [malformed_id.as_str()]);
    let media = env.media(id).await;
    assert_eq!(media.status, MediaStatus::Analyzing);
    assert_eq!(media.etag, info.etag);
    assert_eq!(env.media_count().await, 1);
    assert!(matches!(
        env.platform
            .local_pipeline()
            .status(ExecutionName::for_media(id, &info.etag).as_str())
            .await
            .unwrap(),
        Some(ExecutionStatus::Running { .. })
    ));
}

fn limits(max_bytes: u64, max_duration_seconds: f64) -> TriggerConfig {
    TriggerConfig {
        limits: UploadLimits {
            max_bytes,
            max_duration_seconds,
        },
        ..TriggerConfig::default()
    }
}

#[tokio::test]
async fn an_upload_over_the_size_limit_is_quarantined_as_too_large() {
    let env = Ingest::new();
    let bytes = default_video(env.dir()).await;
    let trigger = env.trigger_with(fixtures::ffmpeg(), limits(bytes.len() as u64 - 1, 3600.0));
    let id = MediaId::generate();
    env.put(id, &bytes).await;

    let (_, reason) = quarantine_reason(only(
        trigger
            .handle_message(&env.take_notification().await, 1)
            .await,
    ));

    assert!(reason.contains("too large"), "{reason}");
    assert!(reason.contains(&bytes.len().to_string()), "{reason}");
    assert_eq!(
        env.media(id).await.status,
        MediaStatus::Quarantined { reason }
    );
}

#[tokio::test]
async fn a_video_longer_than_the_duration_limit_is_quarantined() {
    let env = Ingest::new();
    let bytes = default_video(env.dir()).await; // 2 s
    let trigger = env.trigger_with(fixtures::ffmpeg(), limits(u64::MAX, 1.0));
    let id = MediaId::generate();
    env.put(id, &bytes).await;

    let (_, reason) = quarantine_reason(only(
        trigger
            .handle_message(&env.take_notification().await, 1)
            .await,
    ));

    assert!(reason.contains("duration 2.0 s"), "{reason}");
    assert!(reason.contains("over the limit"), "{reason}");
    assert_eq!(
        env.media(id).await.status,
        MediaStatus::Quarantined { reason }
    );
}

#[tokio::test]
async fn an_audio_only_file_is_quarantined_for_having_no_video() {
    let env = Ingest::new();
    let path = env.dir().join("tone.m4a");
    synthesize_audio_only(
        &fixtures::ffmpeg(),
        &AudioSpec::default(),
        1.0,
        Container::Mp4,
        &path,
    )
    .await
    .unwrap();
    let trigger = env.trigger();
    let id = MediaId::generate();
    env.put(id, &std::fs::read(&path).unwrap()).await;

    let (_, reason) = quarantine_reason(only(
        trigger
            .handle_message(&env.take_notification().await, 1)
            .await,
    ));

    assert!(reason.contains("no video stream"), "{reason}");
    assert!(matches!(
        env.media(id).await.status,
        MediaStatus::Quarantined { .. }
    ));
}

/// Handle `notification` twice at once (two consumers, or one SQS batch holding a duplicate),
/// then redeliver whatever failed, as the queue would.
async fn deliver_twice_concurrently(
    trigger: &std::sync::Arc<UploadTrigger<LocalPlatform>>,
    notification: &str,
) -> Vec<RecordOutcome> {
    // Two tasks, so on a multi-threaded runtime the deliveries really run in parallel (not
    // only interleaved at await points, as on one task).
    let deliver = || {
        let (trigger, notification) = (trigger.clone(), notification.to_owned());
        tokio::spawn(async move { trigger.handle_message(&notification, 1).await })
    };
    let (a, b) = (deliver(), deliver());
    let (a, b) = (a.await.unwrap(), b.await.unwrap());
    let mut outcomes = Vec::new();
    for result in [a, b] {
        let result = match result {
            Ok(o) => Ok(o),
            Err(_) => trigger.handle_message(notification, 2).await,
        };
        outcomes.push(only(result));
    }
    outcomes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_notifications_handled_concurrently_start_one_execution() {
    let env = Ingest::new();
    let trigger = std::sync::Arc::new(env.trigger());
    let id = MediaId::generate();
    env.put(id, &default_video(env.dir()).await).await;
    let notification = env.take_notification().await;

    let outcomes = deliver_twice_concurrently(&trigger, &notification).await;

    for outcome in &outcomes {
        assert!(
            matches!(outcome, RecordOutcome::Started(m) | RecordOutcome::AlreadyDone(m) if *m == id),
            "{outcomes:?}"
        );
    }
    assert_eq!(env.media(id).await.status, MediaStatus::Analyzing);
    assert_eq!(env.media_count().await, 1);
    assert_eq!(env.running_executions().await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_notifications_handled_concurrently_quarantine_a_bad_upload_once() {
    let env = Ingest::new();
    let trigger = std::sync::Arc::new(env.trigger());
    let id = MediaId::generate();
    let bytes = random_bytes(100_000, 7);
    env.put(id, &bytes).await;
    let notification = env.take_notification().await;

    let outcomes = deliver_twice_concurrently(&trigger, &notification).await;

    let status = env.media(id).await.status;
    match &status {
        MediaStatus::Quarantined { reason } => {
            assert!(reason.contains("not a video container"), "{reason}")
        }
        other => panic!("expected Quarantined, got {other:?} (outcomes {outcomes:?})"),
    }
    for outcome in &outcomes {
        assert!(
            matches!(outcome, RecordOutcome::Quarantined { media, .. } | RecordOutcome::AlreadyDone(media) if *media == id),
            "{outcomes:?}"
        );
    }
    let quarantine_key = keys::blob::quarantine(env.tenant, id);
    let blobs = env.platform.blobs();
    assert_eq!(
        collect(blobs.get(&quarantine_key).await.unwrap()).await,
        bytes
    );
    let tags = blobs.get_tags(&quarantine_key).await.unwrap();
    assert_eq!(tags.get("quarantine").map(String::as_str), status.reason());
    assert_eq!(env.media_count().await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quarantine_move_keeps_its_tag_while_the_upload_key_is_read() {
    let env = Ingest::new();
    let blobs = env.platform.blobs();
    let id = MediaId::generate();
    let (from, to) = (env.upload_key(id), keys::blob::quarantine(env.tenant, id));
    env.put(id, &random_bytes(10_000, 11)).await;
    let tags = std::collections::BTreeMap::from([(
        "quarantine".to_owned(),
        "not a video container".to_owned(),
    )]);
    blobs.set_tags(&from, &tags).await.unwrap();

    // What a duplicate delivery does meanwhile: look at the upload key.
    let reader = async {
        for _ in 0..200 {
            let _ = blobs.head(&from).await;
            tokio::task::yield_now().await;
        }
    };
    let (moved, ()) = tokio::join!(blobs.rename(&from, &to), reader);

    moved.unwrap();
    assert_eq!(blobs.get_tags(&to).await.unwrap(), tags);
    assert_eq!(
        blobs.head(&to).await.unwrap().content_type.as_deref(),
        Some("video/mp4")
    );
}

#[tokio::test]
async fn a_quarantine_verdict_recorded_before_a_crash_is_carried_out_by_the_next_delivery() {
    // Arrange: the state a crash leaves between recording the verdict and moving the object.
    let env = Ingest::new();
    let trigger = env.trigger();
    let id = MediaId::generate();
    let bytes = random_bytes(50_000, 11);
    let info = env.put(id, &bytes).await;
    let notification = env.take_notification().await;
    let reason = "not a video container: the first bytes match no known video format";
    let now = Utc::now();
    let recorded = Media {
        id,
        tenant: env.tenant,
        filename: "x.mp4".into(),
        content_type: "video/mp4".into(),
        size: info.size,
        blob_key: keys::blob::quarantine(env.tenant, id),
        bucket: info.bucket.clone(),
        etag: info.etag.clone(),
        status: MediaStatus::Quarantined {
            reason: reason.into(),
        },
        probe: None,
        metadata: Default::default(),
        external_id: None,
        created_at: now,
        updated_at: now,
        version: 1,
    };
    MediaRepo::new(env.platform.table())
        .create_once(recorded)
        .await
        .unwrap();

    // Act
    let outcome = only(trigger.handle_message(&notification, 2).await);

    // Assert: the object moved, tagged with the recorded reason; the record is unchanged.
    assert_eq!(outcome, RecordOutcome::AlreadyDone(id));
    let blobs = env.platform.blobs();
    let to = keys::blob::quarantine(env.tenant, id);
    assert_eq!(collect(blobs.get(&to).await.unwrap()).await, bytes);
    assert_eq!(
        blobs
            .get_tags(&to)
            .await
            .unwrap()
            .get("quarantine")
            .map(String::as_str),
        Some(reason)
    );
    assert!(blobs.head(&env.upload_key(id)).await.is_err());
    assert_eq!(
        env.media(id).await.status,
        MediaStatus::Quarantined {
            reason: reason.into()
        }
    );
}
