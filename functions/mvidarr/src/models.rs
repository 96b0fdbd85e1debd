//! `mvidarr models`: what ONNX Runtime and which models this process would use, checked against
//! the registry (present, SHA-256), with each model's version, source wheel and licence.

use std::fmt::Write as _;
use std::process::ExitCode;

use mvidarr_ml::registry::{ModelId, RUNTIME};
use mvidarr_ml::runtime::{self, FileStatus, Installed};

#[derive(clap::Args, Debug)]
pub struct ModelsArgs {
    /// Also print each model's declared inputs and outputs.
    #[arg(long)]
    pub spec: bool,
}

/// Prints the report; exits non-zero when the runtime does not load or a model is missing or
/// differs from the registry.
pub fn run(args: &ModelsArgs) -> ExitCode {
    let installed = runtime::installed();
    // Hashing says the file is the pinned one; loading says this machine can use it.
    let loads = installed
        .runtime
        .path
        .is_ok()
        .then(|| runtime::init().map(|_| ()).map_err(|e| e.to_string()));
    print!("{}", report(&installed, loads.as_ref(), args.spec));
    let runtime_ok = installed.runtime.status.is_ok() && matches!(loads, Some(Ok(())));
    if runtime_ok && installed.all_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn status_text(status: &FileStatus) -> String {
    match status {
        FileStatus::Ok => "ok".to_string(),
        FileStatus::Missing => "missing".to_string(),
        FileStatus::Mismatch { .. } => "MISMATCH".to_string(),
        FileStatus::Unpinned { .. } => "unpinned".to_string(),
        FileStatus::Unreadable(e) => format!("unreadable ({e})"),
    }
}

/// The report as text (what `run` prints).
fn report(installed: &Installed, loads: Option<&Result<(), String>>, spec: bool) -> String {
    let mut out = String::new();
    let mut problems = Vec::new();

    let runtime = &installed.runtime;
    let version = match runtime.status {
        FileStatus::Ok => RUNTIME.version.to_string(),
        FileStatus::Missing => format!("{} (pinned)", RUNTIME.version),
        _ => "of unknown version (not the pinned build)".to_string(),
    };
    let _ = writeln!(
        out,
        "runtime  {} {version}  {}=={}  {}  sha-256 {}",
        RUNTIME.name,
        RUNTIME.source.package,
        RUNTIME.source.version,
        RUNTIME.licence,
        status_text(&runtime.status),
    );
    match (&runtime.path, loads) {
        (Ok(path), Some(Ok(()))) => {
            let _ = writeln!(out, "         {} (loads)", path.display());
        }
        (Ok(path), Some(Err(e))) => {
            let _ = writeln!(out, "         {} (does not load)", path.display());
            problems.push(format!("runtime: {e}"));
        }
        (Ok(path), None) => {
            let _ = writeln!(out, "         {}", path.display());
        }
        (Err(e), _) => {
            let _ = writeln!(out, "         not found");
            problems.push(format!("runtime: {e}"));
        }
    }
    match &runtime.status {
        FileStatus::Mismatch { expected, got } => {
            problems.push(format!("runtime: SHA-256 expected {expected}, got {got}"));
        }
        FileStatus::Unpinned { got } => problems.push(format!(
            "runtime: no pinned SHA-256 for {}, got {got}",
            std::env::consts::ARCH
        )),
        FileStatus::Unreadable(e) => problems.push(format!("runtime: unreadable: {e}")),
        FileStatus::Ok | FileStatus::Missing => {}
    }
    match &installed.models_dir {
        Ok(dir) => {
            let _ = writeln!(out, "models   {}", dir.display());
        }
        Err(e) => {
            let _ = writeln!(out, "models   not found");
            problems.push(format!("models: {e}"));
        }
    }
    let _ = writeln!(out);

    let header = ["MODEL", "VERSION", "SOURCE", "LICENCE", "SHA-256", "PATH"];
    let rows: Vec<[String; 6]> = installed
        .models
        .iter()
        .map(|m| {
            let info = m.model.info();
            [
                info.name.to_string(),
                info.version.to_string(),
                info.source.to_string(),
                info.licence.to_string(),
                status_text(&m.status),
                m.path
                    .as_ref()
                    .map_or_else(|| "-".to_string(), |p| p.display().to_string()),
            ]
        })
        .collect();
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            rows.iter()
                .map(|r| r[i].chars().count())
                .chain([header[i].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: &[&str]| {
        let mut text = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                text.push_str(cell);
            } else {
                let _ = write!(text, "{cell:<width$}  ", width = widths[i]);
            }
        }
        text
    };
    let _ = writeln!(out, "{}", line(&header));
    for (row, status) in rows.iter().zip(&installed.models) {
        let cells: Vec<&str> = row.iter().map(String::as_str).collect();
        let _ = writeln!(out, "{}", line(&cells));
        if spec {
            let info = status.model.info();
            for input in info.inputs {
                let _ = writeln!(out, "    in   {input}");
            }
            for output in info.outputs {
                let _ = writeln!(out, "    out  {output}");
            }
        }
        describe_problem(status.model, &status.status, &mut problems);
    }

    let ok = installed.models.iter().filter(|m| m.status.is_ok()).count();
    let _ = writeln!(out);
    if problems.is_empty() {
        let _ = writeln!(out, "{ok} of {} models ok", installed.models.len());
    } else {
        let _ = writeln!(
            out,
            "{ok} of {} models ok; problems (fix: bash layers/fetch-models.sh):",
            installed.models.len()
        );
        for problem in problems {
            let _ = writeln!(out, "  {problem}");
        }
    }
    out
}

fn describe_problem(model: ModelId, status: &FileStatus, problems: &mut Vec<String>) {
    let file = model.file_name();
    match status {
        FileStatus::Ok => {}
        FileStatus::Missing => problems.push(format!("{file}: missing")),
        FileStatus::Mismatch { expected, got } => {
            problems.push(format!("{file}: SHA-256 expected {expected}, got {got}"))
        }
        FileStatus::Unpinned { got } => problems.push(format!("{file}: unpinned, SHA-256 {got}")),
        FileStatus::Unreadable(e) => problems.push(format!("{file}: unreadable: {e}")),
    }
}
