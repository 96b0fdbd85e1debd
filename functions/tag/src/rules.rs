//! Analyzer tags: what the media analyses establish, each proposed as a [`Tag`] with a
//! calibrated confidence, the analyzer (and its version) it came from, and evidence a reviewer
//! can check. Pure computation: the step decodes the analyses and stores what comes out.
//!
//! # Names
//! `facet/value`, lower case, one facet per kind of fact, so that a tenant's thresholds and
//! synonyms can cover a whole facet (`picture/…`, `editing/…`):
//!
//! | tag | analysis | measured (the curve's input) |
//! |---|---|---|
//! | `resolution/{sd,480p,720p,1080p,2160p}` | probe | the shorter side (certain) |
//! | `orientation/{landscape,portrait,square}` | probe | width against height (certain) |
//! | `audio/silent` | probe, quality | no audio stream, or none of it above the loudness gate (certain) |
//! | `picture/letterboxed` | quality | the smaller of the top and bottom bars, share of the height |
//! | `picture/pillarboxed` | quality | the smaller of the left and right bars, share of the width |
//! | `editing/fast-cut` | scenes | log₂ of the median shot length in seconds |
//! | `editing/single-shot` | scenes | the longest shot's share of the duration |
//! | `text/on-screen` | text | the best line's recognition confidence |
//! | `text/lyrics` | text | the lyric coverage (see [`lyric_coverage`]) |
//! | `audio/speech-heavy` | audio | the share of the duration with speech |
//! | `audio/instrumental` | audio | the share with music (sound that is not speech), the share with speech |
//! | `content/explicit` | moderation | the worst checked frame's explicit score |
//! | `quality/low` | quality | the quality score (0–100), and its worst part among the damage a re-upload fixes |
//!
//! `picture/black-and-white` is not proposed: no analysis measures colour, and grey levels,
//! sharpness or noise say nothing about it.
//!
//! # Confidence
//! Facts read from the file itself are certain (1.0). Every other rule maps what it measured
//! through a logistic curve `1 / (1 + e^−(w·x + b))` whose constants ([`Rule::curve`]) were
//! fitted by Platt scaling on generated media whose truth is known by construction
//! (`mvidarr_tests::tag_truth`), so 0.9 means right about nine times in ten on that media.
//! `content/explicit` carries the moderation detector's own score: explicit media cannot be
//! generated, so there is nothing to fit it on.
//!
//! A rule proposes its tag only when its analysis exists, when there is evidence for it at all
//! (bars, three shots, a line of text, speech…), and when its confidence reaches
//! [`PROPOSE_FROM`]; the step then places it by the tenant's thresholds.

use std::cmp::Ordering;

use mvidarr_core::analysis::{
    AnalyzerKind, AudioProfile, Moderation, ModerationVerdict, OnScreenText, Probe, Quality,
    Scenes, Segment, TextTrack,
};
use mvidarr_core::tag::{Tag, TagName, TagSource, TagStatus};
use serde_json::{Value, json};

/// One decoded analysis and the version of the analyzer that wrote it.
#[derive(Debug)]
pub struct Analyzed<'a, T> {
    pub result: &'a T,
    pub version: u32,
}

impl<'a, T> Analyzed<'a, T> {
    pub fn new(result: &'a T, version: u32) -> Self {
        Self { result, version }
    }
}

impl<T> Clone for Analyzed<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Analyzed<'_, T> {}

/// The analyses a media has; a missing one (not run, failed, or no such stream) proposes nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct RuleInputs<'a> {
    pub probe: Option<Analyzed<'a, Probe>>,
    pub scenes: Option<Analyzed<'a, Scenes>>,
    pub quality: Option<Analyzed<'a, Quality>>,
    pub audio: Option<Analyzed<'a, AudioProfile>>,
    pub moderation: Option<Analyzed<'a, Moderation>>,
    pub text: Option<Analyzed<'a, OnScreenText>>,
}

impl RuleInputs<'_> {
    /// The media's duration in seconds, from the first analysis that measured it.
    fn duration(&self) -> Option<f64> {
        self.scenes
            .map(|s| s.result.duration_seconds)
            .or_else(|| self.probe.and_then(|p| p.result.duration_seconds))
            .or_else(|| self.audio.map(|a| a.result.duration_seconds))
            .filter(|d| d.is_finite() && *d > 0.0)
    }
}

/// A rule whose confidence is a fitted curve of what it measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Rule {
    Letterboxed,
    Pillarboxed,
    FastCut,
    SingleShot,
    OnScreenText,
    Lyrics,
    SpeechHeavy,
    Instrumental,
    LowQuality,
}

/// Whether more of a measured quantity is more evidence for the tag, or less.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    More,
    Less,
}

/// One quantity a rule measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Feature {
    pub name: &'static str,
    pub direction: Direction,
}

const fn more(name: &'static str) -> Feature {
    Feature {
        name,
        direction: Direction::More,
    }
}

const fn less(name: &'static str) -> Feature {
    Feature {
        name,
        direction: Direction::Less,
    }
}

/// A logistic curve: `1 / (1 + e^−(weights·x + bias))`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Curve {
    pub weights: &'static [f64],
    pub bias: f64,
}

impl Curve {
    pub fn confidence(&self, features: &[f64]) -> f64 {
        logistic(self.weights, self.bias, features)
    }
}

/// `1 / (1 + e^−(weights·x + bias))`, for fitted and committed curves alike.
pub fn logistic(weights: &[f64], bias: f64, x: &[f64]) -> f64 {
    let z = bias + weights.iter().zip(x).map(|(w, x)| w * x).sum::<f64>();
    1.0 / (1.0 + (-z).exp())
}

impl Rule {
    pub const ALL: [Rule; 9] = [
        Rule::Letterboxed,
        Rule::Pillarboxed,
        Rule::FastCut,
        Rule::SingleShot,
        Rule::OnScreenText,
        Rule::Lyrics,
        Rule::SpeechHeavy,
        Rule::Instrumental,
        Rule::LowQuality,
    ];

    pub fn tag(self) -> &'static str {
        match self {
            Rule::Letterboxed => "picture/letterboxed",
            Rule::Pillarboxed => "picture/pillarboxed",
            Rule::FastCut => "editing/fast-cut",
            Rule::SingleShot => "editing/single-shot",
            Rule::OnScreenText => "text/on-screen",
            Rule::Lyrics => "text/lyrics",
            Rule::SpeechHeavy => "audio/speech-heavy",
            Rule::Instrumental => "audio/instrumental",
            Rule::LowQuality => "quality/low",
        }
    }

    /// The quantities the rule's curve takes, in order.
    pub fn features(self) -> &'static [Feature] {
        const BARS: &[Feature] = &[more("bar_share")];
        const FAST_CUT: &[Feature] = &[less("log2_median_shot_seconds")];
        const SINGLE_SHOT: &[Feature] = &[more("longest_shot_share")];
        const ON_SCREEN: &[Feature] = &[more("best_line_confidence")];
        const LYRICS: &[Feature] = &[more("lyric_coverage")];
        const SPEECH: &[Feature] = &[more("speech_ratio")];
        const INSTRUMENTAL: &[Feature] = &[more("music_ratio"), less("speech_ratio")];
        const LOW_QUALITY: &[Feature] = &[less("quality_score"), less("worst_damage_part")];
        match self {
            Rule::Letterboxed | Rule::Pillarboxed => BARS,
            Rule::FastCut => FAST_CUT,
            Rule::SingleShot => SINGLE_SHOT,
            Rule::OnScreenText => ON_SCREEN,
            Rule::Lyrics => LYRICS,
            Rule::SpeechHeavy => SPEECH,
            Rule::Instrumental => INSTRUMENTAL,
            Rule::LowQuality => LOW_QUALITY,
        }
    }

    /// The fitted curve: Platt scaling on 102 generated media (seed 1, 6 per case) whose truth
    /// is known by construction, at the media each rule had evidence for. Reproduce with
    /// `cargo test -p mvidarr-tests --test tag_truth -- --ignored --nocapture calibration_constants`
    /// (it prints these arms). A weight of 0 is the data's answer, not a placeholder: every
    /// bar pair the analyzer found was a real letterbox or pillarbox (18 of 18, 17 of 17), and a
    /// video read as one long shot was one 29 times in 34 whatever the shot's length (missed
    /// fades and dissolves make the others), so those confidences are the smoothed rates.
    pub fn curve(self) -> Curve {
        match self {
            Rule::Letterboxed => Curve {
                weights: &[0.0],
                bias: 2.9444,
            },
            Rule::Pillarboxed => Curve {
                weights: &[0.0],
                bias: 2.8904,
            },
            Rule::FastCut => Curve {
                weights: &[-2.8665],
                bias: 3.2011,
            },
            Rule::SingleShot => Curve {
                weights: &[0.0],
                bias: 1.7069,
            },
            Rule::OnScreenText => Curve {
                weights: &[15.6375],
                bias: -11.7539,
            },
            Rule::Lyrics => Curve {
                weights: &[5.7911],
                bias: -1.9374,
            },
            Rule::SpeechHeavy => Curve {
                weights: &[7.2984],
                bias: -3.5090,
            },
            Rule::Instrumental => Curve {
                weights: &[24.3254, -24.3254],
                bias: -20.8964,
            },
            Rule::LowQuality => Curve {
                weights: &[-0.1236, -0.0523],
                bias: 10.4043,
            },
        }
    }
}

/// How sure a finding is.
#[derive(Debug, Clone, PartialEq)]
pub enum Confidence {
    /// Read from the file itself.
    Certain,
    /// A fitted curve of what the rule measured.
    Fitted { rule: Rule, features: Vec<f64> },
    /// A detector's own score, not refitted (nothing to fit it on).
    Detector(f64),
}

impl Confidence {
    /// The calibrated probability, 0–1.
    pub fn value(&self) -> f64 {
        match self {
            Confidence::Certain => 1.0,
            Confidence::Fitted { rule, features } => rule.curve().confidence(features),
            Confidence::Detector(score) => score.clamp(0.0, 1.0),
        }
    }
}

/// What one rule found, before it becomes a [`Tag`].
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub name: &'static str,
    pub confidence: Confidence,
    pub analyzer: AnalyzerKind,
    pub version: u32,
    /// For the reviewer: `measured` values, and `segments`, `frames` or `lines` where they apply.
    pub evidence: Value,
}

impl Finding {
    pub fn to_tag(&self) -> Tag {
        Tag {
            name: TagName::parse(self.name).expect("rule tag names are valid"),
            confidence: self.confidence.value(),
            source: TagSource::Analyzer {
                name: self.analyzer.as_str().into(),
                version: self.version,
            },
            status: TagStatus::Review,
            evidence: self.evidence.clone(),
            decisions: vec![],
        }
    }
}

/// Below this a proposal is almost surely wrong: not worth a hidden suggestion on every media.
pub const PROPOSE_FROM: f64 = 0.05;

/// The tags the analyses support, each with its confidence, source and evidence, in status
/// [`TagStatus::Review`] (the step places them by the tenant's thresholds).
pub fn analyzer_tags(inputs: &RuleInputs) -> Vec<Tag> {
    findings(inputs)
        .iter()
        .filter(|f| f.confidence.value() >= PROPOSE_FROM)
        .map(Finding::to_tag)
        .collect()
}

/// Every rule's finding where its analysis exists and there is evidence for it at all, whatever
/// its confidence ([`analyzer_tags`] drops the unlikely ones; the calibration fit needs them).
pub fn findings(inputs: &RuleInputs) -> Vec<Finding> {
    let mut out = Vec::new();
    if let Some(probe) = inputs.probe {
        technical(probe, &mut out);
    }
    if let Some(quality) = inputs.quality {
        silence(quality, &mut out);
        bars(quality, &mut out);
        low_quality(quality, &mut out);
    }
    if let Some(scenes) = inputs.scenes {
        editing(scenes, &mut out);
    }
    if let (Some(text), Some(duration)) = (inputs.text, inputs.duration()) {
        on_screen_text(text, duration, &mut out);
        lyrics(text, duration, &mut out);
    }
    if let Some(audio) = inputs.audio {
        soundtrack(audio, &mut out);
    }
    if let Some(moderation) = inputs.moderation {
        explicit(moderation, &mut out);
    }
    out.retain(|f| match &f.confidence {
        Confidence::Fitted { features, .. } => features.iter().all(|x| x.is_finite()),
        Confidence::Detector(score) => score.is_finite(),
        Confidence::Certain => true,
    });
    out
}

/// Rounded for evidence people read.
fn r3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn segment(what: &str, s: &Segment) -> Value {
    json!({ "what": what, "start_seconds": r3(s.start_seconds), "end_seconds": r3(s.end_seconds) })
}

fn fitted(
    rule: Rule,
    features: Vec<f64>,
    analyzer: AnalyzerKind,
    version: u32,
    evidence: Value,
) -> Finding {
    Finding {
        name: rule.tag(),
        confidence: Confidence::Fitted { rule, features },
        analyzer,
        version,
        evidence,
    }
}

fn certain(name: &'static str, analyzer: AnalyzerKind, version: u32, evidence: Value) -> Finding {
    Finding {
        name,
        confidence: Confidence::Certain,
        analyzer,
        version,
        evidence,
    }
}

// ---- technical facts ------------------------------------------------------------------------

fn technical(probe: Analyzed<Probe>, out: &mut Vec<Finding>) {
    let (kind, version) = (AnalyzerKind::Probe, probe.version);
    if let Some(v) = probe.result.video.first() {
        let measured = json!({ "measured": { "width": v.width, "height": v.height } });
        let resolution = match v.width.min(v.height) {
            0..=479 => "resolution/sd",
            480..=719 => "resolution/480p",
            720..=1079 => "resolution/720p",
            1080..=2159 => "resolution/1080p",
            _ => "resolution/2160p",
        };
        out.push(certain(resolution, kind, version, measured.clone()));
        let orientation = match v.width.cmp(&v.height) {
            Ordering::Greater => "orientation/landscape",
            Ordering::Less => "orientation/portrait",
            Ordering::Equal => "orientation/square",
        };
        out.push(certain(orientation, kind, version, measured));
    }
    if probe.result.audio.is_empty() {
        out.push(certain(
            "audio/silent",
            kind,
            version,
            json!({ "measured": { "audio_streams": 0 } }),
        ));
    }
}

/// An audio stream with nothing above the loudness gate is as silent as none at all.
fn silence(quality: Analyzed<Quality>, out: &mut Vec<Finding>) {
    let Some(audio) = &quality.result.audio else {
        return;
    };
    if audio.integrated_lufs.is_some() || out.iter().any(|f| f.name == "audio/silent") {
        return;
    }
    out.push(certain(
        "audio/silent",
        AnalyzerKind::Quality,
        quality.version,
        json!({
            "measured": {
                "integrated_lufs": null,
                "sample_peak_dbfs": r3(audio.sample_peak_dbfs),
                "duration_seconds": r3(audio.duration_seconds),
            },
            "segments": audio.silence_segments.iter().take(20).map(|s| segment("silence", s)).collect::<Vec<_>>(),
        }),
    ));
}

// ---- picture --------------------------------------------------------------------------------

fn bars(quality: Analyzed<Quality>, out: &mut Vec<Finding>) {
    let Some(video) = &quality.result.video else {
        return;
    };
    let bars = video.bars;
    let (width, height) = (
        f64::from(video.width.max(1)),
        f64::from(video.height.max(1)),
    );
    let evidence = |share: f64| {
        json!({
            "measured": {
                "bars": { "top": bars.top, "bottom": bars.bottom, "left": bars.left, "right": bars.right },
                "width": video.width,
                "height": video.height,
                "bar_share": r3(share),
            },
        })
    };
    let kind = AnalyzerKind::Quality;
    if bars.letterboxed() {
        let share = f64::from(bars.top.min(bars.bottom)) / height;
        out.push(fitted(
            Rule::Letterboxed,
            vec![share],
            kind,
            quality.version,
            evidence(share),
        ));
    }
    if bars.pillarboxed() {
        let share = f64::from(bars.left.min(bars.right)) / width;
        out.push(fitted(
            Rule::Pillarboxed,
            vec![share],
            kind,
            quality.version,
            evidence(share),
        ));
    }
}

/// Quality parts that measure damage to the upload (blur, noise, blocks, starved bit rate,
/// black or frozen stretches, decoding errors). Resolution is left out (at a given size it is
/// the same for every upload, and the score carries it), and so is loudness (mastering, not
/// damage).
const DAMAGE_PARTS: [&str; 6] = [
    "sharpness",
    "noise",
    "blockiness",
    "bitrate",
    "black_and_frozen",
    "decoding",
];

/// "Needs re-upload": the quality score, and its worst damage part (one bad defect is diluted
/// in a mean of many parts that are fine), with the parts that pulled it down.
fn low_quality(quality: Analyzed<Quality>, out: &mut Vec<Finding>) {
    let q = quality.result;
    let mut worst: Vec<_> = q.parts.iter().filter(|p| p.score < 100).collect();
    worst.sort_by_key(|p| p.score);
    let worst_damage = q
        .parts
        .iter()
        .filter(|p| DAMAGE_PARTS.contains(&p.name.as_str()))
        .map(|p| p.score)
        .min()
        .unwrap_or(100);
    let mut segments = Vec::new();
    if let Some(video) = &q.video {
        segments.extend(video.black_segments.iter().map(|s| segment("black", s)));
        segments.extend(video.frozen_segments.iter().map(|s| segment("frozen", s)));
    }
    if let Some(audio) = &q.audio {
        segments.extend(
            audio
                .clipping_segments
                .iter()
                .map(|s| segment("clipping", s)),
        );
    }
    segments.truncate(20);
    let mut measured = json!({ "quality_score": q.score, "worst_damage_part": worst_damage });
    if let Some(video) = &q.video {
        measured["blurred_fraction"] = json!(r3(video.blurred_fraction));
        measured["noise_sigma"] = json!(r3(video.noise_sigma));
        measured["blockiness"] = json!(r3(video.blockiness));
    }
    let evidence = json!({
        "measured": measured,
        "worst_parts": worst.iter().take(3).map(|p| json!({ "name": p.name, "score": p.score, "detail": p.detail })).collect::<Vec<_>>(),
        "segments": segments,
    });
    out.push(fitted(
        Rule::LowQuality,
        vec![f64::from(q.score), f64::from(worst_damage)],
        AnalyzerKind::Quality,
        quality.version,
        evidence,
    ));
}

// ---- editing --------------------------------------------------------------------------------

/// Shots needed before a median shot length says anything about the cutting.
const FAST_CUT_MIN_SHOTS: usize = 3;
/// The longest shot must cover this much of the duration to be a single-shot candidate.
const SINGLE_SHOT_FROM: f64 = 0.75;

fn editing(scenes: Analyzed<Scenes>, out: &mut Vec<Finding>) {
    let s = scenes.result;
    let lengths: Vec<f64> = s
        .shots
        .iter()
        .map(|shot| shot.end_seconds - shot.start_seconds)
        .filter(|d| *d > 0.0)
        .collect();
    if lengths.is_empty() || s.duration_seconds <= 0.0 {
        return;
    }
    let kind = AnalyzerKind::Scenes;
    if lengths.len() >= FAST_CUT_MIN_SHOTS {
        let mut sorted = lengths.clone();
        sorted.sort_by(f64::total_cmp);
        let mid = sorted.len() / 2;
        let median = if sorted.len().is_multiple_of(2) {
            (sorted[mid - 1] + sorted[mid]) / 2.0
        } else {
            sorted[mid]
        };
        let evidence = json!({
            "measured": {
                "shots": lengths.len(),
                "median_shot_seconds": r3(median),
                "cuts_per_minute": r3(s.transitions.len() as f64 * 60.0 / s.duration_seconds),
            },
            "frames": s.transitions.iter().take(30).map(|t| json!({ "seconds": r3(t.at_seconds), "what": t.kind })).collect::<Vec<_>>(),
        });
        // A shot shorter than a frame is no shorter than a frame.
        let floor = 1.0 / s.frame_rate.max(1.0);
        out.push(fitted(
            Rule::FastCut,
            vec![median.max(floor).log2()],
            kind,
            scenes.version,
            evidence,
        ));
    }
    let (longest, length) = s
        .shots
        .iter()
        .map(|shot| (shot, shot.end_seconds - shot.start_seconds))
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .expect("there are shots");
    let share = (length / s.duration_seconds).min(1.0);
    if share >= SINGLE_SHOT_FROM {
        let evidence = json!({
            "measured": { "shots": lengths.len(), "longest_shot_share": r3(share) },
            "segments": [segment("longest shot", &Segment { start_seconds: longest.start_seconds, end_seconds: longest.end_seconds })],
        });
        out.push(fitted(
            Rule::SingleShot,
            vec![share],
            kind,
            scenes.version,
            evidence,
        ));
    }
}

// ---- on-screen text -------------------------------------------------------------------------

/// A line with fewer letters or digits than this is a stray mark the recogniser read, not text.
const MIN_LINE_CHARACTERS: usize = 2;

fn letters(text: &str) -> String {
    text.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

fn readable(line: &TextTrack) -> bool {
    letters(&line.text).chars().count() >= MIN_LINE_CHARACTERS
        && line.end_seconds > line.start_seconds
}

fn line_evidence(lines: &[&TextTrack]) -> Vec<Value> {
    lines
        .iter()
        .take(20)
        .map(|l| {
            json!({
                "text": l.text,
                "start_seconds": r3(l.start_seconds),
                "end_seconds": r3(l.end_seconds),
                "bounds": l.bounds.map(|b| r3(f64::from(b))),
                "confidence": r3(f64::from(l.confidence)),
            })
        })
        .collect()
}

/// Total length of the union of `spans`.
fn covered(mut spans: Vec<(f64, f64)>) -> f64 {
    spans.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut total = 0.0;
    let mut current: Option<(f64, f64)> = None;
    for (start, end) in spans {
        match &mut current {
            Some((_, e)) if start <= *e => *e = e.max(end),
            _ => {
                if let Some((s, e)) = current {
                    total += e - s;
                }
                current = Some((start, end));
            }
        }
    }
    total + current.map_or(0.0, |(s, e)| e - s)
}

fn on_screen_text(text: Analyzed<OnScreenText>, duration: f64, out: &mut Vec<Finding>) {
    let lines: Vec<&TextTrack> = text.result.lines.iter().filter(|l| readable(l)).collect();
    let Some(best) = lines
        .iter()
        .map(|l| f64::from(l.confidence))
        .max_by(f64::total_cmp)
    else {
        return;
    };
    let seconds = covered(
        lines
            .iter()
            .map(|l| (l.start_seconds, l.end_seconds))
            .collect(),
    )
    .min(duration);
    let evidence = json!({
        "measured": {
            "text_seconds": r3(seconds),
            "text_share": r3(seconds / duration),
            "lines": lines.len(),
            "best_line_confidence": r3(best),
        },
        "lines": line_evidence(&lines),
    });
    // The recogniser's confidence is what separates text from marks it misread (stray digits
    // in a fractal read at 0.5–0.9, drawn captions at 0.97 and above); how long text stays on
    // screen does not (fitted on the truth set, it came out with the wrong sign).
    out.push(fitted(
        Rule::OnScreenText,
        vec![best],
        AnalyzerKind::Text,
        text.version,
        evidence,
    ));
}

/// A line whose centre is this far down the frame or further is in the lower part, where
/// subtitles and karaoke-style lyrics sit (titles, credits and channel names sit at the top).
const LOWER_FROM: f32 = 0.5;
/// A line on screen longer than this counts only this long toward lyric coverage: a sung line
/// lasts a few seconds, while a caption held still (a title, a watermark) lasts the whole video.
const LYRIC_LINE_SECONDS: f64 = 6.0;
/// Lyrics are several lines, one after another; one or two lines are a title or credits.
const LYRICS_MIN_LINES: usize = 3;
/// Sung lines are words: a line with fewer letters is a counter, a score or a misread mark.
const LYRIC_MIN_LETTERS: usize = 3;
/// Readings at least this similar (normalised edit distance) are the same line read again.
const SAME_LINE: f64 = 0.8;

/// A line that can be a sung line: readable, in the lower part, made of words.
fn lyric_line(line: &TextTrack) -> bool {
    readable(line)
        && (line.bounds[1] + line.bounds[3]) / 2.0 >= LOWER_FROM
        && line.text.chars().filter(|c| c.is_alphabetic()).count() >= LYRIC_MIN_LETTERS
}

/// Two readings of one line: the same text read again (a letter or two apart), or a piece of
/// it (the recogniser sometimes reads one caption as two boxes, "The Paper K" and "Kites").
fn same_line(a: &str, b: &str) -> bool {
    a == b || a.contains(b) || b.contains(a) || strsim::normalized_levenshtein(a, b) >= SAME_LINE
}

/// One line of lyrics over every time it was read: its letters, and its time on screen up to
/// [`LYRIC_LINE_SECONDS`].
struct LyricLine {
    letters: String,
    spans: Vec<(f64, f64)>,
    seconds: f64,
}

/// Lower-part lines grouped by text (a line shown again, read again over a changing background,
/// or read in pieces is one line), each group's time on screen capped at
/// [`LYRIC_LINE_SECONDS`]: the share of `duration` the capped groups cover, and how many
/// groups there are.
pub fn lyric_coverage(lines: &[TextTrack], duration: f64) -> (f64, usize) {
    let mut lower: Vec<&TextTrack> = lines.iter().filter(|l| lyric_line(l)).collect();
    lower.sort_by(|a, b| a.start_seconds.total_cmp(&b.start_seconds));
    let mut groups: Vec<LyricLine> = Vec::new();
    for line in lower {
        let key = letters(&line.text);
        let index = match groups.iter().position(|g| same_line(&g.letters, &key)) {
            Some(i) => i,
            None => {
                groups.push(LyricLine {
                    letters: key,
                    spans: Vec::new(),
                    seconds: 0.0,
                });
                groups.len() - 1
            }
        };
        let group = &mut groups[index];
        let take = (line.end_seconds - line.start_seconds).min(LYRIC_LINE_SECONDS - group.seconds);
        if take > 0.0 {
            group
                .spans
                .push((line.start_seconds, line.start_seconds + take));
            group.seconds += take;
        }
    }
    let count = groups.len();
    let spans = groups.into_iter().flat_map(|g| g.spans).collect();
    ((covered(spans) / duration).min(1.0), count)
}

fn lyrics(text: Analyzed<OnScreenText>, duration: f64, out: &mut Vec<Finding>) {
    let (coverage, count) = lyric_coverage(&text.result.lines, duration);
    if count < LYRICS_MIN_LINES {
        return;
    }
    let lower: Vec<&TextTrack> = text.result.lines.iter().filter(|l| lyric_line(l)).collect();
    let evidence = json!({
        "measured": { "lyric_coverage": r3(coverage), "distinct_lower_lines": count },
        "lines": line_evidence(&lower),
    });
    out.push(fitted(
        Rule::Lyrics,
        vec![coverage],
        AnalyzerKind::Text,
        text.version,
        evidence,
    ));
}

// ---- soundtrack -----------------------------------------------------------------------------

/// Music must fill this share of the duration before the media can be instrumental.
const INSTRUMENTAL_MUSIC_FROM: f64 = 0.3;

fn soundtrack(audio: Analyzed<AudioProfile>, out: &mut Vec<Finding>) {
    let a = audio.result;
    let speech: Vec<Value> = a
        .speech_segments
        .iter()
        .take(20)
        .map(|s| segment("speech", s))
        .collect();
    let kind = AnalyzerKind::Audio;
    if a.speech_seconds > 0.0 {
        let evidence = json!({
            "measured": {
                "speech_ratio": r3(a.speech_ratio),
                "speech_seconds": r3(a.speech_seconds),
                "duration_seconds": r3(a.duration_seconds),
            },
            "segments": speech,
        });
        out.push(fitted(
            Rule::SpeechHeavy,
            vec![a.speech_ratio],
            kind,
            audio.version,
            evidence,
        ));
    }
    if a.music_ratio >= INSTRUMENTAL_MUSIC_FROM {
        let evidence = json!({
            "measured": {
                "music_ratio": r3(a.music_ratio),
                "speech_ratio": r3(a.speech_ratio),
                "tempo_bpm": a.tempo_bpm.map(r3),
                "tempo_confidence": r3(a.tempo_confidence),
            },
            "segments": speech,
        });
        out.push(fitted(
            Rule::Instrumental,
            vec![a.music_ratio, a.speech_ratio],
            kind,
            audio.version,
            evidence,
        ));
    }
}

// ---- moderation -----------------------------------------------------------------------------

fn explicit(moderation: Analyzed<Moderation>, out: &mut Vec<Finding>) {
    let m = moderation.result;
    if m.verdict == ModerationVerdict::Safe {
        return;
    }
    let worst = m
        .evidence
        .iter()
        .map(|e| e.explicit)
        .chain(m.shots.iter().map(|s| s.explicit))
        .fold(0.0f32, f32::max);
    let evidence = json!({
        "measured": {
            "verdict": m.verdict,
            "worst_explicit_score": r3(f64::from(worst)),
            "model": m.model,
            "frames_checked": m.frames_checked,
        },
        "frames": m.evidence.iter().map(|e| json!({
            "seconds": r3(e.seconds),
            "explicit": r3(f64::from(e.explicit)),
            "detections": e.detections,
        })).collect::<Vec<_>>(),
        "segments": m.shots.iter().filter(|s| s.explicit > 0.0).take(20).map(|s| json!({
            "what": "shot",
            "start_seconds": r3(s.start_seconds),
            "end_seconds": r3(s.end_seconds),
            "explicit": r3(f64::from(s.explicit)),
        })).collect::<Vec<_>>(),
    });
    out.push(Finding {
        name: "content/explicit",
        confidence: Confidence::Detector(f64::from(worst)),
        analyzer: AnalyzerKind::Moderation,
        version: moderation.version,
        evidence,
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use mvidarr_core::analysis::{
        AudioQuality, AudioStream, Bars, DecodeHealth, Distribution, Interlacing, LabelledBox,
        ModerationEvidence, QualityPart, Shot, ShotModeration, Transition, TransitionKind,
        VideoQuality, VideoStream,
    };

    fn probe(width: u32, height: u32, audio: bool) -> Probe {
        Probe {
            container: "mov,mp4,m4a,3gp,3g2,mj2".into(),
            duration_seconds: Some(60.0),
            bit_rate: None,
            video: vec![VideoStream {
                index: 0,
                codec: "h264".into(),
                profile: None,
                pixel_format: None,
                width,
                height,
                fps: Some(25.0),
                bit_rate: None,
            }],
            audio: if audio {
                vec![AudioStream {
                    index: 1,
                    codec: "aac".into(),
                    sample_rate: Some(48_000),
                    channels: Some(2),
                    channel_layout: None,
                    bit_rate: None,
                }]
            } else {
                vec![]
            },
        }
    }

    fn part(name: &str, score: u8) -> QualityPart {
        QualityPart {
            name: name.into(),
            score,
            weight: 1.0,
            detail: format!("{name} measured"),
        }
    }

    /// A 1280×720 quality document: `score` overall, each damage part at `damage`.
    fn quality(score: u8, damage: u8, bars: Bars, lufs: Option<f64>) -> Quality {
        Quality {
            score,
            parts: vec![
                part("resolution", 80),
                part("sharpness", damage),
                part("noise", 100),
                part("blockiness", 100),
                part("loudness", 100),
            ],
            video: Some(VideoQuality {
                width: 1280,
                height: 720,
                resolution_class: "720p".into(),
                bits_per_pixel: None,
                bitrate_class: None,
                sharpness: Distribution::default(),
                blurred_fraction: 0.0,
                noise_sigma: 1.0,
                blockiness: 1.0,
                bars,
                black_segments: vec![Segment {
                    start_seconds: 10.0,
                    end_seconds: 12.0,
                }],
                frozen_segments: vec![],
                interlacing: Interlacing::default(),
            }),
            audio: Some(AudioQuality {
                integrated_lufs: lufs,
                loudness_range_lu: 0.0,
                true_peak_dbtp: -1.0,
                sample_peak_dbfs: -1.0,
                clipped_samples: 0,
                clipping_segments: vec![],
                silence_segments: vec![],
                duration_seconds: 60.0,
            }),
            decode: DecodeHealth::default(),
        }
    }

    fn no_bars() -> Bars {
        Bars::default()
    }

    fn scenes(lengths: &[f64]) -> Scenes {
        let mut shots = Vec::new();
        let mut transitions = Vec::new();
        let mut at = 0.0;
        for (i, length) in lengths.iter().enumerate() {
            if i > 0 {
                transitions.push(Transition {
                    kind: TransitionKind::Cut,
                    frame: (at * 25.0) as u64,
                    at_seconds: at,
                    span: Segment {
                        start_seconds: at,
                        end_seconds: at,
                    },
                    score: 1.0,
                });
            }
            shots.push(Shot {
                index: i as u32,
                start_frame: (at * 25.0) as u64,
                end_frame: ((at + length) * 25.0) as u64,
                start_seconds: at,
                end_seconds: at + length,
                keyframe_seconds: at + length / 2.0,
            });
            at += length;
        }
        Scenes {
            frame_rate: 25.0,
            frames: (at * 25.0) as u64,
            duration_seconds: at,
            transitions,
            shots,
            decode: DecodeHealth::default(),
        }
    }

    fn line(text: &str, start: f64, end: f64, y: f32) -> TextTrack {
        TextTrack {
            text: text.into(),
            confidence: 0.98,
            start_seconds: start,
            end_seconds: end,
            bounds: [0.2, y, 0.8, y + 0.1],
        }
    }

    fn text(lines: Vec<TextTrack>) -> OnScreenText {
        OnScreenText {
            lines,
            frames_detected: 10,
            regions_detected: 10,
            regions_read: 10,
        }
    }

    /// Lines of a lyric video: a new line every `every` seconds at `y`, over `seconds`.
    fn lyric_lines(seconds: f64, every: f64, y: f32) -> Vec<TextTrack> {
        let words = [
            "neon rain falls",
            "hold the signal",
            "city of glass",
            "we run at dawn",
            "static hearts",
            "under red skies",
            "call my name",
            "paper moons",
        ];
        (0..)
            .map(|i| f64::from(i) * every)
            .take_while(|start| start + every <= seconds)
            .enumerate()
            .map(|(i, start)| line(words[i % words.len()], start, start + every - 0.1, y))
            .collect()
    }

    fn audio(speech_ratio: f64, music_ratio: f64) -> AudioProfile {
        AudioProfile {
            duration_seconds: 60.0,
            speech_segments: if speech_ratio > 0.0 {
                vec![Segment {
                    start_seconds: 0.0,
                    end_seconds: 60.0 * speech_ratio,
                }]
            } else {
                vec![]
            },
            speech_seconds: 60.0 * speech_ratio,
            speech_ratio,
            music_ratio,
            tempo_bpm: Some(120.0),
            tempo_confidence: 0.8,
            energy_dbfs: vec![],
        }
    }

    fn moderation(verdict: ModerationVerdict, score: f32) -> Moderation {
        Moderation {
            verdict,
            model: "nudenet-320n 3.4.2".into(),
            frames_checked: 12,
            shots: vec![ShotModeration {
                shot: 0,
                start_seconds: 4.0,
                end_seconds: 9.0,
                explicit: score,
            }],
            evidence: vec![ModerationEvidence {
                seconds: 5.5,
                explicit: score,
                detections: vec![LabelledBox {
                    label: "FEMALE_BREAST_EXPOSED".into(),
                    score,
                    x: 0.4,
                    y: 0.3,
                    width: 0.2,
                    height: 0.2,
                }],
            }],
        }
    }

    fn tag<'a>(tags: &'a [Tag], name: &str) -> Option<&'a Tag> {
        tags.iter().find(|t| t.name.as_str() == name)
    }

    fn names(tags: &[Tag]) -> Vec<&str> {
        tags.iter().map(|t| t.name.as_str()).collect()
    }

    fn with_quality(q: &Quality) -> RuleInputs<'_> {
        RuleInputs {
            quality: Some(Analyzed::new(q, 4)),
            ..RuleInputs::default()
        }
    }

    fn with_scenes(s: &Scenes) -> RuleInputs<'_> {
        RuleInputs {
            scenes: Some(Analyzed::new(s, 2)),
            ..RuleInputs::default()
        }
    }

    fn with_text(t: &OnScreenText) -> RuleInputs<'_> {
        RuleInputs {
            text: Some(Analyzed::new(t, 3)),
            ..RuleInputs::default()
        }
    }

    #[test]
    fn no_analyses_no_tags() {
        assert!(analyzer_tags(&RuleInputs::default()).is_empty());
        assert!(findings(&RuleInputs::default()).is_empty());
    }

    #[test]
    fn technical_facts_are_certain_and_name_the_probe() {
        let p = probe(1080, 1920, false);
        let tags = analyzer_tags(&RuleInputs {
            probe: Some(Analyzed::new(&p, 7)),
            ..RuleInputs::default()
        });
        assert_eq!(
            names(&tags),
            ["resolution/1080p", "orientation/portrait", "audio/silent"]
        );
        for t in &tags {
            assert_eq!(t.confidence, 1.0);
            assert_eq!(t.status, TagStatus::Review);
            assert_eq!(
                t.source,
                TagSource::Analyzer {
                    name: "probe".into(),
                    version: 7
                }
            );
        }
        assert_eq!(tags[0].evidence["measured"]["height"], 1920);
        let square = probe(480, 480, true);
        let tags = analyzer_tags(&RuleInputs {
            probe: Some(Analyzed::new(&square, 1)),
            ..RuleInputs::default()
        });
        assert_eq!(names(&tags), ["resolution/480p", "orientation/square"]);
    }

    #[test]
    fn digital_silence_is_silent_once() {
        let p = probe(1280, 720, true);
        let silent = quality(80, 100, no_bars(), None);
        let inputs = RuleInputs {
            probe: Some(Analyzed::new(&p, 1)),
            quality: Some(Analyzed::new(&silent, 4)),
            ..RuleInputs::default()
        };
        let tags = analyzer_tags(&inputs);
        let silence: Vec<&Tag> = tags
            .iter()
            .filter(|t| t.name.as_str() == "audio/silent")
            .collect();
        assert_eq!(silence.len(), 1);
        assert_eq!(silence[0].confidence, 1.0);
        assert_eq!(
            silence[0].source,
            TagSource::Analyzer {
                name: "quality".into(),
                version: 4
            }
        );
        let loud = quality(80, 100, no_bars(), Some(-14.0));
        assert!(tag(&analyzer_tags(&with_quality(&loud)), "audio/silent").is_none());
    }

    #[test]
    fn letterbox_and_pillarbox_bars_are_tagged_with_their_sizes() {
        let letterbox = Bars {
            top: 90,
            bottom: 90,
            left: 0,
            right: 0,
        };
        let q = quality(80, 100, letterbox, Some(-14.0));
        let tags = analyzer_tags(&with_quality(&q));
        let t = tag(&tags, "picture/letterboxed").expect("letterboxed");
        assert!(t.confidence > 0.9, "{t:?}");
        assert_eq!(t.evidence["measured"]["bars"]["top"], 90);
        assert_eq!(t.evidence["measured"]["bar_share"], 0.125);
        assert!(tag(&tags, "picture/pillarboxed").is_none());

        let pillarbox = Bars {
            top: 0,
            bottom: 0,
            left: 160,
            right: 160,
        };
        let q = quality(80, 100, pillarbox, Some(-14.0));
        let tags = analyzer_tags(&with_quality(&q));
        assert!(tag(&tags, "picture/pillarboxed").is_some_and(|t| t.confidence > 0.9));
        assert!(tag(&tags, "picture/letterboxed").is_none());

        // A bar on one side only is a dark edge of the picture, not a letterbox.
        for one_side in [
            Bars {
                top: 90,
                ..Bars::default()
            },
            Bars {
                left: 90,
                ..Bars::default()
            },
            no_bars(),
        ] {
            let q = quality(80, 100, one_side, Some(-14.0));
            let tags = analyzer_tags(&with_quality(&q));
            assert!(
                tag(&tags, "picture/letterboxed").is_none()
                    && tag(&tags, "picture/pillarboxed").is_none(),
                "{one_side:?}"
            );
        }
    }

    #[test]
    fn fast_cutting_is_tagged_by_its_shot_lengths() {
        let fast = scenes(&[0.8; 40]);
        let tags = analyzer_tags(&with_scenes(&fast));
        let t = tag(&tags, "editing/fast-cut").expect("fast-cut");
        assert!(t.confidence > 0.9, "{t:?}");
        assert_eq!(t.evidence["measured"]["shots"], 40);
        assert_eq!(t.evidence["frames"].as_array().unwrap().len(), 30);
        assert_eq!(
            t.source,
            TagSource::Analyzer {
                name: "scenes".into(),
                version: 2
            }
        );
        let slow = scenes(&[6.0; 10]);
        let slow_tags = analyzer_tags(&with_scenes(&slow));
        assert!(
            tag(&slow_tags, "editing/fast-cut").is_none_or(|t| t.confidence < 0.5),
            "{slow_tags:?}"
        );
        // Two shots say nothing about the pace of the cutting.
        let two = scenes(&[0.5, 0.5]);
        assert!(
            findings(&with_scenes(&two))
                .iter()
                .all(|f| f.name != "editing/fast-cut")
        );
    }

    #[test]
    fn one_long_take_is_a_single_shot() {
        let one = scenes(&[180.0]);
        let tags = analyzer_tags(&with_scenes(&one));
        let t = tag(&tags, "editing/single-shot").expect("single shot");
        assert!(t.confidence > 0.5, "{t:?}");
        assert_eq!(t.evidence["segments"][0]["end_seconds"], 180.0);
        let many = scenes(&[3.0; 20]);
        assert!(
            findings(&with_scenes(&many))
                .iter()
                .all(|f| f.name != "editing/single-shot")
        );
    }

    /// Text rules need the duration: given by the scenes here.
    fn text_inputs<'a>(t: &'a OnScreenText, s: &'a Scenes) -> RuleInputs<'a> {
        RuleInputs {
            scenes: Some(Analyzed::new(s, 2)),
            ..with_text(t)
        }
    }

    #[test]
    fn on_screen_text_is_tagged_with_its_lines() {
        let s = scenes(&[30.0]);
        let t = text(vec![
            line("LIVE AT THE ROYAL HALL", 1.0, 6.0, 0.05),
            line("Directed by Ana Lima", 8.0, 11.0, 0.8),
        ]);
        let tags = analyzer_tags(&text_inputs(&t, &s));
        let found = tag(&tags, "text/on-screen").expect("text");
        assert!(found.confidence > 0.9, "{found:?}");
        assert_eq!(found.evidence["lines"][0]["text"], "LIVE AT THE ROYAL HALL");
        assert_eq!(found.evidence["measured"]["text_seconds"], 8.0);
        assert_eq!(
            found.source,
            TagSource::Analyzer {
                name: "text".into(),
                version: 3
            }
        );
        // Stray marks the recogniser read, and no text at all.
        for lines in [
            vec![line("|", 1.0, 2.0, 0.5), line("7", 3.0, 4.0, 0.5)],
            vec![],
        ] {
            let t = text(lines);
            assert!(
                findings(&text_inputs(&t, &s))
                    .iter()
                    .all(|f| !f.name.starts_with("text/"))
            );
        }
        // Without any duration the share of time cannot be told.
        let t = text(vec![line("Directed by Ana Lima", 8.0, 11.0, 0.8)]);
        assert!(analyzer_tags(&with_text(&t)).is_empty());
    }

    #[test]
    fn lyrics_are_many_changing_lines_low_in_the_frame_over_most_of_the_time() {
        let s = scenes(&[60.0]);
        let lyrics = text(lyric_lines(60.0, 3.0, 0.75));
        let tags = analyzer_tags(&text_inputs(&lyrics, &s));
        let t = tag(&tags, "text/lyrics").expect("lyrics");
        assert!(t.confidence > 0.9, "{t:?}");
        assert_eq!(t.evidence["measured"]["distinct_lower_lines"], 8);
        assert!(t.evidence["lines"].as_array().unwrap().len() >= 8);

        // The same lines at the top of the frame are titles.
        let top = text(lyric_lines(60.0, 3.0, 0.05));
        assert!(tag(&analyzer_tags(&text_inputs(&top, &s)), "text/lyrics").is_none());
        // One caption held for the whole video, even read a little differently each time.
        let held = text(vec![
            line("Official Video", 0.0, 20.0, 0.8),
            line("Officlal Video", 20.0, 40.0, 0.8),
            line("Official V", 40.0, 50.0, 0.8),
            line("Video", 40.0, 50.0, 0.8),
            line("Official Vide0", 50.0, 60.0, 0.8),
            line("27", 30.0, 31.0, 0.8),
        ]);
        assert!(
            findings(&text_inputs(&held, &s))
                .iter()
                .all(|f| f.name != "text/lyrics")
        );
        let (coverage, lines) = lyric_coverage(&held.lines, 60.0);
        assert_eq!(lines, 1);
        assert!((coverage - 0.1).abs() < 1e-9, "{coverage}");
        // A few credits over a long video.
        let credits = text(vec![
            line("Ana Lima", 2.0, 4.0, 0.8),
            line("Night Drive", 30.0, 32.0, 0.8),
            line("Studio Nine", 50.0, 52.0, 0.8),
        ]);
        let tags = analyzer_tags(&text_inputs(&credits, &s));
        assert!(
            tag(&tags, "text/lyrics").is_none_or(|t| t.confidence < 0.5),
            "{tags:?}"
        );
    }

    #[test]
    fn speech_heavy_follows_the_share_of_speech() {
        let talk = audio(0.8, 0.1);
        let inputs = RuleInputs {
            audio: Some(Analyzed::new(&talk, 5)),
            ..RuleInputs::default()
        };
        let tags = analyzer_tags(&inputs);
        let t = tag(&tags, "audio/speech-heavy").expect("speech");
        assert!(t.confidence > 0.9, "{t:?}");
        assert_eq!(t.evidence["segments"][0]["end_seconds"], 48.0);
        assert!(tag(&tags, "audio/instrumental").is_none());
        let music = audio(0.0, 0.95);
        let inputs = RuleInputs {
            audio: Some(Analyzed::new(&music, 5)),
            ..RuleInputs::default()
        };
        let tags = analyzer_tags(&inputs);
        assert!(tag(&tags, "audio/speech-heavy").is_none());
        let t = tag(&tags, "audio/instrumental").expect("instrumental");
        assert!(t.confidence > 0.9, "{t:?}");
        assert_eq!(t.evidence["measured"]["tempo_bpm"], 120.0);
    }

    #[test]
    fn a_voice_over_the_music_makes_it_less_instrumental() {
        let confidence = |speech: f64| {
            let a = audio(speech, 0.9);
            findings(&RuleInputs {
                audio: Some(Analyzed::new(&a, 1)),
                ..RuleInputs::default()
            })
            .into_iter()
            .find(|f| f.name == "audio/instrumental")
            .map(|f| f.confidence.value())
            .unwrap()
        };
        assert!(confidence(0.0) > confidence(0.2));
        assert!(confidence(0.2) > confidence(0.5));
        let quiet = audio(0.0, 0.1);
        assert!(
            findings(&RuleInputs {
                audio: Some(Analyzed::new(&quiet, 1)),
                ..RuleInputs::default()
            })
            .is_empty()
        );
    }

    #[test]
    fn explicit_content_carries_the_detectors_score_and_frames() {
        let m = moderation(ModerationVerdict::Explicit, 0.82);
        let inputs = RuleInputs {
            moderation: Some(Analyzed::new(&m, 1)),
            ..RuleInputs::default()
        };
        let tags = analyzer_tags(&inputs);
        let t = tag(&tags, "content/explicit").expect("explicit");
        assert!((t.confidence - 0.82).abs() < 1e-6);
        assert_eq!(t.evidence["frames"][0]["seconds"], 5.5);
        assert_eq!(
            t.evidence["frames"][0]["detections"][0]["label"],
            "FEMALE_BREAST_EXPOSED"
        );
        assert_eq!(t.evidence["segments"][0]["start_seconds"], 4.0);
        assert_eq!(t.evidence["measured"]["verdict"], "explicit");
        let safe = moderation(ModerationVerdict::Safe, 0.1);
        assert!(
            analyzer_tags(&RuleInputs {
                moderation: Some(Analyzed::new(&safe, 1)),
                ..RuleInputs::default()
            })
            .is_empty()
        );
    }

    #[test]
    fn low_quality_names_its_worst_parts() {
        let bad = quality(35, 5, no_bars(), Some(-14.0));
        let tags = analyzer_tags(&with_quality(&bad));
        let t = tag(&tags, "quality/low").expect("low quality");
        assert!(t.confidence > 0.9, "{t:?}");
        assert_eq!(t.evidence["worst_parts"][0]["name"], "sharpness");
        assert_eq!(t.evidence["measured"]["worst_damage_part"], 5);
        assert_eq!(t.evidence["segments"][0]["what"], "black");
        let good = quality(95, 100, no_bars(), Some(-14.0));
        assert!(tag(&analyzer_tags(&with_quality(&good)), "quality/low").is_none());
        // …but the finding is there for the calibration to learn from.
        assert!(
            findings(&with_quality(&good))
                .iter()
                .any(|f| f.name == "quality/low")
        );
    }

    #[test]
    fn every_curve_is_a_probability_monotone_in_what_it_measures() {
        for rule in Rule::ALL {
            let curve = rule.curve();
            let features = rule.features();
            assert_eq!(curve.weights.len(), features.len(), "{rule:?}");
            // Plausible ranges of each quantity.
            let range = |name: &str| -> (f64, f64) {
                match name {
                    "log2_median_shot_seconds" => (-3.0, 4.0),
                    "ln_1p_text_seconds" => (0.0, 6.0),
                    "quality_score" | "worst_damage_part" => (0.0, 100.0),
                    _ => (0.0, 1.0),
                }
            };
            let base: Vec<f64> = features
                .iter()
                .map(|f| {
                    let (lo, hi) = range(f.name);
                    (lo + hi) / 2.0
                })
                .collect();
            for (j, feature) in features.iter().enumerate() {
                let (lo, hi) = range(feature.name);
                let mut previous: Option<f64> = None;
                for step in 0..=20 {
                    let mut x = base.clone();
                    x[j] = lo + (hi - lo) * f64::from(step) / 20.0;
                    let c = curve.confidence(&x);
                    assert!((0.0..=1.0).contains(&c), "{rule:?} {x:?}: {c}");
                    if let Some(p) = previous {
                        match feature.direction {
                            Direction::More => {
                                assert!(c >= p, "{rule:?} {}: {p} → {c}", feature.name)
                            }
                            Direction::Less => {
                                assert!(c <= p, "{rule:?} {}: {p} → {c}", feature.name)
                            }
                        }
                    }
                    previous = Some(c);
                }
            }
        }
    }

    #[test]
    fn every_tag_is_valid_in_range_and_in_review() {
        let p = probe(640, 360, true);
        let q = quality(
            40,
            10,
            Bars {
                top: 40,
                bottom: 40,
                left: 0,
                right: 0,
            },
            Some(-14.0),
        );
        let s = scenes(&[0.9; 30]);
        let a = audio(0.6, 0.3);
        let m = moderation(ModerationVerdict::Review, 0.45);
        let t = text(lyric_lines(27.0, 3.0, 0.7));
        let inputs = RuleInputs {
            probe: Some(Analyzed::new(&p, 1)),
            scenes: Some(Analyzed::new(&s, 1)),
            quality: Some(Analyzed::new(&q, 1)),
            audio: Some(Analyzed::new(&a, 1)),
            moderation: Some(Analyzed::new(&m, 1)),
            text: Some(Analyzed::new(&t, 1)),
        };
        let tags = analyzer_tags(&inputs);
        assert!(tags.len() >= 8, "{:?}", names(&tags));
        for t in &tags {
            assert!((PROPOSE_FROM..=1.0).contains(&t.confidence), "{t:?}");
            assert_eq!(t.status, TagStatus::Review);
            assert!(t.evidence["measured"].is_object(), "{t:?}");
        }
        let mut unique = names(&tags);
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), tags.len(), "one tag per name");
    }

    #[test]
    fn a_missing_analysis_takes_only_its_own_tags_away() {
        let p = probe(640, 360, true);
        let q = quality(
            40,
            10,
            Bars {
                top: 40,
                bottom: 40,
                left: 0,
                right: 0,
            },
            Some(-14.0),
        );
        let s = scenes(&[0.9; 30]);
        let a = audio(0.9, 0.05);
        let m = moderation(ModerationVerdict::Explicit, 0.9);
        let t = text(lyric_lines(27.0, 3.0, 0.7));
        let all = RuleInputs {
            probe: Some(Analyzed::new(&p, 1)),
            scenes: Some(Analyzed::new(&s, 1)),
            quality: Some(Analyzed::new(&q, 1)),
            audio: Some(Analyzed::new(&a, 1)),
            moderation: Some(Analyzed::new(&m, 1)),
            text: Some(Analyzed::new(&t, 1)),
        };
        let everything = analyzer_tags(&all);
        let cases: [(RuleInputs, &[&str]); 5] = [
            (
                RuleInputs { probe: None, ..all },
                &["resolution/", "orientation/"],
            ),
            (
                RuleInputs {
                    quality: None,
                    ..all
                },
                &["picture/", "quality/"],
            ),
            (
                RuleInputs { audio: None, ..all },
                &["audio/speech-heavy", "audio/instrumental"],
            ),
            (
                RuleInputs {
                    moderation: None,
                    ..all
                },
                &["content/"],
            ),
            (RuleInputs { text: None, ..all }, &["text/"]),
        ];
        for (inputs, gone) in cases {
            let left = analyzer_tags(&inputs);
            let expected: Vec<&str> = names(&everything)
                .into_iter()
                .filter(|n| !gone.iter().any(|g| n.starts_with(g)))
                .collect();
            assert!(
                names(&everything)
                    .iter()
                    .any(|n| gone.iter().any(|g| n.starts_with(g))),
                "{gone:?} present with every analysis"
            );
            assert_eq!(names(&left), expected, "without {gone:?}");
        }
        // The scenes give the editing tags, and the text rules their duration.
        let left = analyzer_tags(&RuleInputs {
            scenes: None,
            probe: None,
            audio: None,
            ..all
        });
        assert!(
            names(&left)
                .iter()
                .all(|n| !n.starts_with("editing/") && !n.starts_with("text/")),
            "{:?}",
            names(&left)
        );
    }

    #[test]
    fn non_finite_measures_propose_nothing() {
        let mut a = audio(0.5, 0.9);
        a.speech_ratio = f64::NAN;
        let inputs = RuleInputs {
            audio: Some(Analyzed::new(&a, 1)),
            ..RuleInputs::default()
        };
        assert!(findings(&inputs).is_empty());
    }
}
