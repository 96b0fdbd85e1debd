//! The AWS adapters wired together from a Lambda's environment.

use std::sync::Arc;

use mvidarr_core::ports::keywrap::{DataKey, KeyWrapError, PlaintextKey};
use mvidarr_core::ports::pipeline::{ExecutionName, PipelineError, PipelineInput, StartOutcome};
use mvidarr_core::ports::queue::{OutgoingMessage, QueueError, ReceivedMessage};
use mvidarr_core::ports::{KeyWrap, Pipeline, Platform, Queue};

use crate::config::{AwsSettings, sdk_config};
use crate::dynamodb::DynamoTable;
use crate::kms::KmsKeyWrap;
use crate::s3::{S3BlobStore, client_from};
use crate::sfn::SfnPipeline;
use crate::sqs::SqsQueue;

/// What a deployment names; the SAM template sets these as environment variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsResources {
    pub bucket: String,
    pub table: String,
    /// Only the functions that consume the ingest queue get its URL.
    pub ingest_queue_url: Option<String>,
    /// Only the functions that report analytics events get the events queue's URL.
    pub events_queue_url: Option<String>,
    /// Only the functions that queue or generate report jobs get the reports queue's URL.
    pub reports_queue_url: Option<String>,
    /// Only upload-trigger starts executions; the task functions cannot be given the state
    /// machine's ARN without a dependency cycle in the stack.
    pub state_machine_arn: Option<String>,
    /// The KMS key that wraps secrets' data keys; only the functions that seal or open
    /// secrets get it.
    pub kms_key_id: Option<String>,
}

pub const ENV_BUCKET: &str = "MEDIA_BUCKET";
pub const ENV_TABLE: &str = "TABLE_NAME";
pub const ENV_INGEST_QUEUE_URL: &str = "INGEST_QUEUE_URL";
pub const ENV_EVENTS_QUEUE_URL: &str = "EVENTS_QUEUE_URL";
pub const ENV_REPORTS_QUEUE_URL: &str = "REPORTS_QUEUE_URL";
pub const ENV_STATE_MACHINE_ARN: &str = "STATE_MACHINE_ARN";
pub const ENV_KMS_KEY_ID: &str = "KMS_KEY_ID";

#[derive(Debug, thiserror::Error)]
#[error("{name} is not set: the stack gives every function its resources' names (template.yaml)")]
pub struct MissingSetting {
    pub name: &'static str,
}

impl AwsResources {
    pub fn from_env() -> Result<Self, MissingSetting> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Read the settings through `lookup` (the environment in Lambda, a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, MissingSetting> {
        let required = |name: &'static str| {
            lookup(name)
                .filter(|v| !v.is_empty())
                .ok_or(MissingSetting { name })
        };
        let optional = |name: &str| lookup(name).filter(|v| !v.is_empty());
        Ok(Self {
            bucket: required(ENV_BUCKET)?,
            table: required(ENV_TABLE)?,
            ingest_queue_url: optional(ENV_INGEST_QUEUE_URL),
            events_queue_url: optional(ENV_EVENTS_QUEUE_URL),
            reports_queue_url: optional(ENV_REPORTS_QUEUE_URL),
            state_machine_arn: optional(ENV_STATE_MACHINE_ARN),
            kms_key_id: optional(ENV_KMS_KEY_ID),
        })
    }
}

struct Inner {
    blobs: S3BlobStore,
    table: DynamoTable,
    ingest: MaybeQueue,
    events: MaybeQueue,
    reports: MaybeQueue,
    pipeline: MaybePipeline,
    key_wrap: MaybeKeyWrap,
}

/// The AWS platform. Cheap to clone: the SDK clients share one connection pool.
#[derive(Clone)]
pub struct AwsPlatform(Arc<Inner>);

impl AwsPlatform {
    /// Clients for every service from one SDK configuration.
    pub async fn connect(settings: &AwsSettings, resources: &AwsResources) -> Self {
        let config = sdk_config(settings).await;
        // Path-style addressing only where an endpoint override (moto, a local S3) needs it.
        let s3 = client_from(&config, settings.endpoint_url.is_some());
        let sqs = aws_sdk_sqs::Client::new(&config);
        let sfn = aws_sdk_sfn::Client::new(&config);
        Self(Arc::new(Inner {
            blobs: S3BlobStore::new(s3, resources.bucket.clone()),
            table: DynamoTable::new(aws_sdk_dynamodb::Client::new(&config), &resources.table),
            ingest: MaybeQueue::new(&sqs, &resources.ingest_queue_url, ENV_INGEST_QUEUE_URL),
            events: MaybeQueue::new(&sqs, &resources.events_queue_url, ENV_EVENTS_QUEUE_URL),
            reports: MaybeQueue::new(&sqs, &resources.reports_queue_url, ENV_REPORTS_QUEUE_URL),
            pipeline: MaybePipeline(
                resources
                    .state_machine_arn
                    .as_ref()
                    .map(|arn| SfnPipeline::new(sfn, arn)),
            ),
            key_wrap: MaybeKeyWrap(
                resources
                    .kms_key_id
                    .as_ref()
                    .map(|key_id| KmsKeyWrap::new(aws_sdk_kms::Client::new(&config), key_id)),
            ),
        }))
    }
}

impl Platform for AwsPlatform {
    type Blobs = S3BlobStore;
    type Table = DynamoTable;
    type Queue = MaybeQueue;
    type Pipeline = MaybePipeline;
    type KeyWrap = MaybeKeyWrap;

    fn blobs(&self) -> &S3BlobStore {
        &self.0.blobs
    }
    fn table(&self) -> &DynamoTable {
        &self.0.table
    }
    fn ingest_queue(&self) -> &MaybeQueue {
        &self.0.ingest
    }
    fn events_queue(&self) -> &MaybeQueue {
        &self.0.events
    }
    fn reports_queue(&self) -> &MaybeQueue {
        &self.0.reports
    }
    fn pipeline(&self) -> &MaybePipeline {
        &self.0.pipeline
    }
    fn key_wrap(&self) -> &MaybeKeyWrap {
        &self.0.key_wrap
    }
}

/// A queue where this function was given its URL; otherwise every call fails with a message
/// naming the missing setting (a deployment error, not something to retry).
#[derive(Clone)]
pub struct MaybeQueue {
    queue: Option<SqsQueue>,
    setting: &'static str,
}

impl MaybeQueue {
    fn new(sqs: &aws_sdk_sqs::Client, url: &Option<String>, setting: &'static str) -> Self {
        Self {
            queue: url.as_ref().map(|url| SqsQueue::new(sqs.clone(), url)),
            setting,
        }
    }

    fn queue(&self) -> Result<&SqsQueue, QueueError> {
        self.queue.as_ref().ok_or_else(|| {
            QueueError::Backend(format!("{} is not set for this function", self.setting))
        })
    }
}

impl Queue for MaybeQueue {
    async fn send_batch(&self, messages: Vec<OutgoingMessage>) -> Result<Vec<String>, QueueError> {
        self.queue()?.send_batch(messages).await
    }
    async fn receive(
        &self,
        max: usize,
        visibility: std::time::Duration,
        wait: std::time::Duration,
    ) -> Result<Vec<ReceivedMessage>, QueueError> {
        self.queue()?.receive(max, visibility, wait).await
    }
    async fn delete(&self, receipt_handle: &str) -> Result<(), QueueError> {
        self.queue()?.delete(receipt_handle).await
    }
    async fn change_visibility(
        &self,
        receipt_handle: &str,
        visibility: std::time::Duration,
    ) -> Result<(), QueueError> {
        self.queue()?
            .change_visibility(receipt_handle, visibility)
            .await
    }
    async fn approximate_len(&self) -> Result<u64, QueueError> {
        self.queue()?.approximate_len().await
    }
}

/// The state machine where this function was given its ARN (see [`AwsResources`]).
#[derive(Clone)]
pub struct MaybePipeline(Option<SfnPipeline>);

impl Pipeline for MaybePipeline {
    async fn start(
        &self,
        name: &ExecutionName,
        input: &PipelineInput,
    ) -> Result<StartOutcome, PipelineError> {
        match &self.0 {
            Some(pipeline) => pipeline.start(name, input).await,
            None => Err(PipelineError::Backend(format!(
                "{ENV_STATE_MACHINE_ARN} is not set for this function"
            ))),
        }
    }
}

/// The KMS key where this function was given its id (see [`AwsResources`]).
#[derive(Clone)]
pub struct MaybeKeyWrap(Option<KmsKeyWrap>);

impl MaybeKeyWrap {
    fn key_wrap(&self) -> Result<&KmsKeyWrap, KeyWrapError> {
        self.0.as_ref().ok_or_else(|| {
            KeyWrapError::Backend(format!("{ENV_KMS_KEY_ID} is not set for this function"))
        })
    }
}

impl KeyWrap for MaybeKeyWrap {
    async fn generate_data_key(&self, context: &str) -> Result<DataKey, KeyWrapError> {
        self.key_wrap()?.generate_data_key(context).await
    }
    async fn unwrap(&self, wrapped: &[u8], context: &str) -> Result<PlaintextKey, KeyWrapError> {
        self.key_wrap()?.unwrap(wrapped, context).await
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn bucket_and_table_are_required_the_rest_is_per_function() {
        let env: HashMap<&str, &str> = [(ENV_BUCKET, "media"), (ENV_TABLE, "items")].into();
        let lookup = |name: &str| env.get(name).map(|v| v.to_string());
        let resources = AwsResources::from_lookup(lookup).unwrap();
        assert_eq!(resources.bucket, "media");
        assert_eq!(resources.ingest_queue_url, None);
        assert_eq!(resources.kms_key_id, None);

        let missing = AwsResources::from_lookup(|name| (name != ENV_TABLE).then(|| "x".to_owned()))
            .unwrap_err();
        assert_eq!(missing.name, ENV_TABLE);
        assert!(missing.to_string().contains("TABLE_NAME"));
    }

    #[tokio::test]
    async fn without_a_kms_key_id_key_wrapping_fails_naming_the_setting() {
        let missing = MaybeKeyWrap(None);
        let generated = missing.generate_data_key("ctx").await;
        assert!(
            matches!(&generated, Err(KeyWrapError::Backend(m)) if m.contains(ENV_KMS_KEY_ID)),
            "got {generated:?}"
        );
        let unwrapped = missing.unwrap(&[1, 2, 3], "ctx").await;
        assert!(
            matches!(&unwrapped, Err(KeyWrapError::Backend(m)) if m.contains(ENV_KMS_KEY_ID)),
            "got {unwrapped:?}"
        );
    }

    #[test]
    fn the_kms_key_id_is_read_from_its_setting() {
        let resources = AwsResources::from_lookup(|name| match name {
            ENV_BUCKET | ENV_TABLE => Some("x".to_owned()),
            ENV_KMS_KEY_ID => Some("alias/mvidarr-secrets".to_owned()),
            _ => None,
        })
        .unwrap();
        assert_eq!(
            resources.kms_key_id.as_deref(),
            Some("alias/mvidarr-secrets")
        );
    }
}
