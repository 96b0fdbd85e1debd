//! `upload-trigger`: turns an S3 `ObjectCreated` notification (delivered through the ingest
//! queue, in AWS and locally alike) into a Media record, validates the object, and either
//! quarantines it or starts the pipeline.
//!
//! Every step is idempotent: S3 and SQS deliver at least once and in any order, so a replayed
//! notification finds the records the first delivery made and carries on from there.

mod notification;

use std::collections::BTreeMap;
use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use chrono::Utc;
use mvidarr_core::analysis::{Analysis, AnalyzerKind, Probe};
use mvidarr_core::analytics::{AnalyticsEvent, send_events};
use mvidarr_core::ids::{MediaId, TenantId};
use mvidarr_core::keys;
use mvidarr_core::media::{Media, MediaEvent, MediaStatus, Step};
use mvidarr_core::ports::{
    BlobError, BlobStore, ExecutionName, Pipeline, PipelineInput, Platform, TableError,
};
use mvidarr_core::repo::{AnalysisRepo, Created, MediaRepo, RepoError, UploadRepo};
use mvidarr_core::upload::{self, Rejection, SNIFF_BYTES, UploadLimits};
use mvidarr_media::{Ffmpeg, ProbeError, probe};
use tracing::{info, instrument, warn};

#[derive(Debug, Clone)]
pub struct TriggerConfig {
    pub limits: UploadLimits,
    pub probe_timeout: Duration,
    /// The ingest queue's redrive `maxReceiveCount`: on the delivery that reaches it, a
    /// failure is recorded on the media before the message goes to the dead-letter queue.
    pub max_receives: u32,
}

impl TriggerConfig {
    /// From `MVIDARR_MAX_UPLOAD_BYTES`, `MVIDARR_MAX_DURATION_SECONDS` and
    /// `MVIDARR_INGEST_MAX_RECEIVES` (which must equal the queue's redrive maxReceiveCount).
    pub fn from_env() -> Result<Self, String> {
        fn var<T: std::str::FromStr>(name: &str, default: T) -> Result<T, String> {
            match std::env::var(name) {
                Ok(v) => v
                    .parse()
                    .map_err(|_| format!("{name}={v:?} is not a valid number")),
                Err(_) => Ok(default),
            }
        }
        let d = Self::default();
        Ok(Self {
            limits: UploadLimits {
                max_bytes: var("MVIDARR_MAX_UPLOAD_BYTES", d.limits.max_bytes)?,
                max_duration_seconds: var(
                    "MVIDARR_MAX_DURATION_SECONDS",
                    d.limits.max_duration_seconds,
                )?,
            },
            max_receives: var("MVIDARR_INGEST_MAX_RECEIVES", d.max_receives)?,
            ..d
        })
    }
}

impl Default for TriggerConfig {
    fn default() -> Self {
        Self {
            limits: UploadLimits::default(),
            probe_timeout: Duration::from_secs(120),
            max_receives: 5,
        }
    }
}

/// The handler with what it needs, built once per process (Lambda cold start / `mvidarr serve`).
pub struct UploadTrigger<P> {
    platform: P,
    ffmpeg: Ffmpeg,
    config: TriggerConfig,
}

#[derive(Debug, thiserror::Error)]
pub enum TriggerError {
    /// The message can never be processed; it stays in the queue until the DLQ takes it.
    #[error("not an S3 event notification: {0}")]
    Malformed(String),
    /// A dependency failed in a way a later delivery may not meet.
    #[error("transient failure, will be retried: {0}")]
    Transient(String),
    #[error("failed: {0}")]
    Permanent(String),
}

impl From<RepoError> for TriggerError {
    fn from(e: RepoError) -> Self {
        match e {
            // An infrastructure failure (disk full, too many open files, a database error) is
            // no verdict on the upload: retry, and let the dead-letter queue decide.
            RepoError::Table(TableError::Backend(_)) => TriggerError::Transient(e.to_string()),
            e if e.is_transient() => TriggerError::Transient(e.to_string()),
            e => TriggerError::Permanent(e.to_string()),
        }
    }
}

impl From<BlobError> for TriggerError {
    fn from(e: BlobError) -> Self {
        match e {
            // An object that vanishes mid-ingest was moved by a concurrent delivery of the
            // same notification (quarantine); the retry re-reads the record, finds it done.
            BlobError::Transient(_) | BlobError::NotFound { .. } | BlobError::Backend(_) => {
                TriggerError::Transient(e.to_string())
            }
            _ => TriggerError::Permanent(e.to_string()),
        }
    }
}

/// What one notification record led to.
#[derive(Debug, Clone, PartialEq)]
pub enum RecordOutcome {
    /// Not an upload (a thumbnail, a quarantine move…) or an event type we do not act on.
    Ignored {
        key: String,
        why: &'static str,
    },
    /// The pipeline was started (or had been already) for this media.
    Started(MediaId),
    Quarantined {
        media: MediaId,
        reason: String,
    },
    /// A replay of work already finished.
    AlreadyDone(MediaId),
    /// Failed for good; recorded on the media.
    Failed {
        media: MediaId,
        reason: String,
    },
}

impl<P: Platform> UploadTrigger<P> {
    pub fn new(platform: P, ffmpeg: Ffmpeg, config: TriggerConfig) -> Self {
        Self {
            platform,
            ffmpeg,
            config,
        }
    }

    /// Handle one queue message: an S3 event notification holding one or more records.
    /// `receive_count` is the queue's count of deliveries of this message, this one included.
    #[instrument(skip_all, fields(receive_count = receive_count))]
    pub async fn handle_message(
        &self,
        body: &str,
        receive_count: u32,
    ) -> Result<Vec<RecordOutcome>, TriggerError> {
        let value: serde_json::Value =
            serde_json::from_str(body).map_err(|e| TriggerError::Malformed(e.to_string()))?;
        // S3 sends `{"Service":"Amazon S3","Event":"s3:TestEvent",…}` (no Records) when
        // notifications are configured: acknowledge it.
        if value.get("Event").and_then(|e| e.as_str()) == Some("s3:TestEvent") {
            return Ok(vec![]);
        }
        let event: notification::Notification =
            serde_json::from_value(value).map_err(|e| TriggerError::Malformed(e.to_string()))?;
        if event.records.is_empty() {
            return Err(TriggerError::Malformed("no Records".into()));
        }
        let last_attempt = receive_count >= self.config.max_receives;
        let mut out = Vec::with_capacity(event.records.len());
        for record in &event.records {
            out.push(self.handle_record(record, last_attempt).await?);
        }
        Ok(out)
    }

    /// The Lambda entry: an SQS batch in, the ids of the messages to redeliver out
    /// (`ReportBatchItemFailures`), so one bad message never redelivers the good ones.
    /// Messages run concurrently.
    pub async fn handle_sqs_event(&self, event: SqsEvent) -> SqsBatchResponse {
        use futures_util::StreamExt;
        // Each message may run an ffmpeg probe: a few at a time fit a Lambda's memory.
        const CONCURRENT_MESSAGES: usize = 3;
        let results: Vec<_> =
            futures_util::stream::iter(event.records.iter().map(|m| async move {
                let receive_count = m
                    .attributes
                    .get("ApproximateReceiveCount")
                    .and_then(|c| c.parse().ok())
                    .unwrap_or(1);
                let result = self
                    .handle_message(m.body.as_deref().unwrap_or_default(), receive_count)
                    .await;
                (m.message_id.clone().unwrap_or_default(), result.map(|_| ()))
            }))
            .buffer_unordered(CONCURRENT_MESSAGES)
            .collect()
            .await;
        mvidarr_lambda::sqs_batch_response(results)
    }

    async fn handle_record(
        &self,
        record: &notification::Record,
        last_attempt: bool,
    ) -> Result<RecordOutcome, TriggerError> {
        let key = decode_s3_key(&record.s3.object.key);
        if !record.event_name.starts_with("ObjectCreated:") {
            return Ok(RecordOutcome::Ignored {
                key,
                why: "not an ObjectCreated event",
            });
        }
        let Some((tenant, media_id)) = keys::blob::parse_upload(&key) else {
            return Ok(RecordOutcome::Ignored {
                key,
                why: "not an upload key",
            });
        };
        let etag = record.s3.object.e_tag.trim_matches('"').to_owned();
        let bucket = record.s3.bucket.name.clone();
        let result = self.ingest(tenant, media_id, &bucket, &key, &etag).await;
        match result {
            Err(TriggerError::Transient(reason)) if last_attempt => {
                // This delivery is the last before the DLQ: say on the record why it failed.
                let reason = format!("validation kept failing: {reason}");
                self.fail(tenant, media_id, &reason).await?;
                Err(TriggerError::Transient(reason))
            }
            Err(TriggerError::Permanent(reason)) => {
                self.fail(tenant, media_id, &reason).await?;
                Ok(RecordOutcome::Failed {
                    media: media_id,
                    reason,
                })
            }
            other => other,
        }
    }

    #[instrument(skip(self, tenant, media_id, bucket, etag), fields(%tenant, media = %media_id))]
    async fn ingest(
        &self,
        tenant: TenantId,
        media_id: MediaId,
        bucket: &str,
        key: &str,
        etag: &str,
    ) -> Result<RecordOutcome, TriggerError> {
        let repo = MediaRepo::new(self.platform.table());
        let blobs = self.platform.blobs();
        let head = match blobs.head(key).await {
            Ok(h) => h,
            Err(BlobError::NotFound { .. }) => {
                // Gone from the upload prefix: quarantined by an earlier delivery, or never
                // finished. Either way the record (if any) already says what happened.
                return match repo.get(tenant, media_id).await? {
                    // Verdicts are recorded before objects move, so a media still being
                    // validated has lost its object to something else: say so, and retry.
                    Some(m) if m.status == MediaStatus::Validating => Err(TriggerError::Transient(
                        "the object disappeared while it was being validated".into(),
                    )),
                    Some(m) => Ok(RecordOutcome::AlreadyDone(m.id)),
                    None => Ok(RecordOutcome::Ignored {
                        key: key.to_owned(),
                        why: "object no longer exists",
                    }),
                };
            }
            Err(e) => return Err(e.into()),
        };
        if !etag.is_empty() && head.etag != etag {
            // The object was overwritten after this event; its own event will follow.
            return Ok(RecordOutcome::Ignored {
                key: key.to_owned(),
                why: "stale event for an overwritten object",
            });
        }

        let reservation = UploadRepo::new(self.platform.table())
            .get(tenant, media_id)
            .await?;
        let now = Utc::now();
        let (filename, content_type) = match reservation {
            Some(r) => (r.filename, r.content_type),
            None => (
                media_id.to_string(),
                head.content_type
                    .clone()
                    .unwrap_or_else(|| "application/octet-stream".into()),
            ),
        };
        let mut fresh = Media {
            id: media_id,
            tenant,
            filename,
            content_type,
            size: head.size,
            blob_key: key.to_owned(),
            bucket: bucket.to_owned(),
            etag: head.etag.clone(),
            status: MediaStatus::Uploaded,
            probe: None,
            metadata: Default::default(),
            external_id: None,
            created_at: now,
            updated_at: now,
            version: 1,
        };
        // Validation starts right here: record the media as Validating from its first write
        // rather than writing Uploaded and moving it on a moment later.
        fresh
            .apply(MediaEvent::StartValidation, now)
            .map_err(RepoError::from)?;
        let media = match repo.create_once(fresh).await? {
            Created::New(m) => m,
            Created::Existing(m) if m.etag != head.etag => {
                warn!(old = %m.etag, new = %head.etag, "object replaced after ingest; keeping the first version's record");
                return Ok(RecordOutcome::AlreadyDone(m.id));
            }
            Created::Existing(m) => m,
        };
        self.continue_ingest(media).await
    }

    /// Carry a media on from whatever status an earlier delivery left it in.
    async fn continue_ingest(&self, media: Media) -> Result<RecordOutcome, TriggerError> {
        let repo = MediaRepo::new(self.platform.table());
        let (tenant, id) = (media.tenant, media.id);
        let upload_key = keys::blob::upload(tenant, id);
        let media = match media.status {
            MediaStatus::Uploaded => {
                repo.advance(tenant, id, MediaEvent::StartValidation, Utc::now())
                    .await?
            }
            _ => media,
        };
        match &media.status {
            MediaStatus::Validating => {}
            MediaStatus::Analyzing => return self.start_pipeline(&media).await,
            // Quarantined, and its object is still at the upload key (this delivery found it
            // there): an earlier delivery stopped between verdict and move. Finish the move.
            MediaStatus::Quarantined { reason } if media.blob_key != upload_key => {
                self.move_to_quarantine(&upload_key, &media.blob_key, reason)
                    .await?;
                return Ok(RecordOutcome::AlreadyDone(id));
            }
            _ => return Ok(RecordOutcome::AlreadyDone(id)),
        }
        match self.validate(&media).await? {
            Err(rejection) => self.quarantine(media, rejection.to_string()).await,
            Ok(probe) => {
                AnalysisRepo::new(self.platform.table())
                    .put(
                        tenant,
                        &Analysis::of(id, AnalyzerKind::Probe, Probe::VERSION, Utc::now(), &probe),
                    )
                    .await?;
                let media = repo
                    .update(tenant, id, |m| {
                        if m.status.already_past(&MediaEvent::Validated) {
                            return Ok(false);
                        }
                        m.probe = Some(probe.clone());
                        m.apply(MediaEvent::Validated, Utc::now())?;
                        Ok(true)
                    })
                    .await?;
                self.start_pipeline(&media).await
            }
        }
    }

    /// The checks, cheapest first. `Ok(Err(_))` is a verdict on the file; `Err(_)` means the
    /// check itself could not run.
    async fn validate(&self, media: &Media) -> Result<Result<Probe, Rejection>, TriggerError> {
        let limits = &self.config.limits;
        if let Err(r) = upload::check_size(media.size, limits) {
            return Ok(Err(r));
        }
        let blobs = self.platform.blobs();
        let head = blobs
            .get_range(&media.blob_key, 0, SNIFF_BYTES as u64)
            .await?;
        if upload::sniff_container(&head).is_none() {
            return Ok(Err(Rejection::UnknownFormat));
        }
        let location = blobs.location(&media.blob_key).await?;
        let probe = match probe(
            &self.ffmpeg,
            &location.as_input(),
            self.config.probe_timeout,
        )
        .await
        {
            Ok(p) => p,
            Err(ProbeError::Unreadable { reason }) => {
                return Ok(Err(Rejection::Unreadable(reason)));
            }
            Err(e) if e.is_transient() => return Err(TriggerError::Transient(e.to_string())),
            // ffmpeg read it but we could not parse what it said: our failure, not the file's.
            Err(e) => {
                return Err(TriggerError::Permanent(format!(
                    "probe output not understood: {e}"
                )));
            }
        };
        if probe.video.is_empty() {
            return Ok(Err(Rejection::NoVideo));
        }
        if let Err(r) = upload::check_duration(probe.duration_seconds, limits) {
            return Ok(Err(r));
        }
        Ok(Ok(probe))
    }

    /// Move the object under the quarantine prefix (tagged with the reason), then record it.
    /// Nothing is deleted. A crash between the two is finished by the next delivery.
    /// Record the verdict, then move the object under the quarantine prefix, tagged with the
    /// reason. Nothing is deleted. The record comes first because it is the one place the
    /// reason is kept safely: a crash (or a concurrent duplicate delivery) after it finds the
    /// media Quarantined with its object still at the upload key, and finishes the move.
    async fn quarantine(
        &self,
        media: Media,
        reason: String,
    ) -> Result<RecordOutcome, TriggerError> {
        info!(media = %media.id, %reason, "quarantining upload");
        let upload_key = media.blob_key.clone();
        let to = keys::blob::quarantine(media.tenant, media.id);
        let event = MediaEvent::Rejected {
            reason: reason.clone(),
        };
        let recorded = MediaRepo::new(self.platform.table())
            .update(media.tenant, media.id, |m| {
                if m.status.already_past(&event) {
                    return Ok(false);
                }
                m.blob_key = to.clone();
                m.apply(event.clone(), Utc::now())?;
                Ok(true)
            })
            .await?;
        match recorded.status {
            MediaStatus::Quarantined { reason } => {
                self.move_to_quarantine(&upload_key, &to, &reason).await?;
                let event = AnalyticsEvent::quarantine(media.id, &reason, recorded.updated_at);
                self.report(media.tenant, event).await?;
                Ok(RecordOutcome::Quarantined {
                    media: media.id,
                    reason,
                })
            }
            // Another delivery got there first with another verdict.
            _ => Ok(RecordOutcome::AlreadyDone(media.id)),
        }
    }

    /// Move a quarantined media's object from its upload key. Tags first, at the source: a
    /// rename keeps them. Safe to repeat; a concurrent mover makes this one retry.
    async fn move_to_quarantine(
        &self,
        from: &str,
        to: &str,
        reason: &str,
    ) -> Result<(), TriggerError> {
        let blobs = self.platform.blobs();
        let tags = BTreeMap::from([("quarantine".to_owned(), tag_value(reason))]);
        blobs.set_tags(from, &tags).await?;
        blobs.rename(from, to).await?;
        Ok(())
    }

    async fn start_pipeline(&self, media: &Media) -> Result<RecordOutcome, TriggerError> {
        let name = ExecutionName::for_media(media.id, &media.etag);
        let input = PipelineInput {
            tenant: media.tenant,
            media_id: media.id,
        };
        let outcome = self
            .platform
            .pipeline()
            .start(&name, &input)
            .await
            .map_err(|e| TriggerError::Transient(e.to_string()))?;
        info!(execution = name.as_str(), ?outcome, "pipeline start");
        let event = AnalyticsEvent::upload(media.id, media.created_at);
        self.report(media.tenant, event).await?;
        Ok(RecordOutcome::Started(media.id))
    }

    /// Report an analytics event; a failure is retried with the message (a redelivery
    /// reports the same event again, which analytics counts once).
    async fn report(&self, tenant: TenantId, event: AnalyticsEvent) -> Result<(), TriggerError> {
        send_events(self.platform.events_queue(), tenant, vec![event])
            .await
            .map(|_| ())
            .map_err(|e| TriggerError::Transient(format!("reporting analytics: {e}")))
    }

    async fn fail(
        &self,
        tenant: TenantId,
        media: MediaId,
        reason: &str,
    ) -> Result<(), TriggerError> {
        let event = MediaEvent::StepFailed {
            step: Step::Validate,
            reason: reason.to_owned(),
        };
        match MediaRepo::new(self.platform.table())
            .advance(tenant, media, event, Utc::now())
            .await
        {
            Ok(_) | Err(RepoError::NotFound(_)) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

/// S3 notifications carry keys form-encoded (`+` for space, `%XX` for the rest).
pub fn decode_s3_key(raw: &str) -> String {
    let plus_decoded = raw.replace('+', " ");
    percent_encoding::percent_decode_str(&plus_decoded)
        .decode_utf8_lossy()
        .into_owned()
}

/// S3 tag values allow 256 characters of a limited set; keep the reason readable within that.
fn tag_value(reason: &str) -> String {
    reason
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || " +-=._:/@".contains(c) {
                c
            } else {
                ' '
            }
        })
        .take(256)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_keys_are_form_decoded() {
        assert_eq!(
            decode_s3_key("t/A/uploads/my+video%28v2%29.mp4"),
            "t/A/uploads/my video(v2).mp4"
        );
        assert_eq!(decode_s3_key("plain"), "plain");
    }

    #[test]
    fn tag_values_fit_s3_rules() {
        let v = tag_value(&"ffmpeg said: moov atom not found (\"x\")!".repeat(20));
        assert!(v.len() <= 256);
        assert!(
            v.chars()
                .all(|c| c.is_ascii_alphanumeric() || " +-=._:/@".contains(c))
        );
    }
}
