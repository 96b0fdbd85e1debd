//! `mvidarr train` and `mvidarr train-tags`, and the schedule `mvidarr serve` trains on: each
//! tenant's recommender is trained from its catalogue, profiles and events, registered and
//! promoted (a running server serves the new version within its refresh interval); then its
//! tag heads are trained from people's decisions, promoted only when they beat the served
//! ones on held-out decisions, and its catalogue is re-tagged with them.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use chrono::Utc;
use mvidarr_auth::service::Identity;
use mvidarr_core::ids::TenantId;
use mvidarr_core::ports::Platform;
use mvidarr_core::repo::{ModelRegistry, TenantRepo};
use mvidarr_core::tag::TagName;
use mvidarr_reco::model::TrainConfig;
use mvidarr_reco::service::{FAMILY, TrainError, TrainReport, train_tenant};
use mvidarr_store_local::LocalPlatform;
use mvidarr_tag::training::{TagOutcome, TagTrainReport, TrainTagsOptions, train_tenant_tags};
use mvidarr_tags::TrainConfig as HeadConfig;
use tokio_util::sync::CancellationToken;
use tracing::{error, info};

use crate::admin::open_local;
use crate::app::default_tenant;

/// Which tenants a training command trains.
#[derive(clap::Args, Debug)]
pub struct WhichTenants {
    /// The tenant to train (default: the embedded `default` tenant).
    #[arg(long, conflicts_with = "all")]
    tenant: Option<TenantId>,
    /// Train every tenant.
    #[arg(long)]
    all: bool,
}

impl WhichTenants {
    async fn resolve(
        &self,
        identity: &Identity<LocalPlatform>,
        data: &Path,
    ) -> anyhow::Result<Vec<TenantId>> {
        if self.all {
            all_tenants(identity.platform()).await
        } else if let Some(id) = self.tenant {
            Ok(vec![id])
        } else {
            Ok(vec![default_tenant(identity, data).await?])
        }
    }
}

#[derive(clap::Args, Debug)]
pub struct TrainArgs {
    #[command(flatten)]
    tenants: WhichTenants,
    /// Latent factors of the collaborative model.
    #[arg(long, default_value_t = TrainConfig::default().als.factors)]
    factors: usize,
    /// ALS iterations.
    #[arg(long, default_value_t = TrainConfig::default().als.iterations)]
    iterations: usize,
}

pub async fn run(data: &Path, args: TrainArgs) -> anyhow::Result<()> {
    let (identity, _) = open_local(data).await?;
    let platform = identity.platform();
    let tenants = args.tenants.resolve(&identity, data).await?;
    let mut config = TrainConfig::default();
    config.als.factors = args.factors;
    config.als.iterations = args.iterations;
    for tenant in tenants {
        let (version, report) = train_tenant(platform, tenant, &config, Utc::now())
            .await
            .with_context(|| format!("training tenant {tenant}"))?;
        println!("tenant {tenant}: {}", describe(version.version, &report));
    }
    Ok(())
}

#[derive(clap::Args, Debug)]
pub struct TrainTagsArgs {
    #[command(flatten)]
    tenants: WhichTenants,
    /// Train this tag only (the others keep their heads; the catalogue is re-tagged).
    #[arg(long)]
    tag: Option<String>,
    /// Accepted and rejected decisions each a tag needs before a head is trained.
    #[arg(long, default_value_t = HeadConfig::default().min_positives)]
    min_decisions: usize,
    /// Print the full report as JSON.
    #[arg(long)]
    json: bool,
}

pub async fn run_tags(data: &Path, args: TrainTagsArgs) -> anyhow::Result<()> {
    let (identity, _) = open_local(data).await?;
    let platform = identity.platform();
    let tenants = args.tenants.resolve(&identity, data).await?;
    let only = args
        .tag
        .as_deref()
        .map(TagName::parse)
        .transpose()
        .context("--tag")?;
    let options = TrainTagsOptions {
        config: HeadConfig {
            min_positives: args.min_decisions,
            min_negatives: args.min_decisions,
            ..HeadConfig::default()
        },
        only: only.clone(),
    };
    for tenant in tenants {
        let report = train_tenant_tags(platform, tenant, &options, Utc::now())
            .await
            .with_context(|| format!("training the tag heads of tenant {tenant}"))?;
        if args.json {
            println!("{}", serde_json::to_string_pretty(&report)?);
        } else {
            print!("{}", describe_tags(&report));
        }
        if let Some(tag) = &only {
            let trained = report.tags.iter().find(|t| &t.tag == tag);
            match trained.map(|t| &t.outcome) {
                Some(TagOutcome::TooFewDecisions { message }) => anyhow::bail!("{message}"),
                None => anyhow::bail!("nobody has accepted or rejected tag {tag} yet"),
                Some(_) => {}
            }
        }
    }
    Ok(())
}

fn describe_tags(r: &TagTrainReport) -> String {
    let mut out = format!(
        "tenant {}: {} tags with decisions, {} heads promoted; {} media re-tagged, {} proposals changed ({:.1} s; embedding: {})\n",
        r.tenant,
        r.tags.len(),
        r.promoted(),
        r.media_retagged,
        r.proposals_written,
        r.seconds,
        r.embedding.as_deref().unwrap_or("none"),
    );
    for t in &r.tags {
        let line = match &t.outcome {
            TagOutcome::Promoted {
                version,
                previous,
                metrics,
                ..
            } => format!(
                "version {version} promoted (was {}): held-out log loss {}, average precision {}",
                previous.map_or_else(|| "none".to_owned(), |v| v.to_string()),
                figure(metrics.held_out.log_loss),
                figure(metrics.held_out.average_precision),
            ),
            TagOutcome::Kept {
                version,
                current,
                comparison,
                metrics,
            } => format!(
                "version {version} registered, not promoted ({}; current {}): held-out log loss {}",
                serde_json::to_value(comparison)
                    .map_or_else(|_| String::new(), |v| v["outcome"].to_string()),
                current.map_or_else(|| "none".to_owned(), |v| v.to_string()),
                figure(metrics.held_out.log_loss),
            ),
            TagOutcome::TooFewDecisions { message } => format!("no model: {message}"),
            TagOutcome::Unchanged { version } => {
                format!("no new decisions since version {version}: not retrained")
            }
        };
        out.push_str(&format!("  {}: {line}\n", t.tag));
    }
    out
}

fn figure(x: Option<f64>) -> String {
    x.map_or_else(|| "n/a".to_owned(), |x| format!("{x:.3}"))
}

fn describe(version: u32, r: &TrainReport) -> String {
    format!(
        "model version {version} promoted: {} media, {} profiles, {} events ({} ignored), {} interactions; read {:.1} s, trained {:.1} s, {:.1} MB",
        r.items,
        r.users,
        r.events,
        r.events_ignored,
        r.interactions,
        r.read_seconds,
        r.train_seconds,
        r.model_bytes as f64 / 1e6
    )
}

async fn all_tenants<P: Platform>(platform: &P) -> anyhow::Result<Vec<TenantId>> {
    Ok(TenantRepo::new(platform.table())
        .list_all()
        .await
        .context("listing tenants")?
        .into_iter()
        .map(|t| t.id)
        .collect())
}

/// Trains every tenant whose model is older than `every` (or missing) now, and then every
/// `every` until `stop`; so a restart does not retrain what is fresh. A tenant that fails is
/// logged and tried again next round; it never stops the server.
pub async fn on_schedule(platform: LocalPlatform, every: Duration, stop: CancellationToken) {
    let config = TrainConfig::default();
    loop {
        match all_tenants(&platform).await {
            Ok(tenants) => {
                for tenant in tenants {
                    if stop.is_cancelled() {
                        return;
                    }
                    if trained_within(&platform, tenant, every).await {
                        continue;
                    }
                    match train_tenant(&platform, tenant, &config, Utc::now()).await {
                        Ok((version, report)) => {
                            info!(%tenant, "{}", describe(version.version, &report));
                        }
                        Err(e) => log_failure(tenant, &e),
                    }
                    // The tag heads read the recommender's embeddings: trained after it.
                    let options = TrainTagsOptions::default();
                    match train_tenant_tags(&platform, tenant, &options, Utc::now()).await {
                        Ok(report) => info!(%tenant, "{}", describe_tags(&report).trim_end()),
                        Err(e) => error!(%tenant, error = %e, transient = e.is_transient(),
                            "scheduled tag training failed; the promoted heads stay in service"),
                    }
                }
            }
            Err(e) => {
                error!(error = %format!("{e:#}"), "scheduled training: listing tenants failed")
            }
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(every) => {}
        }
    }
}

/// Whether the tenant's promoted model was made less than `age` ago (a registry that cannot be
/// read counts as no: training is the safe side).
async fn trained_within(platform: &LocalPlatform, tenant: TenantId, age: Duration) -> bool {
    let current = ModelRegistry::new(platform.table())
        .current(tenant, FAMILY)
        .await;
    match current {
        Ok(Some(model)) => (Utc::now() - model.created_at)
            .to_std()
            .is_ok_and(|elapsed| elapsed < age),
        _ => false,
    }
}

fn log_failure(tenant: TenantId, e: &TrainError) {
    error!(%tenant, error = %e, transient = e.is_transient(),
        "scheduled training failed; the previous model stays in service");
}
