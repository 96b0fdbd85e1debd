//! The fold: events files added to the rollups in bulk.
//!
//! Ingest ([`crate::ingest`]) only writes a batch's events files and notes their days as
//! pending. The fold counts a day's new files at once: it lists the day's partition, takes
//! the batch files the rollups do not count yet (no marker), adds their events up into one
//! [`DayDelta`] and applies that under a plan id, the way a single batch was applied before
//! ([`AnalyticsRepo::apply`]). A media watched a thousand times in the interval is then one
//! rollup write, not one per batch, which is most of what ingest used to spend.
//!
//! Exactly once, however the fold is cut short or run twice at the same time:
//!
//! - **The plan comes first.** Before adding anything the fold stores its plan (its id and
//!   its batches) as the day's fold record, on the condition that the record is still the
//!   one it read before listing the files (a finished plan, or none); a fold that finds an
//!   unfinished plan carries that one out instead of making its own. So a fold that listed
//!   the files while another ran to its end cannot store a plan counting that one's batches
//!   again. The same batches' files give the same delta, so the same parts (media in order,
//!   99 a transaction), each applied once by its marker (`{plan}/{part}`).
//! - **Then the batches' markers, then the record is done.** Once every part is applied,
//!   each batch gets the marker a batch applied on its own got (`{batch}/t`): from then on
//!   ingest writes no file for it again, and compaction may merge its file. Both steps are
//!   idempotent, so whoever resumes a plan finishes it.
//! - **Files of a plan stay put until it is done:** compaction merges only marked batches.
//!   Erasure may rewrite one meanwhile (same rows, pseudonymised): the counts are the same.
//!   Only retention dropping the whole day while it is being folded can make two runs of one
//!   plan read different files; that day's events are gone from the queries by then.
//!
//! A batch file that cannot be read as an events file is marked done without being counted,
//! and reported (compaction reports it too, and leaves its day alone): folding it again
//! would not help.
//!
//! The rollups lag the files by the time between folds: the local events worker folds every
//! second while it is busy, the events function at the end of each invocation, and the
//! scheduler's tick (every minute) whatever is still pending.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use chrono::NaiveDate;
use futures_util::StreamExt;
use mvidarr_core::Timestamp;
use mvidarr_core::analytics::{DayDelta, aggregate};
use mvidarr_core::ids::TenantId;
use mvidarr_core::keys;
use mvidarr_core::ports::{BlobStore, ObjectInfo, Table};
use mvidarr_core::repo::{AnalyticsRepo, ApplyOutcome, FoldPlan, FoldRecord, RepoError};
use tracing::{info, warn};

use crate::compaction::{COMPACTED_PREFIX, SETTLED_AFTER};
use crate::parquet;
use crate::retention::{RetentionError, list, read};

#[derive(Debug, thiserror::Error)]
pub enum FoldError {
    #[error(transparent)]
    Files(#[from] RetentionError),
    #[error(transparent)]
    Repo(#[from] RepoError),
}

impl FoldError {
    /// Whether folding again may succeed (a store was unavailable).
    pub fn is_transient(&self) -> bool {
        match self {
            FoldError::Files(e) => e.is_transient(),
            FoldError::Repo(e) => e.is_transient(),
        }
    }
}

/// Batches one plan counts at most (a batch is at most 1,000 events); a day with more new
/// files is folded in several plans.
pub const MAX_PLAN_BATCHES: usize = 1000;
/// Files read at once: a request each in S3.
const CONCURRENT_READS: usize = 16;

/// What a fold did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FoldOutcome {
    /// Tenant days folded (plans carried out).
    pub plans: usize,
    /// Batch files counted, and their events.
    pub batches: usize,
    pub events: u64,
    /// Batch files that could not be read as events files: marked done, not counted.
    pub unreadable: usize,
    /// Batch files a plan named that were gone (the day dropped by retention meanwhile).
    pub missing: usize,
    /// Pending days still noted after the fold (a file arrived while it ran).
    pub still_pending: usize,
    pub rollups: ApplyOutcome,
}

impl FoldOutcome {
    fn add(&mut self, o: FoldOutcome) {
        self.plans += o.plans;
        self.batches += o.batches;
        self.events += o.events;
        self.unreadable += o.unreadable;
        self.missing += o.missing;
        self.still_pending += o.still_pending;
        self.rollups.add(&o.rollups);
    }
}

/// Fold every day the tenant has pending: each day's new batch files into its rollups.
pub async fn fold_pending<B: BlobStore, T: Table>(
    blobs: &B,
    table: &T,
    tenant: TenantId,
) -> Result<FoldOutcome, FoldError> {
    let repo = AnalyticsRepo::new(table);
    let mut outcome = FoldOutcome::default();
    for (date, version) in repo.pending_days(tenant).await? {
        outcome.add(fold_day(blobs, table, tenant, date).await?);
        // Read before the files were listed: a file written since renewed it.
        if !repo.clear_pending(tenant, date, version).await? {
            outcome.still_pending += 1;
        }
    }
    if outcome.plans > 0 {
        info!(%tenant, ?outcome, "analytics events folded into the rollups");
    }
    Ok(outcome)
}

/// Fold the day's batch files that the rollups do not count yet, finishing first any fold of
/// the day that was cut short.
pub async fn fold_day<B: BlobStore, T: Table>(
    blobs: &B,
    table: &T,
    tenant: TenantId,
    date: NaiveDate,
) -> Result<FoldOutcome, FoldError> {
    let repo = AnalyticsRepo::new(table);
    let mut outcome = FoldOutcome::default();
    for _ in 0..MAX_ROUNDS {
        let record = repo.fold_record(tenant, date).await?;
        let (plan, version) = match record {
            Some(FoldRecord { plan, version }) if !plan.done => (plan, version),
            last => {
                // Listed after the record was read: a fold finished before then has its
                // batches marked, and one finished since changed the record, so the plan
                // below is not stored.
                let batches = unfolded_batches(blobs, &repo, tenant, date).await?;
                if batches.is_empty() {
                    return Ok(outcome);
                }
                let plan = FoldPlan {
                    id: format!("fold-{}", ulid::Ulid::new()),
                    batches,
                    done: false,
                };
                let last = last.map(|record| record.version);
                match repo.start_fold(tenant, date, &plan, last).await? {
                    Some(version) => (plan, version),
                    None => continue,
                }
            }
        };
        outcome.add(carry_out(blobs, &repo, tenant, date, &plan).await?);
        repo.finish_fold(tenant, date, &plan, version).await?;
    }
    Err(FoldError::Repo(RepoError::Contended {
        what: format!("the fold of {date}"),
        attempts: MAX_ROUNDS as u32,
    }))
}

/// Plans one call of [`fold_day`] carries out or tries to start at most: enough for a day
/// with a backlog of several plans' files while others fold it too.
const MAX_ROUNDS: usize = 100;

/// The day's batch files without a marker, in name order, at most a plan's worth. A batch
/// file older than the markers live (15 days; compaction's "settled") was folded long ago and
/// its marker has expired: it is not counted again. (A fold runs within seconds of a file; a
/// closed day's files are merged by the daily sweep well before then.)
async fn unfolded_batches<B: BlobStore, T: Table>(
    blobs: &B,
    repo: &AnalyticsRepo<'_, T>,
    tenant: TenantId,
    date: NaiveDate,
) -> Result<Vec<String>, FoldError> {
    let files = list(blobs, &keys::blob::analytics_partition(tenant, date)).await?;
    if files.is_empty() {
        return Ok(Vec::new());
    }
    let applied = repo.applied_batches(tenant, date).await?;
    Ok(unfolded(
        &files,
        &applied,
        chrono::Utc::now() - SETTLED_AFTER,
    ))
}

/// Of a partition's files, the batch files newer than `settled` and not in `applied`, in name
/// order, at most [`MAX_PLAN_BATCHES`].
fn unfolded(files: &[ObjectInfo], applied: &HashSet<String>, settled: Timestamp) -> Vec<String> {
    let batches: BTreeSet<&str> = files
        .iter()
        .filter(|object| object.last_modified > settled)
        .filter_map(|object| {
            let name = object.key.rsplit('/').next()?;
            let stem = name.strip_suffix(".parquet")?;
            (!stem.starts_with(COMPACTED_PREFIX)).then_some(stem)
        })
        .collect();
    batches
        .into_iter()
        .filter(|batch| !applied.contains(*batch))
        .take(MAX_PLAN_BATCHES)
        .map(str::to_owned)
        .collect()
}

/// Read a plan's files and apply their sum under the plan's id.
async fn carry_out<B: BlobStore, T: Table>(
    blobs: &B,
    repo: &AnalyticsRepo<'_, T>,
    tenant: TenantId,
    date: NaiveDate,
    plan: &FoldPlan,
) -> Result<FoldOutcome, FoldError> {
    let mut outcome = FoldOutcome {
        plans: 1,
        ..FoldOutcome::default()
    };
    let mut delta = DayDelta::default();
    let keys: Vec<String> = plan
        .batches
        .iter()
        .map(|batch| keys::blob::analytics_events(tenant, date, batch))
        .collect();
    let mut reads = futures_util::stream::iter(keys.into_iter().map(|key| read_keyed(blobs, key)))
        .buffered(CONCURRENT_READS);
    while let Some((key, file)) = reads.next().await {
        let Some(file) = file? else {
            outcome.missing += 1;
            warn!(%key, plan = %plan.id, "a folded batch's file is gone");
            continue;
        };
        match parquet::decode(file) {
            Ok(events) => {
                // A batch's file holds one day's events, each id once (ingest wrote it so).
                for (day, part) in aggregate(events.iter()) {
                    if day == date {
                        outcome.events += part.events;
                        delta.add(part);
                    } else {
                        warn!(%key, %day, "events of another day in a batch file: not counted");
                    }
                }
                outcome.batches += 1;
            }
            Err(e) => {
                outcome.unreadable += 1;
                warn!(%key, error = %e, "a batch file is no events file: not counted");
            }
        }
    }
    drop(reads);
    outcome.rollups = repo
        .apply(tenant, &plan.id, &BTreeMap::from([(date, delta)]))
        .await?;
    Ok(outcome)
}

/// A file read, with its key (an async fn, not a closure: the spawned fold's future must be
/// `Send` for any borrow of the store).
async fn read_keyed<B: BlobStore>(
    blobs: &B,
    key: String,
) -> (String, Result<Option<bytes::Bytes>, RetentionError>) {
    let file = read(blobs, &key).await;
    (key, file)
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone, Utc};

    use super::*;

    #[test]
    fn batch_files_newer_than_the_markers_and_unmarked_are_unfolded() {
        let now = Utc.with_ymd_and_hms(2026, 11, 27, 12, 0, 0).unwrap();
        let file = |name: &str, age_days: i64| ObjectInfo {
            bucket: "b".into(),
            key: format!("analytics/events/t=x/date=2026-11-01/{name}"),
            size: 1,
            etag: "e".into(),
            content_type: None,
            last_modified: now - Duration::days(age_days),
        };
        let files = [
            file("b2.parquet", 0),
            file("b1.parquet", 1),
            file("marked.parquet", 1),
            file("compacted-01.parquet", 1),
            // Folded long ago, its marker expired since: never counted again.
            file("old.parquet", 16),
            file("notes.txt", 1),
        ];
        let applied = HashSet::from(["marked".to_owned()]);
        assert_eq!(
            unfolded(&files, &applied, now - SETTLED_AFTER),
            ["b1", "b2"]
        );
    }
}
