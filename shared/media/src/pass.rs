//! One ffmpeg run that decodes the input once and feeds several consumers at the same time.
//!
//! Decoding is the expensive part of analysis, so every analyzer reads from the same decode:
//! ffmpeg's filter graph splits the decoded streams into the shapes each consumer wants (tiny
//! frames for every frame, larger frames a few times a second, PCM at two rates…), and each
//! shape leaves ffmpeg as its own raw output. The first goes to stdout; the others go to Unix
//! sockets in a private temporary directory, which ffmpeg connects to (`unix://path`). Each
//! consumer runs on its own blocking thread and reads its stream to the end, so ffmpeg never
//! waits on a consumer that waits on another one. A consumer that gives up early keeps draining
//! its stream: one analyzer failing must not stall or kill the others.

use std::io::Read;
use std::path::PathBuf;
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::net::UnixListener;
use tracing::{debug, warn};

use crate::ffmpeg::{Ffmpeg, MAX_OUTPUT_BYTES, RunError};

/// Reads one raw output of the pass to its end. Returning early is allowed: the pass drains
/// what is left so ffmpeg can go on with the other outputs.
pub type Consumer = Box<dyn FnOnce(&mut dyn Read) + Send + 'static>;

/// One output of the pass: its ffmpeg options (`-map`, `-f`, codec…) and who reads it.
pub struct Output {
    /// Everything between the inputs and the output URL, e.g. `["-map", "[small]", "-f", "rawvideo"]`.
    pub options: Vec<String>,
    pub consumer: Consumer,
}

/// A pass over one input.
pub struct Pass {
    /// Options placed before `-i` (e.g. `-skip_frame`); usually empty.
    pub input_options: Vec<String>,
    /// The input, as ffmpeg takes it (a path or a loopback URL).
    pub input: String,
    /// `-filter_complex` graph naming the labelled streams the outputs map, if any.
    pub filter_graph: Option<String>,
    pub outputs: Vec<Output>,
    /// Extra outputs written to files in the pass's directory, by file name, for muxers whose
    /// result is small and only complete at the end (the chromaprint fingerprint).
    pub file_outputs: Vec<(Vec<String>, String)>,
    pub timeout: Duration,
}

/// How a pass ended.
#[derive(Debug)]
pub struct PassReport {
    /// ffmpeg's exit code (`None` if killed by a signal).
    pub exit_code: Option<i32>,
    /// ffmpeg's log (`-loglevel level+info`: every line tagged `[info]`, `[error]`…), capped at [`MAX_OUTPUT_BYTES`].
    pub log: String,
    /// The contents of each file output, by file name, if ffmpeg wrote it.
    pub files: Vec<(String, Option<Vec<u8>>)>,
}

impl PassReport {
    pub fn succeeded(&self) -> bool {
        self.exit_code == Some(0)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PassError {
    #[error("could not run ffmpeg: {0}")]
    Run(#[from] RunError),
    #[error("the pass's temporary directory: {0}")]
    TempDir(std::io::Error),
    #[error("a consumer thread panicked")]
    ConsumerPanicked,
}

impl Pass {
    /// Run ffmpeg and every consumer to the end.
    pub async fn run(self, ffmpeg: &Ffmpeg) -> Result<PassReport, PassError> {
        let dir = tempfile::Builder::new()
            .prefix("mvidarr-pass-")
            .tempdir()
            .map_err(PassError::TempDir)?;
        let mut args: Vec<String> =
            vec!["-nostats".into(), "-loglevel".into(), "level+info".into()];
        args.extend(self.input_options);
        args.extend(["-i".into(), self.input]);
        if let Some(graph) = self.filter_graph {
            args.extend(["-filter_complex".into(), graph]);
        }
        let mut stdout_consumer = None;
        let mut socket_consumers = Vec::new();
        for (index, output) in self.outputs.into_iter().enumerate() {
            args.extend(output.options);
            if index == 0 {
                args.extend(["-y".into(), "pipe:1".into()]);
                stdout_consumer = Some(output.consumer);
            } else {
                let path = dir.path().join(format!("{index}.sock"));
                let listener = UnixListener::bind(&path).map_err(PassError::TempDir)?;
                args.extend(["-y".into(), format!("unix://{}", path.display())]);
                socket_consumers.push((listener, output.consumer));
            }
        }
        let mut file_paths: Vec<(String, PathBuf)> = Vec::new();
        for (options, name) in self.file_outputs {
            let path = dir.path().join(&name);
            args.extend(options);
            args.extend(["-y".into(), path.display().to_string()]);
            file_paths.push((name, path));
        }
        debug!(?args, "ffmpeg pass");

        let mut command = ffmpeg.command();
        command.args(&args);
        let mut child = command.spawn().map_err(|source| RunError::Spawn {
            path: ffmpeg.path().to_path_buf(),
            source,
        })?;
        let stdout = child.stdout.take();
        let mut stderr = child.stderr.take();

        let mut consumers = Vec::new();
        if let (Some(stdout), Some(consumer)) = (stdout, stdout_consumer) {
            // The child's stdout as a blocking reader for the consumer thread.
            let fd = stdout.into_owned_fd().map_err(PassError::TempDir)?;
            let file = std::fs::File::from(fd);
            consumers.push(tokio::task::spawn_blocking(move || {
                consume_and_drain(consumer, file)
            }));
        }
        // Set once ffmpeg has exited: a socket it never connected to is then given up.
        let (exited_tx, exited_rx) = tokio::sync::watch::channel(false);
        for (listener, consumer) in socket_consumers {
            let mut exited = exited_rx.clone();
            consumers.push(tokio::spawn(async move {
                let accepted = tokio::select! {
                    // Biased: a connection made before ffmpeg exited is still taken.
                    biased;
                    accepted = listener.accept() => accepted,
                    _ = exited.wait_for(|exited| *exited) => return,
                };
                let Ok(stream) = accepted.and_then(|(stream, _)| stream.into_std()) else {
                    return;
                };
                if stream.set_nonblocking(false).is_err() {
                    return;
                }
                let consumed =
                    tokio::task::spawn_blocking(move || consume_and_drain(consumer, stream)).await;
                if let Err(e) = consumed
                    && e.is_panic()
                {
                    std::panic::resume_unwind(e.into_panic());
                }
            }));
        }

        let log = async {
            let mut kept = Vec::new();
            if let Some(stderr) = stderr.as_mut() {
                let _ = stderr.take(MAX_OUTPUT_BYTES).read_to_end(&mut kept).await;
                let _ = tokio::io::copy(stderr, &mut tokio::io::sink()).await;
            }
            String::from_utf8_lossy(&kept).into_owned()
        };
        let waited = tokio::time::timeout(self.timeout, async {
            let (log, status) = tokio::join!(log, child.wait());
            (log, status)
        })
        .await;
        let (log, status) = match waited {
            Ok((log, status)) => (log, status.map_err(RunError::Io)?),
            Err(_) => {
                let _ = child.kill().await;
                for consumer in &consumers {
                    consumer.abort();
                }
                return Err(RunError::TimedOut {
                    timeout: self.timeout,
                }
                .into());
            }
        };
        // ffmpeg has exited: every output it opened is closed, so each consumer reads to its
        // end and finishes; a socket it never connected to is given up.
        let _ = exited_tx.send(true);
        for consumer in consumers {
            if let Err(e) = consumer.await
                && e.is_panic()
            {
                return Err(PassError::ConsumerPanicked);
            }
        }
        let files = file_paths
            .into_iter()
            .map(|(name, path)| (name, std::fs::read(path).ok()))
            .collect();
        if !status.success() {
            warn!(code = ?status.code(), "ffmpeg pass exited unsuccessfully");
        }
        Ok(PassReport {
            exit_code: status.code(),
            log,
            files,
        })
    }
}

/// Run `consumer` on `reader`, then read whatever it left so the writer never blocks — also
/// after a panic, which is re-raised once the stream is drained (the other consumers go on).
fn consume_and_drain(consumer: Consumer, mut reader: impl Read) {
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| consumer(&mut reader)));
    let _ = std::io::copy(&mut reader, &mut std::io::sink());
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}
