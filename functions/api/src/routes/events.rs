//! `POST /v1/events`: what a tenant's people did with its media (plays, likes, skips…), in
//! batches of up to 1000. A batch is stored whole or not at all: any invalid event refuses it
//! with every problem listed. Each event is stored once per client event id, so a client may
//! resend a batch safely; events stored by an earlier request count as duplicates.
//!
//! The events not stored yet go to the events queue (analytics) *before* they are stored, 100
//! at a time: a request that fails between the two is resent by the client, finds the same
//! events new, and sends the same batch again, which analytics counts once. (Two requests
//! carrying one new event at the same moment may both send it: it would count twice.)

use axum::Json;
use axum::extract::State;
use chrono::Utc;
use mvidarr_core::analytics::{AnalyticsEvent, send_events};
use mvidarr_core::event::parse_batch;
use mvidarr_core::ports::Platform;
use mvidarr_core::ports::table::MAX_TRANSACT_ITEMS;
use mvidarr_core::repo::{AppendOutcome, EventRepo, IntakeError};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::json::ApiJson;
use crate::{ApiError, ApiState, Caller};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventBatch {
    /// Checked event by event (not by serde), so each problem names its event and field.
    events: Vec<Value>,
}

#[derive(Serialize)]
pub struct Recorded {
    /// Events stored by this request.
    accepted: usize,
    /// Events of the batch stored already by an earlier one.
    duplicates: usize,
}

#[tracing::instrument(skip_all, fields(tenant = %caller.tenant, events = batch.events.len()))]
pub async fn record<P: Platform>(
    State(state): State<ApiState<P>>,
    caller: Caller,
    ApiJson(batch): ApiJson<EventBatch>,
) -> Result<Json<Recorded>, ApiError> {
    let received_at = Utc::now();
    let repo = EventRepo::new(state.platform.table());
    let outcome: Result<AppendOutcome, IntakeError> = async {
        let events = parse_batch(&batch.events, received_at)?;
        let actor = caller.principal.actor();
        let stored = repo
            .resolve(caller.tenant, events, &actor, received_at)
            .await?;
        // A transaction's worth at a time, in order: each chunk is stored whole or not at all,
        // so a request cut short leaves whole chunks, and its resend forwards exactly the
        // events of the chunks not stored, in the same batches as before (counted once).
        let mut outcome = AppendOutcome::default();
        for chunk in stored.chunks(MAX_TRANSACT_ITEMS) {
            let new = repo.unstored(caller.tenant, chunk).await?;
            if !new.is_empty() {
                let new = new.into_iter().map(AnalyticsEvent::from).collect();
                send_events(state.platform.events_queue(), caller.tenant, new).await?;
            }
            let appended = repo.append(caller.tenant, chunk.to_vec()).await?;
            outcome.stored += appended.stored;
            outcome.duplicates += appended.duplicates;
        }
        Ok(outcome)
    }
    .await;
    match outcome {
        Ok(AppendOutcome { stored, duplicates }) => {
            tracing::info!(stored, duplicates, "events recorded");
            Ok(Json(Recorded {
                accepted: stored,
                duplicates,
            }))
        }
        Err(IntakeError::Rejected(rejected)) => {
            tracing::info!(
                rejected = rejected.rejected_events(),
                problems = rejected.errors.len(),
                reasons = ?rejected.counts(),
                "event batch refused"
            );
            Err(ApiError::EventsRejected(rejected))
        }
        Err(e) => Err(e.into()),
    }
}
