//! The documents the media analyzers write (the `result` of an [`Analysis`](super::Analysis)).
//! Times are seconds from the start of the media's first video (or audio) frame.

use serde::{Deserialize, Serialize};

/// A stretch of time.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Segment {
    pub start_seconds: f64,
    pub end_seconds: f64,
}

impl Segment {
    pub fn duration(&self) -> f64 {
        (self.end_seconds - self.start_seconds).max(0.0)
    }

    /// Intersection over union of two segments (0 when they do not overlap).
    pub fn iou(&self, other: &Segment) -> f64 {
        let intersection = (self.end_seconds.min(other.end_seconds)
            - self.start_seconds.max(other.start_seconds))
        .max(0.0);
        let union = self.duration() + other.duration() - intersection;
        if union > 0.0 {
            intersection / union
        } else {
            0.0
        }
    }
}

/// How decoding went, for every analyzer that decoded the media: analysis of a file with
/// corrupt stretches completes with what was decodable and says so here.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DecodeHealth {
    /// Decoder error lines and corrupt-packet warnings ffmpeg logged.
    pub errors: u32,
    /// The first few of those lines, verbatim.
    pub samples: Vec<String>,
    /// False when ffmpeg stopped before the end of the input.
    pub complete: bool,
}

// ---- scenes -----------------------------------------------------------------------------

/// Shot boundaries and shots (analyzer `scenes`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scenes {
    /// The frame rate the frames were counted at (the stream's, or its average if variable).
    pub frame_rate: f64,
    pub frames: u64,
    pub duration_seconds: f64,
    pub transitions: Vec<Transition>,
    pub shots: Vec<Shot>,
    pub decode: DecodeHealth,
}

impl Scenes {
    pub const VERSION: u32 = 1;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransitionKind {
    /// A hard cut: one frame to the next.
    Cut,
    /// A fade out to black and/or in from black; the boundary is the middle of the black.
    Fade,
    /// A gradual blend of one shot into the next; the boundary is its middle.
    Dissolve,
}

/// A boundary between two shots.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transition {
    pub kind: TransitionKind,
    /// The first frame of the new shot.
    pub frame: u64,
    pub at_seconds: f64,
    /// Where the transition's frames begin and end (equal to `at_seconds` for a cut).
    pub span: Segment,
    /// How strong the evidence was (the detector's own scale; higher is surer).
    pub score: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Shot {
    pub index: u32,
    pub start_frame: u64,
    /// Exclusive.
    pub end_frame: u64,
    pub start_seconds: f64,
    pub end_seconds: f64,
    /// The shot's most representative frame: its sharpest sampled frame away from transitions.
    pub keyframe_seconds: f64,
}

// ---- quality ----------------------------------------------------------------------------

/// Technical quality (analyzer `quality`): one 0–100 score with the parts it is made of.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Quality {
    /// 0 (unwatchable) to 100 (flawless), the weighted mean of `parts`.
    pub score: u8,
    pub parts: Vec<QualityPart>,
    pub video: Option<VideoQuality>,
    pub audio: Option<AudioQuality>,
    pub decode: DecodeHealth,
}

impl Quality {
    pub const VERSION: u32 = 1;
}

/// One ingredient of the quality score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QualityPart {
    pub name: String,
    /// 0–100.
    pub score: u8,
    /// Its weight in the overall score.
    pub weight: f64,
    /// What was measured, in words a person reads.
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VideoQuality {
    pub width: u32,
    pub height: u32,
    /// `2160p`, `1440p`, `1080p`, `720p`, `480p`, `360p` or `<360p`, by the shorter side.
    pub resolution_class: String,
    /// Video bits per pixel per frame, when the bit rate is known.
    pub bits_per_pixel: Option<f64>,
    /// `low`, `medium` or `high` for the resolution (from bits per pixel).
    pub bitrate_class: Option<String>,
    /// Sharpness (variance of the Laplacian on a 360-line grey image) over sampled frames.
    pub sharpness: Distribution,
    /// Share of sampled frames (not black) that look blurred.
    pub blurred_fraction: f64,
    /// Noise standard deviation in 8-bit grey levels (median over sampled frames).
    pub noise_sigma: f64,
    /// Coding-block edge strength: 1.0 means block edges are no stronger than other edges.
    pub blockiness: f64,
    /// Black bars, in pixels of the source frame.
    pub bars: Bars,
    pub black_segments: Vec<Segment>,
    pub frozen_segments: Vec<Segment>,
    pub interlacing: Interlacing,
}

/// A summary of per-frame values.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Distribution {
    pub p10: f64,
    pub median: f64,
    pub p90: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Bars {
    pub top: u32,
    pub bottom: u32,
    pub left: u32,
    pub right: u32,
}

impl Bars {
    pub fn letterboxed(&self) -> bool {
        self.top > 0 && self.bottom > 0
    }
    pub fn pillarboxed(&self) -> bool {
        self.left > 0 && self.right > 0
    }
}

/// ffmpeg's `idet` verdicts (multi-frame) over runs of consecutive frames sampled through the video.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Interlacing {
    pub top_field_first: u32,
    pub bottom_field_first: u32,
    pub progressive: u32,
    pub undetermined: u32,
    /// Woven frames clearly outnumber progressive ones.
    pub interlaced: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AudioQuality {
    /// Integrated loudness, EBU R128 (LUFS); `None` for pure silence.
    pub integrated_lufs: Option<f64>,
    /// Loudness range (LU).
    pub loudness_range_lu: f64,
    /// True peak (dBTP), 4× oversampled.
    pub true_peak_dbtp: f64,
    pub sample_peak_dbfs: f64,
    /// Samples at (or within 0.01 dB of) full scale in runs of 3 or more.
    pub clipped_samples: u64,
    pub clipping_segments: Vec<Segment>,
    /// Stretches below −60 dBFS for at least half a second.
    pub silence_segments: Vec<Segment>,
    pub duration_seconds: f64,
}

// ---- audio ------------------------------------------------------------------------------

/// What the soundtrack holds (analyzer `audio`): speech, music, tempo and energy over time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AudioProfile {
    pub duration_seconds: f64,
    /// Where someone speaks (Silero VAD).
    pub speech_segments: Vec<Segment>,
    pub speech_seconds: f64,
    /// Speech time over the whole duration.
    pub speech_ratio: f64,
    /// Sound that is neither speech nor silence (music, mostly) over the whole duration.
    pub music_ratio: f64,
    /// Beats per minute, when the audio has a clear pulse.
    pub tempo_bpm: Option<f64>,
    /// How clear the pulse is, 0–1 (autocorrelation of the onset envelope at the tempo).
    pub tempo_confidence: f64,
    /// Loudness per second, RMS in dBFS (−120 for digital silence).
    pub energy_dbfs: Vec<f32>,
}

impl AudioProfile {
    pub const VERSION: u32 = 1;
}

// ---- moderation -------------------------------------------------------------------------

/// Nudity screening (analyzer `moderation`): a verdict for the media, a score per shot, and
/// the frames that decided it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Moderation {
    pub verdict: ModerationVerdict,
    /// The model and its version, e.g. `nudenet-320n 3.4.2`.
    pub model: String,
    /// Frames the model looked at (one when the picture changes, at least every few seconds).
    pub frames_checked: u32,
    pub shots: Vec<ShotModeration>,
    /// The highest-scoring frames, best first.
    pub evidence: Vec<ModerationEvidence>,
}

impl Moderation {
    pub const VERSION: u32 = 1;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModerationVerdict {
    /// No explicit detection.
    Safe,
    /// A weak explicit detection: a person should look.
    Review,
    /// A confident explicit detection.
    Explicit,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShotModeration {
    pub shot: u32,
    pub start_seconds: f64,
    pub end_seconds: f64,
    /// The best explicit score among the shot's checked frames (0 when none fired).
    pub explicit: f32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModerationEvidence {
    pub seconds: f64,
    pub explicit: f32,
    pub detections: Vec<LabelledBox>,
}

/// A detection, its box in fractions of the frame (0–1) so it holds at any thumbnail size.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabelledBox {
    pub label: String,
    pub score: f32,
    pub x: f32,
    pub y: f32,
    pub width: f32,
    pub height: f32,
}

// ---- thumbnails -------------------------------------------------------------------------

/// The best frames of the media as pictures (analyzer `thumbnails`), best first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Thumbnails {
    pub items: Vec<Thumbnail>,
}

impl Thumbnails {
    pub const VERSION: u32 = 1;
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Thumbnail {
    /// 0 for the best.
    pub rank: u32,
    pub seconds: f64,
    /// Why it was chosen: sharpness, exposure and contrast combined (higher is better).
    pub score: f64,
    /// 64-bit difference hash of the frame (hex), for finding near-duplicates.
    pub dhash: String,
    pub images: Vec<ThumbnailImage>,
}

/// One size of a thumbnail, stored in the blob store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThumbnailImage {
    pub width: u32,
    pub height: u32,
    pub content_type: String,
    pub key: String,
    pub bytes: u64,
}

// ---- on-screen text ---------------------------------------------------------------------

/// Text drawn on the picture (analyzer `text`): each line with when and where it was shown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OnScreenText {
    pub lines: Vec<TextTrack>,
    /// Frames the text detector looked at.
    pub frames_detected: u32,
    /// Text regions the detector found, over all those frames…
    pub regions_detected: u32,
    /// …and those the recogniser read (a region unchanged since it was read is not read again).
    pub regions_read: u32,
}

impl OnScreenText {
    pub const VERSION: u32 = 1;
}

/// One line of text over the time it stayed on screen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TextTrack {
    pub text: String,
    pub confidence: f32,
    pub start_seconds: f64,
    pub end_seconds: f64,
    /// Where it was, in fractions of the frame: `[x0, y0, x1, y1]`.
    pub bounds: [f32; 4],
}
