//! The queue conformance suite on `SqsQueue` against moto, plus what SQS promises where it
//! differs from the embedded queue, and how failures map onto `QueueError`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mvidarr_core::ports::queue::{
    MAX_MESSAGE_BYTES, OutgoingMessage, Queue, QueueError, ReceivedMessage,
};
use mvidarr_store_aws::sqs::{MAX_DELAY, SqsQueue};
use mvidarr_tests::aws::Moto;
use mvidarr_tests::aws::sqs::{new_queue_pair, unreachable_sqs_client};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

async fn aws_queue() -> (SqsQueue, SqsQueue, ()) {
    let (queue, dead_letter) = new_queue_pair(Moto::shared()).await;
    (queue, dead_letter, ())
}

// Every check but `stale_receipt_is_refused`: SQS may accept the receipt of an earlier
// delivery (the port says callers must not rely on the error), and moto does accept it, for
// both DeleteMessage and ChangeMessageVisibility (it matches a receipt against every handle the
// message ever had). What SQS does promise there is checked by
// `a_stale_receipt_is_accepted_or_refused_and_a_deleted_message_never_returns` below.
// Nor `concurrent_consumers_never_share_a_message`: an SQS standard queue itself promises
// at-least-once delivery ("occasionally more than one copy"), and moto's ReceiveMessage is not
// atomic across concurrent requests — on a loaded machine two consumers were handed the same
// message within its 30 s visibility timeout. The handlers are idempotent for exactly this.
mvidarr_tests::queue_conformance!(@checks aws_queue();
    send_receive_delete,
    received_message_is_hidden_until_its_visibility_timeout,
    zero_visibility_makes_a_message_visible_now,
    message_moves_to_dead_letter_after_max_receives,
    batch_of_25_arrives_exactly_once,
    delayed_message_is_hidden_until_its_delay,
    long_poll_returns_early_when_a_message_arrives,
    too_large_message_is_refused_and_nothing_is_sent,
);

const LONG: Duration = Duration::from_secs(30);

async fn receive_one(queue: &SqsQueue, visibility: Duration) -> ReceivedMessage {
    let mut got = queue
        .receive(1, visibility, Duration::from_secs(3))
        .await
        .expect("receive");
    assert_eq!(got.len(), 1, "expected one message, got {got:?}");
    got.remove(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_receipt_is_accepted_or_refused_and_a_deleted_message_never_returns() {
    let (queue, _dead_letter) = new_queue_pair(Moto::shared()).await;
    queue
        .send_batch(vec![OutgoingMessage::new("stale")])
        .await
        .unwrap();
    let first = receive_one(&queue, LONG).await;
    queue
        .change_visibility(&first.receipt_handle, Duration::ZERO)
        .await
        .unwrap();
    // Short visibility, so a message that survived the deletes below would be seen again.
    let second = receive_one(&queue, Duration::from_secs(1)).await;
    assert_eq!(second.message_id, first.message_id);
    assert_eq!(second.receive_count, 2);
    assert_ne!(second.receipt_handle, first.receipt_handle);

    let changed = queue
        .change_visibility(&first.receipt_handle, Duration::from_secs(1))
        .await;
    assert!(
        matches!(changed, Ok(()) | Err(QueueError::InvalidReceipt)),
        "change_visibility with an earlier receipt is accepted or InvalidReceipt, got {changed:?}"
    );
    let deleted = queue.delete(&first.receipt_handle).await;
    assert!(
        matches!(deleted, Ok(()) | Err(QueueError::InvalidReceipt)),
        "delete with an earlier receipt is accepted or InvalidReceipt, got {deleted:?}"
    );
    queue
        .delete(&second.receipt_handle)
        .await
        .unwrap_or_else(|e| panic!("delete with the current receipt must succeed: {e}"));

    tokio::time::sleep(Duration::from_millis(1500)).await;
    let again = queue
        .receive(10, LONG, Duration::from_secs(1))
        .await
        .unwrap();
    assert!(
        again.is_empty(),
        "a message deleted with its current receipt is not delivered again: {again:?}"
    );
    assert_eq!(queue.approximate_len().await.unwrap(), 0);
}

#[tokio::test]
async fn a_receipt_sqs_never_issued_is_invalid() {
    let (queue, _dead_letter) = new_queue_pair(Moto::shared()).await;
    let deleted = queue.delete("not-a-receipt").await;
    assert!(
        matches!(deleted, Err(QueueError::InvalidReceipt)),
        "got {deleted:?}"
    );
    let changed = queue
        .change_visibility("not-a-receipt", Duration::ZERO)
        .await;
    assert!(
        matches!(changed, Err(QueueError::InvalidReceipt)),
        "got {changed:?}"
    );
}

#[tokio::test]
async fn changing_the_visibility_of_a_deleted_message_is_invalid() {
    let (queue, _dead_letter) = new_queue_pair(Moto::shared()).await;
    queue
        .send_batch(vec![OutgoingMessage::new("gone")])
        .await
        .unwrap();
    let got = receive_one(&queue, LONG).await;
    queue.delete(&got.receipt_handle).await.unwrap();
    let changed = queue
        .change_visibility(&got.receipt_handle, Duration::ZERO)
        .await;
    assert!(
        matches!(changed, Err(QueueError::InvalidReceipt)),
        "got {changed:?}"
    );
}

/// SQS limits the payload of a whole SendMessageBatch too (256 KiB, 1 MiB since 2025; moto
/// refuses over 1 MiB), so large messages go in more, smaller batches: six messages of the
/// largest size (1.5 MiB) arrive, and their ids come back in the order sent.
#[tokio::test]
async fn large_messages_are_split_into_batches_sqs_accepts() {
    let (queue, _dead_letter) = new_queue_pair(Moto::shared()).await;
    let bodies: Vec<String> = (0..6)
        .map(|i| format!("{i}{}", "x".repeat(MAX_MESSAGE_BYTES - 1)))
        .collect();
    let ids = queue
        .send_batch(bodies.iter().map(OutgoingMessage::new).collect())
        .await
        .unwrap_or_else(|e| panic!("sending 6 messages of 256 KiB: {e}"));
    assert_eq!(ids.len(), 6);
    assert_eq!(queue.approximate_len().await.unwrap(), 6);

    let mut by_id = std::collections::HashMap::new();
    while by_id.len() < 6 {
        let got = queue
            .receive(10, LONG, Duration::from_secs(3))
            .await
            .unwrap();
        assert!(!got.is_empty(), "every message arrives");
        by_id.extend(got.into_iter().map(|m| (m.message_id, m.body)));
    }
    for (id, body) in ids.iter().zip(&bodies) {
        assert_eq!(
            by_id.get(id),
            Some(body),
            "id {id} names the body sent in its place"
        );
    }
}

#[tokio::test]
async fn a_delay_sqs_cannot_express_is_refused_and_nothing_is_sent() {
    let (queue, _dead_letter) = new_queue_pair(Moto::shared()).await;
    let sent = queue
        .send_batch(vec![
            OutgoingMessage::new("fine"),
            OutgoingMessage::new("too late").delayed(MAX_DELAY + Duration::from_secs(1)),
        ])
        .await;
    assert!(matches!(sent, Err(QueueError::Backend(_))), "got {sent:?}");
    assert_eq!(queue.approximate_len().await.unwrap(), 0);
}

/// A long poll outlasts the SDK's per-attempt timeout (10 s); the adapter extends it for that
/// call, so an empty long poll ends empty, not timed out.
#[tokio::test]
async fn a_long_poll_longer_than_the_attempt_timeout_returns_empty() {
    let (queue, _dead_letter) = new_queue_pair(Moto::shared()).await;
    let wait = mvidarr_store_aws::config::ATTEMPT_TIMEOUT + Duration::from_secs(2);
    let started = Instant::now();
    let got = queue.receive(1, LONG, wait).await;
    assert!(
        matches!(&got, Ok(m) if m.is_empty()),
        "an empty long poll is an empty list, got {got:?}"
    );
    assert!(
        started.elapsed() >= wait - Duration::from_millis(500),
        "it waited {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn an_unreachable_queue_is_transient() {
    let queue = SqsQueue::new(
        unreachable_sqs_client().await,
        "http://127.0.0.1:9/123456789012/nowhere",
    );
    let started = Instant::now();
    let sent = queue.send_batch(vec![OutgoingMessage::new("x")]).await;
    assert!(
        matches!(sent, Err(QueueError::Transient(_))),
        "got {sent:?}"
    );
    let received = queue.receive(1, LONG, Duration::ZERO).await;
    assert!(
        matches!(received, Err(QueueError::Transient(_))),
        "got {received:?}"
    );
    let deleted = queue.delete("receipt").await;
    assert!(
        matches!(deleted, Err(QueueError::Transient(_))),
        "an unreachable queue is not a bad receipt: got {deleted:?}"
    );
    let changed = queue.change_visibility("receipt", Duration::ZERO).await;
    assert!(
        matches!(changed, Err(QueueError::Transient(_))),
        "got {changed:?}"
    );
    let len = queue.approximate_len().await;
    assert!(matches!(len, Err(QueueError::Transient(_))), "got {len:?}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "failing took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_missing_queue_is_a_backend_error() {
    let (queue, _dead_letter) = new_queue_pair(Moto::shared()).await;
    let missing = SqsQueue::new(
        mvidarr_tests::aws::sqs::sqs_client(Moto::shared()).await,
        queue.queue_url().replace("/q-", "/missing-q-"),
    );
    let sent = missing.send_batch(vec![OutgoingMessage::new("x")]).await;
    assert!(matches!(sent, Err(QueueError::Backend(_))), "got {sent:?}");
}

/// A stand-in for SQS that answers every SendMessageBatch with `respond(round, entry ids)` and
/// records the entry ids of every request: moto never fails single entries of a batch, so the
/// adapter's handling of SQS's partial failures is checked against this.
struct FakeBatchSqs {
    endpoint: String,
    requests: Arc<Mutex<Vec<Vec<String>>>>,
}

/// One entry of a SendMessageBatch answer: `None` succeeds, `Some(sender_fault)` fails.
type Verdict = Option<bool>;

impl FakeBatchSqs {
    async fn start(respond: impl Fn(usize, &str) -> Verdict + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let requests = Arc::new(Mutex::new(Vec::<Vec<String>>::new()));
        let respond = Arc::new(respond);
        let recorded = requests.clone();
        tokio::spawn(async move {
            loop {
                let Ok((socket, _)) = listener.accept().await else {
                    return;
                };
                let (respond, recorded) = (respond.clone(), recorded.clone());
                tokio::spawn(async move {
                    let mut socket = BufReader::new(socket);
                    // One request after another on a kept-alive connection.
                    while let Some(body) = read_request(&mut socket).await {
                        let request: serde_json::Value = serde_json::from_slice(&body).unwrap();
                        let ids: Vec<String> = request["Entries"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .map(|e| e["Id"].as_str().unwrap().to_owned())
                            .collect();
                        let round = {
                            let mut recorded = recorded.lock().unwrap();
                            recorded.push(ids.clone());
                            recorded.len() - 1
                        };
                        let (mut successful, mut failed) = (Vec::new(), Vec::new());
                        for id in &ids {
                            match respond(round, id) {
                                None => successful.push(serde_json::json!({
                                    "Id": id,
                                    "MessageId": format!("m{id}"),
                                    "MD5OfMessageBody": "00000000000000000000000000000000",
                                })),
                                Some(sender_fault) => failed.push(serde_json::json!({
                                    "Id": id,
                                    "SenderFault": sender_fault,
                                    "Code": if sender_fault { "InvalidParameterValue" } else { "InternalError" },
                                    "Message": "made up",
                                })),
                            }
                        }
                        let body = serde_json::json!({"Successful": successful, "Failed": failed})
                            .to_string();
                        let response = format!(
                            "HTTP/1.1 200 OK\r\ncontent-type: application/x-amz-json-1.0\r\n\
                             content-length: {}\r\n\r\n{body}",
                            body.len()
                        );
                        if socket
                            .get_mut()
                            .write_all(response.as_bytes())
                            .await
                            .is_err()
                        {
                            return;
                        }
                    }
                });
            }
        });
        Self { endpoint, requests }
    }

    async fn queue(&self) -> SqsQueue {
        let sdk = mvidarr_store_aws::sdk_config(&mvidarr_store_aws::AwsSettings {
            endpoint_url: Some(self.endpoint.clone()),
            region: Some("us-east-1".to_owned()),
            static_credentials: Some(("testing".to_owned(), "testing".to_owned())),
        })
        .await;
        SqsQueue::new(
            aws_sdk_sqs::Client::new(&sdk),
            format!("{}/123456789012/fake", self.endpoint),
        )
    }

    fn requests(&self) -> Vec<Vec<String>> {
        self.requests.lock().unwrap().clone()
    }
}

/// The body of the next HTTP/1.1 request, or `None` once the connection closes.
async fn read_request(socket: &mut BufReader<TcpStream>) -> Option<Vec<u8>> {
    let mut length = 0;
    loop {
        let mut line = String::new();
        if socket.read_line(&mut line).await.ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().ok()?;
        }
    }
    let mut body = vec![0; length];
    socket.read_exact(&mut body).await.ok()?;
    Some(body)
}

fn messages(n: usize) -> Vec<OutgoingMessage> {
    (0..n)
        .map(|i| OutgoingMessage::new(format!("message {i}")))
        .collect()
}

#[tokio::test]
async fn entries_sqs_failed_on_its_side_are_sent_again_and_ids_keep_their_order() {
    // The first request fails entries 1 and 3 on SQS's side; the retry succeeds.
    let sqs =
        FakeBatchSqs::start(|round, id| (round == 0 && (id == "1" || id == "3")).then_some(false))
            .await;
    let ids = sqs.queue().await.send_batch(messages(4)).await.unwrap();
    assert_eq!(ids, ["m0", "m1", "m2", "m3"]);
    assert_eq!(
        sqs.requests(),
        [vec!["0", "1", "2", "3"], vec!["1", "3"]],
        "only the failed entries are sent again"
    );
}

#[tokio::test]
async fn entries_that_keep_failing_on_sqss_side_are_transient() {
    let sqs = FakeBatchSqs::start(|_, id| (id == "2").then_some(false)).await;
    let sent = sqs.queue().await.send_batch(messages(3)).await;
    assert!(
        matches!(sent, Err(QueueError::Transient(_))),
        "got {sent:?}"
    );
    let requests = sqs.requests();
    assert_eq!(requests.len(), 4, "the first send and three retries");
    assert!(requests[1..].iter().all(|r| r == &["2"]));
}

#[tokio::test]
async fn an_entry_sqs_refuses_as_the_senders_fault_is_an_error_at_once() {
    let sqs = FakeBatchSqs::start(|_, id| (id == "0").then_some(true)).await;
    let sent = sqs.queue().await.send_batch(messages(12)).await;
    assert!(matches!(sent, Err(QueueError::Backend(_))), "got {sent:?}");
    assert_eq!(
        sqs.requests().len(),
        1,
        "neither retried nor followed by the next batch"
    );
}
