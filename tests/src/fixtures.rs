//! Test media made by ffmpeg itself (ground truth by construction), and the bad inputs the
//! pipeline must refuse.

use std::path::{Path, PathBuf};

use mvidarr_media::{AudioCodec, AudioSpec, Container, Ffmpeg, SynthSpec, VideoCodec, synthesize};

pub fn ffmpeg() -> Ffmpeg {
    Ffmpeg::locate().unwrap_or_else(|e| panic!("{e}"))
}

/// Three good videos in different codecs and containers, with the spec each was made from.
pub fn good_specs() -> Vec<(&'static str, SynthSpec)> {
    vec![
        ("h264-aac.mp4", SynthSpec::default()),
        (
            "vp9-opus.webm",
            SynthSpec {
                video_codec: VideoCodec::Vp9,
                container: Container::Webm,
                width: 256,
                height: 144,
                audio: Some(AudioSpec {
                    codec: AudioCodec::Opus,
                    sample_rate: 48_000,
                    channels: 2,
                }),
                ..SynthSpec::default()
            },
        ),
        (
            "mpeg4-mp3.avi",
            SynthSpec {
                video_codec: VideoCodec::Mpeg4,
                container: Container::Avi,
                fps: 30,
                audio: Some(AudioSpec {
                    codec: AudioCodec::Mp3,
                    sample_rate: 44_100,
                    channels: 1,
                }),
                ..SynthSpec::default()
            },
        ),
    ]
}

pub async fn make(dir: &Path, name: &str, spec: &SynthSpec) -> PathBuf {
    let path = dir.join(name);
    synthesize(&ffmpeg(), spec, &path)
        .await
        .unwrap_or_else(|e| panic!("synthesizing {name}: {e}"));
    path
}

/// Deterministic noise (no rand dependency needed for this).
pub fn random_bytes(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// A shell script standing in for ffmpeg: optional delay, then either the real one or a crash.
pub fn fake_ffmpeg(dir: &Path, delay_seconds: f64, crash: bool) -> PathBuf {
    let real = ffmpeg().path().to_owned();
    let body = if crash {
        "kill -SEGV $$\n".to_owned()
    } else {
        format!("exec '{}' \"$@\"\n", real.display())
    };
    let path = dir.join(if crash {
        "ffmpeg-crashing"
    } else {
        "ffmpeg-slow"
    });
    mvidarr_media::ffmpeg::write_script(
        &path,
        &format!("#!/bin/sh\nsleep {delay_seconds}\n{body}"),
    )
    .expect("writing fake ffmpeg");
    path
}
