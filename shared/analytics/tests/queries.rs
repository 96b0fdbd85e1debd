//! Every report query on DataFusion over the Parquet files the ingest wrote, checked against
//! the rollups the same ingest wrote: the two paths agree on every figure.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use mvidarr_analytics::query::{LocalEngine, QueryEngine, ReportQuery, Rows};
use mvidarr_analytics::synthetic::{self, Stream};
use mvidarr_core::analytics::report::Cell;
use mvidarr_core::analytics::{Counters, Granularity, TimeRange, summarize};
use mvidarr_core::ids::{MediaId, TenantId};
use mvidarr_core::repo::AnalyticsRepo;
use mvidarr_store_local::stores_in;
use mvidarr_store_local::table::SqliteTable;

struct Fixture {
    blobs_root: std::path::PathBuf,
    table: SqliteTable,
    tenant: TenantId,
    _dir: tempfile::TempDir,
}

/// 6,000 events over three days (24–26 Nov 2026), ingested in batches of 500.
async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let (blobs, table) = stores_in(dir.path()).unwrap();
    let blobs_root = blobs.root().to_owned();
    let tenant = TenantId::generate();
    synthetic::ingest_stream(
        &blobs,
        &table,
        tenant,
        &Stream::three_days(3, 6000, 40, 60),
        500,
    )
    .await
    .unwrap();
    Fixture {
        blobs_root,
        table,
        tenant,
        _dir: dir,
    }
}

fn int(row: &[Cell], rows: &Rows, name: &str) -> u64 {
    match &row[rows
        .column(name)
        .unwrap_or_else(|| panic!("no column {name}"))]
    {
        Cell::Integer(n) => *n as u64,
        Cell::Empty => 0,
        other => panic!("{name}: {other:?}"),
    }
}

/// The counters a daily row holds, as rollup counters.
fn counters(row: &[Cell], rows: &Rows) -> Counters {
    Counters {
        uploads: int(row, rows, "uploads"),
        quarantines: int(row, rows, "quarantines"),
        analyses: int(row, rows, "analyses"),
        analysis_failures: int(row, rows, "analysis_failures"),
        tags_accepted: int(row, rows, "tags_accepted"),
        tags_rejected: int(row, rows, "tags_rejected"),
        views: int(row, rows, "views"),
        plays: int(row, rows, "plays"),
        completions: int(row, rows, "completions"),
        likes: int(row, rows, "likes"),
        skips: int(row, rows, "skips"),
        watch_ms: int(row, rows, "watch_ms"),
        api_calls: int(row, rows, "api_calls"),
        ..Counters::default()
    }
}

/// The rollup counters of the columns the daily query has.
fn comparable(c: &Counters) -> Counters {
    Counters {
        searches: 0,
        api_client_errors: 0,
        api_server_errors: 0,
        ..c.clone()
    }
}

#[tokio::test]
async fn every_query_agrees_with_the_rollups() {
    let f = fixture().await;
    let engine = LocalEngine::new(&f.blobs_root);
    let repo = AnalyticsRepo::new(&f.table);
    let range = TimeRange::parse("2026-11-24", "2026-11-27", Granularity::Day).unwrap();
    let days = repo.tenant_days(f.tenant, range).await.unwrap();
    assert_eq!(days.len(), 3);

    let daily = engine
        .run(f.tenant, range, ReportQuery::Daily)
        .await
        .unwrap();
    assert_eq!(daily.rows.len(), 3);
    let mut all = Counters::default();
    for row in &daily.rows {
        let Cell::Date(date) = row[0] else {
            panic!("{:?}", row[0])
        };
        let from_sql = counters(row, &daily);
        assert_eq!(from_sql, comparable(&days[&date].totals()), "{date}");
        // Distinct users: exact in SQL, estimated in the rollups (within 2% here).
        let (exact, estimate) = (
            int(row, &daily, "unique_users") as f64,
            days[&date].users.estimate() as f64,
        );
        assert!(
            (estimate / exact - 1.0).abs() < 0.02,
            "{date}: {exact} vs {estimate}"
        );
        all.add(&from_sql);
    }
    let summary = summarize(&days, range, Granularity::Day);
    assert_eq!(all, comparable(&summary.totals));

    let top = engine
        .run(f.tenant, range, ReportQuery::TopMedia { limit: 10 })
        .await
        .unwrap();
    assert_eq!(top.rows.len(), 10);
    for row in &top.rows {
        let Cell::Text(id) = &row[0] else {
            panic!("{:?}", row[0])
        };
        let media: MediaId = id.parse().unwrap();
        let media_days = repo.media_days(f.tenant, media, range).await.unwrap();
        let mut total = Counters::default();
        for d in media_days.values() {
            total.add(&d.counters);
        }
        assert_eq!(
            (
                int(row, &top, "plays"),
                int(row, &top, "views"),
                int(row, &top, "completions"),
                int(row, &top, "watch_ms")
            ),
            (total.plays, total.views, total.completions, total.watch_ms),
            "{media}"
        );
    }
    let plays: Vec<u64> = top.rows.iter().map(|r| int(r, &top, "plays")).collect();
    assert!(plays.windows(2).all(|w| w[0] >= w[1]), "{plays:?}");

    let analyses = engine
        .run(f.tenant, range, ReportQuery::Analyses)
        .await
        .unwrap();
    let sum = |rows: &Rows, name: &str| rows.rows.iter().map(|r| int(r, rows, name)).sum::<u64>();
    assert_eq!(sum(&analyses, "analyses"), summary.totals.analyses);
    assert_eq!(sum(&analyses, "failures"), summary.totals.analysis_failures);
    let quarantines = engine
        .run(f.tenant, range, ReportQuery::Quarantines)
        .await
        .unwrap();
    assert_eq!(sum(&quarantines, "uploads"), summary.totals.quarantines);
    assert_eq!(quarantines.rows.len(), 3, "three reasons");
    let decisions = engine
        .run(f.tenant, range, ReportQuery::TagDecisions)
        .await
        .unwrap();
    assert_eq!(sum(&decisions, "accepted"), summary.totals.tags_accepted);
    assert_eq!(sum(&decisions, "rejected"), summary.totals.tags_rejected);
    let by_tag: BTreeMap<String, u64> = summary
        .top_tags
        .iter()
        .map(|t| (t.tag.clone(), t.accepted + t.rejected))
        .collect();
    let mut sql_by_tag: BTreeMap<String, u64> = BTreeMap::new();
    for row in &decisions.rows {
        let Cell::Text(tag) = &row[0] else { panic!() };
        *sql_by_tag.entry(tag.clone()).or_default() +=
            int(row, &decisions, "accepted") + int(row, &decisions, "rejected");
    }
    assert_eq!(sql_by_tag, by_tag);
}

#[tokio::test]
async fn ranges_cut_to_the_hour_and_empty_ones_are_empty() {
    let f = fixture().await;
    let engine = LocalEngine::new(&f.blobs_root);
    let days = AnalyticsRepo::new(&f.table)
        .tenant_days(
            f.tenant,
            TimeRange::parse("2026-11-24", "2026-11-27", Granularity::Day).unwrap(),
        )
        .await
        .unwrap();
    let range = TimeRange::parse(
        "2026-11-24T06:00:00Z",
        "2026-11-25T18:00:00Z",
        Granularity::Hour,
    )
    .unwrap();
    let daily = engine
        .run(f.tenant, range, ReportQuery::Daily)
        .await
        .unwrap();
    let mut from_sql = Counters::default();
    for row in &daily.rows {
        from_sql.add(&counters(row, &daily));
    }
    assert_eq!(
        from_sql,
        comparable(&summarize(&days, range, Granularity::Hour).totals)
    );
    assert!(from_sql.plays > 0);

    let nothing = TimeRange::parse("2020-01-01", "2020-01-02", Granularity::Day).unwrap();
    for query in [
        ReportQuery::Daily,
        ReportQuery::TopMedia { limit: 5 },
        ReportQuery::TagDecisions,
    ] {
        assert!(
            engine
                .run(f.tenant, nothing, query)
                .await
                .unwrap()
                .rows
                .is_empty()
        );
        // A tenant without a single event yet.
        let none = engine
            .run(TenantId::generate(), range, query)
            .await
            .unwrap();
        assert!(none.rows.is_empty(), "{none:?}");
    }
    let _ = NaiveDate::MIN;
}
