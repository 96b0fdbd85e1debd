//! Finding the ffmpeg binary and running it as a child process.
//!
//! ffmpeg is never linked: a crash or a hang in a decoder must cost one child process, not the
//! Lambda or the server. Every run has a timeout, and the child is killed when its future is
//! dropped.

use std::ffi::OsStr;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::process::Command;

/// The environment variable that names the ffmpeg binary to use, overriding every other place.
pub const FFMPEG_ENV: &str = "MVIDARR_FFMPEG";

/// Where a Lambda layer puts the binary (layers are mounted at `/opt`).
pub const LAMBDA_LAYER_FFMPEG: &str = "/opt/bin/ffmpeg";

/// Where `layers/fetch-ffmpeg.sh` puts the binary, relative to the repository root.
pub const DIST_FFMPEG: &str = "layers/dist/bin/ffmpeg";

/// A directory that does not exist, handed to ffmpeg as `GCONV_PATH`.
///
/// The pinned static ffmpeg carries its own old glibc. When iconv needs a converter that is not
/// built in (the MPEG-TS demuxer asks for ISO-6937 to read DVB service names), that glibc
/// `dlopen`s the host's gconv module, built for a newer glibc, and jumps into garbage: SIGSEGV
/// on every `.ts` file on a Debian 13 host. With `GCONV_PATH` set, glibc skips the
/// `gconv-modules.cache` and reads only the plain `gconv-modules` file, which on glibc >= 2.34
/// hosts lists just the built-in converters, so iconv fails cleanly and ffmpeg falls back. For
/// a dynamically linked ffmpeg the variable is harmless (same converters, found without cache).
const NO_GCONV_PATH: &str = "/nonexistent/mvidarr-no-gconv";

/// Write `script` as an executable file at `path`: a stand-in for ffmpeg in tests. Written by
/// a child process: had this process written it, a test forking on another thread at that
/// moment would inherit the open file, and running the script would fail with ETXTBSY ("Text
/// file busy") until that child had exec'd.
pub fn write_script(path: &Path, script: &str) -> io::Result<()> {
    use std::io::Write as _;
    let mut child = std::process::Command::new("sh")
        .args(["-c", r#"cat > "$1" && chmod 755 "$1""#, "sh"])
        .arg(path)
        .stdin(Stdio::piped())
        .spawn()?;
    let written = child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(script.as_bytes());
    let status = child.wait()?;
    written?;
    if status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "writing {} failed: {status}",
            path.display()
        )))
    }
}

/// An ffmpeg binary, by path. Cheap to clone; nothing is checked until it is run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ffmpeg {
    path: PathBuf,
}

/// Why no ffmpeg binary was found.
#[derive(Debug, thiserror::Error)]
pub enum LocateError {
    #[error("{FFMPEG_ENV} is set to {path:?}, but there is no file there")]
    EnvPathMissing { path: PathBuf },
    #[error(
        "ffmpeg not found (looked at {}); run `bash layers/fetch-ffmpeg.sh` from the repository, or set {FFMPEG_ENV} to an ffmpeg binary",
        .tried.join(", ")
    )]
    NotFound {
        /// The places looked at, as sentences for the message.
        tried: Vec<String>,
    },
}

/// Why running ffmpeg did not produce an exit status.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("could not start ffmpeg at {path:?}: {source}")]
    Spawn {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("ffmpeg did not finish within {timeout:?} and was killed")]
    TimedOut { timeout: Duration },
    #[error("reading ffmpeg's output failed: {0}")]
    Io(#[source] io::Error),
}

/// What a finished ffmpeg run left behind.
#[derive(Debug, Clone)]
pub struct FfmpegOutput {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    /// Decoded lossily: ffmpeg prints file names and metadata as raw bytes.
    pub stderr: String,
}

impl FfmpegOutput {
    /// The last lines ffmpeg logged, newest first, joined by ` | `: what a failure message
    /// quotes.
    pub fn stderr_tail(&self) -> String {
        self.stderr
            .lines()
            .rev()
            .take(5)
            .collect::<Vec<_>>()
            .join(" | ")
    }

    /// The signal that killed ffmpeg, if one did.
    pub fn signal(&self) -> Option<i32> {
        use std::os::unix::process::ExitStatusExt;
        self.status.signal()
    }
}

impl Ffmpeg {
    /// An ffmpeg at this path. It is not checked: a wrong path shows up as [`RunError::Spawn`].
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Find ffmpeg: `$MVIDARR_FFMPEG` if set (it must exist), else `/opt/bin/ffmpeg` (a Lambda
    /// layer), else `layers/dist/bin/ffmpeg` in the current directory or one of its ancestors,
    /// else the same above the running executable's directory.
    pub fn locate() -> Result<Ffmpeg, LocateError> {
        let exe_dir = std::env::current_exe()
            .ok()
            .and_then(|exe| exe.parent().map(Path::to_path_buf));
        locate_in(&SearchPlaces {
            env_override: std::env::var_os(FFMPEG_ENV).map(PathBuf::from),
            lambda_layer: PathBuf::from(LAMBDA_LAYER_FFMPEG),
            current_dir: std::env::current_dir().ok(),
            exe_dir,
        })
    }

    /// A command for this ffmpeg with the arguments every run wants (`-nostdin -hide_banner`),
    /// stdin closed, stdout and stderr piped, and the child killed if the handle is dropped.
    pub fn command(&self) -> Command {
        let mut command = Command::new(&self.path);
        command
            .arg("-nostdin")
            .arg("-hide_banner")
            .env("GCONV_PATH", NO_GCONV_PATH)
            // The log is parsed: keep it free of colour escapes whatever the environment says.
            .env("AV_LOG_FORCE_NOCOLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        command
    }

    /// Run ffmpeg with `args` (after `-nostdin -hide_banner`) and collect its output. A run
    /// still going after `timeout` is killed. A non-zero exit is not an error here: callers
    /// decide what it means.
    pub async fn run<I, S>(&self, args: I, timeout: Duration) -> Result<FfmpegOutput, RunError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut command = self.command();
        command.args(args);
        let mut child = command.spawn().map_err(|source| RunError::Spawn {
            path: self.path.clone(),
            source,
        })?;
        let (stdout, stderr) = (child.stdout.take(), child.stderr.take());
        let run =
            async { tokio::try_join!(read_capped(stdout), read_capped(stderr), child.wait()) };
        // On timeout the future is dropped; `child` is dropped when this function returns,
        // and `kill_on_drop` kills the process.
        let (stdout, stderr, status) = tokio::time::timeout(timeout, run)
            .await
            .map_err(|_| RunError::TimedOut { timeout })?
            .map_err(RunError::Io)?;
        Ok(FfmpegOutput {
            status,
            stdout,
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
        })
    }
}

/// The most of each output stream kept. ffmpeg's description of even a long, richly tagged
/// file is a few KiB; a crafted file (say, a million chapters) must not grow it without bound.
pub const MAX_OUTPUT_BYTES: u64 = 1 << 20;

/// Read a stream to its end, keeping its first [`MAX_OUTPUT_BYTES`] and discarding the rest
/// (still reading, so the child never blocks on a full pipe).
async fn read_capped<R: tokio::io::AsyncRead + Unpin>(
    stream: Option<R>,
) -> std::io::Result<Vec<u8>> {
    use tokio::io::AsyncReadExt;
    let mut kept = Vec::new();
    let Some(mut stream) = stream else {
        return Ok(kept);
    };
    (&mut stream)
        .take(MAX_OUTPUT_BYTES)
        .read_to_end(&mut kept)
        .await?;
    tokio::io::copy(&mut stream, &mut tokio::io::sink()).await?;
    Ok(kept)
}

/// Where [`Ffmpeg::locate`] looks, gathered up front so the search itself can be tested.
#[derive(Debug, Clone, Default)]
pub(crate) struct SearchPlaces {
    pub env_override: Option<PathBuf>,
    pub lambda_layer: PathBuf,
    pub current_dir: Option<PathBuf>,
    pub exe_dir: Option<PathBuf>,
}

pub(crate) fn locate_in(places: &SearchPlaces) -> Result<Ffmpeg, LocateError> {
    if let Some(path) = &places.env_override {
        return if path.is_file() {
            Ok(Ffmpeg::new(path))
        } else {
            Err(LocateError::EnvPathMissing { path: path.clone() })
        };
    }
    let mut tried = vec![places.lambda_layer.display().to_string()];
    if places.lambda_layer.is_file() {
        return Ok(Ffmpeg::new(&places.lambda_layer));
    }
    for start in [&places.current_dir, &places.exe_dir].into_iter().flatten() {
        for dir in start.ancestors() {
            let candidate = dir.join(DIST_FFMPEG);
            if candidate.is_file() {
                return Ok(Ffmpeg::new(candidate));
            }
        }
        tried.push(format!("{DIST_FFMPEG} in {} and above", start.display()));
    }
    Err(LocateError::NotFound { tried })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(path: &Path) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, b"#!/bin/sh\n").unwrap();
    }

    #[test]
    fn env_override_wins_and_must_exist() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("my-ffmpeg");
        touch(&bin);
        let places = SearchPlaces {
            env_override: Some(bin.clone()),
            lambda_layer: dir.path().join("opt/bin/ffmpeg"),
            ..Default::default()
        };
        assert_eq!(locate_in(&places).unwrap().path(), bin);

        let places = SearchPlaces {
            env_override: Some(dir.path().join("missing")),
            ..places
        };
        let err = locate_in(&places).unwrap_err();
        assert!(matches!(err, LocateError::EnvPathMissing { .. }), "{err}");
        assert!(err.to_string().contains(FFMPEG_ENV));
    }

    #[test]
    fn lambda_layer_before_dist() {
        let dir = tempfile::tempdir().unwrap();
        let layer = dir.path().join("opt/bin/ffmpeg");
        touch(&layer);
        touch(&dir.path().join(DIST_FFMPEG));
        let places = SearchPlaces {
            lambda_layer: layer.clone(),
            current_dir: Some(dir.path().to_path_buf()),
            ..Default::default()
        };
        assert_eq!(locate_in(&places).unwrap().path(), layer);
    }

    #[test]
    fn walks_up_from_current_dir_then_exe_dir() {
        let repo = tempfile::tempdir().unwrap();
        let dist = repo.path().join(DIST_FFMPEG);
        touch(&dist);
        let deep = repo.path().join("shared/media/src");
        std::fs::create_dir_all(&deep).unwrap();
        let elsewhere = tempfile::tempdir().unwrap();

        let from_cwd = SearchPlaces {
            lambda_layer: elsewhere.path().join("none"),
            current_dir: Some(deep.clone()),
            exe_dir: Some(elsewhere.path().to_path_buf()),
            ..Default::default()
        };
        assert_eq!(locate_in(&from_cwd).unwrap().path(), dist);

        let from_exe = SearchPlaces {
            current_dir: Some(elsewhere.path().to_path_buf()),
            exe_dir: Some(deep),
            ..from_cwd
        };
        assert_eq!(locate_in(&from_exe).unwrap().path(), dist);
    }

    #[test]
    fn not_found_says_what_to_do() {
        let empty = tempfile::tempdir().unwrap();
        let places = SearchPlaces {
            lambda_layer: empty.path().join("opt/bin/ffmpeg"),
            current_dir: Some(empty.path().to_path_buf()),
            ..Default::default()
        };
        let message = locate_in(&places).unwrap_err().to_string();
        assert!(message.contains("layers/fetch-ffmpeg.sh"), "{message}");
        assert!(message.contains(FFMPEG_ENV), "{message}");
        assert!(message.contains("opt/bin/ffmpeg"), "{message}");
        assert!(message.contains("layers/dist/bin/ffmpeg in /"), "{message}");
    }

    #[tokio::test]
    async fn output_beyond_the_cap_is_read_and_dropped_not_kept() {
        // A stand-in for ffmpeg that writes 3 MiB to stderr, as a crafted file could make
        // the real one do, then exits normally.
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("chatty-ffmpeg");
        write_script(
            &script,
            "#!/bin/sh\nhead -c 3145728 /dev/zero | tr '\\0' x >&2\necho done\n",
        )
        .unwrap();
        let out = Ffmpeg::new(&script)
            .run(["-i", "x"], Duration::from_secs(30))
            .await
            .unwrap();
        assert!(out.status.success());
        assert_eq!(out.stderr.len() as u64, MAX_OUTPUT_BYTES);
        assert_eq!(out.stdout, b"done\n");
    }
}
