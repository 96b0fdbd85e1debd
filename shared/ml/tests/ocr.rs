//! OCR against ground truth: frames drawn by the pinned ffmpeg (`drawtext` with known strings on
//! plain and busy backgrounds), read back by the PP-OCRv4 models.
//!
//! Every string is also drawn alone, white on black, to find where its glyphs really are; a
//! recognized line belongs to a string when its box covers most of those pixels. Character
//! accuracy is 1 − (Levenshtein distance / length), summed over the strings of a case.

mod media_support;

use std::io::{Read, Write};
use std::ops::Range;
use std::process::{Command, Stdio};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use image::RgbImage;
use mvidarr_ml::ocr::{Ocr, OcrOptions, Quad, RegionSignature, SideLimit, TextLine};

/// One engine for the whole test binary: sessions are built once per process, as in production.
fn ocr() -> MutexGuard<'static, Ocr> {
    static OCR: OnceLock<Mutex<Ocr>> = OnceLock::new();
    OCR.get_or_init(|| Mutex::new(Ocr::new().expect("OCR models load")))
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[derive(Clone, Copy)]
struct Drawn {
    text: &'static str,
    size: u32,
    color: &'static str,
    x: u32,
    y: u32,
    /// Extra drawtext options (outline, box).
    style: &'static str,
}

const fn drawn(text: &'static str, size: u32, color: &'static str, x: u32, y: u32) -> Drawn {
    Drawn {
        text,
        size,
        color,
        x,
        y,
        style: "",
    }
}

/// One frame of `source` (a lavfi source with its size, e.g. `color=c=navy:s=1280x720`) with
/// `texts` drawn on it, read as RGB over a pipe. Text goes through files, so any punctuation
/// is drawn verbatim without filter-graph escaping.
fn render(source: &str, width: u32, height: u32, texts: &[Drawn], post: &str) -> RgbImage {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut filters = Vec::new();
    for (i, t) in texts.iter().enumerate() {
        let path = dir.path().join(format!("text{i}.txt"));
        std::fs::File::create(&path)
            .and_then(|mut f| f.write_all(t.text.as_bytes()))
            .expect("text file");
        filters.push(format!(
            "drawtext=textfile={}:expansion=none:fontsize={}:fontcolor={}:x={}:y={}{}",
            path.display(),
            t.size,
            t.color,
            t.x,
            t.y,
            t.style
        ));
    }
    if !post.is_empty() {
        filters.push(post.to_owned());
    }
    if filters.is_empty() {
        filters.push("null".to_owned());
    }
    let mut child = Command::new(media_support::ffmpeg())
        .args(["-v", "error", "-f", "lavfi", "-i", source, "-vf"])
        .arg(filters.join(","))
        .args(["-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("ffmpeg starts");
    let mut raw = Vec::new();
    child
        .stdout
        .take()
        .expect("stdout")
        .read_to_end(&mut raw)
        .expect("frame bytes");
    assert!(
        child.wait().expect("ffmpeg exits").success(),
        "ffmpeg failed"
    );
    RgbImage::from_raw(width, height, raw).expect("one whole frame")
}

/// Where `t`'s glyphs are: the bounds of the lit pixels when it is drawn alone, white on black.
fn glyph_bounds(t: &Drawn, width: u32, height: u32) -> [f32; 4] {
    glyph_bounds_in(t, width, height, 0..height)
}

/// [`glyph_bounds`] of the glyph pixels within `rows`.
fn glyph_bounds_in(t: &Drawn, width: u32, height: u32, rows: Range<u32>) -> [f32; 4] {
    let alone = Drawn {
        color: "white",
        style: "",
        ..*t
    };
    let mask = render(
        &format!("color=c=black:s={width}x{height}"),
        width,
        height,
        &[alone],
        "",
    );
    let (mut x0, mut y0, mut x1, mut y1) = (u32::MAX, u32::MAX, 0, 0);
    for (x, y, p) in mask.enumerate_pixels() {
        if p[0] > 96 && rows.contains(&y) {
            x0 = x0.min(x);
            y0 = y0.min(y);
            x1 = x1.max(x + 1);
            y1 = y1.max(y + 1);
        }
    }
    assert!(x0 < x1, "{:?} drew nothing", t.text);
    [x0 as f32, y0 as f32, x1 as f32, y1 as f32]
}

fn area([x0, y0, x1, y1]: [f32; 4]) -> f32 {
    (x1 - x0).max(0.0) * (y1 - y0).max(0.0)
}

fn intersection(a: [f32; 4], b: [f32; 4]) -> f32 {
    area([
        a[0].max(b[0]),
        a[1].max(b[1]),
        a[2].min(b[2]),
        a[3].min(b[3]),
    ])
}

fn levenshtein(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = diagonal + usize::from(ca != cb);
            diagonal = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(row[j + 1] + 1);
        }
    }
    row[b.len()]
}

/// Errors and characters over the strings of one frame, after checking that each string was
/// found where it was drawn.
struct Score {
    errors: usize,
    chars: usize,
}

impl Score {
    fn accuracy(&self) -> f64 {
        1.0 - self.errors as f64 / self.chars as f64
    }
}

/// Matches the recognized `lines` to the drawn strings (one drawtext may hold several lines,
/// separated by `\n`), prints each pair and returns the character errors.
fn score(case: &str, lines: &[TextLine], expected: &[(&str, [f32; 4])]) -> Score {
    let mut total = Score {
        errors: 0,
        chars: 0,
    };
    for &(text, glyphs) in expected {
        // Lines whose box covers most of this string's glyphs, left to right.
        let mut mine: Vec<&TextLine> = lines
            .iter()
            .filter(|l| intersection(l.quad.bounds(), glyphs) >= 0.5 * area(glyphs))
            .collect();
        mine.sort_by(|a, b| a.quad.bounds()[0].total_cmp(&b.quad.bounds()[0]));
        let read: Vec<&str> = mine.iter().map(|l| l.text.as_str()).collect();
        let read = read.join(" ");
        let errors = levenshtein(text, &read);
        println!("[{case}] {text:?} → {read:?} ({errors} errors)");
        assert!(
            !mine.is_empty(),
            "[{case}] no line found over {text:?} at {glyphs:?}"
        );
        // The boxes together cover the glyphs and are not much larger than them.
        let covered: f32 = mine
            .iter()
            .map(|l| intersection(l.quad.bounds(), glyphs))
            .sum();
        let boxes: f32 = mine.iter().map(|l| area(l.quad.bounds())).sum();
        assert!(
            covered >= 0.9 * area(glyphs),
            "[{case}] {text:?}: boxes cover {:.0}% of the glyphs",
            100.0 * covered / area(glyphs)
        );
        assert!(
            boxes <= 3.0 * area(glyphs),
            "[{case}] {text:?}: boxes are {:.1}× the glyphs' area",
            boxes / area(glyphs)
        );
        total.errors += errors;
        total.chars += text.chars().count();
    }
    println!(
        "[{case}] character accuracy {:.2}% ({} errors / {} characters)",
        100.0 * total.accuracy(),
        total.errors,
        total.chars
    );
    total
}

/// One frame's worth of drawn strings over a lavfi source.
struct Case {
    name: &'static str,
    source: &'static str,
    width: u32,
    height: u32,
    texts: Vec<Drawn>,
}

impl Case {
    /// Renders the strings, reads the frame with `ocr` and scores it.
    fn read_with(&self, ocr: &mut Ocr) -> Score {
        let frame = render(self.source, self.width, self.height, &self.texts, "");
        let lines = ocr.read(&frame).expect("OCR runs");
        let expected: Vec<(&str, [f32; 4])> = self
            .texts
            .iter()
            .map(|t| (t.text, glyph_bounds(t, self.width, self.height)))
            .collect();
        score(self.name, &lines, &expected)
    }
}

fn plain_720p() -> Case {
    Case {
        name: "plain 720p",
        source: "color=c=navy:s=1280x720",
        width: 1280,
        height: 720,
        texts: vec![
            drawn("Hello World 42", 40, "white", 100, 100),
            drawn("the quick brown fox jumps over", 30, "yellow", 520, 260),
            drawn("SALE ENDS 31/12/2025!", 56, "orange", 160, 440),
            drawn(
                "(c) ACME Corp. - all rights reserved",
                24,
                "0xC0C0C0",
                700,
                650,
            ),
        ],
    }
}

/// testsrc2: colour bars, gradients and moving shapes behind the text (and its own clock,
/// which is read too but not scored).
fn busy_720p() -> Case {
    let outlined = ":borderw=3:bordercolor=black";
    Case {
        name: "busy 720p",
        source: "testsrc2=s=1280x720:r=25",
        width: 1280,
        height: 720,
        texts: vec![
            Drawn {
                style: outlined,
                ..drawn("Where are you going, Sam?", 44, "white", 260, 560)
            },
            Drawn {
                style: ":box=1:boxcolor=black@0.6:boxborderw=8",
                ..drawn("CH 7 NEWS (LIVE)", 36, "white", 40, 40)
            },
            Drawn {
                style: outlined,
                ..drawn("Score: 3 - 1", 48, "yellow", 900, 300)
            },
        ],
    }
}

fn plain_1080p() -> Case {
    Case {
        name: "plain 1080p",
        source: "color=c=0x202020:s=1920x1080",
        width: 1920,
        height: 1080,
        texts: vec![
            drawn("Price $19.99 - 50% off today", 64, "white", 120, 140),
            drawn("contact: user@example.com", 36, "cyan", 980, 520),
            drawn("lowercase letters only here", 42, "0x90EE90", 200, 820),
            drawn("UPPER CASE 0123456789", 52, "white", 1100, 960),
        ],
    }
}

fn busy_1080p() -> Case {
    Case {
        name: "busy 1080p",
        source: "testsrc2=s=1920x1080:r=25",
        width: 1920,
        height: 1080,
        texts: vec![
            Drawn {
                style: ":borderw=3:bordercolor=black",
                ..drawn("Final lap: 1:23.456", 60, "white", 300, 880)
            },
            Drawn {
                style: ":box=1:boxcolor=white@0.8:boxborderw=10",
                ..drawn("Weather #1 in town", 40, "black", 1300, 80)
            },
        ],
    }
}

const MIN_ACCURACY: f64 = 0.95;

#[test]
fn strings_on_a_plain_720p_frame_are_read() {
    assert!(plain_720p().read_with(&mut ocr()).accuracy() >= MIN_ACCURACY);
}

#[test]
fn subtitles_over_a_busy_720p_frame_are_read() {
    assert!(busy_720p().read_with(&mut ocr()).accuracy() >= MIN_ACCURACY);
}

#[test]
fn strings_on_a_1080p_frame_are_read() {
    assert!(plain_1080p().read_with(&mut ocr()).accuracy() >= MIN_ACCURACY);
}

#[test]
fn text_over_a_busy_1080p_frame_is_read() {
    assert!(busy_1080p().read_with(&mut ocr()).accuracy() >= MIN_ACCURACY);
}

/// PaddleOCR's own default detection size (longer side at most 960) costs about half of
/// RapidOCR's (shorter side at least 736) on 720p and a quarter on 1080p; it reads these too.
#[test]
fn a_960_px_detection_input_reads_the_same_strings() {
    let mut ocr = Ocr::with_options(OcrOptions {
        det_side: SideLimit::Max(960),
        ..OcrOptions::default()
    })
    .expect("OCR models load");
    let (mut errors, mut chars) = (0, 0);
    for case in [plain_720p(), busy_720p(), plain_1080p(), busy_1080p()] {
        let score = Case {
            name: "960",
            ..case
        }
        .read_with(&mut ocr);
        errors += score.errors;
        chars += score.chars;
    }
    let accuracy = 1.0 - errors as f64 / chars as f64;
    println!(
        "[960] character accuracy over all cases {:.2}%",
        100.0 * accuracy
    );
    assert!(accuracy >= MIN_ACCURACY);
}

#[test]
fn two_lines_of_one_caption_come_out_as_two_lines() {
    let caption = drawn(
        "First line of the caption\nsecond line, 2024 edition",
        40,
        "white",
        200,
        400,
    );
    let frame = render("color=c=0x333366:s=1280x720", 1280, 720, &[caption], "");
    let lines = ocr().read(&frame).expect("OCR runs");
    // Each line's glyphs: the first line drawn alone, and the caption's glyphs below it.
    let first = glyph_bounds(
        &Drawn {
            text: "First line of the caption",
            ..caption
        },
        1280,
        720,
    );
    let second = glyph_bounds_in(&caption, 1280, 720, first[3] as u32 + 1..720);
    let score = score(
        "two lines",
        &lines,
        &[
            ("First line of the caption", first),
            ("second line, 2024 edition", second),
        ],
    );
    assert_eq!(lines.len(), 2, "{lines:?}");
    let centre_y = |l: &TextLine| (l.quad.bounds()[1] + l.quad.bounds()[3]) / 2.0;
    assert!(
        centre_y(&lines[0]) < centre_y(&lines[1]),
        "reading order: {lines:?}"
    );
    assert!(score.accuracy() >= MIN_ACCURACY);
}

#[test]
fn frames_without_text_give_no_lines() {
    for source in [
        "color=c=navy:s=1280x720",
        "color=c=white:s=1920x1080",
        "gradients=s=1280x720:seed=7",
    ] {
        let (w, h) = if source.contains("1920") {
            (1920, 1080)
        } else {
            (1280, 720)
        };
        let frame = render(source, w, h, &[], "");
        let lines = ocr().read(&frame).expect("OCR runs");
        assert!(lines.is_empty(), "{source}: {lines:?}");
    }
}

#[test]
fn recognize_answers_for_exactly_the_boxes_given() {
    let texts = [
        drawn("ALPHA 1", 48, "white", 100, 100),
        drawn("beta two", 48, "white", 100, 400),
    ];
    let frame = render("color=c=black:s=1280x720", 1280, 720, &texts, "");
    let mut ocr = ocr();
    let boxes = ocr.detect(&frame).expect("detection runs");
    assert_eq!(boxes.len(), 2, "{boxes:?}");
    assert!(boxes.iter().all(|b| b.score > 0.5));
    let second = ocr
        .recognize(&frame, &boxes[1..])
        .expect("recognition runs");
    assert_eq!(second.len(), 1);
    assert_eq!(second[0].text, "beta two");
    assert_eq!(second[0].quad, boxes[1].quad);
    assert!(ocr.recognize(&frame, &[]).expect("no boxes").is_empty());
}

#[test]
fn batched_recognition_reads_what_single_runs_read() {
    // Crops of different widths in one batch, the narrow ones padded to the widest (RapidOCR's
    // rec_batch_num 6) against one run per crop (the default).
    let texts = [
        drawn("OK", 40, "white", 100, 80),
        drawn("Chapter 12", 40, "white", 100, 200),
        drawn(
            "a considerably longer line of text, 2025",
            40,
            "white",
            100,
            320,
        ),
    ];
    let frame = render("color=c=black:s=1280x720", 1280, 720, &texts, "");
    let boxes = ocr().detect(&frame).expect("detection runs");
    assert_eq!(boxes.len(), 3, "{boxes:?}");
    let single = ocr().recognize(&frame, &boxes).expect("recognition runs");
    let mut batched = Ocr::with_options(OcrOptions {
        rec_batch: 6,
        ..OcrOptions::default()
    })
    .expect("OCR models load");
    let together = batched.recognize(&frame, &boxes).expect("recognition runs");
    let texts_of = |lines: &[TextLine]| lines.iter().map(|l| l.text.clone()).collect::<Vec<_>>();
    assert_eq!(texts_of(&together), texts_of(&single));
    assert_eq!(
        texts_of(&single),
        [
            "OK",
            "Chapter 12",
            "a considerably longer line of text, 2025"
        ]
    );
    for (a, b) in together.iter().zip(&single) {
        assert!((a.confidence - b.confidence).abs() < 0.05, "{a:?} vs {b:?}");
    }
}

#[test]
fn region_signature_tells_changed_text_from_noise() {
    let background = "color=c=0x103050:s=1280x720";
    let score = |text| [drawn(text, 48, "white", 200, 200)];
    let a = render(background, 1280, 720, &score("Score 41"), "");
    let a_noisy = render(
        background,
        1280,
        720,
        &score("Score 41"),
        "noise=alls=12:allf=t",
    );
    let b = render(background, 1280, 720, &score("Score 47"), "");
    let mut ocr = ocr();
    let mut box_of = |frame: &RgbImage| -> Quad {
        let boxes = ocr.detect(frame).expect("detection runs");
        assert_eq!(boxes.len(), 1, "{boxes:?}");
        boxes[0].quad
    };
    let (qa, qn, qb) = (box_of(&a), box_of(&a_noisy), box_of(&b));
    let signature = RegionSignature::of(&a, &qa);
    assert!(signature.covers(&qn) && signature.covers(&qb));
    assert!(signature.unchanged_in(&a_noisy));
    assert!(!signature.unchanged_in(&b));
}

fn percentile_ms(sorted: &[Duration], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize].as_secs_f64() * 1e3
}

/// Prints, does not assert: this build is unoptimised and the machine is shared. The release
/// figures per model come from `cargo run --release --example ocr_latency`.
#[test]
fn read_latency_on_a_720p_frame() {
    let texts = [
        drawn("Breaking News: 42 ships sighted", 44, "white", 80, 520),
        drawn("Live from Rotterdam, 09:15", 32, "white", 80, 590),
    ];
    let frame = render("color=c=navy:s=1280x720", 1280, 720, &texts, "");
    let mut ocr = ocr();
    let mut times = Vec::new();
    let mut lines = Vec::new();
    for _ in 0..20 {
        let started = Instant::now();
        lines = ocr.read(&frame).expect("OCR runs");
        times.push(started.elapsed());
    }
    times.sort();
    println!(
        "read on 720p, {} lines: p50 {:.1} ms, p99 {:.1} ms (debug build)",
        lines.len(),
        percentile_ms(&times, 0.5),
        percentile_ms(&times, 0.99)
    );
    assert_eq!(lines.len(), 2, "{lines:?}");
}
