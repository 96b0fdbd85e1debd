//! `mvidarr tenant create NAME --owner EMAIL`: a new tenant and an invitation for its owner.
//! Works on the data directory directly, whether or not a server is running on it.

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

pub async fn run(data: &Path, args: TenantArgs) -> anyhow::Result<()> {
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
