//! SQS queues on moto for the `SqsQueue` tests.

use aws_sdk_sqs::Client;
use mvidarr_store_aws::sqs::{SqsQueue, create_queue_with_dead_letter};

pub use super::moto::unreachable_sdk_config;
use super::moto::{Moto, unique_name};
use crate::conformance::queue::MAX_RECEIVES;

pub async fn sqs_client(moto: &Moto) -> Client {
    Client::new(&moto.sdk_config().await)
}

/// A fresh queue redriving into a fresh dead-letter queue after [`MAX_RECEIVES`] receives:
/// `(queue, dead_letter)`, as the conformance suite wants them.
pub async fn new_queue_pair(moto: &Moto) -> (SqsQueue, SqsQueue) {
    new_queue_pair_with(moto, MAX_RECEIVES).await
}

pub async fn new_queue_pair_with(moto: &Moto, max_receives: u32) -> (SqsQueue, SqsQueue) {
    let client = sqs_client(moto).await;
    let (url, dlq_url) = create_queue_with_dead_letter(&client, &unique_name("q"), max_receives)
        .await
        .unwrap_or_else(|e| panic!("creating a queue on moto: {e}"));
    (
        SqsQueue::new(client.clone(), url),
        SqsQueue::new(client, dlq_url),
    )
}

/// A client for a loopback port nothing listens on ([`unreachable_sdk_config`]).
pub async fn unreachable_sqs_client() -> Client {
    Client::new(&unreachable_sdk_config().await)
}
