//! The analysis pass against media whose truth is known by construction: ffmpeg's `lavfi`
//! sources drawn into shots with known boundaries, black and frozen stretches, blur, noise,
//! bars, interlacing, tones and silence at known levels — and awkward inputs.

use std::path::{Path, PathBuf};
use std::time::Duration;

use mvidarr_core::analysis::{Probe, Segment, TransitionKind};
use mvidarr_media::analysis::{AnalysisOptions, MediaAnalysis, analyze};
use mvidarr_media::probe;
use mvidarr_media::storyboard::{Join, Look, Storyboard, boundary_f1};

mod support;
use support::{ffmpeg, ffmpeg_ok};

async fn analyze_file(path: &Path) -> (Probe, MediaAnalysis) {
    // RUST_LOG=mvidarr_media=trace shows the shot detector's per-frame signals.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let ffmpeg = ffmpeg();
    let input = path.display().to_string();
    let probe = probe(&ffmpeg, &input, Duration::from_secs(60))
        .await
        .expect("probe");
    let analysis = analyze(&ffmpeg, &input, &probe, &AnalysisOptions::default())
        .await
        .expect("analysis pass");
    (probe, analysis)
}

fn file(dir: &tempfile::TempDir, name: &str) -> PathBuf {
    dir.path().join(name)
}

fn plain(shots: Vec<(Look, f64)>, width: u32, height: u32) -> Storyboard {
    let joins = vec![Join::Cut; shots.len() - 1];
    Storyboard {
        width,
        height,
        fps: 25,
        shots,
        joins,
        bit_rate: None,
        tone: None,
        finish: None,
    }
}

fn assert_segment(found: &[Segment], start: f64, end: f64, what: &str) {
    let want = Segment {
        start_seconds: start,
        end_seconds: end,
    };
    assert!(
        found.iter().any(|s| s.iou(&want) >= 0.9),
        "{what}: expected about {start}–{end} s, found {found:?}"
    );
}

/// Precision, recall and F1 of the boundaries found in `board` (within `frames` frames), and
/// the kinds of transition found.
async fn shot_scores(
    board: &Storyboard,
    name: &str,
    frames: f64,
) -> (f64, f64, f64, Vec<TransitionKind>) {
    let dir = tempfile::tempdir().unwrap();
    let path = file(&dir, name);
    let truth = board.render(&ffmpeg(), &path).await.unwrap();
    let (_, analysis) = analyze_file(&path).await;
    let scenes = analysis.scenes.unwrap().unwrap();
    let found: Vec<f64> = scenes.transitions.iter().map(|t| t.at_seconds).collect();
    let tolerance = frames / f64::from(board.fps) + 1e-6;
    let (precision, recall, f1) = boundary_f1(&truth.boundaries, &found, tolerance);
    eprintln!("{name}: truth {:?}", truth.boundaries);
    eprintln!("{name}: found {found:?}");
    eprintln!("{name}: precision {precision:.3} recall {recall:.3} F1 {f1:.3}");
    assert_eq!(scenes.shots.len(), scenes.transitions.len() + 1);
    for pair in scenes.shots.windows(2) {
        assert_eq!(
            pair[0].end_frame, pair[1].start_frame,
            "shots tile the video"
        );
    }
    for shot in &scenes.shots {
        assert!(
            shot.keyframe_seconds >= shot.start_seconds && shot.keyframe_seconds < shot.end_seconds,
            "{shot:?}"
        );
    }
    let kinds = scenes.transitions.iter().map(|t| t.kind).collect();
    (precision, recall, f1, kinds)
}

#[tokio::test]
async fn cuts_and_fades_are_found_within_two_frames() {
    let board = Storyboard::cycling(
        320,
        180,
        25,
        16,
        2.0,
        &[
            Join::Cut,
            Join::FadeThroughBlack(1.0),
            Join::Cut,
            Join::FadeThroughBlack(0.6),
        ],
    );
    let (_, _, f1, kinds) = shot_scores(&board, "joins.mp4", 2.0).await;
    assert!(f1 >= 0.95, "F1 {f1}");
    // Each kind of join is recognised as what it is.
    let count = |kind| kinds.iter().filter(|k| **k == kind).count();
    assert_eq!(count(TransitionKind::Fade), 7, "{kinds:?}");
    assert_eq!(count(TransitionKind::Cut), 8, "{kinds:?}");
}

#[tokio::test]
async fn dissolves_are_found_near_their_middle() {
    // A blend has no single boundary frame: its middle is the frame as far from the picture
    // before as from the one after, even into a shot with much motion of its own (CellAuto).
    let board = Storyboard::cycling(320, 180, 25, 12, 2.0, &[Join::Dissolve(0.8), Join::Cut]);
    let (precision, recall, _, kinds) = shot_scores(&board, "dissolves.mp4", 2.0).await;
    assert!(precision >= 0.9, "precision {precision}");
    assert!(recall >= 0.8, "recall {recall}");
    assert!(
        kinds
            .iter()
            .filter(|k| **k == TransitionKind::Dissolve)
            .count()
            >= 4,
        "{kinds:?}"
    );
}

#[tokio::test]
async fn a_steady_zoom_is_not_a_dissolve() {
    // A Mandelbrot zoom changes as much over a second as a blend between two shots does, but
    // evenly from frame to frame. Between shots that change little over a second, that change
    // stood out from its neighbourhood and passed for a dissolve in the middle of the zoom.
    let board = plain(
        vec![
            (Look::PanningBars, 2.0),
            (Look::Mandelbrot { place: 1 }, 3.8),
            (Look::PanningBars, 2.0),
        ],
        320,
        180,
    );
    let (_, _, f1, kinds) = shot_scores(&board, "zoom.mp4", 2.0).await;
    assert_eq!(kinds, [TransitionKind::Cut; 2], "F1 {f1}");
}

#[tokio::test]
async fn uneven_shots_at_another_size_and_rate() {
    // Shot lengths from 0.6 s to 3.4 s, 640x360 at 30 fps, cuts and quick fades.
    let lengths = [1.3, 0.6, 3.4, 2.2, 0.9, 1.7, 2.8, 0.7, 1.1, 2.5, 1.9, 0.8];
    let shots: Vec<(Look, f64)> = lengths
        .iter()
        .enumerate()
        .map(|(i, &seconds)| (Look::MOVING[(i * 3) % Look::MOVING.len()], seconds))
        .collect();
    let joins = (0..shots.len() - 1)
        .map(|i| {
            if i % 5 == 4 {
                Join::FadeThroughBlack(0.4)
            } else {
                Join::Cut
            }
        })
        .collect();
    let board = Storyboard {
        fps: 30,
        joins,
        ..plain(shots, 640, 360)
    };
    let (_, _, f1, _) = shot_scores(&board, "uneven.mp4", 2.0).await;
    assert!(f1 >= 0.95, "F1 {f1}");
}

#[tokio::test]
async fn a_one_frame_flash_is_not_a_cut() {
    // A white frame flashed into the middle of each shot (at 1.0 s of 2 s shots).
    let mut board = Storyboard::cycling(320, 180, 25, 4, 2.0, &[Join::Cut]);
    board.finish =
        Some("drawbox=x=0:y=0:w=iw:h=ih:color=white:t=fill:enable='eq(mod(n\\,50)\\,25)'".into());
    let (_, _, f1, kinds) = shot_scores(&board, "flash.mp4", 2.0).await;
    assert_eq!(kinds.len(), 3, "{kinds:?}");
    assert!(f1 >= 0.95, "F1 {f1}");
}

#[tokio::test]
async fn black_and_frozen_stretches_are_located() {
    let dir = tempfile::tempdir().unwrap();
    let path = file(&dir, "stretches.mp4");
    let board = plain(
        vec![
            (Look::TestPattern { hue: 0 }, 3.0),
            (Look::Black, 2.0),
            (Look::Mandelbrot { place: 0 }, 3.0),
            (Look::Still { hue: 90 }, 2.0),
            (Look::Gradients { seed: 2 }, 3.0),
        ],
        320,
        180,
    );
    let truth = board.render(&ffmpeg(), &path).await.unwrap();
    let (_, analysis) = analyze_file(&path).await;
    let quality = analysis.quality.unwrap();
    let video = quality.video.as_ref().unwrap();
    assert_segment(&video.black_segments, 3.0, 5.0, "black");
    assert_segment(&video.frozen_segments, 8.0, 10.0, "frozen");
    assert_eq!(video.black_segments.len(), 1, "{:?}", video.black_segments);
    assert_eq!(
        video.frozen_segments.len(),
        1,
        "{:?}",
        video.frozen_segments
    );
    let scenes = analysis.scenes.unwrap().unwrap();
    let found: Vec<f64> = scenes.transitions.iter().map(|t| t.at_seconds).collect();
    let (_, _, f1) = boundary_f1(&truth.boundaries, &found, 0.081);
    assert!(f1 >= 0.95, "{found:?} vs {:?}", truth.boundaries);
    let part = quality
        .parts
        .iter()
        .find(|p| p.name == "black_and_frozen")
        .unwrap();
    assert!(part.score < 100, "{part:?}");
}

#[tokio::test]
async fn blur_and_noise_are_measured_and_lower_the_score() {
    let dir = tempfile::tempdir().unwrap();
    // Looks with detail everywhere: a smooth gradient has no edges to blur, sharp or not.
    let board = plain(
        vec![
            (Look::TestPattern { hue: 0 }, 2.0),
            (Look::Mandelbrot { place: 0 }, 2.0),
            (Look::PanningBars, 2.0),
            (Look::CellAuto { rule: 30 }, 2.0),
        ],
        640,
        360,
    );
    let mut results = Vec::new();
    for (name, finish) in [
        ("sharp", None),
        ("blurred", Some("gblur=sigma=4")),
        ("noisy", Some("noise=alls=40:allf=t")),
    ] {
        let path = file(&dir, &format!("{name}.mp4"));
        Storyboard {
            finish: finish.map(Into::into),
            ..board.clone()
        }
        .render(&ffmpeg(), &path)
        .await
        .unwrap();
        let (_, analysis) = analyze_file(&path).await;
        let quality = analysis.quality.unwrap();
        let video = quality.video.clone().unwrap();
        eprintln!(
            "{name}: score {} sharpness {:?} blurred {:.2} noise {:.2} blockiness {:.2}",
            quality.score,
            video.sharpness,
            video.blurred_fraction,
            video.noise_sigma,
            video.blockiness
        );
        results.push((quality.score, video));
    }
    let [
        (sharp_score, sharp),
        (blurred_score, blurred),
        (noisy_score, noisy),
    ] = <[_; 3]>::try_from(results).unwrap();
    assert!(sharp.blurred_fraction <= 0.1, "{sharp:?}");
    assert!(blurred.blurred_fraction >= 0.9, "{blurred:?}");
    assert!(sharp.sharpness.median > 3.0 * blurred.sharpness.median);
    assert!(
        noisy.noise_sigma > sharp.noise_sigma + 5.0,
        "{noisy:?} vs {sharp:?}"
    );
    assert!(sharp_score > blurred_score && sharp_score > noisy_score);
}

#[tokio::test]
async fn letterbox_and_pillarbox_bars_are_measured_in_source_pixels() {
    let dir = tempfile::tempdir().unwrap();
    let board = Storyboard::cycling(640, 360, 25, 3, 1.5, &[Join::Cut]);
    for (name, finish, top, left) in [
        ("letterbox", "scale=640:270,pad=640:360:0:45", 45, 0),
        ("pillarbox", "scale=480:360,pad=640:360:80:0", 0, 80),
    ] {
        let path = file(&dir, &format!("{name}.mp4"));
        Storyboard {
            finish: Some(finish.into()),
            ..board.clone()
        }
        .render(&ffmpeg(), &path)
        .await
        .unwrap();
        let (_, analysis) = analyze_file(&path).await;
        let bars = analysis.quality.unwrap().video.unwrap().bars;
        let near = |got: u32, want: u32| got.abs_diff(want) <= 3;
        assert!(
            near(bars.top, top)
                && near(bars.bottom, top)
                && near(bars.left, left)
                && near(bars.right, left),
            "{name}: {bars:?}"
        );
        assert_eq!(bars.letterboxed(), top > 0, "{name}");
        assert_eq!(bars.pillarboxed(), left > 0, "{name}");
    }
}

#[tokio::test]
async fn interlaced_video_is_recognised() {
    let dir = tempfile::tempdir().unwrap();
    let path = file(&dir, "interlaced.mp4");
    // Fields show only where things move: pan fast, then weave pairs of frames into fields.
    let shots = vec![
        (Look::TestPattern { hue: 0 }, 2.0),
        (Look::PanningBars, 2.0),
    ];
    let mut board = Storyboard {
        fps: 50,
        ..plain(shots.clone(), 640, 360)
    };
    board.finish =
        Some("scroll=horizontal=0.01,tinterlace=mode=interleave_top,setfield=tff".into());
    board.render(&ffmpeg(), &path).await.unwrap();
    let (_, analysis) = analyze_file(&path).await;
    let video = analysis.quality.unwrap().video.unwrap();
    assert!(video.interlacing.interlaced, "{:?}", video.interlacing);

    let progressive = file(&dir, "progressive.mp4");
    // The same motion, progressive.
    let mut board = plain(shots, 640, 360);
    board.finish = Some("scroll=horizontal=0.02".into());
    board.render(&ffmpeg(), &progressive).await.unwrap();
    let (_, analysis) = analyze_file(&progressive).await;
    let video = analysis.quality.unwrap().video.unwrap();
    assert!(!video.interlacing.interlaced, "{:?}", video.interlacing);
}

/// ffmpeg's own EBU R128 meter on a file: (integrated LUFS, loudness range LU, true peak dBFS).
async fn ffmpeg_ebur128(path: &Path) -> (f64, f64, f64) {
    let input = path.display().to_string();
    let log = ffmpeg_ok(&[
        "-i",
        &input,
        "-map",
        "0:a:0",
        "-af",
        "ebur128=peak=true",
        "-f",
        "null",
        "-",
    ])
    .await;
    let summary = &log[log.rfind("Summary:").expect("ebur128 summary")..];
    let value = |label: &str| -> f64 {
        let rest = &summary[summary
            .find(label)
            .unwrap_or_else(|| panic!("{label} in {summary}"))
            + label.len()..];
        rest.split_whitespace().next().unwrap().parse().unwrap()
    };
    (value("I:"), value("LRA:"), value("Peak:"))
}

#[tokio::test]
async fn loudness_matches_ffmpegs_meter_and_silence_is_located() {
    let dir = tempfile::tempdir().unwrap();
    // 4 s of a 440 Hz tone, 2 s of digital silence, 4 s of pink noise; stereo, audio only.
    let path = file(&dir, "levels.wav");
    let out = path.display().to_string();
    ffmpeg_ok(&[
        "-loglevel",
        "error",
        "-filter_complex",
        "sine=f=440:sample_rate=48000:d=4,volume=0.3[a];\
         aevalsrc=0:s=48000:d=2[b];\
         anoisesrc=color=pink:amplitude=0.2:sample_rate=48000:d=4:seed=3[c];\
         [a][b][c]concat=n=3:v=0:a=1,aformat=channel_layouts=stereo[out]",
        "-map",
        "[out]",
        "-c:a",
        "pcm_s16le",
        "-y",
        &out,
    ])
    .await;
    let (probe, analysis) = analyze_file(&path).await;
    assert!(probe.video.is_empty());
    assert!(analysis.scenes.is_none(), "no video, no scenes");
    let audio = analysis.quality.unwrap().audio.unwrap();
    let (integrated, range, peak) = ffmpeg_ebur128(&path).await;
    eprintln!("ours {audio:?}");
    eprintln!("ffmpeg: I {integrated} LRA {range} peak {peak}");
    let ours = audio.integrated_lufs.unwrap();
    assert!(
        (ours - integrated).abs() <= 0.5,
        "{ours} vs ffmpeg {integrated}"
    );
    // Loudness range over 10 s rests on a handful of 3-second blocks, where the two meters'
    // histograms differ (libebur128 bins finer than ffmpeg's filter): close, not equal.
    assert!(
        (audio.loudness_range_lu - range).abs() <= 2.0,
        "{} vs {range}",
        audio.loudness_range_lu
    );
    assert!(
        (audio.true_peak_dbtp - peak).abs() <= 0.5,
        "{} vs {peak}",
        audio.true_peak_dbtp
    );
    assert_segment(&audio.silence_segments, 4.0, 6.0, "silence");
    assert_eq!(audio.clipped_samples, 0);
    assert!((audio.duration_seconds - 10.0).abs() < 0.05);
}

#[tokio::test]
async fn clipping_is_located() {
    let dir = tempfile::tempdir().unwrap();
    let path = file(&dir, "clipped.wav");
    let out = path.display().to_string();
    // `sine` is at 1/8 of full scale: 3 s at half scale, then 2 s driven 4x past full scale
    // (clipped by the s16 encode).
    ffmpeg_ok(&[
        "-loglevel",
        "error",
        "-filter_complex",
        "sine=f=440:sample_rate=48000:d=3,volume=4[a];sine=f=440:sample_rate=48000:d=2,volume=32[b];[a][b]concat=n=2:v=0:a=1[out]",
        "-map",
        "[out]",
        "-c:a",
        "pcm_s16le",
        "-y",
        &out,
    ])
    .await;
    let (_, analysis) = analyze_file(&path).await;
    let quality = analysis.quality.unwrap();
    let audio = quality.audio.as_ref().unwrap();
    assert!(audio.clipped_samples > 10_000, "{audio:?}");
    assert_segment(&audio.clipping_segments, 3.0, 5.0, "clipping");
    let part = quality.parts.iter().find(|p| p.name == "clipping").unwrap();
    assert!(part.score < 50, "{part:?}");
}

// ---- awkward inputs: the analysis completes and says what it could not do ----------------

#[tokio::test]
async fn a_video_without_audio_has_no_audio_quality() {
    let dir = tempfile::tempdir().unwrap();
    let path = file(&dir, "silent.mp4");
    Storyboard::cycling(320, 180, 25, 2, 1.0, &[Join::Cut])
        .render(&ffmpeg(), &path)
        .await
        .unwrap();
    let (_, analysis) = analyze_file(&path).await;
    let quality = analysis.quality.unwrap();
    assert!(quality.audio.is_none());
    assert!(quality.parts.iter().all(|p| p.name != "loudness"));
    assert!(analysis.decode.complete && analysis.decode.errors == 0);
}

#[tokio::test]
async fn a_one_frame_video_is_one_shot() {
    let dir = tempfile::tempdir().unwrap();
    let path = file(&dir, "one-frame.mp4");
    let out = path.display().to_string();
    ffmpeg_ok(&[
        "-loglevel",
        "error",
        "-f",
        "lavfi",
        "-i",
        "testsrc2=s=320x240:r=25",
        "-frames:v",
        "1",
        "-c:v",
        "libx264",
        "-y",
        &out,
    ])
    .await;
    let (_, analysis) = analyze_file(&path).await;
    let scenes = analysis.scenes.unwrap().unwrap();
    assert_eq!(scenes.shots.len(), 1, "{scenes:?}");
    assert!(scenes.transitions.is_empty());
    assert!(analysis.quality.is_ok());
}

#[tokio::test]
async fn variable_frame_rate_keeps_boundaries_in_time() {
    let dir = tempfile::tempdir().unwrap();
    let cfr = file(&dir, "cfr.mp4");
    let truth = Storyboard::cycling(320, 180, 25, 4, 2.0, &[Join::Cut])
        .render(&ffmpeg(), &cfr)
        .await
        .unwrap();
    // Drop two frames in three during the first 3 s: the same boundaries, uneven timing.
    let vfr = file(&dir, "vfr.mkv");
    let (cfr_in, vfr_out) = (cfr.display().to_string(), vfr.display().to_string());
    ffmpeg_ok(&[
        "-loglevel",
        "error",
        "-i",
        &cfr_in,
        "-vf",
        "select='gte(t\\,3)+not(mod(n\\,3))'",
        "-fps_mode",
        "vfr",
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-y",
        &vfr_out,
    ])
    .await;
    let (_, analysis) = analyze_file(&vfr).await;
    let scenes = analysis.scenes.unwrap().unwrap();
    let found: Vec<f64> = scenes.transitions.iter().map(|t| t.at_seconds).collect();
    // The first boundary falls in the thinned part: a frame there lasts 3/25 s.
    let (_, recall, _) = boundary_f1(&truth.boundaries, &found, 3.0 / 25.0 + 1e-6);
    assert!(recall >= 0.99, "{found:?} vs {:?}", truth.boundaries);
}

#[tokio::test]
async fn a_rotated_phone_video_is_analysed_upright() {
    let dir = tempfile::tempdir().unwrap();
    let landscape = file(&dir, "landscape.mp4");
    Storyboard::cycling(320, 180, 25, 2, 1.5, &[Join::Cut])
        .render(&ffmpeg(), &landscape)
        .await
        .unwrap();
    let rotated = file(&dir, "rotated.mp4");
    let (input, output) = (
        landscape.display().to_string(),
        rotated.display().to_string(),
    );
    ffmpeg_ok(&[
        "-loglevel",
        "error",
        "-display_rotation",
        "90",
        "-i",
        &input,
        "-c",
        "copy",
        "-y",
        &output,
    ])
    .await;
    let (_, analysis) = analyze_file(&rotated).await;
    let scenes = analysis.scenes.unwrap().unwrap();
    assert_eq!(scenes.transitions.len(), 1, "{scenes:?}");
    let video = analysis.quality.unwrap().video.unwrap();
    // Turned upright, a 16:9 picture has no bars either way.
    assert_eq!(
        video.bars.top + video.bars.bottom + video.bars.left + video.bars.right,
        0,
        "{:?}",
        video.bars
    );
}

#[tokio::test]
async fn ten_bit_hevc_is_analysed() {
    let dir = tempfile::tempdir().unwrap();
    let path = file(&dir, "hevc10.mkv");
    let (graph, truth) = Storyboard::cycling(320, 180, 25, 3, 1.5, &[Join::Cut])
        .graph()
        .unwrap();
    let out = path.display().to_string();
    ffmpeg_ok(&[
        "-loglevel",
        "error",
        "-filter_complex",
        &graph,
        "-map",
        "[v]",
        "-c:v",
        "libx265",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p10le",
        "-x265-params",
        "log-level=error",
        "-y",
        &out,
    ])
    .await;
    let (probe, analysis) = analyze_file(&path).await;
    assert_eq!(probe.video[0].codec, "hevc");
    let scenes = analysis.scenes.unwrap().unwrap();
    let found: Vec<f64> = scenes.transitions.iter().map(|t| t.at_seconds).collect();
    let (_, _, f1) = boundary_f1(&truth.boundaries, &found, 0.081);
    assert!(f1 >= 0.95, "{found:?} vs {:?}", truth.boundaries);
}

#[tokio::test]
async fn corrupt_frames_midway_are_reported_and_the_rest_is_analysed() {
    let dir = tempfile::tempdir().unwrap();
    let path = file(&dir, "corrupt.ts");
    let (graph, _) = Storyboard::cycling(320, 180, 25, 6, 2.0, &[Join::Cut])
        .graph()
        .unwrap();
    let out = path.display().to_string();
    // MPEG-TS: a damaged stretch costs the packets in it, and decoding resumes after it.
    ffmpeg_ok(&[
        "-loglevel",
        "error",
        "-filter_complex",
        &graph,
        "-map",
        "[v]",
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-g",
        "25",
        "-f",
        "mpegts",
        "-y",
        &out,
    ])
    .await;
    let mut bytes = std::fs::read(&path).unwrap();
    let middle = bytes.len() / 2;
    for (i, byte) in bytes[middle..middle + 20_000].iter_mut().enumerate() {
        // Keep the TS sync bytes so the demuxer stays in step; garble the payload.
        if !(middle + i).is_multiple_of(188) {
            *byte = (i as u8).wrapping_mul(31).wrapping_add(7);
        }
    }
    std::fs::write(&path, &bytes).unwrap();
    let (_, analysis) = analyze_file(&path).await;
    assert!(analysis.decode.errors > 0, "{:?}", analysis.decode);
    assert!(!analysis.decode.samples.is_empty());
    let scenes = analysis.scenes.unwrap().unwrap();
    assert!(
        scenes.duration_seconds > 10.0,
        "the intact parts are analysed: {scenes:?}"
    );
    let quality = analysis.quality.unwrap();
    assert!(
        quality.parts.iter().any(|p| p.name == "decoding"),
        "{:?}",
        quality.parts
    );
}

#[tokio::test]
async fn starved_bit_rates_read_as_blocky() {
    let dir = tempfile::tempdir().unwrap();
    let shots = vec![
        (Look::TestPattern { hue: 0 }, 2.0),
        (Look::Mandelbrot { place: 0 }, 2.0),
        (Look::PanningBars, 2.0),
    ];
    let mut measured = Vec::new();
    for (name, bit_rate) in [("starved", Some(60_000)), ("ample", None)] {
        let path = file(&dir, &format!("{name}.mp4"));
        Storyboard {
            bit_rate,
            ..plain(shots.clone(), 640, 360)
        }
        .render(&ffmpeg(), &path)
        .await
        .unwrap();
        let (_, analysis) = analyze_file(&path).await;
        let quality = analysis.quality.unwrap();
        let blockiness = quality.video.as_ref().unwrap().blockiness;
        eprintln!(
            "{name}: blockiness {blockiness:.2}, score {}",
            quality.score
        );
        measured.push(blockiness);
    }
    assert!(measured[0] > 1.4, "{measured:?}");
    assert!(measured[1] < 1.2, "{measured:?}");
}

// ---- soundtrack: speech, tempo, music; moderation ----------------------------------------

/// Mono 16 kHz samples of a file, decoded by ffmpeg.
async fn samples_16k(path: &Path) -> Vec<f32> {
    let input = path.display().to_string();
    let output = ffmpeg()
        .run(
            [
                "-loglevel",
                "error",
                "-i",
                &input,
                "-ac",
                "1",
                "-ar",
                "16000",
                "-f",
                "f32le",
                "-",
            ],
            Duration::from_secs(60),
        )
        .await
        .unwrap();
    output
        .stdout
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

/// Where a recording is audible: its first and last sample above −40 dBFS, in seconds.
async fn audible_extent(path: &Path) -> (f64, f64) {
    let samples = samples_16k(path).await;
    let loud = |s: &&f32| s.abs() > 0.01;
    let first = samples.iter().position(|s| loud(&s)).unwrap();
    let last = samples.len() - samples.iter().rev().position(|s| loud(&s)).unwrap();
    (first as f64 / 16_000.0, last as f64 / 16_000.0)
}

#[tokio::test]
async fn speech_is_located_and_counted_apart_from_music() {
    let dir = tempfile::tempdir().unwrap();
    let mut truth = Vec::new();
    let mut inputs = Vec::new();
    for (i, (text, at)) in [
        (
            "The quick brown fox jumps over the lazy dog near the river bank.",
            1.0,
        ),
        (
            "Music videos are analysed one frame at a time, and every second counts.",
            7.0,
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let wav = file(&dir, &format!("sentence{i}.wav"));
        let status = std::process::Command::new("espeak-ng")
            .args(["-w", &wav.display().to_string(), text])
            .status()
            .expect("espeak-ng (scripts/test.sh installs it)");
        assert!(status.success());
        let (start, end) = audible_extent(&wav).await;
        truth.push(Segment {
            start_seconds: at + start,
            end_seconds: at + end,
        });
        inputs.push((wav, at));
    }
    let path = file(&dir, "speech.mkv");
    let (first, second) = (
        inputs[0].0.display().to_string(),
        inputs[1].0.display().to_string(),
    );
    let graph = format!(
        "[0:a]adelay={d0}:all=1[a];[1:a]adelay={d1}:all=1[b];\
         [a][b]amix=inputs=2:duration=longest:normalize=0,apad=whole_dur=14,aresample=48000[out]",
        d0 = (inputs[0].1 * 1000.0) as u32,
        d1 = (inputs[1].1 * 1000.0) as u32,
    );
    let out = path.display().to_string();
    ffmpeg_ok(&[
        "-loglevel",
        "error",
        "-i",
        &first,
        "-i",
        &second,
        "-filter_complex",
        &graph,
        "-map",
        "[out]",
        "-c:a",
        "flac",
        "-y",
        &out,
    ])
    .await;
    let (_, analysis) = analyze_file(&path).await;
    let audio = analysis.audio.unwrap().unwrap();
    eprintln!("speech {:?} truth {truth:?}", audio.speech_segments);
    // Speech time against true speech time, 10 ms at a time: a pause inside a sentence may
    // split it into two segments.
    let speaking = |segments: &[Segment], t: f64| {
        segments
            .iter()
            .any(|s| t >= s.start_seconds && t < s.end_seconds)
    };
    let (mut both, mut either) = (0u32, 0u32);
    for step in 0..1400 {
        let t = f64::from(step) / 100.0;
        let (found, want) = (speaking(&audio.speech_segments, t), speaking(&truth, t));
        both += u32::from(found && want);
        either += u32::from(found || want);
    }
    let iou = f64::from(both) / f64::from(either);
    assert!(
        iou >= 0.8,
        "speech IoU {iou}: {:?} vs {truth:?}",
        audio.speech_segments
    );
    let true_speech: f64 = truth.iter().map(Segment::duration).sum();
    assert!(
        (audio.speech_seconds - true_speech).abs() < 1.0,
        "{audio:?}"
    );
    assert!(
        audio.music_ratio < 0.1,
        "speech alone is not music: {audio:?}"
    );
    assert!((audio.duration_seconds - 14.0).abs() < 0.1);
    assert_eq!(audio.energy_dbfs.len(), 14);
}

#[tokio::test]
async fn the_tempo_of_a_beat_is_found() {
    let dir = tempfile::tempdir().unwrap();
    for bpm in [90.0f64, 120.0, 150.0] {
        let period = 60.0 / bpm;
        // A held chord with a decaying click on every beat.
        let expr = format!(
            "0.15*sin(2*PI*220*t)+0.1*sin(2*PI*277*t)+0.6*sin(2*PI*1800*t)*exp(-40*mod(t\\,{period}))"
        );
        let path = file(&dir, &format!("beat{bpm}.wav"));
        let out = path.display().to_string();
        ffmpeg_ok(&[
            "-loglevel",
            "error",
            "-f",
            "lavfi",
            "-i",
            &format!("aevalsrc={expr}:s=44100:d=20"),
            "-c:a",
            "pcm_s16le",
            "-y",
            &out,
        ])
        .await;
        let (_, analysis) = analyze_file(&path).await;
        let audio = analysis.audio.unwrap().unwrap();
        let found = audio.tempo_bpm.expect("a tempo");
        eprintln!(
            "{bpm} BPM: found {found:.2} (confidence {:.2})",
            audio.tempo_confidence
        );
        assert!((found - bpm).abs() / bpm < 0.02, "{bpm}: {found}");
        assert!(audio.music_ratio > 0.9, "{audio:?}");
        assert!(audio.speech_ratio < 0.1, "{audio:?}");
    }
}

#[tokio::test]
async fn ordinary_pictures_are_safe_with_every_shot_screened() {
    let dir = tempfile::tempdir().unwrap();
    let path = file(&dir, "safe.mp4");
    Storyboard::cycling(640, 360, 25, 5, 2.0, &[Join::Cut])
        .render(&ffmpeg(), &path)
        .await
        .unwrap();
    let (_, analysis) = analyze_file(&path).await;
    let scenes = analysis.scenes.unwrap().unwrap();
    let moderation = analysis.moderation.unwrap().unwrap();
    assert_eq!(
        moderation.verdict,
        mvidarr_core::analysis::ModerationVerdict::Safe
    );
    assert_eq!(moderation.shots.len(), scenes.shots.len());
    // Each new picture is looked at, but not every sampled frame.
    assert!(
        moderation.frames_checked as usize >= scenes.shots.len(),
        "{moderation:?}"
    );
    assert!(moderation.frames_checked < 20, "{moderation:?}");
    assert!(
        moderation.evidence.iter().all(|e| e.explicit < 0.3),
        "{moderation:?}"
    );
    assert!(
        moderation.model.to_lowercase().contains("nudenet"),
        "{}",
        moderation.model
    );
}

#[tokio::test]
async fn thumbnails_are_sharp_lit_distinct_and_clear_of_transitions() {
    let dir = tempfile::tempdir().unwrap();
    let path = file(&dir, "thumbs.mp4");
    let board = Storyboard {
        joins: vec![
            Join::Cut,
            Join::Cut,
            Join::FadeThroughBlack(1.0),
            Join::Dissolve(0.8),
            Join::Cut,
        ],
        ..plain(
            vec![
                (Look::TestPattern { hue: 0 }, 2.5),
                (Look::Black, 1.5),
                (Look::Mandelbrot { place: 0 }, 2.5),
                (Look::CellAuto { rule: 30 }, 2.5),
                (Look::PanningBars, 2.5),
                (Look::Gradients { seed: 4 }, 2.5),
            ],
            640,
            360,
        )
    };
    board.render(&ffmpeg(), &path).await.unwrap();
    let (_, analysis) = analyze_file(&path).await;
    let scenes = analysis.scenes.unwrap().unwrap();
    let chosen = analysis.thumbnails.unwrap().unwrap();
    assert!(chosen.len() >= 3, "{} chosen", chosen.len());
    for (i, thumb) in chosen.iter().enumerate() {
        for t in &scenes.transitions {
            let clear = match t.kind {
                TransitionKind::Cut => (thumb.seconds - t.at_seconds).abs() >= 0.25,
                _ => thumb.seconds < t.span.start_seconds || thumb.seconds > t.span.end_seconds,
            };
            assert!(clear, "thumbnail at {} vs {t:?}", thumb.seconds);
        }
        assert!(
            !(2.5..4.0).contains(&thumb.seconds),
            "inside the black shot: {}",
            thumb.seconds
        );
        // The largest size, decoded: lit and sharp.
        let (width, height, jpeg) = &thumb.jpegs[0];
        assert_eq!((*width, *height), (640, 360));
        let picture = image::load_from_memory(jpeg).unwrap().to_rgb8();
        let grey = mvidarr_media::picture::Grey::from_rgb(&picture).reduced_to(360);
        assert!(grey.mean() > 30.0, "dark thumbnail at {}", thumb.seconds);
        assert!(
            grey.sharpness() > 100.0,
            "blurred thumbnail at {}",
            thumb.seconds
        );
        for other in &chosen[..i] {
            assert!(
                (thumb.hash ^ other.hash).count_ones() > 10,
                "near-duplicates"
            );
        }
        let widths: Vec<u32> = thumb.jpegs.iter().map(|j| j.0).collect();
        assert_eq!(widths, [640, 320, 160]);
    }
    // Best first.
    assert!(chosen.windows(2).all(|w| w[0].score >= w[1].score));
}

/// Character accuracy: 1 − edit distance / length of the truth.
fn character_accuracy(truth: &str, read: &str) -> f64 {
    1.0 - strsim::levenshtein(truth, read) as f64 / truth.chars().count().max(1) as f64
}

#[tokio::test]
async fn on_screen_text_is_read_with_its_time_range() {
    let dir = tempfile::tempdir().unwrap();
    let path = file(&dir, "captions.mp4");
    // (text, from, to, y): captions over moving pictures, two at once for a while.
    let captions = [
        ("LIVE AT THE ROYAL HALL", 1.0, 4.0, 40),
        ("Directed by Ana Lima", 5.0, 8.0, 290),
        ("Track 3 - Night Drive 2026", 6.0, 11.0, 40),
    ];
    let board = Storyboard::cycling(640, 360, 25, 4, 3.0, &[Join::Cut]).with_captions(&captions);
    board.render(&ffmpeg(), &path).await.unwrap();
    let (_, analysis) = analyze_file(&path).await;
    let text = analysis.text.unwrap().unwrap();
    for line in &text.lines {
        eprintln!(
            "{:?} {:.1}–{:.1} ({:.2})",
            line.text, line.start_seconds, line.end_seconds, line.confidence
        );
    }
    eprintln!(
        "{} frames detected, {} regions read",
        text.frames_detected, text.regions_read
    );
    let (mut total, mut correct) = (0.0, 0.0);
    for (truth, from, to, _) in captions {
        let best = text
            .lines
            .iter()
            .max_by(|a, b| {
                character_accuracy(truth, &a.text).total_cmp(&character_accuracy(truth, &b.text))
            })
            .expect("some text");
        let accuracy = character_accuracy(truth, &best.text);
        total += truth.chars().count() as f64;
        correct += accuracy * truth.chars().count() as f64;
        // Read once a second: the range is right to about a second.
        assert!(
            (best.start_seconds - from).abs() <= 1.0,
            "{truth}: {best:?}"
        );
        assert!((best.end_seconds - to).abs() <= 1.5, "{truth}: {best:?}");
    }
    let accuracy = correct / total;
    eprintln!("character accuracy {accuracy:.3}");
    assert!(accuracy >= 0.95, "character accuracy {accuracy}");
    assert!(text.regions_read <= text.regions_detected);
}

#[tokio::test]
async fn a_caption_that_does_not_change_is_read_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = file(&dir, "still-caption.mp4");
    let board = Storyboard {
        finish: Some(
            "drawtext=text='Hello from MVidarr':fontcolor=white:fontsize=40:x=60:y=150".into(),
        ),
        ..plain(vec![(Look::Still { hue: 30 }, 12.0)], 640, 360)
    };
    board.render(&ffmpeg(), &path).await.unwrap();
    let (_, analysis) = analyze_file(&path).await;
    let text = analysis.text.unwrap().unwrap();
    let caption = text
        .lines
        .iter()
        .find(|l| character_accuracy("Hello from MVidarr", &l.text) >= 0.9)
        .unwrap_or_else(|| panic!("{text:?}"));
    assert!(
        caption.start_seconds < 0.5 && caption.end_seconds > 11.0,
        "{caption:?}"
    );
    // The picture never changes: detection runs at the start and again after 10 s, and at
    // the second the unchanged regions are not read again.
    assert_eq!(text.frames_detected, 2, "{text:?}");
    let first_detection = text.regions_detected / 2;
    assert!(text.regions_read <= first_detection + 1, "{text:?}");
}

/// Ground truth must not drift between runs: every look draws the same frames every time
/// (ffmpeg's `gradients` picks its points and colours at random unless told them).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_look_draws_the_same_frames_every_time() {
    let looks = [
        Look::TestPattern { hue: 150 },
        Look::Mandelbrot { place: 1 },
        Look::Gradients { seed: 1 },
        Look::Gradients { seed: 9 },
        Look::CellAuto { rule: 30 },
        Look::PanningBars,
        Look::Black,
        Look::Still { hue: 40 },
    ];
    let board = plain(looks.iter().map(|look| (*look, 0.4)).collect(), 96, 54);
    let (graph, _) = board.graph().expect("graph");
    let args = [
        "-v",
        "error",
        "-filter_complex",
        &graph,
        "-map",
        "[v]",
        "-f",
        "md5",
        "-",
    ];
    let digest = || async {
        let output = ffmpeg()
            .run(&args, Duration::from_secs(60))
            .await
            .expect("ffmpeg runs");
        assert!(output.status.success(), "{}", output.stderr);
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let first = digest().await;
    assert!(first.starts_with("MD5="), "{first}");
    assert_eq!(digest().await, first);
}
