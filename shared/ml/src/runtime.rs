//! Finding ONNX Runtime and the model files, and building sessions. (Being completed: search
//! order, SHA-256 checks, one session per model per process.)

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ort::session::Session;

use crate::registry::ModelId;

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("ONNX Runtime could not be loaded from {path}: {reason}")]
    Runtime { path: PathBuf, reason: String },
    #[error("model {file} not found (looked in {looked})")]
    ModelMissing { file: &'static str, looked: String },
    #[error("model {file} could not be loaded: {reason}")]
    Model { file: &'static str, reason: String },
}

fn repo_dist() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../layers/dist")
}

fn environment() -> Result<&'static ort::environment::Environment, RuntimeError> {
    static ENV: OnceLock<Result<ort::environment::Environment, (PathBuf, String)>> =
        OnceLock::new();
    let result = ENV.get_or_init(|| {
        let path = std::env::var_os("ORT_DYLIB_PATH")
            .map(PathBuf::from)
            .unwrap_or_else(|| repo_dist().join("lib/libonnxruntime.so"));
        ort::init_from(&path)
            .map_err(|e| (path.clone(), e.to_string()))?
            .build()
            .map_err(|e| (path, e.to_string()))
    });
    result
        .as_ref()
        .map_err(|(path, reason)| RuntimeError::Runtime {
            path: path.clone(),
            reason: reason.clone(),
        })
}

/// A new session for `model`, on a process-wide ONNX Runtime environment.
pub fn load(model: ModelId) -> Result<Session, RuntimeError> {
    let env = environment()?;
    let file = model.file_name();
    let dir = std::env::var_os("MVIDARR_MODELS")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_dist().join("models"));
    let path = dir.join(file);
    if !path.is_file() {
        return Err(RuntimeError::ModelMissing {
            file,
            looked: dir.display().to_string(),
        });
    }
    let model_error = |e: ort::Error| RuntimeError::Model {
        file,
        reason: e.to_string(),
    };
    Session::builder(env)
        .map_err(model_error)?
        .with_intra_threads(1)
        .map_err(|e| RuntimeError::Model {
            file,
            reason: e.to_string(),
        })?
        .commit_from_file(&path)
        .map_err(model_error)
}
