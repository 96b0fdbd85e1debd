//! The events function on a real-shaped SQS event: a batch delivered twice in one invocation
//! is counted once, and only the malformed message is reported failed (to be redelivered and
//! in the end dead-lettered, never dropped).

use std::path::Path;

use aws_lambda_events::event::sqs::SqsEvent;
use chrono::{TimeZone, Utc};
use mvidarr_core::analytics::{AnalyticsEvent, EventBatch, Granularity, TimeRange};
use mvidarr_core::asl::StateMachine;
use mvidarr_core::ids::{MediaId, TenantId};
use mvidarr_core::ports::Platform;
use mvidarr_core::repo::AnalyticsRepo;
use mvidarr_events::EventsFunction;
use mvidarr_store_local::{LocalConfig, LocalPlatform};

fn platform(dir: &Path) -> LocalPlatform {
    LocalPlatform::open(
        &LocalConfig {
            data_dir: dir.to_owned(),
            public_base_url: "http://127.0.0.1:9".into(),
            ingest_max_receives: 5,
        },
        StateMachine::pipeline().unwrap(),
    )
    .unwrap()
}

#[tokio::test]
async fn a_batch_delivered_twice_counts_once_and_only_the_malformed_message_fails() {
    let dir = tempfile::tempdir().unwrap();
    let platform = platform(dir.path());
    let tenant = TenantId::generate();
    let at = Utc.with_ymd_and_hms(2026, 11, 20, 9, 0, 0).unwrap();
    let events: Vec<AnalyticsEvent> = (0..40)
        .map(|i| AnalyticsEvent::analysis_done(MediaId::generate(), i % 4 != 0, 30_000, at))
        .collect();
    let body = serde_json::to_string(&EventBatch::new(tenant, events)).unwrap();
    let fixture = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sqs-events-batch.json"),
    )
    .unwrap()
    .replace("\"${BATCH}\"", &serde_json::to_string(&body).unwrap());
    let event: SqsEvent = serde_json::from_str(&fixture).unwrap();
    let malformed = event.records[2].message_id.clone().unwrap();

    let response = EventsFunction::new(platform.clone())
        .handle_sqs_event(event)
        .await;
    let failed: Vec<&str> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    assert_eq!(failed, [malformed.as_str()]);

    let range = TimeRange::parse("2026-11-20", "2026-11-21", Granularity::Day).unwrap();
    let days = AnalyticsRepo::new(platform.table())
        .tenant_days(tenant, range)
        .await
        .unwrap();
    let totals = days.values().next().unwrap().totals();
    assert_eq!((totals.analyses, totals.analysis_failures), (40, 10));
}
