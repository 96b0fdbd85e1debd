//! Report jobs and schedules. Both live in the tenant's reports partition; enabled schedules
//! are also in the secondary index by their next run, so the scheduler finds the due ones of
//! every tenant with one ascending query.

use crate::Timestamp;
use crate::analytics::jobs::{ReportJob, ReportSchedule};
use crate::ids::{ReportId, ScheduleId, TenantId};
use crate::keys::table as keys;
use crate::ports::{Index, Item, Query, Table};

use super::{RepoError, Versioned, encode, put_over, versioned};

pub struct ReportRepo<'a, T> {
    table: &'a T,
}

/// A page of a tenant's jobs, newest first.
#[derive(Debug, Clone, PartialEq)]
pub struct JobPage {
    pub jobs: Vec<ReportJob>,
    pub next_cursor: Option<String>,
}

fn job_item(job: &ReportJob) -> Item {
    Item::new(
        keys::reports_pk(job.tenant),
        keys::report_job_sk(job.id),
        encode(job),
    )
}

fn schedule_item(schedule: &ReportSchedule) -> Item {
    let item = Item::new(
        keys::reports_pk(schedule.tenant),
        keys::report_schedule_sk(schedule.id),
        encode(schedule),
    );
    if schedule.enabled {
        item.with_index(
            keys::SCHEDULES_DUE_PK,
            keys::schedule_due_sk(schedule.next_run, schedule.tenant, schedule.id),
        )
    } else {
        item
    }
}

/// The tenant and schedule named by a due-index sort key (`{next run}/{tenant}/{id}`), with
/// the next run as text (its fixed-width form sorts as the time does).
fn parse_due_sk(sk: &str) -> Option<(&str, TenantId, ScheduleId)> {
    let mut parts = sk.splitn(3, '/');
    let at = parts.next()?;
    let tenant = parts.next()?.parse().ok()?;
    let id = parts.next()?.parse().ok()?;
    Some((at, tenant, id))
}

impl<'a, T: Table> ReportRepo<'a, T> {
    pub fn new(table: &'a T) -> Self {
        Self { table }
    }

    /// Store a new job; `Ok(false)` if a job with its id exists already (a scheduled run
    /// made twice).
    pub async fn create_job(&self, job: &ReportJob) -> Result<bool, RepoError> {
        put_over(self.table, job_item(job), None).await
    }

    pub async fn job(
        &self,
        tenant: TenantId,
        id: ReportId,
    ) -> Result<Option<Versioned<ReportJob>>, RepoError> {
        self.table
            .get(&keys::reports_pk(tenant), &keys::report_job_sk(id))
            .await?
            .map(versioned)
            .transpose()
    }

    /// Write a job back over the version it was read at; `Ok(false)` if it changed since.
    pub async fn save_job(&self, job: &ReportJob, read_at: u64) -> Result<bool, RepoError> {
        put_over(self.table, job_item(job), Some(read_at)).await
    }

    /// A tenant's jobs, newest first.
    pub async fn jobs(
        &self,
        tenant: TenantId,
        limit: usize,
        cursor: Option<String>,
    ) -> Result<JobPage, RepoError> {
        let page = self
            .table
            .query(
                Query::partition(keys::reports_pk(tenant))
                    .prefix(keys::REPORT_JOBS_PREFIX)
                    .limit(limit)
                    .after(cursor)
                    .descending(),
            )
            .await?;
        Ok(JobPage {
            jobs: page
                .items
                .into_iter()
                .map(|item| versioned(item).map(|v| v.record))
                .collect::<Result<_, _>>()?,
            next_cursor: page.next_cursor,
        })
    }

    pub async fn create_schedule(&self, schedule: &ReportSchedule) -> Result<bool, RepoError> {
        put_over(self.table, schedule_item(schedule), None).await
    }

    pub async fn schedule(
        &self,
        tenant: TenantId,
        id: ScheduleId,
    ) -> Result<Option<Versioned<ReportSchedule>>, RepoError> {
        self.table
            .get(&keys::reports_pk(tenant), &keys::report_schedule_sk(id))
            .await?
            .map(versioned)
            .transpose()
    }

    /// Write a schedule back over the version it was read at (its place in the due index
    /// moves with its next run); `Ok(false)` if it changed since.
    pub async fn save_schedule(
        &self,
        schedule: &ReportSchedule,
        read_at: u64,
    ) -> Result<bool, RepoError> {
        put_over(self.table, schedule_item(schedule), Some(read_at)).await
    }

    /// Delete a schedule (the reports it made stay).
    pub async fn delete_schedule(&self, tenant: TenantId, id: ScheduleId) -> Result<(), RepoError> {
        self.table
            .delete(
                &keys::reports_pk(tenant),
                &keys::report_schedule_sk(id),
                crate::ports::Condition::Always,
            )
            .await?;
        Ok(())
    }

    /// A tenant's schedules, oldest first (a tenant has at most a few dozen).
    pub async fn schedules(&self, tenant: TenantId) -> Result<Vec<ReportSchedule>, RepoError> {
        let mut out = Vec::new();
        let mut cursor = None;
        loop {
            let page = self
                .table
                .query(
                    Query::partition(keys::reports_pk(tenant))
                        .prefix(keys::REPORT_SCHEDULES_PREFIX)
                        .limit(100)
                        .after(cursor),
                )
                .await?;
            for item in page.items {
                out.push(versioned::<ReportSchedule>(item)?.record);
            }
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => return Ok(out),
            }
        }
    }

    /// The enabled schedules of every tenant whose next run is at or before `now`, earliest
    /// first, at most `limit`. Read from the index (eventually consistent on DynamoDB), so
    /// each is read again from its partition: the version returned is the one to write over,
    /// and a schedule changed or deleted since is left out.
    pub async fn due_schedules(
        &self,
        now: Timestamp,
        limit: usize,
    ) -> Result<Vec<Versioned<ReportSchedule>>, RepoError> {
        // The index's sort keys start with the fixed-width time: one comparison of text.
        let now_text = now.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
        let mut due = Vec::new();
        let mut cursor = None;
        'pages: loop {
            let page = self
                .table
                .query(
                    Query::partition(keys::SCHEDULES_DUE_PK)
                        .on_index(Index::Gsi1)
                        .limit(limit.min(100))
                        .after(cursor),
                )
                .await?;
            for item in page.items {
                let Some(sk) = item.gsi1sk.as_deref() else {
                    continue;
                };
                let Some((at, tenant, id)) = parse_due_sk(sk) else {
                    tracing::warn!(sk, "due-schedule index entry that does not parse; skipped");
                    continue;
                };
                if at > now_text.as_str() {
                    break 'pages;
                }
                if let Some(current) = self.schedule(tenant, id).await?
                    && current.record.enabled
                    && current.record.next_run <= now
                {
                    due.push(current);
                    if due.len() >= limit {
                        break 'pages;
                    }
                }
            }
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        Ok(due)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_keys_parse_back() {
        let (tenant, id) = (TenantId::generate(), ScheduleId::generate());
        let at = chrono::DateTime::parse_from_rfc3339("2026-11-30T07:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        let sk = keys::schedule_due_sk(at, tenant, id);
        assert_eq!(
            parse_due_sk(&sk),
            Some(("2026-11-30T07:00:00.000Z", tenant, id))
        );
        assert_eq!(parse_due_sk("garbage"), None);
    }
}
