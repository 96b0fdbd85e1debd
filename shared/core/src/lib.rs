//! The MVidarr domain. Everything here is pure: no I/O, no async runtime, no AWS types, so the
//! same types and checks serve the Lambdas, the embedded binary and (later) the edge Worker.
//!
//! - [`ids`]: typed ULID identifiers.
//! - [`keys`]: how records and blobs are addressed; every key starts with the tenant.
//! - [`media`]: the Media record and its status machine.
//! - [`metadata`], [`analysis`], [`tag`]: the rest of the media model; [`vocabulary`]: a
//!   tenant's tags, synonyms and thresholds.
//! - [`profile`], [`event`]: the people a tenant records plays for, and what they did.
//! - [`external`]: records named by their id in another system (`ext:…`).
//! - [`fingerprint`]: what makes another copy of the same video recognisable, and how alike two are.
//! - [`ports`]: one trait per outside service (`BlobStore`, `Table`, `Queue`, `Pipeline`).
//! - [`repo`]: repositories written once over the `Table` port.
//! - [`asl`]: the Step Functions subset the local pipeline runner interprets.
//! - [`upload`]: upload validation rules (size, magic bytes, duration).
//! - [`step`]: the contract between the pipeline and its steps (error names, input).
//!
//! "No I/O" means no I/O of its own: repositories are async because the ports they are
//! written over are, and which adapter answers is the caller's choice.

pub mod analysis;
pub mod analytics;
pub mod asl;
pub mod event;
pub mod external;
pub mod fingerprint;
pub mod ids;
pub mod keys;
pub mod media;
pub mod metadata;
pub mod ports;
pub mod profile;
pub mod repo;
pub mod step;
pub mod tag;
pub mod upload;
pub mod vocabulary;

pub use chrono::{DateTime, Utc};

/// The time type used on every record.
pub type Timestamp = DateTime<Utc>;
