//! `bench-analytics`: the analytics benchmark of issue 8, every figure from one run on one data
//! directory (`scripts/bench-analytics.sh`, release builds).
//!
//! 1. **Ingest.** A fresh data directory gets the embedded tenant `default` (bootstrapped as
//!    `serve` does it) and 1,000,000 synthetic events (`mvidarr_analytics::synthetic`: every
//!    kind in plausible proportions, Zipf-like media popularity) spread over the 30 days before
//!    today (UTC). They go through the production path of the events function: each message
//!    body is the JSON [`EventBatch`] the API puts on the events queue, handled by
//!    [`EventsFunction::handle_message`] (decoding the batch into typed events, whose ids and
//!    kinds are checked as they are parsed, then `ingest`: Snappy Parquet per day in the
//!    embedded blob store and a pending note in the SQLite table), and every `--fold-every`
//!    events (100,000, about a second's worth at the target, as `serve` folds every second
//!    while busy) and at the end [`EventsFunction::fold`] reads the new files back and adds
//!    them to the rollups, each media day once a fold. Messages hold 100
//!    events (`--batch`), the size `POST /v1/events` forwards (the new events of a request, a
//!    transaction's worth at a time, `MAX_TRANSACT_ITEMS`): client events are 95% of the
//!    stream, and the API's own metering flushes up to 500. Two messages are handled at a time
//!    (`--concurrency`, like `serve`'s events worker on two cores), each on its own task.
//!    The messages are encoded before the clock starts (that is the sender's work); the
//!    SQLite queue's receive and delete are not in it either (SQS's, in AWS). Printed: events/s
//!    on the wall clock, events per CPU second of this process (`/proc/self/stat`, every thread:
//!    the figure "per core", folds included), the Parquet files and bytes on disk with bytes
//!    per event, the rollup items the folds wrote and how much the database grew.
//! 2. **Reports.** Each report kind in each format over the 30 days, made from scratch by
//!    `mvidarr_report_jobs::render_report` (what the report function stores for a job and
//!    `mvidarr report` writes: rank the engagement report's media and look up their titles,
//!    build the [`ReportData`] with [`LocalEngine`], DataFusion over the Parquet files, and
//!    render it), each file timed whole: what one request for that file costs. Each kind's
//!    queries and each format's rendering are also timed on their own.
//! 3. **DataFusion against DuckDB.** Every report query (`ReportQuery::sql`, the same SQL text)
//!    `--runs` times on [`LocalEngine`] and on DuckDB (the PyPI `duckdb` module in the
//!    benchmarks' virtualenv, run by `scripts/python/bench_duckdb.py`: the wheel ships no
//!    console script, so the query is timed inside that Python process), DuckDB reading the
//!    same files as `read_parquet('…/t={tenant}/*/*.parquet', hive_partitioning = true)` with
//!    its own literals for the range (`DATE '…'`, `TIMESTAMPTZ '…'`, and `"at"` quoted: DuckDB 2
//!    reads a bare `at` there as `AT TIME ZONE`). Both run with two threads (DataFusion's
//!    engine uses two partitions) and list the files again on every run.
//!    Printed: median times and their ratio; the bench fails unless both engines return the
//!    same row counts and the same sum of every numeric column.
//! 4. **Dashboard.** `mvidarr serve` starts on the directory (scheduled training off); a first
//!    `GET /v1/analytics/summary` at each granularity must show the plays, views, uploads and
//!    API calls the daily query counts in the Parquet files, in one bucket per day or hour;
//!    then autocannon (`scripts/node/bench-reco.mjs`, the pinned load script of the
//!    recommendation bench, which takes any list of paths) loads
//!    `?from=&to=&granularity=day` and then `granularity=hour`
//!    over the 30 days for `--duration` seconds each, spread over `--keys` API keys with
//!    `reports:read` (the enterprise plan allows each caller 200 requests/s). Every request
//!    is metered, so the server's events worker ingests those `api_call` events during the load,
//!    as it would in use. Any non-2xx answer or socket error fails the bench.
//! 5. One table with the issue's targets, met or not.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use chrono::{NaiveDate, Utc};
use clap::Parser;
use mvidarr_analytics::query::{LocalEngine, QueryEngine, ReportQuery, Rows, date_bounds};
use mvidarr_analytics::reports::{self, ReportRequest, TOP_MEDIA};
use mvidarr_analytics::synthetic::{self, Stream};
use mvidarr_analytics::{FoldOutcome, IngestOutcome, compact};
use mvidarr_api::bootstrap_default_tenant;
use mvidarr_auth::service::{Identity, IdentityConfig};
use mvidarr_core::analytics::report::{Cell, ReportData, ReportFormat, ReportKind};
use mvidarr_core::analytics::summary::midnight;
use mvidarr_core::analytics::{AnalyticsEvent, EventBatch, TimeRange};
use mvidarr_core::asl::StateMachine;
use mvidarr_core::ids::{MediaId, TenantId};
use mvidarr_core::keys;
use mvidarr_core::ports::Platform;
use mvidarr_core::ports::queue::MAX_MESSAGE_BYTES;
use mvidarr_core::ports::table::MAX_TRANSACT_ITEMS;
use mvidarr_core::repo::MediaRepo;
use mvidarr_events::EventsFunction;
use mvidarr_report_jobs::render_report;
use mvidarr_store_local::{LocalConfig, LocalPlatform};
use mvidarr_tests::bench::{
    LoadReport, api_keys, load_average, ms, run_json_script, run_load, show_load, stop_requested,
};
use mvidarr_tests::server::{Server, ServerOptions};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

/// The issue's ingest target: events per CPU second.
const TARGET_EVENTS_PER_CORE: f64 = 100_000.0;
/// The issue's target for one report over 1M events, and what the seed promised.
const TARGET_REPORT_SECONDS: f64 = 2.0;
const SEED_REPORT_SECONDS: f64 = 10.0;
/// The issue's target for the dashboard summary over HTTP.
const TARGET_SUMMARY_P99_MS: f64 = 20.0;
/// The token issuer named while bootstrapping offline (no token is signed here).
const OFFLINE_ISSUER: &str = "http://127.0.0.1:9";
/// The events stream's seed (the issue's number).
const SEED: u64 = 8;
/// The tenant `serve` bootstraps, whose data the bench fills.
const TENANT_NAME: &str = "default";

#[derive(Parser)]
#[command(about = "Analytics benchmark: ingest, reports, DataFusion vs DuckDB, dashboard p99")]
struct Args {
    /// The `mvidarr` binary to serve with (a release build for real figures).
    #[arg(long)]
    mvidarr: PathBuf,
    /// The load script, `scripts/node/bench-reco.mjs`, with its node modules installed.
    #[arg(long)]
    load_script: PathBuf,
    #[arg(long, default_value = "node")]
    node: PathBuf,
    /// The Python of the benchmarks' virtualenv (with `duckdb`).
    #[arg(long)]
    python: PathBuf,
    /// `scripts/python/bench_duckdb.py`.
    #[arg(long)]
    duckdb_script: PathBuf,
    /// Directory for the data directory and the server's log; it must not exist or be empty.
    /// By default a temporary one, removed at the end.
    #[arg(long)]
    work: Option<PathBuf>,
    /// Smoke-test size: 20,000 events, 3 query runs, 2 s of load per request (explicit flags
    /// win).
    #[arg(long)]
    quick: bool,
    /// Stop after the ingest and print only its figures (a minute, for trying a change to the
    /// events path; `--json` then holds those figures alone).
    #[arg(long)]
    ingest_only: bool,
    /// Events ingested (default 1,000,000).
    #[arg(long)]
    events: Option<usize>,
    /// Days the events are spread over, ending at today's midnight (UTC); at most 31, the
    /// longest range the summary serves by hour.
    #[arg(long, default_value_t = 30)]
    days: u32,
    /// Distinct media in the stream.
    #[arg(long, default_value_t = 10_000)]
    media: usize,
    /// Distinct users in the stream.
    #[arg(long, default_value_t = 50_000)]
    users: usize,
    /// Events per events-queue message.
    #[arg(long, default_value_t = MAX_TRANSACT_ITEMS)]
    batch: usize,
    /// Messages handled at a time (default: the cores, as `serve`'s events worker).
    #[arg(long)]
    concurrency: Option<usize>,
    /// Events between folds into the rollups: about a second's worth at the target rate, as
    /// `serve`'s events worker folds every second while busy (the Lambda, per invocation).
    #[arg(long, default_value_t = 100_000)]
    fold_every: usize,
    /// Times each query runs on each engine (default 5).
    #[arg(long)]
    runs: Option<usize>,
    /// Seconds of load per summary request (default 10).
    #[arg(long)]
    duration: Option<u64>,
    /// Requests in flight at once (autocannon connections).
    #[arg(long, default_value_t = 2)]
    connections: usize,
    /// API keys the load is spread over (each has its own rate-limit bucket).
    #[arg(long, default_value_t = 32)]
    keys: usize,
    /// Also write the figures here as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
}

/// The sizes of one run, after `--quick` and the explicit flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
struct Scale {
    events: usize,
    days: u32,
    batch: usize,
    concurrency: usize,
    fold_every: usize,
    runs: usize,
    duration_seconds: u64,
}

impl Scale {
    fn of(args: &Args, cores: usize) -> anyhow::Result<Scale> {
        let (events, runs, duration_seconds) = if args.quick {
            (20_000, 3, 2)
        } else {
            (1_000_000, 5, 10)
        };
        let scale = Scale {
            events: args.events.unwrap_or(events),
            days: args.days,
            batch: args.batch,
            concurrency: args.concurrency.unwrap_or(cores.max(1)),
            fold_every: args.fold_every,
            runs: args.runs.unwrap_or(runs),
            duration_seconds: args.duration.unwrap_or(duration_seconds),
        };
        ensure!(scale.events >= 1, "--events must be at least 1");
        ensure!(
            (1..=31).contains(&scale.days),
            "--days must be 1 to 31 (the summary serves at most 31 days by hour)"
        );
        ensure!(scale.batch >= 1, "--batch must be at least 1");
        ensure!(scale.concurrency >= 1, "--concurrency must be at least 1");
        ensure!(scale.fold_every >= 1, "--fold-every must be at least 1");
        ensure!(scale.runs >= 1, "--runs must be at least 1");
        ensure!(
            scale.duration_seconds >= 1,
            "--duration must be at least 1 s"
        );
        ensure!(
            args.media >= 1 && args.users >= 1,
            "--media and --users must be at least 1"
        );
        ensure!(args.connections >= 1, "--connections must be at least 1");
        ensure!(args.keys >= 1, "--keys must be at least 1");
        Ok(scale)
    }
}

// ---------------------------------------------------------------------------------------------
// CPU time

/// Clock ticks per second of `/proc` times (USER_HZ; 100 on every Linux ABI in use).
fn ticks_per_second() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// utime + stime (fields 14 and 15) of a `/proc/…/stat` line, in ticks. The command name
/// (field 2) may hold spaces and parentheses, so fields are counted from its closing one.
fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
    Some(field(14)? + field(15)?)
}

/// CPU seconds this process has used so far, every thread.
fn process_cpu_seconds(ticks: f64) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").context("reading /proc/self/stat")?;
    let used = parse_cpu_ticks(&stat).context("parsing /proc/self/stat")?;
    Ok(used as f64 / ticks)
}

// ---------------------------------------------------------------------------------------------
// 1. Ingest

/// The stream of the run: `days` days ending at `end` (a midnight).
fn stream(scale: &Scale, args: &Args, end: NaiveDate) -> Stream {
    Stream {
        seed: SEED,
        events: scale.events,
        start: midnight(end - chrono::Duration::days(i64::from(scale.days))),
        days: scale.days,
        media: args.media,
        users: args.users,
    }
}

/// The range every report and summary covers: the stream's days.
fn range_of(stream: &Stream) -> TimeRange {
    TimeRange {
        from: stream.start,
        to: stream.start + chrono::Duration::days(i64::from(stream.days)),
    }
}

/// The events queue's message bodies for `events`, `batch` at a time, as the API sends them
/// (`send_events` encodes each [`EventBatch`] as JSON). A batch size whose messages would not
/// fit the queue is refused: the sender would have split them.
fn messages(
    tenant: TenantId,
    events: &[AnalyticsEvent],
    batch: usize,
) -> anyhow::Result<Vec<String>> {
    ensure!(batch >= 1, "a batch holds at least one event");
    events
        .chunks(batch)
        .map(|chunk| {
            let body = serde_json::to_string(&EventBatch::new(tenant, chunk.to_vec()))?;
            ensure!(
                body.len() <= MAX_MESSAGE_BYTES,
                "a batch of {batch} events is {} bytes, more than a queue message holds ({MAX_MESSAGE_BYTES}): use a smaller --batch",
                body.len()
            );
            Ok(body)
        })
        .collect()
}

/// Parquet files under `dir` (any depth) and their bytes.
fn parquet_on_disk(dir: &Path) -> std::io::Result<(usize, u64)> {
    let (mut files, mut bytes) = (0, 0);
    if !dir.is_dir() {
        return Ok((0, 0));
    }
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        if kind.is_dir() {
            let (f, b) = parquet_on_disk(&entry.path())?;
            files += f;
            bytes += b;
        } else if entry.path().extension().is_some_and(|e| e == "parquet") {
            files += 1;
            bytes += entry.metadata()?.len();
        }
    }
    Ok((files, bytes))
}

/// The SQLite database's bytes on disk, its write-ahead log included.
fn database_bytes(data: &Path) -> u64 {
    ["mvidarr.db", "mvidarr.db-wal"]
        .iter()
        .filter_map(|name| std::fs::metadata(data.join(name)).ok())
        .map(|m| m.len())
        .sum()
}

#[derive(Debug, Clone, Default, Serialize)]
struct IngestFigures {
    events: usize,
    messages: usize,
    synthesise_seconds: f64,
    encode_messages_seconds: f64,
    wall_seconds: f64,
    cpu_seconds: f64,
    events_per_second: f64,
    events_per_cpu_second: f64,
    /// Events the function kept (every id is distinct, so all of them), and the events the
    /// folds counted (the same, once each).
    events_ingested: usize,
    events_folded: u64,
    folds: usize,
    parquet_files: usize,
    parquet_bytes: u64,
    parquet_bytes_per_event: f64,
    rollup_parts_applied: usize,
    rollup_parts_skipped: usize,
    rollup_items_written: usize,
    database_growth_bytes: u64,
}

impl IngestFigures {
    fn add(&mut self, outcome: &IngestOutcome) {
        self.events_ingested += outcome.events;
    }

    fn add_fold(&mut self, outcome: &FoldOutcome) {
        self.folds += 1;
        self.events_folded += outcome.events;
        self.rollup_parts_applied += outcome.rollups.parts_applied;
        self.rollup_parts_skipped += outcome.rollups.parts_skipped;
        self.rollup_items_written += outcome.rollups.items_written;
    }
}

/// Handle every message as the events function does, `concurrency` at a time, folding the
/// tenant's files into the rollups every `fold_every` events and at the end.
async fn ingest_all(
    function: Arc<EventsFunction<LocalPlatform>>,
    tenant: TenantId,
    bodies: Vec<String>,
    scale: &Scale,
    figures: &mut IngestFigures,
) -> anyhow::Result<()> {
    let concurrency = scale.concurrency;
    let messages_per_fold = scale.fold_every.div_ceil(scale.batch).max(1);
    let permits = Arc::new(Semaphore::new(concurrency));
    let mut tasks = JoinSet::new();
    let total = bodies.len();
    let mut done = 0usize;
    let mut tally = |joined: Result<Result<IngestOutcome, String>, tokio::task::JoinError>,
                     figures: &mut IngestFigures|
     -> anyhow::Result<()> {
        let outcome = joined
            .context("an ingest task panicked")?
            .map_err(|e| anyhow::anyhow!("the events function failed a message: {e}"))?;
        figures.add(&outcome);
        done += 1;
        if done.is_multiple_of((total / 10).max(1)) {
            eprintln!("  ingested {done} of {total} messages");
        }
        Ok(())
    };
    for (sent, body) in bodies.into_iter().enumerate() {
        if sent > 0 && sent.is_multiple_of(messages_per_fold) {
            // The fold runs beside the messages in flight, as `serve`'s fold loop does.
            let folded = function.fold(tenant).await.context("folding")?;
            figures.add_fold(&folded);
        }
        let permit = permits.clone().acquire_owned().await?;
        let function = function.clone();
        tasks.spawn(async move {
            let outcome = function
                .handle_message(&body)
                .await
                .map_err(|e| e.to_string());
            drop(permit);
            outcome
        });
        while let Some(joined) = tasks.try_join_next() {
            tally(joined, figures)?;
        }
    }
    while let Some(joined) = tasks.join_next().await {
        tally(joined, figures)?;
    }
    let folded = function.fold(tenant).await.context("folding")?;
    figures.add_fold(&folded);
    Ok(())
}

async fn ingest_stream(
    platform: &LocalPlatform,
    tenant: TenantId,
    stream: &Stream,
    scale: &Scale,
    ticks: f64,
) -> anyhow::Result<IngestFigures> {
    let mut figures = IngestFigures::default();
    let started = Instant::now();
    let events = synthetic::events(stream);
    figures.synthesise_seconds = started.elapsed().as_secs_f64();
    figures.events = events.len();

    let started = Instant::now();
    let bodies = messages(tenant, &events, scale.batch)?;
    figures.encode_messages_seconds = started.elapsed().as_secs_f64();
    figures.messages = bodies.len();
    drop(events);

    let data = platform.data_dir().to_owned();
    let database_before = database_bytes(&data);
    let function = Arc::new(EventsFunction::new(platform.clone()));
    eprintln!(
        "ingest: {} events in {} messages of {}, {} at a time…",
        figures.events, figures.messages, scale.batch, scale.concurrency
    );
    let cpu_before = process_cpu_seconds(ticks)?;
    let started = Instant::now();
    ingest_all(function, tenant, bodies, scale, &mut figures).await?;
    figures.wall_seconds = started.elapsed().as_secs_f64();
    figures.cpu_seconds = process_cpu_seconds(ticks)? - cpu_before;
    figures.events_per_second = figures.events as f64 / figures.wall_seconds;
    figures.events_per_cpu_second = figures.events as f64 / figures.cpu_seconds.max(1e-9);

    let dir = platform
        .local_blobs()
        .root()
        .join(keys::blob::analytics_tenant(tenant));
    let (files, bytes) = parquet_on_disk(&dir)?;
    figures.parquet_files = files;
    figures.parquet_bytes = bytes;
    figures.parquet_bytes_per_event = bytes as f64 / figures.events.max(1) as f64;
    figures.database_growth_bytes = database_bytes(&data).saturating_sub(database_before);
    ensure!(
        figures.events_ingested == figures.events,
        "the events function kept {} of {} events",
        figures.events_ingested,
        figures.events
    );
    ensure!(
        figures.events_folded == figures.events as u64,
        "the folds counted {} of {} events",
        figures.events_folded,
        figures.events
    );
    Ok(figures)
}

// ---------------------------------------------------------------------------------------------
// 2. Reports

#[derive(Debug, Clone, Serialize)]
struct ReportRow {
    kind: ReportKind,
    format: ReportFormat,
    /// The report's queries alone (ranking, titles and `reports::build`), once per kind.
    query_seconds: f64,
    /// Rendering the computed report alone.
    render_seconds: f64,
    /// The whole file from scratch, as the report function and `mvidarr report` make it.
    total_seconds: f64,
    bytes: usize,
    rows: u64,
}

/// The queries of one report, timed on their own, as `render_report` runs them.
async fn build_report(
    platform: &LocalPlatform,
    engine: &LocalEngine,
    request: &ReportRequest,
) -> anyhow::Result<(ReportData, f64)> {
    let started = Instant::now();
    let ranked: Vec<MediaId> = reports::ranked_media(engine, request)
        .await?
        .iter()
        .filter_map(|id| id.parse().ok())
        .collect();
    let titles: HashMap<String, String> = MediaRepo::new(platform.table())
        .titles(request.tenant, ranked)
        .await?
        .into_iter()
        .map(|(id, title)| (id.to_string(), title))
        .collect();
    let report = reports::build(engine, request, &titles).await?;
    Ok((report, started.elapsed().as_secs_f64()))
}

/// Every kind in every format. Each file is made from scratch by `render_report` (the report
/// function's and the CLI's path) and timed whole; each kind's queries and each format's
/// rendering are also timed on their own, to show where the time goes.
async fn all_reports(
    platform: &LocalPlatform,
    engine: &LocalEngine,
    tenant: TenantId,
    range: TimeRange,
) -> anyhow::Result<Vec<ReportRow>> {
    let mut rows = Vec::new();
    for kind in ReportKind::ALL {
        let request = ReportRequest {
            kind,
            tenant,
            tenant_name: TENANT_NAME.into(),
            range,
            generated_at: Utc::now(),
        };
        let (report, query_seconds) = build_report(platform, engine, &request)
            .await
            .with_context(|| format!("the {kind} report's queries"))?;
        ensure!(
            !report.is_empty(),
            "the {kind} report over the ingested events is empty"
        );
        for format in ReportFormat::ALL {
            let rendering = Instant::now();
            mvidarr_report::render(&report, format)?;
            let render_seconds = rendering.elapsed().as_secs_f64();
            let started = Instant::now();
            let file = render_report(platform.table(), engine, &request, format)
                .await
                .with_context(|| format!("the {kind} report as {format}"))?;
            let total_seconds = started.elapsed().as_secs_f64();
            eprintln!(
                "  {kind} {format}: {total_seconds:.2} s ({} bytes)",
                file.bytes.len()
            );
            rows.push(ReportRow {
                kind,
                format,
                query_seconds,
                render_seconds,
                total_seconds,
                bytes: file.bytes.len(),
                rows: file.rows,
            });
        }
    }
    Ok(rows)
}

/// The slowest report of each format, and of all.
fn slowest(rows: &[ReportRow], format: Option<ReportFormat>) -> Option<&ReportRow> {
    rows.iter()
        .filter(|r| format.is_none_or(|f| r.format == f))
        .max_by(|a, b| a.total_seconds.total_cmp(&b.total_seconds))
}

// ---------------------------------------------------------------------------------------------
// 3. DataFusion against DuckDB

/// Every report query.
const QUERIES: [ReportQuery; 5] = [
    ReportQuery::Daily,
    ReportQuery::TopMedia { limit: TOP_MEDIA },
    ReportQuery::Analyses,
    ReportQuery::Quarantines,
    ReportQuery::TagDecisions,
];

/// DuckDB's literals for a range, as [`LocalEngine::range_clause`] gives DataFusion's: the
/// partition days (DuckDB reads `date=` as a DATE) and the bounds on `at` (TIMESTAMPTZ). DuckDB
/// 2 parses a bare `at` after `AND` as the start of `AT TIME ZONE`: the column is quoted.
fn duckdb_range_clause(range: TimeRange) -> String {
    let (first, last) = date_bounds(range);
    format!(
        "\"date\" BETWEEN DATE '{first}' AND DATE '{last}' AND \"at\" >= TIMESTAMPTZ '{}' AND \"at\" < TIMESTAMPTZ '{}'",
        range.from.to_rfc3339(),
        range.to.to_rfc3339()
    )
}

/// The sum of a numeric column: exact for integers.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(untagged)]
enum ColumnSum {
    Integer(i128),
    Number(f64),
}

impl ColumnSum {
    /// Integers must be equal; a sum with a fraction (of means) within a relative 1e-9.
    fn agrees_with(self, other: ColumnSum) -> bool {
        match (self, other) {
            (ColumnSum::Integer(a), ColumnSum::Integer(b)) => a == b,
            (a, b) => {
                let (a, b) = (a.as_f64(), b.as_f64());
                (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
            }
        }
    }

    fn as_f64(self) -> f64 {
        match self {
            ColumnSum::Integer(n) => n as f64,
            ColumnSum::Number(x) => x,
        }
    }
}

/// The sum of every column of DataFusion's answer whose cells are all numbers (empty cells
/// count as nothing; a column with no number at all has no sum).
fn rows_sums(rows: &Rows) -> BTreeMap<String, ColumnSum> {
    let mut sums = BTreeMap::new();
    for (i, name) in rows.columns.iter().enumerate() {
        let mut sum: Option<ColumnSum> = None;
        let mut numeric = true;
        for row in &rows.rows {
            let add = match row.get(i) {
                Some(Cell::Integer(n)) => ColumnSum::Integer(i128::from(*n)),
                Some(Cell::Number(x)) => ColumnSum::Number(*x),
                Some(Cell::Empty) | None => continue,
                Some(_) => {
                    numeric = false;
                    break;
                }
            };
            sum = Some(match (sum, add) {
                (None, add) => add,
                (Some(ColumnSum::Integer(a)), ColumnSum::Integer(b)) => ColumnSum::Integer(a + b),
                (Some(a), b) => ColumnSum::Number(a.as_f64() + b.as_f64()),
            });
        }
        if let (true, Some(sum)) = (numeric, sum) {
            sums.insert(name.clone(), sum);
        }
    }
    sums
}

/// DuckDB's sums as its script printed them (JSON integers stay exact).
fn json_sums(sums: &BTreeMap<String, Value>) -> anyhow::Result<BTreeMap<String, ColumnSum>> {
    sums.iter()
        .map(|(name, value)| {
            let sum = match value {
                Value::Number(n) if n.is_i64() || n.is_u64() => ColumnSum::Integer(
                    n.as_i64()
                        .map(i128::from)
                        .or_else(|| n.as_u64().map(i128::from))
                        .context("an integer sum")?,
                ),
                Value::Number(n) => ColumnSum::Number(n.as_f64().context("a number")?),
                other => bail!("column {name}: the sum {other} is not a number"),
            };
            Ok((name.clone(), sum))
        })
        .collect()
}

/// Where two engines' answers to one query differ: row counts, or the sum of a column.
fn compare_answers(
    rows: (usize, usize),
    sums: (&BTreeMap<String, ColumnSum>, &BTreeMap<String, ColumnSum>),
) -> Vec<String> {
    let mut problems = Vec::new();
    if rows.0 != rows.1 {
        problems.push(format!(
            "{} rows on DataFusion, {} on DuckDB",
            rows.0, rows.1
        ));
    }
    let (datafusion, duckdb) = sums;
    for (name, sum) in datafusion {
        match duckdb.get(name) {
            Some(other) if sum.agrees_with(*other) => {}
            Some(other) => problems.push(format!(
                "{name}: sums to {} on DataFusion, {} on DuckDB",
                sum.as_f64(),
                other.as_f64()
            )),
            None => problems.push(format!("{name}: no numeric sum on DuckDB")),
        }
    }
    for name in duckdb.keys().filter(|n| !datafusion.contains_key(*n)) {
        problems.push(format!("{name}: no numeric sum on DataFusion"));
    }
    problems
}

/// The median of some samples (the mean of the middle two for an even count).
fn median(samples: &[f64]) -> f64 {
    if samples.is_empty() {
        return f64::NAN;
    }
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    if sorted.len().is_multiple_of(2) {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    } else {
        sorted[mid]
    }
}

/// What `bench_duckdb.py` prints.
#[derive(Debug, Clone, Deserialize)]
struct DuckdbReport {
    version: String,
    threads: Value,
    queries: Vec<DuckdbQuery>,
}

#[derive(Debug, Clone, Deserialize)]
struct DuckdbQuery {
    name: String,
    times_ms: Vec<f64>,
    rows: usize,
    sums: BTreeMap<String, Value>,
}

#[derive(Debug, Clone, Serialize)]
struct EngineRow {
    query: &'static str,
    rows: usize,
    datafusion_ms: Vec<f64>,
    duckdb_ms: Vec<f64>,
    datafusion_median_ms: f64,
    duckdb_median_ms: f64,
    /// DataFusion's median over DuckDB's (above 1: DataFusion is slower).
    ratio: f64,
    sums: BTreeMap<String, ColumnSum>,
}

#[derive(Debug, Clone, Serialize)]
struct EngineFigures {
    duckdb_version: String,
    duckdb_threads: String,
    runs: usize,
    queries: Vec<EngineRow>,
}

async fn run_duckdb(
    args: &Args,
    config: &Path,
    glob: &str,
    sql: &[(&'static str, String)],
    runs: usize,
) -> anyhow::Result<DuckdbReport> {
    let body = json!({
        "glob": glob,
        "threads": 2,
        "runs": runs,
        "queries": sql.iter().map(|(name, sql)| json!({"name": name, "sql": sql})).collect::<Vec<_>>(),
    });
    run_json_script(&args.python, &args.duckdb_script, config, &body, &[]).await
}

/// The DuckDB glob of a tenant's events under a blob root.
fn events_glob(blobs_root: &Path, tenant: TenantId) -> String {
    format!(
        "{}/{}*/*.parquet",
        blobs_root.display(),
        keys::blob::analytics_tenant(tenant)
    )
}

/// Every report query `runs` times on DataFusion (`engine`) and on DuckDB over the same files
/// under `blobs_root`; fails unless both give the same answers, and the same as `reference`
/// (another layout's DataFusion answers) when given. Returns DataFusion's answers in
/// [`QUERIES`] order.
#[allow(clippy::too_many_arguments)]
async fn compare_engines(
    args: &Args,
    work: &Path,
    label: &str,
    engine: &LocalEngine,
    blobs_root: &Path,
    tenant: TenantId,
    range: TimeRange,
    runs: usize,
    reference: Option<&[Rows]>,
) -> anyhow::Result<(EngineFigures, Vec<Rows>)> {
    let mut datafusion: Vec<(Vec<f64>, Rows)> = Vec::new();
    for query in QUERIES {
        let mut times = Vec::with_capacity(runs);
        let mut answer = Rows::default();
        for _ in 0..runs {
            let started = Instant::now();
            answer = engine.run(tenant, range, query).await?;
            times.push(started.elapsed().as_secs_f64() * 1000.0);
        }
        datafusion.push((times, answer));
    }
    let sql: Vec<(&'static str, String)> = QUERIES
        .iter()
        .map(|q| (q.name(), q.sql(&duckdb_range_clause(range))))
        .collect();
    let config = work.join(format!("duckdb-{label}.json"));
    let duck = run_duckdb(args, &config, &events_glob(blobs_root, tenant), &sql, runs).await?;
    let mut rows = Vec::new();
    let mut answers = Vec::new();
    let mut problems = Vec::new();
    for (i, (query, (times, answer))) in QUERIES.iter().zip(datafusion).enumerate() {
        let theirs = duck
            .queries
            .iter()
            .find(|q| q.name == query.name())
            .with_context(|| format!("DuckDB did not answer {}", query.name()))?;
        let ours = rows_sums(&answer);
        let their_sums = json_sums(&theirs.sums)?;
        for problem in compare_answers((answer.rows.len(), theirs.rows), (&ours, &their_sums)) {
            problems.push(format!("{}: {problem}", query.name()));
        }
        if let Some(before) = reference.and_then(|r| r.get(i)) {
            let earlier = rows_sums(before);
            for problem in
                compare_answers((before.rows.len(), answer.rows.len()), (&earlier, &ours))
            {
                problems.push(format!(
                    "{} ({label} against the files as ingested): {problem}",
                    query.name()
                ));
            }
        }
        let (df, dk) = (median(&times), median(&theirs.times_ms));
        rows.push(EngineRow {
            query: query.name(),
            rows: answer.rows.len(),
            datafusion_median_ms: df,
            duckdb_median_ms: dk,
            ratio: df / dk,
            datafusion_ms: times,
            duckdb_ms: theirs.times_ms.clone(),
            sums: ours,
        });
        answers.push(answer);
    }
    ensure!(
        problems.is_empty(),
        "the engines disagree ({label}):\n  {}",
        problems.join("\n  ")
    );
    let threads = match &duck.threads {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    Ok((
        EngineFigures {
            duckdb_version: duck.version,
            duckdb_threads: threads,
            runs,
            queries: rows,
        },
        answers,
    ))
}

// ---------------------------------------------------------------------------------------------
// 3b. The same events compacted, one file per day

#[derive(Debug, Clone, Serialize)]
struct CompactedFigures {
    files: usize,
    bytes: u64,
    compact_seconds: f64,
    engines: EngineFigures,
    reports: Vec<ReportRow>,
}

// ---------------------------------------------------------------------------------------------
// 4. Dashboard over HTTP

/// What the load script reports for one request pattern.
fn summary_path(range: TimeRange, granularity: &str) -> String {
    let (first, last) = date_bounds(range);
    format!(
        "/v1/analytics/summary?from={first}&to={}&granularity={granularity}",
        last + chrono::Duration::days(1)
    )
}

/// A counter of a summary's totals (absent when zero).
fn total(summary: &Value, name: &str) -> i64 {
    summary["totals"][name].as_i64().unwrap_or(0)
}

/// The sum of a column of the daily query.
fn daily_sum(daily: &Rows, name: &str) -> i64 {
    match rows_sums(daily).get(name) {
        Some(ColumnSum::Integer(n)) => i64::try_from(*n).unwrap_or(i64::MAX),
        Some(ColumnSum::Number(x)) => *x as i64,
        None => 0,
    }
}

/// One summary request before the load: a 200 whose totals are the ingested events' (the
/// daily query's sums) and whose series has a bucket per step.
async fn check_summary(
    http: &reqwest::Client,
    url: &str,
    key: &str,
    path: &str,
    daily: &Rows,
    buckets: usize,
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let response = http
        .get(format!("{url}{path}"))
        .bearer_auth(key)
        .send()
        .await?;
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    let took = started.elapsed();
    ensure!(status == 200, "GET {path} answered {status}: {body}");
    for name in ["plays", "views", "uploads", "api_calls"] {
        let (shown, counted) = (total(&body, name), daily_sum(daily, name));
        ensure!(
            shown == counted,
            "GET {path} shows {shown} {name}; the events hold {counted}"
        );
    }
    let series = body["series"].as_array().map_or(0, Vec::len);
    ensure!(
        series == buckets,
        "GET {path} has {series} buckets, not {buckets}"
    );
    Ok(took)
}

/// Runs the load script on one path.
async fn load(
    args: &Args,
    work: &Path,
    url: &str,
    keys: &[String],
    name: &str,
    path: &str,
    duration_seconds: u64,
) -> anyhow::Result<LoadReport> {
    run_load(
        &args.node,
        &args.load_script,
        &work.join(format!("load-{name}.json")),
        url,
        &[path.to_owned()],
        args.connections,
        duration_seconds,
        keys,
    )
    .await
    .with_context(|| format!("load on {name}"))
}

#[derive(Debug, Clone, Serialize)]
struct SummaryRow {
    granularity: &'static str,
    path: String,
    buckets: usize,
    first_request_ms: f64,
    http: LoadReport,
}

async fn dashboard(
    args: &Args,
    work: &Path,
    data: &Path,
    range: TimeRange,
    days: u32,
    daily: &Rows,
    scale: &Scale,
) -> anyhow::Result<(Vec<SummaryRow>, usize)> {
    // No scheduled training: it would load the CPU during the run.
    let options = ServerOptions {
        env: vec![("MVIDARR_TRAIN_EVERY_MINUTES".into(), "0".into())],
    };
    let server = Server::start(&args.mvidarr, data, &options)?;
    let http = reqwest::Client::new();
    let patterns = [("day", days as usize), ("hour", days as usize * 24)];
    let mut first = Vec::new();
    for (granularity, buckets) in patterns {
        let path = summary_path(range, granularity);
        let took = check_summary(&http, &server.url, &server.api_key, &path, daily, buckets)
            .await
            .with_context(|| format!("the first summary by {granularity}"))?;
        first.push(took.as_secs_f64() * 1000.0);
    }
    let keys = api_keys(
        &http,
        &server.url,
        &server.api_key,
        args.keys,
        "bench-analytics",
        &["reports:read"],
    )
    .await?;
    let mut rows = Vec::new();
    for ((granularity, buckets), first_request_ms) in patterns.into_iter().zip(first) {
        let path = summary_path(range, granularity);
        eprintln!(
            "load: {path} for {} s, {} connections, {} keys",
            scale.duration_seconds,
            args.connections,
            keys.len()
        );
        let report = load(
            args,
            work,
            &server.url,
            &keys,
            granularity,
            &path,
            scale.duration_seconds,
        )
        .await?;
        if let Err(problem) = report.check() {
            let log = server.log();
            // Not the line with the owner key `serve` printed at its start.
            let tail: Vec<&str> = log
                .lines()
                .filter(|l| !l.contains(server.api_key.as_str()))
                .rev()
                .take(20)
                .collect();
            bail!(
                "summary by {granularity}: {problem}\nlast lines of the server's log:\n{}",
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
        rows.push(SummaryRow {
            granularity,
            path,
            buckets,
            first_request_ms,
            http: report,
        });
    }
    let key_count = keys.len();
    ensure!(
        server.terminate()?,
        "mvidarr serve did not stop cleanly after the bench"
    );
    Ok((rows, key_count))
}

// ---------------------------------------------------------------------------------------------
// 5. The table

/// One line of the closing table.
#[derive(Debug, Clone, Serialize)]
struct Verdict {
    figure: String,
    value: String,
    target: String,
    /// None: a figure the issue sets no target for.
    met: Option<bool>,
}

fn verdict(figure: impl Into<String>, value: String, target: &str, met: Option<bool>) -> Verdict {
    Verdict {
        figure: figure.into(),
        value,
        target: target.into(),
        met,
    }
}

fn verdicts(f: &Figures) -> Vec<Verdict> {
    let i = &f.ingest;
    let mut lines = vec![
        verdict(
            format!(
                "ingest: events per CPU second (batches of {} through the events function)",
                f.scale.batch
            ),
            format!("{:.0}", i.events_per_cpu_second),
            "≥ 100,000",
            Some(i.events_per_cpu_second >= TARGET_EVENTS_PER_CORE),
        ),
        verdict(
            format!("ingest: events/s, wall ({} at a time)", f.scale.concurrency),
            format!("{:.0}", i.events_per_second),
            "",
            None,
        ),
        verdict(
            "Parquet on disk per event",
            format!(
                "{:.1} bytes ({} files)",
                i.parquet_bytes_per_event, i.parquet_files
            ),
            "",
            None,
        ),
    ];
    // The files as the scheduler keeps them (closed days merged daily, today every hour) are
    // what a report reads; before the first compaction every batch is still its own file.
    for format in ReportFormat::ALL {
        if let Some(r) = slowest(&f.compacted.reports, Some(format)) {
            lines.push(verdict(
                format!(
                    "report as {format}, files compacted: slowest of the 5 kinds ({})",
                    r.kind
                ),
                format!("{:.2} s", r.total_seconds),
                "< 2 s",
                Some(r.total_seconds < TARGET_REPORT_SECONDS),
            ));
        }
    }
    if let Some(r) = slowest(&f.reports, None) {
        lines.push(verdict(
            format!(
                "report before any compaction ({} files): slowest",
                f.ingest.parquet_files
            ),
            format!("{:.2} s ({} {})", r.total_seconds, r.kind, r.format),
            "< 10 s (seed)",
            Some(r.total_seconds < SEED_REPORT_SECONDS),
        ));
    }
    for q in &f.engines.queries {
        lines.push(verdict(
            format!("query {}: DataFusion / DuckDB median time", q.query),
            format!(
                "{:.2}× ({:.0} ms / {:.0} ms)",
                q.ratio, q.datafusion_median_ms, q.duckdb_median_ms
            ),
            "",
            None,
        ));
    }
    let ratios: Vec<f64> = f
        .compacted
        .engines
        .queries
        .iter()
        .map(|q| q.ratio)
        .collect();
    if let (Some(low), Some(high)) = (
        ratios.iter().copied().reduce(f64::min),
        ratios.iter().copied().reduce(f64::max),
    ) {
        lines.push(verdict(
            "queries after compaction: DataFusion / DuckDB median time",
            format!("{low:.2}–{high:.2}×"),
            "",
            None,
        ));
    }
    for s in &f.summary {
        lines.push(verdict(
            format!(
                "GET /v1/analytics/summary by {} ({} buckets): p99",
                s.granularity, s.buckets
            ),
            format!(
                "{} ms (p50 {} ms, {:.0} req/s)",
                ms(s.http.latency_ms.p99),
                ms(s.http.latency_ms.p50),
                s.http.requests_per_second
            ),
            "< 20 ms",
            Some(
                s.http
                    .latency_ms
                    .p99
                    .is_some_and(|p99| p99 < TARGET_SUMMARY_P99_MS),
            ),
        ));
    }
    lines
}

#[derive(Debug, Clone, Serialize)]
struct Figures {
    scale: Scale,
    media: usize,
    users: usize,
    cores: usize,
    range_from: String,
    range_to: String,
    load_average_before: Option<[f64; 3]>,
    load_average_after: Option<[f64; 3]>,
    ingest: IngestFigures,
    reports: Vec<ReportRow>,
    engines: EngineFigures,
    /// The same queries and reports over the events rewritten one file per day.
    compacted: CompactedFigures,
    summary: Vec<SummaryRow>,
    api_keys: usize,
    connections: usize,
    verdicts: Vec<Verdict>,
}

fn print_reports(reports: &[ReportRow]) {
    println!("| report | format | queries s | render s | total s | bytes | rows |");
    println!("|---|---|---|---|---|---|---|");
    for r in reports {
        println!(
            "| {} | {} | {:.2} | {:.3} | {:.2} | {} | {} |",
            r.kind, r.format, r.query_seconds, r.render_seconds, r.total_seconds, r.bytes, r.rows
        );
    }
}

fn print_engines(e: &EngineFigures) {
    println!("| query | rows | DataFusion ms | DuckDB ms | ratio |");
    println!("|---|---|---|---|---|");
    for q in &e.queries {
        println!(
            "| {} | {} | {:.0} | {:.0} | {:.2} |",
            q.query, q.rows, q.datafusion_median_ms, q.duckdb_median_ms, q.ratio
        );
    }
    println!("(row counts and every numeric column's sum agree)");
}

fn print_ingest(i: &IngestFigures, scale: &Scale) {
    println!(
        "ingest: {} messages of {} events, {} at a time: {:.1} s wall, {:.1} s CPU ({:.2} cores busy); synthesised in {:.1} s, encoded in {:.1} s (not counted)",
        i.messages,
        scale.batch,
        scale.concurrency,
        i.wall_seconds,
        i.cpu_seconds,
        i.cpu_seconds / i.wall_seconds.max(1e-9),
        i.synthesise_seconds,
        i.encode_messages_seconds
    );
    println!(
        "  {:.0} events/s on the wall clock, {:.0} events per CPU second",
        i.events_per_second, i.events_per_cpu_second
    );
    println!(
        "  Parquet: {} files, {:.1} MB ({:.1} bytes/event); rollups: {} folds (every {} events) wrote {} items in {} parts ({} skipped); database grew {:.1} MB ({:.1} bytes/event)",
        i.parquet_files,
        i.parquet_bytes as f64 / 1e6,
        i.parquet_bytes_per_event,
        i.folds,
        scale.fold_every,
        i.rollup_items_written,
        i.rollup_parts_applied,
        i.rollup_parts_skipped,
        i.database_growth_bytes as f64 / 1e6,
        i.database_growth_bytes as f64 / i.events.max(1) as f64
    );
}

fn print(f: &Figures) {
    let i = &f.ingest;
    println!();
    println!(
        "events: {} over {} days ({} – {}), {} media, {} users; {} cores; load average before {}, after {}",
        i.events,
        f.scale.days,
        f.range_from,
        f.range_to,
        f.media,
        f.users,
        f.cores,
        show_load(f.load_average_before),
        show_load(f.load_average_after)
    );
    print_ingest(i, &f.scale);
    println!();
    print_reports(&f.reports);
    println!();
    let e = &f.engines;
    println!(
        "DataFusion (2 partitions) against DuckDB {} ({} threads), median of {} runs, same SQL over the same {} files:",
        e.duckdb_version, e.duckdb_threads, e.runs, i.parquet_files
    );
    print_engines(e);
    println!();
    let c = &f.compacted;
    println!(
        "The same events compacted (the daily sweep's compaction, one file per day): {} files, {:.1} MB ({:.1} bytes/event), compacted in {:.1} s; same answers:",
        c.files,
        c.bytes as f64 / 1e6,
        c.bytes as f64 / i.events.max(1) as f64,
        c.compact_seconds
    );
    print_engines(&c.engines);
    println!();
    print_reports(&c.reports);
    println!();
    println!(
        "dashboard over HTTP: {} connections, {} API keys, server and load generator on the same {} cores",
        f.connections, f.api_keys, f.cores
    );
    println!("| request | first ms | requests | req/s | p50 ms | p99 ms | max ms |");
    println!("|---|---|---|---|---|---|---|");
    for s in &f.summary {
        println!(
            "| GET {} | {:.1} | {} | {:.0} | {} | {} | {} |",
            s.path,
            s.first_request_ms,
            s.http.responses,
            s.http.requests_per_second,
            ms(s.http.latency_ms.p50),
            ms(s.http.latency_ms.p99),
            ms(s.http.latency_ms.max)
        );
    }
    println!();
    println!("| figure | value | target | result |");
    println!("|---|---|---|---|");
    for v in &f.verdicts {
        let result = match v.met {
            Some(true) => "met",
            Some(false) => "NOT met",
            None => "—",
        };
        let target = if v.target.is_empty() {
            "—"
        } else {
            &v.target
        };
        println!("| {} | {} | {} | {} |", v.figure, v.value, target, result);
    }
}

// ---------------------------------------------------------------------------------------------

async fn run(args: Args) -> anyhow::Result<()> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let scale = Scale::of(&args, cores)?;
    let ticks = ticks_per_second();
    let tmp;
    let work = match &args.work {
        Some(dir) => {
            std::fs::create_dir_all(dir)?;
            ensure!(
                std::fs::read_dir(dir)?.next().is_none(),
                "{} is not empty",
                dir.display()
            );
            dir.clone()
        }
        None => {
            tmp = tempfile::tempdir()?;
            tmp.path().to_owned()
        }
    };
    let data = work.join("data");
    let platform = LocalPlatform::open(
        &LocalConfig {
            data_dir: data.clone(),
            public_base_url: OFFLINE_ISSUER.into(),
            ingest_max_receives: 5,
        },
        StateMachine::pipeline()?,
    )?;
    let identity = Identity::start(platform.clone(), IdentityConfig::new(OFFLINE_ISSUER))
        .await
        .context("starting the identity service")?;
    // The tenant `serve` creates on its first start; its key is dropped: `serve`, finding no
    // key file, makes the owner key the bench then uses.
    let (tenant, _key) = bootstrap_default_tenant(&identity, false).await?;

    let stream = stream(&scale, &args, Utc::now().date_naive());
    let range = range_of(&stream);
    let load_average_before = load_average();
    let ingest = ingest_stream(&platform, tenant, &stream, &scale, ticks).await?;
    if args.ingest_only {
        println!();
        print_ingest(&ingest, &scale);
        if let Some(path) = &args.json {
            std::fs::write(path, serde_json::to_string_pretty(&ingest)?)
                .with_context(|| format!("writing {}", path.display()))?;
        }
        return Ok(());
    }

    eprintln!(
        "reports: {} kinds × {} formats…",
        ReportKind::ALL.len(),
        ReportFormat::ALL.len()
    );
    let blobs_root = platform.local_blobs().root().to_owned();
    let engine = LocalEngine::new(&blobs_root);
    let reports = all_reports(&platform, &engine, tenant, range).await?;

    eprintln!("queries: DataFusion and DuckDB, {} runs each…", scale.runs);
    let (engines, answers) = compare_engines(
        &args,
        &work,
        "as-ingested",
        &engine,
        &blobs_root,
        tenant,
        range,
        scale.runs,
        None,
    )
    .await?;
    let daily = answers.first().cloned().unwrap_or_default();

    eprintln!("compaction (each day's batch files into one), then the same queries and reports…");
    // Every day of the stream closed, so every day is compacted.
    let after_the_stream = range.to + chrono::Duration::days(1);
    let started = Instant::now();
    let compaction = compact(platform.blobs(), platform.table(), tenant, after_the_stream)
        .await
        .context("compacting the events")?;
    let compact_seconds = started.elapsed().as_secs_f64();
    let (files, bytes) = parquet_on_disk(&blobs_root)?;
    // Every day one file (a day that had one batch file keeps it); the answers are checked
    // against those as ingested below.
    let days = std::fs::read_dir(blobs_root.join(keys::blob::analytics_tenant(tenant)))?.count();
    ensure!(
        files == days,
        "compaction left {files} files over {days} days ({compaction:?})"
    );
    let compacted_engine = LocalEngine::new(&blobs_root);
    let (compacted_engines, _) = compare_engines(
        &args,
        &work,
        "compacted",
        &compacted_engine,
        &blobs_root,
        tenant,
        range,
        scale.runs,
        Some(&answers),
    )
    .await?;
    let compacted = CompactedFigures {
        files,
        bytes,
        compact_seconds,
        engines: compacted_engines,
        reports: all_reports(&platform, &compacted_engine, tenant, range).await?,
    };
    // The server opens the directory itself.
    drop(identity);
    drop(platform);

    let (summary, api_keys) =
        dashboard(&args, &work, &data, range, scale.days, &daily, &scale).await?;
    let mut figures = Figures {
        scale,
        media: args.media,
        users: args.users,
        cores,
        range_from: range.from.to_rfc3339(),
        range_to: range.to.to_rfc3339(),
        load_average_before,
        load_average_after: load_average(),
        ingest,
        reports,
        engines,
        compacted,
        summary,
        api_keys,
        connections: args.connections,
        verdicts: Vec::new(),
    };
    figures.verdicts = verdicts(&figures);
    print(&figures);
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&figures)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// Ctrl-C or SIGTERM.
#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // On a signal the bench is dropped first: that kills the server and the load generator
    // and removes a temporary work directory.
    let finished = tokio::select! {
        outcome = run(args) => Some(outcome),
        () = stop_requested() => None,
    };
    match finished {
        Some(outcome) => outcome,
        None => {
            eprintln!("bench-analytics: stopped; the server and the load generator were ended");
            std::process::exit(130);
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use mvidarr_core::analytics::AnalyticsKind;
    use mvidarr_core::event::EventKind;

    use super::*;

    fn args(extra: &[&str]) -> Args {
        let mut argv = vec![
            "bench-analytics",
            "--mvidarr",
            "/bin/mvidarr",
            "--load-script",
            "x.mjs",
            "--python",
            "python",
            "--duckdb-script",
            "d.py",
        ];
        argv.extend_from_slice(extra);
        Args::parse_from(argv)
    }

    fn rows(columns: &[&str], body: Vec<Vec<Cell>>) -> Rows {
        Rows {
            columns: columns.iter().map(|c| (*c).to_owned()).collect(),
            rows: body,
        }
    }

    fn sums(pairs: &[(&str, ColumnSum)]) -> BTreeMap<String, ColumnSum> {
        pairs.iter().map(|(n, s)| ((*n).to_owned(), *s)).collect()
    }

    #[test]
    fn the_default_scale_is_the_issues_million_events_in_batches_the_api_forwards() {
        let scale = Scale::of(&args(&[]), 2).unwrap();
        assert_eq!(
            scale,
            Scale {
                events: 1_000_000,
                days: 30,
                batch: 100,
                concurrency: 2,
                fold_every: 100_000,
                runs: 5,
                duration_seconds: 10,
            }
        );
    }

    #[test]
    fn quick_is_small_and_explicit_flags_still_win() {
        let quick = Scale::of(&args(&["--quick"]), 4).unwrap();
        assert_eq!(
            (quick.events, quick.runs, quick.duration_seconds),
            (20_000, 3, 2)
        );
        assert_eq!(quick.concurrency, 4);
        let quick = Scale::of(
            &args(&["--quick", "--events", "500", "--concurrency", "1"]),
            4,
        )
        .unwrap();
        assert_eq!((quick.events, quick.concurrency), (500, 1));
    }

    #[test]
    fn sizes_that_cannot_make_a_benchmark_are_refused() {
        for bad in [
            &["--events", "0"][..],
            &["--days", "0"],
            &["--days", "32"],
            &["--batch", "0"],
            &["--concurrency", "0"],
            &["--runs", "0"],
            &["--duration", "0"],
            &["--media", "0"],
            &["--users", "0"],
            &["--connections", "0"],
            &["--keys", "0"],
        ] {
            assert!(Scale::of(&args(bad), 2).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn the_stream_ends_at_the_given_midnight_and_the_range_covers_it() {
        let scale = Scale::of(&args(&[]), 2).unwrap();
        let end = NaiveDate::from_ymd_opt(2026, 11, 26).unwrap();
        let s = stream(&scale, &args(&[]), end);
        assert_eq!(
            s.start,
            Utc.with_ymd_and_hms(2026, 10, 27, 0, 0, 0).unwrap()
        );
        let range = range_of(&s);
        assert_eq!(
            range.to,
            Utc.with_ymd_and_hms(2026, 11, 26, 0, 0, 0).unwrap()
        );
        assert_eq!(range.days().count(), 30);
    }

    #[test]
    fn messages_hold_the_batch_size_in_order_and_decode_as_the_function_reads_them() {
        let tenant = TenantId::generate();
        let at = Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap();
        let events: Vec<AnalyticsEvent> = (0..250)
            .map(|i| {
                AnalyticsEvent::platform(
                    AnalyticsKind::Client(EventKind::Play),
                    format!("e{i}"),
                    at,
                )
            })
            .collect();
        let bodies = messages(tenant, &events, 100).unwrap();
        let batches: Vec<EventBatch> = bodies
            .iter()
            .map(|b| serde_json::from_str(b).unwrap())
            .collect();
        assert_eq!(
            batches.iter().map(|b| b.events.len()).collect::<Vec<_>>(),
            vec![100, 100, 50]
        );
        assert!(batches.iter().all(|b| b.tenant == tenant));
        assert_eq!(batches[2].events[49].id, "e249");
        // The same events make the same batches (the same ids): a resend is counted once.
        assert_eq!(messages(tenant, &events, 100).unwrap(), bodies);
    }

    #[test]
    fn a_batch_size_whose_messages_do_not_fit_the_queue_is_refused() {
        let tenant = TenantId::generate();
        let at = Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap();
        let mut big = AnalyticsEvent::platform(AnalyticsKind::Client(EventKind::View), "big", at);
        big.props
            .insert("blob".into(), Value::String("x".repeat(MAX_MESSAGE_BYTES)));
        let error = messages(tenant, &[big], 1).unwrap_err().to_string();
        assert!(error.contains("--batch"), "{error}");
        assert!(messages(tenant, &[], 0).is_err());
    }

    #[test]
    fn cpu_ticks_are_user_plus_system_even_with_spaces_in_the_command_name() {
        let stat = "4242 (tokio (worker) 1) S 1 2 3 4 5 6 7 8 9 10 150 25 7 3 20 0 4 0 100";
        assert_eq!(parse_cpu_ticks(stat), Some(175));
        assert_eq!(parse_cpu_ticks("4242 (x) S 1 2"), None);
        assert_eq!(parse_cpu_ticks("no parenthesis"), None);
    }

    #[test]
    fn parquet_on_disk_counts_only_parquet_files_at_any_depth() {
        let dir = tempfile::tempdir().unwrap();
        let day = dir.path().join("date=2026-11-01");
        std::fs::create_dir_all(&day).unwrap();
        std::fs::write(day.join("a.parquet"), [0u8; 10]).unwrap();
        std::fs::write(day.join("b.parquet"), [0u8; 5]).unwrap();
        std::fs::write(day.join("b.parquet.meta"), [0u8; 100]).unwrap();
        assert_eq!(parquet_on_disk(dir.path()).unwrap(), (2, 15));
        assert_eq!(parquet_on_disk(&dir.path().join("absent")).unwrap(), (0, 0));
    }

    #[test]
    fn duckdb_gets_its_own_literals_for_the_same_days_and_bounds() {
        let range = TimeRange {
            from: Utc.with_ymd_and_hms(2026, 10, 27, 0, 0, 0).unwrap(),
            to: Utc.with_ymd_and_hms(2026, 11, 26, 0, 0, 0).unwrap(),
        };
        assert_eq!(
            duckdb_range_clause(range),
            "\"date\" BETWEEN DATE '2026-10-27' AND DATE '2026-11-25' AND \"at\" >= TIMESTAMPTZ '2026-10-27T00:00:00+00:00' AND \"at\" < TIMESTAMPTZ '2026-11-26T00:00:00+00:00'"
        );
        // The same query text around it on both engines.
        let ours = ReportQuery::Daily.sql(&LocalEngine::range_clause(range));
        let theirs = ReportQuery::Daily.sql(&duckdb_range_clause(range));
        let strip = |sql: &str, clause: &str| sql.replace(clause, "{range}");
        assert_eq!(
            strip(&ours, &LocalEngine::range_clause(range)),
            strip(&theirs, &duckdb_range_clause(range))
        );
    }

    #[test]
    fn the_summary_path_asks_for_the_range_s_days_with_an_exclusive_end() {
        let range = TimeRange {
            from: Utc.with_ymd_and_hms(2026, 10, 27, 0, 0, 0).unwrap(),
            to: Utc.with_ymd_and_hms(2026, 11, 26, 0, 0, 0).unwrap(),
        };
        assert_eq!(
            summary_path(range, "hour"),
            "/v1/analytics/summary?from=2026-10-27&to=2026-11-26&granularity=hour"
        );
    }

    #[test]
    fn sums_cover_numeric_columns_only_and_stay_exact_for_integers() {
        let day = Cell::Date(NaiveDate::from_ymd_opt(2026, 11, 1).unwrap());
        let answer = rows(
            &["day", "plays", "mean_ms", "sparse", "tag"],
            vec![
                vec![
                    day.clone(),
                    Cell::Integer(i64::MAX),
                    Cell::Number(1.5),
                    Cell::Empty,
                    Cell::Text("a".into()),
                ],
                vec![
                    day,
                    Cell::Integer(1),
                    Cell::Number(2.0),
                    Cell::Integer(4),
                    Cell::Text("b".into()),
                ],
            ],
        );
        assert_eq!(
            rows_sums(&answer),
            sums(&[
                ("mean_ms", ColumnSum::Number(3.5)),
                ("plays", ColumnSum::Integer(i128::from(i64::MAX) + 1)),
                ("sparse", ColumnSum::Integer(4)),
            ])
        );
        assert!(rows_sums(&rows(&["plays"], vec![])).is_empty());
    }

    #[test]
    fn duckdb_sums_read_from_json_keep_integers_exact() {
        let theirs: BTreeMap<String, Value> =
            serde_json::from_str(r#"{"plays": 9007199254740993, "mean_ms": 3.5}"#).unwrap();
        assert_eq!(
            json_sums(&theirs).unwrap(),
            sums(&[
                ("mean_ms", ColumnSum::Number(3.5)),
                ("plays", ColumnSum::Integer(9_007_199_254_740_993)),
            ])
        );
        let text: BTreeMap<String, Value> = serde_json::from_str(r#"{"day": "x"}"#).unwrap();
        assert!(json_sums(&text).is_err());
    }

    #[test]
    fn equal_answers_agree_and_every_difference_is_named() {
        let ours = sums(&[
            ("plays", ColumnSum::Integer(10)),
            ("mean_ms", ColumnSum::Number(1.0 / 3.0)),
        ]);
        let same = sums(&[
            ("plays", ColumnSum::Integer(10)),
            ("mean_ms", ColumnSum::Number(0.333_333_333_333_333_3)),
        ]);
        assert!(compare_answers((30, 30), (&ours, &same)).is_empty());

        let theirs = sums(&[
            ("plays", ColumnSum::Integer(11)),
            ("views", ColumnSum::Integer(1)),
        ]);
        let problems = compare_answers((30, 29), (&ours, &theirs));
        assert_eq!(problems.len(), 4, "{problems:?}");
        assert!(problems[0].contains("30 rows on DataFusion, 29 on DuckDB"));
        assert!(problems.iter().any(|p| p.starts_with("plays: sums to 10")));
        assert!(
            problems
                .iter()
                .any(|p| p.starts_with("mean_ms: no numeric sum on DuckDB"))
        );
        assert!(
            problems
                .iter()
                .any(|p| p.starts_with("views: no numeric sum on DataFusion"))
        );
    }

    #[test]
    fn an_integer_and_a_whole_number_sum_agree() {
        assert!(ColumnSum::Integer(4).agrees_with(ColumnSum::Number(4.0)));
        assert!(!ColumnSum::Integer(4).agrees_with(ColumnSum::Number(4.01)));
        assert!(!ColumnSum::Integer(4).agrees_with(ColumnSum::Integer(5)));
    }

    #[test]
    fn the_median_is_the_middle_sample_or_the_mean_of_the_middle_two() {
        assert_eq!(median(&[5.0, 1.0, 3.0]), 3.0);
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
        assert!(median(&[]).is_nan());
    }

    fn load_report(statuses: &[(&str, u64)], errors: u64, timeouts: u64) -> LoadReport {
        LoadReport::from_counts(statuses, errors, timeouts)
    }

    #[test]
    fn a_load_with_only_2xx_passes_and_anything_else_fails_the_bench() {
        assert_eq!(load_report(&[("200", 500)], 0, 0).check(), Ok(()));
        let limited = load_report(&[("200", 500), ("429", 3)], 0, 0)
            .check()
            .unwrap_err();
        assert!(limited.contains("3 × 429"), "{limited}");
        assert!(load_report(&[("200", 5)], 1, 0).check().is_err());
        assert!(load_report(&[("200", 5)], 0, 1).check().is_err());
        assert!(load_report(&[], 0, 0).check().is_err());
    }

    #[test]
    fn the_summary_check_reads_absent_counters_as_zero() {
        let summary = json!({"totals": {"plays": 7}});
        assert_eq!(total(&summary, "plays"), 7);
        assert_eq!(total(&summary, "uploads"), 0);
        let daily = rows(
            &["day", "plays"],
            vec![
                vec![Cell::Text("d".into()), Cell::Integer(3)],
                vec![Cell::Text("e".into()), Cell::Integer(4)],
            ],
        );
        assert_eq!(daily_sum(&daily, "plays"), 7);
        assert_eq!(daily_sum(&daily, "uploads"), 0);
    }

    fn figures(compacted_seconds: f64, ingested_seconds: f64, per_core: f64, p99: f64) -> Figures {
        let report = |seconds| {
            move |format| ReportRow {
                kind: ReportKind::Trend,
                format,
                query_seconds: seconds,
                render_seconds: 0.0,
                total_seconds: seconds,
                bytes: 1,
                rows: 1,
            }
        };
        let mut http = load_report(&[("200", 10)], 0, 0);
        http.latency_ms.p99 = Some(p99);
        let engines = EngineFigures {
            duckdb_version: "x".into(),
            duckdb_threads: "2".into(),
            runs: 1,
            queries: Vec::new(),
        };
        Figures {
            scale: Scale::of(&args(&[]), 2).unwrap(),
            media: 1,
            users: 1,
            cores: 2,
            range_from: String::new(),
            range_to: String::new(),
            load_average_before: None,
            load_average_after: None,
            ingest: IngestFigures {
                events_per_cpu_second: per_core,
                ..IngestFigures::default()
            },
            reports: ReportFormat::ALL
                .into_iter()
                .map(report(ingested_seconds))
                .collect(),
            engines: engines.clone(),
            compacted: CompactedFigures {
                files: 1,
                bytes: 1,
                compact_seconds: 0.0,
                engines,
                reports: ReportFormat::ALL
                    .into_iter()
                    .map(report(compacted_seconds))
                    .collect(),
            },
            summary: vec![SummaryRow {
                granularity: "day",
                path: "/".into(),
                buckets: 30,
                first_request_ms: 1.0,
                http,
            }],
            api_keys: 1,
            connections: 1,
            verdicts: Vec::new(),
        }
    }

    #[test]
    fn every_target_is_judged_against_the_issue_s_number() {
        let met = verdicts(&figures(1.5, 8.0, 150_000.0, 12.0));
        assert!(met.iter().filter_map(|v| v.met).all(|m| m));
        // One ingest line, three report lines on compacted files, one for the seed's promise
        // before compaction, one summary line carry a target.
        assert_eq!(met.iter().filter(|v| v.met.is_some()).count(), 6);

        let missed = verdicts(&figures(4.0, 12.0, 60_000.0, 25.0));
        let failed: Vec<&str> = missed
            .iter()
            .filter(|v| v.met == Some(false))
            .map(|v| v.figure.as_str())
            .collect();
        assert_eq!(failed.len(), 6, "{failed:?}");
        assert!(
            failed.iter().any(|f| f.contains("before any compaction")),
            "{failed:?}"
        );
    }
}
