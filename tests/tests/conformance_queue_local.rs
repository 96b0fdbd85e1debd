//! The queue conformance suite on `SqliteQueue`, plus what only the embedded queue promises.

use std::time::{Duration, Instant};

use mvidarr_core::ports::queue::{OutgoingMessage, Queue};
use mvidarr_store_local::db::Database;
use mvidarr_store_local::queue::{QueueConfig, SqliteQueue};
use mvidarr_tests::conformance::queue::MAX_RECEIVES;
use tempfile::TempDir;

fn database() -> (Database, TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = Database::open(&dir.path().join("mvidarr.db")).expect("open database");
    (db, dir)
}

async fn local_queue() -> (SqliteQueue, SqliteQueue, TempDir) {
    let (db, dir) = database();
    let queue = SqliteQueue::open(
        db,
        "ingest",
        QueueConfig {
            max_receives: MAX_RECEIVES,
            dead_letter: Some("ingest-dlq".to_owned()),
        },
    )
    .expect("open queue");
    let dead_letter = queue
        .dead_letter()
        .expect("configured with a dead-letter queue");
    (queue, dead_letter, dir)
}

mvidarr_tests::queue_conformance!(local_queue());

#[tokio::test]
async fn without_a_dead_letter_queue_messages_are_redelivered_forever() {
    let (db, _dir) = database();
    let queue = SqliteQueue::open(
        db,
        "webhooks",
        QueueConfig {
            max_receives: 1,
            dead_letter: None,
        },
    )
    .unwrap();
    assert!(queue.dead_letter().is_none());
    queue
        .send_batch(vec![OutgoingMessage::new("retry me")])
        .await
        .unwrap();

    for expected in 1..=5 {
        let got = queue
            .receive(1, Duration::from_secs(30), Duration::ZERO)
            .await
            .unwrap();
        assert_eq!(got.len(), 1, "delivery {expected}");
        assert_eq!(got[0].receive_count, expected);
        queue
            .change_visibility(&got[0].receipt_handle, Duration::ZERO)
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn dead_letter_keeps_id_and_body_and_restarts_the_count() {
    let (queue, dead_letter, _dir) = local_queue().await;
    assert_eq!(queue.name(), "ingest");
    assert_eq!(dead_letter.name(), "ingest-dlq");
    assert!(dead_letter.dead_letter().is_none(), "a DLQ has no DLQ");
    let ids = queue
        .send_batch(vec![OutgoingMessage::new("poison")])
        .await
        .unwrap();
    for _ in 0..MAX_RECEIVES {
        let got = queue
            .receive(1, Duration::from_secs(30), Duration::ZERO)
            .await
            .unwrap();
        queue
            .change_visibility(&got[0].receipt_handle, Duration::ZERO)
            .await
            .unwrap();
    }
    assert!(
        queue
            .receive(1, Duration::from_secs(30), Duration::ZERO)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(dead_letter.approximate_len().await.unwrap(), 1);
    let dead = dead_letter
        .receive(1, Duration::from_secs(30), Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(dead[0].message_id, ids[0]);
    assert_eq!(dead[0].body, "poison");
    assert_eq!(dead[0].receive_count, 1);
    dead_letter.delete(&dead[0].receipt_handle).await.unwrap();
    assert_eq!(dead_letter.approximate_len().await.unwrap(), 0);
}

#[tokio::test]
async fn a_receive_with_zero_visibility_that_redrives_never_returns_a_message_twice() {
    let (db, _dir) = database();
    let queue = SqliteQueue::open(
        db,
        "jobs",
        QueueConfig {
            max_receives: 1,
            dead_letter: Some("jobs-dlq".to_owned()),
        },
    )
    .unwrap();
    queue
        .send_batch(vec![OutgoingMessage::new("poison")])
        .await
        .unwrap();
    let first = queue
        .receive(1, Duration::ZERO, Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(first[0].body, "poison");
    queue
        .send_batch(vec![OutgoingMessage::new("fine")])
        .await
        .unwrap();

    // The poison message is redriven, "fine" is delivered and, with zero visibility, stays
    // visible: the look for a replacement must not pick it again.
    let got = queue
        .receive(2, Duration::ZERO, Duration::ZERO)
        .await
        .unwrap();
    let bodies: Vec<_> = got.iter().map(|m| m.body.as_str()).collect();
    assert_eq!(bodies, ["fine"]);
    assert_eq!(
        queue
            .dead_letter()
            .unwrap()
            .approximate_len()
            .await
            .unwrap(),
        1
    );
}

#[tokio::test]
async fn queues_in_one_database_are_independent() {
    let (db, _dir) = database();
    let config = QueueConfig {
        max_receives: 3,
        dead_letter: None,
    };
    let events = SqliteQueue::open(db.clone(), "events", config.clone()).unwrap();
    let webhooks = SqliteQueue::open(db, "webhooks", config).unwrap();
    events
        .send_batch(vec![OutgoingMessage::new("e")])
        .await
        .unwrap();
    assert_eq!(webhooks.approximate_len().await.unwrap(), 0);
    assert!(
        webhooks
            .receive(10, Duration::from_secs(30), Duration::ZERO)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(events.approximate_len().await.unwrap(), 1);
}

#[tokio::test]
async fn messages_survive_reopening_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mvidarr.db");
    let config = QueueConfig {
        max_receives: 3,
        dead_letter: None,
    };
    {
        let queue =
            SqliteQueue::open(Database::open(&path).unwrap(), "ingest", config.clone()).unwrap();
        queue
            .send_batch(vec![OutgoingMessage::new("durable")])
            .await
            .unwrap();
    }
    let queue = SqliteQueue::open(Database::open(&path).unwrap(), "ingest", config).unwrap();
    let got = queue
        .receive(1, Duration::from_secs(30), Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(got[0].body, "durable");
}

#[tokio::test]
async fn a_long_poll_sees_a_send_from_another_handle_on_the_same_queue() {
    let (db, _dir) = database();
    let config = QueueConfig {
        max_receives: 3,
        dead_letter: None,
    };
    let consumer = SqliteQueue::open(db.clone(), "shared", config.clone()).unwrap();
    let producer = SqliteQueue::open(db, "shared", config).unwrap();
    let started = Instant::now();
    let (got, ()) = tokio::join!(
        consumer.receive(1, Duration::from_secs(30), Duration::from_secs(10)),
        async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            producer
                .send_batch(vec![OutgoingMessage::new("ping")])
                .await
                .unwrap();
        }
    );
    assert_eq!(got.unwrap()[0].body, "ping");
    assert!(started.elapsed() < Duration::from_secs(2));
}
