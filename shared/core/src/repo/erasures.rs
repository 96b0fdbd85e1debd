//! Analytics erasures: a subject (a platform user, a viewer profile) whose events must be
//! pseudonymised in the events files. Recorded when the subject is erased, done later by the
//! scheduler's tick (rewriting a tenant's files takes longer than a request should), and kept
//! as the record that it was done.

use serde::{Deserialize, Serialize};

use crate::Timestamp;
use crate::ids::TenantId;
use crate::keys::table as keys;
use crate::ports::{Condition, Index, Item, Query, Table};

use super::{RepoError, encode, versioned};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnalyticsErasure {
    pub tenant: TenantId,
    /// What to erase, as the events name it: `user:{id}` (the `actor` column) or
    /// `profile:{id}` (the `user` column).
    pub subject: String,
    pub requested_by: String,
    pub requested_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub done_at: Option<Timestamp>,
    #[serde(default)]
    pub files_rewritten: u64,
    #[serde(default)]
    pub rows_changed: u64,
}

fn item(erasure: &AnalyticsErasure) -> Item {
    let item = Item::new(
        keys::analytics_erasures_pk(erasure.tenant),
        erasure.subject.clone(),
        encode(erasure),
    );
    if erasure.done_at.is_none() {
        item.with_index(
            keys::PENDING_ERASURES_PK,
            format!(
                "{}/{}/{}",
                erasure.requested_at.format("%Y-%m-%dT%H:%M:%S%.3fZ"),
                erasure.tenant,
                erasure.subject
            ),
        )
    } else {
        item
    }
}

/// How long a lease on a tenant's events files lasts: a Lambda runs 15 minutes at most.
pub const EVENTS_LEASE_SECS: i64 = 15 * 60;

pub struct ErasureRepo<'a, T> {
    table: &'a T,
}

impl<'a, T: Table> ErasureRepo<'a, T> {
    pub fn new(table: &'a T) -> Self {
        Self { table }
    }

    /// Record an erasure to do (again, if one was done before: events may have come since).
    pub async fn request(&self, erasure: &AnalyticsErasure) -> Result<(), RepoError> {
        self.table.put(item(erasure), Condition::Always).await?;
        Ok(())
    }

    /// Erasures not done yet, oldest first, at most `limit`.
    pub async fn pending(&self, limit: usize) -> Result<Vec<AnalyticsErasure>, RepoError> {
        let page = self
            .table
            .query(
                Query::partition(keys::PENDING_ERASURES_PK)
                    .on_index(Index::Gsi1)
                    .limit(limit),
            )
            .await?;
        page.items
            .into_iter()
            .map(|i| versioned(i).map(|v| v.record))
            .collect()
    }

    /// Mark an erasure done (it leaves the pending index).
    pub async fn done(&self, erasure: &AnalyticsErasure) -> Result<(), RepoError> {
        self.table.put(item(erasure), Condition::Always).await?;
        Ok(())
    }

    pub async fn get(
        &self,
        tenant: TenantId,
        subject: &str,
    ) -> Result<Option<AnalyticsErasure>, RepoError> {
        self.table
            .get(&keys::analytics_erasures_pk(tenant), subject)
            .await?
            .map(|i| versioned(i).map(|v| v.record))
            .transpose()
    }

    /// Take the lease on the tenant's events files for a rewrite (an erasure, the retention
    /// sweep, a compaction): two rewrites working from different reads of one file would undo
    /// each other (a compaction merging the rows an erasure is replacing). `false` if another
    /// holds it. It lapses by itself after [`EVENTS_LEASE_SECS`], longer than a function runs,
    /// so a holder that died never blocks the next.
    pub async fn lease_events(
        &self,
        tenant: TenantId,
        now: crate::Timestamp,
    ) -> Result<bool, RepoError> {
        let lease = Item::new(
            keys::analytics_events_lease_pk(tenant),
            "lease",
            serde_json::json!({"taken_at": now}),
        )
        .with_expiry(now.timestamp() + EVENTS_LEASE_SECS);
        super::won(self.table.put(lease, Condition::Absent).await)
    }

    /// Give the lease back.
    pub async fn release_events(&self, tenant: TenantId) -> Result<(), RepoError> {
        self.table
            .delete(
                &keys::analytics_events_lease_pk(tenant),
                "lease",
                Condition::Always,
            )
            .await?;
        Ok(())
    }

    /// Claim a day's retention sweep: `true` for the first caller of the day only.
    pub async fn claim_retention_sweep(&self, day: chrono::NaiveDate) -> Result<bool, RepoError> {
        // The claims need not outlive the month.
        let expires = crate::analytics::summary::midnight(day) + chrono::Duration::days(31);
        self.claim(keys::RETENTION_SWEEPS_PK, day.format("%Y-%m-%d"), expires)
            .await
    }

    /// Claim the hour holding `now` for compacting today's events: `true` for the first
    /// caller of the hour only.
    pub async fn claim_hourly_compaction(&self, now: crate::Timestamp) -> Result<bool, RepoError> {
        let expires = now + chrono::Duration::days(2);
        self.claim(
            keys::HOURLY_COMPACTIONS_PK,
            now.format("%Y-%m-%dT%H"),
            expires,
        )
        .await
    }

    /// A run's claim: written only if absent, so the first caller wins; kept until `expires`.
    async fn claim(
        &self,
        pk: &str,
        run: impl std::fmt::Display,
        expires: crate::Timestamp,
    ) -> Result<bool, RepoError> {
        let claim =
            Item::new(pk, run.to_string(), serde_json::json!({})).with_expiry(expires.timestamp());
        super::won(self.table.put(claim, Condition::Absent).await)
    }
}
