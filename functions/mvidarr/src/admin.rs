//! Administration, on the data directory directly (whether or not a server is running on it)
//! or, with `--aws`, on the AWS stack the environment names: `mvidarr tenant create NAME
//! --owner EMAIL` (a new tenant and an invitation for its owner) and `mvidarr signing-key
//! rotate`. The same identity service does it either way.

use std::path::Path;

use anyhow::Context;
use chrono::Utc;
use mvidarr_auth::ratelimit::Plan;
use mvidarr_auth::service::{Identity, IdentityConfig};
use mvidarr_core::asl::StateMachine;
use mvidarr_core::ports::Platform;
use mvidarr_core::repo::TenantRepo;
use mvidarr_store_local::{LocalConfig, LocalPlatform};

use crate::data_dir::{ServerInfo, server_info_path};

/// Where an administrative command acts.
#[derive(clap::Args, Debug, Clone, Copy)]
pub struct TargetArgs {
    /// Act on the deployed AWS stack instead of the data directory: its table, bucket and key
    /// from `TABLE_NAME`, `MEDIA_BUCKET`, `KMS_KEY_ID` and `TOKEN_ISSUER` (the stack's outputs
    /// and parameter), credentials and region as the AWS CLI finds them.
    #[arg(long, global = true)]
    pub aws: bool,
}

#[derive(clap::Args, Debug)]
pub struct TenantArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    #[command(subcommand)]
    pub command: TenantCommand,
}

#[derive(clap::Subcommand, Debug)]
pub enum TenantCommand {
    /// Create a tenant; prints an invitation for its owner (shown once, valid 7 days).
    Create {
        /// 1–64 letters, digits, '-' or '_'.
        name: String,
        /// The owner's email; they choose their password when accepting the invitation.
        #[arg(long)]
        owner: String,
    },
    /// Put a tenant on a plan (free, pro, enterprise): its rate limits and quotas.
    SetPlan {
        /// The tenant's name.
        name: String,
        plan: Plan,
    },
}

#[derive(clap::Args, Debug)]
pub struct SigningKeyArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    #[command(subcommand)]
    pub command: SigningKeyCommand,
}

#[derive(clap::Subcommand, Debug)]
pub enum SigningKeyCommand {
    /// Sign new access tokens with a fresh key; the old one verifies its tokens until they
    /// expire (15 minutes), so nobody is signed out. A running server picks it up within a
    /// minute.
    Rotate,
}

pub async fn signing_key(data: &Path, args: SigningKeyArgs) -> anyhow::Result<()> {
    if args.target.aws {
        return rotate(&aws_identity().await?).await;
    }
    rotate(&open_local(data).await?.0).await
}

async fn rotate<P: Platform>(identity: &Identity<P>) -> anyhow::Result<()> {
    let kid = identity
        .rotate_signing_key(Utc::now())
        .await
        .context("rotating the signing key")?;
    println!("new signing key {kid}; the previous one verifies for 15 more minutes");
    Ok(())
}

/// The identity service on the AWS stack the environment names, as the API function runs it.
async fn aws_identity() -> anyhow::Result<Identity<impl Platform>> {
    let platform = mvidarr_lambda::platform_from_env()
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    mvidarr_lambda::identity_from_env(platform).map_err(|e| anyhow::anyhow!("{e}"))
}

/// The identity service on the data directory, and the URL a running server serves on.
pub(crate) async fn open_local(data: &Path) -> anyhow::Result<(Identity<LocalPlatform>, String)> {
    // The running server's URL, for the instructions (tokens are not minted here).
    let url = std::fs::read(server_info_path(data))
        .ok()
        .and_then(|b| serde_json::from_slice::<ServerInfo>(&b).ok())
        .map_or_else(|| "http://127.0.0.1:8080".to_owned(), |i| i.url);
    let platform = LocalPlatform::open(
        &LocalConfig {
            data_dir: data.to_owned(),
            public_base_url: url.clone(),
            ingest_max_receives: 5,
        },
        StateMachine::pipeline().context("parsing infra/pipeline.asl.json")?,
    )?;
    let identity = Identity::start(platform, IdentityConfig::new(&url))
        .await
        .context("loading the token-signing keys")?;
    Ok((identity, url))
}

pub async fn tenant(data: &Path, args: TenantArgs) -> anyhow::Result<()> {
    if args.target.aws {
        let identity = aws_identity().await?;
        let url = std::env::var("API_URL").unwrap_or_else(|_| "$API_URL".into());
        return tenant_on(&identity, &url, args.command).await;
    }
    let (identity, url) = open_local(data).await?;
    tenant_on(&identity, &url, args.command).await
}

async fn tenant_on<P: Platform>(
    identity: &Identity<P>,
    url: &str,
    command: TenantCommand,
) -> anyhow::Result<()> {
    match command {
        TenantCommand::Create { name, owner } => {
            let (tenant, invite) = identity
                .create_tenant(&name, &owner, Utc::now())
                .await
                .with_context(|| format!("creating tenant {name}"))?;
            println!("tenant {} ({})", tenant.name, tenant.id);
            println!("owner invitation for {owner} (shown once, valid 7 days):\n{invite}");
            println!(
                "accept it with:\n  curl -X POST {url}/v1/auth/invites/accept -H 'content-type: application/json' \\\n    -d '{{\"token\": \"{invite}\", \"password\": \"<a long passphrase>\"}}'"
            );
        }
        TenantCommand::SetPlan { name, plan } => {
            let tenant = TenantRepo::new(identity.platform().table())
                .by_name(&name)
                .await?
                .with_context(|| format!("no tenant {name}"))?;
            identity
                .set_plan(tenant.id, plan, Utc::now())
                .await
                .context("setting the plan")?;
            println!(
                "tenant {name} ({}) is on the {} plan",
                tenant.id,
                plan.as_str()
            );
        }
    }
    Ok(())
}
