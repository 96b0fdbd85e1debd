//! The ports on AWS: [`S3BlobStore`] (S3), [`DynamoTable`] (a DynamoDB single table),
//! [`SqsQueue`] (SQS), [`SfnPipeline`] (Step Functions) and [`KmsKeyWrap`](kms::KmsKeyWrap)
//! (KMS), bundled as [`AwsPlatform`].
//!
//! Every adapter takes an SDK client built from [`sdk_config`], which sets retries and timeouts
//! explicitly rather than inheriting whatever the SDK defaults to, and maps SDK failures onto
//! the port's error enum with [`error::classify`]: throttling, timeouts and 5xx are
//! `Transient` (the caller may retry), conditional-check failures are conflicts, the rest is
//! `Backend`. The same conformance suites that check the embedded adapters check these against
//! `moto_server` (see `tests/`).

pub mod config;
pub mod dynamodb;
pub mod error;
pub mod kms;
pub mod platform;
pub mod read_proxy;
pub mod s3;
pub mod sfn;
pub mod sqs;

pub use config::{AwsSettings, sdk_config};
pub use platform::{AwsPlatform, AwsResources};
