//! Rollups in the embedded table: applied once per batch however often it is delivered,
//! never losing a concurrent batch's counts, read back by day and month.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::{NaiveDate, TimeZone, Utc};
use mvidarr_core::Timestamp;
use mvidarr_core::analytics::{
    AnalyticsEvent, AnalyticsKind, Counters, Granularity, TenantDay, TimeRange, aggregate,
    summarize,
};
use mvidarr_core::event::EventKind;
use mvidarr_core::external::ExternalId;
use mvidarr_core::ids::{MediaId, ProfileId, TenantId};
use mvidarr_core::keys::table as keys;
use mvidarr_core::media::CatalogueEntry;
use mvidarr_core::metadata::VideoMetadata;
use mvidarr_core::ports::{Condition, Item, Page, Query, Table, TableError, WriteOp};
use mvidarr_core::repo::{AnalyticsRepo, MOVE_GRACE, MediaRepo, RollupCache};
use mvidarr_store_local::db::Database;
use mvidarr_store_local::table::SqliteTable;
use tempfile::TempDir;

fn table() -> (SqliteTable, TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(&dir.path().join("t.db")).unwrap();
    (SqliteTable::new(db).unwrap(), dir)
}

fn at(month: u32, day: u32, hour: u32) -> Timestamp {
    Utc.with_ymd_and_hms(2026, month, day, hour, 15, 0).unwrap()
}

fn play(media: MediaId, user: ProfileId, when: Timestamp, n: usize) -> AnalyticsEvent {
    AnalyticsEvent {
        media: Some(media),
        user: Some(user),
        watch_ms: Some(60_000),
        ..AnalyticsEvent::platform(
            AnalyticsKind::Client(EventKind::Play),
            format!("play-{media}-{n}"),
            when,
        )
    }
}

/// `n` plays spread over `media` and two days (31 Oct and 1 Nov), a user per media.
fn plays(media: &[MediaId], n: usize) -> Vec<AnalyticsEvent> {
    (0..n)
        .map(|i| {
            let when = if i % 2 == 0 {
                at(10, 31, 23)
            } else {
                at(11, 1, 0)
            };
            play(media[i % media.len()], ProfileId::generate(), when, i)
        })
        .collect()
}

fn both_days() -> TimeRange {
    TimeRange::parse("2026-10-31", "2026-11-02", Granularity::Day).unwrap()
}

async fn total_plays(repo: &AnalyticsRepo<'_, SqliteTable>, tenant: TenantId) -> u64 {
    let days = repo.tenant_days(tenant, both_days()).await.unwrap();
    days.values().map(|d| d.totals().plays).sum()
}

#[tokio::test]
async fn a_batch_delivered_twice_counts_once_across_parts_and_days() {
    let (table, _dir) = table();
    let repo = AnalyticsRepo::new(&table);
    let tenant = TenantId::generate();
    // 251 media on each day: three media parts per day, plus the tenant day.
    let media: Vec<MediaId> = (0..251).map(|_| MediaId::generate()).collect();
    let events = plays(&media, 1000);
    let deltas = aggregate(&events);
    let first = repo.apply(tenant, "batch-1", &deltas).await.unwrap();
    assert_eq!((first.parts_applied, first.parts_skipped), (8, 0));
    // Each day: its 251 media, the tenant day and the all-time totals.
    assert_eq!(first.items_written, 2 * (251 + 2));
    let again = repo.apply(tenant, "batch-1", &deltas).await.unwrap();
    assert_eq!(
        (
            again.parts_applied,
            again.parts_skipped,
            again.items_written
        ),
        (0, 8, 0)
    );
    assert_eq!(total_plays(&repo, tenant).await, 1000);
    assert_eq!(repo.all_time(tenant).await.unwrap().totals().plays, 1000);
    assert!(
        repo.all_time(TenantId::generate())
            .await
            .unwrap()
            .totals()
            .is_empty()
    );

    let days = repo.tenant_days(tenant, both_days()).await.unwrap();
    let oct31 = &days[&NaiveDate::from_ymd_opt(2026, 10, 31).unwrap()];
    assert_eq!(oct31.hours[&23].plays, 500);
    assert_eq!(oct31.hours[&23].watch_ms, 500 * 60_000);
    assert_eq!(oct31.top_media.len(), 100);
    assert_eq!(oct31.top_media[0].counters.plays, 2);
    // Users are estimated (HyperLogLog past 128).
    let users = oct31.users.estimate();
    assert!((485..=515).contains(&users), "{users}");

    let one = repo
        .media_days(tenant, media[0], both_days())
        .await
        .unwrap();
    let plays_of_one: Vec<u64> = one.values().map(|d| d.counters.plays).collect();
    assert_eq!(plays_of_one, [2, 2]);
}

#[tokio::test]
async fn concurrent_batches_on_the_same_items_lose_nothing() {
    let (table, _dir) = table();
    let repo = AnalyticsRepo::new(&table);
    let tenant = TenantId::generate();
    let media: Vec<MediaId> = (0..30).map(|_| MediaId::generate()).collect();
    let batches: Vec<BTreeMap<NaiveDate, _>> =
        (0..8).map(|_| aggregate(&plays(&media, 120))).collect();
    // Every batch, and the first one delivered twice at once.
    let runs = batches
        .iter()
        .enumerate()
        .chain([(0, &batches[0])])
        .map(|(i, deltas)| {
            let repo = &repo;
            async move { repo.apply(tenant, &format!("b{i}"), deltas).await }
        });
    let outcomes = futures_util::future::join_all(runs).await;
    for o in outcomes {
        o.unwrap();
    }
    assert_eq!(total_plays(&repo, tenant).await, 8 * 120);
    // Every media's day totals equal what its day ranking shows.
    let days = repo.tenant_days(tenant, both_days()).await.unwrap();
    for (date, day) in &days {
        for ranked in &day.top_media {
            let media_days = repo
                .media_days(tenant, ranked.media, both_days())
                .await
                .unwrap();
            assert_eq!(media_days[date].counters, ranked.counters);
        }
    }
}

#[tokio::test]
async fn ranges_read_whole_months_and_keep_only_their_days() {
    let (table, _dir) = table();
    let repo = AnalyticsRepo::new(&table);
    let tenant = TenantId::generate();
    let other = TenantId::generate();
    let m = MediaId::generate();
    let events: Vec<AnalyticsEvent> = [at(9, 30, 1), at(10, 1, 1), at(10, 31, 1), at(11, 1, 1)]
        .into_iter()
        .map(|when| AnalyticsEvent::analysis_done(MediaId::generate(), true, 1000, when))
        .chain([play(m, ProfileId::generate(), at(10, 15, 3), 0)])
        .collect();
    repo.apply(tenant, "b", &aggregate(&events)).await.unwrap();
    repo.apply(other, "b", &aggregate(&events)).await.unwrap();
    let october = TimeRange::parse("2026-10-01", "2026-11-01", Granularity::Day).unwrap();
    let days = repo.tenant_days(tenant, october).await.unwrap();
    let dates: Vec<String> = days.keys().map(|d| d.to_string()).collect();
    assert_eq!(dates, ["2026-10-01", "2026-10-15", "2026-10-31"]);
    let summary = summarize(&days, october, Granularity::Day);
    assert_eq!(
        summary.totals,
        Counters {
            analyses: 2,
            plays: 1,
            watch_ms: 60_000,
            ..Counters::default()
        }
    );
    assert_eq!(summary.top_media[0].media, m);
    assert!(
        repo.media_days(tenant, MediaId::generate(), october)
            .await
            .unwrap()
            .is_empty()
    );
}

/// The embedded table, counting the items read with their data (gets and full queries; a
/// keys-only query reads none).
struct CountingReads {
    table: SqliteTable,
    data_reads: AtomicUsize,
}

fn counting_table() -> (CountingReads, TempDir) {
    let (table, dir) = table();
    let table = CountingReads {
        table,
        data_reads: AtomicUsize::new(0),
    };
    (table, dir)
}

impl CountingReads {
    fn data_reads(&self) -> usize {
        self.data_reads.load(Ordering::SeqCst)
    }
}

impl Table for CountingReads {
    async fn get(&self, pk: &str, sk: &str) -> Result<Option<Item>, TableError> {
        let item = self.table.get(pk, sk).await?;
        self.data_reads
            .fetch_add(usize::from(item.is_some()), Ordering::SeqCst);
        Ok(item)
    }
    async fn put(&self, item: Item, condition: Condition) -> Result<(), TableError> {
        self.table.put(item, condition).await
    }
    async fn delete(&self, pk: &str, sk: &str, condition: Condition) -> Result<(), TableError> {
        self.table.delete(pk, sk, condition).await
    }
    async fn query(&self, query: Query) -> Result<Page, TableError> {
        let keys_only = query.keys_only;
        let page = self.table.query(query).await?;
        if !keys_only {
            self.data_reads
                .fetch_add(page.items.len(), Ordering::SeqCst);
        }
        Ok(page)
    }
    async fn transact_write(&self, ops: Vec<WriteOp>) -> Result<(), TableError> {
        self.table.transact_write(ops).await
    }
}

/// Cached and uncached reads of `range` agree; returns the data reads the cached one made.
async fn cached_read_agrees(
    table: &CountingReads,
    cache: &RollupCache,
    tenant: TenantId,
    range: TimeRange,
) -> usize {
    let repo = AnalyticsRepo::new(table);
    let before = table.data_reads();
    let cached = repo.cached_tenant_days(tenant, range, cache).await.unwrap();
    let all_time = repo.cached_all_time(tenant, cache).await.unwrap();
    let reads = table.data_reads() - before;
    let uncached = repo.tenant_days(tenant, range).await.unwrap();
    let cached: BTreeMap<NaiveDate, TenantDay> = cached
        .into_iter()
        .map(|(d, day)| (d, (*day).clone()))
        .collect();
    assert_eq!(cached, uncached);
    assert_eq!(*all_time, repo.all_time(tenant).await.unwrap());
    reads
}

#[tokio::test]
async fn cached_days_are_read_again_only_once_changed() {
    let (table, _dir) = counting_table();
    let repo = AnalyticsRepo::new(&table);
    let cache = RollupCache::default();
    let (tenant, other) = (TenantId::generate(), TenantId::generate());
    let media: Vec<MediaId> = (0..3).map(|_| MediaId::generate()).collect();

    // Nothing yet: no days, the all-time rollup empty.
    assert_eq!(
        cached_read_agrees(&table, &cache, tenant, both_days()).await,
        0
    );

    repo.apply(tenant, "b1", &aggregate(&plays(&media, 10)))
        .await
        .unwrap();
    repo.apply(other, "b1", &aggregate(&plays(&media, 4)))
        .await
        .unwrap();
    // Cold: both days and the all-time rollup read, one by one.
    assert_eq!(
        cached_read_agrees(&table, &cache, tenant, both_days()).await,
        3
    );
    // Warm: nothing read.
    assert_eq!(
        cached_read_agrees(&table, &cache, tenant, both_days()).await,
        0
    );
    // The other tenant's days are its own, not the first tenant's cached ones.
    assert_eq!(
        cached_read_agrees(&table, &cache, other, both_days()).await,
        3
    );

    // A batch on 1 November only: that day and the all-time rollup read again.
    let late = vec![play(media[0], ProfileId::generate(), at(11, 1, 5), 99)];
    repo.apply(tenant, "b2", &aggregate(&late)).await.unwrap();
    assert_eq!(
        cached_read_agrees(&table, &cache, tenant, both_days()).await,
        2
    );
    assert_eq!(
        cached_read_agrees(&table, &cache, tenant, both_days()).await,
        0
    );
}

#[tokio::test]
async fn a_cold_cache_reads_a_month_at_a_time() {
    let (table, _dir) = counting_table();
    let repo = AnalyticsRepo::new(&table);
    let cache = RollupCache::default();
    let tenant = TenantId::generate();
    // A play on each day of 25 October to 5 November.
    let events: Vec<AnalyticsEvent> = (0..12)
        .map(|i| {
            let when = at(10, 25, 12) + chrono::Duration::days(i);
            play(MediaId::generate(), ProfileId::generate(), when, i as usize)
        })
        .collect();
    repo.apply(tenant, "b", &aggregate(&events)).await.unwrap();
    let range = TimeRange::parse("2026-10-27", "2026-11-04", Granularity::Day).unwrap();
    // The range's 8 days stale: its two months queried whole (7 + 5 days), not 8 gets; and
    // the all-time rollup.
    assert_eq!(
        cached_read_agrees(&table, &cache, tenant, range).await,
        12 + 1
    );
    assert_eq!(cached_read_agrees(&table, &cache, tenant, range).await, 0);
    let days = repo
        .cached_tenant_days(tenant, range, &cache)
        .await
        .unwrap();
    assert_eq!(days.len(), 8);
}

#[tokio::test]
async fn media_days_kept_by_media_move_to_their_days_once() {
    let (table, _dir) = table();
    let repo = AnalyticsRepo::new(&table);
    let tenant = TenantId::generate();
    let entries = ["a", "b", "c"].map(|id| CatalogueEntry {
        external_id: ExternalId::parse(id).unwrap(),
        metadata: VideoMetadata::default(),
    });
    let imported = MediaRepo::new(&table)
        .import_catalogue(tenant, entries.into(), Utc::now())
        .await
        .unwrap();
    let media: Vec<MediaId> = imported.iter().map(|i| i.id).collect();
    // Before the upgrade: 60 plays, 10 for each media on each day, kept by media.
    let old = aggregate(&plays(&media, 60));
    for (date, delta) in &old {
        for (m, day) in &delta.media {
            let mut item = Item::new(
                keys::legacy_analytics_media_days_pk(tenant, *m),
                keys::analytics_day_sk(*date),
                serde_json::to_value(day).unwrap(),
            );
            item.version = 3;
            table.put(item, Condition::Absent).await.unwrap();
        }
    }
    // After it, before the move: 30 more, kept by day.
    let new = aggregate(&plays(&media, 30));
    repo.apply(tenant, "after-upgrade", &new).await.unwrap();

    // Two moves at once (the scheduler's ticks overlapping) move each item once.
    let now = Utc::now();
    let (a, b) = tokio::join!(
        repo.move_media_days_by_day(tenant, now),
        repo.move_media_days_by_day(tenant, now)
    );
    let moved = a.unwrap().unwrap_or(0) + b.unwrap().unwrap_or(0);
    assert_eq!(moved, 6, "three media on two days");
    let soon = now + chrono::Duration::minutes(1);
    assert_eq!(
        repo.move_media_days_by_day(tenant, soon).await.unwrap(),
        None
    );
    // A function still on the old release writes one more; the second pass moves it.
    let straggler = &old[&NaiveDate::from_ymd_opt(2026, 10, 31).unwrap()].media[&media[0]];
    let mut item = Item::new(
        keys::legacy_analytics_media_days_pk(tenant, media[0]),
        "2026-10-31",
        serde_json::to_value(straggler).unwrap(),
    );
    item.version = 9;
    table.put(item, Condition::Absent).await.unwrap();
    let later = now + MOVE_GRACE;
    assert_eq!(
        repo.move_media_days_by_day(tenant, later).await.unwrap(),
        Some(1)
    );
    let much_later = later + MOVE_GRACE;
    assert_eq!(
        repo.move_media_days_by_day(tenant, much_later)
            .await
            .unwrap(),
        None
    );
    let plays_of = |days: &BTreeMap<NaiveDate, _>| -> u64 {
        days.values()
            .map(|d: &mvidarr_core::analytics::MediaDay| d.counters.plays)
            .sum()
    };
    let first = repo
        .media_days(tenant, media[0], both_days())
        .await
        .unwrap();
    assert_eq!(plays_of(&first), 40, "10 + 5 a day, and the straggler's 10");
    for m in &media[1..] {
        let days = repo.media_days(tenant, *m, both_days()).await.unwrap();
        assert_eq!(days.len(), 2);
        assert_eq!(plays_of(&days), 30);
    }
    for m in &media {
        let legacy = table
            .query(Query::partition(keys::legacy_analytics_media_days_pk(
                tenant, *m,
            )))
            .await
            .unwrap();
        assert!(legacy.items.is_empty(), "the old items are gone");
    }
}
