//! SQS queues on moto for the `SqsQueue` tests.

use std::net::{Ipv4Addr, TcpListener};

use aws_config::SdkConfig;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::config::retry::RetryConfig;
use mvidarr_store_aws::sqs::{SqsQueue, create_queue_with_dead_letter};
use mvidarr_store_aws::{AwsSettings, sdk_config};

use super::moto::{Moto, REGION, unique_name};
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

/// A client for a loopback port nothing listens on, trying twice with short timeouts: for
/// checking that an unreachable service is a transient failure, quickly.
pub async fn unreachable_sqs_client() -> Client {
    let sdk = unreachable_sdk_config().await;
    Client::from_conf(
        aws_sdk_sqs::config::Builder::from(&sdk)
            .retry_config(RetryConfig::standard().with_max_attempts(2))
            .build(),
    )
}

/// The project's SDK configuration pointed at a loopback port that was free a moment ago (so
/// nothing listens there): every call fails to connect. Shared with the other AWS tests.
pub async fn unreachable_sdk_config() -> SdkConfig {
    let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    sdk_config(&AwsSettings {
        endpoint_url: Some(format!("http://127.0.0.1:{port}")),
        region: Some(REGION.to_owned()),
        static_credentials: Some(("testing".to_owned(), "testing".to_owned())),
    })
    .await
}
