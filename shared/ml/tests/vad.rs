//! Silero VAD on audio with known speech: espeak-ng sentences placed by ffmpeg (`adelay`,
//! `amix`) at known offsets in digital silence and in pink noise, resampled to 16 kHz f32.
//! The truth is where each sentence's samples are audible; the detected segments must cover
//! it with timeline IoU ≥ 0.8. Silence, a pure tone and a music-like chord give no speech.

mod media_support;

use std::path::Path;

use media_support::{decode_16k_mono, espeak, f32le, ffmpeg_stdout};
use mvidarr_ml::vad::{
    SAMPLE_RATE, SpeechSegment, Vad, VadParams, WINDOW_SAMPLES, segments_from_probabilities,
};

const SENTENCES: [(&str, f64); 3] = [
    ("The quick brown fox jumps over the lazy dog.", 1.0),
    ("Media intelligence for music video libraries.", 5.0),
    (
        "Speech activity detection finds every voice in the clip.",
        9.5,
    ),
];
const DURATION_S: f64 = 14.0;

/// Where a mono 16 kHz signal is audible: first to last sample above 1% of full scale.
fn audible_extent(samples: &[f32]) -> (f64, f64) {
    let loud = |x: &f32| x.abs() > 0.01;
    let first = samples.iter().position(loud).expect("some sound");
    let last = samples.iter().rposition(loud).unwrap();
    let rate = f64::from(SAMPLE_RATE);
    (first as f64 / rate, (last + 1) as f64 / rate)
}

/// Total length of the union of intervals (sorted or not).
fn covered(intervals: &[(f64, f64)]) -> f64 {
    let mut sorted = intervals.to_vec();
    sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut total = 0.0;
    let mut current: Option<(f64, f64)> = None;
    for (s, e) in sorted {
        current = match current {
            Some((cs, ce)) if s <= ce => Some((cs, ce.max(e))),
            Some((cs, ce)) => {
                total += ce - cs;
                Some((s, e))
            }
            None => Some((s, e)),
        };
    }
    total + current.map_or(0.0, |(s, e)| e - s)
}

/// Intersection over union of two sets of intervals on the timeline.
fn timeline_iou(a: &[(f64, f64)], b: &[(f64, f64)]) -> f64 {
    let mut intersection = Vec::new();
    for &(s1, e1) in a {
        for &(s2, e2) in b {
            let (s, e) = (s1.max(s2), e1.min(e2));
            if e > s {
                intersection.push((s, e));
            }
        }
    }
    let inter = covered(&intersection);
    let union = covered(&[a, b].concat());
    if union > 0.0 { inter / union } else { 1.0 }
}

fn intervals(segments: &[SpeechSegment]) -> Vec<(f64, f64)> {
    segments.iter().map(|s| (s.start_s, s.end_s)).collect()
}

/// The three sentences over `background` (an ffmpeg lavfi audio source, 16 kHz mono), with the
/// true speech intervals.
fn speech_over(background: &str, dir: &Path) -> (Vec<f32>, Vec<(f64, f64)>) {
    let mut args: Vec<String> = [
        "-f",
        "lavfi",
        "-t",
        &DURATION_S.to_string(),
        "-i",
        background,
    ]
    .map(String::from)
    .to_vec();
    let mut filter = String::new();
    let mut truth = Vec::new();
    for (i, (text, offset)) in SENTENCES.iter().enumerate() {
        let wav = dir.join(format!("sentence{i}.wav"));
        espeak(text, &wav);
        let (start, end) = audible_extent(&decode_16k_mono(&wav));
        truth.push((offset + start, offset + end));
        args.extend(["-i".to_string(), wav.display().to_string()]);
        let ms = (offset * 1000.0).round() as u64;
        filter += &format!(
            "[{}]aresample=16000,aformat=channel_layouts=mono,adelay={ms}:all=1[s{i}];",
            i + 1
        );
    }
    filter += "[0][s0][s1][s2]amix=inputs=4:duration=first:normalize=0,aresample=16000";
    args.extend(["-filter_complex", &filter, "-ac", "1", "-f", "f32le", "-"].map(String::from));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    (f32le(&ffmpeg_stdout(&args)), truth)
}

fn assert_finds_the_sentences(background: &str) {
    let dir = tempfile::tempdir().unwrap();
    let (audio, truth) = speech_over(background, dir.path());
    assert_eq!(audio.len(), (DURATION_S * f64::from(SAMPLE_RATE)) as usize);
    let mut vad = Vad::new().unwrap();
    let segments = vad.segments(&audio).unwrap();
    let found = intervals(&segments);
    let iou = timeline_iou(&found, &truth);
    println!("{background}: truth {truth:.2?}\n  found {found:.2?}\n  IoU {iou:.3}");
    assert!(
        iou >= 0.8,
        "IoU {iou:.3}: truth {truth:.2?}, found {found:.2?}"
    );
    // Every sentence is found, and nothing is found away from them.
    for &(s, e) in &truth {
        assert!(
            found.iter().any(|&(fs, fe)| fs < e && fe > s),
            "sentence at {s:.2}–{e:.2} s missed: {found:.2?}"
        );
    }
    for &(fs, fe) in &found {
        assert!(
            truth.iter().any(|&(s, e)| fs < e && fe > s),
            "speech found at {fs:.2}–{fe:.2} s where there is none: truth {truth:.2?}"
        );
    }
}

#[test]
fn sentences_in_silence_are_found_with_iou_at_least_0_8() {
    assert_finds_the_sentences("anullsrc=r=16000:cl=mono");
}

#[test]
fn sentences_in_pink_noise_are_found_with_iou_at_least_0_8() {
    // espeak-ng peaks near 0.5 of full scale; this noise is about 20 dB below the speech.
    assert_finds_the_sentences("anoisesrc=r=16000:color=pink:amplitude=0.03:seed=7");
}

fn lavfi_audio(source: &str, seconds: f64) -> Vec<f32> {
    f32le(&ffmpeg_stdout(&[
        "-f",
        "lavfi",
        "-t",
        &seconds.to_string(),
        "-i",
        source,
        "-ac",
        "1",
        "-ar",
        "16000",
        "-f",
        "f32le",
        "-",
    ]))
}

fn speech_seconds(segments: &[SpeechSegment]) -> f64 {
    segments
        .iter()
        .map(SpeechSegment::duration_s)
        .fold(0.0, |a, b| a + b)
}

#[test]
fn silence_has_no_speech() {
    let mut vad = Vad::new().unwrap();
    let audio = lavfi_audio("anullsrc=r=16000:cl=mono", 5.0);
    assert_eq!(vad.segments(&audio).unwrap(), vec![]);
    let probabilities = vad.probabilities(&audio).unwrap();
    let max = probabilities.iter().copied().fold(0.0f32, f32::max);
    assert!(max < 0.1, "max probability {max}");
}

#[test]
fn a_pure_tone_and_a_music_like_chord_have_little_or_no_speech() {
    let mut vad = Vad::new().unwrap();
    let sources = [
        "sine=frequency=440:sample_rate=16000",
        // A C-major chord swelling twice a second, over a soft hi-hat-like noise pulse.
        "aevalsrc='0.2*sin(2*PI*261.63*t)+0.2*sin(2*PI*329.63*t)+0.2*sin(2*PI*392*t)*(0.6+0.4*sin(2*PI*2*t))+0.05*(random(0)-0.5)*lt(mod(t\\,0.5)\\,0.05)':s=16000",
    ];
    for source in sources {
        let audio = lavfi_audio(source, 10.0);
        let segments = vad.segments(&audio).unwrap();
        let speech = speech_seconds(&segments);
        println!(
            "{source}: {speech:.2} s of speech in 10 s: {:.2?}",
            intervals(&segments)
        );
        assert!(speech <= 0.5, "{source}: {speech:.2} s of speech in 10 s");
    }
}

#[test]
fn pushing_in_any_chunks_gives_the_segments_of_the_whole() {
    let dir = tempfile::tempdir().unwrap();
    let (audio, _) = speech_over(
        "anoisesrc=r=16000:color=white:amplitude=0.01:seed=3",
        dir.path(),
    );
    // The audio ends inside a window: the last partial window counts.
    let audio = &audio[..audio.len() - 300];
    let mut vad = Vad::new().unwrap();
    let whole = vad.segments(audio).unwrap();
    assert_eq!(whole.len(), 3, "{whole:?}");

    let probabilities = vad.probabilities(audio).unwrap();
    assert_eq!(probabilities.len(), audio.len().div_ceil(WINDOW_SAMPLES));
    assert_eq!(
        segments_from_probabilities(&probabilities, audio.len() as u64, &VadParams::default()),
        whole
    );

    for sizes in [
        &[1usize, 511, 513, 100, 4000][..],
        &[512],
        &[16000],
        &[7, 1021],
    ] {
        let mut streamed = Vec::new();
        let mut rest = audio;
        let mut i = 0;
        while !rest.is_empty() {
            let n = sizes[i % sizes.len()].min(rest.len());
            streamed.extend(vad.push(&rest[..n]).unwrap());
            rest = &rest[n..];
            i += 1;
        }
        let before_finish = streamed.len();
        streamed.extend(vad.finish().unwrap());
        assert_eq!(streamed, whole, "chunks of {sizes:?}");
        // Segments come out while the stream runs, not only at the end.
        assert!(
            before_finish >= 2,
            "chunks of {sizes:?}: {before_finish} before finish"
        );
    }
    // finish() left the Vad ready for the next stream.
    assert_eq!(vad.segments(audio).unwrap(), whole);
}
