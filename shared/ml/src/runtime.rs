//! Finding ONNX Runtime and the model files, checking them against the registry, and building
//! sessions.
//!
//! Where things are looked for, first match wins (as `mvidarr-media` finds ffmpeg):
//!
//! | what | 1. environment | 2. Lambda layer | 3. repository tree |
//! |---|---|---|---|
//! | `libonnxruntime.so` | `$ORT_DYLIB_PATH` (must exist) | `/opt/lib/libonnxruntime.so` | `layers/dist/lib/libonnxruntime.so` in the current directory or above, then above the executable's directory |
//! | model directory | `$MVIDARR_MODELS` (must exist) | `/opt/models` | `layers/dist/models`, likewise |
//!
//! A deployed binary never looks at the path it was compiled in.
//!
//! The runtime is loaded once per process (ONNX Runtime allows one environment). Each model file
//! is checked against its registry SHA-256 the first time it is loaded in the process; a file
//! that differs is refused with both hashes in the error.
//!
//! [`load`] builds a **new** session every call: building one parses and optimizes the graph
//! (tens to hundreds of milliseconds). Model wrappers ([`crate::vad::Vad`],
//! [`crate::nsfw::NudeNet`], [`crate::ocr`]) call it in their constructors, so create each wrapper
//! once at process start (Lambda init, server start-up) and reuse it for every request.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::SystemTime;

use ort::environment::Environment;
use ort::session::Session;
use sha2::{Digest, Sha256};

use crate::registry::{ModelId, RUNTIME};

/// The environment variable naming the ONNX Runtime library, overriding every other place.
pub const RUNTIME_ENV: &str = "ORT_DYLIB_PATH";
/// The environment variable naming the model directory, overriding every other place.
pub const MODELS_ENV: &str = "MVIDARR_MODELS";
/// Where the models Lambda layer puts the runtime (layers are mounted at `/opt`).
pub const LAMBDA_LAYER_RUNTIME: &str = "/opt/lib/libonnxruntime.so";
/// Where the models Lambda layer puts the models.
pub const LAMBDA_LAYER_MODELS: &str = "/opt/models";
/// Where `layers/fetch-models.sh` puts the runtime, relative to the repository root.
pub const DIST_RUNTIME: &str = "layers/dist/lib/libonnxruntime.so";
/// Where `layers/fetch-models.sh` puts the models, relative to the repository root.
pub const DIST_MODELS: &str = "layers/dist/models";

/// Why the runtime or a model could not be found, checked or loaded.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("{var} is set to {path:?}, but there is no {what} there")]
    EnvPathMissing {
        var: &'static str,
        path: PathBuf,
        what: &'static str,
    },
    #[error(
        "{what} not found (looked at {}); run `bash layers/fetch-models.sh` from the repository, or set {var}",
        .tried.join(", ")
    )]
    NotFound {
        what: &'static str,
        var: &'static str,
        /// The places looked at, as sentences for the message.
        tried: Vec<String>,
    },
    #[error("ONNX Runtime could not be loaded from {path}: {reason}")]
    Runtime { path: PathBuf, reason: String },
    #[error("model {file} is missing from {dir} (run `bash layers/fetch-models.sh`)")]
    ModelMissing { file: &'static str, dir: PathBuf },
    #[error(
        "model file {path} is not the one in the registry: SHA-256 expected {expected}, got {got} (run `bash layers/fetch-models.sh`)"
    )]
    Mismatch {
        path: PathBuf,
        expected: &'static str,
        got: String,
    },
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("model {file} could not be loaded: {reason}")]
    Model { file: &'static str, reason: String },
}

/// The places searched, as values (so the search order can be tested without touching `/opt`
/// or the process environment).
#[derive(Debug, Default, Clone)]
pub(crate) struct SearchPlaces {
    pub env_override: Option<PathBuf>,
    pub lambda_layer: PathBuf,
    pub current_dir: Option<PathBuf>,
    pub exe_dir: Option<PathBuf>,
}

impl SearchPlaces {
    fn from_process(env_var: &str, lambda_layer: &str) -> Self {
        SearchPlaces {
            env_override: std::env::var_os(env_var)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from),
            lambda_layer: PathBuf::from(lambda_layer),
            current_dir: std::env::current_dir().ok(),
            exe_dir: std::env::current_exe()
                .ok()
                .and_then(|exe| exe.parent().map(Path::to_path_buf)),
        }
    }
}

/// What is being looked for: a file or a directory, its name in messages and its override.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Wanted {
    pub what: &'static str,
    pub var: &'static str,
    pub dist: &'static str,
    pub is_dir: bool,
}

const RUNTIME_WANTED: Wanted = Wanted {
    what: "ONNX Runtime library",
    var: RUNTIME_ENV,
    dist: DIST_RUNTIME,
    is_dir: false,
};

const MODELS_WANTED: Wanted = Wanted {
    what: "model directory",
    var: MODELS_ENV,
    dist: DIST_MODELS,
    is_dir: true,
};

pub(crate) fn locate_in(places: &SearchPlaces, wanted: Wanted) -> Result<PathBuf, RuntimeError> {
    let exists = |path: &Path| {
        if wanted.is_dir {
            path.is_dir()
        } else {
            path.is_file()
        }
    };
    if let Some(path) = &places.env_override {
        return if exists(path) {
            Ok(path.clone())
        } else {
            Err(RuntimeError::EnvPathMissing {
                var: wanted.var,
                path: path.clone(),
                what: wanted.what,
            })
        };
    }
    let mut tried = vec![places.lambda_layer.display().to_string()];
    if exists(&places.lambda_layer) {
        return Ok(places.lambda_layer.clone());
    }
    for start in [&places.current_dir, &places.exe_dir].into_iter().flatten() {
        for dir in start.ancestors() {
            let candidate = dir.join(wanted.dist);
            if exists(&candidate) {
                return Ok(candidate);
            }
        }
        tried.push(format!("{} in {} and above", wanted.dist, start.display()));
    }
    Err(RuntimeError::NotFound {
        what: wanted.what,
        var: wanted.var,
        tried,
    })
}

/// Finds `libonnxruntime.so` (see the module docs for the order).
pub fn locate_runtime() -> Result<PathBuf, RuntimeError> {
    locate_in(
        &SearchPlaces::from_process(RUNTIME_ENV, LAMBDA_LAYER_RUNTIME),
        RUNTIME_WANTED,
    )
}

/// Finds the model directory (see the module docs for the order).
pub fn locate_models() -> Result<PathBuf, RuntimeError> {
    locate_in(
        &SearchPlaces::from_process(MODELS_ENV, LAMBDA_LAYER_MODELS),
        MODELS_WANTED,
    )
}

struct Loaded {
    path: PathBuf,
    environment: Result<Environment, String>,
}

static RUNTIME_LOADED: OnceLock<Loaded> = OnceLock::new();

fn environment() -> Result<&'static Environment, RuntimeError> {
    let loaded = match RUNTIME_LOADED.get() {
        Some(loaded) => loaded,
        None => {
            // Not cached when nothing is found: a later call may find what was fetched since.
            let path = locate_runtime()?;
            RUNTIME_LOADED.get_or_init(|| {
                let environment = ort::init_from(&path)
                    .map_err(|e| e.to_string())
                    .and_then(|builder| {
                        builder
                            .with_name("mvidarr")
                            .build()
                            .map_err(|e| e.to_string())
                    });
                match &environment {
                    Ok(_) => tracing::info!(path = %path.display(), "ONNX Runtime loaded"),
                    Err(reason) => {
                        tracing::error!(path = %path.display(), %reason, "ONNX Runtime failed to load")
                    }
                }
                Loaded { path, environment }
            })
        }
    };
    loaded
        .environment
        .as_ref()
        .map_err(|reason| RuntimeError::Runtime {
            path: loaded.path.clone(),
            reason: reason.clone(),
        })
}

/// Loads ONNX Runtime now (once per process) and returns the library's path. [`load`] does this
/// by itself; call it at start-up to fail fast, or to report which library is in use.
pub fn init() -> Result<&'static Path, RuntimeError> {
    environment()?;
    Ok(RUNTIME_LOADED
        .get()
        .map(|loaded| loaded.path.as_path())
        .expect("set by environment()"))
}

/// The path of a model file in the located model directory; an error when it is not there.
pub fn model_path(model: ModelId) -> Result<PathBuf, RuntimeError> {
    let dir = locate_models()?;
    let path = dir.join(model.file_name());
    if path.is_file() {
        Ok(path)
    } else {
        Err(RuntimeError::ModelMissing {
            file: model.file_name(),
            dir,
        })
    }
}

/// A file as it was when its hash was checked: a changed size or modification time means it
/// is checked again.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Checked {
    len: u64,
    modified: Option<SystemTime>,
}

static VERIFIED: Mutex<Option<HashMap<PathBuf, Checked>>> = Mutex::new(None);

fn checked_state(path: &Path) -> Result<Checked, RuntimeError> {
    let meta = std::fs::metadata(path).map_err(|source| RuntimeError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(Checked {
        len: meta.len(),
        modified: meta.modified().ok(),
    })
}

/// Reads a model file, checking its SHA-256 against the registry unless this process already
/// checked the same (unchanged) file.
fn read_verified(model: ModelId, path: &Path) -> Result<Vec<u8>, RuntimeError> {
    let read_error = |source| RuntimeError::Read {
        path: path.to_path_buf(),
        source,
    };
    let before = checked_state(path)?;
    let bytes = std::fs::read(path).map_err(read_error)?;
    let mut verified = VERIFIED.lock().unwrap_or_else(|p| p.into_inner());
    let cache = verified.get_or_insert_with(HashMap::new);
    if cache.get(path) == Some(&before) {
        return Ok(bytes);
    }
    let expected = model.info().sha256;
    let got = hex::encode(Sha256::digest(&bytes));
    if got != expected {
        return Err(RuntimeError::Mismatch {
            path: path.to_path_buf(),
            expected,
            got,
        });
    }
    cache.insert(path.to_path_buf(), before);
    Ok(bytes)
}

/// A new session for `model`, on the process-wide ONNX Runtime environment, with one intra-op
/// thread (the analyzers run side by side; each model run stays on one core).
///
/// Every call parses the model and builds a new session: call it once per model per process
/// (wrappers do it in their constructors) and keep the session. The model file is checked
/// against its registry SHA-256 on its first load in the process.
pub fn load(model: ModelId) -> Result<Session, RuntimeError> {
    let environment = environment()?;
    let path = model_path(model)?;
    let bytes = read_verified(model, &path)?;
    let file = model.file_name();
    let started = std::time::Instant::now();
    let session = Session::builder(environment)
        .map_err(|e| RuntimeError::Model {
            file,
            reason: e.to_string(),
        })?
        .with_intra_threads(1)
        .map_err(|e| RuntimeError::Model {
            file,
            reason: e.to_string(),
        })?
        .commit_from_memory(&bytes)
        .map_err(|e| RuntimeError::Model {
            file,
            reason: e.to_string(),
        })?;
    tracing::info!(
        model = %model,
        path = %path.display(),
        build_ms = started.elapsed().as_millis() as u64,
        "ONNX session built"
    );
    Ok(session)
}

/// The state of one installed file against its registry pin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileStatus {
    /// Present, and its SHA-256 is the pinned one.
    Ok,
    /// Not there.
    Missing,
    /// Present, with another SHA-256.
    Mismatch { expected: String, got: String },
    /// Present, but this architecture has no pinned SHA-256 (the runtime on an unpinned CPU).
    Unpinned { got: String },
    /// Present but unreadable.
    Unreadable(String),
}

impl FileStatus {
    pub fn is_ok(&self) -> bool {
        matches!(self, FileStatus::Ok)
    }

    /// One word for listings: `ok`, `missing`, `mismatch`, `unpinned`, `unreadable`.
    pub fn word(&self) -> &'static str {
        match self {
            FileStatus::Ok => "ok",
            FileStatus::Missing => "missing",
            FileStatus::Mismatch { .. } => "mismatch",
            FileStatus::Unpinned { .. } => "unpinned",
            FileStatus::Unreadable(_) => "unreadable",
        }
    }
}

/// One model in the [`installed`] report.
#[derive(Debug)]
pub struct ModelStatus {
    pub model: ModelId,
    /// Where the file is or would be; `None` when no model directory was found.
    pub path: Option<PathBuf>,
    pub status: FileStatus,
}

/// The runtime in the [`installed`] report.
#[derive(Debug)]
pub struct RuntimeStatus {
    /// The library that [`load`] would use, or why none was found.
    pub path: Result<PathBuf, RuntimeError>,
    pub status: FileStatus,
}

/// What is installed, checked against the registry (for `mvidarr models`).
#[derive(Debug)]
pub struct Installed {
    pub runtime: RuntimeStatus,
    /// The model directory, or why none was found.
    pub models_dir: Result<PathBuf, RuntimeError>,
    /// One entry per registry model, in registry order.
    pub models: Vec<ModelStatus>,
}

impl Installed {
    /// True when the runtime and every model are present with their pinned SHA-256.
    pub fn all_ok(&self) -> bool {
        self.runtime.status.is_ok() && self.models.iter().all(|m| m.status.is_ok())
    }
}

fn sha256_file(path: &Path) -> io::Result<String> {
    let mut file = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

fn file_status(path: &Path, expected: Option<&str>) -> FileStatus {
    if !path.is_file() {
        return FileStatus::Missing;
    }
    match (sha256_file(path), expected) {
        (Err(e), _) => FileStatus::Unreadable(e.to_string()),
        (Ok(got), Some(expected)) if got == expected => FileStatus::Ok,
        (Ok(got), Some(expected)) => FileStatus::Mismatch {
            expected: expected.to_string(),
            got,
        },
        (Ok(got), None) => FileStatus::Unpinned { got },
    }
}

/// Locates the runtime and every registry model and hashes each file (no runtime is loaded).
pub fn installed() -> Installed {
    let runtime_path = locate_runtime();
    let runtime_status = match &runtime_path {
        Ok(path) => file_status(path, RUNTIME.sha256_here()),
        Err(_) => FileStatus::Missing,
    };
    let models_dir = locate_models();
    let models = ModelId::ALL
        .into_iter()
        .map(|model| {
            let path = models_dir
                .as_ref()
                .ok()
                .map(|dir| dir.join(model.file_name()));
            let status = path.as_deref().map_or(FileStatus::Missing, |path| {
                file_status(path, Some(model.info().sha256))
            });
            ModelStatus {
                model,
                path,
                status,
            }
        })
        .collect();
    Installed {
        runtime: RuntimeStatus {
            path: runtime_path,
            status: runtime_status,
        },
        models_dir,
        models,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(path: &Path) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, b"not a library").unwrap();
    }

    #[test]
    fn env_override_wins_and_must_exist() {
        let dir = tempfile::tempdir().unwrap();
        let lib = dir.path().join("my-ort.so");
        touch(&lib);
        touch(&dir.path().join("opt/lib/libonnxruntime.so"));
        let places = SearchPlaces {
            env_override: Some(lib.clone()),
            lambda_layer: dir.path().join("opt/lib/libonnxruntime.so"),
            ..Default::default()
        };
        assert_eq!(locate_in(&places, RUNTIME_WANTED).unwrap(), lib);

        let places = SearchPlaces {
            env_override: Some(dir.path().join("missing.so")),
            ..places
        };
        let err = locate_in(&places, RUNTIME_WANTED).unwrap_err();
        assert!(
            matches!(
                err,
                RuntimeError::EnvPathMissing {
                    var: RUNTIME_ENV,
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn lambda_layer_comes_before_the_repository_tree() {
        let dir = tempfile::tempdir().unwrap();
        let layer = dir.path().join("opt/models");
        std::fs::create_dir_all(&layer).unwrap();
        let repo = dir.path().join("repo");
        std::fs::create_dir_all(repo.join(DIST_MODELS)).unwrap();
        let places = SearchPlaces {
            env_override: None,
            lambda_layer: layer.clone(),
            current_dir: Some(repo.clone()),
            exe_dir: None,
        };
        assert_eq!(locate_in(&places, MODELS_WANTED).unwrap(), layer);
    }

    #[test]
    fn repository_tree_is_found_above_the_current_then_the_executable_directory() {
        let dir = tempfile::tempdir().unwrap();
        let repo = dir.path().join("repo");
        touch(&repo.join(DIST_RUNTIME));
        let deep = repo.join("shared/ml/src");
        std::fs::create_dir_all(&deep).unwrap();
        let elsewhere = dir.path().join("elsewhere");
        std::fs::create_dir_all(&elsewhere).unwrap();
        let places = SearchPlaces {
            env_override: None,
            lambda_layer: dir.path().join("opt/lib/libonnxruntime.so"),
            current_dir: Some(deep),
            exe_dir: Some(elsewhere.clone()),
        };
        assert_eq!(
            locate_in(&places, RUNTIME_WANTED).unwrap(),
            repo.join(DIST_RUNTIME)
        );

        let places = SearchPlaces {
            current_dir: Some(elsewhere.clone()),
            exe_dir: Some(repo.join("target/release")),
            ..places
        };
        assert_eq!(
            locate_in(&places, RUNTIME_WANTED).unwrap(),
            repo.join(DIST_RUNTIME)
        );
    }

    #[test]
    fn nothing_found_names_every_place_and_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let places = SearchPlaces {
            env_override: None,
            lambda_layer: dir.path().join("opt/models"),
            current_dir: Some(dir.path().to_path_buf()),
            exe_dir: None,
        };
        let err = locate_in(&places, MODELS_WANTED).unwrap_err();
        let message = err.to_string();
        assert!(message.contains("opt/models"), "{message}");
        assert!(message.contains(DIST_MODELS), "{message}");
        assert!(message.contains("fetch-models.sh"), "{message}");
        assert!(message.contains(MODELS_ENV), "{message}");
    }

    #[test]
    fn a_directory_is_not_a_runtime_and_a_file_is_not_a_model_directory() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join(DIST_RUNTIME)).unwrap();
        touch(&dir.path().join(DIST_MODELS));
        let places = SearchPlaces {
            env_override: None,
            lambda_layer: dir.path().join("nothing"),
            current_dir: Some(dir.path().to_path_buf()),
            exe_dir: None,
        };
        assert!(locate_in(&places, RUNTIME_WANTED).is_err());
        assert!(locate_in(&places, MODELS_WANTED).is_err());
    }

    #[test]
    fn file_status_tells_ok_missing_mismatch_and_unpinned() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"abc").unwrap();
        let abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        assert_eq!(file_status(&path, Some(abc)), FileStatus::Ok);
        assert_eq!(
            file_status(&dir.path().join("nope"), Some(abc)),
            FileStatus::Missing
        );
        let zero = "0".repeat(64);
        assert_eq!(
            file_status(&path, Some(&zero)),
            FileStatus::Mismatch {
                expected: zero.clone(),
                got: abc.to_string()
            }
        );
        assert_eq!(
            file_status(&path, None),
            FileStatus::Unpinned {
                got: abc.to_string()
            }
        );
    }

    #[test]
    fn a_tampered_model_file_is_refused_naming_both_hashes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(ModelId::SileroVad.file_name());
        std::fs::write(&path, b"not the silero model").unwrap();
        let err = read_verified(ModelId::SileroVad, &path).unwrap_err();
        let RuntimeError::Mismatch { expected, got, .. } = &err else {
            panic!("expected a mismatch, got {err}");
        };
        assert_eq!(*expected, ModelId::SileroVad.info().sha256);
        assert_eq!(*got, hex::encode(Sha256::digest(b"not the silero model")));
        let message = err.to_string();
        assert!(
            message.contains(expected) && message.contains(got.as_str()),
            "{message}"
        );
    }
}
