//! Fingerprints against media whose relations are known by construction: a video, the same
//! video re-encoded at another size and bit rate, an excerpt of it, and a different video
//! (other pictures, another melody). The comparison must find the first two and not the last.

use std::path::{Path, PathBuf};
use std::time::Duration;

use mvidarr_core::fingerprint::{Fingerprint, Relation};
use mvidarr_media::analysis::{AnalysisOptions, analyze};
use mvidarr_media::probe;
use mvidarr_media::storyboard::{Join, Look, Storyboard};

mod support;
use support::{ffmpeg, ffmpeg_ok};

/// `ffmpeg [-i input] OPTIONS -y out`, the options written as one line (none has a space).
async fn ffmpeg_to(input: Option<&Path>, options: &str, out: &Path) {
    let (input, out) = (
        input.map(|p| p.display().to_string()),
        out.display().to_string(),
    );
    let mut args = vec!["-v", "error"];
    if let Some(input) = &input {
        args.extend(["-i", input]);
    }
    args.extend(options.split_whitespace());
    args.extend(["-y", &out]);
    ffmpeg_ok(&args).await;
}

/// Which of 24 semitones plays in quarter second `floor(t*4)`: a pseudo-random tune, never
/// repeating (a repeating one would be "found" in any excerpt), `{step}` choosing which.
const NOTE: &str = "floor(24*abs(sin(floor(t*4)*{step}.37+{step})))";

/// A storyboard of cuts between `looks`, 4 s each, with a melody of notes a quarter second
/// long (see [`NOTE`]).
async fn video(dir: &Path, name: &str, looks: &[Look], step: u32) -> PathBuf {
    let board = Storyboard {
        width: 640,
        height: 360,
        fps: 25,
        shots: looks.iter().map(|look| (*look, 4.0)).collect(),
        joins: vec![Join::Cut; looks.len() - 1],
        bit_rate: None,
        tone: None,
        finish: None,
    };
    let silent = dir.join(format!("{name}-silent.mp4"));
    board.render(&ffmpeg(), &silent).await.expect("render");
    let seconds = 4.0 * looks.len() as f64;
    let note = NOTE.replace("{step}", &step.to_string());
    let melody =
        format!("aevalsrc=exprs='0.3*sin(2*PI*t*220*pow(2\\,{note}/12))':s=44100:d={seconds}");
    let out = dir.join(format!("{name}.mp4"));
    ffmpeg_to(
        Some(&silent),
        &format!("-f lavfi -i {melody} -map 0:v -map 1:a -c:v copy -c:a aac -b:a 128k -shortest"),
        &out,
    )
    .await;
    out
}

async fn fingerprint(options: &AnalysisOptions, path: &Path) -> Fingerprint {
    let ffmpeg = ffmpeg();
    let input = path.display().to_string();
    let probe = probe(&ffmpeg, &input, Duration::from_secs(60))
        .await
        .expect("probe");
    analyze(&ffmpeg, &input, &probe, options)
        .await
        .expect("analysis pass")
        .fingerprint
        .expect("fingerprint")
}

fn shared_keys(a: &Fingerprint, b: &Fingerprint) -> usize {
    let keys = a.index_keys();
    b.index_keys().iter().filter(|k| keys.contains(k)).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reencodes_and_excerpts_are_found_and_another_video_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let original = video(
        dir.path(),
        "original",
        &[
            Look::TestPattern { hue: 0 },
            Look::Mandelbrot { place: 0 },
            Look::PanningBars,
            Look::CellAuto { rule: 30 },
            Look::Mandelbrot { place: 1 },
        ],
        7,
    )
    .await;
    let other = video(
        dir.path(),
        "other",
        &[
            Look::Gradients { seed: 1 },
            Look::CellAuto { rule: 90 },
            Look::Mandelbrot { place: 2 },
            Look::Gradients { seed: 9 },
            Look::CellAuto { rule: 110 },
        ],
        5,
    )
    .await;
    // Another size, frame rate and a starved bit rate, audio at another rate and codec rate.
    let reencoded = dir.path().join("reencoded.mp4");
    ffmpeg_to(
        Some(&original),
        "-vf scale=426:240 -r 30 -c:v libx264 -b:v 250k -c:a aac -b:a 64k -ar 32000",
        &reencoded,
    )
    .await;
    // 9 s from 6.1 s on: neither a picture sample nor an audio item lines up with the original's.
    let excerpt = dir.path().join("excerpt.mp4");
    ffmpeg_to(
        Some(&original),
        "-ss 6.1 -t 9 -c:v libx264 -crf 26 -c:a aac",
        &excerpt,
    )
    .await;

    let options = AnalysisOptions::default();
    let original = fingerprint(&options, &original).await;
    let reencoded = fingerprint(&options, &reencoded).await;
    let excerpt = fingerprint(&options, &excerpt).await;
    let other = fingerprint(&options, &other).await;
    assert!(original.pictures.len() >= 38, "{}", original.pictures.len());
    assert!(original.audio.len() >= 140, "{}", original.audio.len());

    // What each is to the original, how alike, and how many index keys it shares at least.
    let cases = [
        ("re-encode", &reencoded, Relation::Same, 0.8..=1.0, 8),
        ("excerpt", &excerpt, Relation::Contains, 0.8..=1.0, 4),
        ("other video", &other, Relation::Overlaps, 0.0..=0.2, 0),
    ];
    for (name, copy, relation, score, keys) in cases {
        let found = original.similarity(copy);
        let shared = shared_keys(&original, copy);
        eprintln!("{name}: {found:?}; {shared} shared keys");
        assert_eq!(found.relation, relation, "{name}: {found:?}");
        assert!(score.contains(&found.score), "{name}: {found:?}");
        assert!(shared >= keys, "{name}: {shared} shared keys");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_and_audio_only_media_are_fingerprinted_by_what_they_have() {
    let dir = tempfile::tempdir().unwrap();
    let silent = dir.path().join("silent.mp4");
    ffmpeg_to(
        None,
        "-f lavfi -i testsrc2=s=320x180:r=25:d=3 -c:v libx264",
        &silent,
    )
    .await;
    let song = dir.path().join("song.m4a");
    let melody = format!(
        "aevalsrc=exprs='0.3*sin(2*PI*t*220*pow(2\\,{}/12))':s=44100:d=8",
        NOTE.replace("{step}", "7")
    );
    ffmpeg_to(None, &format!("-f lavfi -i {melody} -c:a aac"), &song).await;
    let options = AnalysisOptions::default();
    let silent = fingerprint(&options, &silent).await;
    assert!(silent.audio.is_empty());
    assert!(silent.pictures.iter().filter(|h| **h != 0).count() >= 5);
    let song = fingerprint(&options, &song).await;
    assert!(song.pictures.is_empty());
    assert!(song.audio.len() >= 40, "{}", song.audio.len());
    assert_eq!(song.similarity(&song.clone()).relation, Relation::Same);
    assert_eq!(silent.similarity(&song).score, 0.0);
}
