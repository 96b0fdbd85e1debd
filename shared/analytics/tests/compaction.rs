//! Compaction on the embedded stores: each closed day ends as one file, every report query
//! answers as before, a redelivered batch adds nothing, an unfinished batch waits, a run cut
//! short is finished by the next, and an erasure's rewrite keeps what compaction needs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{NaiveDate, TimeZone, Utc};
use mvidarr_analytics::compaction::{BATCHES_KEY, COMPACTED_PREFIX, compact, compact_today};
use mvidarr_analytics::parquet as events_file;
use mvidarr_analytics::query::{LocalEngine, QueryEngine, ReportQuery, Rows};
use mvidarr_analytics::retention::{ErasedSubject, RetentionError, pseudonymise};
use mvidarr_analytics::synthetic::{self, Stream};
use mvidarr_analytics::{IngestOutcome, fold_pending, ingest};
use mvidarr_core::Timestamp;
use mvidarr_core::analytics::{AnalyticsEvent, EventBatch, Granularity, TimeRange};
use mvidarr_core::ids::TenantId;
use mvidarr_core::keys;
use mvidarr_core::ports::BlobStore;
use mvidarr_core::ports::blob::body_of;
use mvidarr_store_local::blob::LocalBlobStore;
use mvidarr_store_local::stores_in;
use mvidarr_store_local::table::SqliteTable;
use parquet::file::reader::{FileReader, SerializedFileReader};

const QUERIES: [ReportQuery; 5] = [
    ReportQuery::Daily,
    ReportQuery::TopMedia { limit: 20 },
    ReportQuery::Analyses,
    ReportQuery::Quarantines,
    ReportQuery::TagDecisions,
];

struct Fixture {
    blobs: LocalBlobStore,
    root: PathBuf,
    table: SqliteTable,
    tenant: TenantId,
    events: Vec<AnalyticsEvent>,
    _dir: tempfile::TempDir,
}

/// 3,000 events over three days (24–26 Nov 2026), ingested in batches of 250: four batch
/// files a day at least.
async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let (blobs, table) = stores_in(dir.path()).unwrap();
    let root = blobs.root().to_owned();
    let tenant = TenantId::generate();
    let stream = Stream::three_days(11, 3000, 30, 40);
    let events = synthetic::ingest_stream(&blobs, &table, tenant, &stream, 250)
        .await
        .unwrap();
    Fixture {
        blobs,
        root,
        table,
        tenant,
        events,
        _dir: dir,
    }
}

impl Fixture {
    /// A batch ingested and folded, as the events function does.
    async fn ingest(&self, events: &[AnalyticsEvent]) -> IngestOutcome {
        let outcome = ingest(
            &self.blobs,
            &self.table,
            &EventBatch::new(self.tenant, events.to_vec()),
        )
        .await
        .unwrap();
        fold_pending(&self.blobs, &self.table, self.tenant)
            .await
            .unwrap();
        outcome
    }

    async fn answers(&self) -> Vec<Rows> {
        let engine = LocalEngine::new(&self.root);
        let range = TimeRange::parse("2026-11-24", "2026-11-27", Granularity::Day).unwrap();
        let mut answers = Vec::new();
        for query in QUERIES {
            answers.push(engine.run(self.tenant, range, query).await.unwrap());
        }
        answers
    }

    /// File names in each day's partition, sorted.
    fn files(&self) -> BTreeMap<NaiveDate, Vec<String>> {
        let mut days = BTreeMap::new();
        for d in [24, 25, 26] {
            let dir = self
                .root
                .join(keys::blob::analytics_partition(self.tenant, day(d)));
            let mut names: Vec<String> = std::fs::read_dir(&dir)
                .map(|entries| {
                    entries
                        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                        .filter(|n| n.ends_with(".parquet"))
                        .collect()
                })
                .unwrap_or_default();
            names.sort();
            days.insert(day(d), names);
        }
        days
    }

    fn path(&self, date: NaiveDate, name: &str) -> PathBuf {
        self.root
            .join(keys::blob::analytics_partition(self.tenant, date))
            .join(name)
    }

    /// Put a file back as it was (what a crash between a write and the deletes leaves).
    async fn put_back(&self, date: NaiveDate, name: &str, body: Vec<u8>) {
        let key = format!(
            "{}{name}",
            keys::blob::analytics_partition(self.tenant, date)
        );
        self.blobs
            .put(&key, body_of(body), Some(events_file::CONTENT_TYPE))
            .await
            .unwrap();
    }
}

fn day(d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, d).unwrap()
}

fn at(d: u32, hour: u32) -> Timestamp {
    Utc.with_ymd_and_hms(2026, 11, d, hour, 0, 0).unwrap()
}

fn batches_in(path: &Path) -> Vec<String> {
    let reader = SerializedFileReader::new(std::fs::File::open(path).unwrap()).unwrap();
    let list = reader
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .unwrap()
        .iter()
        .find(|kv| kv.key == BATCHES_KEY)
        .and_then(|kv| kv.value.clone())
        .unwrap();
    serde_json::from_str(&list).unwrap()
}

/// `events` events of one day (`d` November) from seed `seed`, as a late batch brings them.
fn late_events(seed: u64, d: u32, events: usize) -> Vec<AnalyticsEvent> {
    synthetic::events(&Stream {
        seed,
        events,
        start: at(d, 0),
        days: 1,
        media: 3,
        users: 3,
    })
}

fn only_compacted(names: &[String]) -> bool {
    names.len() == 1 && names[0].starts_with(COMPACTED_PREFIX)
}

#[tokio::test]
async fn each_closed_day_becomes_one_file_and_every_query_answers_as_before() {
    let f = fixture().await;
    let before = f.files();
    assert!(before.values().all(|names| names.len() >= 4), "{before:?}");
    let answers = f.answers().await;

    let outcome = compact(&f.blobs, &f.table, f.tenant, at(27, 1))
        .await
        .unwrap();
    assert_eq!(outcome.days_compacted, 3);
    assert_eq!(
        outcome.files_merged,
        before.values().map(Vec::len).sum::<usize>()
    );
    assert_eq!(outcome.rows, 3000);
    assert_eq!(outcome.batches_unfinished, 0);
    let after = f.files();
    for (date, names) in &after {
        assert!(only_compacted(names), "{date}: {names:?}");
        // The metadata names every batch that had a file that day.
        let mut held = batches_in(&f.path(*date, &names[0]));
        held.sort();
        let mut had: Vec<String> = before[date]
            .iter()
            .map(|n| n.trim_end_matches(".parquet").to_owned())
            .collect();
        had.sort();
        assert_eq!(held, had);
    }
    assert_eq!(f.answers().await, answers);

    // Nothing left to do: a second run changes nothing.
    let again = compact(&f.blobs, &f.table, f.tenant, at(27, 2))
        .await
        .unwrap();
    assert_eq!(again.days_compacted, 0);
    assert_eq!(again.leftovers_deleted, 0);
    assert_eq!(f.files(), after);
}

#[tokio::test]
async fn today_is_left_to_ingest() {
    let f = fixture().await;
    let before = f.files();
    let outcome = compact(&f.blobs, &f.table, f.tenant, at(26, 12))
        .await
        .unwrap();
    assert_eq!(outcome.days_compacted, 2);
    let after = f.files();
    assert!(only_compacted(&after[&day(24)]));
    assert!(only_compacted(&after[&day(25)]));
    assert_eq!(after[&day(26)], before[&day(26)]);
}

#[tokio::test]
async fn today_s_finished_batches_are_merged_hour_by_hour_and_closed_days_left_to_the_sweep() {
    let f = fixture().await;
    let before = f.files();
    // An unfinished batch of today: its file, no rollups yet.
    let unfinished = EventBatch::new(f.tenant, late_events(13, 26, 10));
    let unfinished_name = format!("{}.parquet", unfinished.id);
    f.put_back(
        day(26),
        &unfinished_name,
        events_file::encode(unfinished.events.iter()).unwrap(),
    )
    .await;
    let answers = f.answers().await;

    let first = compact_today(&f.blobs, &f.table, f.tenant, at(26, 13))
        .await
        .unwrap();
    assert_eq!((first.days_compacted, first.batches_unfinished), (1, 1));
    assert_eq!(first.files_merged, before[&day(26)].len());
    let after = f.files();
    assert_eq!(
        after[&day(24)],
        before[&day(24)],
        "closed days: the daily sweep's"
    );
    assert_eq!(after[&day(25)], before[&day(25)]);
    assert_eq!(after[&day(26)].len(), 2, "{:?}", after[&day(26)]);
    assert!(after[&day(26)].contains(&unfinished_name));
    assert_eq!(f.answers().await, answers);

    // The next hour: the batch is finished, and another came; both merge with the hour's
    // earlier file, and every query still answers as if nothing were merged.
    f.ingest(&unfinished.events).await;
    let another = late_events(14, 26, 20);
    f.ingest(&another).await;
    let answers = f.answers().await;
    let next = compact_today(&f.blobs, &f.table, f.tenant, at(26, 14))
        .await
        .unwrap();
    assert_eq!((next.days_compacted, next.files_merged), (1, 3));
    let merged = f.files();
    assert!(only_compacted(&merged[&day(26)]), "{:?}", merged[&day(26)]);
    let held = batches_in(&f.path(day(26), &merged[&day(26)][0]));
    assert!(held.contains(&unfinished.id));
    assert!(held.contains(&EventBatch::new(f.tenant, another.clone()).id));
    assert_eq!(held.len(), before[&day(26)].len() + 2);
    assert_eq!(f.answers().await, answers);

    // Once the day is over, the sweep leaves a day of one compacted file alone.
    let sweep = compact(&f.blobs, &f.table, f.tenant, at(27, 0))
        .await
        .unwrap();
    assert_eq!(f.files()[&day(26)], merged[&day(26)]);
    assert_eq!(sweep.days_compacted, 2, "the 24th and 25th");
}

#[tokio::test]
async fn a_batch_delivered_again_after_compaction_writes_no_file() {
    let f = fixture().await;
    let answers = f.answers().await;
    compact(&f.blobs, &f.table, f.tenant, at(27, 1))
        .await
        .unwrap();
    let compacted = f.files();

    let again = f.ingest(&f.events[..250]).await;
    assert_eq!(again.files, 0);
    assert!(again.days_already_applied >= 1);
    assert_eq!(f.files(), compacted);
    assert_eq!(f.answers().await, answers);
}

#[tokio::test]
async fn a_batch_the_rollups_do_not_count_yet_keeps_its_file() {
    let f = fixture().await;
    // A batch whose file was written but not folded yet (the fold comes later, or the
    // delivery is retried): it must not be merged yet.
    let late = late_events(12, 25, 10);
    let batch = EventBatch::new(f.tenant, late);
    let name = format!("{}.parquet", batch.id);
    f.put_back(
        day(25),
        &name,
        events_file::encode(batch.events.iter()).unwrap(),
    )
    .await;

    let outcome = compact(&f.blobs, &f.table, f.tenant, at(27, 1))
        .await
        .unwrap();
    assert_eq!(outcome.batches_unfinished, 1);
    let after = f.files();
    assert_eq!(after[&day(25)].len(), 2);
    assert!(after[&day(25)].contains(&name));

    // Folded, the batch is finished; the next run merges it.
    f.ingest(&batch.events).await;
    let next = compact(&f.blobs, &f.table, f.tenant, at(28, 1))
        .await
        .unwrap();
    assert_eq!((next.days_compacted, next.batches_unfinished), (1, 0));
    let merged = f.files();
    assert!(only_compacted(&merged[&day(25)]));
    assert!(batches_in(&f.path(day(25), &merged[&day(25)][0])).contains(&batch.id));
}

#[tokio::test]
async fn a_run_cut_short_is_finished_without_counting_twice() {
    let f = fixture().await;
    let answers = f.answers().await;
    let before = f.files();
    let originals: Vec<(String, Vec<u8>)> = before[&day(24)]
        .iter()
        .map(|n| (n.clone(), std::fs::read(f.path(day(24), n)).unwrap()))
        .collect();
    compact(&f.blobs, &f.table, f.tenant, at(27, 1))
        .await
        .unwrap();
    let first = f.files()[&day(24)][0].clone();
    let first_body = std::fs::read(f.path(day(24), &first)).unwrap();

    // A late batch for the 24th, merged by a second run into a second compacted file.
    let late = late_events(13, 24, 20);
    f.ingest(&late).await;
    let second = compact(&f.blobs, &f.table, f.tenant, at(28, 1))
        .await
        .unwrap();
    assert_eq!((second.days_compacted, second.files_merged), (1, 2));
    let with_late = f.answers().await;

    // The crash: the second run's inputs (the first compacted file) and the first run's
    // (the batch files) still there beside the newest compacted file.
    f.put_back(day(24), &first, first_body).await;
    for (name, body) in originals {
        f.put_back(day(24), &name, body).await;
    }
    assert!(f.files()[&day(24)].len() > 2);
    let finish = compact(&f.blobs, &f.table, f.tenant, at(28, 2))
        .await
        .unwrap();
    assert_eq!(finish.days_compacted, 0);
    assert_eq!(finish.leftovers_deleted, before[&day(24)].len() + 1);
    assert!(only_compacted(&f.files()[&day(24)]));
    assert_eq!(f.answers().await, with_late);
    assert_ne!(with_late, answers, "the late batch shows");
}

#[tokio::test]
async fn an_erasure_keeps_the_compacted_files_batches() {
    let f = fixture().await;
    compact(&f.blobs, &f.table, f.tenant, at(27, 1))
        .await
        .unwrap();
    let profile = f
        .events
        .iter()
        .find_map(|e| e.user)
        .expect("a client event with a profile");
    let erased = pseudonymise(&f.blobs, f.tenant, &ErasedSubject::Profile(profile))
        .await
        .unwrap();
    assert!(erased.files_rewritten >= 1);
    let files = f.files();
    for (date, names) in &files {
        assert!(
            !batches_in(&f.path(*date, &names[0])).is_empty(),
            "{date}: the rewrite dropped the batch list"
        );
    }
    // A late batch merges with the pseudonymised file (its user column no longer a profile
    // id) without trouble.
    let late = late_events(14, 25, 20);
    f.ingest(&late).await;
    let outcome = compact(&f.blobs, &f.table, f.tenant, at(28, 1))
        .await
        .unwrap();
    assert_eq!(outcome.days_compacted, 1);
    assert!(only_compacted(&f.files()[&day(25)]));
}

#[tokio::test]
async fn a_file_that_is_no_events_file_leaves_its_day_alone() {
    let f = fixture().await;
    f.put_back(day(25), "compacted-junk.parquet", b"not parquet".to_vec())
        .await;
    let before = f.files();
    let err = compact(&f.blobs, &f.table, f.tenant, at(27, 1))
        .await
        .unwrap_err();
    match &err {
        RetentionError::Unreadable(files) => {
            assert_eq!(files.len(), 1);
            assert!(
                files[0]
                    .key
                    .ends_with("date=2026-11-25/compacted-junk.parquet"),
                "{err}"
            );
        }
        other => panic!("{other}"),
    }
    let after = f.files();
    assert_eq!(after[&day(25)], before[&day(25)]);
    assert!(only_compacted(&after[&day(24)]));
    assert!(only_compacted(&after[&day(26)]));
}
