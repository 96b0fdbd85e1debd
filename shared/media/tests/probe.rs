//! Probing real files made by `synth`, checked field by field against the spec that made them,
//! and the failure classes on bad inputs and broken ffmpeg binaries.
//!
//! ffmpeg comes from `Ffmpeg::locate()`; when it is missing these tests fail with the locate
//! error (run `bash layers/fetch-ffmpeg.sh`), they never skip.

use std::path::{Path, PathBuf};
use std::time::Duration;

use mvidarr_core::analysis::Probe;
use mvidarr_media::ffmpeg::write_script;
use mvidarr_media::{
    AudioCodec, AudioSpec, Container, Ffmpeg, ProbeError, SynthSpec, VideoCodec, probe, synthesize,
    synthesize_audio_only,
};
use tempfile::TempDir;

const TIMEOUT: Duration = Duration::from_secs(60);

fn ffmpeg() -> Ffmpeg {
    Ffmpeg::locate().unwrap_or_else(|error| panic!("{error}"))
}

fn spec(video_codec: VideoCodec, container: Container, audio: Option<AudioSpec>) -> SynthSpec {
    SynthSpec {
        duration: 1.5,
        width: 320,
        height: 240,
        fps: 25,
        video_codec,
        container,
        audio,
    }
}

fn audio(codec: AudioCodec, sample_rate: u32, channels: u32) -> Option<AudioSpec> {
    Some(AudioSpec {
        codec,
        sample_rate,
        channels,
    })
}

async fn make(ffmpeg: &Ffmpeg, dir: &TempDir, name: &str, spec: &SynthSpec) -> PathBuf {
    let path = dir
        .path()
        .join(format!("{name}.{}", spec.container.extension()));
    synthesize(ffmpeg, spec, &path)
        .await
        .unwrap_or_else(|error| panic!("synthesizing {name}: {error}"));
    path
}

async fn probe_ok(ffmpeg: &Ffmpeg, path: &Path) -> Probe {
    probe(ffmpeg, path.to_str().unwrap(), TIMEOUT)
        .await
        .unwrap_or_else(|error| panic!("probing {}: {error}", path.display()))
}

/// Every probed field against the spec. Durations within 0.1 s (encoder priming and container
/// rounding); layouts as ffmpeg names them for the channel count.
fn assert_matches_spec(probe: &Probe, spec: &SynthSpec, name: &str) {
    assert_eq!(
        probe.container,
        spec.container.demuxer_names(),
        "{name}: container"
    );
    let duration = probe
        .duration_seconds
        .unwrap_or_else(|| panic!("{name}: no duration"));
    assert!(
        (duration - spec.duration).abs() <= 0.1,
        "{name}: duration {duration} vs {}",
        spec.duration
    );
    assert!(
        probe.bit_rate.is_some_and(|b| b > 0),
        "{name}: bit rate {:?}",
        probe.bit_rate
    );

    assert_eq!(
        probe.video.len(),
        1,
        "{name}: video streams {:?}",
        probe.video
    );
    let video = &probe.video[0];
    assert_eq!(video.index, 0, "{name}");
    assert_eq!(video.codec, spec.video_codec.ffmpeg_name(), "{name}: codec");
    assert_eq!(
        video.pixel_format.as_deref(),
        Some(spec.video_codec.pixel_format()),
        "{name}: pixel format"
    );
    assert_eq!(
        (video.width, video.height),
        (spec.width, spec.height),
        "{name}: size"
    );
    assert_eq!(video.fps, Some(f64::from(spec.fps)), "{name}: fps");

    match &spec.audio {
        None => assert!(probe.audio.is_empty(), "{name}: audio {:?}", probe.audio),
        Some(expected) => {
            assert_eq!(
                probe.audio.len(),
                1,
                "{name}: audio streams {:?}",
                probe.audio
            );
            let audio = &probe.audio[0];
            assert_eq!(audio.index, 1, "{name}");
            assert_eq!(
                audio.codec,
                expected.codec.ffmpeg_name(),
                "{name}: audio codec"
            );
            assert_eq!(
                audio.sample_rate,
                Some(expected.sample_rate),
                "{name}: sample rate"
            );
            assert_eq!(audio.channels, Some(expected.channels), "{name}: channels");
            let layouts: &[&str] = match expected.channels {
                1 => &["mono"],
                2 => &["stereo"],
                6 => &["5.1", "5.1(side)"],
                _ => &[],
            };
            let layout = audio.channel_layout.as_deref().unwrap_or_default();
            assert!(layouts.contains(&layout), "{name}: layout {layout:?}");
        }
    }
}

#[tokio::test]
async fn probes_synthesized_codecs_and_containers() {
    let ffmpeg = ffmpeg();
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "h264_aac_mp4",
            spec(
                VideoCodec::H264,
                Container::Mp4,
                audio(AudioCodec::Aac, 48_000, 2),
            ),
        ),
        ("hevc_mov", spec(VideoCodec::Hevc, Container::Mov, None)),
        (
            "vp9_opus_webm",
            spec(
                VideoCodec::Vp9,
                Container::Webm,
                audio(AudioCodec::Opus, 48_000, 2),
            ),
        ),
        (
            "mpeg4_mp3_avi",
            spec(
                VideoCodec::Mpeg4,
                Container::Avi,
                audio(AudioCodec::Mp3, 44_100, 1),
            ),
        ),
        (
            "mpeg2_mp2ts",
            spec(
                VideoCodec::Mpeg2,
                Container::MpegTs,
                audio(AudioCodec::Ac3, 48_000, 2),
            ),
        ),
        (
            "h264_pcm_mkv",
            spec(
                VideoCodec::H264,
                Container::Mkv,
                audio(AudioCodec::Pcm16, 44_100, 2),
            ),
        ),
        (
            "h264_video_only_mp4",
            spec(VideoCodec::H264, Container::Mp4, None),
        ),
        (
            "h264_aac51_mkv",
            spec(
                VideoCodec::H264,
                Container::Mkv,
                audio(AudioCodec::Aac, 48_000, 6),
            ),
        ),
    ];
    for (name, spec) in &cases {
        let path = make(&ffmpeg, &dir, name, spec).await;
        let probe = probe_ok(&ffmpeg, &path).await;
        assert_matches_spec(&probe, spec, name);
    }
}

#[tokio::test]
async fn probes_the_other_synth_codecs() {
    let ffmpeg = ffmpeg();
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "vp8_vorbis_webm",
            spec(
                VideoCodec::Vp8,
                Container::Webm,
                audio(AudioCodec::Vorbis, 44_100, 2),
            ),
        ),
        (
            "av1_opus_mkv",
            spec(
                VideoCodec::Av1,
                Container::Mkv,
                audio(AudioCodec::Opus, 48_000, 1),
            ),
        ),
        (
            "prores_pcm_mov",
            spec(
                VideoCodec::ProRes,
                Container::Mov,
                audio(AudioCodec::Pcm16, 48_000, 2),
            ),
        ),
        (
            "mjpeg_flac_mkv",
            spec(
                VideoCodec::Mjpeg,
                Container::Mkv,
                audio(AudioCodec::Flac, 48_000, 2),
            ),
        ),
        (
            "mpeg2_mp3_mpg",
            spec(
                VideoCodec::Mpeg2,
                Container::MpegPs,
                audio(AudioCodec::Mp3, 44_100, 2),
            ),
        ),
    ];
    for (name, spec) in &cases {
        let path = make(&ffmpeg, &dir, name, spec).await;
        let probe = probe_ok(&ffmpeg, &path).await;
        assert_matches_spec(&probe, spec, name);
    }
}

#[tokio::test]
async fn profiles_are_reported() {
    let ffmpeg = ffmpeg();
    let dir = tempfile::tempdir().unwrap();
    let path = make(
        &ffmpeg,
        &dir,
        "x264",
        &spec(VideoCodec::H264, Container::Mp4, None),
    )
    .await;
    let probe = probe_ok(&ffmpeg, &path).await;
    // `-preset ultrafast` turns off CABAC and B-frames: Constrained Baseline.
    assert_eq!(
        probe.video[0].profile.as_deref(),
        Some("Constrained Baseline")
    );
}

#[tokio::test]
async fn a_file_without_video_probes_with_no_video() {
    let ffmpeg = ffmpeg();
    let dir = tempfile::tempdir().unwrap();
    let tone = AudioSpec {
        codec: AudioCodec::Aac,
        sample_rate: 44_100,
        channels: 2,
    };
    let path = dir.path().join("tone.m4a");
    synthesize_audio_only(&ffmpeg, &tone, 1.0, Container::Mp4, &path)
        .await
        .unwrap();
    let probe = probe_ok(&ffmpeg, &path).await;
    assert!(probe.video.is_empty(), "{:?}", probe.video);
    assert_eq!(probe.audio.len(), 1);
    assert_eq!(probe.audio[0].channels, Some(2));
    assert!((probe.duration_seconds.unwrap() - 1.0).abs() <= 0.1);
}

#[tokio::test]
async fn truncated_mp4_is_unreadable_for_want_of_moov() {
    let ffmpeg = ffmpeg();
    let dir = tempfile::tempdir().unwrap();
    let whole = make(
        &ffmpeg,
        &dir,
        "whole",
        &spec(
            VideoCodec::H264,
            Container::Mp4,
            audio(AudioCodec::Aac, 48_000, 2),
        ),
    )
    .await;
    let bytes = std::fs::read(&whole).unwrap();
    let truncated = dir.path().join("truncated.mp4");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();

    let error = probe(&ffmpeg, truncated.to_str().unwrap(), TIMEOUT)
        .await
        .unwrap_err();
    let ProbeError::Unreadable { reason } = &error else {
        panic!("expected Unreadable, got {error:?}");
    };
    assert!(reason.contains("moov"), "{reason}");
    assert!(
        !reason.contains(dir.path().to_str().unwrap()),
        "path leaked: {reason}"
    );
    assert!(reason.chars().count() <= 300);
    assert!(!error.is_transient());
}

#[tokio::test]
async fn video_that_does_not_decode_is_unreadable() {
    let ffmpeg = ffmpeg();
    let dir = tempfile::tempdir().unwrap();
    let good = make(
        &ffmpeg,
        &dir,
        "good",
        &spec(VideoCodec::H264, Container::Mp4, None),
    )
    .await;
    // Intact headers (moov at the end) over an `mdat` of zeros: it opens, nothing decodes.
    let mut bytes = std::fs::read(&good).unwrap();
    let mdat = bytes
        .windows(4)
        .position(|w| w == b"mdat")
        .expect("an mdat box");
    let size = u32::from_be_bytes(bytes[mdat - 4..mdat].try_into().unwrap()) as usize;
    bytes[mdat + 4..mdat - 4 + size].fill(0);
    let zeroed = dir.path().join("zeroed.mp4");
    std::fs::write(&zeroed, bytes).unwrap();

    let reason = assert_unreadable(&ffmpeg, &zeroed).await;
    assert!(
        reason.contains("no video frame could be decoded"),
        "{reason}"
    );
}

async fn assert_unreadable(ffmpeg: &Ffmpeg, path: &Path) -> String {
    match probe(ffmpeg, path.to_str().unwrap(), TIMEOUT).await {
        Err(ProbeError::Unreadable { reason }) => {
            assert!(!reason.is_empty());
            assert!(
                !reason.contains(path.to_str().unwrap()),
                "path leaked: {reason}"
            );
            reason
        }
        other => panic!("{}: expected Unreadable, got {other:?}", path.display()),
    }
}

#[tokio::test]
async fn random_bytes_text_and_missing_files_are_unreadable() {
    let ffmpeg = ffmpeg();
    let dir = tempfile::tempdir().unwrap();

    // A fixed xorshift stream: noise, reproducibly.
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let noise: Vec<u8> = (0..64 * 1024)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    let random = dir.path().join("random.mp4");
    std::fs::write(&random, noise).unwrap();
    let reason = assert_unreadable(&ffmpeg, &random).await;
    assert!(reason.contains("Invalid data"), "{reason}");

    let text = dir.path().join("notes.mp4");
    std::fs::write(&text, "Just some words.\nNot a video at all.\n".repeat(50)).unwrap();
    assert_unreadable(&ffmpeg, &text).await;

    let reason = assert_unreadable(&ffmpeg, &dir.path().join("missing.mp4")).await;
    assert!(reason.contains("No such file"), "{reason}");
}

#[tokio::test]
async fn odd_file_names_are_files_not_protocols() {
    let ffmpeg = ffmpeg();
    let dir = tempfile::tempdir().unwrap();
    let spec = spec(VideoCodec::H264, Container::Mkv, None);
    let plain = make(&ffmpeg, &dir, "plain", &spec).await;
    let odd = dir.path().join("Artist: Title (Official Video) 'live'.mkv");
    std::fs::rename(&plain, &odd).unwrap();
    let probe = probe_ok(&ffmpeg, &odd).await;
    assert_eq!(probe.video.len(), 1);
}

#[tokio::test]
async fn ffmpeg_that_cannot_start_is_transient() {
    let missing = Ffmpeg::new("/nonexistent/bin/ffmpeg");
    let error = probe(&missing, "/tmp/any.mp4", TIMEOUT).await.unwrap_err();
    assert!(matches!(error, ProbeError::Transient { .. }), "{error:?}");
    assert!(error.is_transient());
}

/// A shell script standing in for ffmpeg.
fn fake_ffmpeg(dir: &TempDir, body: &str) -> Ffmpeg {
    let path = dir.path().join("ffmpeg");
    write_script(&path, &format!("#!/bin/sh\n{body}\n")).unwrap();
    Ffmpeg::new(path)
}

#[tokio::test]
async fn ffmpeg_killed_by_a_signal_is_transient() {
    let dir = tempfile::tempdir().unwrap();
    let crashing = fake_ffmpeg(&dir, "kill -SEGV $$");
    let error = probe(&crashing, "/tmp/any.mp4", TIMEOUT).await.unwrap_err();
    let ProbeError::Transient { reason } = &error else {
        panic!("expected Transient, got {error:?}");
    };
    assert!(reason.contains("SIGSEGV"), "{reason}");
}

#[tokio::test]
async fn ffmpeg_that_hangs_is_killed_and_transient() {
    let dir = tempfile::tempdir().unwrap();
    let hanging = fake_ffmpeg(&dir, "exec sleep 30");
    let started = std::time::Instant::now();
    let error = probe(&hanging, "/tmp/any.mp4", Duration::from_millis(300))
        .await
        .unwrap_err();
    assert!(error.is_transient(), "{error:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
}
