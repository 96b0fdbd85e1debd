//! A message queue with SQS semantics: at-least-once delivery, a visibility timeout during
//! which a received message is hidden from other receivers, a receive count, and a dead-letter
//! queue that takes a message once it has been received `max_receives` times without being
//! deleted.

use std::future::Future;
use std::time::Duration;

/// SQS's batch limit; adapters split larger batches.
pub const MAX_BATCH: usize = 10;
/// SQS's message-size limit (256 KiB).
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingMessage {
    pub body: String,
    /// Hidden from receivers until this has passed (SQS allows up to 15 minutes).
    pub delay: Duration,
}

impl OutgoingMessage {
    pub fn new(body: impl Into<String>) -> Self {
        Self {
            body: body.into(),
            delay: Duration::ZERO,
        }
    }
    pub fn delayed(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedMessage {
    pub message_id: String,
    /// Names this receipt; deleting with an older receipt after redelivery is refused.
    pub receipt_handle: String,
    pub body: String,
    /// How many times the message has been received, this time included (starts at 1).
    pub receive_count: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("message too large: {size} bytes (limit {MAX_MESSAGE_BYTES})")]
    TooLarge { size: usize },
    /// The receipt no longer names the current delivery (it timed out and was redelivered, or
    /// the message was deleted). The embedded queue always says so; SQS *may* accept an old
    /// receipt, so callers must not rely on getting this error, only on handling it.
    #[error("receipt handle is no longer valid")]
    InvalidReceipt,
    #[error("queue unavailable, retry may help: {0}")]
    Transient(String),
    #[error("queue error: {0}")]
    Backend(String),
}

pub trait Queue: Send + Sync + 'static {
    /// Send messages; returns their message ids in order.
    fn send_batch(
        &self,
        messages: Vec<OutgoingMessage>,
    ) -> impl Future<Output = Result<Vec<String>, QueueError>> + Send;

    /// Receive up to `max` (≤ 10) messages, hiding them for `visibility`. Waits up to `wait`
    /// for at least one (long polling) and returns an empty list if none came.
    fn receive(
        &self,
        max: usize,
        visibility: Duration,
        wait: Duration,
    ) -> impl Future<Output = Result<Vec<ReceivedMessage>, QueueError>> + Send;

    /// Acknowledge a message: it will not be delivered again.
    fn delete(&self, receipt_handle: &str) -> impl Future<Output = Result<(), QueueError>> + Send;

    /// Change how long a received message stays hidden; zero makes it visible now.
    fn change_visibility(
        &self,
        receipt_handle: &str,
        visibility: Duration,
    ) -> impl Future<Output = Result<(), QueueError>> + Send;

    /// Messages waiting or in flight (approximate on SQS).
    fn approximate_len(&self) -> impl Future<Output = Result<u64, QueueError>> + Send;
}
