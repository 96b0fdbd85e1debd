//! Tenant settings that security and billing depend on: the plan (which sets the rate limits
//! and quotas, [`Plan::limits`]) and how long events are kept.
//!
//! ```text
//! settings_pk(t)  plan       { "plan": "free" | "pro" | "enterprise" }
//! settings_pk(t)  retention  { "events_days": 1..=3650 }
//! ```
//!
//! A setting never written reads as its default (`free`, 365 days).

use std::ops::RangeInclusive;

use mvidarr_core::ids::TenantId;
use mvidarr_core::keys::table as keys;
use mvidarr_core::ports::{Item, Table};
use mvidarr_core::repo::{RepoError, decode, encode};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::put_over;
use crate::ratelimit::Plan;

const PLAN_SK: &str = "plan";
const RETENTION_SK: &str = "retention";
/// Compare-and-set attempts for one settings write before it gives up as `Contended`.
const WRITE_ATTEMPTS: u32 = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct PlanSetting {
    plan: Plan,
}

/// How long a tenant's events are kept. Only valid values exist: build it with
/// [`RetentionSettings::new`], or deserialize it (which checks the same range).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RetentionFields")]
pub struct RetentionSettings {
    events_days: u32,
}

#[derive(Deserialize)]
struct RetentionFields {
    events_days: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RetentionError {
    #[error("events are kept 1 to 3650 days, not {0}")]
    EventsDaysOutOfRange(u32),
}

impl RetentionSettings {
    pub const DEFAULT_EVENTS_DAYS: u32 = 365;
    /// From a day to ten years.
    pub const EVENTS_DAYS: RangeInclusive<u32> = 1..=3650;

    pub fn new(events_days: u32) -> Result<Self, RetentionError> {
        if Self::EVENTS_DAYS.contains(&events_days) {
            Ok(RetentionSettings { events_days })
        } else {
            Err(RetentionError::EventsDaysOutOfRange(events_days))
        }
    }

    pub fn events_days(&self) -> u32 {
        self.events_days
    }
}

impl Default for RetentionSettings {
    fn default() -> Self {
        RetentionSettings {
            events_days: Self::DEFAULT_EVENTS_DAYS,
        }
    }
}

impl TryFrom<RetentionFields> for RetentionSettings {
    type Error = RetentionError;

    fn try_from(fields: RetentionFields) -> Result<Self, RetentionError> {
        RetentionSettings::new(fields.events_days)
    }
}

/// A tenant's settings.
pub struct SettingsRepo<'a, T> {
    table: &'a T,
}

impl<'a, T: Table> SettingsRepo<'a, T> {
    pub fn new(table: &'a T) -> Self {
        SettingsRepo { table }
    }

    /// The tenant's plan; [`Plan::Free`] until one is set.
    pub async fn plan(&self, tenant: TenantId) -> Result<Plan, RepoError> {
        Ok(self
            .get::<PlanSetting>(tenant, PLAN_SK)
            .await?
            .map_or_else(Plan::default, |s| s.plan))
    }

    pub async fn set_plan(&self, tenant: TenantId, plan: Plan) -> Result<(), RepoError> {
        self.set(tenant, PLAN_SK, &PlanSetting { plan }).await
    }

    /// How long the tenant's events are kept; 365 days until set.
    pub async fn retention(&self, tenant: TenantId) -> Result<RetentionSettings, RepoError> {
        Ok(self.get(tenant, RETENTION_SK).await?.unwrap_or_default())
    }

    pub async fn set_retention(
        &self,
        tenant: TenantId,
        retention: RetentionSettings,
    ) -> Result<(), RepoError> {
        self.set(tenant, RETENTION_SK, &retention).await
    }

    async fn get<V: DeserializeOwned>(
        &self,
        tenant: TenantId,
        sk: &str,
    ) -> Result<Option<V>, RepoError> {
        self.table
            .get(&keys::settings_pk(tenant), sk)
            .await?
            .map(decode)
            .transpose()
    }

    /// Last writer wins, but over the version read, so versions stay meaningful for anyone
    /// who compare-and-sets a setting.
    async fn set<V: Serialize>(
        &self,
        tenant: TenantId,
        sk: &str,
        value: &V,
    ) -> Result<(), RepoError> {
        let pk = keys::settings_pk(tenant);
        for _ in 0..WRITE_ATTEMPTS {
            let version = self.table.get(&pk, sk).await?.map(|item| item.version);
            let item = Item::new(pk.clone(), sk, encode(value));
            if put_over(self.table, item, version).await? {
                return Ok(());
            }
        }
        Err(RepoError::Contended {
            what: format!("setting {sk} of tenant {tenant}"),
            attempts: WRITE_ATTEMPTS,
        })
    }
}

#[cfg(test)]
mod tests {
    use mvidarr_core::ports::Condition;

    use super::*;
    use crate::store::test_tables::sqlite as table;

    #[tokio::test]
    async fn the_plan_is_free_until_set_and_reads_back_as_set() {
        let (table, _dir) = table();
        let settings = SettingsRepo::new(&table);
        let tenant = TenantId::generate();
        assert_eq!(settings.plan(tenant).await.unwrap(), Plan::Free);
        for plan in [Plan::Pro, Plan::Enterprise, Plan::Free] {
            settings.set_plan(tenant, plan).await.unwrap();
            assert_eq!(settings.plan(tenant).await.unwrap(), plan);
        }
        assert_eq!(
            settings.plan(TenantId::generate()).await.unwrap(),
            Plan::Free,
            "another tenant's plan is its own"
        );
        let item = table
            .get(&keys::settings_pk(tenant), PLAN_SK)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(item.data, serde_json::json!({"plan": "free"}));
        assert_eq!(item.version, 3, "each write over the version read");
    }

    #[tokio::test]
    async fn retention_is_365_days_until_set_and_reads_back_as_set() {
        let (table, _dir) = table();
        let settings = SettingsRepo::new(&table);
        let tenant = TenantId::generate();
        assert_eq!(settings.retention(tenant).await.unwrap().events_days(), 365);
        for days in [1, 30, 3650] {
            let retention = RetentionSettings::new(days).unwrap();
            settings.set_retention(tenant, retention).await.unwrap();
            assert_eq!(settings.retention(tenant).await.unwrap(), retention);
        }
        // Plan and retention are separate items.
        assert_eq!(settings.plan(tenant).await.unwrap(), Plan::Free);
    }

    #[test]
    fn retention_outside_a_day_to_ten_years_cannot_be_made() {
        for days in [0, 3651, u32::MAX] {
            assert_eq!(
                RetentionSettings::new(days),
                Err(RetentionError::EventsDaysOutOfRange(days))
            );
            let json = format!(r#"{{"events_days":{days}}}"#);
            let err = serde_json::from_str::<RetentionSettings>(&json).unwrap_err();
            assert!(err.to_string().contains("1 to 3650 days"), "{err}");
        }
        assert_eq!(
            serde_json::to_string(&RetentionSettings::default()).unwrap(),
            r#"{"events_days":365}"#
        );
    }

    #[tokio::test]
    async fn a_stored_retention_out_of_range_is_corrupt() {
        let (table, _dir) = table();
        let tenant = TenantId::generate();
        table
            .put(
                Item::new(
                    keys::settings_pk(tenant),
                    RETENTION_SK,
                    serde_json::json!({"events_days": 0}),
                ),
                Condition::Absent,
            )
            .await
            .unwrap();
        let read = SettingsRepo::new(&table).retention(tenant).await;
        assert!(matches!(read, Err(RepoError::Corrupt { .. })), "{read:?}");
    }
}
