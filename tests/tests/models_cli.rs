//! `mvidarr models`, the built binary: lists the runtime and every registry model from
//! `layers/dist` (fetched by `layers/fetch-models.sh`), and exits non-zero, naming the problem,
//! when a model is missing or is not the pinned file, or when no runtime is found.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is in the repository")
        .to_path_buf()
}

/// The debug `mvidarr` binary, built once per test process (cargo builds another package's
/// binaries only for that package's tests; an old binary would test old code). `--workspace`
/// as scripts/test.sh builds: `-p` would resolve features anew and rebuild dependencies.
fn mvidarr() -> &'static Path {
    static BINARY: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let binary = BINARY.get_or_init(|| {
        // This test runs as <target>/debug/deps/models_cli-<hash>.
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .ok_or_else(|| format!("unexpected test binary path {}", exe.display()))?;
        let target_dir = profile_dir.parent().ok_or("no target directory")?;
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let output = Command::new(cargo)
            .current_dir(repo_root())
            .env("CARGO_TARGET_DIR", target_dir)
            .args(["build", "--quiet", "--workspace", "--bins"])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("running cargo build: {e}"))?;
        if !output.status.success() {
            return Err(format!(
                "cargo build failed:\n{}",
                String::from_utf8_lossy(&output.stderr)
            ));
        }
        Ok(profile_dir.join("mvidarr"))
    });
    binary.as_deref().unwrap_or_else(|e| panic!("{e}"))
}

/// Runs `mvidarr models` in `dir` with the model/runtime overrides cleared, then `env` set.
fn models(dir: &Path, env: &[(&str, &Path)]) -> (Output, String) {
    let mut command = Command::new(mvidarr());
    command
        .arg("models")
        .current_dir(dir)
        .env_remove("ORT_DYLIB_PATH")
        .env_remove("MVIDARR_MODELS")
        .env("MVIDARR_LOG", "warn")
        .stdin(Stdio::null());
    for (name, value) in env {
        command.env(name, value);
    }
    let output = command.output().expect("mvidarr runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    (output, stdout)
}

const MODELS: [(&str, &str, &str, &str); 5] = [
    (
        "ppocr-det-v4.onnx",
        "PP-OCRv4 text detection",
        "rapidocr-onnxruntime==1.4.4",
        "Apache-2.0",
    ),
    (
        "ppocr-rec-v4.onnx",
        "PP-OCRv4 text recognition",
        "rapidocr-onnxruntime==1.4.4",
        "Apache-2.0",
    ),
    (
        "ppocr-cls-v2.onnx",
        "PP-OCR text direction classifier",
        "rapidocr-onnxruntime==1.4.4",
        "Apache-2.0",
    ),
    ("silero-vad.onnx", "Silero VAD", "silero-vad==6.2.3", "MIT"),
    (
        "nudenet-320n.onnx",
        "NudeNet 320n detector",
        "nudenet==3.4.2",
        "AGPL-3.0",
    ),
];

fn line_of<'a>(stdout: &'a str, file: &str) -> &'a str {
    stdout
        .lines()
        .find(|l| l.trim_end().ends_with(file))
        .unwrap_or_else(|| panic!("no line for {file} in:\n{stdout}"))
}

#[test]
fn lists_the_runtime_and_every_model_from_the_repository() {
    let root = repo_root();
    let (output, stdout) = models(&root, &[]);
    assert!(output.status.success(), "{stdout}");

    let runtime = root.join("layers/dist/lib/libonnxruntime.so");
    assert!(
        stdout.contains("ONNX Runtime 1.31.1  onnxruntime==1.31.1  MIT  sha-256 ok"),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("{} (loads)", runtime.display())),
        "{stdout}"
    );
    for (file, name, source, licence) in MODELS {
        let line = line_of(&stdout, file);
        for part in [name, source, licence, " ok "] {
            assert!(
                line.contains(part),
                "{file}: {part:?} missing from {line:?}"
            );
        }
        let path = root.join("layers/dist/models").join(file);
        assert!(line.ends_with(&path.display().to_string()), "{line}");
    }
    assert!(stdout.contains("5 of 5 models ok"), "{stdout}");
}

#[test]
fn a_tampered_or_missing_model_fails_with_both_hashes() {
    let dir = tempfile::tempdir().unwrap();
    let models_dir = dir.path().join("models");
    std::fs::create_dir(&models_dir).unwrap();
    let dist = repo_root().join("layers/dist/models");
    // Three good copies, one changed byte, one absent.
    for (file, ..) in &MODELS[..3] {
        std::fs::copy(dist.join(file), models_dir.join(file)).unwrap();
    }
    let mut silero = std::fs::read(dist.join("silero-vad.onnx")).unwrap();
    let last = silero.len() - 1;
    silero[last] ^= 0xff;
    std::fs::write(models_dir.join("silero-vad.onnx"), &silero).unwrap();

    let (output, stdout) = models(&repo_root(), &[("MVIDARR_MODELS", &models_dir)]);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(
        line_of(&stdout, "ppocr-det-v4.onnx").contains(" ok "),
        "{stdout}"
    );
    assert!(
        line_of(&stdout, "silero-vad.onnx").contains("MISMATCH"),
        "{stdout}"
    );
    assert!(
        line_of(&stdout, "nudenet-320n.onnx").contains("missing"),
        "{stdout}"
    );
    assert!(stdout.contains("3 of 5 models ok"), "{stdout}");
    let problem = stdout
        .lines()
        .find(|l| {
            l.trim_start()
                .starts_with("silero-vad.onnx: SHA-256 expected")
        })
        .unwrap_or_else(|| panic!("no mismatch detail:\n{stdout}"));
    assert!(
        problem.contains("1a153a22f4509e292a94e67d6f9b85e8deb25b4988682b7e174c65279d8788e3"),
        "the pinned hash: {problem}"
    );
    assert!(stdout.contains("nudenet-320n.onnx: missing"), "{stdout}");
}

#[test]
fn no_runtime_or_models_outside_the_repository_is_a_failure_that_says_where_it_looked() {
    let dir = tempfile::tempdir().unwrap();
    let (output, stdout) = models(dir.path(), &[]);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("0 of 5 models ok"), "{stdout}");
    assert!(stdout.contains("/opt/lib/libonnxruntime.so"), "{stdout}");
    assert!(stdout.contains("ORT_DYLIB_PATH"), "{stdout}");
    assert!(stdout.contains("MVIDARR_MODELS"), "{stdout}");

    // An override that names nothing is reported as such, not searched past.
    let missing = dir.path().join("nope.so");
    let (output, stdout) = models(&repo_root(), &[("ORT_DYLIB_PATH", &missing)]);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains(&format!("ORT_DYLIB_PATH is set to {:?}", missing)),
        "{stdout}"
    );
}
