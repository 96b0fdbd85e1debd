//! NudeNet on ordinary frames rendered by ffmpeg: test patterns, colour bars, drawn text,
//! gradients and noise give no explicit detection. (We have no explicit images here: the
//! model's true positives are its publisher's, untested by us.)

mod media_support;

use image::RgbImage;
use media_support::lavfi_frame;
use mvidarr_ml::nsfw::{NsfwFrame, NudeNet};

fn frames() -> Vec<(&'static str, RgbImage)> {
    let text = "drawtext=text='MVidarr Cloud 2026':fontsize=72:fontcolor=white:x=(w-text_w)/2:y=(h-text_h)/2";
    vec![
        (
            "testsrc2",
            lavfi_frame("testsrc2=size=1280x720:rate=25", 1280, 720),
        ),
        ("smptebars", lavfi_frame("smptebars=size=640x480", 640, 480)),
        (
            "smptehdbars",
            lavfi_frame("smptehdbars=size=1920x1080", 960, 540),
        ),
        (
            "drawtext",
            lavfi_frame(&format!("color=c=navy:size=1280x720,{text}"), 1280, 720),
        ),
        (
            "gradients",
            lavfi_frame("gradients=size=640x360:seed=5", 640, 360),
        ),
        (
            "mandelbrot",
            lavfi_frame("mandelbrot=size=640x480", 640, 480),
        ),
        (
            "cellauto",
            lavfi_frame("cellauto=size=480x640:seed=1", 480, 640),
        ),
        ("black", lavfi_frame("color=c=black:size=320x240", 320, 240)),
        // A portrait strip and a thumbnail: the letterbox handles any shape.
        ("tall", lavfi_frame("testsrc2=size=180x1280", 180, 1280)),
        ("tiny", lavfi_frame("testsrc2=size=64x36", 64, 36)),
    ]
}

fn describe(frame: &NsfwFrame) -> String {
    let detections: Vec<String> = frame
        .detections
        .iter()
        .map(|d| format!("{} {:.2}", d.class, d.score))
        .collect();
    format!(
        "explicit {:.3}, peak {:.3}, detections [{}]",
        frame.explicit,
        frame.explicit_peak,
        detections.join(", ")
    )
}

#[test]
fn ordinary_frames_have_no_explicit_detection() {
    let mut detector = NudeNet::new().unwrap();
    for (name, frame) in frames() {
        let result = detector.detect(&frame).unwrap();
        println!("{name}: {}", describe(&result));
        assert_eq!(
            result.explicit_detections().count(),
            0,
            "{name}: {}",
            describe(&result)
        );
        assert_eq!(result.explicit, 0.0, "{name}");
        assert!(
            result.explicit_peak < 0.2,
            "{name}: no anchor should come near a detection: {}",
            describe(&result)
        );
        let (w, h) = frame.dimensions();
        for d in &result.detections {
            let b = d.bbox;
            assert!(
                b.x >= 0.0 && b.y >= 0.0 && b.x + b.width <= w as f32 && b.y + b.height <= h as f32,
                "{name}: box outside the frame: {d:?}"
            );
        }
    }
}

#[test]
fn the_same_frame_gives_the_same_result() {
    let mut detector = NudeNet::new().unwrap();
    let frame = lavfi_frame("testsrc2=size=640x360", 640, 360);
    let first = detector.detect(&frame).unwrap();
    let second = detector.detect(&frame).unwrap();
    assert_eq!(first, second);
}
