//! The analysis block: numbers decoded from the typed analysis documents, each scaled to about
//! 0–1 (logarithms for counts and rates that span orders of magnitude) so one L2 penalty suits
//! them all. Every analyzer's numbers come after a presence flag: a media without a moderation
//! pass is not a media whose moderation found nothing.

use mvidarr_core::analysis::{
    self, Analysis, AnalyzerKind, AudioProfile, Moderation, ModerationVerdict, OnScreenText, Probe,
    Quality, Scenes, Segment, TransitionKind,
};
use mvidarr_core::metadata::VideoMetadata;
use serde::de::DeserializeOwned;

const DURATION: [&str; 2] = ["duration/present", "duration/minutes_log"];
const PROBE: [&str; 8] = [
    "probe/present",
    "probe/has_video",
    "probe/has_audio",
    "probe/short_side",
    "probe/aspect",
    "probe/fps",
    "probe/mbps_log",
    "probe/audio_channels",
];
const SCENES: [&str; 8] = [
    "scenes/present",
    "scenes/shots_per_minute_log",
    "scenes/mean_shot_seconds_log",
    "scenes/shot_length_variation",
    "scenes/cut_share",
    "scenes/fade_share",
    "scenes/dissolve_share",
    "scenes/longest_shot_share",
];
/// The quality analyzer's parts, by the names it gives them.
const QUALITY_PARTS: [&str; 11] = [
    "resolution",
    "bitrate",
    "sharpness",
    "noise",
    "blockiness",
    "bars",
    "black_and_frozen",
    "interlacing",
    "loudness",
    "clipping",
    "decoding",
];
const QUALITY: [&str; 24] = [
    "quality/present",
    "quality/score",
    "quality/video_present",
    "quality/blurred_fraction",
    "quality/noise_sigma",
    "quality/blockiness",
    "quality/sharpness_log",
    "quality/letterboxed",
    "quality/pillarboxed",
    "quality/bars_share",
    "quality/black_share",
    "quality/frozen_share",
    "quality/interlaced",
    "quality/audio_present",
    "quality/silent",
    "quality/loudness",
    "quality/loudness_range",
    "quality/true_peak",
    "quality/clipping_log",
    "quality/silence_share",
    "quality/decode_errors_log",
    "quality/decode_complete",
    "quality/width_log",
    "quality/bits_per_pixel",
];
const AUDIO: [&str; 8] = [
    "audio/present",
    "audio/speech_ratio",
    "audio/music_ratio",
    "audio/tempo_present",
    "audio/tempo",
    "audio/tempo_confidence",
    "audio/energy_mean",
    "audio/energy_spread",
];
const MODERATION: [&str; 6] = [
    "moderation/present",
    "moderation/safe",
    "moderation/review",
    "moderation/explicit",
    "moderation/max_explicit",
    "moderation/explicit_time_share",
];
const TEXT: [&str; 7] = [
    "text/present",
    "text/coverage",
    "text/lines_log",
    "text/distinct_lines_log",
    "text/mean_confidence",
    "text/lower_third_share",
    "text/chars_per_line",
];

pub(super) const LEN: usize = DURATION.len()
    + PROBE.len()
    + SCENES.len()
    + QUALITY.len()
    + QUALITY_PARTS.len()
    + AUDIO.len()
    + MODERATION.len()
    + TEXT.len();

pub(super) fn names() -> impl Iterator<Item = String> {
    let fixed = |names: &'static [&'static str]| names.iter().map(|n| (*n).to_owned());
    fixed(&DURATION)
        .chain(fixed(&PROBE))
        .chain(fixed(&SCENES))
        .chain(fixed(&QUALITY))
        .chain(QUALITY_PARTS.iter().map(|p| format!("quality/part/{p}")))
        .chain(fixed(&AUDIO))
        .chain(fixed(&MODERATION))
        .chain(fixed(&TEXT))
}

pub(super) fn block(analyses: &[Analysis], metadata: &VideoMetadata) -> Vec<f32> {
    let probe: Option<Probe> = newest(analyses, AnalyzerKind::Probe);
    let scenes: Option<Scenes> = newest(analyses, AnalyzerKind::Scenes);
    let quality: Option<Quality> = newest(analyses, AnalyzerKind::Quality);
    let audio: Option<AudioProfile> = newest(analyses, AnalyzerKind::Audio);
    let moderation: Option<Moderation> = newest(analyses, AnalyzerKind::Moderation);
    let text: Option<OnScreenText> = newest(analyses, AnalyzerKind::Text);

    // The duration as the most direct source knows it.
    let duration = [
        probe.as_ref().and_then(|p| p.duration_seconds),
        scenes.as_ref().map(|s| s.duration_seconds),
        audio.as_ref().map(|a| a.duration_seconds),
        metadata.duration_seconds,
    ]
    .into_iter()
    .flatten()
    .find(|d| d.is_finite() && *d > 0.0);

    let mut out = Vec::with_capacity(LEN);
    out.extend(duration_block(duration));
    out.extend(probe_block(probe.as_ref()));
    out.extend(scenes_block(scenes.as_ref()));
    let (quality_numbers, parts) = quality_block(quality.as_ref(), duration);
    out.extend(quality_numbers);
    out.extend(parts);
    out.extend(audio_block(audio.as_ref()));
    out.extend(moderation_block(moderation.as_ref()));
    out.extend(text_block(text.as_ref(), duration));
    debug_assert_eq!(out.len(), LEN);
    // Sanitised once here: every slot is finite whatever a document held.
    out.into_iter()
        .map(|v| if v.is_finite() { v as f32 } else { 0.0 })
        .collect()
}

/// The newest usable document of an analyzer (failed and undecodable ones count as missing).
fn newest<T: DeserializeOwned>(analyses: &[Analysis], kind: AnalyzerKind) -> Option<T> {
    analysis::newest(analyses, kind).map(|(document, _version)| document)
}

/// `ln(1 + x) / ln(1 + full)`: 0 at 0, 1 at `full`, slowly past it; negatives count as 0.
fn log_scaled(x: f64, full: f64) -> f64 {
    x.max(0.0).ln_1p() / full.ln_1p()
}

fn flag(b: bool) -> f64 {
    if b { 1.0 } else { 0.0 }
}

fn share(part: f64, whole: f64) -> f64 {
    if whole > 0.0 {
        (part / whole).clamp(0.0, 1.0)
    } else {
        0.0
    }
}

fn total(segments: &[Segment]) -> f64 {
    segments.iter().map(Segment::duration).sum()
}

fn duration_block(duration: Option<f64>) -> [f64; DURATION.len()] {
    match duration {
        Some(d) => [1.0, log_scaled(d / 60.0, 20.0)],
        None => [0.0; DURATION.len()],
    }
}

fn probe_block(probe: Option<&Probe>) -> [f64; PROBE.len()] {
    let Some(p) = probe else {
        return [0.0; PROBE.len()];
    };
    let video = p.video.first();
    let (short, aspect, fps) = video.map_or((0.0, 0.0, 0.0), |v| {
        let (w, h) = (f64::from(v.width), f64::from(v.height));
        (
            (w.min(h) / 1080.0).min(2.0),
            if h > 0.0 { (w / h).min(3.0) / 2.0 } else { 0.0 },
            v.fps.unwrap_or(0.0).clamp(0.0, 120.0) / 30.0,
        )
    });
    let channels = p
        .audio
        .first()
        .and_then(|a| a.channels)
        .map_or(0.0, |c| f64::from(c.min(8)) / 2.0);
    [
        1.0,
        flag(video.is_some()),
        flag(!p.audio.is_empty()),
        short,
        aspect,
        fps,
        log_scaled(p.bit_rate.unwrap_or(0) as f64 / 1e6, 20.0),
        channels,
    ]
}

fn scenes_block(scenes: Option<&Scenes>) -> [f64; SCENES.len()] {
    let Some(s) = scenes else {
        return [0.0; SCENES.len()];
    };
    let lengths: Vec<f64> = s
        .shots
        .iter()
        .map(|shot| (shot.end_seconds - shot.start_seconds).max(0.0))
        .collect();
    let n = lengths.len() as f64;
    let mean = if n > 0.0 {
        lengths.iter().sum::<f64>() / n
    } else {
        0.0
    };
    let variation = if mean > 0.0 {
        let var = lengths.iter().map(|l| (l - mean).powi(2)).sum::<f64>() / n;
        (var.sqrt() / mean).min(3.0) / 3.0
    } else {
        0.0
    };
    let per_minute = if s.duration_seconds > 0.0 {
        n / (s.duration_seconds / 60.0)
    } else {
        0.0
    };
    let transitions = s.transitions.len() as f64;
    let kind_share = |kind: TransitionKind| {
        share(
            s.transitions.iter().filter(|t| t.kind == kind).count() as f64,
            transitions,
        )
    };
    let longest = lengths.iter().copied().fold(0.0, f64::max);
    [
        1.0,
        log_scaled(per_minute, 60.0),
        log_scaled(mean, 60.0),
        variation,
        kind_share(TransitionKind::Cut),
        kind_share(TransitionKind::Fade),
        kind_share(TransitionKind::Dissolve),
        share(longest, s.duration_seconds),
    ]
}

type QualityNumbers = ([f64; QUALITY.len()], [f64; QUALITY_PARTS.len()]);

fn quality_block(quality: Option<&Quality>, duration: Option<f64>) -> QualityNumbers {
    let Some(q) = quality else {
        return ([0.0; QUALITY.len()], [0.0; QUALITY_PARTS.len()]);
    };
    let score = f64::from(q.score) / 100.0;
    // A part the analyzer did not report (no audio, no bit rate) takes the overall score: a
    // neutral value rather than a 0 that would read as "terrible".
    let parts = QUALITY_PARTS.map(|name| {
        q.parts
            .iter()
            .find(|p| p.name == name)
            .map_or(score, |p| f64::from(p.score) / 100.0)
    });
    let duration = duration.unwrap_or(0.0);
    let mut n = [0.0; QUALITY.len()];
    n[0] = 1.0;
    n[1] = score;
    if let Some(v) = &q.video {
        let (w, h) = (f64::from(v.width), f64::from(v.height));
        n[2] = 1.0;
        n[3] = v.blurred_fraction.clamp(0.0, 1.0);
        n[4] = v.noise_sigma.clamp(0.0, 30.0) / 10.0;
        n[5] = (v.blockiness - 1.0).clamp(0.0, 3.0);
        n[6] = log_scaled(v.sharpness.median, 1000.0);
        n[7] = flag(v.bars.letterboxed());
        n[8] = flag(v.bars.pillarboxed());
        n[9] = share(f64::from(v.bars.top + v.bars.bottom), h)
            + share(f64::from(v.bars.left + v.bars.right), w);
        n[10] = share(total(&v.black_segments), duration);
        n[11] = share(total(&v.frozen_segments), duration);
        n[12] = flag(v.interlacing.interlaced);
        n[22] = log_scaled(w, 3840.0);
        n[23] = v.bits_per_pixel.unwrap_or(0.0).clamp(0.0, 1.0) * 5.0;
    }
    if let Some(a) = &q.audio {
        n[13] = 1.0;
        n[14] = flag(a.integrated_lufs.is_none());
        // −23 LUFS (broadcast) reads 0; each 10 LU louder adds 1.
        n[15] = a
            .integrated_lufs
            .map_or(0.0, |l| ((l + 23.0) / 10.0).clamp(-3.0, 3.0));
        n[16] = a.loudness_range_lu.clamp(0.0, 40.0) / 20.0;
        n[17] = (a.true_peak_dbtp / 10.0).clamp(-6.0, 1.0);
        n[18] = log_scaled(a.clipped_samples as f64, 1e4);
        n[19] = share(total(&a.silence_segments), a.duration_seconds);
    }
    n[20] = log_scaled(f64::from(q.decode.errors), 100.0);
    n[21] = flag(q.decode.complete);
    (n, parts)
}

fn audio_block(audio: Option<&AudioProfile>) -> [f64; AUDIO.len()] {
    let Some(a) = audio else {
        return [0.0; AUDIO.len()];
    };
    let energy: Vec<f64> = a
        .energy_dbfs
        .iter()
        .map(|&e| f64::from(e))
        .filter(|e| e.is_finite())
        .collect();
    let (mean, spread) = if energy.is_empty() {
        (0.0, 0.0)
    } else {
        let n = energy.len() as f64;
        let mean = energy.iter().sum::<f64>() / n;
        let var = energy.iter().map(|e| (e - mean).powi(2)).sum::<f64>() / n;
        (mean, var.sqrt())
    };
    [
        1.0,
        a.speech_ratio.clamp(0.0, 1.0),
        a.music_ratio.clamp(0.0, 1.0),
        flag(a.tempo_bpm.is_some()),
        a.tempo_bpm.map_or(0.0, |b| b.clamp(0.0, 300.0) / 120.0),
        a.tempo_confidence.clamp(0.0, 1.0),
        // −60 dBFS and quieter read 0, full scale 1.
        ((mean + 60.0) / 60.0).clamp(0.0, 1.5),
        spread.min(60.0) / 20.0,
    ]
}

fn moderation_block(moderation: Option<&Moderation>) -> [f64; MODERATION.len()] {
    let Some(m) = moderation else {
        return [0.0; MODERATION.len()];
    };
    let max_explicit = m
        .shots
        .iter()
        .map(|s| f64::from(s.explicit))
        .chain(m.evidence.iter().map(|e| f64::from(e.explicit)))
        .fold(0.0, f64::max);
    let shots_time: f64 = m
        .shots
        .iter()
        .map(|s| (s.end_seconds - s.start_seconds).max(0.0))
        .sum();
    let explicit_time: f64 = m
        .shots
        .iter()
        .filter(|s| s.explicit >= 0.5)
        .map(|s| (s.end_seconds - s.start_seconds).max(0.0))
        .sum();
    [
        1.0,
        flag(m.verdict == ModerationVerdict::Safe),
        flag(m.verdict == ModerationVerdict::Review),
        flag(m.verdict == ModerationVerdict::Explicit),
        max_explicit.clamp(0.0, 1.0),
        share(explicit_time, shots_time),
    ]
}

fn text_block(text: Option<&OnScreenText>, duration: Option<f64>) -> [f64; TEXT.len()] {
    let Some(t) = text else {
        return [0.0; TEXT.len()];
    };
    let lines = &t.lines;
    let n = lines.len() as f64;
    let span = duration.unwrap_or_else(|| lines.iter().map(|l| l.end_seconds).fold(0.0, f64::max));
    let mut distinct: Vec<String> = lines.iter().map(|l| l.text.trim().to_lowercase()).collect();
    distinct.sort_unstable();
    distinct.dedup();
    let mean = |f: &dyn Fn(&mvidarr_core::analysis::TextTrack) -> f64| {
        if n > 0.0 {
            lines.iter().map(f).sum::<f64>() / n
        } else {
            0.0
        }
    };
    [
        1.0,
        share(covered_seconds(lines), span),
        log_scaled(n, 100.0),
        log_scaled(distinct.len() as f64, 100.0),
        mean(&|l| f64::from(l.confidence).clamp(0.0, 1.0)),
        // Lyrics and subtitles sit low in the frame.
        mean(&|l| flag(l.bounds[1] >= 0.6)),
        (mean(&|l| l.text.chars().count() as f64) / 40.0).min(3.0),
    ]
}

/// The time at least one line is on screen (overlapping lines counted once).
fn covered_seconds(lines: &[mvidarr_core::analysis::TextTrack]) -> f64 {
    let mut spans: Vec<(f64, f64)> = lines
        .iter()
        .map(|l| (l.start_seconds, l.end_seconds))
        .filter(|(s, e)| s.is_finite() && e.is_finite() && e > s)
        .collect();
    spans.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut covered = 0.0;
    let mut current: Option<(f64, f64)> = None;
    for (s, e) in spans {
        match current {
            Some((cs, ce)) if s <= ce => current = Some((cs, ce.max(e))),
            Some((cs, ce)) => {
                covered += ce - cs;
                current = Some((s, e));
            }
            None => current = Some((s, e)),
        }
    }
    covered + current.map_or(0.0, |(s, e)| e - s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mvidarr_core::DateTime;
    use mvidarr_core::analysis::{AudioStream, Shot, TextTrack, Transition, VideoStream};
    use mvidarr_core::ids::MediaId;

    fn at(secs: i64) -> mvidarr_core::Timestamp {
        DateTime::from_timestamp(secs, 0).expect("a valid time")
    }

    fn media() -> MediaId {
        MediaId::from_parts(1_700_000_000_000, 7)
    }

    fn probe() -> Probe {
        Probe {
            container: "mov,mp4".into(),
            duration_seconds: Some(240.0),
            bit_rate: Some(4_000_000),
            video: vec![VideoStream {
                index: 0,
                codec: "h264".into(),
                profile: None,
                pixel_format: None,
                width: 1920,
                height: 1080,
                fps: Some(25.0),
                bit_rate: None,
            }],
            audio: vec![AudioStream {
                index: 1,
                codec: "aac".into(),
                sample_rate: Some(48_000),
                channels: Some(2),
                channel_layout: None,
                bit_rate: None,
            }],
        }
    }

    fn scenes(shots: u32, duration: f64) -> Scenes {
        let len = duration / f64::from(shots);
        Scenes {
            frame_rate: 25.0,
            frames: (duration * 25.0) as u64,
            duration_seconds: duration,
            transitions: (1..shots)
                .map(|i| Transition {
                    kind: TransitionKind::Cut,
                    frame: u64::from(i) * 25,
                    at_seconds: f64::from(i) * len,
                    span: Segment {
                        start_seconds: f64::from(i) * len,
                        end_seconds: f64::from(i) * len,
                    },
                    score: 1.0,
                })
                .collect(),
            shots: (0..shots)
                .map(|i| Shot {
                    index: i,
                    start_frame: 0,
                    end_frame: 1,
                    start_seconds: f64::from(i) * len,
                    end_seconds: f64::from(i + 1) * len,
                    keyframe_seconds: f64::from(i) * len,
                })
                .collect(),
            decode: Default::default(),
        }
    }

    fn slot(block: &[f32], name: &str) -> f32 {
        let i = names().position(|n| n == name).expect("a known slot");
        block[i]
    }

    #[test]
    fn names_match_the_block_length() {
        assert_eq!(names().count(), LEN);
        let block = block(&[], &VideoMetadata::default());
        assert_eq!(block.len(), LEN);
    }

    #[test]
    fn missing_analyses_are_flagged_not_zero_valued() {
        let none = block(&[], &VideoMetadata::default());
        assert!(none.iter().all(|&v| v == 0.0), "nothing known: all zero");
        let analyses = [
            Analysis::of(media(), AnalyzerKind::Probe, 1, at(0), &probe()),
            Analysis::of(media(), AnalyzerKind::Scenes, 1, at(0), &scenes(48, 240.0)),
        ];
        let some = block(&analyses, &VideoMetadata::default());
        assert_eq!(slot(&some, "probe/present"), 1.0);
        assert_eq!(slot(&some, "scenes/present"), 1.0);
        assert_eq!(slot(&some, "moderation/present"), 0.0);
        assert_eq!(slot(&some, "text/present"), 0.0);
        assert_eq!(slot(&some, "duration/present"), 1.0);
        assert_eq!(slot(&some, "probe/has_audio"), 1.0);
        assert_eq!(slot(&some, "scenes/cut_share"), 1.0);
        // 12 shots a minute on a log scale where 60 a minute reads 1.
        let expected = (13f64.ln() / 61f64.ln()) as f32;
        assert!((slot(&some, "scenes/shots_per_minute_log") - expected).abs() < 1e-6);
    }

    #[test]
    fn failed_and_undecodable_documents_count_as_missing() {
        let analyses = [
            Analysis::failed(media(), AnalyzerKind::Scenes, 2, at(5), "ffmpeg crashed"),
            Analysis::of(
                media(),
                AnalyzerKind::Text,
                1,
                at(0),
                &serde_json::json!({"lines": "not a list"}),
            ),
        ];
        let b = block(&analyses, &VideoMetadata::default());
        assert!(b.iter().all(|&v| v == 0.0));
    }

    #[test]
    fn the_newest_usable_version_is_read() {
        let analyses = [
            Analysis::of(media(), AnalyzerKind::Scenes, 1, at(0), &scenes(4, 240.0)),
            Analysis::of(media(), AnalyzerKind::Scenes, 2, at(9), &scenes(120, 240.0)),
            Analysis::of(
                media(),
                AnalyzerKind::Scenes,
                3,
                at(10),
                &serde_json::json!({"garbled": true}),
            ),
        ];
        let b = block(&analyses, &VideoMetadata::default());
        let expected = (31f64.ln() / 61f64.ln()) as f32;
        assert!((slot(&b, "scenes/shots_per_minute_log") - expected).abs() < 1e-6);
    }

    #[test]
    fn on_screen_text_coverage_counts_overlaps_once() {
        let line = |text: &str, s: f64, e: f64, y0: f32| TextTrack {
            text: text.into(),
            confidence: 0.9,
            start_seconds: s,
            end_seconds: e,
            bounds: [0.1, y0, 0.9, y0 + 0.1],
        };
        let text = OnScreenText {
            lines: vec![
                line("la la", 0.0, 10.0, 0.8),
                line("la la", 5.0, 15.0, 0.8),
                line("Title", 30.0, 40.0, 0.1),
            ],
            frames_detected: 10,
            regions_detected: 3,
            regions_read: 3,
        };
        let meta = VideoMetadata {
            duration_seconds: Some(100.0),
            ..VideoMetadata::default()
        };
        let analyses = [Analysis::of(media(), AnalyzerKind::Text, 1, at(0), &text)];
        let b = block(&analyses, &meta);
        assert!((slot(&b, "text/coverage") - 0.25).abs() < 1e-6);
        assert!((slot(&b, "text/lower_third_share") - 2.0 / 3.0).abs() < 1e-6);
        let two_distinct = (3f64.ln() / 101f64.ln()) as f32;
        assert!((slot(&b, "text/distinct_lines_log") - two_distinct).abs() < 1e-6);
    }
}
