//! SQS semantics on SQLite: at-least-once delivery, a visibility timeout, a receive count, a new
//! receipt handle per delivery, and redrive to a dead-letter queue once a message has been
//! received `max_receives` times without being deleted.
//!
//! All named queues of a database share one table, `queue_messages`; a queue is just the rows
//! carrying its name, and redrive moves a row to the dead-letter queue's name in the same
//! transaction that would otherwise have delivered it. Every port call is one transaction.
//!
//! Long polling waits on a [`Notify`] that `send_batch` in this process wakes, and also polls at
//! a short interval (and exactly when the next delayed or in-flight message becomes visible), so
//! messages sent by another process are seen too.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mvidarr_core::ports::queue::{
    MAX_BATCH, MAX_MESSAGE_BYTES, OutgoingMessage, Queue, QueueError, ReceivedMessage,
};
use rusqlite::{TransactionBehavior, params};
use tokio::sync::Notify;

use crate::db::{Database, DbError};

/// How often a long poll looks again when nothing in this process woke it.
const POLL_INTERVAL: Duration = Duration::from_millis(200);

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS queue_messages (
    queue          TEXT    NOT NULL,
    id             TEXT    NOT NULL,
    body           TEXT    NOT NULL,
    visible_at_ms  INTEGER NOT NULL,
    receive_count  INTEGER NOT NULL DEFAULT 0,
    receipt        TEXT,
    sent_at_ms     INTEGER NOT NULL,
    PRIMARY KEY (queue, id)
);
CREATE INDEX IF NOT EXISTS queue_messages_visible ON queue_messages (queue, visible_at_ms);
";

/// How a queue treats messages that keep failing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueConfig {
    /// Deliveries without a delete after which the next receive moves the message to the
    /// dead-letter queue (SQS `maxReceiveCount`). Ignored without a dead-letter queue.
    pub max_receives: u32,
    /// The dead-letter queue's name; `None` redelivers failing messages forever.
    pub dead_letter: Option<String>,
}

/// One named queue in a shared SQLite database. Cheap to clone.
#[derive(Clone)]
pub struct SqliteQueue {
    db: Database,
    name: Arc<str>,
    config: Arc<QueueConfig>,
    wakeup: Arc<Notify>,
}

impl std::fmt::Debug for SqliteQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteQueue")
            .field("name", &self.name)
            .field("config", &self.config)
            .finish()
    }
}

impl SqliteQueue {
    /// Open (creating the schema if absent) the queue `name` in `db`.
    pub fn open(db: Database, name: &str, config: QueueConfig) -> Result<Self, QueueError> {
        validate_name(name)?;
        if let Some(dlq) = &config.dead_letter {
            validate_name(dlq)?;
            if dlq == name {
                return Err(QueueError::Backend(format!(
                    "queue {name} cannot be its own dead-letter queue"
                )));
            }
            if config.max_receives == 0 {
                return Err(QueueError::Backend(
                    "max_receives must be at least 1".to_owned(),
                ));
            }
        }
        db.call_blocking(|conn| conn.execute_batch(SCHEMA))
            .map_err(db_error)?;
        Ok(Self {
            wakeup: wakeup_for(name),
            db,
            name: name.into(),
            config: Arc::new(config),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Make every in-flight message visible now. Only for the one process that owns the data
    /// directory, at startup: a receipt still outstanding belongs to a process that died, and
    /// waiting out its visibility timeout would only delay the work.
    pub async fn release_in_flight(&self) -> Result<usize, QueueError> {
        let name = self.name.clone();
        self.db
            .call(move |c| {
                c.execute(
                    "UPDATE queue_messages SET visible_at_ms = 0, receipt = NULL
                     WHERE queue = ?1 AND receipt IS NOT NULL",
                    [name],
                )
            })
            .await
            .map_err(db_error)
    }

    /// The dead-letter queue, to receive (and inspect) what was moved there. It has no
    /// dead-letter queue of its own.
    pub fn dead_letter(&self) -> Option<SqliteQueue> {
        let name = self.config.dead_letter.as_deref()?;
        Some(SqliteQueue {
            db: self.db.clone(),
            name: name.into(),
            config: Arc::new(QueueConfig {
                max_receives: u32::MAX,
                dead_letter: None,
            }),
            wakeup: wakeup_for(name),
        })
    }

    /// One receive attempt: delivers what is visible now, or says when to look again.
    async fn receive_now(&self, max: usize, visibility: Duration) -> Result<Attempt, QueueError> {
        let queue = self.name.clone();
        let config = self.config.clone();
        let visibility_ms = duration_ms(visibility);
        let attempt = self
            .db
            .call(move |conn| {
                let now = now_ms();
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let mut delivered = Vec::with_capacity(max);
                let mut redriven = false;
                {
                    let mut pick = tx.prepare_cached(
                        "SELECT rowid, id, body, receive_count FROM queue_messages
                         WHERE queue = ?1 AND visible_at_ms <= ?2
                         ORDER BY visible_at_ms, rowid LIMIT ?3",
                    )?;
                    let mut deliver = tx.prepare_cached(
                        "UPDATE queue_messages
                         SET visible_at_ms = ?1, receive_count = receive_count + 1, receipt = ?2
                         WHERE rowid = ?3",
                    )?;
                    let mut redrive = tx.prepare_cached(
                        "UPDATE queue_messages
                         SET queue = ?1, visible_at_ms = ?2, receive_count = 0, receipt = NULL
                         WHERE rowid = ?3",
                    )?;
                    // Redriven rows leave the queue, so looking again finds others; stop once
                    // a round moves nothing. A row delivered with zero visibility is still
                    // visible, so later rounds skip what this call already delivered.
                    let mut delivered_rows = Vec::with_capacity(max);
                    loop {
                        let wanted = max - delivered.len();
                        let limit = (wanted + delivered_rows.len()) as i64;
                        let candidates = pick
                            .query_map(params![&*queue, now, limit], |row| {
                                Ok((
                                    row.get::<_, i64>(0)?,
                                    row.get::<_, String>(1)?,
                                    row.get::<_, String>(2)?,
                                    row.get::<_, u32>(3)?,
                                ))
                            })?
                            .collect::<Result<Vec<_>, _>>()?;
                        let candidates: Vec<_> = candidates
                            .into_iter()
                            .filter(|(rowid, ..)| !delivered_rows.contains(rowid))
                            .collect();
                        let found = candidates.len();
                        let mut moved = 0;
                        for (rowid, id, body, receive_count) in candidates {
                            match &config.dead_letter {
                                Some(dlq) if receive_count >= config.max_receives => {
                                    redrive.execute(params![dlq, now, rowid])?;
                                    tracing::debug!(
                                        queue = &*queue,
                                        message_id = %id,
                                        receive_count,
                                        dead_letter = %dlq,
                                        "message moved to the dead-letter queue"
                                    );
                                    moved += 1;
                                }
                                _ => {
                                    let token = hex::encode(rand::random::<[u8; 16]>());
                                    deliver.execute(params![now + visibility_ms, token, rowid])?;
                                    delivered_rows.push(rowid);
                                    delivered.push(ReceivedMessage {
                                        receipt_handle: format!("{id}:{token}"),
                                        message_id: id,
                                        body,
                                        receive_count: receive_count.saturating_add(1),
                                    });
                                }
                            }
                        }
                        redriven |= moved > 0;
                        if moved == 0 || found < wanted || delivered.len() == max {
                            break;
                        }
                    }
                }
                let next_visible_ms = if delivered.is_empty() {
                    tx.prepare_cached(
                        "SELECT MIN(visible_at_ms) FROM queue_messages WHERE queue = ?1",
                    )?
                    .query_row(params![&*queue], |row| row.get::<_, Option<i64>>(0))?
                } else {
                    None
                };
                tx.commit()?;
                Ok(Attempt {
                    delivered,
                    redriven,
                    next_visible_ms,
                })
            })
            .await
            .map_err(db_error)?;
        if attempt.redriven
            && let Some(dlq) = &self.config.dead_letter
        {
            wakeup_for(dlq).notify_waiters();
        }
        Ok(attempt)
    }
}

struct Attempt {
    delivered: Vec<ReceivedMessage>,
    redriven: bool,
    /// When the earliest message not delivered now becomes visible (if any).
    next_visible_ms: Option<i64>,
}

impl Queue for SqliteQueue {
    async fn send_batch(&self, messages: Vec<OutgoingMessage>) -> Result<Vec<String>, QueueError> {
        if let Some(m) = messages.iter().find(|m| m.body.len() > MAX_MESSAGE_BYTES) {
            return Err(QueueError::TooLarge { size: m.body.len() });
        }
        if messages.is_empty() {
            return Ok(Vec::new());
        }
        let queue = self.name.clone();
        let ids = self
            .db
            .call(move |conn| {
                let now = now_ms();
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let mut ids = Vec::with_capacity(messages.len());
                {
                    let mut insert = tx.prepare_cached(
                        "INSERT INTO queue_messages
                         (queue, id, body, visible_at_ms, receive_count, receipt, sent_at_ms)
                         VALUES (?1, ?2, ?3, ?4, 0, NULL, ?5)",
                    )?;
                    for message in messages {
                        let id = message_id(now);
                        let visible_at = now + duration_ms(message.delay);
                        insert.execute(params![&*queue, id, message.body, visible_at, now])?;
                        ids.push(id);
                    }
                }
                tx.commit()?;
                Ok(ids)
            })
            .await
            .map_err(db_error)?;
        self.wakeup.notify_waiters();
        Ok(ids)
    }

    async fn receive(
        &self,
        max: usize,
        visibility: Duration,
        wait: Duration,
    ) -> Result<Vec<ReceivedMessage>, QueueError> {
        if max == 0 || max > MAX_BATCH {
            return Err(QueueError::Backend(format!(
                "can receive 1 to {MAX_BATCH} messages at a time, not {max}"
            )));
        }
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            // Registered before looking, so a send between the look and the wait still wakes us.
            let woken = self.wakeup.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();

            let attempt = self.receive_now(max, visibility).await?;
            if !attempt.delivered.is_empty() {
                return Ok(attempt.delivered);
            }
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return Ok(Vec::new());
            }
            let mut nap = (deadline - now).min(POLL_INTERVAL);
            if let Some(at) = attempt.next_visible_ms {
                let until = Duration::from_millis(u64::try_from(at - now_ms()).unwrap_or(0));
                nap = nap.min(until.max(Duration::from_millis(1)));
            }
            tokio::select! {
                () = &mut woken => {}
                () = tokio::time::sleep(nap) => {}
            }
        }
    }

    async fn delete(&self, receipt_handle: &str) -> Result<(), QueueError> {
        let (id, token) = parse_receipt(receipt_handle)?;
        let queue = self.name.clone();
        let deleted = self
            .db
            .call(move |conn| {
                conn.prepare_cached(
                    "DELETE FROM queue_messages WHERE queue = ?1 AND id = ?2 AND receipt = ?3",
                )?
                .execute(params![&*queue, id, token])
            })
            .await
            .map_err(db_error)?;
        if deleted == 0 {
            return Err(QueueError::InvalidReceipt);
        }
        Ok(())
    }

    async fn change_visibility(
        &self,
        receipt_handle: &str,
        visibility: Duration,
    ) -> Result<(), QueueError> {
        let (id, token) = parse_receipt(receipt_handle)?;
        let queue = self.name.clone();
        let visibility_ms = duration_ms(visibility);
        let changed = self
            .db
            .call(move |conn| {
                conn.prepare_cached(
                    "UPDATE queue_messages SET visible_at_ms = ?1
                     WHERE queue = ?2 AND id = ?3 AND receipt = ?4",
                )?
                .execute(params![now_ms() + visibility_ms, &*queue, id, token])
            })
            .await
            .map_err(db_error)?;
        if changed == 0 {
            return Err(QueueError::InvalidReceipt);
        }
        if visibility.is_zero() {
            self.wakeup.notify_waiters();
        }
        Ok(())
    }

    async fn approximate_len(&self) -> Result<u64, QueueError> {
        let queue = self.name.clone();
        self.db
            .call(move |conn| {
                conn.prepare_cached("SELECT COUNT(*) FROM queue_messages WHERE queue = ?1")?
                    .query_row(params![&*queue], |row| row.get::<_, i64>(0))
            })
            .await
            .map(|n| n.max(0) as u64)
            .map_err(db_error)
    }
}

/// SQS queue names: 1–80 of `[A-Za-z0-9_-]`.
fn validate_name(name: &str) -> Result<(), QueueError> {
    let ok = !name.is_empty()
        && name.len() <= 80
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(QueueError::Backend(format!(
            "invalid queue name {name:?}: use 1 to 80 of A-Z a-z 0-9 - _"
        )))
    }
}

/// A receipt handle is `<message id>:<delivery token>`; the token changes on every delivery.
fn parse_receipt(receipt_handle: &str) -> Result<(String, String), QueueError> {
    match receipt_handle.split_once(':') {
        Some((id, token)) if !id.is_empty() && !token.is_empty() => {
            Ok((id.to_owned(), token.to_owned()))
        }
        _ => Err(QueueError::InvalidReceipt),
    }
}

/// A time-ordered, random, UUID-shaped id (UUID version 7 layout), like SQS's message ids.
fn message_id(now_ms: i64) -> String {
    let random: u128 = rand::random();
    let ms = (now_ms.max(0) as u128) & ((1 << 48) - 1);
    let value = (ms << 80)
        | (0x7 << 76)
        | (((random >> 64) & 0xfff) << 64)
        | (0b10 << 62)
        | (random & ((1 << 62) - 1));
    let hex = format!("{value:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn duration_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 4)
}

fn db_error(e: DbError) -> QueueError {
    if e.is_busy() {
        QueueError::Transient(e.to_string())
    } else {
        QueueError::Backend(e.to_string())
    }
}

/// The wake-up shared by every handle on the queue `name` in this process. Keyed by name only:
/// a same-named queue in another database at worst causes a spurious look.
fn wakeup_for(name: &str) -> Arc<Notify> {
    static WAKEUPS: OnceLock<Mutex<HashMap<String, Weak<Notify>>>> = OnceLock::new();
    let mut wakeups = WAKEUPS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    if let Some(notify) = wakeups.get(name).and_then(Weak::upgrade) {
        return notify;
    }
    wakeups.retain(|_, w| w.strong_count() > 0);
    let notify = Arc::new(Notify::new());
    wakeups.insert(name.to_owned(), Arc::downgrade(&notify));
    notify
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_ids_are_uuid_shaped_unique_and_time_ordered() {
        let a = message_id(1_000);
        let b = message_id(1_000);
        let c = message_id(2_000);
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "7");
        assert_ne!(a, b);
        assert!(a < c && b < c);
    }

    #[test]
    fn malformed_receipts_are_invalid() {
        for bad in ["", "abc", ":x", "x:"] {
            assert!(matches!(
                parse_receipt(bad),
                Err(QueueError::InvalidReceipt)
            ));
        }
    }

    #[test]
    fn queue_names_follow_sqs_rules() {
        assert!(validate_name("ingest-dlq_1").is_ok());
        assert!(validate_name("").is_err());
        assert!(validate_name("a b").is_err());
        assert!(validate_name(&"a".repeat(81)).is_err());
    }
}
