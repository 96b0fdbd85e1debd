//! The media pipeline as a workflow service (Step Functions shaped): an execution is started
//! under a unique name, and starting the same name again is not an error but a no-op, which is
//! what makes the at-least-once trigger safe.

use std::future::Future;

use serde::{Deserialize, Serialize};

use crate::ids::{MediaId, TenantId};

/// An execution name: `{media id}-{content hash}` (≤ 80 characters of `[A-Za-z0-9_-]`, as Step
/// Functions requires), so the same content of the same media starts one execution only.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ExecutionName(String);

impl ExecutionName {
    pub fn for_media(media: MediaId, etag: &str) -> Self {
        let hash: String = etag
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .take(40)
            .collect();
        Self(format!("{media}-{hash}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What every execution receives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PipelineInput {
    pub tenant: TenantId,
    pub media_id: MediaId,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartOutcome {
    Started,
    /// An execution with this name exists already; nothing was started.
    AlreadyExists,
}

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("pipeline unavailable, retry may help: {0}")]
    Transient(String),
    #[error("pipeline error: {0}")]
    Backend(String),
}

pub trait Pipeline: Send + Sync + 'static {
    fn start(
        &self,
        name: &ExecutionName,
        input: &PipelineInput,
    ) -> impl Future<Output = Result<StartOutcome, PipelineError>> + Send;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn execution_names_fit_step_functions_rules() {
        let name = ExecutionName::for_media(
            MediaId::generate(),
            "\"d41d8cd98f00b204e9800998ecf8427e-3\"",
        );
        assert!(name.as_str().len() <= 80);
        assert!(
            name.as_str()
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
    }
}
