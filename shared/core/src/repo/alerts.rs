//! Alert rules, alerts and notifications in the table, and the sweep that evaluates every
//! enabled rule ([`evaluate_alerts`]).
//!
//! All three live in the tenant's alerts partition (`rule/{id}`, `alert/{id}`,
//! `notification/{id}`). Enabled rules are also on the secondary index under one global
//! partition, so the sweep finds the rules of every tenant with one paged query and visits
//! only tenants that have some; a disabled rule is written without the index keys (the index
//! is sparse). An alert and its notification are written in one transaction, the alert on the
//! condition that it is absent: its id is derived from the rule and the window, so a window
//! evaluated twice (every tick of an hour evaluates the same window) raises it once.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::Timestamp;
use crate::analytics::TimeRange;
use crate::analytics::alerts::{
    Alert, AlertRule, HourlyCounters, Notification, evaluate, window_end_at,
};
use crate::ids::{AlertId, AlertRuleId, TenantId};
use crate::keys::table as keys;
use crate::ports::table::MAX_PAGE_ITEMS;
use crate::ports::{Condition, Index, Item, Query, Table, WriteOp};

use super::{
    AnalyticsRepo, RepoError, RollupCache, Versioned, a_few_at_a_time, decode, encode, query_all,
    query_all_with, query_versioned, versioned, won,
};

/// Sort-key prefixes of the alerts partition (each matches its `keys::…_sk`; a test checks).
const RULES_PREFIX: &str = "rule/";
const ALERTS_PREFIX: &str = "alert/";
const NOTIFICATIONS_PREFIX: &str = "notification/";

/// How long a notification is kept, delivered or not: a sender that has not delivered it in
/// 30 days will not, and the partition does not grow without end.
const NOTIFICATION_TTL_SECS: i64 = 30 * 24 * 3600;

/// Tries of a read-and-write that a concurrent writer keeps beating.
const MAX_TRIES: u32 = 5;

/// What a version-checked change of a rule did.
#[derive(Debug, Clone, PartialEq)]
pub enum RuleChange {
    /// Written: the rule as stored now.
    Done(Versioned<AlertRule>),
    /// The rule changed since the caller read it: nothing was written; here it is now.
    Stale(Versioned<AlertRule>),
    NoSuchRule,
}

/// What raising an alert did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RaiseOutcome {
    /// The alert and its notification are written now.
    Raised,
    /// An earlier evaluation of the same window raised it: nothing was written.
    AlreadyRaised,
}

/// One page of a tenant's alerts, newest window first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertPage {
    pub items: Vec<Alert>,
    pub next_cursor: Option<String>,
}

/// What a sweep did, for the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct AlertSweep {
    /// The end of the window every rule looked at.
    pub window_end: Timestamp,
    /// Tenants with at least one enabled rule.
    pub tenants: usize,
    pub rules_evaluated: usize,
    /// Stored rules that no longer pass validation: skipped (and logged).
    pub rules_invalid: usize,
    pub alerts_raised: usize,
    /// Breaches an earlier sweep of the same window had raised already.
    pub already_raised: usize,
    /// Tenants whose rollups could not be read: counted as no activity.
    pub rollups_unreadable: usize,
}

impl AlertSweep {
    fn empty(window_end: Timestamp) -> Self {
        Self {
            window_end,
            tenants: 0,
            rules_evaluated: 0,
            rules_invalid: 0,
            alerts_raised: 0,
            already_raised: 0,
            rollups_unreadable: 0,
        }
    }

    fn add(&mut self, o: &AlertSweep) {
        self.tenants += o.tenants;
        self.rules_evaluated += o.rules_evaluated;
        self.rules_invalid += o.rules_invalid;
        self.alerts_raised += o.alerts_raised;
        self.already_raised += o.already_raised;
        self.rollups_unreadable += o.rollups_unreadable;
    }
}

/// A rule's item: on the index while it is enabled.
fn rule_item(rule: &AlertRule) -> Item {
    let item = Item::new(
        keys::alerts_pk(rule.tenant),
        keys::alert_rule_sk(rule.id),
        encode(rule),
    );
    if rule.enabled {
        item.with_index(
            keys::ALERT_RULES_INDEX_PK,
            keys::alert_rule_index_sk(rule.tenant, rule.id),
        )
    } else {
        item
    }
}

fn notification_item(n: &Notification) -> Item {
    Item::new(
        keys::alerts_pk(n.tenant),
        keys::notification_sk(&n.id),
        encode(n),
    )
    .with_expiry(n.created_at.timestamp() + NOTIFICATION_TTL_SECS)
}

pub struct AlertRepo<'a, T> {
    table: &'a T,
}

impl<'a, T: Table> AlertRepo<'a, T> {
    pub fn new(table: &'a T) -> Self {
        Self { table }
    }

    /// Store a new rule (made by [`AlertRule::new`], so valid); it is at version 1.
    pub async fn create_rule(&self, rule: &AlertRule) -> Result<Versioned<AlertRule>, RepoError> {
        self.table.put(rule_item(rule), Condition::Absent).await?;
        Ok(Versioned {
            record: rule.clone(),
            version: 1,
        })
    }

    pub async fn get_rule(
        &self,
        tenant: TenantId,
        id: AlertRuleId,
    ) -> Result<Option<Versioned<AlertRule>>, RepoError> {
        self.table
            .get(&keys::alerts_pk(tenant), &keys::alert_rule_sk(id))
            .await?
            .map(versioned)
            .transpose()
    }

    /// The tenant's rules, enabled or not, oldest first.
    pub async fn list_rules(
        &self,
        tenant: TenantId,
    ) -> Result<Vec<Versioned<AlertRule>>, RepoError> {
        query_versioned(
            self.table,
            Query::partition(keys::alerts_pk(tenant))
                .prefix(RULES_PREFIX)
                .limit(MAX_PAGE_ITEMS),
        )
        .await
    }

    /// Replace a rule (made by [`AlertRule::revise`]) if it is still at version `read_at`.
    /// Enabling or disabling it puts it on or takes it off the index in the same write.
    pub async fn update_rule(
        &self,
        rule: &AlertRule,
        read_at: u64,
    ) -> Result<RuleChange, RepoError> {
        let mut item = rule_item(rule);
        item.version = read_at + 1;
        match self.table.put(item, Condition::VersionIs(read_at)).await {
            Ok(()) => Ok(RuleChange::Done(Versioned {
                record: rule.clone(),
                version: read_at + 1,
            })),
            Err(e) if e.is_conflict() => Ok(match self.get_rule(rule.tenant, rule.id).await? {
                Some(current) => RuleChange::Stale(current),
                None => RuleChange::NoSuchRule,
            }),
            Err(e) => Err(e.into()),
        }
    }

    /// Delete a rule; its alerts stay. Whether there was one.
    pub async fn delete_rule(&self, tenant: TenantId, id: AlertRuleId) -> Result<bool, RepoError> {
        won(self
            .table
            .delete(
                &keys::alerts_pk(tenant),
                &keys::alert_rule_sk(id),
                Condition::Exists,
            )
            .await)
    }

    /// One page of the tenant's alerts, newest window first; `cursor` is the previous page's
    /// `next_cursor` (a cursor the table did not issue is `TableError::BadCursor`).
    pub async fn list_alerts(
        &self,
        tenant: TenantId,
        limit: usize,
        cursor: Option<String>,
    ) -> Result<AlertPage, RepoError> {
        let query = Query::partition(keys::alerts_pk(tenant))
            .prefix(ALERTS_PREFIX)
            .limit(limit.clamp(1, MAX_PAGE_ITEMS))
            .after(cursor)
            .descending();
        let page = self.table.query(query).await?;
        Ok(AlertPage {
            items: page
                .items
                .into_iter()
                .map(decode)
                .collect::<Result<_, _>>()?,
            next_cursor: page.next_cursor,
        })
    }

    pub async fn get_alert(
        &self,
        tenant: TenantId,
        id: AlertId,
    ) -> Result<Option<Alert>, RepoError> {
        self.table
            .get(&keys::alerts_pk(tenant), &keys::alert_sk(id))
            .await?
            .map(decode)
            .transpose()
    }

    /// The tenant's notifications of the last 30 days, oldest first (the order to deliver
    /// them in); only those not delivered yet if `undelivered_only`.
    pub async fn list_notifications(
        &self,
        tenant: TenantId,
        undelivered_only: bool,
    ) -> Result<Vec<Notification>, RepoError> {
        let all: Vec<Notification> = query_all(
            self.table,
            Query::partition(keys::alerts_pk(tenant))
                .prefix(NOTIFICATIONS_PREFIX)
                .limit(MAX_PAGE_ITEMS),
        )
        .await?;
        Ok(all
            .into_iter()
            .filter(|n| !undelivered_only || n.delivered_at.is_none())
            .collect())
    }

    /// Record that a notification was delivered at `at` (a second call keeps the first
    /// time). Whether there is such a notification.
    pub async fn mark_delivered(
        &self,
        tenant: TenantId,
        id: &str,
        at: Timestamp,
    ) -> Result<bool, RepoError> {
        let (pk, sk) = (keys::alerts_pk(tenant), keys::notification_sk(id));
        for _ in 0..MAX_TRIES {
            let Some(item) = self.table.get(&pk, &sk).await? else {
                return Ok(false);
            };
            let Versioned {
                record: mut n,
                version,
            } = versioned::<Notification>(item)?;
            if n.delivered_at.is_some() {
                return Ok(true);
            }
            n.delivered_at = Some(at);
            let mut item = notification_item(&n);
            item.version = version + 1;
            if won(self.table.put(item, Condition::VersionIs(version)).await)? {
                return Ok(true);
            }
        }
        Err(RepoError::Contended {
            what: format!("notification {id}"),
            attempts: MAX_TRIES,
        })
    }

    /// Write an alert and its notification together, once: if the alert exists already (an
    /// earlier evaluation of the same window), nothing is written.
    pub async fn raise(
        &self,
        alert: &Alert,
        notification: &Notification,
    ) -> Result<RaiseOutcome, RepoError> {
        let alert_item = Item::new(
            keys::alerts_pk(alert.tenant),
            keys::alert_sk(alert.id),
            encode(alert),
        );
        let ops = vec![
            WriteOp::Put {
                item: alert_item,
                condition: Condition::Absent,
            },
            WriteOp::Put {
                item: notification_item(notification),
                condition: Condition::Absent,
            },
        ];
        match self.table.transact_write(ops).await {
            Ok(()) => Ok(RaiseOutcome::Raised),
            Err(e) if e.is_conflict() => {
                if self.get_alert(alert.tenant, alert.id).await?.is_some() {
                    Ok(RaiseOutcome::AlreadyRaised)
                } else {
                    // Only the notification was there (an id clash): nothing to retry into.
                    Err(RepoError::Contended {
                        what: format!("notification {} of alert {}", notification.id, alert.id),
                        attempts: 1,
                    })
                }
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Every enabled rule of every tenant, through the index, grouped by tenant.
    async fn enabled_rules(&self) -> Result<BTreeMap<TenantId, Vec<AlertRule>>, RepoError> {
        let rules: Vec<AlertRule> = query_all_with(
            self.table,
            Query::partition(keys::ALERT_RULES_INDEX_PK)
                .on_index(Index::Gsi1)
                .limit(MAX_PAGE_ITEMS),
            decode,
        )
        .await?;
        let mut by_tenant: BTreeMap<TenantId, Vec<AlertRule>> = BTreeMap::new();
        // The index is eventually consistent: a rule disabled a moment ago may still be on it.
        for rule in rules.into_iter().filter(|r| r.enabled) {
            by_tenant.entry(rule.tenant).or_default().push(rule);
        }
        Ok(by_tenant)
    }
}

/// Evaluate every enabled rule of every tenant for the window ending at the last complete
/// hour at `now`, and raise the breaches. Each tenant's rollups are read once, for the hours
/// its rules need. Safe to run as often as wanted: within an hour it re-evaluates the same
/// window (seeing events that arrived late) and raises each breach once. The rollups are read
/// through `rollups`, so the sweeps of one hour decode only the days that changed.
pub async fn evaluate_alerts<T: Table>(
    table: &T,
    now: Timestamp,
    rollups: &RollupCache,
) -> Result<AlertSweep, RepoError> {
    let window_end = window_end_at(now);
    let by_tenant = AlertRepo::new(table).enabled_rules().await?;
    let sweeps = by_tenant
        .into_iter()
        .map(|(tenant, rules)| sweep_tenant(table, tenant, rules, window_end, now, rollups))
        .collect();
    let mut total = AlertSweep::empty(window_end);
    for sweep in a_few_at_a_time(sweeps).await? {
        total.add(&sweep);
    }
    Ok(total)
}

/// One tenant's part of a sweep.
async fn sweep_tenant<T: Table>(
    table: &T,
    tenant: TenantId,
    rules: Vec<AlertRule>,
    window_end: Timestamp,
    now: Timestamp,
    rollups: &RollupCache,
) -> Result<AlertSweep, RepoError> {
    let mut sweep = AlertSweep {
        tenants: 1,
        ..AlertSweep::empty(window_end)
    };
    let (valid, invalid): (Vec<AlertRule>, Vec<AlertRule>) =
        rules.into_iter().partition(|r| r.validate().is_ok());
    for rule in &invalid {
        tracing::warn!(%tenant, rule = %rule.id, "stored alert rule fails validation: skipped");
    }
    sweep.rules_invalid = invalid.len();
    let Some(from) = valid.iter().map(|r| r.reads_from(window_end)).min() else {
        return Ok(sweep);
    };
    let range = TimeRange {
        from,
        to: window_end,
    };
    let days = AnalyticsRepo::new(table)
        .cached_tenant_days(tenant, range, rollups)
        .await;
    let hours = match days {
        Ok(days) => HourlyCounters::from_days(&days),
        Err(error) => {
            tracing::warn!(%tenant, %error, "rollups unreadable: alerts see no activity");
            sweep.rollups_unreadable = 1;
            HourlyCounters::default()
        }
    };
    let repo = AlertRepo::new(table);
    for rule in &valid {
        sweep.rules_evaluated += 1;
        let Some(breach) = evaluate(rule, window_end, &hours) else {
            continue;
        };
        let alert = Alert::new(rule, breach, now);
        let notification = Notification::alert_raised(&alert, now);
        match repo.raise(&alert, &notification).await? {
            RaiseOutcome::Raised => {
                tracing::info!(%tenant, rule = %rule.id, alert = %alert.id, summary = %alert.summary(), "alert raised");
                sweep.alerts_raised += 1;
            }
            RaiseOutcome::AlreadyRaised => sweep.already_raised += 1,
        }
    }
    Ok(sweep)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prefixes_match_the_keys() {
        assert!(keys::alert_rule_sk(AlertRuleId::generate()).starts_with(RULES_PREFIX));
        assert!(keys::alert_sk(AlertId::generate()).starts_with(ALERTS_PREFIX));
        assert!(
            keys::notification_sk("01ARZ3NDEKTSV4RRFFQ69G5FAV").starts_with(NOTIFICATIONS_PREFIX)
        );
        // No prefix is another's: `alert/` must not list `alert-…` or rules.
        for (a, b) in [
            (RULES_PREFIX, ALERTS_PREFIX),
            (ALERTS_PREFIX, NOTIFICATIONS_PREFIX),
            (RULES_PREFIX, NOTIFICATIONS_PREFIX),
        ] {
            assert!(!a.starts_with(b) && !b.starts_with(a));
        }
    }
}
