//! The analysis pass: one decode of the media feeding every signal analyzer at once, then the
//! `scenes` and `quality` documents built from what they measured.
//!
//! ffmpeg splits the decoded video into tiny frames of every frame (shots, black, frozen),
//! larger frames a few times a second (sharpness, noise, blocks, bars, keyframes), and runs of
//! 8 consecutive frames in every 25, cropped to at most 640×360, through `idet` (interlacing
//! shows only between neighbouring frames); the audio is resampled to 48 kHz float PCM
//! (loudness, clipping, silence).
//! An analyzer that fails records its error; the others' results stand.

use std::panic::AssertUnwindSafe;
use std::sync::{Arc, mpsc};
use std::time::Duration;

use mvidarr_core::analysis::{
    AudioProfile, AudioQuality, Bars, DecodeHealth, Distribution, Interlacing, Moderation,
    OnScreenText, Probe, Quality, QualityPart, Scenes, Segment, Shot, TransitionKind, VideoQuality,
};
use mvidarr_core::fingerprint::Fingerprint;

use crate::ffmpeg::Ffmpeg;
use crate::fingerprint::{AUDIO_ITEM_SECONDS, CHROMAPRINT_RATE, audio_items, picture_hash};
use crate::frames::{PpmReader, for_each_sample_chunk, read_frame};
use crate::loudness::LoudnessMeter;
use crate::models::Models;
use crate::moderation::{Check, Screener, moderation};
use crate::pass::{Consumer, Output, Pass, PassError};
use crate::picture::Grey;
use crate::shots::{ShotDetector, ShotFindings, Tuning};
use crate::soundtrack::{self, Soundtrack};
use crate::text::TextReader;
use crate::thumbnails::{self, Chosen, ThumbnailPicker, appeal};

/// What the pass decodes, and how much.
#[derive(Debug, Clone)]
pub struct AnalysisOptions {
    /// Size of the tiny frames every frame is reduced to.
    pub small_width: u32,
    pub small_height: u32,
    /// Larger frames per second for picture measures.
    pub sample_fps: f64,
    pub timeout: Duration,
    pub shot_tuning: Tuning,
    /// The models, built on first use and shared by every analysis with these options.
    pub models: Arc<Models>,
}

impl Default for AnalysisOptions {
    fn default() -> Self {
        Self {
            small_width: 128,
            small_height: 72,
            sample_fps: 2.0,
            timeout: Duration::from_secs(1800),
            shot_tuning: Tuning::default(),
            models: Arc::new(Models::default()),
        }
    }
}

/// The pass's results: each document, or why its analyzer failed.
#[derive(Debug)]
pub struct MediaAnalysis {
    /// `None` when the media has no video.
    pub scenes: Option<Result<Scenes, String>>,
    pub quality: Result<Quality, String>,
    /// `None` when the media has no audio.
    pub audio: Option<Result<AudioProfile, String>>,
    /// `None` when the media has no video.
    pub moderation: Option<Result<Moderation, String>>,
    /// The chosen frames, encoded; `None` when the media has no video.
    pub thumbnails: Option<Result<Vec<Chosen>, String>>,
    /// `None` when the media has no video.
    pub text: Option<Result<OnScreenText, String>>,
    /// Picture hashes and the audio fingerprint, or which part is missing.
    pub fingerprint: Result<Fingerprint, String>,
    pub decode: DecodeHealth,
}

/// Per sampled frame.
#[derive(Debug, Clone, Copy)]
struct SampledFrame {
    seconds: f64,
    sharpness: f64,
    noise: f64,
    blockiness: f64,
    black: bool,
}

#[derive(Debug)]
struct SampledFindings {
    frames: Vec<SampledFrame>,
    /// Source-pixel bars.
    bars: Bars,
    /// The moderation detector's checks, or why there are none.
    checks: Result<Vec<Check>, String>,
    thumbnails: ThumbnailPicker,
    text: Result<OnScreenText, String>,
    /// One picture hash per sampled frame (see [`picture_hash`]).
    pictures: Vec<u64>,
}

/// The model-driven readers of sampled frames, each available or why not.
struct FrameReaders<'a> {
    screener: Result<Screener<'a>, String>,
    text: Result<TextReader<'a>, String>,
}

/// Variance-of-Laplacian below which a (non-black) sampled frame counts as blurred, measured
/// on the 360-line grey picture. Calibrated on generated media: `testsrc2` reads ~1,500–3,000
/// sharp, ~200 after `gblur=sigma=2` and under 30 after sigma 4.
const BLURRED_BELOW: f64 = 100.0;
const BLACK_MEAN: f64 = 20.0;

/// Run the pass over `input` (a path or loopback URL) described by `probe`.
pub async fn analyze(
    ffmpeg: &Ffmpeg,
    input: &str,
    probe: &Probe,
    options: &AnalysisOptions,
) -> Result<MediaAnalysis, PassError> {
    let models = &options.models;
    let video = probe.video.first();
    let audio = probe.audio.first();
    let mut graph = Vec::new();
    let mut outputs = Vec::new();
    let mut file_outputs = Vec::new();

    let (shots_tx, shots_rx) = mpsc::channel::<Result<ShotFindings, String>>();
    let (sampled_tx, sampled_rx) = mpsc::channel::<Result<SampledFindings, String>>();
    let (audio_tx, audio_rx) = mpsc::channel::<Result<AudioQuality, String>>();
    let (speech_tx, speech_rx) = mpsc::channel::<Result<AudioProfile, String>>();

    let fps = video
        .and_then(|v| v.fps)
        .filter(|f| *f > 0.0 && *f <= 240.0)
        .unwrap_or(25.0);
    if let Some(video) = video {
        let (w, h) = (options.small_width, options.small_height);
        graph.push(format!(
            "[0:v:0]split=3[vsmall][vsample][vfields];\
             [vsmall]fps={fps},scale={w}:{h}:flags=area,format=rgb24[small];\
             [vfields]select='lt(mod(n\\,25)\\,8)',crop=w='min(iw\\,640)':h='min(ih\\,360)':y=0,idet,nullsink;\
             [vsample]fps={sfps},scale='min(1280,iw)':'min(720,ih)':force_original_aspect_ratio=decrease:force_divisible_by=2:flags=bicubic,format=rgb24[sample]",
            sfps = options.sample_fps,
        ));
        let tuning = options.shot_tuning.clone();
        let frame_bytes = (w * h * 3) as usize;
        outputs.push(Output {
            options: strings(&["-map", "[small]", "-c:v", "rawvideo", "-f", "rawvideo"]),
            consumer: guarded(shots_tx, move |reader| {
                let mut detector = ShotDetector::new(fps, tuning);
                let mut frame = vec![0u8; frame_bytes];
                while read_frame(reader, &mut frame).map_err(|e| e.to_string())? {
                    detector.push(&frame);
                }
                Ok(detector.finish())
            }),
        });
        let (source_width, source_height) = (video.width, video.height);
        let sample_fps = options.sample_fps;
        // Models are loaded before ffmpeg starts: a slow load inside a consumer would stall
        // every output of the pass.
        let detector = models.nudenet.take();
        let ocr = models.ocr.take();
        outputs.push(Output {
            options: strings(&["-map", "[sample]", "-c:v", "ppm", "-f", "image2pipe"]),
            consumer: guarded(sampled_tx, move |reader| {
                let (mut detector, mut ocr) = (detector, ocr);
                let screener = match &mut detector {
                    Ok(detector) => Ok(Screener::new(detector)),
                    Err(e) => Err(format!("the moderation model is unavailable: {e}")),
                };
                let text = match &mut ocr {
                    Ok(ocr) => Ok(TextReader::new(ocr)),
                    Err(e) => Err(format!("the OCR models are unavailable: {e}")),
                };
                let readers = FrameReaders { screener, text };
                measure_sampled(reader, sample_fps, source_width, source_height, readers)
            }),
        });
    } else {
        drop((shots_tx, sampled_tx));
    }
    if let Some(audio) = audio {
        let channels: u32 = if audio.channels == Some(1) { 1 } else { 2 };
        let layout = if channels == 1 { "mono" } else { "stereo" };
        graph.push(format!(
            "[0:a:0]asplit=3[a48][a16][aprint];\
             [a48]aresample=48000,aformat=sample_fmts=flt:channel_layouts={layout}[afull];\
             [a16]aresample={rate},aformat=sample_fmts=flt:channel_layouts=mono[aspeech];\
             [aprint]aresample={CHROMAPRINT_RATE},aformat=sample_fmts=s16:channel_layouts=mono[afingerprint]",
            rate = soundtrack::RATE,
        ));
        // Written at the end by the muxer, and small (4 bytes per ~0.12 s): a file output.
        file_outputs.push((
            strings(&[
                "-map",
                "[afingerprint]",
                "-c:a",
                "pcm_s16le",
                "-f",
                "chromaprint",
                "-fp_format",
                "raw",
                "-algorithm",
                "1",
            ]),
            FINGERPRINT_FILE.to_string(),
        ));
        let vad = models.vad.take();
        outputs.push(Output {
            options: strings(&["-map", "[aspeech]", "-c:a", "pcm_f32le", "-f", "f32le"]),
            consumer: guarded(speech_tx, move |reader| {
                let mut vad = vad?;
                let mut profile = Soundtrack::new(&mut vad);
                for_each_sample_chunk::<AnyError>(reader, soundtrack::RATE as usize, |chunk| {
                    Ok(profile.push(chunk)?)
                })
                .map_err(|e| e.to_string())?;
                profile.finish().map_err(|e| e.to_string())
            }),
        });
        outputs.push(Output {
            options: strings(&["-map", "[afull]", "-c:a", "pcm_f32le", "-f", "f32le"]),
            consumer: guarded(audio_tx, move |reader| {
                let mut meter = LoudnessMeter::new(channels, 48_000).map_err(|e| e.to_string())?;
                for_each_sample_chunk::<AnyError>(
                    reader,
                    48_000 / 10 * channels as usize,
                    |chunk| Ok(meter.push(chunk)?),
                )
                .map_err(|e| e.to_string())?;
                meter.finish().map_err(|e| e.to_string())
            }),
        });
    } else {
        drop((audio_tx, speech_tx));
    }

    let report = Pass {
        input_options: Vec::new(),
        input: input.to_string(),
        filter_graph: (!graph.is_empty()).then(|| graph.join(";")),
        outputs,
        file_outputs,
        timeout: options.timeout,
    }
    .run(ffmpeg)
    .await?;

    let decode = decode_health(&report.log, report.succeeded());
    let shots = video.map(|_| received(shots_rx.recv()));
    let sampled = video.map(|_| received(sampled_rx.recv()));
    let audio_quality = audio.map(|_| received(audio_rx.recv()));
    let audio_profile = audio.map(|_| received(speech_rx.recv()));
    let interlacing = parse_idet(&report.log);

    let duration = probe.duration_seconds.unwrap_or(0.0);
    let scenes = match (&shots, &sampled) {
        (Some(Ok(shots)), sampled) => Some(Ok(build_scenes(
            shots,
            fps,
            sampled.as_ref().and_then(|s| s.as_ref().ok()),
            decode.clone(),
        ))),
        (Some(Err(e)), _) => Some(Err(e.clone())),
        (None, _) => None,
    };
    let quality = build_quality(
        probe,
        duration,
        shots.as_ref().and_then(|s| s.as_ref().ok()),
        sampled.as_ref().and_then(|s| s.as_ref().ok()),
        interlacing,
        audio_quality,
        decode.clone(),
    );
    let moderation = sampled.as_ref().map(|sampled| {
        let sampled = sampled.as_ref().map_err(Clone::clone)?;
        let checks = sampled.checks.as_ref().map_err(Clone::clone)?;
        let shots: &[Shot] = match &scenes {
            Some(Ok(scenes)) => &scenes.shots,
            _ => &[],
        };
        Ok(moderation(checks, shots))
    });
    let transitions = match &scenes {
        Some(Ok(scenes)) => scenes.transitions.clone(),
        _ => Vec::new(),
    };
    let text = sampled
        .as_ref()
        .map(|sampled| sampled.as_ref().map_err(Clone::clone)?.text.clone());
    let fingerprint = fingerprint(sampled.as_ref(), audio.is_some(), &report.files, options);
    let thumbnails =
        sampled.map(|sampled| sampled?.thumbnails.choose(thumbnails::COUNT, &transitions));
    Ok(MediaAnalysis {
        scenes,
        quality,
        audio: audio_profile,
        moderation,
        thumbnails,
        text,
        fingerprint,
        decode,
    })
}

/// The chromaprint muxer's output file in the pass's directory.
const FINGERPRINT_FILE: &str = "fingerprint.raw";

/// The media's fingerprint from the sampled frames' hashes and chromaprint's items, or which
/// part is missing (a partial fingerprint would match too little and mislead).
fn fingerprint(
    sampled: Option<&Result<SampledFindings, String>>,
    has_audio: bool,
    files: &[(String, Option<Vec<u8>>)],
    options: &AnalysisOptions,
) -> Result<Fingerprint, String> {
    let pictures = match sampled {
        Some(Ok(sampled)) => sampled.pictures.clone(),
        Some(Err(e)) => return Err(format!("no picture hashes: {e}")),
        None => Vec::new(),
    };
    let audio = if has_audio {
        let raw = files
            .iter()
            .find(|(name, _)| name == FINGERPRINT_FILE)
            .and_then(|(_, bytes)| bytes.as_deref())
            .ok_or("ffmpeg wrote no audio fingerprint")?;
        audio_items(raw)
    } else {
        Vec::new()
    };
    Ok(Fingerprint {
        picture_rate: options.sample_fps,
        pictures,
        audio_item_seconds: AUDIO_ITEM_SECONDS,
        audio,
    })
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// Any error, for a consumer that only reports it as text.
type AnyError = Box<dyn std::error::Error + Send + Sync>;

/// An analyzer's result, or why there is none (ffmpeg never opened its output).
fn received<T>(result: Result<Result<T, String>, mpsc::RecvError>) -> Result<T, String> {
    result.unwrap_or_else(|_| Err("ffmpeg produced no output for this analyzer".into()))
}

/// A consumer that sends its analyzer's result, or its error, or that it panicked: one
/// analyzer's bug must not take the others down.
fn guarded<T: Send + 'static>(
    sender: mpsc::Sender<Result<T, String>>,
    work: impl FnOnce(&mut dyn std::io::Read) -> Result<T, String> + Send + 'static,
) -> Consumer {
    Box::new(move |reader| {
        let result = std::panic::catch_unwind(AssertUnwindSafe(|| work(reader)))
            .unwrap_or_else(|_| Err("the analyzer panicked".into()));
        let _ = sender.send(result);
    })
}

fn measure_sampled(
    reader: &mut dyn std::io::Read,
    sample_fps: f64,
    source_width: u32,
    source_height: u32,
    readers: FrameReaders<'_>,
) -> Result<SampledFindings, String> {
    let FrameReaders {
        mut screener,
        mut text,
    } = readers;
    let mut thumbnails = ThumbnailPicker::default();
    let mut frames = Vec::new();
    let mut pictures = Vec::new();
    let mut ppm = PpmReader::new(reader);
    // Per row / column of the sampled picture: in how many non-black frames it was dark.
    let (mut dark_rows, mut dark_columns): (Vec<u32>, Vec<u32>) = (Vec::new(), Vec::new());
    let mut counted = 0u32;
    let mut size = (0, 0);
    while let Some(image) = ppm.next_image().map_err(|e| e.to_string())? {
        let seconds = frames.len() as f64 / sample_fps;
        if let Ok(active) = &mut screener
            && let Err(e) = active.offer(&image, seconds)
        {
            screener = Err(format!("moderation stopped at {seconds:.1} s: {e}"));
        }
        if let Ok(reader) = &mut text
            && let Err(e) = reader.offer(&image, seconds)
        {
            text = Err(format!("text reading stopped at {seconds:.1} s: {e}"));
        }
        let grey = Grey::from_rgb(&image);
        let reduced = grey.reduced_to(360);
        let black = grey.mean() < BLACK_MEAN;
        let grid = 8.0 * f64::from(image.width()) / f64::from(source_width.max(1));
        let sharpness = reduced.sharpness();
        let hash = picture_hash(&reduced);
        pictures.push(hash);
        if let Some(appeal) = appeal(&reduced, sharpness) {
            thumbnails.offer(&image, hash, seconds, appeal);
        }
        frames.push(SampledFrame {
            seconds,
            sharpness,
            noise: reduced.noise_sigma(),
            blockiness: grey.blockiness(grid),
            black,
        });
        if (image.width(), image.height()) != size {
            size = (image.width(), image.height());
            dark_rows = vec![0; grey.height];
            dark_columns = vec![0; grey.width];
            counted = 0;
        }
        if !black {
            let (rows, columns) = grey.dark_lines(BLACK_MEAN as f32);
            for (count, dark) in dark_rows.iter_mut().zip(rows) {
                *count += u32::from(dark);
            }
            for (count, dark) in dark_columns.iter_mut().zip(columns) {
                *count += u32::from(dark);
            }
            counted += 1;
        }
    }
    // A bar is dark in (nearly) every frame with picture.
    let needed = (f64::from(counted) * 0.95).ceil() as u32;
    let edge = |counts: &[u32], from_start: bool| -> u32 {
        if counted == 0 {
            return 0;
        }
        let run = if from_start {
            counts.iter().take_while(|&&c| c >= needed).count()
        } else {
            counts.iter().rev().take_while(|&&c| c >= needed).count()
        };
        // Nothing but bars is no picture at all, not a letterbox.
        if run == counts.len() { 0 } else { run as u32 }
    };
    let (sampled_width, sampled_height) = size;
    let to_source_y = |v: u32| {
        (f64::from(v) * f64::from(source_height) / f64::from(sampled_height.max(1))).round() as u32
    };
    let to_source_x = |v: u32| {
        (f64::from(v) * f64::from(source_width) / f64::from(sampled_width.max(1))).round() as u32
    };
    let bars = Bars {
        top: to_source_y(edge(&dark_rows, true)),
        bottom: to_source_y(edge(&dark_rows, false)),
        left: to_source_x(edge(&dark_columns, true)),
        right: to_source_x(edge(&dark_columns, false)),
    };
    let duration = frames.len() as f64 / sample_fps;
    Ok(SampledFindings {
        frames,
        bars,
        checks: screener.map(|s| s.checks),
        thumbnails,
        text: text.map(|reader| reader.finish(duration)),
        pictures,
    })
}

fn build_scenes(
    shots: &ShotFindings,
    fps: f64,
    sampled: Option<&SampledFindings>,
    decode: DecodeHealth,
) -> Scenes {
    let frames = shots.frames;
    let mut boundaries: Vec<u64> = vec![0];
    boundaries.extend(shots.transitions.iter().map(|t| t.frame));
    boundaries.push(frames);
    let transition_spans: Vec<Segment> = shots
        .transitions
        .iter()
        .filter(|t| t.kind != TransitionKind::Cut)
        .map(|t| t.span)
        .collect();
    let shots_out = boundaries
        .windows(2)
        .enumerate()
        .map(|(index, pair)| {
            let (start_seconds, end_seconds) = (pair[0] as f64 / fps, pair[1] as f64 / fps);
            // The sharpest sampled frame well inside the shot and outside any transition.
            let margin = (0.2f64).min((end_seconds - start_seconds) / 4.0);
            let keyframe = sampled
                .into_iter()
                .flat_map(|s| s.frames.iter())
                .filter(|f| {
                    f.seconds >= start_seconds + margin
                        && f.seconds < end_seconds - margin
                        && !f.black
                        && !transition_spans.iter().any(|span| {
                            f.seconds >= span.start_seconds && f.seconds <= span.end_seconds
                        })
                })
                .max_by(|a, b| a.sharpness.total_cmp(&b.sharpness))
                .map(|f| f.seconds)
                .unwrap_or((start_seconds + end_seconds) / 2.0);
            Shot {
                index: index as u32,
                start_frame: pair[0],
                end_frame: pair[1],
                start_seconds,
                end_seconds,
                keyframe_seconds: keyframe,
            }
        })
        .filter(|shot| shot.end_frame > shot.start_frame)
        .collect();
    Scenes {
        frame_rate: fps,
        frames,
        duration_seconds: frames as f64 / fps,
        transitions: shots.transitions.clone(),
        shots: shots_out,
        decode,
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn distribution(mut values: Vec<f64>) -> Distribution {
    values.sort_by(f64::total_cmp);
    Distribution {
        p10: percentile(&values, 0.1),
        median: percentile(&values, 0.5),
        p90: percentile(&values, 0.9),
    }
}

/// Linear score: 100 at `good` or better, 0 at `bad` or worse (either direction).
fn scale(value: f64, good: f64, bad: f64) -> u8 {
    let t = ((value - bad) / (good - bad)).clamp(0.0, 1.0);
    (t * 100.0).round() as u8
}

fn resolution_class(width: u32, height: u32) -> (&'static str, u8) {
    match width.min(height) {
        2160.. => ("2160p", 100),
        1440.. => ("1440p", 100),
        1080.. => ("1080p", 95),
        720.. => ("720p", 80),
        480.. => ("480p", 55),
        360.. => ("360p", 35),
        _ => ("<360p", 15),
    }
}

#[allow(clippy::too_many_arguments)]
fn build_quality(
    probe: &Probe,
    duration: f64,
    shots: Option<&ShotFindings>,
    sampled: Option<&SampledFindings>,
    interlacing: Interlacing,
    audio: Option<Result<AudioQuality, String>>,
    decode: DecodeHealth,
) -> Result<Quality, String> {
    let mut parts = Vec::new();
    let mut part = |name: &str, score: u8, weight: f64, detail: String| {
        parts.push(QualityPart {
            name: name.into(),
            score,
            weight,
            detail,
        })
    };
    let mut video_quality = None;
    if let (Some(stream), Some(sampled)) = (probe.video.first(), sampled) {
        let (class, class_score) = resolution_class(stream.width, stream.height);
        part(
            "resolution",
            class_score,
            1.5,
            format!("{}x{} ({class})", stream.width, stream.height),
        );
        let pixels_per_second =
            f64::from(stream.width) * f64::from(stream.height) * stream.fps.unwrap_or(25.0);
        let bits = stream.bit_rate.or(probe.bit_rate);
        let bits_per_pixel = bits.map(|b| b as f64 / pixels_per_second.max(1.0));
        let bitrate_class = bits_per_pixel.map(|bpp| match bpp {
            b if b < 0.03 => "low",
            b if b < 0.08 => "medium",
            _ => "high",
        });
        if let (Some(bpp), Some(class)) = (bits_per_pixel, bitrate_class) {
            part(
                "bitrate",
                scale(bpp, 0.08, 0.01),
                1.0,
                format!("{bpp:.3} bits per pixel ({class})"),
            );
        }
        let picture: Vec<&SampledFrame> = sampled.frames.iter().filter(|f| !f.black).collect();
        let sharpness = distribution(picture.iter().map(|f| f.sharpness).collect());
        let blurred_fraction = if picture.is_empty() {
            0.0
        } else {
            picture
                .iter()
                .filter(|f| f.sharpness < BLURRED_BELOW)
                .count() as f64
                / picture.len() as f64
        };
        let noise_sigma = distribution(picture.iter().map(|f| f.noise).collect()).median;
        let blockiness = distribution(picture.iter().map(|f| f.blockiness).collect()).median;
        if !picture.is_empty() {
            part(
                "sharpness",
                scale(blurred_fraction, 0.0, 0.6),
                1.5,
                format!(
                    "{:.0}% of sampled frames blurred (median sharpness {:.0})",
                    blurred_fraction * 100.0,
                    sharpness.median
                ),
            );
            part(
                "noise",
                scale(noise_sigma, 2.0, 12.0),
                1.0,
                format!("noise σ {noise_sigma:.1} grey levels"),
            );
            part(
                "blockiness",
                scale(blockiness, 1.2, 2.5),
                1.0,
                format!("block edges {blockiness:.2}× other edges"),
            );
        }
        let (black_segments, frozen_segments) = shots
            .map(|s| (s.black_segments.clone(), s.frozen_segments.clone()))
            .unwrap_or_default();
        let stuck: f64 = black_segments
            .iter()
            .chain(&frozen_segments)
            .map(Segment::duration)
            .fold(0.0, |total, d| total + d);
        let stuck_share = if duration > 0.0 {
            (stuck / duration).min(1.0)
        } else {
            0.0
        };
        part(
            "black_and_frozen",
            scale(stuck_share, 0.0, 0.3),
            1.0,
            format!(
                "{:.1} s black or frozen ({:.0}%)",
                stuck,
                stuck_share * 100.0
            ),
        );
        let bars = sampled.bars;
        let active = f64::from(stream.width.saturating_sub(bars.left + bars.right))
            * f64::from(stream.height.saturating_sub(bars.top + bars.bottom));
        let barred = 1.0 - active / (f64::from(stream.width) * f64::from(stream.height)).max(1.0);
        part(
            "bars",
            scale(barred, 0.0, 0.5),
            0.5,
            format!("{:.0}% of the frame is black bars", barred * 100.0),
        );
        part(
            "interlacing",
            if interlacing.interlaced { 60 } else { 100 },
            0.5,
            if interlacing.interlaced {
                "interlaced".into()
            } else {
                "progressive".into()
            },
        );
        video_quality = Some(VideoQuality {
            width: stream.width,
            height: stream.height,
            resolution_class: class.into(),
            bits_per_pixel,
            bitrate_class: bitrate_class.map(Into::into),
            sharpness,
            blurred_fraction,
            noise_sigma,
            blockiness,
            bars,
            black_segments,
            frozen_segments,
            interlacing,
        });
    }
    let audio_quality = match audio {
        Some(Ok(a)) => {
            match a.integrated_lufs {
                // Streaming platforms normalise to about −14 LUFS; far off either way is a problem.
                Some(lufs) => part(
                    "loudness",
                    if (-18.0..=-8.0).contains(&lufs) {
                        100
                    } else {
                        scale((lufs + 13.0).abs(), 5.0, 20.0)
                    },
                    1.0,
                    format!(
                        "{lufs:.1} LUFS integrated, range {:.1} LU, true peak {:.1} dBTP",
                        a.loudness_range_lu, a.true_peak_dbtp
                    ),
                ),
                None => part("loudness", 30, 1.0, "the audio is silent".into()),
            }
            // (A fold from +0.0: an empty float `sum` is -0.0, which prints as "-0.0".)
            let clipped: f64 = a
                .clipping_segments
                .iter()
                .map(Segment::duration)
                .fold(0.0, |total, d| total + d);
            let share = if a.duration_seconds > 0.0 {
                clipped / a.duration_seconds
            } else {
                0.0
            };
            part(
                "clipping",
                scale(share, 0.0, 0.02),
                1.0,
                format!("{} clipped samples over {clipped:.1} s", a.clipped_samples),
            );
            Some(a)
        }
        Some(Err(e)) => return Err(format!("audio: {e}")),
        None => None,
    };
    if decode.errors > 0 {
        part(
            "decoding",
            scale(f64::from(decode.errors), 0.0, 50.0),
            1.0,
            format!("{} decoder errors", decode.errors),
        );
    }
    if parts.is_empty() {
        return Err("nothing to measure: no decodable video or audio".into());
    }
    let total_weight: f64 = parts.iter().map(|p| p.weight).sum();
    let score = (parts
        .iter()
        .map(|p| f64::from(p.score) * p.weight)
        .sum::<f64>()
        / total_weight)
        .round() as u8;
    Ok(Quality {
        score,
        parts,
        video: video_quality,
        audio: audio_quality,
        decode,
    })
}

/// Decoding trouble in a `level+info` log, and whether ffmpeg finished.
fn decode_health(log: &str, finished: bool) -> DecodeHealth {
    // Decoder errors, and the demuxer's warnings about corrupt packets (dropped before any
    // decoder sees them).
    let errors: Vec<&str> = log
        .lines()
        .filter(|line| {
            line.contains("[error]")
                || (line.contains("[warning]") && line.to_ascii_lowercase().contains("corrupt"))
        })
        .collect();
    DecodeHealth {
        errors: errors.len() as u32,
        samples: errors
            .iter()
            .take(5)
            .map(|l| l.trim().to_string())
            .collect(),
        complete: finished,
    }
}

/// `idet`'s closing summaries, e.g.
/// `Single frame detection: TFF: 30 BFF: 0 Progressive: 2 Undetermined: 1`.
///
/// The single-frame verdicts decide: the multi-frame ones carry each verdict forward, which
/// over runs of 8 frames turns a few early misreadings into all of them. `idet` misreads fine
/// synthetic detail as woven often (`testsrc2`: 38 woven to 9 progressive over every frame of a
/// progressive clip; a fractal zoom likewise), so interlaced means woven verdicts at least ten
/// times the progressive ones and at least 80% of all frames; real woven video gives nearly
/// all woven.
fn parse_idet(log: &str) -> Interlacing {
    // ffmpeg may configure the graph more than once; the last summary is the one that ran.
    let Some(line) = log
        .lines()
        .rev()
        .find(|l| l.contains("Single frame detection:"))
    else {
        return Interlacing::default();
    };
    let field = |name: &str| -> u32 {
        line.split(name)
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    let (tff, bff, progressive, undetermined) = (
        field("TFF:"),
        field("BFF:"),
        field("Progressive:"),
        field("Undetermined:"),
    );
    let woven = tff + bff;
    Interlacing {
        top_field_first: tff,
        bottom_field_first: bff,
        progressive,
        undetermined,
        interlaced: woven > 0
            && woven >= 10 * progressive
            && 5 * woven >= 4 * (woven + progressive + undetermined),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idet_summary_is_read() {
        // A first, empty summary from a graph configured and dropped, then the real one.
        let log = "[Parsed_idet_2 @ 0x4] [info] Single frame detection: TFF:     0 BFF:     0 Progressive:     0 Undetermined:     0\n\
                   [Parsed_idet_2 @ 0x5] [info] Repeated Fields: Neither: 10 Top: 0 Bottom: 0\n\
                   [Parsed_idet_2 @ 0x5] [info] Single frame detection: TFF:    14 BFF:     2 Progressive:     1 Undetermined:     2\n\
                   [Parsed_idet_2 @ 0x5] [info] Multi frame detection: TFF:    19 BFF:     0 Progressive:     1 Undetermined:     0\n";
        let i = parse_idet(log);
        assert_eq!(
            (
                i.top_field_first,
                i.bottom_field_first,
                i.progressive,
                i.undetermined
            ),
            (14, 2, 1, 2)
        );
        assert!(i.interlaced);
        // Some woven misreadings of fine detail are not interlacing.
        let detail = "[info] Single frame detection: TFF:    38 BFF:     3 Progressive:     9 Undetermined:     0\n";
        assert!(!parse_idet(detail).interlaced);
        assert_eq!(parse_idet(""), Interlacing::default());
    }

    #[test]
    fn decoder_errors_are_counted() {
        let log = "[info] Input #0\n[h264 @ 0x1] [error] error while decoding MB 3 4\n[h264 @ 0x1] [error] concealing 100 errors\n";
        let health = decode_health(log, true);
        assert_eq!(health.errors, 2);
        assert_eq!(health.samples.len(), 2);
        assert!(health.complete);
    }
}
