//! `events`: each message of the events queue is one [`EventBatch`]; its events are written as
//! Parquet ([`mvidarr_analytics::ingest`]), and at the end of the invocation the days it wrote
//! are folded into the rollups in bulk ([`mvidarr_analytics::fold`]), each batch counted once
//! however often its message is delivered. A message that is not a batch fails every delivery
//! and so ends in the dead-letter queue, kept for a person to look at.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use std::collections::BTreeSet;

use mvidarr_analytics::{FoldError, FoldOutcome, IngestError, IngestOutcome, fold_pending, ingest};
use mvidarr_core::analytics::EventBatch;
use mvidarr_core::ids::TenantId;
use mvidarr_core::ports::Platform;
use tracing::{info, warn};

#[derive(Debug, thiserror::Error)]
pub enum EventsError {
    #[error("not an event batch: {0}")]
    Malformed(#[from] serde_json::Error),
    #[error(transparent)]
    Ingest(#[from] IngestError),
    #[error(transparent)]
    Fold(#[from] FoldError),
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
        Ok(self.ingest_message(body).await?.1)
    }

    /// Ingest one message's batch, and say whose it was.
    pub async fn ingest_message(
        &self,
        body: &str,
    ) -> Result<(TenantId, IngestOutcome), EventsError> {
        let batch: EventBatch = serde_json::from_str(body)?;
        let outcome = ingest(self.platform.blobs(), self.platform.table(), &batch).await?;
        info!(
            batch = %batch.id,
            tenant = %batch.tenant,
            events = outcome.events,
            files = outcome.files,
            bytes = outcome.bytes,
            "batch ingested"
        );
        Ok((batch.tenant, outcome))
    }

    /// Fold the tenant's pending days into its rollups (see [`mvidarr_analytics::fold`]).
    pub async fn fold(&self, tenant: TenantId) -> Result<FoldOutcome, EventsError> {
        Ok(fold_pending(self.platform.blobs(), self.platform.table(), tenant).await?)
    }

    /// A Lambda invocation: every message on its own, the failed ones reported back so only
    /// they are delivered again (`ReportBatchItemFailures`); then the tenants written to are
    /// folded, all their messages' files at once. A fold that fails is logged and left to the
    /// next invocation or the scheduler's tick: the files are written, the messages done.
    pub async fn handle_sqs_event(&self, event: SqsEvent) -> SqsBatchResponse {
        use futures_util::StreamExt;
        let results: Vec<_> =
            futures_util::stream::iter(event.records.iter().map(|m| async move {
                let result = self
                    .ingest_message(m.body.as_deref().unwrap_or_default())
                    .await;
                (m.message_id.clone().unwrap_or_default(), result)
            }))
            .buffer_unordered(CONCURRENT_MESSAGES)
            .collect()
            .await;
        let tenants: BTreeSet<TenantId> = results
            .iter()
            .filter_map(|(_, result)| Some(result.as_ref().ok()?.0))
            .collect();
        for tenant in tenants {
            // Boxed: the fold's future is deep, and the handler's would outgrow the compiler's
            // layout limit with it inline.
            if let Err(e) = Box::pin(self.fold(tenant)).await {
                warn!(%tenant, error = %e, "events not folded; the next fold counts them");
            }
        }
        mvidarr_lambda::sqs_batch_response(
            results
                .into_iter()
                .map(|(id, result)| (id, result.map(|_| ()))),
        )
    }
}
