//! Throttling, which moto never does: a loopback HTTP server that answers like a throttled
//! AWS service (DynamoDB's JSON error, S3's `503 SlowDown`) for the first N requests, to show
//! that the adapters' SDK clients retry it with backoff and, when it persists, surface it as
//! the port's `Transient` error (which the pipeline's `Retry` and SQS redelivery act on).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use mvidarr_core::ports::{BlobError, BlobStore, Table, TableError};
use mvidarr_store_aws::config::MAX_ATTEMPTS;
use mvidarr_store_aws::dynamodb::DynamoTable;
use mvidarr_store_aws::s3::{S3BlobStore, client_from};
use mvidarr_store_aws::{AwsSettings, sdk_config};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A throttled service: the first `throttled` requests get `throttle`, the rest `ok`.
struct FakeService {
    endpoint: String,
    requests: Arc<AtomicUsize>,
}

#[derive(Clone, Copy)]
struct Reply {
    status: &'static str,
    content_type: &'static str,
    body: &'static str,
}

const DYNAMO_THROTTLED: Reply = Reply {
    status: "400 Bad Request",
    content_type: "application/x-amz-json-1.0",
    body: r#"{"__type":"com.amazonaws.dynamodb.v20120810#ThrottlingException","message":"Rate of requests exceeds the allowed throughput."}"#,
};
const DYNAMO_NO_ITEM: Reply = Reply {
    status: "200 OK",
    content_type: "application/x-amz-json-1.0",
    body: "{}",
};
const S3_SLOW_DOWN: Reply = Reply {
    status: "503 Slow Down",
    content_type: "application/xml",
    body: "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message><RequestId>1</RequestId></Error>",
};
const S3_NO_TAGS: Reply = Reply {
    status: "200 OK",
    content_type: "application/xml",
    body: "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Tagging xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><TagSet></TagSet></Tagging>",
};

impl FakeService {
    async fn start(throttled: usize, throttle: Reply, ok: Reply) -> FakeService {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let requests = Arc::new(AtomicUsize::new(0));
        let counter = requests.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut socket, _)) = listener.accept().await else {
                    return;
                };
                let counter = counter.clone();
                tokio::spawn(async move {
                    // One connection may carry several requests (the SDK reuses connections).
                    while let Some(()) = read_request(&mut socket).await {
                        let n = counter.fetch_add(1, Ordering::SeqCst);
                        let reply = if n < throttled { throttle } else { ok };
                        let response = format!(
                            "HTTP/1.1 {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nx-amzn-RequestId: {n}\r\n\r\n{}",
                            reply.status,
                            reply.content_type,
                            reply.body.len(),
                            reply.body
                        );
                        if socket.write_all(response.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        FakeService { endpoint, requests }
    }

    fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    async fn settings(&self) -> aws_config::SdkConfig {
        sdk_config(&AwsSettings {
            endpoint_url: Some(self.endpoint.clone()),
            region: Some("us-east-1".into()),
            static_credentials: Some(("testing".into(), "testing".into())),
        })
        .await
    }
}

/// Read one HTTP/1.1 request (headers and a `Content-Length` body); `None` at end of stream.
async fn read_request(socket: &mut tokio::net::TcpStream) -> Option<()> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if socket.read(&mut byte).await.ok()? == 0 {
            return None;
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
    let length = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    socket.read_exact(&mut body).await.ok()?;
    Some(())
}

#[tokio::test]
async fn dynamodb_throttling_is_retried_and_then_succeeds() {
    let service = FakeService::start(2, DYNAMO_THROTTLED, DYNAMO_NO_ITEM).await;
    let client = aws_sdk_dynamodb::Client::new(&service.settings().await);
    let table = DynamoTable::new(client, "items");
    assert_eq!(table.get("pk", "sk").await.unwrap(), None);
    assert_eq!(
        service.requests(),
        3,
        "two throttled attempts, then the one that worked"
    );
}

#[tokio::test]
async fn dynamodb_throttling_that_persists_surfaces_as_transient_after_every_attempt() {
    let service = FakeService::start(usize::MAX, DYNAMO_THROTTLED, DYNAMO_NO_ITEM).await;
    let client = aws_sdk_dynamodb::Client::new(&service.settings().await);
    let table = DynamoTable::new(client, "items");
    let error = table.get("pk", "sk").await.unwrap_err();
    assert!(matches!(error, TableError::Transient(_)), "{error:?}");
    assert!(error.to_string().contains("Throttling"), "{error}");
    assert_eq!(service.requests(), MAX_ATTEMPTS as usize);
}

#[tokio::test]
async fn s3_slow_down_that_persists_surfaces_as_transient_after_every_attempt() {
    let service = FakeService::start(usize::MAX, S3_SLOW_DOWN, S3_NO_TAGS).await;
    let store = S3BlobStore::new(client_from(&service.settings().await, true), "media");
    let error = store.get_tags("t/x/uploads/y").await.unwrap_err();
    assert!(matches!(error, BlobError::Transient(_)), "{error:?}");
    assert_eq!(service.requests(), MAX_ATTEMPTS as usize);

    let recovering = FakeService::start(1, S3_SLOW_DOWN, S3_NO_TAGS).await;
    let store = S3BlobStore::new(client_from(&recovering.settings().await, true), "media");
    assert!(store.get_tags("t/x/uploads/y").await.unwrap().is_empty());
    assert_eq!(recovering.requests(), 2);
}
