//! upload-trigger on the AWS adapters against moto: the bad inputs and races the ingest path
//! meets in AWS, each delivered the way Lambda's SQS event source delivers it.

use bytes::Bytes;
use mvidarr_core::ids::{MediaId, TenantId};
use mvidarr_core::keys;
use mvidarr_core::media::MediaStatus;
use mvidarr_core::ports::{BlobStore, Platform};
use mvidarr_core::repo::MediaRepo;
use mvidarr_tests::aws::Moto;
use mvidarr_tests::aws::stack::Stack;
use mvidarr_tests::conformance::blob::body_of;
use mvidarr_tests::fixtures;
use mvidarr_upload_trigger::{RecordOutcome, TriggerConfig, UploadTrigger};

fn trigger(stack: &Stack) -> UploadTrigger<mvidarr_store_aws::platform::AwsPlatform> {
    UploadTrigger::new(
        stack.platform.clone(),
        fixtures::ffmpeg(),
        TriggerConfig::default(),
    )
}

/// A short real video under `key`, written straight to S3 (S3 then notifies the queue).
async fn put_video(stack: &Stack, key: &str) {
    let dir = tempfile::tempdir().unwrap();
    let video = fixtures::make(dir.path(), "clip.mp4", &Default::default()).await;
    let bytes = Bytes::from(std::fs::read(video).unwrap());
    stack
        .platform
        .blobs()
        .put(key, body_of(vec![bytes]), Some("video/mp4"))
        .await
        .unwrap();
}

/// The execution names Step Functions holds for this stack's state machine.
async fn executions(stack: &Stack) -> Vec<String> {
    stack
        .sfn
        .list_executions()
        .state_machine_arn(&stack.state_machine_arn)
        .send()
        .await
        .unwrap()
        .executions()
        .iter()
        .map(|e| e.name().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_test_event_sent_on_configuration_is_acknowledged() {
    let stack = Stack::create(Moto::shared()).await;
    // moto, like S3, sends `s3:TestEvent` to the queue when the notification is configured.
    let bodies: Vec<_> = stack
        .setup_messages
        .records
        .iter()
        .map(|r| r.body.clone().unwrap_or_default())
        .collect();
    assert!(
        bodies.iter().any(|b| b.contains("s3:TestEvent")),
        "expected S3's TestEvent on the queue, got {bodies:?}"
    );
    let response = trigger(&stack)
        .handle_sqs_event(stack.setup_messages.clone())
        .await;
    assert!(response.batch_item_failures.is_empty(), "{response:?}");
    assert!(executions(&stack).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_outside_uploads_is_ignored_and_acknowledged() {
    let stack = Stack::create(Moto::shared()).await;
    let tenant = TenantId::generate();
    let media = MediaId::generate();
    // Under `t/` (so the bucket's notification filter passes it) but not an upload.
    let key = keys::blob::derived(tenant, media, "thumbs/0.jpg");
    stack
        .platform
        .blobs()
        .put(&key, body_of(vec![Bytes::from_static(b"jpeg")]), None)
        .await
        .unwrap();
    let event = stack.next_sqs_event().await;
    assert_eq!(event.records.len(), 1);
    let outcomes = trigger(&stack)
        .handle_message(event.records[0].body.as_deref().unwrap(), 1)
        .await
        .unwrap();
    assert!(
        matches!(&outcomes[..], [RecordOutcome::Ignored { key: k, .. }] if *k == key),
        "{outcomes:?}"
    );
    let response = trigger(&stack).handle_sqs_event(event).await;
    assert!(response.batch_item_failures.is_empty());
    assert!(
        MediaRepo::new(stack.platform.table())
            .get(tenant, media)
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_body_fails_alone_and_the_good_message_in_its_batch_is_not_redelivered() {
    let stack = Stack::create(Moto::shared()).await;
    let tenant = TenantId::generate();
    let media = MediaId::generate();
    put_video(&stack, &keys::blob::upload(tenant, media)).await;
    stack
        .sqs
        .send_message()
        .queue_url(&stack.queue_url)
        .message_body("this is not JSON")
        .send()
        .await
        .unwrap();
    let mut event = stack.next_sqs_event().await;
    while event.records.len() < 2 {
        let more = stack.next_sqs_event().await;
        assert!(!more.records.is_empty(), "both messages arrive");
        event.records.extend(more.records);
    }
    let malformed = event
        .records
        .iter()
        .find(|r| r.body.as_deref() == Some("this is not JSON"))
        .and_then(|r| r.message_id.clone())
        .unwrap();
    let response = trigger(&stack).handle_sqs_event(event).await;
    let failed: Vec<_> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect();
    assert_eq!(failed, [malformed], "only the malformed message is retried");
    let record = MediaRepo::new(stack.platform.table())
        .require(tenant, media)
        .await
        .unwrap();
    assert_eq!(record.status, MediaStatus::Analyzing);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicate_notification_starts_nothing_new() {
    let stack = Stack::create(Moto::shared()).await;
    let tenant = TenantId::generate();
    let media = MediaId::generate();
    put_video(&stack, &keys::blob::upload(tenant, media)).await;
    let event = stack.next_sqs_event().await;
    let body = event.records[0].body.clone().unwrap();
    let trigger = trigger(&stack);
    let first = trigger.handle_message(&body, 1).await.unwrap();
    assert_eq!(first, [RecordOutcome::Started(media)]);
    // At-least-once: the same notification again (same key, same etag).
    let second = trigger.handle_message(&body, 2).await.unwrap();
    assert!(
        matches!(
            &second[..],
            [RecordOutcome::Started(m) | RecordOutcome::AlreadyDone(m)] if *m == media
        ),
        "{second:?}"
    );
    assert_eq!(
        executions(&stack).await.len(),
        1,
        "one execution per content"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_concurrent_triggers_for_one_object_create_exactly_one_media_and_execution() {
    let stack = Stack::create(Moto::shared()).await;
    let tenant = TenantId::generate();
    let media = MediaId::generate();
    put_video(&stack, &keys::blob::upload(tenant, media)).await;
    let event = stack.next_sqs_event().await;
    let body = event.records[0].body.clone().unwrap();
    let (a, b) = (trigger(&stack), trigger(&stack));
    let (first, second) = tokio::join!(a.handle_message(&body, 1), b.handle_message(&body, 1));
    for outcome in [first.unwrap(), second.unwrap()] {
        assert!(
            matches!(
                &outcome[..],
                [RecordOutcome::Started(m) | RecordOutcome::AlreadyDone(m)] if *m == media
            ),
            "{outcome:?}"
        );
    }
    let records = MediaRepo::new(stack.platform.table())
        .list(tenant, None, 10, None)
        .await
        .unwrap();
    assert_eq!(records.items.len(), 1, "{records:?}");
    assert_eq!(executions(&stack).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_object_deleted_before_the_trigger_ran_starts_nothing() {
    let stack = Stack::create(Moto::shared()).await;
    let tenant = TenantId::generate();
    let media = MediaId::generate();
    let key = keys::blob::upload(tenant, media);
    put_video(&stack, &key).await;
    stack.platform.blobs().delete(&key).await.unwrap();
    let event = stack.next_sqs_event().await;
    let response = trigger(&stack).handle_sqs_event(event).await;
    assert!(
        response.batch_item_failures.is_empty(),
        "a vanished object is not worth redelivering: {response:?}"
    );
    assert!(executions(&stack).await.is_empty());
}
