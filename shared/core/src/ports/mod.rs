//! One trait per outside service. Each has exactly two production adapters (AWS in
//! `store-aws`, embedded in `store-local`) and one conformance suite that both must pass.
//! Methods return `impl Future + Send` so the traits need no boxing; adapters own every
//! SDK/driver type, and map its failures onto the error enums here.

pub mod blob;
pub mod keywrap;
pub mod pipeline;
pub mod queue;
pub mod table;

pub use blob::{BlobBody, BlobError, BlobLocation, BlobStore, ObjectInfo, PresignedRequest};
pub use keywrap::{DataKey, KeyWrap, KeyWrapError, PlaintextKey};
pub use pipeline::{ExecutionName, Pipeline, PipelineError, PipelineInput, StartOutcome};
pub use queue::{OutgoingMessage, Queue, QueueError, ReceivedMessage};
pub use table::{Condition, Index, Item, Page, Query, Table, TableError, WriteOp};

/// The ports a deployment provides, bundled so handlers carry one type parameter, not five.
pub trait Platform: Clone + Send + Sync + 'static {
    type Blobs: BlobStore;
    type Table: Table;
    type Queue: Queue;
    type Pipeline: Pipeline;
    type KeyWrap: KeyWrap;

    fn blobs(&self) -> &Self::Blobs;
    fn table(&self) -> &Self::Table;
    /// The ingest queue: S3-shaped `ObjectCreated` notifications for uploads.
    fn ingest_queue(&self) -> &Self::Queue;
    /// The events queue: [`EventBatch`](crate::analytics::EventBatch)es for the events
    /// function (analytics).
    fn events_queue(&self) -> &Self::Queue;
    /// The reports queue: [`ReportMessage`](crate::analytics::jobs::ReportMessage)s, one per
    /// report job to generate.
    fn reports_queue(&self) -> &Self::Queue;
    fn pipeline(&self) -> &Self::Pipeline;
    /// The key service that wraps the data keys of secrets at rest (TOTP seeds, signing keys).
    fn key_wrap(&self) -> &Self::KeyWrap;
}
