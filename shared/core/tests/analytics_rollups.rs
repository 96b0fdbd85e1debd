//! Rollups in the embedded table: applied once per batch however often it is delivered,
//! never losing a concurrent batch's counts, read back by day and month.

use std::collections::BTreeMap;

use chrono::{NaiveDate, TimeZone, Utc};
use mvidarr_core::Timestamp;
use mvidarr_core::analytics::{
    AnalyticsEvent, AnalyticsKind, Counters, Granularity, TimeRange, aggregate, summarize,
};
use mvidarr_core::event::EventKind;
use mvidarr_core::ids::{MediaId, ProfileId, TenantId};
use mvidarr_core::repo::AnalyticsRepo;
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
