//! KMS keys on moto for the `KmsKeyWrap` tests.

use aws_sdk_kms::Client;
use mvidarr_store_aws::kms::{KmsKeyWrap, create_key};

use super::moto::{Moto, unique_name, unreachable_sdk_config};

pub async fn kms_client(moto: &Moto) -> Client {
    Client::new(&moto.sdk_config().await)
}

/// A new symmetric KMS key; returns its id.
pub async fn new_key(moto: &Moto) -> String {
    create_key(&kms_client(moto).await, &unique_name("secrets"))
        .await
        .unwrap_or_else(|e| panic!("creating a KMS key on moto: {e}"))
}

/// The adapter over a KMS key of its own.
pub async fn new_key_wrap(moto: &Moto) -> KmsKeyWrap {
    let key_id = new_key(moto).await;
    KmsKeyWrap::new(kms_client(moto).await, key_id)
}

/// An adapter whose KMS is a loopback port nothing listens on ([`unreachable_sdk_config`]).
pub async fn unreachable_key_wrap() -> KmsKeyWrap {
    KmsKeyWrap::new(
        Client::new(&unreachable_sdk_config().await),
        "alias/nowhere",
    )
}
