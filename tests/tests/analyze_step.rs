//! The `analyze` step on the embedded platform: a real upload, validated by the trigger, then
//! analysed — and what happens when the analysis pass fails or the step runs again.

use std::time::Duration;

use bytes::Bytes;
use mvidarr_analyze::Analyze;
use mvidarr_core::analysis::{Analysis, AnalyzerKind};
use mvidarr_core::fingerprint::{Fingerprint, FingerprintSummary};
use mvidarr_core::ids::{MediaId, TenantId};
use mvidarr_core::keys;
use mvidarr_core::media::MediaStatus;
use mvidarr_core::ports::blob::read_to_end;
use mvidarr_core::ports::{BlobStore, Platform, Queue};
use mvidarr_core::repo::{AnalysisRepo, FingerprintIndex, MediaRepo};
use mvidarr_core::step::StepInput;
use mvidarr_media::SynthSpec;
use mvidarr_media::analysis::AnalysisOptions;
use mvidarr_store_local::LocalPlatform;
use mvidarr_tests::conformance::blob::body_of;
use mvidarr_tests::fixtures;
use mvidarr_tests::tenants::open_platform;
use mvidarr_upload_trigger::{RecordOutcome, TriggerConfig, UploadTrigger};

/// A generated video uploaded and validated: its media record is `analyzing`.
async fn validated_upload(platform: &LocalPlatform, dir: &std::path::Path) -> StepInput {
    let video = fixtures::make(dir, "clip.mp4", &SynthSpec::default()).await;
    let (tenant, id) = (TenantId::generate(), MediaId::generate());
    platform
        .blobs()
        .put(
            &keys::blob::upload(tenant, id),
            body_of(vec![Bytes::from(std::fs::read(&video).unwrap())]),
            Some("video/mp4"),
        )
        .await
        .unwrap();
    let notification = platform
        .ingest_queue()
        .receive(1, Duration::from_secs(60), Duration::ZERO)
        .await
        .unwrap()
        .remove(0);
    let trigger = UploadTrigger::new(
        platform.clone(),
        fixtures::ffmpeg(),
        TriggerConfig::default(),
    );
    let outcomes = trigger.handle_message(&notification.body, 1).await.unwrap();
    assert_eq!(outcomes, [RecordOutcome::Started(id)]);
    StepInput {
        tenant,
        media_id: id,
        failed_step: None,
        error: None,
    }
}

async fn documents(platform: &LocalPlatform, input: &StepInput) -> Vec<Analysis> {
    AnalysisRepo::new(platform.table())
        .list(input.tenant, input.media_id)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_analysis_pass_is_recorded_per_analyzer_and_the_media_goes_on() {
    let tmp = tempfile::tempdir().unwrap();
    let platform = open_platform(&tmp.path().join("data"));
    let input = validated_upload(&platform, tmp.path()).await;
    // A pass that cannot finish in time: the same bytes would time out again, so it is
    // recorded, not retried.
    let analyze =
        Analyze::new(platform.clone(), fixtures::ffmpeg()).with_options(AnalysisOptions {
            timeout: Duration::from_millis(1),
            ..AnalysisOptions::default()
        });
    analyze
        .handle(input.clone())
        .await
        .expect("the step succeeds");

    let media = MediaRepo::new(platform.table())
        .require(input.tenant, input.media_id)
        .await
        .unwrap();
    assert_eq!(media.status, MediaStatus::Tagging);
    let docs = documents(&platform, &input).await;
    let kinds: Vec<AnalyzerKind> = docs.iter().map(|d| d.kind).collect();
    assert_eq!(
        kinds,
        [
            AnalyzerKind::Audio,
            AnalyzerKind::Fingerprint,
            AnalyzerKind::Moderation,
            AnalyzerKind::Probe,
            AnalyzerKind::Quality,
            AnalyzerKind::Scenes,
            AnalyzerKind::Text,
            AnalyzerKind::Thumbnails
        ]
    );
    // The probe stands; the pass's analyzers each say why they have nothing.
    assert!(docs[3].error.is_none() && !docs[3].result.is_null());
    for doc in docs.iter().filter(|d| d.kind != AnalyzerKind::Probe) {
        let error = doc.error.as_deref().expect("a failure record");
        assert!(error.contains("did not finish within"), "{error}");
        assert!(doc.result.is_null());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn analysis_documents_are_written_once_however_often_the_step_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let platform = open_platform(&tmp.path().join("data"));
    let input = validated_upload(&platform, tmp.path()).await;
    let analyze = Analyze::new(platform.clone(), fixtures::ffmpeg());
    analyze.handle(input.clone()).await.unwrap();
    let first = documents(&platform, &input).await;
    assert_eq!(first.len(), 8);
    assert!(first.iter().all(|d| d.error.is_none()), "{first:?}");
    // The fingerprint is stored and the media filed in the duplicate index under its keys.
    let summary: FingerprintSummary = serde_json::from_value(
        first
            .iter()
            .find(|d| d.kind == AnalyzerKind::Fingerprint)
            .unwrap()
            .result
            .clone(),
    )
    .unwrap();
    let body = platform.blobs().get(&summary.key).await.unwrap();
    let stored: Fingerprint =
        serde_json::from_slice(&read_to_end(body, 1 << 20).await.unwrap()).unwrap();
    assert_eq!(stored.pictures.len(), summary.pictures);
    let keys = stored.index_keys();
    assert!(!keys.is_empty() && keys.len() == summary.index_keys);
    let filed = FingerprintIndex::new(platform.table())
        .candidates(input.tenant, MediaId::generate(), &keys, 10)
        .await
        .unwrap();
    assert_eq!(filed, [(input.media_id, keys.len())]);

    // A redelivered task (the state machine retried after a lost reply): nothing changes.
    analyze.handle(input.clone()).await.unwrap();
    assert_eq!(documents(&platform, &input).await, first);
}
