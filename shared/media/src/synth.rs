//! Test media made by ffmpeg itself from its `lavfi` sources (`testsrc2` for video, `sine` for
//! audio), so tests and benchmarks know the truth about every file by construction.
//!
//! Encoders use their fastest settings: the point is known properties, not quality. MP4/MOV
//! keep the default moov-at-the-end layout, so the first half of a synthesized MP4 is a
//! realistic truncated upload (no `moov` atom).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::ffmpeg::{Ffmpeg, RunError};

/// What to synthesize: a `testsrc2` video, and a sine tone if `audio` is set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SynthSpec {
    /// Seconds.
    pub duration: f64,
    pub width: u32,
    pub height: u32,
    /// Frames per second.
    pub fps: u32,
    pub video_codec: VideoCodec,
    pub container: Container,
    pub audio: Option<AudioSpec>,
}

/// The audio track of a [`SynthSpec`], or an audio-only file (see [`synthesize_audio_only`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AudioSpec {
    pub codec: AudioCodec,
    /// Hz.
    pub sample_rate: u32,
    /// 1 = mono, 2 = stereo, 6 = 5.1, 8 = 7.1.
    pub channels: u32,
}

impl Default for SynthSpec {
    /// Two seconds of 320x240 at 25 fps, H.264 and stereo AAC in MP4: small and quick.
    fn default() -> Self {
        Self {
            duration: 2.0,
            width: 320,
            height: 240,
            fps: 25,
            video_codec: VideoCodec::H264,
            container: Container::Mp4,
            audio: Some(AudioSpec::default()),
        }
    }
}

impl Default for AudioSpec {
    fn default() -> Self {
        Self {
            codec: AudioCodec::Aac,
            sample_rate: 48_000,
            channels: 2,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VideoCodec {
    H264,
    Hevc,
    Vp8,
    Vp9,
    Av1,
    Mpeg4,
    Mpeg2,
    #[serde(rename = "prores")]
    ProRes,
    Mjpeg,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AudioCodec {
    Aac,
    Opus,
    Mp3,
    /// Signed 16-bit little-endian PCM.
    Pcm16,
    Vorbis,
    Ac3,
    Flac,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Container {
    Mp4,
    Mov,
    Mkv,
    Webm,
    Avi,
    MpegTs,
    /// MPEG program stream (`.mpg`).
    MpegPs,
}

impl VideoCodec {
    /// The codec name ffmpeg reports when reading it back (`Video: h264 …`).
    pub fn ffmpeg_name(self) -> &'static str {
        match self {
            VideoCodec::H264 => "h264",
            VideoCodec::Hevc => "hevc",
            VideoCodec::Vp8 => "vp8",
            VideoCodec::Vp9 => "vp9",
            VideoCodec::Av1 => "av1",
            VideoCodec::Mpeg4 => "mpeg4",
            VideoCodec::Mpeg2 => "mpeg2video",
            VideoCodec::ProRes => "prores",
            VideoCodec::Mjpeg => "mjpeg",
        }
    }

    /// The pixel format the file is encoded in.
    pub fn pixel_format(self) -> &'static str {
        match self {
            VideoCodec::ProRes => "yuv422p10le",
            VideoCodec::Mjpeg => "yuvj420p",
            _ => "yuv420p",
        }
    }

    /// Encoder arguments, fastest settings.
    fn encoder_args(self, container: Container) -> Vec<&'static str> {
        let mut args = match self {
            VideoCodec::H264 => vec!["-c:v", "libx264", "-preset", "ultrafast"],
            VideoCodec::Hevc => vec![
                "-c:v",
                "libx265",
                "-preset",
                "ultrafast",
                "-x265-params",
                "log-level=error",
            ],
            VideoCodec::Vp8 => vec![
                "-c:v",
                "libvpx",
                "-deadline",
                "realtime",
                "-cpu-used",
                "8",
                "-b:v",
                "500k",
            ],
            VideoCodec::Vp9 => vec![
                "-c:v",
                "libvpx-vp9",
                "-deadline",
                "realtime",
                "-cpu-used",
                "8",
                "-row-mt",
                "1",
            ],
            VideoCodec::Av1 => vec![
                "-c:v",
                "libaom-av1",
                "-usage",
                "realtime",
                // The pinned build's libaom accepts 0..=8 here.
                "-cpu-used",
                "8",
            ],
            VideoCodec::Mpeg4 => vec!["-c:v", "mpeg4", "-q:v", "5"],
            VideoCodec::Mpeg2 => vec!["-c:v", "mpeg2video", "-q:v", "5"],
            VideoCodec::ProRes => vec!["-c:v", "prores_ks", "-profile:v", "0"],
            VideoCodec::Mjpeg => vec!["-c:v", "mjpeg", "-q:v", "5"],
        };
        args.extend(["-pix_fmt", self.pixel_format()]);
        // Apple players want `hvc1`, ffmpeg's default MP4 tag is `hev1`.
        if self == VideoCodec::Hevc && matches!(container, Container::Mp4 | Container::Mov) {
            args.extend(["-tag:v", "hvc1"]);
        }
        args
    }
}

impl AudioCodec {
    /// The codec name ffmpeg reports when reading it back (`Audio: aac …`).
    pub fn ffmpeg_name(self) -> &'static str {
        match self {
            AudioCodec::Aac => "aac",
            AudioCodec::Opus => "opus",
            AudioCodec::Mp3 => "mp3",
            AudioCodec::Pcm16 => "pcm_s16le",
            AudioCodec::Vorbis => "vorbis",
            AudioCodec::Ac3 => "ac3",
            AudioCodec::Flac => "flac",
        }
    }

    fn encoder_args(self) -> &'static [&'static str] {
        match self {
            AudioCodec::Aac => &["-c:a", "aac", "-b:a", "128k"],
            AudioCodec::Opus => &["-c:a", "libopus", "-b:a", "96k"],
            AudioCodec::Mp3 => &["-c:a", "libmp3lame", "-b:a", "128k"],
            AudioCodec::Pcm16 => &["-c:a", "pcm_s16le"],
            AudioCodec::Vorbis => &["-c:a", "libvorbis", "-q:a", "3"],
            AudioCodec::Ac3 => &["-c:a", "ac3"],
            AudioCodec::Flac => &["-c:a", "flac"],
        }
    }
}

impl Container {
    /// ffmpeg's muxer name.
    pub fn muxer(self) -> &'static str {
        match self {
            Container::Mp4 => "mp4",
            Container::Mov => "mov",
            Container::Mkv => "matroska",
            Container::Webm => "webm",
            Container::Avi => "avi",
            Container::MpegTs => "mpegts",
            Container::MpegPs => "mpeg",
        }
    }

    /// The demuxer names ffmpeg reports when reading it back (`Input #0, matroska,webm, …`).
    pub fn demuxer_names(self) -> &'static str {
        match self {
            Container::Mp4 | Container::Mov => "mov,mp4,m4a,3gp,3g2,mj2",
            Container::Mkv | Container::Webm => "matroska,webm",
            Container::Avi => "avi",
            Container::MpegTs => "mpegts",
            Container::MpegPs => "mpeg",
        }
    }

    /// The usual file extension, without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            Container::Mp4 => "mp4",
            Container::Mov => "mov",
            Container::Mkv => "mkv",
            Container::Webm => "webm",
            Container::Avi => "avi",
            Container::MpegTs => "ts",
            Container::MpegPs => "mpg",
        }
    }
}

/// Why synthesizing failed.
#[derive(Debug, thiserror::Error)]
pub enum SynthError {
    #[error("invalid synth spec: {0}")]
    InvalidSpec(String),
    #[error(transparent)]
    Run(#[from] RunError),
    #[error("ffmpeg could not synthesize {path:?} ({status}): {stderr_tail}")]
    Failed {
        path: PathBuf,
        status: String,
        stderr_tail: String,
    },
}

/// Write the media `spec` describes to `out_path` (overwritten if present). The container is
/// given to ffmpeg explicitly, so the path's extension does not matter.
pub async fn synthesize(
    ffmpeg: &Ffmpeg,
    spec: &SynthSpec,
    out_path: &Path,
) -> Result<(), SynthError> {
    validate_duration(spec.duration)?;
    if spec.width == 0
        || spec.height == 0
        || !spec.width.is_multiple_of(2)
        || !spec.height.is_multiple_of(2)
    {
        return Err(SynthError::InvalidSpec(format!(
            "size {}x{}: both sides must be even and non-zero (4:2:0 chroma)",
            spec.width, spec.height
        )));
    }
    if spec.fps == 0 {
        return Err(SynthError::InvalidSpec("fps must be positive".into()));
    }
    let mut args: Vec<String> = vec![
        "-f".into(),
        "lavfi".into(),
        "-i".into(),
        format!(
            "testsrc2=size={}x{}:rate={}:duration={}",
            spec.width, spec.height, spec.fps, spec.duration
        ),
    ];
    if let Some(audio) = &spec.audio {
        validate_audio(audio)?;
        args.extend(sine_input(audio, spec.duration));
    }
    args.extend(["-map".into(), "0:v".into()]);
    args.extend(
        spec.video_codec
            .encoder_args(spec.container)
            .into_iter()
            .map(String::from),
    );
    if let Some(audio) = &spec.audio {
        args.extend(["-map".into(), "1:a".into()]);
        args.extend(audio_output_args(audio));
    }
    run_to_file(ffmpeg, args, spec.duration, spec.container, out_path).await
}

/// Write `duration` seconds of a sine tone, alone, to `out_path`: a file with no video.
pub async fn synthesize_audio_only(
    ffmpeg: &Ffmpeg,
    audio: &AudioSpec,
    duration: f64,
    container: Container,
    out_path: &Path,
) -> Result<(), SynthError> {
    validate_duration(duration)?;
    validate_audio(audio)?;
    let mut args = sine_input(audio, duration);
    args.extend(["-map".into(), "0:a".into()]);
    args.extend(audio_output_args(audio));
    run_to_file(ffmpeg, args, duration, container, out_path).await
}

fn validate_duration(duration: f64) -> Result<(), SynthError> {
    if duration.is_finite() && duration > 0.0 {
        Ok(())
    } else {
        Err(SynthError::InvalidSpec(format!(
            "duration {duration} must be positive"
        )))
    }
}

fn validate_audio(audio: &AudioSpec) -> Result<(), SynthError> {
    if audio.sample_rate == 0 || !(1..=8).contains(&audio.channels) {
        return Err(SynthError::InvalidSpec(format!(
            "audio {} Hz x {} channels: need a sample rate and 1 to 8 channels",
            audio.sample_rate, audio.channels
        )));
    }
    Ok(())
}

fn sine_input(audio: &AudioSpec, duration: f64) -> Vec<String> {
    vec![
        "-f".into(),
        "lavfi".into(),
        "-i".into(),
        format!(
            "sine=frequency=440:sample_rate={}:duration={duration}",
            audio.sample_rate
        ),
    ]
}

fn audio_output_args(audio: &AudioSpec) -> Vec<String> {
    let mut args: Vec<String> = audio
        .codec
        .encoder_args()
        .iter()
        .map(|a| a.to_string())
        .collect();
    args.extend(["-ar".into(), audio.sample_rate.to_string()]);
    args.extend(["-ac".into(), audio.channels.to_string()]);
    args
}

/// Finish the command (`-t`, muxer, output), run it, and turn a failure into [`SynthError`].
async fn run_to_file(
    ffmpeg: &Ffmpeg,
    mut args: Vec<String>,
    duration: f64,
    container: Container,
    out_path: &Path,
) -> Result<(), SynthError> {
    args.extend([
        "-loglevel".into(),
        "error".into(),
        "-t".into(),
        duration.to_string(),
        "-f".into(),
        container.muxer().into(),
        "-y".into(),
    ]);
    let mut os_args: Vec<std::ffi::OsString> = args.into_iter().map(Into::into).collect();
    // `file:` so an output name with a colon is never taken for a protocol.
    let mut target = std::ffi::OsString::from("file:");
    target.push(out_path.as_os_str());
    os_args.push(target);
    // Generous: slow encoders (AV1) on a busy 2-core machine, plus ffmpeg's start-up.
    let timeout = Duration::from_secs(60) + Duration::from_secs_f64(duration * 30.0);
    let output = ffmpeg.run(os_args, timeout).await?;
    if output.status.success() {
        return Ok(());
    }
    let lines: Vec<&str> = output
        .stderr
        .lines()
        .filter(|l| !l.trim().is_empty())
        .collect();
    Err(SynthError::Failed {
        path: out_path.to_path_buf(),
        status: output.status.to_string(),
        stderr_tail: lines[lines.len().saturating_sub(5)..].join(" | "),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_names_in_serde() {
        let spec = SynthSpec {
            container: Container::MpegTs,
            video_codec: VideoCodec::ProRes,
            audio: Some(AudioSpec {
                codec: AudioCodec::Pcm16,
                ..AudioSpec::default()
            }),
            ..SynthSpec::default()
        };
        let json = serde_json::to_value(&spec).unwrap();
        assert_eq!(json["container"], "mpeg_ts");
        assert_eq!(json["video_codec"], "prores");
        assert_eq!(json["audio"]["codec"], "pcm16");
        assert_eq!(serde_json::from_value::<SynthSpec>(json).unwrap(), spec);
    }

    #[test]
    fn hevc_gets_the_apple_tag_only_in_iso_containers() {
        assert!(
            VideoCodec::Hevc
                .encoder_args(Container::Mov)
                .contains(&"hvc1")
        );
        assert!(
            !VideoCodec::Hevc
                .encoder_args(Container::Mkv)
                .contains(&"hvc1")
        );
    }
}
