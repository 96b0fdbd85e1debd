//! The registry against the real files: each model in `layers/dist/models` (fetched by
//! `layers/fetch-models.sh`) loads, and declares exactly the inputs and outputs the registry
//! says; the installed runtime and models carry their pinned SHA-256.

use mvidarr_ml::registry::{Dim, ModelId, RUNTIME, TensorSpec};
use mvidarr_ml::runtime::{self, FileStatus};
use ort::value::{Outlet, ValueType};

fn declared(outlets: &[Outlet]) -> Vec<(String, String)> {
    outlets
        .iter()
        .map(|o| match o.dtype() {
            ValueType::Tensor { ty, shape, .. } => {
                let dims: Vec<String> = shape
                    .iter()
                    .map(|&d| {
                        if d < 0 {
                            "?".to_string()
                        } else {
                            d.to_string()
                        }
                    })
                    .collect();
                (o.name().to_string(), format!("{ty}[{}]", dims.join(", ")))
            }
            other => (o.name().to_string(), format!("not a tensor: {other}")),
        })
        .collect()
}

fn registered(specs: &[TensorSpec]) -> Vec<(String, String)> {
    specs
        .iter()
        .map(|s| {
            let dims: Vec<String> = s
                .shape
                .iter()
                .map(|d| match d {
                    Dim::Fixed(n) => n.to_string(),
                    Dim::Dynamic => "?".to_string(),
                })
                .collect();
            (
                s.name.to_string(),
                format!("{}[{}]", s.element, dims.join(", ")),
            )
        })
        .collect()
}

#[test]
fn every_model_declares_the_inputs_and_outputs_in_the_registry() {
    for model in ModelId::ALL {
        let session = runtime::load(model).unwrap_or_else(|e| panic!("{model}: {e}"));
        let info = model.info();
        assert_eq!(
            declared(session.inputs()),
            registered(info.inputs),
            "{model}: inputs"
        );
        assert_eq!(
            declared(session.outputs()),
            registered(info.outputs),
            "{model}: outputs"
        );
    }
}

#[test]
fn installed_runtime_and_models_match_their_pins() {
    let installed = runtime::installed();
    assert!(
        RUNTIME.sha256_here().is_some(),
        "no pinned runtime for {}",
        std::env::consts::ARCH
    );
    assert_eq!(
        installed.runtime.status,
        FileStatus::Ok,
        "{:?}",
        installed.runtime
    );
    for status in &installed.models {
        assert_eq!(status.status, FileStatus::Ok, "{:?}", status);
        let path = status.path.as_ref().expect("a path");
        assert_eq!(
            std::fs::metadata(path).unwrap().len(),
            status.model.info().size,
            "{}",
            status.model
        );
    }
    assert!(installed.all_ok());
}

#[test]
fn the_runtime_loads_from_the_located_library() {
    let loaded = runtime::init().expect("runtime loads");
    assert_eq!(loaded, runtime::locate_runtime().unwrap());
}
