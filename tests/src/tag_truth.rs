//! Ground truth for analyzer tags: short videos built with known properties — bars, shot
//! lengths, captions, damage, soundtrack — run through the real analysis pass, tagged by
//! [`mvidarr_tag::rules`], and scored against what was built ([`evaluate`]); and the Platt fit of
//! the rules' curves on the same kind of media ([`fit_calibration`]).
//!
//! Each [`Case`] fixes one property (a letterbox, fast cuts, lyrics, blur, speech…) and draws
//! the others at random from a seed, mostly plain, so every tag meets its positives, its plain
//! negatives and its near misses (credits that are not lyrics, a spoken intro that is neither
//! speech-heavy nor instrumental). Truth by construction:
//!
//! - `picture/letterboxed` / `pillarboxed`: the picture was scaled down and padded with black
//!   bars (3–15% of the side each);
//! - `editing/fast-cut`: the median shot built is under [`FAST_CUT_SECONDS`];
//!   `editing/single-shot`: one shot;
//! - `text/on-screen`: any caption drawn; `text/lyrics`: distinct lines one after another in
//!   the lower part over most of the duration (captions that are a title or a few credits are
//!   not lyrics);
//! - `audio/speech-heavy`: spoken sentences (espeak-ng) over most of the duration, alone or over
//!   music; `audio/instrumental`: music (a chord with a beat) and no voice anywhere;
//!   `audio/silent`: no audio stream, or digital silence;
//! - `quality/low`: blurred, noisy or starved of bit rate; `content/explicit`: never (explicit
//!   media cannot be generated, so only its false alarms are measured);
//! - `resolution/*`, `orientation/*`: the frame size.
//!
//! Shots are drawn from looks whose truth is clear (see [`LOOKS`]). Speech needs `espeak-ng` on the `PATH` (as the media
//! tests do); without it the speech cases are skipped and the report says so.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use mvidarr_core::analysis::{AudioProfile, Moderation, OnScreenText, Probe, Quality, Scenes};
use mvidarr_media::analysis::{AnalysisOptions, analyze};
use mvidarr_media::pass::PassError;
use mvidarr_media::storyboard::{Join, Look, Storyboard};
use mvidarr_media::{Ffmpeg, ProbeError, RunError, SynthError, probe};
use mvidarr_tag::rules::{
    Analyzed, Confidence, Rule, RuleInputs, analyzer_tags, findings, logistic,
};
use rand::seq::{IndexedRandom, SliceRandom};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// A built median shot length under this is fast cutting (music videos average 2–3 s a shot).
pub const FAST_CUT_SECONDS: f64 = 2.0;
const FPS: u32 = 25;
const LANDSCAPE: (u32, u32) = (480, 270);
const PORTRAIT: (u32, u32) = (360, 640);
const SECONDS: f64 = 8.0;

/// The looks shots are drawn from: moving, no drawn text, and with detail everywhere, so that
/// a clean picture reads clean. Left out: `testsrc2` (it draws a running timestamp, which is
/// on-screen text), `Gradients` (no detail: sharp and blurred look alike, so whether one is
/// blurred has no answer; the quality analyzer reads it as blurred) and `CellAuto` (one-pixel
/// cells: the quality analyzer reads them as noise of σ 70–100).
const LOOKS: [Look; 4] = [
    Look::Mandelbrot { place: 0 },
    Look::Mandelbrot { place: 1 },
    Look::Mandelbrot { place: 2 },
    Look::PanningBars,
];

/// Invented lyric lines (letters and spaces only: drawtext takes them as they are), short
/// enough for the narrowest frame.
const LYRICS: [&str; 24] = [
    "neon rain falls",
    "hold the signal",
    "city of glass",
    "we run at dawn",
    "static hearts",
    "under red skies",
    "call my name",
    "paper moons",
    "echoes in blue",
    "gold on water",
    "slow motion fire",
    "after the storm",
    "dance in the dark",
    "north of nowhere",
    "silver lines",
    "all the way home",
    "ghost town radio",
    "lights go down",
    "summer in stereo",
    "velvet thunder",
    "keep the engine on",
    "open the sky",
    "falling upward",
    "a thousand miles",
];

/// Invented titles and credits.
const CREDITS: [&str; 10] = [
    "Official Video",
    "Ana Lima",
    "Night Drive",
    "Live at Studio",
    "Channel Nine",
    "Remastered",
    "Directed by Rui",
    "The Paper Kites",
    "Part Two",
    "Coming Soon",
];

/// Spoken sentences, long enough together to fill a clip.
const SENTENCES: [&str; 8] = [
    "The quick brown fox jumps over the lazy dog near the river bank.",
    "Music videos are analysed one frame at a time, and every second counts.",
    "Tonight we are talking about the making of this record and the long road here.",
    "I wrote the first verse on a train somewhere between two cities in the rain.",
    "Thank you all for watching, and please remember to stay until the very end.",
    "This interview was recorded backstage, just a few minutes before the show.",
    "We spent three weeks in the studio, mostly arguing about the drums.",
    "The director wanted every scene in a single take, which nobody enjoyed.",
];

const INTROS: [&str; 4] = [
    "Here we go.",
    "This one is for you.",
    "One, two, three.",
    "Hello everybody.",
];

/// The property a case fixes; the others are drawn at random.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Case {
    /// Everything plain: full frame, shots of a few seconds, no text, clean, music.
    Plain,
    Letterbox,
    Pillarbox,
    FastCut,
    SingleShot,
    Lyrics,
    /// One to three short captions (titles, credits): text, not lyrics.
    FewCaptions,
    /// One caption held for the whole clip.
    StaticCaption,
    Blur,
    Noise,
    /// Encoded at a starved bit rate.
    Blocky,
    NoAudio,
    SilentAudio,
    Speech,
    SpeechOverMusic,
    /// A short spoken line, then music.
    SpokenIntro,
    Portrait,
}

impl Case {
    pub const ALL: [Case; 17] = [
        Case::Plain,
        Case::Letterbox,
        Case::Pillarbox,
        Case::FastCut,
        Case::SingleShot,
        Case::Lyrics,
        Case::FewCaptions,
        Case::StaticCaption,
        Case::Blur,
        Case::Noise,
        Case::Blocky,
        Case::NoAudio,
        Case::SilentAudio,
        Case::Speech,
        Case::SpeechOverMusic,
        Case::SpokenIntro,
        Case::Portrait,
    ];

    fn name(self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    }

    fn needs_speech(self) -> bool {
        matches!(
            self,
            Case::Speech | Case::SpeechOverMusic | Case::SpokenIntro
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Framing {
    Full,
    /// Bars above and below, each this share of the height.
    Letterbox(f64),
    /// Bars left and right, each this share of the width.
    Pillarbox(f64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Editing {
    /// Shots of 2.5–4 s joined by cuts, fades and dissolves.
    Moderate,
    /// Shots of 0.5–1.4 s joined by cuts.
    Fast,
    Single,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaptionKind {
    None,
    Few,
    Static,
    Lyrics,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Damage {
    Clean,
    Blur { sigma: f64 },
    Noise { strength: u32 },
    Starved { bit_rate: u64 },
}

/// A chord on `root_hz` with a click on every beat.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Music {
    pub root_hz: f64,
    pub bpm: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Soundtrack {
    None,
    Silent,
    Music(Music),
    Speech { text: String },
    SpeechOverMusic { text: String, music: Music },
    SpokenIntro { text: String, music: Music },
}

/// A caption: text, shown from / to (seconds), its top at `y` pixels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Caption {
    pub text: String,
    pub from: f64,
    pub to: f64,
    pub y: u32,
}

/// How one truth media is built.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MediaSpec {
    pub name: String,
    pub case: Case,
    pub width: u32,
    pub height: u32,
    /// (index into the looks, seconds) per shot.
    pub shots: Vec<(usize, f64)>,
    /// Between shots: `None` for a cut, `Some(("fade" | "dissolve", seconds))` otherwise.
    pub joins: Vec<Option<(String, f64)>>,
    pub framing: Framing,
    pub editing: Editing,
    pub caption_kind: CaptionKind,
    pub captions: Vec<Caption>,
    pub damage: Damage,
    pub soundtrack: Soundtrack,
}

/// The tags the evaluation knows the truth of, for every media.
pub const EVALUATED: [&str; 16] = [
    "resolution/sd",
    "resolution/480p",
    "orientation/landscape",
    "orientation/portrait",
    "audio/silent",
    "picture/letterboxed",
    "picture/pillarboxed",
    "editing/fast-cut",
    "editing/single-shot",
    "text/on-screen",
    "text/lyrics",
    "audio/speech-heavy",
    "audio/instrumental",
    "content/explicit",
    "quality/low",
    "resolution/720p",
];

impl MediaSpec {
    /// Seconds, as built.
    pub fn duration(&self) -> f64 {
        self.shots.iter().map(|s| s.1).sum::<f64>()
            - self
                .joins
                .iter()
                .filter_map(|j| j.as_ref())
                .filter(|(kind, _)| kind == "dissolve")
                .map(|(_, t)| t)
                .sum::<f64>()
    }

    /// The evaluated tags that are true of this media, by construction.
    pub fn truth(&self) -> BTreeSet<String> {
        let mut truth = BTreeSet::new();
        let mut add = |t: &str| {
            truth.insert(t.to_string());
        };
        add(match self.width.min(self.height) {
            0..=479 => "resolution/sd",
            480..=719 => "resolution/480p",
            _ => "resolution/720p",
        });
        add(if self.width >= self.height {
            "orientation/landscape"
        } else {
            "orientation/portrait"
        });
        match self.framing {
            Framing::Full => {}
            Framing::Letterbox(_) => add("picture/letterboxed"),
            Framing::Pillarbox(_) => add("picture/pillarboxed"),
        }
        let mut lengths: Vec<f64> = self.shots.iter().map(|s| s.1).collect();
        lengths.sort_by(f64::total_cmp);
        if lengths.len() == 1 {
            add("editing/single-shot");
        } else if lengths[lengths.len() / 2] < FAST_CUT_SECONDS {
            add("editing/fast-cut");
        }
        if self.caption_kind != CaptionKind::None {
            add("text/on-screen");
        }
        if self.caption_kind == CaptionKind::Lyrics {
            add("text/lyrics");
        }
        match self.soundtrack {
            Soundtrack::None | Soundtrack::Silent => add("audio/silent"),
            Soundtrack::Music(_) => add("audio/instrumental"),
            Soundtrack::Speech { .. } | Soundtrack::SpeechOverMusic { .. } => {
                add("audio/speech-heavy")
            }
            Soundtrack::SpokenIntro { .. } => {}
        }
        if self.damage != Damage::Clean {
            add("quality/low");
        }
        truth
    }

    fn storyboard(&self) -> Storyboard {
        let joins = self
            .joins
            .iter()
            .map(|j| match j {
                Some((kind, t)) if kind == "fade" => Join::FadeThroughBlack(*t),
                Some((_, t)) => Join::Dissolve(*t),
                None => Join::Cut,
            })
            .collect();
        let framing = match self.framing {
            Framing::Full => None,
            Framing::Letterbox(share) => {
                let bar = even(f64::from(self.height) * share);
                Some(format!(
                    "scale={w}:{h},pad={W}:{H}:0:{bar}",
                    w = self.width,
                    h = self.height - 2 * bar,
                    W = self.width,
                    H = self.height
                ))
            }
            Framing::Pillarbox(share) => {
                let bar = even(f64::from(self.width) * share);
                Some(format!(
                    "scale={w}:{h},pad={W}:{H}:{bar}:0",
                    w = self.width - 2 * bar,
                    h = self.height,
                    W = self.width,
                    H = self.height
                ))
            }
        };
        let board = Storyboard {
            width: self.width,
            height: self.height,
            fps: FPS,
            shots: self
                .shots
                .iter()
                .map(|(look, s)| (LOOKS[*look], *s))
                .collect(),
            joins,
            bit_rate: match self.damage {
                Damage::Starved { bit_rate } => Some(bit_rate),
                _ => None,
            },
            tone: None,
            finish: framing,
        };
        let captions: Vec<(&str, f64, f64, u32)> = self
            .captions
            .iter()
            .map(|c| (c.text.as_str(), c.from, c.to, c.y))
            .collect();
        let mut board = if captions.is_empty() {
            board
        } else {
            board.with_captions(&captions)
        };
        // Damage comes last: an upload that is blurred or noisy is so captions and all.
        let damage = match self.damage {
            Damage::Blur { sigma } => Some(format!("gblur=sigma={sigma:.2}")),
            Damage::Noise { strength } => Some(format!("noise=alls={strength}:allf=t")),
            Damage::Clean | Damage::Starved { .. } => None,
        };
        if let Some(damage) = damage {
            board.finish = Some(match board.finish.take() {
                Some(before) => format!("{before},{damage}"),
                None => damage,
            });
        }
        board
    }
}

fn even(x: f64) -> u32 {
    ((x / 2.0).round() as u32 * 2).max(2)
}

/// What to generate.
#[derive(Debug, Clone, PartialEq)]
pub struct TruthConfig {
    /// Media per case.
    pub per_case: usize,
    pub seed: u64,
    /// The cases to generate (all by default).
    pub cases: Vec<Case>,
    /// The auto-accept threshold the report scores at (besides 0.5).
    pub threshold: f64,
}

impl Default for TruthConfig {
    /// Three media per case on seed 2 (the calibration is fitted on seed 1), scored at the
    /// default auto-accept threshold.
    fn default() -> Self {
        Self {
            per_case: 3,
            seed: 2,
            cases: Case::ALL.to_vec(),
            threshold: mvidarr_core::tag::Thresholds::default().accept,
        }
    }
}

/// Why the truth set could not be built.
#[derive(Debug)]
pub enum TruthError {
    Render { media: String, source: SynthError },
    Ffmpeg { media: String, source: RunError },
    FfmpegFailed { media: String, stderr_tail: String },
    Speech { media: String, reason: String },
    Probe { media: String, source: ProbeError },
    Analysis { media: String, source: PassError },
}

impl fmt::Display for TruthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TruthError::Render { media, source } => write!(f, "rendering {media}: {source}"),
            TruthError::Ffmpeg { media, source } => {
                write!(f, "running ffmpeg for {media}: {source}")
            }
            TruthError::FfmpegFailed { media, stderr_tail } => {
                write!(f, "ffmpeg failed on {media}: {stderr_tail}")
            }
            TruthError::Speech { media, reason } => write!(f, "speaking for {media}: {reason}"),
            TruthError::Probe { media, source } => write!(f, "probing {media}: {source}"),
            TruthError::Analysis { media, source } => write!(f, "analysing {media}: {source}"),
        }
    }
}

impl std::error::Error for TruthError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TruthError::Render { source, .. } => Some(source),
            TruthError::Ffmpeg { source, .. } => Some(source),
            TruthError::Probe { source, .. } => Some(source),
            TruthError::Analysis { source, .. } => Some(source),
            TruthError::FfmpegFailed { .. } | TruthError::Speech { .. } => None,
        }
    }
}

/// A media's analyses as the analysis pass produced them (`None` where an analyzer failed or
/// had nothing to analyse).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Analyses {
    pub probe: Probe,
    pub scenes: Option<Scenes>,
    pub quality: Option<Quality>,
    pub audio: Option<AudioProfile>,
    pub moderation: Option<Moderation>,
    pub text: Option<OnScreenText>,
}

impl Analyses {
    /// The rules' inputs, each at its analyzer's current version (as the analyze step records).
    pub fn inputs(&self) -> RuleInputs<'_> {
        RuleInputs {
            probe: Some(Analyzed::new(&self.probe, Probe::VERSION)),
            scenes: self
                .scenes
                .as_ref()
                .map(|s| Analyzed::new(s, Scenes::VERSION)),
            quality: self
                .quality
                .as_ref()
                .map(|q| Analyzed::new(q, Quality::VERSION)),
            audio: self
                .audio
                .as_ref()
                .map(|a| Analyzed::new(a, AudioProfile::VERSION)),
            moderation: self
                .moderation
                .as_ref()
                .map(|m| Analyzed::new(m, Moderation::VERSION)),
            text: self
                .text
                .as_ref()
                .map(|t| Analyzed::new(t, OnScreenText::VERSION)),
        }
    }
}

/// One generated media: how it was built, what is true of it, what the analyses found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Observed {
    pub spec: MediaSpec,
    pub truth: BTreeSet<String>,
    pub analyses: Analyses,
    /// Analyzers that failed on it, with why.
    pub failures: Vec<(String, String)>,
    pub analysis_seconds: f64,
}

/// A generated truth set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TruthSet {
    pub seed: u64,
    pub per_case: usize,
    pub media: Vec<Observed>,
    /// What could not be generated, and why.
    pub skipped: Vec<String>,
}

fn espeak_available() -> bool {
    std::process::Command::new("espeak-ng")
        .arg("--version")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Build, render and analyse the media `config` asks for, in `dir`.
pub async fn generate(
    dir: &Path,
    ffmpeg: &Ffmpeg,
    config: &TruthConfig,
) -> Result<TruthSet, TruthError> {
    let speech = espeak_available();
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    let mut specs = Vec::new();
    let mut skipped = Vec::new();
    for &case in &config.cases {
        if case.needs_speech() && !speech {
            skipped.push(format!(
                "{}: espeak-ng is not installed, so there is no speech",
                case.name()
            ));
            continue;
        }
        for i in 0..config.per_case {
            specs.push(draw(case, i, speech, &mut rng));
        }
    }
    // One set of models for every media: loaded once.
    let options = AnalysisOptions::default();
    let mut media = Vec::with_capacity(specs.len());
    for spec in specs {
        media.push(observe(dir, ffmpeg, spec, &options).await?);
    }
    Ok(TruthSet {
        seed: config.seed,
        per_case: config.per_case,
        media,
        skipped,
    })
}

/// [`generate`], then [`report`].
pub async fn evaluate(
    dir: &Path,
    ffmpeg: &Ffmpeg,
    config: &TruthConfig,
) -> Result<TruthReport, TruthError> {
    let set = generate(dir, ffmpeg, config).await?;
    Ok(report(&set, config.threshold))
}

fn draw_framing(rng: &mut ChaCha8Rng) -> Framing {
    match rng.random_range(0..100) {
        0..70 => Framing::Full,
        70..85 => Framing::Letterbox(rng.random_range(0.03..0.15)),
        _ => Framing::Pillarbox(rng.random_range(0.03..0.15)),
    }
}

fn draw_music(rng: &mut ChaCha8Rng) -> Music {
    Music {
        root_hz: *[196.0, 220.0, 247.0, 262.0].choose(rng).expect("not empty"),
        bpm: rng.random_range(80.0..160.0f64).round(),
    }
}

fn sentences(rng: &mut ChaCha8Rng, count: usize) -> String {
    let mut chosen: Vec<&str> = SENTENCES.to_vec();
    chosen.shuffle(rng);
    chosen[..count].join(" ")
}

/// One media of `case`: its own property fixed, the others drawn (mostly plain).
fn draw(case: Case, index: usize, speech: bool, rng: &mut ChaCha8Rng) -> MediaSpec {
    let plain = case == Case::Plain;
    let (width, height) = if case == Case::Portrait {
        PORTRAIT
    } else {
        LANDSCAPE
    };
    let framing = match case {
        Case::Letterbox => Framing::Letterbox(rng.random_range(0.03..0.15)),
        Case::Pillarbox => Framing::Pillarbox(rng.random_range(0.03..0.15)),
        _ if plain => Framing::Full,
        _ => draw_framing(rng),
    };
    let editing = match case {
        Case::FastCut => Editing::Fast,
        Case::SingleShot => Editing::Single,
        _ if plain => Editing::Moderate,
        _ => *[
            Editing::Moderate,
            Editing::Moderate,
            Editing::Fast,
            Editing::Single,
        ]
        .choose(rng)
        .expect("not empty"),
    };
    let caption_kind = match case {
        Case::Lyrics => CaptionKind::Lyrics,
        Case::FewCaptions => CaptionKind::Few,
        Case::StaticCaption => CaptionKind::Static,
        _ if plain => CaptionKind::None,
        _ => match rng.random_range(0..100) {
            0..55 => CaptionKind::None,
            55..70 => CaptionKind::Few,
            70..80 => CaptionKind::Static,
            _ => CaptionKind::Lyrics,
        },
    };
    let damage = match case {
        Case::Blur => Damage::Blur {
            sigma: rng.random_range(2.5..5.0),
        },
        Case::Noise => Damage::Noise {
            strength: rng.random_range(25..50),
        },
        Case::Blocky => Damage::Starved {
            bit_rate: rng.random_range(25..50) * 1000,
        },
        _ if plain => Damage::Clean,
        _ => match rng.random_range(0..100) {
            0..80 => Damage::Clean,
            80..87 => Damage::Blur {
                sigma: rng.random_range(2.5..5.0),
            },
            87..94 => Damage::Noise {
                strength: rng.random_range(25..50),
            },
            _ => Damage::Starved {
                bit_rate: rng.random_range(25..50) * 1000,
            },
        },
    };
    let music = draw_music(rng);
    let soundtrack = match case {
        Case::NoAudio => Soundtrack::None,
        Case::SilentAudio => Soundtrack::Silent,
        Case::Speech => Soundtrack::Speech {
            text: sentences(rng, 2),
        },
        Case::SpeechOverMusic => Soundtrack::SpeechOverMusic {
            text: sentences(rng, 2),
            music,
        },
        Case::SpokenIntro => Soundtrack::SpokenIntro {
            text: INTROS.choose(rng).expect("not empty").to_string(),
            music,
        },
        _ if plain => Soundtrack::Music(music),
        _ => match rng.random_range(0..100) {
            0..45 => Soundtrack::Music(music),
            45..55 => Soundtrack::None,
            55..60 => Soundtrack::Silent,
            _ if !speech => Soundtrack::Music(music),
            60..75 => Soundtrack::Speech {
                text: sentences(rng, 2),
            },
            75..90 => Soundtrack::SpeechOverMusic {
                text: sentences(rng, 2),
                music,
            },
            _ => Soundtrack::SpokenIntro {
                text: INTROS.choose(rng).expect("not empty").to_string(),
                music,
            },
        },
    };
    let (shots, joins) = draw_shots(editing, rng);
    let captions = draw_captions(caption_kind, height, rng);
    MediaSpec {
        name: format!("{}-{index}", case.name()),
        case,
        width,
        height,
        shots,
        joins,
        framing,
        editing,
        caption_kind,
        captions,
        damage,
        soundtrack,
    }
}

type Shots = (Vec<(usize, f64)>, Vec<Option<(String, f64)>>);

/// Shots filling [`SECONDS`], neighbours in different looks.
fn draw_shots(editing: Editing, rng: &mut ChaCha8Rng) -> Shots {
    let range = match editing {
        Editing::Single => SECONDS..SECONDS + 1e-9,
        Editing::Fast => 0.5..1.4,
        Editing::Moderate => 2.5..4.0,
    };
    let mut lengths = Vec::new();
    let mut left = SECONDS;
    while left > 1e-6 {
        let length: f64 = rng.random_range(range.clone());
        // Whole frames; a remainder too short for a shot of its kind joins the last one.
        let length = (length * f64::from(FPS)).round() / f64::from(FPS);
        if left - length < range.start {
            lengths.push(left);
            break;
        }
        lengths.push(length);
        left -= length;
    }
    let mut shots: Vec<(usize, f64)> = Vec::new();
    let mut previous = usize::MAX;
    for length in lengths {
        let look = loop {
            let look = rng.random_range(0..LOOKS.len());
            if look != previous {
                break look;
            }
        };
        previous = look;
        shots.push((look, length));
    }
    let joins = (1..shots.len())
        .map(|_| match editing {
            Editing::Moderate => match rng.random_range(0..100) {
                0..70 => None,
                70..85 => Some(("fade".to_string(), 0.6)),
                _ => Some(("dissolve".to_string(), 0.6)),
            },
            _ => None,
        })
        .collect::<Vec<_>>();
    // A dissolve overlaps its shots: lengthen the next shot so the clip keeps its length.
    for (i, join) in joins.iter().enumerate() {
        if let Some((kind, t)) = join
            && kind == "dissolve"
        {
            shots[i + 1].1 += t;
        }
    }
    (shots, joins)
}

fn draw_captions(kind: CaptionKind, height: u32, rng: &mut ChaCha8Rng) -> Vec<Caption> {
    let bottom = (f64::from(height) * 0.70) as u32;
    let top = (f64::from(height) * 0.06) as u32;
    let caption = |text: &str, from: f64, to: f64, y: u32| Caption {
        text: text.to_string(),
        from: (from * 100.0).round() / 100.0,
        to: (to * 100.0).round() / 100.0,
        y,
    };
    match kind {
        CaptionKind::None => Vec::new(),
        CaptionKind::Static => {
            let y = if rng.random_bool(0.7) { bottom } else { top };
            vec![caption(
                CREDITS.choose(rng).expect("not empty"),
                0.0,
                SECONDS,
                y,
            )]
        }
        CaptionKind::Few => {
            let count = rng.random_range(1..=3);
            let mut texts = CREDITS.to_vec();
            texts.shuffle(rng);
            let y = if rng.random_bool(0.5) { bottom } else { top };
            let slot = SECONDS / count as f64;
            (0..count)
                .map(|i| {
                    let length = rng.random_range(0.8..1.5);
                    let from = slot * i as f64 + rng.random_range(0.0..(slot - length).max(0.01));
                    caption(texts[i], from, from + length, y)
                })
                .collect()
        }
        CaptionKind::Lyrics => {
            let every: f64 = rng.random_range(1.4..2.2);
            let mut lines = LYRICS.to_vec();
            lines.shuffle(rng);
            let mut out = Vec::new();
            let mut from = 0.2;
            for text in lines {
                if from + every > SECONDS - 0.1 {
                    break;
                }
                out.push(caption(text, from, from + every - 0.1, bottom));
                from += every;
            }
            out
        }
    }
}

/// Render `spec`, mux its soundtrack, analyse it.
async fn observe(
    dir: &Path,
    ffmpeg: &Ffmpeg,
    spec: MediaSpec,
    options: &AnalysisOptions,
) -> Result<Observed, TruthError> {
    let name = spec.name.clone();
    let video = dir.join(format!("{name}.video.mp4"));
    let path = dir.join(format!("{name}.mp4"));
    spec.storyboard()
        .render(ffmpeg, &video)
        .await
        .map_err(|source| TruthError::Render {
            media: name.clone(),
            source,
        })?;
    add_soundtrack(dir, ffmpeg, &spec, &video, &path).await?;
    let _ = std::fs::remove_file(&video);
    let input = path.display().to_string();
    let started = Instant::now();
    let probe = probe(ffmpeg, &input, Duration::from_secs(60))
        .await
        .map_err(|source| TruthError::Probe {
            media: name.clone(),
            source,
        })?;
    let analysis = analyze(ffmpeg, &input, &probe, options)
        .await
        .map_err(|source| TruthError::Analysis {
            media: name.clone(),
            source,
        })?;
    let analysis_seconds = started.elapsed().as_secs_f64();
    let mut failures = Vec::new();
    let analyses = Analyses {
        scenes: kept("scenes", analysis.scenes, &mut failures),
        quality: kept("quality", Some(analysis.quality), &mut failures),
        audio: kept("audio", analysis.audio, &mut failures),
        moderation: kept("moderation", analysis.moderation, &mut failures),
        text: kept("text", analysis.text, &mut failures),
        probe,
    };
    Ok(Observed {
        truth: spec.truth(),
        spec,
        analyses,
        failures,
        analysis_seconds,
    })
}

/// An analyzer's document, or `None` with its failure noted.
fn kept<T>(
    what: &str,
    result: Option<Result<T, String>>,
    failures: &mut Vec<(String, String)>,
) -> Option<T> {
    match result? {
        Ok(document) => Some(document),
        Err(e) => {
            failures.push((what.to_string(), e));
            None
        }
    }
}

fn music_source(music: &Music) -> String {
    let period = 60.0 / music.bpm;
    let (root, third) = (music.root_hz, music.root_hz * 1.26);
    format!(
        "aevalsrc=0.15*sin(2*PI*{root}*t)+0.1*sin(2*PI*{third}*t)+0.6*sin(2*PI*1800*t)*exp(-40*mod(t\\,{period:.4})):s=48000:d={SECONDS}"
    )
}

/// Speak `text` into a WAV file with espeak-ng.
async fn speak(text: &str, out: &Path, media: &str) -> Result<(), TruthError> {
    let status = tokio::process::Command::new("espeak-ng")
        .arg("-w")
        .arg(out)
        .arg(text)
        .status()
        .await
        .map_err(|e| TruthError::Speech {
            media: media.to_string(),
            reason: e.to_string(),
        })?;
    if status.success() {
        Ok(())
    } else {
        Err(TruthError::Speech {
            media: media.to_string(),
            reason: format!("espeak-ng exited with {status}"),
        })
    }
}

/// Mux the soundtrack under the rendered `video` into `out` (or just move the video when the
/// media has no audio stream).
async fn add_soundtrack(
    dir: &Path,
    ffmpeg: &Ffmpeg,
    spec: &MediaSpec,
    video: &Path,
    out: &Path,
) -> Result<(), TruthError> {
    let media = spec.name.as_str();
    let mut inputs: Vec<String> = Vec::new();
    let mut speech_file: Option<PathBuf> = None;
    let lavfi = |source: String| vec!["-f".to_string(), "lavfi".into(), "-i".into(), source];
    let speech = |text: &str| (text.to_string(), dir.join(format!("{media}.speech.wav")));
    let graph = match &spec.soundtrack {
        Soundtrack::None => {
            return std::fs::rename(video, out).map_err(|e| TruthError::Speech {
                media: media.to_string(),
                reason: format!("moving the video into place: {e}"),
            });
        }
        Soundtrack::Silent => {
            inputs.extend(lavfi("anullsrc=r=48000:cl=stereo".into()));
            format!("[1:a]atrim=duration={SECONDS}[a]")
        }
        Soundtrack::Music(music) => {
            inputs.extend(lavfi(music_source(music)));
            "[1:a]anull[a]".to_string()
        }
        Soundtrack::Speech { text } => {
            let (text, file) = speech(text);
            speak(&text, &file, media).await?;
            inputs.extend(["-i".to_string(), file.display().to_string()]);
            speech_file = Some(file);
            format!("[1:a]aresample=48000,apad,atrim=duration={SECONDS}[a]")
        }
        Soundtrack::SpeechOverMusic { text, music } => {
            let (text, file) = speech(text);
            speak(&text, &file, media).await?;
            inputs.extend(["-i".to_string(), file.display().to_string()]);
            inputs.extend(lavfi(music_source(music)));
            speech_file = Some(file);
            format!(
                "[1:a]aresample=48000,apad,atrim=duration={SECONDS}[s];[2:a]volume=0.25[m];\
                 [s][m]amix=inputs=2:duration=first:normalize=0[a]"
            )
        }
        Soundtrack::SpokenIntro { text, music } => {
            let (text, file) = speech(text);
            speak(&text, &file, media).await?;
            inputs.extend(["-i".to_string(), file.display().to_string()]);
            inputs.extend(lavfi(music_source(music)));
            speech_file = Some(file);
            format!(
                "[1:a]aresample=48000,adelay=300:all=1,apad,atrim=duration={SECONDS}[s];[2:a]volume=0.5[m];\
                 [s][m]amix=inputs=2:duration=first:normalize=0[a]"
            )
        }
    };
    let mut args: Vec<String> = vec![
        "-loglevel".into(),
        "error".into(),
        "-i".into(),
        video.display().to_string(),
    ];
    args.extend(inputs);
    args.extend([
        "-filter_complex".into(),
        graph,
        "-map".into(),
        "0:v".into(),
        "-map".into(),
        "[a]".into(),
        "-c:v".into(),
        "copy".into(),
        "-c:a".into(),
        "aac".into(),
        "-b:a".into(),
        "128k".into(),
        "-t".into(),
        SECONDS.to_string(),
        "-f".into(),
        "mp4".into(),
        "-y".into(),
        format!("file:{}", out.display()),
    ]);
    let output = ffmpeg
        .run(&args, Duration::from_secs(120))
        .await
        .map_err(|source| TruthError::Ffmpeg {
            media: media.to_string(),
            source,
        })?;
    if let Some(file) = speech_file {
        let _ = std::fs::remove_file(file);
    }
    if !output.status.success() {
        return Err(TruthError::FfmpegFailed {
            media: media.to_string(),
            stderr_tail: output.stderr_tail(),
        });
    }
    Ok(())
}

// ---- scoring --------------------------------------------------------------------------------

/// Tags proposed at or above one threshold, against the truth.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Operating {
    pub threshold: f64,
    /// Media the tag was proposed for at or above the threshold…
    pub proposed: usize,
    /// …of which it is true.
    pub correct: usize,
    /// Media it is true of.
    pub positives: usize,
    /// `correct / proposed` (`None` when nothing was proposed).
    pub precision: Option<f64>,
    /// `correct / positives` (`None` when it is true of none).
    pub coverage: Option<f64>,
}

impl Operating {
    fn new(threshold: f64, proposed: usize, correct: usize, positives: usize) -> Self {
        let ratio = |a: usize, b: usize| (b > 0).then(|| a as f64 / b as f64);
        Self {
            threshold,
            proposed,
            correct,
            positives,
            precision: ratio(correct, proposed),
            coverage: ratio(correct, positives),
        }
    }

    fn add(self, other: Operating) -> Operating {
        Operating::new(
            self.threshold,
            self.proposed + other.proposed,
            self.correct + other.correct,
            self.positives + other.positives,
        )
    }
}

/// One tag's scores.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TagScore {
    pub tag: String,
    /// `certain`, `fitted` or `detector` (the detector's own score).
    pub confidence: &'static str,
    pub at_threshold: Operating,
    pub at_half: Operating,
    /// Mean squared error of the confidence (0 where not proposed) against the truth (1 / 0).
    pub brier: f64,
}

/// Scores over many tags at once (micro-averaged).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Overall {
    /// Every tag: the share of automatically applied tags that are right is `precision`.
    pub all_at_threshold: Operating,
    pub all_at_half: Operating,
    /// Only tags that are measured, not read from the file (fitted and detector).
    pub measured_at_threshold: Operating,
    pub measured_at_half: Operating,
    /// The share of (media, evaluated tag) pairs decided right: applied when true, not when false.
    pub decisions_at_threshold: f64,
    pub decisions_at_half: f64,
}

/// Measured tags proposed with confidences in one range, and how often they were right: a
/// calibrated tag is right about as often as its mean confidence says.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ReliabilityBin {
    pub from: f64,
    pub to: f64,
    pub proposed: usize,
    pub mean_confidence: Option<f64>,
    pub right: Option<f64>,
}

/// Confidence ranges of the reliability table.
const BINS: [(f64, f64); 5] = [(0.0, 0.5), (0.5, 0.7), (0.7, 0.9), (0.9, 0.97), (0.97, 1.0)];

/// The evaluation of analyzer tags on a generated truth set.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TruthReport {
    pub media: usize,
    pub seed: u64,
    pub per_case: usize,
    pub threshold: f64,
    pub tags: Vec<TagScore>,
    pub overall: Overall,
    /// Every proposed measured tag (fitted or detector), by confidence.
    pub reliability: Vec<ReliabilityBin>,
    /// Per analyzer, on how many media it failed.
    pub analysis_failures: BTreeMap<String, usize>,
    pub skipped: Vec<String>,
    /// Probe and analysis time over all media, seconds.
    pub analysis_seconds: f64,
}

fn kind_of(tag: &str) -> &'static str {
    if Rule::ALL.iter().any(|r| r.tag() == tag) {
        "fitted"
    } else if tag == "content/explicit" {
        "detector"
    } else {
        "certain"
    }
}

/// Score the analyzer tags of `set` at `threshold` and at 0.5.
pub fn report(set: &TruthSet, threshold: f64) -> TruthReport {
    // Per media: the proposed tags' confidences.
    let proposed: Vec<BTreeMap<String, f64>> = set
        .media
        .iter()
        .map(|m| {
            analyzer_tags(&m.analyses.inputs())
                .into_iter()
                .map(|t| (t.name.to_string(), t.confidence))
                .collect()
        })
        .collect();
    let mut names: BTreeSet<String> = EVALUATED.iter().map(|s| s.to_string()).collect();
    names.extend(proposed.iter().flat_map(|p| p.keys().cloned()));
    let operating = |name: &str, t: f64| {
        let (mut n, mut correct, mut positives) = (0, 0, 0);
        for (m, p) in set.media.iter().zip(&proposed) {
            let truth = m.truth.contains(name);
            let applied = p.get(name).is_some_and(|c| *c >= t);
            n += usize::from(applied);
            correct += usize::from(applied && truth);
            positives += usize::from(truth);
        }
        Operating::new(t, n, correct, positives)
    };
    let mut tags = Vec::new();
    let mut decisions = [0usize; 2];
    for name in &names {
        let brier = set
            .media
            .iter()
            .zip(&proposed)
            .map(|(m, p)| {
                let c = p.get(name).copied().unwrap_or(0.0);
                let y = if m.truth.contains(name) { 1.0 } else { 0.0 };
                (c - y) * (c - y)
            })
            .sum::<f64>()
            / set.media.len().max(1) as f64;
        for (slot, t) in [threshold, 0.5].into_iter().enumerate() {
            decisions[slot] += set
                .media
                .iter()
                .zip(&proposed)
                .filter(|(m, p)| m.truth.contains(name) == p.get(name).is_some_and(|c| *c >= t))
                .count();
        }
        tags.push(TagScore {
            tag: name.clone(),
            confidence: kind_of(name),
            at_threshold: operating(name, threshold),
            at_half: operating(name, 0.5),
            brier,
        });
    }
    let sum = |at_half: bool, measured_only: bool| {
        let t = if at_half { 0.5 } else { threshold };
        tags.iter()
            .filter(|s| !measured_only || s.confidence != "certain")
            .map(|s| if at_half { s.at_half } else { s.at_threshold })
            .fold(Operating::new(t, 0, 0, 0), Operating::add)
    };
    let pairs = (set.media.len() * names.len()).max(1) as f64;
    let overall = Overall {
        all_at_threshold: sum(false, false),
        all_at_half: sum(true, false),
        measured_at_threshold: sum(false, true),
        measured_at_half: sum(true, true),
        decisions_at_threshold: decisions[0] as f64 / pairs,
        decisions_at_half: decisions[1] as f64 / pairs,
    };
    let mut bins: Vec<(usize, f64, usize)> = vec![(0, 0.0, 0); BINS.len()];
    for (m, p) in set.media.iter().zip(&proposed) {
        for (name, &c) in p.iter().filter(|(name, _)| kind_of(name) != "certain") {
            let last = BINS.len() - 1;
            let slot = BINS
                .iter()
                .position(|(from, to)| c >= *from && c < *to)
                .unwrap_or(last);
            bins[slot].0 += 1;
            bins[slot].1 += c;
            bins[slot].2 += usize::from(m.truth.contains(name));
        }
    }
    let reliability = BINS
        .iter()
        .zip(bins)
        .map(|(&(from, to), (n, sum, right))| ReliabilityBin {
            from,
            to,
            proposed: n,
            mean_confidence: (n > 0).then(|| sum / n as f64),
            right: (n > 0).then(|| right as f64 / n as f64),
        })
        .collect();
    let mut analysis_failures = BTreeMap::new();
    for m in &set.media {
        for (what, _) in &m.failures {
            *analysis_failures.entry(what.clone()).or_insert(0) += 1;
        }
    }
    TruthReport {
        media: set.media.len(),
        seed: set.seed,
        per_case: set.per_case,
        threshold,
        tags,
        overall,
        reliability,
        analysis_failures,
        skipped: set.skipped.clone(),
        analysis_seconds: set.media.iter().map(|m| m.analysis_seconds).sum(),
    }
}

fn ratio(x: Option<f64>) -> String {
    x.map_or("–".into(), |x| format!("{x:.3}"))
}

fn row(
    f: &mut fmt::Formatter<'_>,
    name: &str,
    kind: &str,
    a: &Operating,
    b: &Operating,
    brier: Option<f64>,
) -> fmt::Result {
    writeln!(
        f,
        "| {name} | {kind} | {} | {} | {} | {} | {} | {} | {} | {} |",
        a.positives,
        a.proposed,
        ratio(a.precision),
        ratio(a.coverage),
        b.proposed,
        ratio(b.precision),
        ratio(b.coverage),
        brier.map_or("".into(), |b| format!("{b:.3}")),
    )
}

impl fmt::Display for TruthReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = self.threshold;
        writeln!(
            f,
            "Analyzer tags on generated ground truth: {} media (seed {}, {} per case), \
             auto-accept at {t:.2}; analysis {:.0} s.\n",
            self.media, self.seed, self.per_case, self.analysis_seconds
        )?;
        writeln!(
            f,
            "| tag | confidence | true of | proposed ≥ {t:.2} | precision | coverage | proposed ≥ 0.50 | precision | coverage | Brier |"
        )?;
        writeln!(f, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")?;
        for s in &self.tags {
            row(
                f,
                &s.tag,
                s.confidence,
                &s.at_threshold,
                &s.at_half,
                Some(s.brier),
            )?;
        }
        let o = &self.overall;
        row(
            f,
            "**all tags**",
            "",
            &o.all_at_threshold,
            &o.all_at_half,
            None,
        )?;
        row(
            f,
            "**measured tags**",
            "fitted, detector",
            &o.measured_at_threshold,
            &o.measured_at_half,
            None,
        )?;
        writeln!(
            f,
            "\nDecisions right (every media × tag, applied iff true): {:.3} at {t:.2}, {:.3} at 0.50.",
            o.decisions_at_threshold, o.decisions_at_half
        )?;
        writeln!(
            f,
            "\nReliability of measured tags (proposed, by confidence):\n\n\
             | confidence | proposed | mean confidence | right |\n|---|---:|---:|---:|"
        )?;
        for bin in &self.reliability {
            writeln!(
                f,
                "| {:.2}–{:.2} | {} | {} | {} |",
                bin.from,
                bin.to,
                bin.proposed,
                ratio(bin.mean_confidence),
                ratio(bin.right)
            )?;
        }
        writeln!(f)?;
        if self.analysis_failures.is_empty() {
            writeln!(f, "Analyzer failures: none.")?;
        } else {
            let failures: Vec<String> = self
                .analysis_failures
                .iter()
                .map(|(what, n)| format!("{what} on {n} media"))
                .collect();
            writeln!(f, "Analyzer failures: {}.", failures.join(", "))?;
        }
        for skipped in &self.skipped {
            writeln!(f, "Skipped: {skipped}.")?;
        }
        Ok(())
    }
}

// ---- calibration ----------------------------------------------------------------------------

/// One rule's fitted curve.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleFit {
    #[serde(skip)]
    pub rule: Rule,
    pub tag: &'static str,
    pub features: Vec<&'static str>,
    pub weights: Vec<f64>,
    pub bias: f64,
    /// Media the rule had evidence for (what it was fitted on), and of those the tag is true of.
    pub candidates: usize,
    pub positives: usize,
    /// Features whose fitted weight pointed against their direction: left out (weight 0), so
    /// the curve stays monotone in what it measures.
    pub dropped: Vec<&'static str>,
    /// Mean log loss on the fitting data before (the committed curve) and after.
    pub log_loss_committed: f64,
    pub log_loss_fitted: f64,
}

/// The fitted curves of every rule on one truth set.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Calibration {
    pub media: usize,
    pub seed: u64,
    pub per_case: usize,
    pub fits: Vec<RuleFit>,
    /// Rules with nothing to fit on.
    pub unfitted: Vec<&'static str>,
}

/// Fit each rule's curve by Platt scaling on what it measured on `set`, at the media it had
/// evidence for (those it proposes a tag for): the fitted curve is the probability that a
/// proposal with those measures is right.
pub fn fit_calibration(set: &TruthSet) -> Calibration {
    let mut data: BTreeMap<Rule, Vec<(Vec<f64>, bool)>> = BTreeMap::new();
    for m in &set.media {
        for finding in findings(&m.analyses.inputs()) {
            if let Confidence::Fitted { rule, features } = finding.confidence {
                data.entry(rule)
                    .or_default()
                    .push((features, m.truth.contains(rule.tag())));
            }
        }
    }
    let mut fits = Vec::new();
    let mut unfitted = Vec::new();
    for rule in Rule::ALL {
        match data.get(&rule) {
            Some(points) if !points.is_empty() => fits.push(fit_rule(rule, points)),
            _ => unfitted.push(rule.tag()),
        }
    }
    Calibration {
        media: set.media.len(),
        seed: set.seed,
        per_case: set.per_case,
        fits,
        unfitted,
    }
}

fn log_loss(points: &[(Vec<f64>, bool)], weights: &[f64], bias: f64) -> f64 {
    points
        .iter()
        .map(|(x, y)| {
            let p = logistic(weights, bias, x).clamp(1e-12, 1.0 - 1e-12);
            if *y { -p.ln() } else { -(1.0 - p).ln() }
        })
        .sum::<f64>()
        / points.len().max(1) as f64
}

fn fit_rule(rule: Rule, points: &[(Vec<f64>, bool)]) -> RuleFit {
    let features = rule.features();
    let mut active: Vec<bool> = vec![true; features.len()];
    let mut dropped = Vec::new();
    let (weights, bias) = loop {
        let (weights, bias) = platt(points, &active);
        let wrong = features.iter().enumerate().find(|(j, f)| {
            active[*j]
                && match f.direction {
                    mvidarr_tag::rules::Direction::More => weights[*j] < 0.0,
                    mvidarr_tag::rules::Direction::Less => weights[*j] > 0.0,
                }
        });
        match wrong {
            Some((j, f)) => {
                active[j] = false;
                dropped.push(f.name);
            }
            None => break (weights, bias),
        }
    };
    let committed = rule.curve();
    RuleFit {
        rule,
        tag: rule.tag(),
        features: features.iter().map(|f| f.name).collect(),
        candidates: points.len(),
        positives: points.iter().filter(|(_, y)| *y).count(),
        dropped,
        log_loss_committed: log_loss(points, committed.weights, committed.bias),
        log_loss_fitted: log_loss(points, &weights, bias),
        weights,
        bias,
    }
}

/// Platt scaling: logistic regression on `points` (features where `active`) against Platt's
/// smoothed targets — (N₊ + 1)/(N₊ + 2) for positives, 1/(N₋ + 2) for negatives — so that a
/// few examples, or a perfect separation, give a finite curve that does not claim certainty.
/// Newton's method on standardised features with a small ridge, halving steps that would
/// not lower the loss.
pub fn platt(points: &[(Vec<f64>, bool)], active: &[bool]) -> (Vec<f64>, f64) {
    let k = active.len();
    let columns: Vec<usize> = (0..k).filter(|&j| active[j]).collect();
    let n = points.len() as f64;
    let positives = points.iter().filter(|(_, y)| *y).count() as f64;
    let (hi, lo) = (
        (positives + 1.0) / (positives + 2.0),
        1.0 / (n - positives + 2.0),
    );
    let targets: Vec<f64> = points
        .iter()
        .map(|(_, y)| if *y { hi } else { lo })
        .collect();
    // Standardise, so one ridge suits every feature's units; a constant feature is left out.
    let mut mean = vec![0.0; k];
    let mut scale = vec![1.0; k];
    let mut used = Vec::new();
    for &j in &columns {
        mean[j] = points.iter().map(|(x, _)| x[j]).sum::<f64>() / n;
        let var = points
            .iter()
            .map(|(x, _)| (x[j] - mean[j]).powi(2))
            .sum::<f64>()
            / n;
        if var > 1e-18 {
            scale[j] = var.sqrt();
            used.push(j);
        }
    }
    let rows: Vec<Vec<f64>> = points
        .iter()
        .map(|(x, _)| {
            let mut row: Vec<f64> = used.iter().map(|&j| (x[j] - mean[j]) / scale[j]).collect();
            row.push(1.0);
            row
        })
        .collect();
    let d = used.len() + 1;
    const RIDGE: f64 = 1e-3;
    let loss = |beta: &[f64]| -> f64 {
        rows.iter()
            .zip(&targets)
            .map(|(row, t)| {
                let z: f64 = row.iter().zip(beta).map(|(a, b)| a * b).sum();
                // log(1 + e^z) − t·z, written to stay finite for large |z|.
                let softplus = if z > 0.0 {
                    z + (-z).exp().ln_1p()
                } else {
                    z.exp().ln_1p()
                };
                softplus - t * z
            })
            .sum::<f64>()
            + 0.5 * RIDGE * beta[..d - 1].iter().map(|b| b * b).sum::<f64>()
    };
    // Start at the smoothed base rate.
    let mut beta = vec![0.0; d];
    let base = targets.iter().sum::<f64>() / n;
    beta[d - 1] = (base / (1.0 - base)).ln();
    let mut current = loss(&beta);
    for _ in 0..100 {
        let mut gradient = vec![0.0; d];
        let mut hessian = vec![vec![0.0; d]; d];
        for (row, t) in rows.iter().zip(&targets) {
            let z: f64 = row.iter().zip(&beta).map(|(a, b)| a * b).sum();
            let p = 1.0 / (1.0 + (-z).exp());
            let w = (p * (1.0 - p)).max(1e-12);
            for a in 0..d {
                gradient[a] += (p - t) * row[a];
                for b in 0..d {
                    hessian[a][b] += w * row[a] * row[b];
                }
            }
        }
        for a in 0..d - 1 {
            gradient[a] += RIDGE * beta[a];
            hessian[a][a] += RIDGE;
        }
        let Some(step) = solve(hessian, gradient) else {
            break;
        };
        let mut rate = 1.0;
        let mut improved = false;
        while rate > 1e-6 {
            let trial: Vec<f64> = beta.iter().zip(&step).map(|(b, s)| b - rate * s).collect();
            let value = loss(&trial);
            if value < current {
                let gain = current - value;
                beta = trial;
                current = value;
                improved = gain > 1e-12;
                break;
            }
            rate /= 2.0;
        }
        if !improved {
            break;
        }
    }
    // Back to the features' own units.
    let mut weights = vec![0.0; k];
    let mut bias = beta[d - 1];
    for (i, &j) in used.iter().enumerate() {
        weights[j] = beta[i] / scale[j];
        bias -= beta[i] * mean[j] / scale[j];
    }
    (weights, bias)
}

/// Solve `a·x = b` by Gaussian elimination with partial pivoting (`None` if singular).
fn solve(mut a: Vec<Vec<f64>>, mut b: Vec<f64>) -> Option<Vec<f64>> {
    let n = b.len();
    for col in 0..n {
        let pivot = (col..n).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))?;
        if a[pivot][col].abs() < 1e-15 {
            return None;
        }
        a.swap(col, pivot);
        b.swap(col, pivot);
        let (above, below) = a.split_at_mut(col + 1);
        let pivot_row = &above[col];
        for (offset, row) in below.iter_mut().enumerate() {
            let factor = row[col] / pivot_row[col];
            for (cell, p) in row[col..].iter_mut().zip(&pivot_row[col..]) {
                *cell -= factor * p;
            }
            b[col + 1 + offset] -= factor * b[col];
        }
    }
    let mut x = vec![0.0; n];
    for row in (0..n).rev() {
        let sum: f64 = (row + 1..n).map(|k| a[row][k] * x[k]).sum();
        x[row] = (b[row] - sum) / a[row][row];
    }
    Some(x)
}

impl fmt::Display for Calibration {
    /// The fitted constants, as `Rule::curve`'s match arms.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "// Platt fit on {} generated media (seed {}, {} per case).",
            self.media, self.seed, self.per_case
        )?;
        for fit in &self.fits {
            writeln!(
                f,
                "// {}: {} candidates, {} true; log loss {:.3} (committed) → {:.3}{}",
                fit.tag,
                fit.candidates,
                fit.positives,
                fit.log_loss_committed,
                fit.log_loss_fitted,
                if fit.dropped.is_empty() {
                    String::new()
                } else {
                    format!("; left out (wrong direction): {}", fit.dropped.join(", "))
                }
            )?;
            let weights: Vec<String> = fit.weights.iter().map(|w| format!("{w:.4}")).collect();
            writeln!(
                f,
                "Rule::{:?} => Curve {{ weights: &[{}], bias: {:.4} }},",
                fit.rule,
                weights.join(", "),
                fit.bias
            )?;
        }
        for tag in &self.unfitted {
            writeln!(f, "// {tag}: nothing to fit on")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platt_recovers_a_known_curve_and_stays_finite_when_separable() {
        // Labels drawn from a known logistic in x: the fit comes back close to it.
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let points: Vec<(Vec<f64>, bool)> = (0..4000)
            .map(|_| {
                let x: f64 = rng.random_range(-3.0..3.0);
                let p = logistic(&[2.0], -1.0, &[x]);
                (vec![x], rng.random_bool(p))
            })
            .collect();
        let (w, b) = platt(&points, &[true]);
        assert!(
            (w[0] - 2.0).abs() < 0.25 && (b + 1.0).abs() < 0.2,
            "{w:?} {b}"
        );
        // Perfectly separated, three of each: finite.
        let separated: Vec<(Vec<f64>, bool)> = [0.0, 0.1, 0.2, 0.8, 0.9, 1.0]
            .iter()
            .map(|&x| (vec![x], x > 0.5))
            .collect();
        let (w, b) = platt(&separated, &[true]);
        assert!(w[0].is_finite() && w[0] > 0.0 && b.is_finite());
        // On average over the positives it says Platt's target, (3 + 1) / (3 + 2), not 1.
        let mean: f64 = [0.8, 0.9, 1.0]
            .iter()
            .map(|x| logistic(&w, b, &[*x]))
            .sum::<f64>()
            / 3.0;
        assert!((mean - 0.8).abs() < 0.02, "{mean}");
        assert!(logistic(&w, b, &[1.0]) < 0.95);
    }

    #[test]
    fn a_constant_or_inactive_feature_gets_no_weight() {
        let points: Vec<(Vec<f64>, bool)> = (0..20)
            .map(|i| (vec![1.0, f64::from(i)], i >= 10))
            .collect();
        let (w, _) = platt(&points, &[true, true]);
        assert_eq!(w[0], 0.0);
        assert!(w[1] > 0.0);
        let (w, _) = platt(&points, &[true, false]);
        assert_eq!(w, [0.0, 0.0]);
    }

    #[test]
    fn truth_follows_the_construction() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let fast = draw(Case::FastCut, 0, true, &mut rng);
        assert!(fast.truth().contains("editing/fast-cut"), "{fast:?}");
        assert!((fast.duration() - SECONDS).abs() < 1e-6, "{fast:?}");
        let single = draw(Case::SingleShot, 0, true, &mut rng);
        assert!(single.truth().contains("editing/single-shot"));
        assert_eq!(single.shots.len(), 1);
        let lyrics = draw(Case::Lyrics, 0, true, &mut rng);
        assert!(
            lyrics
                .truth()
                .is_superset(&["text/lyrics".into(), "text/on-screen".into()].into())
        );
        assert!(lyrics.captions.len() >= 3);
        let plain = draw(Case::Plain, 0, true, &mut rng);
        assert_eq!(
            plain.truth(),
            [
                "resolution/sd",
                "orientation/landscape",
                "audio/instrumental"
            ]
            .into_iter()
            .map(String::from)
            .collect()
        );
        let portrait = draw(Case::Portrait, 0, true, &mut rng);
        assert!(portrait.truth().contains("orientation/portrait"));
        for case in Case::ALL {
            let spec = draw(case, 0, true, &mut rng);
            assert!((spec.duration() - SECONDS).abs() < 1e-6, "{spec:?}");
            assert!(spec.storyboard().graph().is_ok(), "{spec:?}");
            for tag in spec.truth() {
                assert!(EVALUATED.contains(&tag.as_str()), "{tag}");
            }
        }
    }

    #[test]
    fn speech_is_never_drawn_without_a_voice() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        for i in 0..200 {
            let spec = draw(Case::Plain, i, false, &mut rng);
            let other = draw(Case::Blur, i, false, &mut rng);
            for s in [spec.soundtrack, other.soundtrack] {
                assert!(
                    matches!(
                        s,
                        Soundtrack::None | Soundtrack::Silent | Soundtrack::Music(_)
                    ),
                    "{s:?}"
                );
            }
        }
    }
}
