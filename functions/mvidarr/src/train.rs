//! `mvidarr train`, and the schedule `mvidarr serve` trains on: each tenant's recommender is
//! trained from its catalogue, profiles and events, registered and promoted; a running server
//! serves the new version within its refresh interval.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use chrono::Utc;
use mvidarr_core::ids::TenantId;
use mvidarr_core::ports::Platform;
use mvidarr_core::repo::{ModelRegistry, TenantRepo};
use mvidarr_reco::model::TrainConfig;
use mvidarr_reco::service::{FAMILY, TrainError, TrainReport, train_tenant};
use mvidarr_store_local::LocalPlatform;
use tokio_util::sync::CancellationToken;
use tracing::{error, info};

use crate::admin::open_local;
use crate::app::default_tenant;

#[derive(clap::Args, Debug)]
pub struct TrainArgs {
    /// The tenant to train (default: the embedded `default` tenant).
    #[arg(long, conflicts_with = "all")]
    tenant: Option<TenantId>,
    /// Train every tenant.
    #[arg(long)]
    all: bool,
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
    let tenants = if args.all {
        all_tenants(platform).await?
    } else if let Some(id) = args.tenant {
        vec![id]
    } else {
        vec![default_tenant(&identity, data).await?]
    };
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
