//! The model registry on the embedded (SQLite) table: versions count up, a racing registration
//! loses cleanly, promotion and rollback move the served version, unknown versions are refused.

use chrono::Utc;
use mvidarr_core::ids::TenantId;
use mvidarr_core::repo::{ModelFile, ModelRegistry, RepoError};
use mvidarr_store_local::db::Database;
use mvidarr_store_local::table::SqliteTable;
use serde_json::json;
use tempfile::TempDir;

fn table() -> (SqliteTable, TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(&dir.path().join("mvidarr.db")).unwrap();
    (SqliteTable::new(db).unwrap(), dir)
}

fn file(sha256: &str, size: u64, metrics: serde_json::Value) -> ModelFile {
    ModelFile {
        sha256: sha256.into(),
        size,
        metrics,
    }
}

#[tokio::test]
async fn versions_count_up_and_promotion_moves_and_rolls_back() {
    let (table, _dir) = table();
    let registry = ModelRegistry::new(&table);
    let tenant = TenantId::generate();
    assert_eq!(registry.current(tenant, "reco").await.unwrap(), None);

    let r1 = registry.next_version(tenant, "reco").await.unwrap();
    assert_eq!(r1.version, 1);
    assert_eq!(
        r1.blob_key(tenant, "reco", "aabbccddeeff00112233"),
        format!("t/{tenant}/models/reco/000001-aabbccddeeff0011.bin")
    );
    let v1 = registry
        .register(
            tenant,
            "reco",
            r1,
            file("aa", 10, json!({"users": 3})),
            Utc::now(),
        )
        .await
        .unwrap();
    let r2 = registry.next_version(tenant, "reco").await.unwrap();
    assert_eq!(r2.version, 2);
    registry
        .register(tenant, "reco", r2, file("bb", 20, json!({})), Utc::now())
        .await
        .unwrap();

    registry
        .promote(tenant, "reco", 2, Utc::now())
        .await
        .unwrap();
    assert_eq!(
        registry.current_version(tenant, "reco").await.unwrap(),
        Some(2)
    );
    registry
        .promote(tenant, "reco", 1, Utc::now())
        .await
        .unwrap();
    assert_eq!(registry.current(tenant, "reco").await.unwrap(), Some(v1));

    let all = registry.list(tenant, "reco").await.unwrap();
    assert_eq!(all.iter().map(|v| v.version).collect::<Vec<_>>(), [1, 2]);
    assert!(registry.list(tenant, "tags/live").await.unwrap().is_empty());
    assert!(
        registry
            .list(TenantId::generate(), "reco")
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn two_trainers_racing_for_one_number_cannot_both_register() {
    let (table, _dir) = table();
    let registry = ModelRegistry::new(&table);
    let tenant = TenantId::generate();
    let a = registry.next_version(tenant, "reco").await.unwrap();
    let b = registry.next_version(tenant, "reco").await.unwrap();
    // Same number, different files: neither overwrites the other's.
    assert_ne!(
        a.blob_key(tenant, "reco", "aa"),
        b.blob_key(tenant, "reco", "bb")
    );
    registry
        .register(tenant, "reco", a, file("aa", 1, json!({})), Utc::now())
        .await
        .unwrap();
    let lost = registry
        .register(tenant, "reco", b, file("bb", 1, json!({})), Utc::now())
        .await
        .unwrap_err();
    assert!(matches!(lost, RepoError::Contended { .. }), "{lost:?}");
    assert_eq!(
        registry
            .get(tenant, "reco", 1)
            .await
            .unwrap()
            .unwrap()
            .sha256,
        "aa"
    );
}

#[tokio::test]
async fn promoting_an_unknown_version_is_refused_and_changes_nothing() {
    let (table, _dir) = table();
    let registry = ModelRegistry::new(&table);
    let tenant = TenantId::generate();
    let err = registry
        .promote(tenant, "reco", 7, Utc::now())
        .await
        .unwrap_err();
    assert!(matches!(err, RepoError::NotFound(_)), "{err:?}");
    assert_eq!(
        registry.current_version(tenant, "reco").await.unwrap(),
        None
    );
}

#[tokio::test]
async fn automatic_promotion_never_goes_back_but_a_rollback_does() {
    let (table, _dir) = table();
    let registry = ModelRegistry::new(&table);
    let tenant = TenantId::generate();
    for sha in ["aa", "bb"] {
        let r = registry.next_version(tenant, "reco").await.unwrap();
        registry
            .register(tenant, "reco", r, file(sha, 1, json!({})), Utc::now())
            .await
            .unwrap();
    }
    // Trainer B finished version 2 first; trainer A's version 1 arrives late.
    assert!(
        registry
            .promote_if_newer(tenant, "reco", 2, Utc::now())
            .await
            .unwrap()
    );
    assert!(
        !registry
            .promote_if_newer(tenant, "reco", 1, Utc::now())
            .await
            .unwrap()
    );
    assert_eq!(
        registry.current_version(tenant, "reco").await.unwrap(),
        Some(2)
    );
    // An operator's rollback is explicit and goes back.
    registry
        .promote(tenant, "reco", 1, Utc::now())
        .await
        .unwrap();
    assert_eq!(
        registry.current_version(tenant, "reco").await.unwrap(),
        Some(1)
    );
    let err = registry
        .promote_if_newer(tenant, "reco", 9, Utc::now())
        .await
        .unwrap_err();
    assert!(matches!(err, RepoError::NotFound(_)), "{err:?}");
}
