//! Setting up tenants directly in a data directory (no server running): what `mvidarr tenant
//! create` does, plus an owner API key so a test can act as the tenant at once.

use std::path::Path;

use chrono::Utc;
use mvidarr_auth::service::{Identity, IdentityConfig};
use mvidarr_core::asl::StateMachine;
use mvidarr_store_local::{LocalConfig, LocalPlatform};

/// Open a data directory's platform in this process.
pub fn open_platform(data: &Path) -> LocalPlatform {
    LocalPlatform::open(
        &LocalConfig {
            data_dir: data.to_owned(),
            public_base_url: "http://127.0.0.1:9".into(),
            ingest_max_receives: 5,
        },
        StateMachine::pipeline().unwrap(),
    )
    .unwrap()
}

/// Create a tenant and return an API key with the owner's permissions for it.
pub async fn create_tenant_offline(data: &Path, name: &str) -> String {
    let identity = Identity::start(
        open_platform(data),
        IdentityConfig::new("http://127.0.0.1:9"),
    )
    .await
    .unwrap();
    let (tenant, _invite) = identity
        .create_tenant(name, &format!("owner@{name}.example.com"), Utc::now())
        .await
        .unwrap();
    identity
        .system_api_key(tenant.id, "test", Utc::now())
        .await
        .unwrap()
        .key
}
