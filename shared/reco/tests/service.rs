//! Training into the model registry and serving from it, on the embedded platform: a model is
//! trained from the stores, loaded once, swapped when a newer one is promoted, and a file whose
//! SHA-256 differs from the registry is refused.

use std::time::Duration;

use chrono::Utc;
use mvidarr_core::ids::{MediaId, ProfileId, TenantId};
use mvidarr_core::ports::blob::read_to_end;
use mvidarr_core::ports::{BlobStore, Platform};
use mvidarr_core::repo::ModelRegistry;
use mvidarr_reco::model::{BlendConfig, Kind, TrainConfig};
use mvidarr_reco::service::{FAMILY, Recommender, ServeError, TrainReport, publish, train_tenant};
use mvidarr_store_local::LocalPlatform;
use mvidarr_tests::{reco, tenants};
use sha2::{Digest, Sha256};
use tempfile::TempDir;

fn platform() -> (LocalPlatform, TempDir) {
    let dir = tempfile::tempdir().unwrap();
    (tenants::open_platform(dir.path()), dir)
}

/// Twelve videos (rock m0–m5, pop m6–m11) and forty profiles who each play four of their side's.
async fn seed(platform: &LocalPlatform, tenant: TenantId) -> (Vec<MediaId>, Vec<ProfileId>) {
    let (media, profiles) = reco::import(platform.table(), tenant, 12, 40).await;
    reco::record_plays(platform.table(), tenant, &media, &profiles, 4).await;
    (media, profiles)
}

fn config() -> TrainConfig {
    let mut config = TrainConfig::default();
    config.als.factors = 2;
    config
}

#[tokio::test]
async fn a_trained_model_is_registered_served_and_swapped_for_a_newer_one() {
    let (platform, _dir) = platform();
    let tenant = TenantId::generate();
    let (media, profiles) = seed(&platform, tenant).await;

    let (v1, report) = train_tenant(&platform, tenant, &config(), Utc::now())
        .await
        .unwrap();
    assert_eq!((v1.version, report.items, report.users), (1, 12, 40));
    assert_eq!(
        (report.events, report.interactions, report.events_ignored),
        (160, 160, 0)
    );
    assert_eq!(v1.metrics["interactions"], 160);

    let recommender = Recommender::new(platform.clone(), Duration::ZERO);
    let served = recommender.model(tenant).await.unwrap().unwrap();
    assert_eq!(served.version, 1);
    let recs = served.model.recommend(
        Some(&profiles[0].to_string()),
        Kind::Personal,
        2,
        &BlendConfig::default(),
    );
    let mut got: Vec<String> = recs.iter().map(|r| r.item.clone()).collect();
    got.sort_unstable();
    let mut want = vec![media[4].to_string(), media[5].to_string()];
    want.sort_unstable();
    assert_eq!(
        got, want,
        "u0 played m0–m3: the unplayed rock videos come first"
    );

    let (v2, _) = train_tenant(&platform, tenant, &config(), Utc::now())
        .await
        .unwrap();
    assert_eq!(v2.version, 2);
    let swapped = recommender.model(tenant).await.unwrap().unwrap();
    assert_eq!(swapped.version, 2);
    // Whoever still holds the old model keeps a whole, working one.
    assert_eq!(served.model.item_count(), 12);

    // Rolling back is promoting the old version again.
    ModelRegistry::new(platform.table())
        .promote(tenant, FAMILY, 1, Utc::now())
        .await
        .unwrap();
    assert_eq!(recommender.model(tenant).await.unwrap().unwrap().version, 1);
}

#[tokio::test]
async fn a_model_file_that_does_not_match_its_registry_digest_is_refused() {
    let (platform, _dir) = platform();
    let tenant = TenantId::generate();
    seed(&platform, tenant).await;
    train_tenant(&platform, tenant, &config(), Utc::now())
        .await
        .unwrap();
    let recommender = Recommender::new(platform.clone(), Duration::ZERO);
    assert_eq!(recommender.model(tenant).await.unwrap().unwrap().version, 1);

    // Version 2's file is changed (one byte) after registration.
    let (v2, _) = train_tenant(&platform, tenant, &config(), Utc::now())
        .await
        .unwrap();
    let file = platform.blobs().get(&v2.blob_key).await.unwrap();
    let mut bytes = read_to_end(file, usize::MAX).await.unwrap();
    *bytes.last_mut().unwrap() ^= 1;
    platform
        .blobs()
        .put(
            &v2.blob_key,
            mvidarr_core::ports::blob::body_of(bytes),
            None,
        )
        .await
        .unwrap();

    let still = recommender.model(tenant).await.unwrap().unwrap();
    assert_eq!(still.version, 1, "the previous model stays in service");

    // A process with nothing loaded yet refuses to serve it, and remembers why for a while
    // instead of fetching and hashing the bad file on every request.
    let fresh = Recommender::new(platform.clone(), Duration::from_secs(60));
    let err = fresh.model(tenant).await.unwrap_err();
    assert!(
        matches!(&err, ServeError::Unavailable(why) if why.contains("the registry says")),
        "{err}"
    );
    platform.blobs().delete(&v2.blob_key).await.unwrap();
    let again = fresh.model(tenant).await.unwrap_err();
    assert_eq!(again.to_string(), err.to_string(), "answered from memory");
}

#[tokio::test]
async fn an_empty_tenant_trains_an_empty_model_and_serves_empty_lists() {
    let (platform, _dir) = platform();
    let tenant = TenantId::generate();
    let recommender = Recommender::new(platform.clone(), Duration::ZERO);
    assert!(
        recommender.model(tenant).await.unwrap().is_none(),
        "never trained"
    );
    let (_, report) = train_tenant(&platform, tenant, &config(), Utc::now())
        .await
        .unwrap();
    assert_eq!((report.items, report.users, report.events), (0, 0, 0));
    let served = recommender.model(tenant).await.unwrap().unwrap();
    assert!(
        served
            .model
            .recommend(None, Kind::Personal, 20, &BlendConfig::default())
            .is_empty()
    );
}

#[tokio::test]
async fn racing_publishers_take_distinct_versions_and_each_file_matches_its_record() {
    let (platform, _dir) = platform();
    let tenant = TenantId::generate();
    let report = || TrainReport {
        version: 0,
        items: 0,
        users: 0,
        events: 0,
        interactions: 0,
        events_ignored: 0,
        read_seconds: 0.0,
        train_seconds: 0.0,
        model_bytes: 0,
    };
    let (mut a, mut b) = (report(), report());
    let (ra, rb) = tokio::join!(
        publish(&platform, tenant, b"model A".to_vec(), &mut a, Utc::now()),
        publish(&platform, tenant, b"model B".to_vec(), &mut b, Utc::now()),
    );
    let (va, vb) = (ra.unwrap(), rb.unwrap());
    let mut versions = [va.version, vb.version];
    versions.sort_unstable();
    assert_eq!(versions, [1, 2]);
    for (record, bytes) in [(&va, &b"model A"[..]), (&vb, &b"model B"[..])] {
        let file = platform.blobs().get(&record.blob_key).await.unwrap();
        let stored = read_to_end(file, usize::MAX).await.unwrap();
        assert_eq!(stored, bytes);
        assert_eq!(record.sha256, hex::encode(Sha256::digest(bytes)));
    }
    let current = ModelRegistry::new(platform.table())
        .current_version(tenant, FAMILY)
        .await
        .unwrap();
    assert_eq!(current, Some(2), "the newer of the two is served");
}
