//! A tenant's security administration: request rate limits per plan, settings (plan, event
//! retention) and the audit log.

use std::collections::HashMap;

use super::*;
use crate::ratelimit::{Decision, Plan};
use crate::store::email_digest;
use crate::store::{
    AuditOrder, AuditPage, RateLimiter, RetentionSettings, SettingsRepo, VerifyReport,
};

/// How long a tenant's plan is cached per process: a plan change takes effect within this.
const PLAN_CACHE_SECONDS: u64 = 60;

/// Plans read recently, so the request path does not read the settings every time.
#[derive(Default)]
pub(super) struct PlanCache(Mutex<HashMap<TenantId, (Plan, Instant)>>);

impl PlanCache {
    fn get(&self, tenant: TenantId) -> Option<Plan> {
        let cache = self.0.lock().unwrap_or_else(|e| e.into_inner());
        cache
            .get(&tenant)
            .filter(|(_, at)| at.elapsed().as_secs() < PLAN_CACHE_SECONDS)
            .map(|(plan, _)| *plan)
    }

    fn put(&self, tenant: TenantId, plan: Plan) {
        let mut cache = self.0.lock().unwrap_or_else(|e| e.into_inner());
        cache.insert(tenant, (plan, Instant::now()));
    }
}

/// What `GET /v1/settings` shows.
#[derive(Debug, Serialize)]
pub struct TenantSettings {
    pub plan: Plan,
    pub retention: RetentionSettings,
}

impl<P: Platform> Identity<P> {
    pub async fn plan(&self, tenant: TenantId) -> Result<Plan, AuthError> {
        if let Some(plan) = self.plans.get(tenant) {
            return Ok(plan);
        }
        let plan = SettingsRepo::new(self.platform.table())
            .plan(tenant)
            .await?;
        self.plans.put(tenant, plan);
        Ok(plan)
    }

    /// Spend one request from the caller's bucket (one per user or key, sized by the
    /// tenant's plan). Store-backed, so every process and Lambda instance shares it.
    pub async fn rate_limit(
        &self,
        principal: &Principal,
        now: DateTime<Utc>,
    ) -> Result<Decision, AuthError> {
        let limits = self.plan(principal.tenant).await?.limits();
        Ok(RateLimiter::new(self.platform.table())
            .check(
                principal.tenant,
                &principal.actor(),
                &limits.requests,
                now.timestamp_millis(),
                1,
            )
            .await?)
    }

    /// Start one upload of the caller's tenant (the plan's upload starts, per tenant), and
    /// say the largest upload the plan allows.
    pub async fn start_upload(
        &self,
        principal: &Principal,
        now: DateTime<Utc>,
    ) -> Result<u64, AuthError> {
        let limits = self.plan(principal.tenant).await?.limits();
        let decision = RateLimiter::new(self.platform.table())
            .check(
                principal.tenant,
                "uploads",
                &limits.uploads,
                now.timestamp_millis(),
                1,
            )
            .await?;
        if !decision.allowed {
            return Err(AuthError::RateLimited(decision));
        }
        Ok(limits.max_upload_bytes)
    }

    /// Sign-in attempts per email, whatever their outcome and whether or not the account
    /// exists: slows guessing below the lockout threshold, answers alike for real and unknown
    /// emails (no enumeration by who gets a 429), and bounds the Argon2 work an unknown email
    /// can cause.
    pub(super) async fn limit_logins(
        &self,
        email: &str,
        now: DateTime<Utc>,
    ) -> Result<(), AuthError> {
        let decision = RateLimiter::new(self.platform.table())
            .check_global(
                &format!("login/{}", email_digest(email)),
                &Plan::default().limits().logins,
                now.timestamp_millis(),
                1,
            )
            .await?;
        if decision.allowed {
            Ok(())
        } else {
            Err(AuthError::RateLimited(decision))
        }
    }

    pub async fn settings(&self, by: &Principal) -> Result<TenantSettings, AuthError> {
        let repo = SettingsRepo::new(self.platform.table());
        Ok(TenantSettings {
            plan: repo.plan(by.tenant).await?,
            retention: repo.retention(by.tenant).await?,
        })
    }

    /// Put a tenant on a plan. The operator's decision (billing), not the tenant's: there is
    /// no API route for it, only `mvidarr tenant set-plan`.
    pub async fn set_plan(
        &self,
        tenant: TenantId,
        plan: Plan,
        now: DateTime<Utc>,
    ) -> Result<(), AuthError> {
        SettingsRepo::new(self.platform.table())
            .set_plan(tenant, plan)
            .await?;
        self.plans.put(tenant, plan);
        self.audit(
            tenant,
            AuditDraft::new(now, "system", actions::SETTINGS_CHANGED).detail("plan", plan.as_str()),
        )
        .await;
        Ok(())
    }

    pub async fn set_retention(
        &self,
        by: &Principal,
        events_days: u32,
        now: DateTime<Utc>,
    ) -> Result<TenantSettings, AuthError> {
        let retention =
            RetentionSettings::new(events_days).map_err(|e| AuthError::Invalid(e.to_string()))?;
        SettingsRepo::new(self.platform.table())
            .set_retention(by.tenant, retention)
            .await?;
        self.audit(
            by.tenant,
            AuditDraft::new(now, by.actor(), actions::SETTINGS_CHANGED)
                .detail("events_retention_days", events_days.to_string()),
        )
        .await;
        self.settings(by).await
    }

    /// The audit log, newest first.
    pub async fn audit_page(
        &self,
        by: &Principal,
        cursor: Option<String>,
        limit: usize,
    ) -> Result<AuditPage, AuthError> {
        Ok(AuditLog::new(self.platform.table())
            .page(by.tenant, AuditOrder::NewestFirst, cursor, limit)
            .await?)
    }

    /// Walk the whole chain and say whether, and where, it was tampered with.
    pub async fn verify_audit(&self, by: &Principal) -> Result<VerifyReport, AuthError> {
        Ok(AuditLog::new(self.platform.table())
            .verify(by.tenant)
            .await?)
    }
}
