//! Reporting events: onto the events queue, in [`EventBatch`]es that each fit one message.

use tracing::warn;

use super::record::{AnalyticsEvent, EventBatch};
use crate::ids::TenantId;
use crate::ports::queue::{MAX_BATCH, MAX_MESSAGE_BYTES};
use crate::ports::{OutgoingMessage, Queue, QueueError};

/// Room left in a message for the batch's own fields.
const ENVELOPE_BYTES: usize = 1024;

/// Send a tenant's events to the events queue; returns how many messages it took. The split
/// depends only on the events and their order, so sending the same events again makes the
/// same batches (the same ids), which the events function applies once.
pub async fn send_events<Q: Queue>(
    queue: &Q,
    tenant: TenantId,
    events: Vec<AnalyticsEvent>,
) -> Result<usize, QueueError> {
    let messages: Vec<OutgoingMessage> = split(tenant, events)
        .iter()
        .map(|batch| {
            OutgoingMessage::new(serde_json::to_string(batch).expect("events encode as JSON"))
        })
        .collect();
    let count = messages.len();
    let mut rest = messages;
    while !rest.is_empty() {
        let tail = rest.split_off(rest.len().min(MAX_BATCH));
        queue.send_batch(rest).await?;
        rest = tail;
    }
    Ok(count)
}

/// Report events where losing them must not fail the work that made them (a pipeline step
/// that already succeeded, an API request already answered): a failure is logged with the
/// events' ids (the first few), so nothing is lost unseen.
pub async fn report_events<Q: Queue>(queue: &Q, tenant: TenantId, events: Vec<AnalyticsEvent>) {
    let count = events.len();
    let first: Vec<String> = events.iter().take(5).map(|e| e.id.clone()).collect();
    if let Err(error) = send_events(queue, tenant, events).await {
        warn!(%error, %tenant, count, ?first, "analytics events not reported");
    }
}

/// Events in batches whose JSON fits a queue message.
fn split(tenant: TenantId, events: Vec<AnalyticsEvent>) -> Vec<EventBatch> {
    let mut batches = Vec::new();
    let (mut chunk, mut bytes) = (Vec::new(), 0);
    for e in events {
        let size = serde_json::to_vec(&e).map_or(0, |v| v.len()) + 1;
        if !chunk.is_empty() && bytes + size > MAX_MESSAGE_BYTES - ENVELOPE_BYTES {
            batches.push(EventBatch::new(tenant, std::mem::take(&mut chunk)));
            bytes = 0;
        }
        bytes += size;
        chunk.push(e);
    }
    if !chunk.is_empty() {
        batches.push(EventBatch::new(tenant, chunk));
    }
    batches
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use serde_json::Value;

    use super::*;
    use crate::analytics::AnalyticsKind;
    use crate::event::EventKind;

    #[test]
    fn large_batches_split_into_messages_that_fit_the_same_way_every_time() {
        let tenant = TenantId::generate();
        let at = Utc::now();
        let events: Vec<AnalyticsEvent> = (0..1000)
            .map(|i| {
                let mut e = AnalyticsEvent::platform(
                    AnalyticsKind::Client(EventKind::View),
                    format!("e{i}"),
                    at,
                );
                e.props
                    .insert("blob".into(), Value::String("x".repeat(1000)));
                e
            })
            .collect();
        let batches = split(tenant, events.clone());
        assert!(batches.len() >= 4, "{} batches", batches.len());
        for b in &batches {
            assert!(serde_json::to_vec(b).unwrap().len() <= MAX_MESSAGE_BYTES);
        }
        assert_eq!(batches.iter().map(|b| b.events.len()).sum::<usize>(), 1000);
        let again: Vec<String> = split(tenant, events).into_iter().map(|b| b.id).collect();
        assert_eq!(
            again,
            batches.iter().map(|b| b.id.clone()).collect::<Vec<_>>()
        );
        assert!(split(tenant, Vec::new()).is_empty());
    }
}
