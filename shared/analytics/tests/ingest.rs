//! A batch through the events function's ingest on the embedded stores: Parquet files by day,
//! folded into the rollups once, however often the batch is delivered.

use bytes::Bytes;
use chrono::{TimeZone, Utc};
use mvidarr_analytics::{fold_pending, ingest, parquet};
use mvidarr_core::analytics::{AnalyticsEvent, AnalyticsKind, EventBatch, Granularity, TimeRange};
use mvidarr_core::event::EventKind;
use mvidarr_core::ids::{MediaId, ProfileId, TenantId};
use mvidarr_core::keys;
use mvidarr_core::ports::BlobStore;
use mvidarr_core::ports::blob::read_to_end;
use mvidarr_core::repo::AnalyticsRepo;
use mvidarr_store_local::blob::LocalBlobStore;
use mvidarr_store_local::stores_in;
use mvidarr_store_local::table::SqliteTable;

struct Stores {
    blobs: LocalBlobStore,
    table: SqliteTable,
    _dir: tempfile::TempDir,
}

fn stores() -> Stores {
    let dir = tempfile::tempdir().unwrap();
    let (blobs, table) = stores_in(dir.path()).unwrap();
    Stores {
        blobs,
        table,
        _dir: dir,
    }
}

fn events() -> Vec<AnalyticsEvent> {
    let m = MediaId::generate();
    let user = ProfileId::generate();
    let mut out: Vec<AnalyticsEvent> = (0..300)
        .map(|i| AnalyticsEvent {
            media: Some(m),
            user: Some(user),
            watch_ms: Some(1000),
            ..AnalyticsEvent::platform(
                AnalyticsKind::Client(EventKind::Play),
                format!("play-{i}"),
                Utc.with_ymd_and_hms(2026, 11, 24 + i % 2, 12, 0, 0)
                    .unwrap(),
            )
        })
        .collect();
    out.push(AnalyticsEvent::upload(
        m,
        Utc.with_ymd_and_hms(2026, 11, 24, 1, 0, 0).unwrap(),
    ));
    out
}

#[tokio::test]
async fn a_batch_is_one_parquet_file_a_day_and_counted_once() {
    let s = stores();
    let tenant = TenantId::generate();
    let mut events = events();
    // The same event twice in one batch is one event.
    events.push(events[0].clone());
    let batch = EventBatch::new(tenant, events.clone());
    let first = ingest(&s.blobs, &s.table, &batch).await.unwrap();
    assert_eq!((first.events, first.files), (301, 2));
    // Delivered again before the fold: the same files, written again.
    let again = ingest(&s.blobs, &s.table, &batch).await.unwrap();
    assert_eq!((again.files, again.days_already_applied), (2, 0));
    let folded = fold_pending(&s.blobs, &s.table, tenant).await.unwrap();
    assert_eq!(
        (folded.plans, folded.batches, folded.events),
        (2, 2, 301),
        "{folded:?}"
    );
    // And after it: no file, nothing more to fold, nothing pending.
    let late = ingest(&s.blobs, &s.table, &batch).await.unwrap();
    assert_eq!((late.files, late.days_already_applied), (0, 2));
    let nothing = fold_pending(&s.blobs, &s.table, tenant).await.unwrap();
    assert_eq!(nothing.plans, 0, "{nothing:?}");
    assert!(
        AnalyticsRepo::new(&s.table)
            .pending_days(tenant)
            .await
            .unwrap()
            .is_empty()
    );

    let range = TimeRange::parse("2026-11-24", "2026-11-26", Granularity::Day).unwrap();
    let days = AnalyticsRepo::new(&s.table)
        .tenant_days(tenant, range)
        .await
        .unwrap();
    let plays: u64 = days.values().map(|d| d.totals().plays).sum();
    assert_eq!(plays, 300);

    let mut stored = Vec::new();
    for date in range.days() {
        let objects = s
            .blobs
            .list(&keys::blob::analytics_partition(tenant, date))
            .await
            .unwrap();
        assert_eq!(objects.len(), 1, "one file for {date}");
        let body = s.blobs.get(&objects[0].key).await.unwrap();
        let file = Bytes::from(read_to_end(body, usize::MAX).await.unwrap());
        stored.extend(parquet::decode(file).unwrap());
    }
    events.pop();
    stored.sort_by(|a, b| a.id.cmp(&b.id));
    events.sort_by(|a, b| a.id.cmp(&b.id));
    assert_eq!(stored, events);
}

#[test]
fn batch_ids_name_the_events_not_their_order() {
    let tenant = TenantId::generate();
    let events = events();
    let mut reversed = events.clone();
    reversed.reverse();
    assert_eq!(
        EventBatch::new(tenant, events.clone()).id,
        EventBatch::new(tenant, reversed).id
    );
    assert_ne!(
        EventBatch::new(tenant, events.clone()).id,
        EventBatch::new(TenantId::generate(), events.clone()).id
    );
    assert_ne!(
        EventBatch::new(tenant, events[1..].to_vec()).id,
        EventBatch::new(tenant, events).id
    );
}
