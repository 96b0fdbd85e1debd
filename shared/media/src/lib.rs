//! Signal processing around ffmpeg, which always runs as a child process and is never linked:
//! a decoder crash or hang costs one process, bounded by a timeout, not the Lambda or server.
//!
//! - [`ffmpeg`]: finding the binary ([`Ffmpeg::locate`]) and running it.
//! - [`probe`](mod@probe): one ffmpeg run that describes an input and proves its first video
//!   frame decodes, read into [`mvidarr_core::analysis::Probe`].
//! - [`analysis`]: the analysis pass — one decode ([`pass`]) feeding the shot detector
//!   ([`shots`]), picture measures ([`picture`]) and audio levels ([`loudness`]) at once.
//! - [`synth`]: test media made from ffmpeg's `lavfi` sources, with known properties.
//!
//! The binary comes from `layers/fetch-ffmpeg.sh` (a static ffmpeg 9.0.2 without ffprobe, hence
//! the parsing of `ffmpeg -i` output rather than ffprobe's JSON).

pub mod analysis;
pub mod ffmpeg;
pub mod fingerprint;
pub mod frames;
pub mod loudness;
pub mod models;
pub mod moderation;
pub mod pass;
pub mod picture;
pub mod probe;
pub mod shots;
pub mod soundtrack;
pub mod storyboard;
pub mod synth;
pub mod text;
pub mod thumbnails;

pub use ffmpeg::{Ffmpeg, FfmpegOutput, LocateError, RunError};
pub use probe::{ParseError, ProbeError, parse_input_description, probe};
pub use synth::{
    AudioCodec, AudioSpec, Container, SynthError, SynthSpec, VideoCodec, synthesize,
    synthesize_audio_only,
};
