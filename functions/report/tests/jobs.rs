//! The report function on the embedded platform: jobs generated once into files the formats'
//! readers open, failures retried then failed with the reason, and the scheduler's tick making
//! one job per due run.

use aws_lambda_events::event::sqs::SqsEvent;
use chrono::{DateTime, Duration, Utc};
use mvidarr_analytics::query::LocalEngine;
use mvidarr_analytics::synthetic::{self, Stream};
use mvidarr_core::analytics::MediaDay;
use mvidarr_core::analytics::jobs::{
    Cadence, JobStatus, MAX_ATTEMPTS, ReportJob, ReportMessage, ReportSchedule, enqueue, run_id,
};
use mvidarr_core::analytics::report::{ReportFormat, ReportKind};
use mvidarr_core::analytics::summary::{Granularity, TimeRange};
use mvidarr_core::asl::StateMachine;
use mvidarr_core::external::ExternalId;
use mvidarr_core::ids::{ReportId, ScheduleId, TenantId};
use mvidarr_core::keys;
use mvidarr_core::media::CatalogueEntry;
use mvidarr_core::metadata::VideoMetadata;
use mvidarr_core::ports::blob::read_to_end;
use mvidarr_core::ports::{BlobStore, Condition, Item, Platform, Queue, Table};
use mvidarr_core::repo::{AnalyticsRepo, MediaRepo, ReportRepo, TenantRecord, TenantRepo};
use mvidarr_report_jobs::{JobOutcome, ReportFunction};
use mvidarr_store_local::{LocalConfig, LocalPlatform};

struct Fixture {
    function: ReportFunction<LocalPlatform, LocalEngine>,
    platform: LocalPlatform,
    tenant: TenantId,
    _dir: tempfile::TempDir,
}

impl Fixture {
    /// Files in the tenant's events partition of `d` November 2026.
    fn files_of(&self, d: u32) -> usize {
        let date = chrono::NaiveDate::from_ymd_opt(2026, 11, d).unwrap();
        let dir = self
            .platform
            .local_blobs()
            .root()
            .join(keys::blob::analytics_partition(self.tenant, date));
        std::fs::read_dir(dir).unwrap().count()
    }
}

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// A tenant with 3,000 synthetic events over 24–26 Nov 2026.
async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let platform = LocalPlatform::open(
        &LocalConfig {
            data_dir: dir.path().to_owned(),
            public_base_url: "http://127.0.0.1:9".into(),
            ingest_max_receives: 5,
        },
        StateMachine::pipeline().unwrap(),
    )
    .unwrap();
    let tenant = TenantId::generate();
    TenantRepo::new(platform.table())
        .create(&TenantRecord {
            id: tenant,
            name: "acme".into(),
            created_at: Utc::now(),
        })
        .await
        .unwrap();
    synthetic::ingest_stream(
        platform.blobs(),
        platform.table(),
        tenant,
        &Stream::three_days(11, 3000, 20, 30),
        500,
    )
    .await
    .unwrap();
    let engine = LocalEngine::new(platform.local_blobs().root());
    Fixture {
        function: ReportFunction::new(platform.clone(), engine),
        platform,
        tenant,
        _dir: dir,
    }
}

fn november(tenant: TenantId, kind: ReportKind, format: ReportFormat) -> ReportJob {
    ReportJob::queued(
        ReportId::generate(),
        tenant,
        kind,
        format,
        TimeRange {
            from: at("2026-11-01T00:00:00Z"),
            to: at("2026-12-01T00:00:00Z"),
        },
        "user:test".into(),
        Utc::now(),
    )
}

async fn file_of(platform: &LocalPlatform, key: &str) -> Vec<u8> {
    read_to_end(platform.blobs().get(key).await.unwrap(), 50 << 20)
        .await
        .unwrap()
}

async fn job(f: &Fixture, id: ReportId) -> ReportJob {
    ReportRepo::new(f.platform.table())
        .job(f.tenant, id)
        .await
        .unwrap()
        .unwrap()
        .record
}

#[tokio::test]
async fn a_job_is_generated_once_into_a_file_that_opens() {
    let f = fixture().await;
    let repo = ReportRepo::new(f.platform.table());
    for format in ReportFormat::ALL {
        let job = november(f.tenant, ReportKind::Trend, format);
        repo.create_job(&job).await.unwrap();
        let body = serde_json::to_string(&ReportMessage {
            tenant: f.tenant,
            id: job.id,
        })
        .unwrap();
        let JobOutcome::Done(file) = f.function.handle_message(&body).await.unwrap() else {
            panic!("{format}: not done: {:?}", job.status)
        };
        assert_eq!(
            file.key,
            keys::blob::report(f.tenant, job.id, format.as_str())
        );
        assert_eq!(file.content_type, format.content_type());
        assert!(!file.empty);
        assert_eq!(file.rows, 3, "{format}: one row per day");
        let bytes = file_of(&f.platform, &file.key).await;
        assert_eq!(bytes.len() as u64, file.bytes);
        match format {
            ReportFormat::Csv => assert!(String::from_utf8(bytes).unwrap().contains("2026-11-25")),
            ReportFormat::Pdf => assert!(bytes.starts_with(b"%PDF-")),
            ReportFormat::Xlsx => {
                use calamine::Reader;
                let mut book =
                    calamine::Xlsx::new(std::io::Cursor::new(bytes)).expect("a valid workbook");
                assert!(!book.sheet_names().is_empty());
                assert!(
                    book.worksheets()
                        .iter()
                        .any(|(_, range)| range.height() > 3)
                );
            }
        }
        let stored = self::job(&f, job.id).await;
        assert_eq!(stored.status, JobStatus::Done);
        assert_eq!(stored.attempts, 1);
        assert_eq!(stored.file.as_ref(), Some(&file));

        // Delivered again (at least once): nothing is made twice.
        let before = stored.finished_at;
        assert_eq!(
            f.function.handle_message(&body).await.unwrap(),
            JobOutcome::AlreadyFinished
        );
        assert_eq!(self::job(&f, job.id).await.finished_at, before);
    }
}

#[tokio::test]
async fn an_empty_range_is_a_report_that_says_so() {
    let f = fixture().await;
    let mut job = november(f.tenant, ReportKind::Engagement, ReportFormat::Pdf);
    job.from = at("2025-01-01T00:00:00Z");
    job.to = at("2025-02-01T00:00:00Z");
    ReportRepo::new(f.platform.table())
        .create_job(&job)
        .await
        .unwrap();
    let outcome = f
        .function
        .generate(ReportMessage {
            tenant: f.tenant,
            id: job.id,
        })
        .await
        .unwrap();
    let JobOutcome::Done(file) = outcome else {
        panic!("{outcome:?}")
    };
    assert!(file.empty);
    assert_eq!(file.rows, 0);
    assert!(file_of(&f.platform, &file.key).await.starts_with(b"%PDF-"));
}

#[tokio::test]
async fn unknown_jobs_and_malformed_messages_are_told_apart() {
    let f = fixture().await;
    // A job nobody stored (its tenant removed): dropped, not retried for ever.
    let outcome = f
        .function
        .generate(ReportMessage {
            tenant: f.tenant,
            id: ReportId::generate(),
        })
        .await
        .unwrap();
    assert_eq!(outcome, JobOutcome::Missing);
    // Not a message at all: an error every delivery, so the queue dead-letters it.
    assert!(matches!(
        f.function.handle_message("{\"nope\": 1}").await,
        Err(mvidarr_report_jobs::ReportError::Malformed(_))
    ));
}

#[tokio::test]
async fn a_query_that_keeps_failing_is_retried_then_failed_with_the_reason() {
    let f = fixture().await;
    // A damaged events file: every query over the range fails.
    let partition = f
        .platform
        .local_blobs()
        .root()
        .join(keys::blob::analytics_partition(
            f.tenant,
            chrono::NaiveDate::from_ymd_opt(2026, 11, 25).unwrap(),
        ));
    std::fs::write(partition.join("damaged.parquet"), b"not parquet").unwrap();
    let job = november(f.tenant, ReportKind::Trend, ReportFormat::Csv);
    ReportRepo::new(f.platform.table())
        .create_job(&job)
        .await
        .unwrap();
    let message = ReportMessage {
        tenant: f.tenant,
        id: job.id,
    };
    for attempt in 1..MAX_ATTEMPTS {
        let error = f.function.generate(message).await.unwrap_err();
        assert!(error.to_string().contains("query"), "{error}");
        let stored = self::job(&f, job.id).await;
        assert_eq!(
            (stored.status, stored.attempts),
            (JobStatus::Queued, attempt)
        );
        assert!(stored.error.is_some());
    }
    let JobOutcome::Failed(why) = f.function.generate(message).await.unwrap() else {
        panic!("the last attempt fails the job")
    };
    let stored = self::job(&f, job.id).await;
    assert_eq!(
        (stored.status, stored.attempts),
        (JobStatus::Failed, MAX_ATTEMPTS)
    );
    assert_eq!(stored.error.as_deref(), Some(why.as_str()));
    assert!(stored.file.is_none());
}

#[tokio::test]
async fn a_real_shaped_sqs_event_reports_only_the_failed_message() {
    let f = fixture().await;
    let job = november(f.tenant, ReportKind::LibraryOverview, ReportFormat::Csv);
    ReportRepo::new(f.platform.table())
        .create_job(&job)
        .await
        .unwrap();
    let good = serde_json::to_string(&ReportMessage {
        tenant: f.tenant,
        id: job.id,
    })
    .unwrap();
    let record = |id: &str, body: &str| {
        serde_json::json!({
            "messageId": id,
            "receiptHandle": format!("handle-{id}"),
            "body": body,
            "attributes": {
                "ApproximateReceiveCount": "1",
                "SentTimestamp": "1764144000000",
                "SenderId": "AIDAEXAMPLE",
                "ApproximateFirstReceiveTimestamp": "1764144000001"
            },
            "messageAttributes": {},
            "md5OfBody": "0",
            "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:eu-west-1:123456789012:reports",
            "awsRegion": "eu-west-1"
        })
    };
    let event: SqsEvent = serde_json::from_value(serde_json::json!({
        "Records": [record("m-1", &good), record("m-2", "not json")]
    }))
    .unwrap();
    let response = f.function.handle_sqs_event(event).await;
    let failed: Vec<&str> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    assert_eq!(failed, ["m-2"]);
    assert_eq!(self::job(&f, job.id).await.status, JobStatus::Done);
}

fn weekly(tenant: TenantId, next_run: DateTime<Utc>) -> ReportSchedule {
    ReportSchedule {
        id: ScheduleId::generate(),
        tenant,
        name: "weekly trend".into(),
        kind: ReportKind::Trend,
        format: ReportFormat::Xlsx,
        cron: "0 8 * * MON".into(),
        timezone: "Europe/Paris".into(),
        period_days: 7,
        enabled: true,
        created_by: "user:test".into(),
        created_at: next_run - Duration::days(30),
        updated_at: next_run - Duration::days(30),
        next_run,
        last_run: None,
        last_report: None,
    }
}

async fn queued_messages(platform: &LocalPlatform) -> Vec<ReportMessage> {
    let received = platform
        .reports_queue()
        .receive(
            10,
            std::time::Duration::from_secs(30),
            std::time::Duration::ZERO,
        )
        .await
        .unwrap();
    for m in &received {
        platform
            .reports_queue()
            .delete(&m.receipt_handle)
            .await
            .unwrap();
    }
    received
        .iter()
        .map(|m| serde_json::from_str(&m.body).unwrap())
        .collect()
}

#[tokio::test]
async fn a_due_schedule_makes_one_job_per_run_and_moves_on() {
    let f = fixture().await;
    let repo = ReportRepo::new(f.platform.table());
    // Due Monday 30 Nov 2026 08:00 in Paris (07:00 UTC).
    let first_run = at("2026-11-30T07:00:00Z");
    let schedule = weekly(f.tenant, first_run);
    repo.create_schedule(&schedule).await.unwrap();
    let later = weekly(f.tenant, at("2026-12-07T07:00:00Z"));
    repo.create_schedule(&later).await.unwrap();
    let mut off = weekly(f.tenant, first_run);
    off.enabled = false;
    repo.create_schedule(&off).await.unwrap();

    // Before it is due: nothing.
    let outcome = f.function.tick(at("2026-11-30T06:59:00Z")).await.unwrap();
    assert_eq!(outcome.scheduled, 0);
    assert!(queued_messages(&f.platform).await.is_empty());

    let now = at("2026-11-30T07:00:30Z");
    assert_eq!(f.function.tick(now).await.unwrap().scheduled, 1);
    let expected = run_id(schedule.id, first_run);
    assert_eq!(
        queued_messages(&f.platform).await,
        [ReportMessage {
            tenant: f.tenant,
            id: expected
        }]
    );
    let job = self::job(&f, expected).await;
    assert_eq!(job.schedule, Some(schedule.id));
    assert_eq!(job.status, JobStatus::Queued);
    // The seven Paris days before Monday 30 Nov.
    assert_eq!(
        (job.from, job.to),
        (at("2026-11-22T23:00:00Z"), at("2026-11-29T23:00:00Z"))
    );
    let moved = repo.schedule(f.tenant, schedule.id).await.unwrap().unwrap();
    assert_eq!(moved.record.next_run, at("2026-12-07T07:00:00Z"));
    assert_eq!(moved.record.last_run, Some(first_run));
    assert_eq!(moved.record.last_report, Some(expected));

    // The same minute again: nothing new.
    assert_eq!(f.function.tick(now).await.unwrap().scheduled, 0);
    assert!(queued_messages(&f.platform).await.is_empty());

    // The job the tick queued is generated like any other.
    let outcome = f
        .function
        .generate(ReportMessage {
            tenant: f.tenant,
            id: expected,
        })
        .await
        .unwrap();
    assert!(matches!(outcome, JobOutcome::Done(_)), "{outcome:?}");
}

#[tokio::test]
async fn after_a_long_stop_only_the_latest_missed_run_reports() {
    let f = fixture().await;
    let repo = ReportRepo::new(f.platform.table());
    let schedule = weekly(f.tenant, at("2026-11-02T07:00:00Z"));
    repo.create_schedule(&schedule).await.unwrap();
    // Four Mondays missed; back on Wednesday 2 Dec.
    let now = at("2026-12-02T10:00:00Z");
    assert_eq!(f.function.tick(now).await.unwrap().scheduled, 1);
    let latest = at("2026-11-30T07:00:00Z");
    let messages = queued_messages(&f.platform).await;
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].id, run_id(schedule.id, latest));
    let moved = repo.schedule(f.tenant, schedule.id).await.unwrap().unwrap();
    assert_eq!(moved.record.next_run, at("2026-12-07T07:00:00Z"));
}

#[tokio::test]
async fn a_tick_that_stopped_before_moving_the_schedule_sends_the_same_job_again() {
    let f = fixture().await;
    let repo = ReportRepo::new(f.platform.table());
    let run = at("2026-11-30T07:00:00Z");
    let schedule = weekly(f.tenant, run);
    repo.create_schedule(&schedule).await.unwrap();
    // What a tick that died after storing the job (and maybe sending it) left behind.
    let cadence = Cadence::parse(&schedule.cron, &schedule.timezone).unwrap();
    let job = schedule.job_for_run(&cadence, run, run);
    repo.create_job(&job).await.unwrap();
    enqueue(f.platform.reports_queue(), &job).await.unwrap();

    f.function.tick(at("2026-11-30T07:01:00Z")).await.unwrap();
    let messages = queued_messages(&f.platform).await;
    // The same job, twice on the queue: generated once (see the first test).
    assert_eq!(messages.len(), 2);
    assert!(messages.iter().all(|m| m.id == job.id));
    let jobs = repo.jobs(f.tenant, 10, None).await.unwrap().jobs;
    assert_eq!(jobs.len(), 1);
}

#[tokio::test]
async fn the_first_tick_of_a_day_compacts_the_closed_days_once() {
    let f = fixture().await;
    assert!(f.files_of(24) > 1);

    let first = f.function.tick(at("2026-11-27T00:01:00Z")).await.unwrap();
    assert!(first.retention_swept);
    assert_eq!(first.retention_files_dropped, 0);
    assert_eq!(first.days_compacted, 3);
    assert_eq!([f.files_of(24), f.files_of(25), f.files_of(26)], [1, 1, 1]);

    let second = f.function.tick(at("2026-11-27T00:02:00Z")).await.unwrap();
    assert!(!second.retention_swept);
    assert_eq!(second.days_compacted, 0);
}

#[tokio::test]
async fn the_first_tick_of_each_hour_compacts_today_s_finished_batches() {
    let f = fixture().await;
    assert!(f.files_of(26) > 1);

    // The 26th is today: the day's first tick sweeps the closed days, the hour's compacts
    // today's files so far.
    let first = f.function.tick(at("2026-11-26T13:01:00Z")).await.unwrap();
    assert_eq!((first.days_compacted, first.today_compacted), (2, 1));
    assert_eq!([f.files_of(24), f.files_of(25), f.files_of(26)], [1, 1, 1]);

    let same_hour = f.function.tick(at("2026-11-26T13:30:00Z")).await.unwrap();
    assert_eq!(same_hour.today_compacted, 0);
    // The next hour claims its run; one file is nothing to merge.
    let next_hour = f.function.tick(at("2026-11-26T14:01:00Z")).await.unwrap();
    assert_eq!(next_hour.today_compacted, 0);
    assert_eq!(f.files_of(26), 1);
}

/// An engine whose every query fails as Athena fails a query it will never run (a syntax
/// error, a missing table).
struct RefusingEngine;

impl mvidarr_analytics::query::QueryEngine for RefusingEngine {
    async fn run(
        &self,
        _: TenantId,
        _: TimeRange,
        query: mvidarr_analytics::query::ReportQuery,
    ) -> Result<mvidarr_analytics::query::Rows, mvidarr_analytics::query::QueryError> {
        Err(mvidarr_analytics::query::QueryError::Failed {
            query: query.name(),
            state: "FAILED".into(),
            reason: "TABLE_NOT_FOUND: line 1:15: Table 'analytics.events' does not exist".into(),
            retryable: false,
        })
    }
}

#[tokio::test]
async fn a_query_the_engine_says_will_never_run_fails_the_job_at_once() {
    let f = fixture().await;
    let function = ReportFunction::new(f.platform.clone(), RefusingEngine);
    let job = november(f.tenant, ReportKind::Trend, ReportFormat::Csv);
    ReportRepo::new(f.platform.table())
        .create_job(&job)
        .await
        .unwrap();
    let outcome = function
        .generate(ReportMessage {
            tenant: f.tenant,
            id: job.id,
        })
        .await
        .unwrap();
    let JobOutcome::Failed(why) = outcome else {
        panic!("{outcome:?}")
    };
    assert!(why.contains("TABLE_NOT_FOUND"), "{why}");
    let stored = self::job(&f, job.id).await;
    assert_eq!((stored.status, stored.attempts), (JobStatus::Failed, 1));
}

#[tokio::test]
async fn a_tenant_whose_files_are_being_rewritten_is_left_to_the_next_tick() {
    let f = fixture().await;
    let leases = mvidarr_core::repo::ErasureRepo::new(f.platform.table());
    let now = at("2026-11-27T00:01:00Z");
    // Another tick's erasure holds the tenant's events files.
    assert!(leases.lease_events(f.tenant, Utc::now()).await.unwrap());
    assert!(!leases.lease_events(f.tenant, Utc::now()).await.unwrap());
    let busy = f.function.tick(now).await.unwrap();
    assert!(busy.retention_swept);
    assert_eq!(busy.days_compacted, 0, "not while the files are leased");

    // Given back, the next day's sweep compacts; a lease nobody gives back lapses.
    leases.release_events(f.tenant).await.unwrap();
    let next = f.function.tick(at("2026-11-28T00:01:00Z")).await.unwrap();
    assert_eq!(next.days_compacted, 3);
    assert!(
        leases
            .lease_events(f.tenant, Utc::now() - Duration::minutes(16))
            .await
            .unwrap()
    );
    assert!(leases.lease_events(f.tenant, Utc::now()).await.unwrap());
}

#[tokio::test]
async fn the_tick_moves_media_days_kept_by_media_into_their_days() {
    let f = fixture().await;
    let table = f.platform.table();
    let media = MediaRepo::new(table)
        .import_catalogue(
            f.tenant,
            vec![CatalogueEntry {
                external_id: ExternalId::parse("mv-1").unwrap(),
                metadata: VideoMetadata::default(),
            }],
            Utc::now(),
        )
        .await
        .unwrap()[0]
        .id;
    // As the release before kept it: by media, sorted by date.
    let mut day = MediaDay::default();
    day.counters.plays = 7;
    let mut item = Item::new(
        keys::table::legacy_analytics_media_days_pk(f.tenant, media),
        "2026-11-25",
        serde_json::to_value(&day).unwrap(),
    );
    item.version = 1;
    table.put(item, Condition::Absent).await.unwrap();

    f.function.tick(at("2026-11-30T07:00:30Z")).await.unwrap();
    let range = TimeRange::parse("2026-11-24", "2026-11-27", Granularity::Day).unwrap();
    let days = AnalyticsRepo::new(table)
        .media_days(f.tenant, media, range)
        .await
        .unwrap();
    let plays: u64 = days.values().map(|d| d.counters.plays).sum();
    assert_eq!(plays, 7);
}
