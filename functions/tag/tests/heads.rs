//! Promoted tag heads are read back only as registered: a file whose SHA-256 differs from the
//! registry's, or a head filed under another tag's family, is refused, and the tag step goes on
//! without it.

use chrono::Utc;
use mvidarr_core::ids::TenantId;
use mvidarr_core::ports::{BlobStore, Platform};
use mvidarr_core::repo::{ModelFileError, ModelRegistry, ModelVersion, publish_model};
use mvidarr_core::tag::TagName;
use mvidarr_tag::heads::{HeadError, load_head, promoted_heads};
use mvidarr_tags::{FeatureSpec, Platt, TagHead};
use mvidarr_tests::tenants::open_platform;

fn head(tag: &str) -> TagHead {
    let spec = FeatureSpec::default();
    TagHead {
        tag: TagName::parse(tag).unwrap(),
        weights: vec![0.0; spec.len()],
        spec,
        bias: 0.5,
        platt: Platt::IDENTITY,
    }
}

async fn publish<P: Platform>(
    platform: &P,
    tenant: TenantId,
    family: &str,
    head: &TagHead,
) -> ModelVersion {
    let record = publish_model(
        platform,
        tenant,
        family,
        head.to_bytes(),
        |_| serde_json::json!({"train_positives": 9, "train_negatives": 11}),
        Utc::now(),
    )
    .await
    .unwrap();
    ModelRegistry::new(platform.table())
        .promote(tenant, family, record.version, Utc::now())
        .await
        .unwrap();
    record
}

#[tokio::test]
async fn a_head_whose_file_differs_from_the_registry_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let platform = open_platform(dir.path());
    let tenant = TenantId::generate();
    let record = publish(&platform, tenant, "tags/live", &head("live")).await;

    let heads = promoted_heads(&platform, tenant, &[]).await.unwrap();
    assert_eq!(heads.len(), 1);
    assert_eq!((heads[0].version, heads[0].decisions), (1, 20));
    let confidence = heads[0]
        .head
        .confidence(&vec![0.0; FeatureSpec::default().len()]);
    assert!((confidence.unwrap() - 0.622).abs() < 1e-3, "σ(0.5)");

    // Someone swaps the file: same key, other bytes.
    let other = head("animation").to_bytes();
    platform
        .blobs()
        .put(
            &record.blob_key,
            mvidarr_core::ports::blob::body_of(other),
            None,
        )
        .await
        .unwrap();
    let refused = load_head(&platform, &record).await.unwrap_err();
    assert!(
        matches!(refused, HeadError::File(ModelFileError::Integrity { .. })),
        "{refused}"
    );
    assert!(refused.to_string().contains("refused"), "{refused}");
    assert!(
        promoted_heads(&platform, tenant, &[])
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn a_head_filed_under_another_tag_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let platform = open_platform(dir.path());
    let tenant = TenantId::generate();
    let record = publish(&platform, tenant, "tags/live", &head("animation")).await;
    let refused = load_head(&platform, &record).await.unwrap_err();
    assert!(matches!(refused, HeadError::WrongTag { .. }), "{refused}");
    assert!(
        promoted_heads(&platform, tenant, &[])
            .await
            .unwrap()
            .is_empty()
    );
}
