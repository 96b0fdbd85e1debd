//! `events`: each message of the events queue is one [`EventBatch`]; its events are written as
//! Parquet and added to the rollups ([`mvidarr_analytics::ingest`]), once however often the
//! message is delivered. A message that is not a batch fails every delivery and so ends in the
//! dead-letter queue, kept for a person to look at.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use mvidarr_analytics::{IngestError, IngestOutcome, ingest};
use mvidarr_core::analytics::EventBatch;
use mvidarr_core::ports::Platform;
use tracing::info;

#[derive(Debug, thiserror::Error)]
pub enum EventsError {
    #[error("not an event batch: {0}")]
    Malformed(#[from] serde_json::Error),
    #[error(transparent)]
    Ingest(#[from] IngestError),
}

pub struct EventsFunction<P> {
    platform: P,
}

/// Messages ingested at once: each is a file write and a few table transactions.
const CONCURRENT_MESSAGES: usize = 4;

impl<P: Platform> EventsFunction<P> {
    pub fn new(platform: P) -> Self {
        Self { platform }
    }

    /// Ingest one message's batch.
    pub async fn handle_message(&self, body: &str) -> Result<IngestOutcome, EventsError> {
        let batch: EventBatch = serde_json::from_str(body)?;
        let outcome = ingest(self.platform.blobs(), self.platform.table(), &batch).await?;
        info!(
            batch = %batch.id,
            tenant = %batch.tenant,
            events = outcome.events,
            bytes = outcome.bytes,
            parts_applied = outcome.rollups.parts_applied,
            parts_skipped = outcome.rollups.parts_skipped,
            "batch ingested"
        );
        Ok(outcome)
    }

    /// A Lambda invocation: every message on its own, the failed ones reported back so only
    /// they are delivered again (`ReportBatchItemFailures`).
    pub async fn handle_sqs_event(&self, event: SqsEvent) -> SqsBatchResponse {
        use futures_util::StreamExt;
        let results: Vec<_> =
            futures_util::stream::iter(event.records.iter().map(|m| async move {
                let result = self
                    .handle_message(m.body.as_deref().unwrap_or_default())
                    .await;
                (m.message_id.clone().unwrap_or_default(), result.map(|_| ()))
            }))
            .buffer_unordered(CONCURRENT_MESSAGES)
            .collect()
            .await;
        mvidarr_lambda::sqs_batch_response(results)
    }
}
