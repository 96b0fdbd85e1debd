//! The data directory's ownership: one `mvidarr serve` at a time. SQLite alone would let two
//! processes share the database, but the blob store's temp files, lease recovery at startup
//! and the bootstrap key all assume one owner, so a second server refuses to start.

use std::fs::File;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

/// Held for the life of the process; dropping it releases the lock.
pub struct DataDirLock {
    _file: File,
    info_path: PathBuf,
}

/// What a running server advertises to other commands (`mvidarr ingest`).
#[derive(Debug, Serialize, Deserialize)]
pub struct ServerInfo {
    pub pid: u32,
    pub url: String,
}

pub fn server_info_path(dir: &Path) -> PathBuf {
    dir.join("serve.json")
}

pub fn lock(dir: &Path) -> anyhow::Result<DataDirLock> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("creating data directory {}", dir.display()))?;
    let path = dir.join("lock");
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    if file.try_lock().is_err() {
        let owner = read_server_info(dir)
            .map(|i| format!(" (pid {}, serving {})", i.pid, i.url))
            .unwrap_or_default();
        bail!(
            "data directory {} is in use by another mvidarr process{owner}; stop it, or use another --data",
            dir.display()
        );
    }
    Ok(DataDirLock {
        _file: file,
        info_path: server_info_path(dir),
    })
}

/// Whether some process holds the data directory right now.
pub fn is_locked(dir: &Path) -> bool {
    match File::options().write(true).open(dir.join("lock")) {
        Ok(f) => f.try_lock().is_err(),
        Err(_) => false,
    }
}

impl DataDirLock {
    pub fn advertise(&self, url: &str) -> anyhow::Result<()> {
        let info = ServerInfo {
            pid: std::process::id(),
            url: url.to_owned(),
        };
        std::fs::write(&self.info_path, serde_json::to_vec(&info)?).context("writing serve.json")
    }
}

impl Drop for DataDirLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.info_path);
    }
}

pub fn read_server_info(dir: &Path) -> Option<ServerInfo> {
    serde_json::from_slice(&std::fs::read(server_info_path(dir)).ok()?).ok()
}
