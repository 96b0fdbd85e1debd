//! Report jobs and schedules.
//!
//! - `POST /v1/reports {kind, format, from?, to?}` queues a job (202 with its id);
//!   `GET /v1/reports/{id}` tells where it is and, once done, where to download it (a URL
//!   valid for [`DOWNLOAD_URL_LIFETIME`]); `GET /v1/reports` lists them, newest first.
//! - `/v1/report-schedules`: a report kind and format on a cron cadence in a time zone, each
//!   run covering the `period_days` whole days before it; run by the scheduler's tick.

use std::time::Duration as StdDuration;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use chrono::Utc;
use mvidarr_core::analytics::jobs::{
    Cadence, JobStatus, ReportJob, ReportSchedule, check_period, enqueue, report_range,
};
use mvidarr_core::analytics::report::{ReportFormat, ReportKind};
use mvidarr_core::ids::{ReportId, ScheduleId};
use mvidarr_core::ports::{BlobStore, Platform};
use mvidarr_core::repo::ReportRepo;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{PageParams, path_id};
use crate::{ApiError, ApiState, Caller};

/// How long a report's download URL works.
pub const DOWNLOAD_URL_LIFETIME: StdDuration = StdDuration::from_secs(15 * 60);
/// Schedules a tenant may have.
pub const MAX_SCHEDULES: usize = 50;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateReport {
    kind: String,
    format: String,
    from: Option<String>,
    to: Option<String>,
}

fn kind_and_format(kind: &str, format: &str) -> Result<(ReportKind, ReportFormat), ApiError> {
    Ok((
        kind.parse().map_err(ApiError::BadRequest)?,
        format.parse().map_err(ApiError::BadRequest)?,
    ))
}

fn job_view(job: &ReportJob) -> Value {
    json!({
        "id": job.id,
        "kind": job.kind,
        "format": job.format,
        "from": job.from,
        "to": job.to,
        "status": job.status,
        "requested_by": job.requested_by,
        "requested_at": job.requested_at,
        "schedule": job.schedule,
        "attempts": job.attempts,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
        "error": job.error,
        "file": job.file.as_ref().map(|f| json!({
            "name": job.file_name(),
            "bytes": f.bytes,
            "content_type": f.content_type,
            "rows": f.rows,
            "empty": f.empty,
        })),
    })
}

pub async fn create<P: Platform>(
    State(state): State<ApiState<P>>,
    caller: Caller,
    Json(body): Json<CreateReport>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let (kind, format) = kind_and_format(&body.kind, &body.format)?;
    let range = report_range(
        body.from.as_deref(),
        body.to.as_deref(),
        Utc::now().date_naive(),
    )
    .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let now = Utc::now();
    let mut job = ReportJob::queued(
        ReportId::generate(),
        caller.tenant,
        kind,
        format,
        range,
        caller.principal.actor(),
        now,
    );
    let repo = ReportRepo::new(state.platform.table());
    repo.create_job(&job).await?;
    if let Err(e) = enqueue(state.platform.reports_queue(), &job).await {
        // Nobody would ever pick it up: say so on the job, and to the caller.
        job.fail(
            format!("the reports queue was unavailable: {e}"),
            Utc::now(),
        );
        // A new item's version is 1.
        repo.save_job(&job, 1).await?;
        return Err(ApiError::Unavailable(
            "reports cannot be queued right now; retry shortly".into(),
        ));
    }
    Ok((StatusCode::ACCEPTED, Json(job_view(&job))))
}

pub async fn list<P: Platform>(
    State(state): State<ApiState<P>>,
    caller: Caller,
    params: Result<Query<PageParams>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let (limit, cursor) = PageParams::parse(params)?;
    let page = ReportRepo::new(state.platform.table())
        .jobs(caller.tenant, limit, cursor)
        .await?;
    Ok(Json(json!({
        "items": page.jobs.iter().map(job_view).collect::<Vec<_>>(),
        "next_cursor": page.next_cursor,
    })))
}

pub async fn get<P: Platform>(
    State(state): State<ApiState<P>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id: ReportId = path_id(&id, "report")?;
    let job = ReportRepo::new(state.platform.table())
        .job(caller.tenant, id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no report {id}")))?
        .record;
    let mut view = job_view(&job);
    if let (JobStatus::Done, Some(file)) = (job.status, &job.file) {
        let url = state
            .platform
            .blobs()
            .presign_get(&file.key, DOWNLOAD_URL_LIFETIME)
            .await?;
        view["download"] = json!({"url": url.url, "expires_at": url.expires_at});
    }
    Ok(Json(view))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleBody {
    name: String,
    kind: String,
    format: String,
    cron: String,
    #[serde(default = "utc")]
    timezone: String,
    period_days: u32,
    #[serde(default = "yes")]
    enabled: bool,
}

fn utc() -> String {
    "UTC".into()
}

fn yes() -> bool {
    true
}

/// A schedule as asked for, checked: its kind, format, cadence, period and name.
struct CheckedSchedule {
    kind: ReportKind,
    format: ReportFormat,
    cadence: Cadence,
    body: ScheduleBody,
}

fn check_schedule(body: ScheduleBody) -> Result<CheckedSchedule, ApiError> {
    let name = body.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ApiError::BadRequest(
            "name must be 1 to 100 characters".into(),
        ));
    }
    let (kind, format) = kind_and_format(&body.kind, &body.format)?;
    let bad = |e: mvidarr_core::analytics::jobs::ScheduleError| ApiError::BadRequest(e.to_string());
    let cadence = Cadence::parse(&body.cron, &body.timezone).map_err(bad)?;
    cadence
        .check_frequency(&body.cron, Utc::now())
        .map_err(bad)?;
    check_period(body.period_days).map_err(bad)?;
    Ok(CheckedSchedule {
        kind,
        format,
        cadence,
        body,
    })
}

fn schedule_view(s: &ReportSchedule) -> Value {
    json!({
        "id": s.id,
        "name": s.name,
        "kind": s.kind,
        "format": s.format,
        "cron": s.cron,
        "timezone": s.timezone,
        "period_days": s.period_days,
        "enabled": s.enabled,
        "next_run": s.enabled.then_some(s.next_run),
        "last_run": s.last_run,
        "last_report": s.last_report,
        "created_by": s.created_by,
        "created_at": s.created_at,
        "updated_at": s.updated_at,
    })
}

pub async fn create_schedule<P: Platform>(
    State(state): State<ApiState<P>>,
    caller: Caller,
    Json(body): Json<ScheduleBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let checked = check_schedule(body)?;
    let repo = ReportRepo::new(state.platform.table());
    if repo.schedules(caller.tenant).await?.len() >= MAX_SCHEDULES {
        return Err(ApiError::Conflict(format!(
            "a tenant has at most {MAX_SCHEDULES} report schedules; delete one first"
        )));
    }
    let now = Utc::now();
    let next_run = checked
        .cadence
        .next_after(now)
        .ok_or_else(|| ApiError::BadRequest(format!("cron {:?} never runs", checked.body.cron)))?;
    let schedule = ReportSchedule {
        id: ScheduleId::generate(),
        tenant: caller.tenant,
        name: checked.body.name.trim().to_owned(),
        kind: checked.kind,
        format: checked.format,
        cron: checked.body.cron.trim().to_owned(),
        timezone: checked.body.timezone,
        period_days: checked.body.period_days,
        enabled: checked.body.enabled,
        created_by: caller.principal.actor(),
        created_at: now,
        updated_at: now,
        next_run,
        last_run: None,
        last_report: None,
    };
    repo.create_schedule(&schedule).await?;
    Ok((StatusCode::CREATED, Json(schedule_view(&schedule))))
}

pub async fn list_schedules<P: Platform>(
    State(state): State<ApiState<P>>,
    caller: Caller,
) -> Result<Json<Value>, ApiError> {
    let schedules = ReportRepo::new(state.platform.table())
        .schedules(caller.tenant)
        .await?;
    Ok(Json(json!({
        "items": schedules.iter().map(schedule_view).collect::<Vec<_>>(),
    })))
}

pub async fn get_schedule<P: Platform>(
    State(state): State<ApiState<P>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id: ScheduleId = path_id(&id, "report schedule")?;
    let schedule = ReportRepo::new(state.platform.table())
        .schedule(caller.tenant, id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no report schedule {id}")))?;
    Ok(Json(schedule_view(&schedule.record)))
}

/// Replace a schedule's definition; its next run follows the new cadence from now.
pub async fn update_schedule<P: Platform>(
    State(state): State<ApiState<P>>,
    caller: Caller,
    Path(id): Path<String>,
    Json(body): Json<ScheduleBody>,
) -> Result<Json<Value>, ApiError> {
    let id: ScheduleId = path_id(&id, "report schedule")?;
    let checked = check_schedule(body)?;
    let repo = ReportRepo::new(state.platform.table());
    let current = repo
        .schedule(caller.tenant, id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no report schedule {id}")))?;
    let now = Utc::now();
    let mut schedule = current.record;
    schedule.name = checked.body.name.trim().to_owned();
    schedule.kind = checked.kind;
    schedule.format = checked.format;
    schedule.cron = checked.body.cron.trim().to_owned();
    schedule.timezone = checked.body.timezone;
    schedule.period_days = checked.body.period_days;
    schedule.enabled = checked.body.enabled;
    schedule.updated_at = now;
    schedule.next_run = checked
        .cadence
        .next_after(now)
        .ok_or_else(|| ApiError::BadRequest(format!("cron {:?} never runs", schedule.cron)))?;
    if !repo.save_schedule(&schedule, current.version).await? {
        return Err(ApiError::Conflict(
            "the schedule changed meanwhile (it may have just run); retry".into(),
        ));
    }
    Ok(Json(schedule_view(&schedule)))
}

pub async fn delete_schedule<P: Platform>(
    State(state): State<ApiState<P>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id: ScheduleId = path_id(&id, "report schedule")?;
    let repo = ReportRepo::new(state.platform.table());
    if repo.schedule(caller.tenant, id).await?.is_none() {
        return Err(ApiError::NotFound(format!("no report schedule {id}")));
    }
    repo.delete_schedule(caller.tenant, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
