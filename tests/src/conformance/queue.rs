//! The `Queue` conformance suite: SQS semantics that every adapter must show.
//!
//! Each check takes a fresh, empty queue configured to redrive into a dead-letter queue after
//! [`MAX_RECEIVES`] receives, and that dead-letter queue (fresh too). Both are plain `Queue`s, so
//! an SQS adapter passes two queue URLs with a redrive policy between them; the embedded
//! adapter passes `SqliteQueue::open(..)` and its `dead_letter()`.
//!
//! Timings stay in whole seconds (SQS's granularity) and short, so the suite runs in seconds.
//! "Nothing to receive" is checked with a zero wait; "something to receive" with a long poll, so
//! short-poll sampling on SQS cannot cause a false failure.

use std::collections::{BTreeSet, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use mvidarr_core::ports::queue::{
    MAX_BATCH, MAX_MESSAGE_BYTES, OutgoingMessage, Queue, QueueError, ReceivedMessage,
};

/// The `max_receives` (SQS `maxReceiveCount`) the maker must configure.
pub const MAX_RECEIVES: u32 = 3;

/// Long enough that nothing reappears during a check.
const LONG: Duration = Duration::from_secs(30);
/// How long to long-poll when a message is expected.
const EXPECT_WAIT: Duration = Duration::from_secs(3);

/// Expands to one `#[tokio::test]` per check. `$make` is an expression (typically a call to an
/// `async fn`) evaluated afresh for every test, whose future yields
/// `(queue, dead_letter, guard)`: the queue under test (redriving into `dead_letter` after
/// [`MAX_RECEIVES`] receives) and anything that must live as long as the test, such as a temp
/// dir or a server.
#[macro_export]
macro_rules! queue_conformance {
    ($make:expr) => {
        $crate::queue_conformance!(@checks $make;
            send_receive_delete,
            received_message_is_hidden_until_its_visibility_timeout,
            stale_receipt_is_refused,
            zero_visibility_makes_a_message_visible_now,
            message_moves_to_dead_letter_after_max_receives,
            batch_of_25_arrives_exactly_once,
            delayed_message_is_hidden_until_its_delay,
            long_poll_returns_early_when_a_message_arrives,
            too_large_message_is_refused_and_nothing_is_sent,
            concurrent_consumers_never_share_a_message,
        );
    };
    (@checks $make:expr; $($check:ident),+ $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $check() {
                let (queue, dead_letter, _guard) = $make.await;
                $crate::conformance::queue::$check(&queue, &dead_letter).await;
            }
        )+
    };
}

async fn receive<Q: Queue>(
    queue: &Q,
    max: usize,
    visibility: Duration,
    wait: Duration,
) -> Vec<ReceivedMessage> {
    queue
        .receive(max, visibility, wait)
        .await
        .unwrap_or_else(|e| panic!("receive failed: {e}"))
}

/// Long-poll for exactly one message.
async fn expect_one<Q: Queue>(queue: &Q, visibility: Duration, what: &str) -> ReceivedMessage {
    let mut got = receive(queue, 1, visibility, EXPECT_WAIT).await;
    assert_eq!(got.len(), 1, "{what}: expected one message, got {got:?}");
    got.remove(0)
}

async fn expect_none<Q: Queue>(queue: &Q, what: &str) {
    let got = receive(queue, MAX_BATCH, LONG, Duration::ZERO).await;
    assert!(got.is_empty(), "{what}: expected no message, got {got:?}");
}

async fn send<Q: Queue>(queue: &Q, messages: Vec<OutgoingMessage>) -> Vec<String> {
    let n = messages.len();
    let ids = queue
        .send_batch(messages)
        .await
        .unwrap_or_else(|e| panic!("send_batch failed: {e}"));
    assert_eq!(ids.len(), n, "send_batch must return one id per message");
    ids
}

async fn len<Q: Queue>(queue: &Q) -> u64 {
    queue
        .approximate_len()
        .await
        .unwrap_or_else(|e| panic!("approximate_len failed: {e}"))
}

pub async fn send_receive_delete<Q: Queue>(queue: &Q, _dead_letter: &Q) {
    let ids = send(queue, vec![OutgoingMessage::new("hello")]).await;
    assert_eq!(len(queue).await, 1, "a sent message is counted");

    let got = expect_one(queue, LONG, "after send").await;
    assert_eq!(got.message_id, ids[0], "the received id is the sent id");
    assert_eq!(got.body, "hello");
    assert_eq!(got.receive_count, 1, "first delivery counts 1");
    assert_eq!(len(queue).await, 1, "an in-flight message is still counted");

    queue
        .delete(&got.receipt_handle)
        .await
        .unwrap_or_else(|e| panic!("delete with the current receipt failed: {e}"));
    expect_none(queue, "after delete").await;
    assert_eq!(len(queue).await, 0, "a deleted message is gone");
}

pub async fn received_message_is_hidden_until_its_visibility_timeout<Q: Queue>(
    queue: &Q,
    _dead_letter: &Q,
) {
    send(queue, vec![OutgoingMessage::new("timeout")]).await;
    let first = expect_one(queue, Duration::from_secs(1), "first delivery").await;
    expect_none(queue, "while the message is in flight").await;

    tokio::time::sleep(Duration::from_millis(1300)).await;
    let second = expect_one(queue, LONG, "after the visibility timeout").await;
    assert_eq!(
        second.message_id, first.message_id,
        "the same message comes back"
    );
    assert_eq!(second.body, "timeout");
    assert_eq!(second.receive_count, 2, "the second delivery counts 2");
    assert_ne!(
        second.receipt_handle, first.receipt_handle,
        "every delivery has a new receipt handle"
    );
    queue
        .delete(&second.receipt_handle)
        .await
        .unwrap_or_else(|e| panic!("delete with the new receipt failed: {e}"));
}

pub async fn stale_receipt_is_refused<Q: Queue>(queue: &Q, _dead_letter: &Q) {
    send(queue, vec![OutgoingMessage::new("stale")]).await;
    let first = expect_one(queue, LONG, "first delivery").await;
    queue
        .change_visibility(&first.receipt_handle, Duration::ZERO)
        .await
        .unwrap_or_else(|e| panic!("change_visibility(0) failed: {e}"));
    let second = expect_one(queue, LONG, "redelivery").await;

    let deleted = queue.delete(&first.receipt_handle).await;
    assert!(
        matches!(deleted, Err(QueueError::InvalidReceipt)),
        "delete with a receipt from an earlier delivery must be InvalidReceipt, got {deleted:?}"
    );
    let changed = queue
        .change_visibility(&first.receipt_handle, Duration::from_secs(5))
        .await;
    assert!(
        matches!(changed, Err(QueueError::InvalidReceipt)),
        "change_visibility with an earlier receipt must be InvalidReceipt, got {changed:?}"
    );
    queue
        .delete(&second.receipt_handle)
        .await
        .unwrap_or_else(|e| panic!("the current receipt must still work: {e}"));
    assert_eq!(len(queue).await, 0);
}

pub async fn zero_visibility_makes_a_message_visible_now<Q: Queue>(queue: &Q, _dead_letter: &Q) {
    send(queue, vec![OutgoingMessage::new("again")]).await;
    let first = expect_one(queue, LONG, "first delivery").await;
    expect_none(queue, "while in flight").await;

    queue
        .change_visibility(&first.receipt_handle, Duration::ZERO)
        .await
        .unwrap_or_else(|e| panic!("change_visibility(0) failed: {e}"));
    let started = Instant::now();
    let second = expect_one(queue, LONG, "after change_visibility(0)").await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "visible at once, not after a timeout ({:?})",
        started.elapsed()
    );
    assert_eq!(second.message_id, first.message_id);
    assert_eq!(second.receive_count, 2);
}

pub async fn message_moves_to_dead_letter_after_max_receives<Q: Queue>(queue: &Q, dead_letter: &Q) {
    let ids = send(queue, vec![OutgoingMessage::new("poison {\"x\":1}")]).await;
    for attempt in 1..=MAX_RECEIVES {
        let got = expect_one(queue, LONG, &format!("delivery {attempt}")).await;
        assert_eq!(got.receive_count, attempt);
        // The consumer fails: make it visible again at once rather than wait for the timeout.
        queue
            .change_visibility(&got.receipt_handle, Duration::ZERO)
            .await
            .unwrap_or_else(|e| panic!("change_visibility(0) failed: {e}"));
    }

    let got = receive(queue, MAX_BATCH, LONG, Duration::from_secs(1)).await;
    assert!(
        got.is_empty(),
        "after {MAX_RECEIVES} deliveries the message goes to the dead-letter queue, not to the \
         consumer; got {got:?}"
    );
    assert_eq!(len(queue).await, 0, "the message left the queue");

    let dead = expect_one(dead_letter, LONG, "in the dead-letter queue").await;
    assert_eq!(
        dead.message_id, ids[0],
        "the dead letter keeps its message id"
    );
    assert_eq!(
        dead.body, "poison {\"x\":1}",
        "the dead letter keeps its body"
    );
}

pub async fn batch_of_25_arrives_exactly_once<Q: Queue>(queue: &Q, _dead_letter: &Q) {
    let bodies: BTreeSet<String> = (0..25).map(|i| format!("message {i:02}")).collect();
    let ids = send(
        queue,
        bodies.iter().map(OutgoingMessage::new).collect::<Vec<_>>(),
    )
    .await;
    assert_eq!(
        ids.iter().collect::<HashSet<_>>().len(),
        25,
        "message ids are unique"
    );
    assert_eq!(len(queue).await, 25);

    let mut received = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(15);
    while received.len() < 25 && Instant::now() < deadline {
        received.extend(receive(queue, MAX_BATCH, LONG, Duration::from_secs(1)).await);
    }
    let unique: HashSet<_> = received.iter().map(|m| m.message_id.clone()).collect();
    assert_eq!(
        unique.len(),
        received.len(),
        "no message is delivered twice while in flight"
    );
    let got: BTreeSet<String> = received.iter().map(|m| m.body.clone()).collect();
    assert_eq!(got, bodies, "every message of the batch arrives");

    for m in &received {
        queue
            .delete(&m.receipt_handle)
            .await
            .unwrap_or_else(|e| panic!("delete failed: {e}"));
    }
    expect_none(queue, "after deleting the batch").await;
    assert_eq!(len(queue).await, 0);
}

pub async fn delayed_message_is_hidden_until_its_delay<Q: Queue>(queue: &Q, _dead_letter: &Q) {
    let sent_at = Instant::now();
    send(
        queue,
        vec![OutgoingMessage::new("later").delayed(Duration::from_secs(1))],
    )
    .await;
    expect_none(queue, "before the delay has passed").await;
    assert_eq!(len(queue).await, 1, "a delayed message is counted");

    let got = expect_one(queue, LONG, "after the delay").await;
    assert_eq!(got.body, "later");
    assert!(
        sent_at.elapsed() >= Duration::from_millis(900),
        "delivered after {:?}, before its 1 s delay",
        sent_at.elapsed()
    );
}

pub async fn long_poll_returns_early_when_a_message_arrives<Q: Queue>(queue: &Q, _dead_letter: &Q) {
    let started = Instant::now();
    let (got, ()) = tokio::join!(receive(queue, 1, LONG, Duration::from_secs(10)), async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        send(queue, vec![OutgoingMessage::new("wake up")]).await;
    });
    assert_eq!(
        got.len(),
        1,
        "the long poll returns the message that arrived"
    );
    assert_eq!(got[0].body, "wake up");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the long poll returned after {:?}, not as soon as the message arrived",
        started.elapsed()
    );
}

pub async fn too_large_message_is_refused_and_nothing_is_sent<Q: Queue>(
    queue: &Q,
    _dead_letter: &Q,
) {
    let big = "x".repeat(MAX_MESSAGE_BYTES + 1);
    let sent = queue
        .send_batch(vec![
            OutgoingMessage::new("small"),
            OutgoingMessage::new(big),
        ])
        .await;
    assert!(
        matches!(sent, Err(QueueError::TooLarge { size }) if size == MAX_MESSAGE_BYTES + 1),
        "a body over {MAX_MESSAGE_BYTES} bytes must be TooLarge, got {sent:?}"
    );
    assert_eq!(len(queue).await, 0, "nothing of a refused batch is sent");
    expect_none(queue, "after a refused batch").await;
}

pub async fn concurrent_consumers_never_share_a_message<Q: Queue>(queue: &Q, _dead_letter: &Q) {
    const N: usize = 30;
    send(
        queue,
        (0..N)
            .map(|i| OutgoingMessage::new(format!("job {i}")))
            .collect(),
    )
    .await;

    let seen = Mutex::new(Vec::<(usize, String)>::new());
    let consume = |consumer: usize| {
        let seen = &seen;
        async move {
            let deadline = Instant::now() + Duration::from_secs(15);
            while seen.lock().unwrap().len() < N && Instant::now() < deadline {
                let got = receive(queue, 5, LONG, Duration::from_secs(1)).await;
                seen.lock()
                    .unwrap()
                    .extend(got.into_iter().map(|m| (consumer, m.message_id)));
            }
        }
    };
    tokio::join!(consume(0), consume(1));

    let seen = seen.into_inner().unwrap();
    let unique: HashSet<_> = seen.iter().map(|(_, id)| id).collect();
    assert_eq!(
        unique.len(),
        seen.len(),
        "two consumers received the same message while it was in flight: {seen:?}"
    );
    assert_eq!(unique.len(), N, "every message reached one consumer");
}
