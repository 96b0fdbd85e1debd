//! S3 on moto: a client and fresh buckets for the blob store's tests.

use mvidarr_store_aws::s3::{S3BlobStore, client_from};

use super::moto::{Moto, unique_name};

/// An S3 client for `moto`. Path-style addressing: moto has no per-bucket host names.
pub async fn s3_client(moto: &Moto) -> aws_sdk_s3::Client {
    client_from(&moto.sdk_config().await, true)
}

/// Create a bucket named `name`.
pub async fn create_bucket(client: &aws_sdk_s3::Client, name: &str) {
    client
        .create_bucket()
        .bucket(name)
        .send()
        .await
        .unwrap_or_else(|e| panic!("create bucket {name}: {e:?}"));
}

/// A store over a new, empty bucket of its own.
pub async fn new_bucket(moto: &Moto) -> S3BlobStore {
    let client = s3_client(moto).await;
    let bucket = unique_name("blobs");
    create_bucket(&client, &bucket).await;
    S3BlobStore::new(client, bucket)
}
