//! [`Queue`] on SQS (standard queues).
//!
//! The port was written to SQS's semantics, so most calls map one to one. What this adapter
//! adds:
//!
//! - `send_batch` refuses a message over [`MAX_MESSAGE_BYTES`] before sending anything, splits
//!   the rest into `SendMessageBatch` calls of at most [`MAX_BATCH`] entries and at most
//!   [`MAX_MESSAGE_BYTES`] of bodies (SQS limits a whole batch's payload too), and looks at
//!   every entry of the answer: entries that failed through no fault of ours are sent again a
//!   few times, an entry SQS refuses as the sender's fault is an error. The batches already
//!   sent stay sent when a later one fails (delivery is at-least-once anyway).
//! - `receive` asks for the `ApproximateReceiveCount` system attribute (the port's
//!   `receive_count`), caps long polling at SQS's 20 s and lets that one call run longer than
//!   the shared per-attempt timeout, which is shorter than a long poll.
//! - A receipt SQS does not accept is [`QueueError::InvalidReceipt`]. SQS may accept a receipt
//!   of an earlier delivery (the port allows that); it never redelivers a message deleted with
//!   its current receipt.
//! - `approximate_len` adds visible, in-flight and delayed messages, as the embedded queue
//!   counts every message it holds.

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_sqs::Client;
use aws_sdk_sqs::config::timeout::TimeoutConfig;
use aws_sdk_sqs::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sqs::types::{
    MessageSystemAttributeName, QueueAttributeName, SendMessageBatchRequestEntry,
};
use mvidarr_core::ports::queue::{
    MAX_BATCH, MAX_MESSAGE_BYTES, OutgoingMessage, Queue, QueueError, ReceivedMessage,
};

use crate::config::{ATTEMPT_TIMEOUT, CONNECT_TIMEOUT, MAX_ATTEMPTS, OPERATION_TIMEOUT};
use crate::error::{Failure, classify};

/// SQS's longest long poll.
pub const MAX_WAIT: Duration = Duration::from_secs(20);
/// SQS's longest delay of a message.
pub const MAX_DELAY: Duration = Duration::from_secs(15 * 60);
/// How many times entries of a batch that SQS failed on its side are sent again.
const BATCH_ENTRY_RETRIES: u32 = 3;
const BATCH_ENTRY_BACKOFF: Duration = Duration::from_millis(100);

/// One SQS queue, by URL. Cheap to clone.
#[derive(Clone)]
pub struct SqsQueue {
    client: Client,
    queue_url: Arc<str>,
}

impl std::fmt::Debug for SqsQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqsQueue")
            .field("queue_url", &self.queue_url)
            .finish()
    }
}

impl SqsQueue {
    pub fn new(client: Client, queue_url: impl Into<String>) -> Self {
        Self {
            client,
            queue_url: queue_url.into().into(),
        }
    }

    pub fn queue_url(&self) -> &str {
        &self.queue_url
    }

    /// Send one chunk (≤ [`MAX_BATCH`] entries), sending again the entries SQS failed on its
    /// side. Returns the message ids in the chunk's order.
    async fn send_chunk(&self, chunk: &[OutgoingMessage]) -> Result<Vec<String>, QueueError> {
        let mut ids: Vec<Option<String>> = vec![None; chunk.len()];
        let mut pending: Vec<usize> = (0..chunk.len()).collect();
        let mut backoff = BATCH_ENTRY_BACKOFF;
        for round in 0..=BATCH_ENTRY_RETRIES {
            if round > 0 {
                tokio::time::sleep(backoff).await;
                backoff *= 2;
            }
            let entries = pending
                .iter()
                .map(|&i| {
                    SendMessageBatchRequestEntry::builder()
                        // Entry ids only need to be unique within the request.
                        .id(i.to_string())
                        .message_body(&chunk[i].body)
                        .delay_seconds(delay_seconds(chunk[i].delay)?)
                        .build()
                        .map_err(|e| QueueError::Backend(e.to_string()))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let out = self
                .client
                .send_message_batch()
                .queue_url(&*self.queue_url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| queue_error(&e))?;

            for ok in out.successful() {
                let i = entry_index(ok.id(), chunk.len())?;
                ids[i] = Some(ok.message_id().to_owned());
            }
            let mut retry = Vec::new();
            for failed in out.failed() {
                let i = entry_index(failed.id(), chunk.len())?;
                let why = format!(
                    "{}: {}",
                    failed.code(),
                    failed.message().unwrap_or_default()
                );
                if failed.sender_fault() {
                    return Err(QueueError::Backend(format!("SQS refused a message: {why}")));
                }
                tracing::warn!(
                    queue = &*self.queue_url,
                    round,
                    reason = %why,
                    "SQS failed a batch entry on its side"
                );
                retry.push((i, why));
            }
            if retry.is_empty() {
                break;
            }
            if round == BATCH_ENTRY_RETRIES {
                let (_, why) = &retry[0];
                return Err(QueueError::Transient(format!(
                    "{} message(s) still unsent after {BATCH_ENTRY_RETRIES} retries: {why}",
                    retry.len()
                )));
            }
            pending = retry.into_iter().map(|(i, _)| i).collect();
        }
        ids.into_iter()
            .map(|id| {
                id.ok_or_else(|| {
                    QueueError::Backend(
                        "SQS answered a batch without an entry for every message".to_owned(),
                    )
                })
            })
            .collect()
    }
}

/// Create the queue `name` and its dead-letter queue `{name}-dlq`, redriving after
/// `max_receives` receives. Returns `(queue url, dead-letter queue url)`. For tests and tools;
/// the deployed queues come from the template.
pub async fn create_queue_with_dead_letter(
    client: &Client,
    name: &str,
    max_receives: u32,
) -> Result<(String, String), QueueError> {
    if max_receives == 0 {
        return Err(QueueError::Backend(
            "max_receives must be at least 1".to_owned(),
        ));
    }
    let dlq_url = client
        .create_queue()
        .queue_name(format!("{name}-dlq"))
        .send()
        .await
        .map_err(|e| queue_error(&e))?
        .queue_url()
        .ok_or_else(|| QueueError::Backend("CreateQueue returned no queue URL".to_owned()))?
        .to_owned();
    let dlq_arn = client
        .get_queue_attributes()
        .queue_url(&dlq_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(|e| queue_error(&e))?
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::QueueArn))
        .cloned()
        .ok_or_else(|| QueueError::Backend(format!("no QueueArn for {dlq_url}")))?;
    let redrive = serde_json::json!({
        "deadLetterTargetArn": dlq_arn,
        "maxReceiveCount": max_receives.to_string(),
    });
    let url = client
        .create_queue()
        .queue_name(name)
        .attributes(QueueAttributeName::RedrivePolicy, redrive.to_string())
        .send()
        .await
        .map_err(|e| queue_error(&e))?
        .queue_url()
        .ok_or_else(|| QueueError::Backend("CreateQueue returned no queue URL".to_owned()))?
        .to_owned();
    Ok((url, dlq_url))
}

impl Queue for SqsQueue {
    async fn send_batch(&self, messages: Vec<OutgoingMessage>) -> Result<Vec<String>, QueueError> {
        // Everything that can be refused here is refused before anything is sent.
        if let Some(m) = messages.iter().find(|m| m.body.len() > MAX_MESSAGE_BYTES) {
            return Err(QueueError::TooLarge { size: m.body.len() });
        }
        for m in &messages {
            delay_seconds(m.delay)?;
        }
        let mut ids = Vec::with_capacity(messages.len());
        for chunk in chunks(&messages) {
            ids.extend(self.send_chunk(chunk).await?);
        }
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
        let wait = wait.min(MAX_WAIT);
        // The shared attempt timeout is shorter than a long poll: give this call the wait on
        // top of it.
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .operation_attempt_timeout(ATTEMPT_TIMEOUT + wait)
            .operation_timeout(OPERATION_TIMEOUT + wait * MAX_ATTEMPTS)
            .build();
        let out = self
            .client
            .receive_message()
            .queue_url(&*self.queue_url)
            .max_number_of_messages(max as i32)
            .visibility_timeout(whole_seconds(visibility))
            .wait_time_seconds(whole_seconds(wait))
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .customize()
            .config_override(aws_sdk_sqs::config::Builder::default().timeout_config(timeouts))
            .send()
            .await
            .map_err(|e| queue_error(&e))?;
        out.messages()
            .iter()
            .map(|m| {
                let missing =
                    |what: &str| QueueError::Backend(format!("SQS message without {what}"));
                let receive_count = m
                    .attributes()
                    .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                    .and_then(|n| n.parse::<u32>().ok())
                    .ok_or_else(|| missing("a valid ApproximateReceiveCount"))?;
                Ok(ReceivedMessage {
                    message_id: m.message_id().ok_or_else(|| missing("an id"))?.to_owned(),
                    receipt_handle: m
                        .receipt_handle()
                        .ok_or_else(|| missing("a receipt handle"))?
                        .to_owned(),
                    body: m.body().unwrap_or_default().to_owned(),
                    receive_count,
                })
            })
            .collect()
    }

    async fn delete(&self, receipt_handle: &str) -> Result<(), QueueError> {
        self.client
            .delete_message()
            .queue_url(&*self.queue_url)
            .receipt_handle(receipt_handle)
            .send()
            .await
            .map_err(|e| {
                let invalid = e
                    .as_service_error()
                    .is_some_and(|s| s.is_receipt_handle_is_invalid() || s.is_invalid_id_format());
                if invalid || is_refused_receipt(&e) {
                    QueueError::InvalidReceipt
                } else {
                    queue_error(&e)
                }
            })?;
        Ok(())
    }

    async fn change_visibility(
        &self,
        receipt_handle: &str,
        visibility: Duration,
    ) -> Result<(), QueueError> {
        self.client
            .change_message_visibility()
            .queue_url(&*self.queue_url)
            .receipt_handle(receipt_handle)
            .visibility_timeout(whole_seconds(visibility))
            .send()
            .await
            .map_err(|e| {
                let invalid = e.as_service_error().is_some_and(|s| {
                    s.is_receipt_handle_is_invalid() || s.is_message_not_inflight()
                });
                if invalid || is_refused_receipt(&e) {
                    QueueError::InvalidReceipt
                } else {
                    queue_error(&e)
                }
            })?;
        Ok(())
    }

    async fn approximate_len(&self) -> Result<u64, QueueError> {
        const COUNTS: [QueueAttributeName; 3] = [
            QueueAttributeName::ApproximateNumberOfMessages,
            QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
            QueueAttributeName::ApproximateNumberOfMessagesDelayed,
        ];
        let out = self
            .client
            .get_queue_attributes()
            .queue_url(&*self.queue_url)
            .set_attribute_names(Some(COUNTS.to_vec()))
            .send()
            .await
            .map_err(|e| queue_error(&e))?;
        let attributes = out.attributes();
        COUNTS.iter().try_fold(0u64, |sum, name| {
            let n = attributes
                .and_then(|a| a.get(name))
                .map_or(Ok(0), |v| v.parse::<u64>())
                .map_err(|e| QueueError::Backend(format!("{name}: {e}")))?;
            Ok(sum + n)
        })
    }
}

/// Split messages into SendMessageBatch requests: at most [`MAX_BATCH`] entries and at most
/// [`MAX_MESSAGE_BYTES`] of bodies each (every body alone fits, `send_batch` checked).
fn chunks(messages: &[OutgoingMessage]) -> Vec<&[OutgoingMessage]> {
    let mut chunks = Vec::new();
    let mut start = 0;
    let mut bytes = 0;
    for (i, m) in messages.iter().enumerate() {
        if i - start == MAX_BATCH || bytes + m.body.len() > MAX_MESSAGE_BYTES {
            chunks.push(&messages[start..i]);
            start = i;
            bytes = 0;
        }
        bytes += m.body.len();
    }
    if start < messages.len() {
        chunks.push(&messages[start..]);
    }
    chunks
}

fn entry_index(id: &str, len: usize) -> Result<usize, QueueError> {
    id.parse::<usize>()
        .ok()
        .filter(|&i| i < len)
        .ok_or_else(|| QueueError::Backend(format!("SQS answered for an unknown batch entry {id}")))
}

/// Whole seconds, rounding a fraction up so a message is never visible earlier than asked.
fn whole_seconds(d: Duration) -> i32 {
    let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    i32::try_from(secs).unwrap_or(i32::MAX)
}

fn delay_seconds(delay: Duration) -> Result<i32, QueueError> {
    if delay > MAX_DELAY {
        return Err(QueueError::Backend(format!(
            "SQS delays a message at most {MAX_DELAY:?}, not {delay:?}"
        )));
    }
    Ok(whole_seconds(delay))
}

/// SQS's answer for a receipt of a message that is gone or no longer in flight, in the query
/// protocol's wording: `InvalidParameterValue` naming the `ReceiptHandle` parameter.
fn is_refused_receipt<E: ProvideErrorMetadata>(
    err: &SdkError<E, aws_sdk_sqs::config::http::HttpResponse>,
) -> bool {
    err.as_service_error().is_some_and(|e| {
        matches!(
            e.code(),
            Some(
                "ReceiptHandleIsInvalid"
                    | "AWS.SimpleQueueService.MessageNotInflight"
                    | "MessageNotInflight"
            )
        ) || (e.code() == Some("InvalidParameterValue")
            && e.message().is_some_and(|m| m.contains("ReceiptHandle")))
    })
}

fn queue_error<E>(err: &SdkError<E, aws_sdk_sqs::config::http::HttpResponse>) -> QueueError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match classify(err) {
        Failure::Transient(m) => QueueError::Transient(m),
        other => QueueError::Backend(other.describe()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sizes(messages: &[OutgoingMessage]) -> Vec<usize> {
        chunks(messages).iter().map(|c| c.len()).collect()
    }

    #[test]
    fn batches_are_split_by_count_and_by_payload() {
        let small: Vec<_> = (0..25)
            .map(|i| OutgoingMessage::new(format!("{i}")))
            .collect();
        assert_eq!(sizes(&small), [10, 10, 5]);
        assert!(sizes(&[]).is_empty());

        let big = || OutgoingMessage::new("x".repeat(100 * 1024));
        assert_eq!(sizes(&[big(), big(), big(), big(), big()]), [2, 2, 1]);
        let full = OutgoingMessage::new("x".repeat(MAX_MESSAGE_BYTES));
        assert_eq!(sizes(&[full.clone(), full]), [1, 1]);
    }

    #[test]
    fn durations_round_up_to_whole_seconds() {
        assert_eq!(whole_seconds(Duration::ZERO), 0);
        assert_eq!(whole_seconds(Duration::from_millis(1)), 1);
        assert_eq!(whole_seconds(Duration::from_millis(1500)), 2);
        assert_eq!(whole_seconds(Duration::from_secs(30)), 30);
        assert!(delay_seconds(MAX_DELAY).is_ok());
        assert!(delay_seconds(MAX_DELAY + Duration::from_secs(1)).is_err());
    }
}
