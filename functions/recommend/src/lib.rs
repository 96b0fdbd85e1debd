//! `recommend`: the scheduled training run. An EventBridge schedule invokes it (hourly in the
//! stack); it trains every tenant's recommender from the stores into the model registry and
//! promotes it, and the API serves the new version once it notices it. Then it trains the
//! tenant's tag heads from people's decisions (promoting those that beat the served ones on
//! held-out decisions) and re-tags its catalogue with them.
//!
//! One tenant's failure never stops the others. The run fails — so Lambda retries the event, and
//! the stack alarms when every attempt failed — only when some tenant failed in a way a later
//! attempt may clear ([`TrainError::is_transient`]), after every tenant was tried; failures no
//! retry can cure are counted in the run's metrics (alarmed on too). A retry delivers
//! the same event, whose `time` is when the schedule fired: tenants whose promoted model was
//! made since then are left as they are, so the retry trains only the tenants that failed (or
//! that a timeout left out). A hand-made event with an old `time` therefore trains only the
//! tenants not trained since; send the current time to train all.

pub mod config;
pub mod summary;

use std::time::Instant;

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use lambda_runtime::Diagnostic;
use mvidarr_core::ids::TenantId;
use mvidarr_core::ports::Platform;
use mvidarr_core::repo::{ModelRegistry, RepoError, TenantRepo};
use mvidarr_core::step::{PERMANENT, TRANSIENT};
use mvidarr_reco::service::{FAMILY, TrainError, train_tenant};
use mvidarr_tag::training::{TrainTagsOptions, train_tenant_tags};
use tracing::{Instrument, error, info, info_span, warn};

pub use config::{ConfigError, RecommendConfig};
pub use summary::{Outcome, RunSummary, TagsRun, TenantOutcome};

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Nothing was trained: the tenants could not be listed.
    #[error("listing the tenants: {0}")]
    ListTenants(#[source] RepoError),
    /// Every tenant was tried; some failed in a way a retry may clear.
    #[error("{}", .0.describe_transient())]
    Transient(Box<RunSummary>),
}

impl RunError {
    /// Whether running again later can help.
    pub fn is_transient(&self) -> bool {
        match self {
            RunError::ListTenants(e) => e.is_transient(),
            RunError::Transient(_) => true,
        }
    }
}

/// Lambda's error reply: `errorType` says whether a retry can help.
impl From<RunError> for Diagnostic {
    fn from(e: RunError) -> Self {
        Diagnostic {
            error_type: if e.is_transient() {
                TRANSIENT
            } else {
                PERMANENT
            }
            .to_owned(),
            error_message: e.to_string(),
        }
    }
}

/// The handler with what it needs, built once per process (a Lambda cold start).
pub struct Recommend<P> {
    platform: P,
    config: RecommendConfig,
}

impl<P: Platform> Recommend<P> {
    pub fn new(platform: P, config: RecommendConfig) -> Self {
        Self { platform, config }
    }

    /// The Lambda entry: one scheduled event, every tenant trained as of `now`.
    pub async fn handle(
        &self,
        event: EventBridgeEvent,
        now: DateTime<Utc>,
    ) -> Result<RunSummary, RunError> {
        let span = info_span!(
            "training_run",
            event = event.id.as_deref().unwrap_or("-"),
            source = %event.source,
            detail_type = %event.detail_type,
            fired_at = %event.time.map_or_else(|| "-".to_owned(), |t| t.to_rfc3339()),
        );
        // Boxed: the run's future nests the SDK's futures deeply enough that, inlined into the
        // runtime's, its type passes the compiler's default recursion limit.
        Box::pin(self.train_all(event.time, now))
            .instrument(span)
            .await
    }

    /// Trains every tenant, a few at a time, leaving those trained since `fired_at` (when the
    /// schedule fired; `None` trains all).
    pub async fn train_all(
        &self,
        fired_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<RunSummary, RunError> {
        let started = Instant::now();
        let tenants = TenantRepo::new(self.platform.table())
            .list_all()
            .await
            .map_err(|e| {
                error!(error = %e, "could not list the tenants; nothing trained");
                RunError::ListTenants(e)
            })?;
        info!(tenants = tenants.len(), "training every tenant");
        let outcomes =
            futures_util::stream::iter(tenants.iter().map(|t| self.train_one(t.id, fired_at, now)))
                .buffered(self.config.tenants_in_flight)
                .collect()
                .await;
        let summary = RunSummary::new(fired_at, outcomes);
        mvidarr_lambda::metrics::emit(&summary.metrics(started.elapsed()));
        info!(
            trained = summary.trained,
            current = summary.current,
            failed = summary.failed,
            seconds = started.elapsed().as_secs_f64(),
            "training run finished"
        );
        if summary.transient_failures().next().is_some() {
            return Err(RunError::Transient(Box::new(summary)));
        }
        Ok(summary)
    }

    async fn train_one(
        &self,
        tenant: TenantId,
        fired_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> TenantOutcome {
        let outcome = match self.train_unless_current(tenant, fired_at, now).await {
            Ok(outcome) => outcome,
            Err(e) => {
                let transient = e.is_transient();
                if transient {
                    warn!(%tenant, error = %e, "training failed; a retry may succeed");
                } else {
                    error!(%tenant, error = %e, "training failed; a retry would fail too");
                }
                return TenantOutcome {
                    tenant,
                    outcome: Outcome::Failed {
                        error: e.to_string(),
                        transient,
                    },
                    tags: None,
                };
            }
        };
        // The tag heads learn from the recommender's embeddings: trained after it. A tag whose
        // decisions did not change since its latest head is not retrained, so a retry of the
        // event costs a re-tagging at most. Their failure is reported apart: the recommender's
        // outcome stands, and the next hourly run tries the heads again.
        let options = TrainTagsOptions::default();
        let tags = match train_tenant_tags(&self.platform, tenant, &options, now).await {
            Ok(report) => TagsRun::from(&report),
            Err(e) => {
                let transient = e.is_transient();
                warn!(%tenant, error = %e, transient, "training the tag heads failed; the promoted heads stay");
                TagsRun::Failed {
                    error: e.to_string(),
                    transient,
                }
            }
        };
        TenantOutcome {
            tenant,
            outcome,
            tags: Some(tags),
        }
    }

    async fn train_unless_current(
        &self,
        tenant: TenantId,
        fired_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<Outcome, TrainError> {
        if let Some(fired_at) = fired_at {
            let current = ModelRegistry::new(self.platform.table())
                .current(tenant, FAMILY)
                .await?;
            if let Some(current) = current.filter(|c| c.created_at >= fired_at) {
                info!(%tenant, version = current.version, "trained since the schedule fired");
                return Ok(Outcome::Current {
                    version: current.version,
                });
            }
        }
        let started = Instant::now();
        let (version, report) =
            train_tenant(&self.platform, tenant, &self.config.train, now).await?;
        Ok(Outcome::Trained {
            version: version.version,
            items: report.items,
            users: report.users,
            interactions: report.interactions,
            seconds: started.elapsed().as_secs_f64(),
        })
    }
}

#[cfg(test)]
mod tests {
    use mvidarr_core::ports::TableError;

    use super::*;

    #[test]
    fn the_error_reply_says_whether_a_retry_can_help() {
        let throttled =
            RunError::ListTenants(RepoError::Table(TableError::Transient("throttled".into())));
        let reply = Diagnostic::from(throttled);
        assert_eq!(reply.error_type, TRANSIENT);
        assert!(
            reply.error_message.contains("listing the tenants"),
            "{}",
            reply.error_message
        );

        let missing = RunError::ListTenants(RepoError::NotFound("the table".into()));
        assert_eq!(Diagnostic::from(missing).error_type, PERMANENT);

        let tenant = TenantId::generate();
        let summary = RunSummary::new(
            None,
            vec![TenantOutcome {
                tenant,
                tags: None,
                outcome: Outcome::Failed {
                    error: "throttled".into(),
                    transient: true,
                },
            }],
        );
        let reply = Diagnostic::from(RunError::Transient(Box::new(summary)));
        assert_eq!(reply.error_type, TRANSIENT);
        assert!(
            reply.error_message.contains(&tenant.to_string()),
            "{}",
            reply.error_message
        );
    }
}
