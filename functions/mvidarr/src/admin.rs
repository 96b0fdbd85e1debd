//! Administration on the data directory directly, whether or not a server is running on it:
//! `mvidarr tenant create NAME --owner EMAIL` (a new tenant and an invitation for its owner)
//! and `mvidarr signing-key rotate`.

use std::path::Path;

use anyhow::Context;
use chrono::Utc;
use mvidarr_auth::service::{Identity, IdentityConfig};
use mvidarr_core::asl::StateMachine;
use mvidarr_store_local::{LocalConfig, LocalPlatform};

use crate::data_dir::{ServerInfo, server_info_path};

#[derive(clap::Args, Debug)]
pub struct TenantArgs {
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
}

#[derive(clap::Args, Debug)]
pub struct SigningKeyArgs {
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
    let (identity, _) = open(data).await?;
    match args.command {
        SigningKeyCommand::Rotate => {
            let kid = identity
                .rotate_signing_key(Utc::now())
                .await
                .context("rotating the signing key")?;
            println!("new signing key {kid}; the previous one verifies for 15 more minutes");
        }
    }
    Ok(())
}

/// The identity service on the data directory, and the URL a running server serves on.
async fn open(data: &Path) -> anyhow::Result<(Identity<LocalPlatform>, String)> {
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
    let (identity, url) = open(data).await?;
    match args.command {
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
    }
    Ok(())
}
