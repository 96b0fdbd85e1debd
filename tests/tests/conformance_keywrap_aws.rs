//! The key-wrap conformance suite on `KmsKeyWrap` against moto (a new KMS key per test), and
//! how KMS failures map onto `KeyWrapError`.

use mvidarr_core::ports::keywrap::{KeyWrap, KeyWrapError};
use mvidarr_store_aws::kms::KmsKeyWrap;
use mvidarr_tests::aws::Moto;
use mvidarr_tests::aws::kms::{kms_client, new_key_wrap, unreachable_key_wrap};

async fn aws_key_wrap() -> (KmsKeyWrap, ()) {
    (new_key_wrap(Moto::shared()).await, ())
}

mvidarr_tests::keywrap_conformance!(aws_key_wrap());

#[tokio::test]
async fn a_key_wrapped_under_another_kms_key_does_not_unwrap() {
    let ours = new_key_wrap(Moto::shared()).await;
    let theirs = new_key_wrap(Moto::shared()).await;
    let key = theirs.generate_data_key("ctx").await.unwrap();
    let unwrapped = ours.unwrap(key.wrapped(), "ctx").await;
    assert!(
        matches!(unwrapped, Err(KeyWrapError::CannotUnwrap(_))),
        "got {unwrapped:?}"
    );
}

#[tokio::test]
async fn a_key_id_kms_does_not_know_is_a_backend_error() {
    let missing = KmsKeyWrap::new(
        kms_client(Moto::shared()).await,
        "00000000-0000-4000-8000-000000000000",
    );
    let generated = missing.generate_data_key("ctx").await;
    assert!(
        matches!(&generated, Err(KeyWrapError::Backend(m)) if m.contains("NotFound")),
        "got {generated:?}"
    );
}

#[tokio::test]
async fn an_unreachable_kms_is_transient() {
    let key_wrap = unreachable_key_wrap().await;
    let generated = key_wrap.generate_data_key("ctx").await;
    assert!(
        matches!(generated, Err(KeyWrapError::Transient(_))),
        "got {generated:?}"
    );
    let unwrapped = key_wrap.unwrap(&[1; 100], "ctx").await;
    assert!(
        matches!(unwrapped, Err(KeyWrapError::Transient(_))),
        "got {unwrapped:?}"
    );
}
