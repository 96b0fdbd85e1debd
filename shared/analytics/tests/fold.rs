//! The fold on the embedded stores: many batches' files counted at once, each exactly once,
//! however the fold is cut short, repeated or run twice at the same time.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::{NaiveDate, TimeZone, Utc};
use mvidarr_analytics::{fold_day, fold_pending, ingest};
use mvidarr_core::analytics::{AnalyticsEvent, AnalyticsKind, EventBatch, Granularity, TimeRange};
use mvidarr_core::event::EventKind;
use mvidarr_core::ids::{MediaId, ProfileId, TenantId};
use mvidarr_core::keys;
use mvidarr_core::ports::blob::body_of;
use mvidarr_core::ports::{BlobStore, Condition, Item, Page, Query, Table, TableError, WriteOp};
use mvidarr_core::repo::{AnalyticsRepo, FoldPlan};
use mvidarr_store_local::blob::LocalBlobStore;
use mvidarr_store_local::stores_in;
use mvidarr_store_local::table::SqliteTable;

/// The embedded table, whose transactions start failing after a budget of them: a fold cut
/// short at any point.
#[derive(Clone)]
struct CrashingTable {
    table: Arc<SqliteTable>,
    transactions_left: Arc<AtomicUsize>,
}

impl CrashingTable {
    fn allow(&self, transactions: usize) {
        self.transactions_left.store(transactions, Ordering::SeqCst);
    }
}

impl Table for CrashingTable {
    async fn get(&self, pk: &str, sk: &str) -> Result<Option<Item>, TableError> {
        self.table.get(pk, sk).await
    }
    async fn get_many(&self, keys: &[(String, String)]) -> Result<Vec<Option<Item>>, TableError> {
        self.table.get_many(keys).await
    }
    async fn put(&self, item: Item, condition: Condition) -> Result<(), TableError> {
        self.table.put(item, condition).await
    }
    async fn delete(&self, pk: &str, sk: &str, condition: Condition) -> Result<(), TableError> {
        self.table.delete(pk, sk, condition).await
    }
    async fn query(&self, query: Query) -> Result<Page, TableError> {
        self.table.query(query).await
    }
    async fn transact_write(&self, ops: Vec<WriteOp>) -> Result<(), TableError> {
        let left = self.transactions_left.load(Ordering::SeqCst);
        if left == 0 {
            return Err(TableError::Transient("crashed (test)".into()));
        }
        self.transactions_left.store(left - 1, Ordering::SeqCst);
        self.table.transact_write(ops).await
    }
}

struct Fixture {
    blobs: LocalBlobStore,
    table: CrashingTable,
    tenant: TenantId,
    _dir: tempfile::TempDir,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let (blobs, table) = stores_in(dir.path()).unwrap();
    Fixture {
        blobs,
        table: CrashingTable {
            table: Arc::new(table),
            transactions_left: Arc::new(AtomicUsize::new(usize::MAX)),
        },
        tenant: TenantId::generate(),
        _dir: dir,
    }
}

fn day(d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, d).unwrap()
}

/// `batches` batches of 100 plays on 24 November (hour = batch % 24), over 250 media (more
/// than a rollup part holds), each with its own user; a third of the batches also have plays
/// on the 25th.
fn batches(tenant: TenantId, media: &[MediaId], batches: usize) -> Vec<EventBatch> {
    (0..batches)
        .map(|b| {
            let events = (0..100)
                .map(|i| {
                    let next_day = b % 3 == 0 && i % 10 == 0;
                    AnalyticsEvent {
                        media: Some(media[(b * 100 + i) % media.len()]),
                        user: Some(ProfileId::generate()),
                        watch_ms: Some(1000),
                        ..AnalyticsEvent::platform(
                            AnalyticsKind::Client(EventKind::Play),
                            format!("play-{b}-{i}"),
                            Utc.with_ymd_and_hms(2026, 11, 24 + u32::from(next_day), 12, 0, 0)
                                .unwrap(),
                        )
                    }
                })
                .collect();
            EventBatch::new(tenant, events)
        })
        .collect()
}

fn media() -> Vec<MediaId> {
    (0..250).map(|_| MediaId::generate()).collect()
}

impl Fixture {
    async fn ingest(&self, batches: &[EventBatch]) {
        for batch in batches {
            ingest(&self.blobs, &self.table, batch).await.unwrap();
        }
    }

    /// The rollups' plays on the two days: the tenant's, and summed over the media's.
    async fn plays(&self, media: &[MediaId]) -> (u64, u64) {
        let repo = AnalyticsRepo::new(&self.table);
        let range = TimeRange::parse("2026-11-24", "2026-11-26", Granularity::Day).unwrap();
        let days = repo.tenant_days(self.tenant, range).await.unwrap();
        let tenant = days.values().map(|d| d.totals().plays).sum();
        let mut by_media = 0;
        for m in media {
            let days = repo.media_days(self.tenant, *m, range).await.unwrap();
            by_media += days.values().map(|d| d.counters.plays).sum::<u64>();
        }
        (tenant, by_media)
    }
}

#[tokio::test]
async fn many_batches_fold_into_one_write_per_media_day() {
    let f = fixture();
    let media = media();
    let batches = batches(f.tenant, &media, 30);
    f.ingest(&batches).await;
    assert_eq!(
        f.plays(&media).await,
        (0, 0),
        "nothing counted before the fold"
    );

    let folded = fold_pending(&f.blobs, &f.table, f.tenant).await.unwrap();
    assert_eq!((folded.plans, folded.events), (2, 3000), "{folded:?}");
    // 40 batch files: 30 on the 24th, 10 on the 25th.
    assert_eq!(folded.batches, 40);
    // Every media once a day it was watched, plus each day's tenant and all-time items (a
    // batch at a time wrote each batch's media, ~100 items a batch).
    let watched = |d: u32| {
        let media: std::collections::HashSet<MediaId> = batches
            .iter()
            .flat_map(|b| &b.events)
            .filter(|e| e.date() == day(d))
            .filter_map(|e| e.media)
            .collect();
        media.len()
    };
    assert_eq!((watched(24), watched(25)), (250, 25));
    assert_eq!(folded.rollups.items_written, 250 + 25 + 2 * 2);
    assert_eq!(f.plays(&media).await, (3000, 3000));

    let repo = AnalyticsRepo::new(&f.table);
    assert!(repo.pending_days(f.tenant).await.unwrap().is_empty());
    assert_eq!(repo.fold_plan(f.tenant, day(24)).await.unwrap(), None);
    let applied = repo.applied_batches(f.tenant, day(24)).await.unwrap();
    for batch in &batches {
        assert!(applied.contains(&batch.id), "batch {} marked", batch.id);
    }
    // The day's ranking is the media's day totals: 250 media, 3000 plays less the 25th's.
    let range = TimeRange::parse("2026-11-24", "2026-11-25", Granularity::Day).unwrap();
    let day24 = &repo.tenant_days(f.tenant, range).await.unwrap()[&day(24)];
    assert_eq!(day24.top_media.len(), 100);
    let best = &day24.top_media[0];
    let best_total = repo.media_days(f.tenant, best.media, range).await.unwrap()[&day(24)]
        .counters
        .plays;
    assert_eq!(best.counters.plays, best_total);

    // Folding again finds nothing; delivering a batch again writes nothing.
    let again = fold_pending(&f.blobs, &f.table, f.tenant).await.unwrap();
    assert_eq!(again.plans, 0);
    let redelivered = ingest(&f.blobs, &f.table, &batches[0]).await.unwrap();
    assert_eq!(redelivered.files, 0);
    assert_eq!(f.plays(&media).await, (3000, 3000));
}

#[tokio::test]
async fn a_fold_cut_short_anywhere_is_finished_by_the_next_and_counts_once() {
    // The 24th's fold is 5 transactions (three parts of its 250 media, the tenant part, the
    // 30 batches' markers), then the 25th's 3 (25 media, tenant, 10 markers). Crash after
    // each number of them in turn.
    for budget in 0..10 {
        let f = fixture();
        let media = media();
        f.ingest(&batches(f.tenant, &media, 30)).await;
        f.table.allow(budget);
        let crashed = fold_pending(&f.blobs, &f.table, f.tenant).await;
        f.table.allow(usize::MAX);
        assert_eq!(crashed.is_err(), budget < 8, "budget {budget}: {crashed:?}");
        let finished = fold_pending(&f.blobs, &f.table, f.tenant).await.unwrap();
        assert_eq!(
            f.plays(&media).await,
            (3000, 3000),
            "budget {budget}: {finished:?}"
        );
        let repo = AnalyticsRepo::new(&f.table);
        assert!(repo.pending_days(f.tenant).await.unwrap().is_empty());
        for date in [day(24), day(25)] {
            assert_eq!(repo.fold_plan(f.tenant, date).await.unwrap(), None);
        }
    }
}

#[tokio::test]
async fn folds_running_at_once_count_each_batch_once() {
    let f = fixture();
    let media = media();
    f.ingest(&batches(f.tenant, &media, 30)).await;
    let (a, b, c) = tokio::join!(
        fold_day(&f.blobs, &f.table, f.tenant, day(24)),
        fold_day(&f.blobs, &f.table, f.tenant, day(24)),
        fold_pending(&f.blobs, &f.table, f.tenant),
    );
    let (a, b, c) = (a.unwrap(), b.unwrap(), c.unwrap());
    assert!(a.plans + b.plans + c.plans >= 2, "{a:?} {b:?} {c:?}");
    assert_eq!(f.plays(&media).await, (3000, 3000));
}

#[tokio::test]
async fn a_plan_listed_before_another_fold_finished_is_not_stored() {
    let f = fixture();
    let media = media();
    let all = batches(f.tenant, &media, 10);
    f.ingest(&all).await;
    let repo = AnalyticsRepo::new(&f.table);
    // This fold reads the day's record (none yet) and lists the files; before it stores its
    // plan, another fold runs from start to end.
    let read = repo.fold_record(f.tenant, day(24)).await.unwrap();
    assert_eq!(read, None);
    let stale = FoldPlan {
        id: "fold-late".into(),
        batches: all.iter().map(|b| b.id.clone()).collect(),
        done: false,
    };
    fold_day(&f.blobs, &f.table, f.tenant, day(24))
        .await
        .unwrap();
    assert_eq!(
        repo.start_fold(f.tenant, day(24), &stale, None)
            .await
            .unwrap(),
        None
    );
    // Nor over the finished record as it was before the other fold's.
    let done = repo.fold_record(f.tenant, day(24)).await.unwrap().unwrap();
    assert!(done.plan.done && done.plan.batches.is_empty(), "{done:?}");
    assert_eq!(
        repo.start_fold(f.tenant, day(24), &stale, Some(done.version + 1))
            .await
            .unwrap(),
        None
    );
    // The 24th's plays once (the 25th's 40 are not folded here).
    assert_eq!(f.plays(&media).await.0, 960);
}

#[tokio::test]
async fn files_written_during_a_fold_wait_for_the_next() {
    let f = fixture();
    let media = media();
    let all = batches(f.tenant, &media, 20);
    f.ingest(&all[..10]).await;
    // The 24th is noted before the fold reads its note; the file written after it renews it.
    let repo = AnalyticsRepo::new(&f.table);
    let noted = repo.pending_days(f.tenant).await.unwrap();
    fold_day(&f.blobs, &f.table, f.tenant, day(24))
        .await
        .unwrap();
    f.ingest(&all[10..]).await;
    for (date, version) in noted {
        assert!(
            !repo.clear_pending(f.tenant, date, version).await.unwrap(),
            "{date}: renewed by the later files"
        );
    }
    let later = fold_pending(&f.blobs, &f.table, f.tenant).await.unwrap();
    // The 24th's of the last ten, and the 25th's of all twenty (none folded before).
    assert_eq!(later.events, 970 + 70, "{later:?}");
    assert_eq!(f.plays(&media).await, (2000, 2000));
    assert!(repo.pending_days(f.tenant).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_file_that_is_no_events_file_is_reported_and_the_rest_counted() {
    let f = fixture();
    let media = media();
    f.ingest(&batches(f.tenant, &media, 3)).await;
    let key = keys::blob::analytics_events(f.tenant, day(24), "0badf11e");
    f.blobs
        .put(&key, body_of(b"not parquet".to_vec()), None)
        .await
        .unwrap();
    let folded = fold_pending(&f.blobs, &f.table, f.tenant).await.unwrap();
    assert_eq!((folded.batches, folded.unreadable), (4, 1), "{folded:?}");
    assert_eq!(f.plays(&media).await, (300, 300));
    // Marked done: it is not read again.
    let again = fold_day(&f.blobs, &f.table, f.tenant, day(24))
        .await
        .unwrap();
    assert_eq!(again.plans, 0);
    assert!(
        f.blobs.get(&key).await.is_ok(),
        "the file is kept for someone to look at"
    );
}
