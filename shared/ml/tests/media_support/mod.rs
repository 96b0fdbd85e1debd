//! Test media made on the spot: the pinned ffmpeg (`layers/dist/bin/ffmpeg`, or
//! `$MVIDARR_FFMPEG`) renders `lavfi` sources and mixes, espeak-ng speaks known sentences.
#![allow(dead_code)] // each test binary uses its own part

use std::path::{Path, PathBuf};
use std::process::Command;

use image::RgbImage;

/// The checkout the tests run in. Cargo sets `CARGO_MANIFEST_DIR` when it runs a test, and
/// that is preferred to the compile-time value: a target directory shared between checkouts
/// may run a binary built in another one.
pub fn repo_root() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from)
        .join("../..")
}

pub fn ffmpeg() -> PathBuf {
    let path = std::env::var_os("MVIDARR_FFMPEG")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("layers/dist/bin/ffmpeg"));
    assert!(
        path.is_file(),
        "{} is missing: run `bash layers/fetch-ffmpeg.sh`",
        path.display()
    );
    path
}

/// Runs ffmpeg (quiet, no stdin) and returns what it wrote to stdout; panics with its stderr
/// when it fails.
pub fn ffmpeg_stdout(args: &[&str]) -> Vec<u8> {
    let output = Command::new(ffmpeg())
        .args(["-nostdin", "-hide_banner", "-loglevel", "error"])
        .args(args)
        .output()
        .expect("ffmpeg runs");
    assert!(
        output.status.success(),
        "ffmpeg {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

/// Little-endian f32 samples.
pub fn f32le(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

/// One frame of a `lavfi` video source (e.g. `testsrc2=size=640x360`) as RGB.
pub fn lavfi_frame(source: &str, width: u32, height: u32) -> RgbImage {
    let bytes = ffmpeg_stdout(&[
        "-f",
        "lavfi",
        "-i",
        source,
        "-frames:v",
        "1",
        "-vf",
        &format!("scale={width}:{height}"),
        "-pix_fmt",
        "rgb24",
        "-f",
        "rawvideo",
        "-",
    ]);
    RgbImage::from_raw(width, height, bytes).expect("one whole frame")
}

/// Speaks `text` into a WAV file with espeak-ng (installed by scripts/test.sh).
pub fn espeak(text: &str, wav: &Path) {
    let status = Command::new("espeak-ng")
        .args(["-v", "en-us", "-s", "150", "-w"])
        .arg(wav)
        .arg(text)
        .status()
        .unwrap_or_else(|e| {
            panic!("espeak-ng cannot run ({e}): `apt-get install espeak-ng` (scripts/test.sh does)")
        });
    assert!(status.success(), "espeak-ng failed on {text:?}");
}

/// A media file decoded to 16 kHz mono f32 samples.
pub fn decode_16k_mono(path: &Path) -> Vec<f32> {
    f32le(&ffmpeg_stdout(&[
        "-i",
        path.to_str().unwrap(),
        "-ac",
        "1",
        "-ar",
        "16000",
        "-f",
        "f32le",
        "-",
    ]))
}
