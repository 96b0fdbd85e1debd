//! `report`: the reports queue's consumer and the scheduler's tick.
//!
//! - A message of the reports queue names one [`ReportJob`]: the job's queries run on the
//!   query engine (DataFusion locally, Athena in AWS), the report is rendered in its format
//!   and stored at `t/{tenant}/reports/{id}.{ext}`, and the job records the file. A job is
//!   generated once however often its message comes; a failure a later try may not have (an
//!   engine busy, a store unavailable) is retried up to [`MAX_ATTEMPTS`] times, any other
//!   fails the job at once with the reason.
//! - The tick (an EventBridge schedule in AWS, a timer in `mvidarr serve`) queues the jobs
//!   of due report schedules, evaluates the tenants' alert rules, pseudonymises the events of
//!   erased people, and once a day drops every tenant's events older than its retention and
//!   compacts the days since closed into a file each.

use std::collections::HashMap;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use chrono::Utc;
use mvidarr_analytics::query::{QueryEngine, QueryError};
use mvidarr_analytics::reports::{self, ReportRequest};
use mvidarr_analytics::retention::{
    ErasedSubject, RetentionError, enforce_retention, pseudonymise,
};
use mvidarr_analytics::{compact, compact_today, fold_pending};
use mvidarr_auth::store::SettingsRepo;
use mvidarr_core::Timestamp;
use mvidarr_core::analytics::jobs::{
    MAX_ATTEMPTS, ReportFile, ReportJob, ReportMessage, ReportSchedule, enqueue,
};
use mvidarr_core::analytics::report::ReportFormat;
use mvidarr_core::ids::{MediaId, TenantId};
use mvidarr_core::keys;
use mvidarr_core::ports::blob::body_of;
use mvidarr_core::ports::{BlobError, BlobStore, Platform, QueueError, Table};
use mvidarr_core::repo::{
    AnalyticsRepo, ErasureRepo, MediaRepo, RepoError, ReportRepo, RollupCache, TenantRepo,
    Versioned, evaluate_alerts,
};
use mvidarr_report::RenderError;
use tracing::{info, warn};

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("not a report message: {0}")]
    Malformed(#[from] serde_json::Error),
    #[error(transparent)]
    Query(#[from] QueryError),
    #[error(transparent)]
    Render(#[from] RenderError),
    #[error(transparent)]
    Repo(#[from] RepoError),
    #[error("storing the report: {0}")]
    Blob(#[from] BlobError),
    #[error("queueing a report job: {0}")]
    Queue(#[from] QueueError),
    #[error(transparent)]
    Retention(#[from] RetentionError),
    #[error("tenant {0} does not exist")]
    NoTenant(TenantId),
    /// Another worker changed the job meanwhile (a duplicate delivery); this one leaves it.
    #[error("job {0} changed meanwhile")]
    Busy(mvidarr_core::ids::ReportId),
}

impl ReportError {
    /// Whether a later attempt may succeed where this one failed.
    fn is_retryable(&self) -> bool {
        match self {
            // Athena's verdict on a failed query is followed. DataFusion's errors are mostly
            // local I/O (a file compacted away under the query), cheap to try again.
            ReportError::Query(e) => !matches!(
                e,
                QueryError::Failed {
                    retryable: false,
                    ..
                }
            ),
            ReportError::Queue(_) | ReportError::Busy(_) => true,
            ReportError::Repo(e) => e.is_transient(),
            ReportError::Blob(e) => matches!(e, BlobError::Transient(_)),
            ReportError::Retention(e) => e.is_transient(),
            ReportError::Malformed(_) | ReportError::Render(_) | ReportError::NoTenant(_) => false,
        }
    }
}

/// A rendered report.
#[derive(Debug, Clone)]
pub struct Rendered {
    pub bytes: Vec<u8>,
    pub rows: u64,
    pub empty: bool,
}

/// Query, lay out and render one report: what a job produces and what
/// `mvidarr report` writes to a file.
pub async fn render_report<T: Table, E: QueryEngine>(
    table: &T,
    engine: &E,
    request: &ReportRequest,
    format: ReportFormat,
) -> Result<Rendered, ReportError> {
    let ranked: Vec<MediaId> = reports::ranked_media(engine, request)
        .await?
        .iter()
        .filter_map(|id| id.parse().ok())
        .collect();
    let titles: HashMap<String, String> = MediaRepo::new(table)
        .titles(request.tenant, ranked)
        .await?
        .into_iter()
        .map(|(id, title)| (id.to_string(), title))
        .collect();
    let report = reports::build(engine, request, &titles).await?;
    let bytes = mvidarr_report::render(&report, format)?;
    Ok(Rendered {
        bytes,
        rows: report.tables.iter().map(|t| t.rows.len() as u64).sum(),
        empty: report.is_empty(),
    })
}

/// What became of one message.
#[derive(Debug, Clone, PartialEq)]
pub enum JobOutcome {
    Done(ReportFile),
    /// Failed for good; the job says why.
    Failed(String),
    /// Finished before (a message delivered again).
    AlreadyFinished,
    /// No such job (its tenant was removed): nothing to do.
    Missing,
}

/// What one tick did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TickOutcome {
    /// Jobs queued for due schedules.
    pub scheduled: usize,
    /// Schedules switched off because their cadence no longer runs.
    pub schedules_ended: usize,
    /// Alerts raised by the tenants' rules.
    pub alerts_raised: usize,
    /// Erasures done (events pseudonymised).
    pub erasures: usize,
    /// Whether this tick ran the day's retention sweep, and the event files it dropped.
    pub retention_swept: bool,
    pub retention_files_dropped: usize,
    /// Tenant days whose events files the sweep merged into one.
    pub days_compacted: usize,
    /// Tenants whose finished batch files of today this tick merged (the first tick of each
    /// hour).
    pub today_compacted: usize,
    /// Batch files this tick folded into the rollups: ones the events function's own fold
    /// left (it failed, or its invocation ended first).
    pub batches_folded: usize,
}

/// What the day's retention sweep did.
#[derive(Debug, Default)]
struct RetentionSweep {
    files_dropped: usize,
    days_compacted: usize,
}

/// Erasures done per tick at most: each rewrites a tenant's files that hold the subject.
const ERASURES_PER_TICK: usize = 5;

/// Due schedules handled per tick at most; the rest wait for the next one.
const SCHEDULES_PER_TICK: usize = 500;

pub struct ReportFunction<P, E> {
    platform: P,
    engine: E,
    /// Decoded rollups, so each minute's alert sweep decodes only the days that changed.
    rollups: RollupCache,
}

impl<P: Platform, E: QueryEngine> ReportFunction<P, E> {
    pub fn new(platform: P, engine: E) -> Self {
        Self {
            platform,
            engine,
            rollups: RollupCache::default(),
        }
    }

    pub fn platform(&self) -> &P {
        &self.platform
    }

    /// One message of the reports queue. `Err` means "deliver it again".
    pub async fn handle_message(&self, body: &str) -> Result<JobOutcome, ReportError> {
        let message: ReportMessage = serde_json::from_str(body)?;
        self.generate(message).await
    }

    /// Generate a job's report, once.
    pub async fn generate(&self, message: ReportMessage) -> Result<JobOutcome, ReportError> {
        let repo = ReportRepo::new(self.platform.table());
        let Some(Versioned {
            record: mut job,
            version,
        }) = repo.job(message.tenant, message.id).await?
        else {
            warn!(tenant = %message.tenant, job = %message.id, "no such report job; message dropped");
            return Ok(JobOutcome::Missing);
        };
        if job.status.is_final() {
            return Ok(JobOutcome::AlreadyFinished);
        }
        if job.attempts >= MAX_ATTEMPTS {
            let why = format!(
                "gave up after {} attempts: {}",
                job.attempts,
                job.error
                    .clone()
                    .unwrap_or_else(|| "the worker stopped before it finished".into())
            );
            job.fail(why.clone(), Utc::now());
            self.save(&job, version).await?;
            return Ok(JobOutcome::Failed(why));
        }
        job.start(Utc::now());
        self.save(&job, version).await?;
        let version = version + 1;
        match self.produce(&job).await {
            Ok(file) => {
                job.finish(file.clone(), Utc::now());
                self.save(&job, version).await?;
                info!(tenant = %job.tenant, job = %job.id, kind = %job.kind, format = %job.format,
                    bytes = file.bytes, rows = file.rows, "report generated");
                Ok(JobOutcome::Done(file))
            }
            Err(e) if e.is_retryable() && job.attempts < MAX_ATTEMPTS => {
                warn!(tenant = %job.tenant, job = %job.id, attempt = job.attempts, error = %e,
                    "report attempt failed; it will be retried");
                job.retry_later(e.to_string());
                self.save(&job, version).await?;
                Err(e)
            }
            Err(e) => {
                warn!(tenant = %job.tenant, job = %job.id, error = %e, "report failed");
                job.fail(e.to_string(), Utc::now());
                self.save(&job, version).await?;
                Ok(JobOutcome::Failed(e.to_string()))
            }
        }
    }

    async fn save(&self, job: &ReportJob, version: u64) -> Result<(), ReportError> {
        if ReportRepo::new(self.platform.table())
            .save_job(job, version)
            .await?
        {
            Ok(())
        } else {
            Err(ReportError::Busy(job.id))
        }
    }

    async fn produce(&self, job: &ReportJob) -> Result<ReportFile, ReportError> {
        let tenant = TenantRepo::new(self.platform.table())
            .by_id(job.tenant)
            .await?
            .ok_or(ReportError::NoTenant(job.tenant))?;
        let request = ReportRequest {
            kind: job.kind,
            tenant: job.tenant,
            tenant_name: tenant.name,
            range: job.range(),
            generated_at: Utc::now(),
        };
        let rendered =
            render_report(self.platform.table(), &self.engine, &request, job.format).await?;
        let key = keys::blob::report(job.tenant, job.id, job.format.as_str());
        let bytes = rendered.bytes.len() as u64;
        self.platform
            .blobs()
            .put(
                &key,
                body_of(rendered.bytes),
                Some(job.format.content_type()),
            )
            .await?;
        Ok(ReportFile {
            key,
            bytes,
            content_type: job.format.content_type().to_owned(),
            rows: rendered.rows,
            empty: rendered.empty,
        })
    }

    /// A Lambda invocation from the reports queue: every message on its own, the failed
    /// ones reported back so only they come again.
    pub async fn handle_sqs_event(&self, event: SqsEvent) -> SqsBatchResponse {
        let mut results = Vec::with_capacity(event.records.len());
        // One at a time: a report's queries already use the machine.
        for m in &event.records {
            let result = self
                .handle_message(m.body.as_deref().unwrap_or_default())
                .await;
            results.push((m.message_id.clone().unwrap_or_default(), result.map(drop)));
        }
        mvidarr_lambda::sqs_batch_response(results)
    }

    /// The scheduler's tick: fold whatever events files the rollups do not count yet, queue
    /// a job for every due schedule, evaluate the alert rules,
    /// do waiting erasures, first thing each day the retention sweep and first thing each
    /// hour the compaction of today's events. Each part's trouble
    /// is logged and left to the next tick; the others still run.
    pub async fn tick(&self, now: Timestamp) -> Result<TickOutcome, ReportError> {
        let folded = self.fold_pending(now).await;
        let mut outcome = self.run_schedules(now).await?;
        outcome.batches_folded = folded;
        match evaluate_alerts(self.platform.table(), now, &self.rollups).await {
            Ok(sweep) => outcome.alerts_raised = sweep.alerts_raised,
            Err(e) => warn!(error = %e, "alert evaluation failed; the next tick retries"),
        }
        match self.erase(now).await {
            Ok(done) => outcome.erasures = done,
            Err(e) => warn!(error = %e, "an analytics erasure failed; the next tick retries"),
        }
        match self.sweep_retention(now).await {
            Ok(Some(swept)) => {
                outcome.retention_swept = true;
                outcome.retention_files_dropped = swept.files_dropped;
                outcome.days_compacted = swept.days_compacted;
            }
            Ok(None) => {}
            Err(e) => warn!(error = %e, "the retention sweep failed; tomorrow's finishes it"),
        }
        match self.compact_today(now).await {
            Ok(tenants) => outcome.today_compacted = tenants,
            Err(e) => {
                warn!(error = %e, "today's events not compacted; the next hour's tick retries")
            }
        }
        Ok(outcome)
    }

    /// Fold every tenant's pending days, so the rollups (and the alerts on them) count every
    /// events file written, first moving media days still kept by media when a pass of that
    /// move is due. A tenant's failure is logged and left to the next tick. Returns the batch
    /// files folded.
    async fn fold_pending(&self, now: Timestamp) -> usize {
        let table = self.platform.table();
        let tenants = match TenantRepo::new(table).list_all().await {
            Ok(tenants) => tenants,
            Err(e) => {
                warn!(error = %e, "tenants not listed; the next tick folds their events");
                return 0;
            }
        };
        let mut folded = 0;
        for tenant in tenants {
            // After an upgrade from media-major rollups; a get a tick once done.
            match AnalyticsRepo::new(table)
                .move_media_days_by_day(tenant.id, now)
                .await
            {
                Ok(Some(moved)) => {
                    info!(tenant = %tenant.id, moved, "media days moved to day partitions")
                }
                Ok(None) => {}
                Err(e) => {
                    warn!(tenant = %tenant.id, error = %e, "media days not moved; the next tick retries")
                }
            }
            match Box::pin(fold_pending(self.platform.blobs(), table, tenant.id)).await {
                Ok(outcome) => folded += outcome.batches,
                Err(e) => {
                    warn!(tenant = %tenant.id, error = %e, "events not folded; the next tick retries")
                }
            }
        }
        folded
    }

    /// First thing each hour: merge each tenant's finished batch files of today, so reports
    /// over ranges ending today read an hour's files at most. Returns the tenants merged.
    async fn compact_today(&self, now: Timestamp) -> Result<usize, ReportError> {
        let table = self.platform.table();
        if !ErasureRepo::new(table).claim_hourly_compaction(now).await? {
            return Ok(0);
        }
        let mut merged = 0;
        for tenant in TenantRepo::new(table).list_all().await? {
            let work = compact_today(self.platform.blobs(), table, tenant.id, now);
            match self.with_events_lease(tenant.id, now, work).await? {
                Some(Ok(outcome)) => merged += outcome.days_compacted,
                Some(Err(e)) => {
                    warn!(tenant = %tenant.id, error = %e, "today's events not compacted")
                }
                None => {
                    warn!(tenant = %tenant.id, "events files busy; today's compacted next hour")
                }
            }
        }
        Ok(merged)
    }

    /// Run `work` holding the tenant's events lease (see `ErasureRepo::lease_events`), so
    /// erasures, the sweep and compactions never rewrite the same files at once. `None`: the
    /// files are busy, nothing ran.
    async fn with_events_lease<R>(
        &self,
        tenant: TenantId,
        now: Timestamp,
        work: impl Future<Output = R>,
    ) -> Result<Option<R>, ReportError> {
        let leases = ErasureRepo::new(self.platform.table());
        if !leases.lease_events(tenant, now).await? {
            return Ok(None);
        }
        let done = work.await;
        leases.release_events(tenant).await?;
        Ok(Some(done))
    }

    /// Pseudonymise the events of erased people, a few erasures a tick.
    async fn erase(&self, now: Timestamp) -> Result<usize, ReportError> {
        let repo = ErasureRepo::new(self.platform.table());
        let mut done = 0;
        for mut erasure in repo.pending(ERASURES_PER_TICK).await? {
            let subject = match erasure.subject.strip_prefix("profile:") {
                Some(profile) => profile.parse().ok().map(ErasedSubject::Profile),
                None => ErasedSubject::parse_actor(&erasure.subject),
            };
            let Some(subject) = subject else {
                warn!(tenant = %erasure.tenant, subject = %erasure.subject, "erasure of a subject events never name; closed");
                erasure.done_at = Some(now);
                repo.done(&erasure).await?;
                continue;
            };
            let work = pseudonymise(self.platform.blobs(), erasure.tenant, &subject);
            // One tenant's damaged file must not hold up the erasures behind it: logged, and
            // left pending for the next tick (and for someone to look at the file).
            let result = match self.with_events_lease(erasure.tenant, now, work).await? {
                // The sweep is rewriting this tenant's files: next tick.
                None => continue,
                Some(Ok(result)) => result,
                Some(Err(e)) => {
                    warn!(tenant = %erasure.tenant, subject = %erasure.subject, error = %e, "analytics erasure not finished; retried next tick");
                    continue;
                }
            };
            erasure.done_at = Some(now);
            erasure.files_rewritten = result.files_rewritten as u64;
            erasure.rows_changed = result.rows_changed as u64;
            repo.done(&erasure).await?;
            info!(tenant = %erasure.tenant, files = result.files_rewritten, rows = result.rows_changed, "analytics events of an erased subject pseudonymised");
            done += 1;
        }
        Ok(done)
    }

    /// Once a day (the first tick to claim the day): drop each tenant's event partitions
    /// older than its retention, and compact the days since closed. `None` if another tick
    /// had the day already.
    async fn sweep_retention(&self, now: Timestamp) -> Result<Option<RetentionSweep>, ReportError> {
        let today = now.date_naive();
        let table = self.platform.table();
        if !ErasureRepo::new(table).claim_retention_sweep(today).await? {
            return Ok(None);
        }
        let mut swept = RetentionSweep::default();
        for tenant in TenantRepo::new(table).list_all().await? {
            // One tenant's failure leaves the others swept; tomorrow's sweep finishes it.
            let work = self.sweep_tenant(tenant.id, now, &mut swept);
            if self
                .with_events_lease(tenant.id, now, work)
                .await?
                .is_none()
            {
                warn!(tenant = %tenant.id, "events files busy (an erasure); swept tomorrow");
            }
        }
        Ok(Some(swept))
    }

    /// Drop a tenant's expired days, then merge each closed day's files into one (yesterday's,
    /// and those of earlier days late batches added to). Trouble is logged, not returned.
    async fn sweep_tenant(&self, tenant: TenantId, now: Timestamp, swept: &mut RetentionSweep) {
        let table = self.platform.table();
        let dropped = match SettingsRepo::new(table).retention(tenant).await {
            Ok(retention) => enforce_retention(
                self.platform.blobs(),
                tenant,
                retention.events_days(),
                now.date_naive(),
            )
            .await
            .map_err(ReportError::from),
            Err(e) => Err(e.into()),
        };
        match dropped {
            Ok(outcome) => swept.files_dropped += outcome.objects,
            Err(e) => warn!(%tenant, error = %e, "retention not enforced for a tenant today"),
        }
        match compact(self.platform.blobs(), table, tenant, now).await {
            Ok(outcome) => swept.days_compacted += outcome.days_compacted,
            Err(e) => warn!(%tenant, error = %e, "events not compacted for a tenant today"),
        }
    }

    /// Queue the jobs of every due schedule.
    async fn run_schedules(&self, now: Timestamp) -> Result<TickOutcome, ReportError> {
        let repo = ReportRepo::new(self.platform.table());
        let mut outcome = TickOutcome::default();
        for Versioned {
            record: schedule,
            version,
        } in repo.due_schedules(now, SCHEDULES_PER_TICK).await?
        {
            match self.run_schedule(schedule, version, now).await {
                Ok(true) => outcome.scheduled += 1,
                Ok(false) => outcome.schedules_ended += 1,
                // One tenant's trouble does not hold up the others; the schedule stays due.
                Err(e) => warn!(error = %e, "a due report schedule was not run; next tick retries"),
            }
        }
        Ok(outcome)
    }

    /// Queue the job of a due schedule's latest run and move it to its next run. `Ok(false)`
    /// if the schedule has no more runs (switched off).
    async fn run_schedule(
        &self,
        mut schedule: ReportSchedule,
        version: u64,
        now: Timestamp,
    ) -> Result<bool, ReportError> {
        let repo = ReportRepo::new(self.platform.table());
        let Ok(cadence) = schedule.cadence() else {
            // Checked when it was saved; a time zone dropped from the database since.
            warn!(tenant = %schedule.tenant, schedule = %schedule.id, "schedule's cadence no longer parses; switched off");
            schedule.enabled = false;
            repo.save_schedule(&schedule, version).await?;
            return Ok(false);
        };
        // After a stop, the latest missed run reports; the ones before it are skipped.
        let mut run = schedule.next_run;
        while let Some(next) = cadence.next_after(run)
            && next <= now
        {
            run = next;
        }
        let job = schedule.job_for_run(&cadence, run, now);
        if repo.create_job(&job).await? {
            info!(tenant = %job.tenant, schedule = %schedule.id, job = %job.id, run = %run, "scheduled report queued");
        }
        // Sent again if the job existed: a tick that stopped before moving the schedule on.
        enqueue(self.platform.reports_queue(), &job).await?;
        schedule.last_run = Some(run);
        schedule.last_report = Some(job.id);
        let more = match cadence.next_after(run.max(now)) {
            Some(next) => {
                schedule.next_run = next;
                true
            }
            None => {
                schedule.enabled = false;
                false
            }
        };
        // Lost to an edit made meanwhile: the edit stands, and a run it left due is made
        // again next tick as the same job.
        repo.save_schedule(&schedule, version).await?;
        Ok(more)
    }
}
