//! Repositories, written once over the [`Table`](crate::ports::Table) port: the only code that
//! knows how domain records map onto items and keys.

mod analysis;
mod media;
mod tags;
mod tenants;
mod uploads;

pub use analysis::AnalysisRepo;
pub use media::{Created, MediaPage, MediaRepo};
pub use tags::TagRepo;
pub use tenants::{ApiKeyRecord, TenantRecord, TenantRepo};
pub use uploads::{UploadRepo, UploadReservation};

use crate::media::IllegalTransition;
use crate::ports::TableError;

#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    #[error(transparent)]
    Table(#[from] TableError),
    #[error("stored record {pk} / {sk} does not decode: {source}")]
    Corrupt {
        pk: String,
        sk: String,
        #[source]
        source: serde_json::Error,
    },
    #[error(transparent)]
    Transition(#[from] IllegalTransition),
    #[error("{0} not found")]
    NotFound(String),
    /// Concurrent writers kept winning; the caller may retry the whole operation.
    #[error("gave up after {attempts} conflicting concurrent updates of {what}")]
    Contended { what: String, attempts: u32 },
}

impl RepoError {
    /// Whether retrying the operation later can help.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            RepoError::Table(TableError::Transient(_)) | RepoError::Contended { .. }
        )
    }
}

fn decode<T: serde::de::DeserializeOwned>(item: crate::ports::Item) -> Result<T, RepoError> {
    serde_json::from_value(item.data).map_err(|source| RepoError::Corrupt {
        pk: item.pk,
        sk: item.sk,
        source,
    })
}

fn encode<T: serde::Serialize>(value: &T) -> serde_json::Value {
    // Our records are plain data (strings, numbers, maps with string keys): encoding cannot fail.
    serde_json::to_value(value).expect("domain records encode as JSON")
}
