//! Probing: what is in a media file, and can its first video frame be decoded.
//!
//! One ffmpeg run does both. It opens the input (printing the description that
//! [`parse_input_description`] reads), maps the first real video stream to the null muxer and
//! stops after one decoded frame, so a file whose headers parse but whose video does not decode
//! is caught at upload time, and a long file costs no more than a short one.

mod parse;

use std::time::{Duration, Instant};

use mvidarr_core::analysis::Probe;
use tracing::Instrument;

use crate::ffmpeg::{Ffmpeg, FfmpegOutput, RunError};

pub use parse::{ParseError, channel_count, parse_input_description};

/// Why a probe gave no [`Probe`].
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// ffmpeg ran and refused the input. Retrying will not help; the reason is fit to show the
    /// tenant (the input's path or URL is removed).
    #[error("ffmpeg cannot read the input: {reason}")]
    Unreadable { reason: String },
    /// ffmpeg could not be started, was killed by a signal, timed out, or met a network error
    /// on a URL input. A retry may help.
    #[error("probe failed, a retry may help: {reason}")]
    Transient { reason: String },
    /// ffmpeg succeeded but its description could not be parsed: a bug here, or a new ffmpeg.
    #[error("ffmpeg's description of the input could not be parsed: {0}")]
    Parse(#[from] ParseError),
}

impl ProbeError {
    /// Whether trying again later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, ProbeError::Transient { .. })
    }
}

/// The longest reason kept in [`ProbeError::Unreadable`] and [`ProbeError::Transient`].
pub const MAX_REASON_CHARS: usize = 300;

/// The arguments of the probe run, after `ffmpeg -nostdin -hide_banner`.
///
/// - `-nostats -progress pipe:1`: no progress chatter in stderr; machine-readable progress
///   (`frame=N`) on stdout instead, which tells whether a frame was decoded.
/// - `-map 0:V:0?`: the first video stream that is not cover art, if there is one.
/// - `-an -sn -dn`: with no video the optional map matches nothing, and these stop ffmpeg
///   from picking an audio stream to decode instead (it then refuses to open the output,
///   which [`probe`] recognises as "no video").
/// - `-threads 1` (an input option, so the decoder's): one frame gains nothing from frame
///   threads, which only delay the first output (measured 291 → 187 ms on a 4K HEVC file).
/// - `-frames:v 1 -f null -`: decode one frame and discard it.
pub fn probe_args(ffmpeg_input: &str) -> Vec<String> {
    [
        "-nostats",
        "-progress",
        "pipe:1",
        "-threads",
        "1",
        "-i",
        ffmpeg_input,
        "-map",
        "0:V:0?",
        "-an",
        "-sn",
        "-dn",
        "-frames:v",
        "1",
        "-f",
        "null",
        "-",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect()
}

/// Describe `input` (a file path or a URL) and check that its first video frame decodes.
///
/// A file with no video stream is not an error here: it probes with `video` empty, and the
/// caller decides (uploads reject it as `NoVideo`).
pub async fn probe(ffmpeg: &Ffmpeg, input: &str, timeout: Duration) -> Result<Probe, ProbeError> {
    let span = tracing::info_span!(
        "probe",
        input = %redact_url(input),
        timeout_ms = timeout.as_millis() as u64
    );
    async move {
        let started = Instant::now();
        let ffmpeg_input = ffmpeg_input(input);
        let run = ffmpeg.run(probe_args(&ffmpeg_input), timeout).await;
        let result = interpret(run, input, &ffmpeg_input);
        let elapsed_ms = started.elapsed().as_millis() as u64;
        match &result {
            Ok(probe) => tracing::debug!(
                elapsed_ms,
                container = %probe.container,
                duration_seconds = ?probe.duration_seconds,
                video_streams = probe.video.len(),
                audio_streams = probe.audio.len(),
                "probed"
            ),
            Err(error) => tracing::info!(elapsed_ms, %error, "probe failed"),
        }
        result
    }
    .instrument(span)
    .await
}

/// Local paths get a `file:` prefix so a name like `Artist: Title.mp4` or `pipe:1` is never
/// taken for a protocol.
fn ffmpeg_input(input: &str) -> String {
    if input.contains("://") {
        input.to_owned()
    } else {
        format!("file:{input}")
    }
}

/// A URL without its query string (presigned URLs carry credentials there), for logs.
fn redact_url(input: &str) -> &str {
    match input.find('?') {
        Some(query) if input.contains("://") => &input[..query],
        _ => input,
    }
}

/// Turn a finished (or failed) run into the probe's answer.
fn interpret(
    run: Result<FfmpegOutput, RunError>,
    input: &str,
    ffmpeg_input: &str,
) -> Result<Probe, ProbeError> {
    let output = run.map_err(|error| ProbeError::Transient {
        reason: error.to_string(),
    })?;
    if let Some(signal) = output.signal() {
        return Err(ProbeError::Transient {
            reason: format!(
                "ffmpeg was killed by signal {signal} ({})",
                signal_name(signal)
            ),
        });
    }
    let stderr = &output.stderr;
    if !output.status.success() {
        // Without video the null output has no stream and ffmpeg fails after describing the
        // input; that is a successful probe of a file with no video.
        if stderr.contains("Output file does not contain any stream")
            && let Ok(probe) = parse_input_description(stderr)
            && probe.video.is_empty()
        {
            return Ok(probe);
        }
        let reason = failure_reason(stderr, &[input, ffmpeg_input]);
        let reason = if reason.is_empty() {
            format!("ffmpeg exited with {}", output.status)
        } else {
            reason
        };
        return Err(if is_network_failure(stderr) {
            ProbeError::Transient { reason }
        } else {
            ProbeError::Unreadable { reason }
        });
    }
    let probe = parse_input_description(stderr)?;
    if !probe.video.is_empty() && decoded_frames(&output.stdout) == Some(0) {
        let details = failure_reason(stderr, &[input, ffmpeg_input]);
        let reason = if details.is_empty() {
            "the first video frame could not be decoded".to_owned()
        } else {
            format!("the first video frame could not be decoded: {details}")
        };
        return Err(ProbeError::Unreadable {
            reason: truncate_chars(&reason, MAX_REASON_CHARS),
        });
    }
    Ok(probe)
}

/// The last `frame=N` in ffmpeg's `-progress` output.
fn decoded_frames(progress: &[u8]) -> Option<u64> {
    String::from_utf8_lossy(progress)
        .lines()
        .filter_map(|line| line.trim().strip_prefix("frame="))
        .filter_map(|count| count.trim().parse().ok())
        .next_back()
}

/// Errors on a URL input that say the network, not the file, failed.
fn is_network_failure(stderr: &str) -> bool {
    const SIGNS: [&str; 7] = [
        "Connection refused",
        "Connection timed out",
        "Connection reset by peer",
        "Network is unreachable",
        "Temporary failure in name resolution",
        "Server returned 5XX",
        "Server returned 503",
    ];
    SIGNS.iter().any(|sign| stderr.contains(sign))
}

/// The error messages in ffmpeg's stderr, cleaned for a tenant to read: log prefixes
/// (`[mov,mp4,… @ 0x55…] `) and wrappers (`Error opening input: `) removed, the input's path
/// replaced by `input`, duplicates dropped, at most [`MAX_REASON_CHARS`] characters. When there
/// are many messages, the first (usually the cause) and the last two are kept.
pub fn failure_reason(stderr: &str, input_spellings: &[&str]) -> String {
    let mut messages: Vec<String> = Vec::new();
    let mut in_description = false;
    for line in stderr.lines() {
        let indent = line.len() - line.trim_start().len();
        let text = line.trim();
        if text.is_empty() {
            continue;
        }
        // Skip the input/output descriptions and the stream mapping: they are not errors.
        if text.starts_with("Input #") || text.starts_with("Output #") || text == "Stream mapping:"
        {
            in_description = true;
            continue;
        }
        if in_description && indent > 0 {
            continue;
        }
        in_description = false;
        let Some(message) = clean_message(text, input_spellings) else {
            continue;
        };
        if !messages.iter().any(|kept| kept.contains(&message)) {
            messages.push(message);
        }
    }
    let kept: Vec<&str> = if messages.len() > 3 {
        let last_two = &messages[messages.len() - 2..];
        std::iter::once(messages[0].as_str())
            .chain(std::iter::once("…"))
            .chain(last_two.iter().map(String::as_str))
            .collect()
    } else {
        messages.iter().map(String::as_str).collect()
    };
    truncate_chars(&kept.join("; ").replace("; …;", " …"), MAX_REASON_CHARS)
}

/// One stderr line as a message for the tenant, or None for lines that only repeat the input's
/// name, report progress, or wrap an error already said.
fn clean_message(line: &str, input_spellings: &[&str]) -> Option<String> {
    let mut text = line;
    // `[mov,mp4,m4a,3gp,3g2,mj2 @ 0x24bddec0] moov atom not found`, sometimes two deep:
    // `[vist#0:0/h264 @ 0x36] [dec:h264 @ 0x36] Error submitting packet to decoder: …`
    while text.starts_with('[')
        && let Some(end) = text.find("] ")
    {
        text = &text[end + 2..];
    }
    // ffmpeg 7's words for "the first frame did not decode" (exit code 69).
    if text.starts_with("Nothing was written into output file") {
        return Some("no video frame could be decoded".to_owned());
    }
    const NOISE: [&str; 9] = [
        "Error opening input file ",
        "Error opening output file ",
        "frame=",
        "size=",
        "video:",
        "Last message repeated",
        "Press [q]",
        "Conversion failed",
        "Terminating thread with return code",
    ];
    if NOISE.iter().any(|noise| text.starts_with(noise)) {
        return None;
    }
    for wrapper in [
        "Error opening input files: ",
        "Error opening output files: ",
        "Error opening input: ",
        "Error opening output: ",
    ] {
        if let Some(inner) = text.strip_prefix(wrapper) {
            text = inner;
        }
    }
    // `Task finished with error code: -1094995529 (Invalid data found when processing input)`
    if let Some(code) = text.strip_prefix("Task finished with error code: ") {
        text = code
            .split_once(" (")
            .and_then(|(_, inner)| inner.strip_suffix(')'))
            .unwrap_or(code);
    }
    let mut message = text.trim().to_owned();
    let mut spellings: Vec<&str> = input_spellings
        .iter()
        .copied()
        .filter(|s| !s.is_empty())
        .collect();
    // Longest first, so `file:/a/b.mp4` goes before `/a/b.mp4` leaves a stray `file:`.
    spellings.sort_by_key(|s| std::cmp::Reverse(s.len()));
    for spelling in spellings {
        message = message.replace(spelling, "input");
    }
    (!message.is_empty()).then_some(message)
}

fn truncate_chars(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_owned(),
        Some((cut, _)) => {
            let keep = text[..cut]
                .char_indices()
                .nth(max - 1)
                .map_or(cut, |(i, _)| i);
            format!("{}…", &text[..keep])
        }
    }
}

fn signal_name(signal: i32) -> &'static str {
    match signal {
        1 => "SIGHUP",
        2 => "SIGINT",
        4 => "SIGILL",
        6 => "SIGABRT",
        7 => "SIGBUS",
        8 => "SIGFPE",
        9 => "SIGKILL",
        11 => "SIGSEGV",
        13 => "SIGPIPE",
        15 => "SIGTERM",
        24 => "SIGXCPU",
        25 => "SIGXFSZ",
        _ => "signal",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRUNCATED_MP4: &str = "\
[mov,mp4,m4a,3gp,3g2,mj2 @ 0xa18dec0] moov atom not found
[in#0 @ 0xa18dbc0] Error opening input: Invalid data found when processing input
Error opening input file file:/tmp/up/trunc.mp4.
Error opening input files: Invalid data found when processing input
";

    #[test]
    fn reason_for_truncated_mp4() {
        let reason = failure_reason(
            TRUNCATED_MP4,
            &["/tmp/up/trunc.mp4", "file:/tmp/up/trunc.mp4"],
        );
        assert_eq!(
            reason,
            "moov atom not found; Invalid data found when processing input"
        );
    }

    #[test]
    fn reason_hides_the_path() {
        let stderr = "\
[in#0 @ 0x139cfbc0] Error opening input: No such file or directory
Error opening input file file:/secret/t/abc/uploads/x.mp4.
Error opening input files: No such file or directory
[https @ 0x1] https://bucket.s3.amazonaws.com/t/abc/x.mp4?X-Amz-Signature=deadbeef: Server returned 403 Forbidden (access denied)
";
        let url = "https://bucket.s3.amazonaws.com/t/abc/x.mp4?X-Amz-Signature=deadbeef";
        let reason = failure_reason(
            stderr,
            &[
                "/secret/t/abc/uploads/x.mp4",
                "file:/secret/t/abc/uploads/x.mp4",
                url,
            ],
        );
        assert!(!reason.contains("secret"), "{reason}");
        assert!(!reason.contains("deadbeef"), "{reason}");
        assert_eq!(
            reason,
            "No such file or directory; input: Server returned 403 Forbidden (access denied)"
        );
    }

    #[test]
    fn reason_after_a_description_skips_it() {
        let stderr = "\
Input #0, mov,mp4,m4a,3gp,3g2,mj2, from 'http://127.0.0.1:1/a.mp4':
  Duration: 00:00:02.00, start: 0.000000, bitrate: 836 kb/s
  Stream #0:0[0x1](und): Video: h264 (Constrained Baseline) (avc1 / 0x31637661), yuv420p(progressive), 320x240, 25 fps, 25 tbr, 12800 tbn (default)
Stream mapping:
  Stream #0:0 -> #0:0 (h264 (native) -> wrapped_avframe (native))
Output #0, null, to 'pipe:':
  Stream #0:0(und): Video: wrapped_avframe, yuv420p(progressive), 320x240, q=2-31, 200 kb/s, 25 fps, 25 tbn (default)
[in#0/mov,mp4,m4a,3gp,3g2,mj2 @ 0x435d2b80] Error during demuxing: Invalid data found when processing input
[vf#0:0 @ 0x435db600] Task finished with error code: -1094995529 (Invalid data found when processing input)
[vost#0:0/wrapped_avframe @ 0x435d98c0] Task finished with error code: -22 (Invalid argument)
";
        assert_eq!(
            failure_reason(stderr, &["http://127.0.0.1:1/a.mp4"]),
            "Error during demuxing: Invalid data found when processing input; Invalid argument"
        );
    }

    #[test]
    fn reason_when_no_frame_decodes() {
        let stderr = "\
[h264 @ 0x369c1b80] Invalid NAL unit size (0 > 3037).
[h264 @ 0x369c1b80] Error splitting the input into NAL units.
[vist#0:0/h264 @ 0x369fd7c0] [dec:h264 @ 0x369f84c0] Error submitting packet to decoder: Invalid data found when processing input
[h264 @ 0x369c1b80] Error splitting the input into NAL units.
[vost#0:0/wrapped_avframe @ 0x1] Terminating thread with return code -22 (Invalid argument)
[out#0/null @ 0x2] Nothing was written into output file, because at least one of its streams received no packets.
Conversion failed!
";
        assert_eq!(
            failure_reason(stderr, &[]),
            "Invalid NAL unit size (0 > 3037). … Error submitting packet to decoder: Invalid data found \
             when processing input; no video frame could be decoded"
        );
    }

    #[test]
    fn long_reasons_keep_the_cause_and_the_end() {
        let mut stderr = String::from("[h264 @ 0x1] first cause\n");
        for mb in 0..200 {
            stderr.push_str(&format!("[h264 @ 0x1] error while decoding MB {mb} 0\n"));
        }
        stderr.push_str("final word\n");
        let reason = failure_reason(&stderr, &[]);
        assert!(reason.starts_with("first cause …"), "{reason}");
        assert!(
            reason.ends_with("error while decoding MB 199 0; final word"),
            "{reason}"
        );
        let long = "x".repeat(1000);
        let reason = failure_reason(&long, &[]);
        assert_eq!(reason.chars().count(), MAX_REASON_CHARS);
        assert!(reason.ends_with('…'));
    }

    #[test]
    fn frames_from_progress() {
        assert_eq!(
            decoded_frames(b"frame=0\nfps=0.00\nprogress=continue\nframe=1\nprogress=end\n"),
            Some(1)
        );
        assert_eq!(decoded_frames(b"frame=0\nprogress=end\n"), Some(0));
        assert_eq!(decoded_frames(b""), None);
    }

    #[test]
    fn local_paths_are_never_protocols() {
        assert_eq!(
            ffmpeg_input("/tmp/Artist: Title.mp4"),
            "file:/tmp/Artist: Title.mp4"
        );
        assert_eq!(ffmpeg_input("pipe:1"), "file:pipe:1");
        assert_eq!(
            ffmpeg_input("https://h/x.mp4?sig=1"),
            "https://h/x.mp4?sig=1"
        );
        assert_eq!(redact_url("https://h/x.mp4?sig=1"), "https://h/x.mp4");
        assert_eq!(redact_url("/tmp/what?.mp4"), "/tmp/what?.mp4");
    }

    #[test]
    fn transient_classification() {
        assert!(
            ProbeError::Transient {
                reason: String::new()
            }
            .is_transient()
        );
        assert!(
            !ProbeError::Unreadable {
                reason: String::new()
            }
            .is_transient()
        );
        assert!(!ProbeError::Parse(ParseError::NoInput).is_transient());
        assert!(is_network_failure(
            "[tcp @ 0x1] Connection to tcp://h:443 failed: Connection refused"
        ));
        assert!(!is_network_failure("moov atom not found"));
    }
}
