//! Setting up tenants directly in a data directory (no server running), until the identity
//! issue gives the CLI a `tenant create` command.

use std::path::Path;

use chrono::Utc;
use mvidarr_core::asl::StateMachine;
use mvidarr_core::ids::TenantId;
use mvidarr_core::ports::Platform;
use mvidarr_core::repo::{TenantRecord, TenantRepo};
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

/// Create a tenant and return an API key for it.
pub async fn create_tenant_offline(data: &Path, name: &str) -> String {
    let platform = open_platform(data);
    let tenant = TenantRecord {
        id: TenantId::generate(),
        name: name.into(),
        created_at: Utc::now(),
    };
    assert!(
        TenantRepo::new(platform.table())
            .create(&tenant)
            .await
            .unwrap()
    );
    mvidarr_api::create_api_key(platform.table(), tenant.id, "test")
        .await
        .unwrap()
}
