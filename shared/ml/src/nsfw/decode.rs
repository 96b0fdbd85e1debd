//! The NudeNet package's `_postprocess` (3.4.2): YOLOv8 output `[1, 4 + 18, anchors]` (box
//! centre, size in input pixels, then one score per class) into detections in image pixels.
//!
//! Per anchor: the best class (first on ties, as `np.argmax`) if its score is at least 0.2;
//! its box made top-left based, scaled by `side / 320` (the padded square's side), clipped the
//! way the package clips (the corner into the image, then the size to what is left). Then
//! OpenCV's `NMSBoxes` over all classes together: candidates scoring above 0.25, best first
//! (stable order), each kept unless its IoU with a kept box exceeds 0.45.

use super::{CLASSES, Detection, PixelBox};

/// The package's per-anchor minimum (`max_score >= 0.2`).
pub const MIN_ANCHOR_SCORE: f32 = 0.2;
/// `NMSBoxes`' score threshold (a candidate must score above it).
pub const SCORE_THRESHOLD: f32 = 0.25;
/// `NMSBoxes`' overlap threshold (a candidate overlapping a kept box by more is dropped).
pub const NMS_IOU: f32 = 0.45;

/// What one model output says about a frame.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Decoded {
    pub detections: Vec<Detection>,
    /// The highest explicit-class score over every anchor, before any threshold.
    pub explicit_peak: f32,
}

/// Decodes `output` (`[1, 22, anchors]`, row-major) for an image of `width × height` pixels
/// letterboxed into a `side`-pixel square and resized to `input_size`.
pub(crate) fn decode(
    output: &[f32],
    width: u32,
    height: u32,
    side: u32,
    input_size: u32,
) -> Decoded {
    let rows = 4 + CLASSES.len();
    let anchors = output.len() / rows;
    let at = |row: usize, anchor: usize| output[row * anchors + anchor];
    let factor = side as f32 / input_size as f32;
    let (w_img, h_img) = (width as f32, height as f32);

    let mut explicit_peak = 0.0f32;
    let mut candidates = Vec::new();
    for a in 0..anchors {
        let mut best = (0usize, f32::NEG_INFINITY);
        for (c, class) in CLASSES.iter().enumerate() {
            let score = at(4 + c, a);
            if score > best.1 {
                best = (c, score);
            }
            if class.is_explicit() {
                explicit_peak = explicit_peak.max(score);
            }
        }
        if best.1 < MIN_ANCHOR_SCORE {
            continue;
        }
        let (cx, cy, w, h) = (at(0, a), at(1, a), at(2, a), at(3, a));
        let x = ((cx - w / 2.0) * factor).clamp(0.0, w_img);
        let y = ((cy - h / 2.0) * factor).clamp(0.0, h_img);
        let w = (w * factor).min(w_img - x);
        let h = (h * factor).min(h_img - y);
        candidates.push(Detection {
            class: CLASSES[best.0],
            score: best.1,
            bbox: PixelBox {
                x,
                y,
                width: w,
                height: h,
            },
        });
    }
    Decoded {
        detections: nms(candidates),
        explicit_peak,
    }
}

/// OpenCV's `NMSBoxes` (`eta` 1, no `top_k`) on `Rect2d` boxes.
fn nms(mut candidates: Vec<Detection>) -> Vec<Detection> {
    candidates.retain(|d| d.score > SCORE_THRESHOLD);
    // Stable: equal scores keep their anchor order, as std::stable_sort does there.
    candidates.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut kept: Vec<Detection> = Vec::new();
    for candidate in candidates {
        if kept
            .iter()
            .all(|k| overlap(&candidate.bbox, &k.bbox) <= NMS_IOU)
        {
            kept.push(candidate);
        }
    }
    kept
}

/// OpenCV's `rectOverlap` for `Rect2d`: intersection over union, and 1 when both are empty.
fn overlap(a: &PixelBox, b: &PixelBox) -> f32 {
    let (aa, ab) = (
        f64::from(a.width) * f64::from(a.height),
        f64::from(b.width) * f64::from(b.height),
    );
    if aa + ab <= f64::EPSILON {
        return 1.0;
    }
    let x1 = f64::from(a.x.max(b.x));
    let y1 = f64::from(a.y.max(b.y));
    let x2 = f64::from((a.x + a.width).min(b.x + b.width));
    let y2 = f64::from((a.y + a.height).min(b.y + b.height));
    let inter = if x2 > x1 && y2 > y1 {
        (x2 - x1) * (y2 - y1)
    } else {
        0.0
    };
    (inter / (aa + ab - inter)) as f32
}

#[cfg(test)]
mod tests {
    use super::super::NudeClass;
    use super::*;

    /// One anchor: centre x, centre y, width, height (input pixels) and class scores.
    type Anchor<'a> = (f32, f32, f32, f32, &'a [(NudeClass, f32)]);

    /// An output tensor `[1, 22, anchors]` from the anchors.
    fn output(anchors: &[Anchor<'_>]) -> Vec<f32> {
        let n = anchors.len();
        let mut out = vec![0.0; 22 * n];
        for (a, (cx, cy, w, h, scores)) in anchors.iter().enumerate() {
            out[a] = *cx;
            out[n + a] = *cy;
            out[2 * n + a] = *w;
            out[3 * n + a] = *h;
            for (class, score) in scores.iter() {
                let c = CLASSES.iter().position(|k| k == class).unwrap();
                out[(4 + c) * n + a] = *score;
            }
        }
        out
    }

    #[test]
    fn boxes_are_scaled_back_to_image_pixels_and_overlaps_suppressed() {
        use NudeClass::*;
        let out = output(&[
            // A face at input (140..180, 140..180); an explicit class scores high there too
            // without being the anchor's best: it counts for the peak, not as a detection.
            (
                160.0,
                160.0,
                40.0,
                40.0,
                &[(FaceFemale, 0.9), (FemaleBreastExposed, 0.75)],
            ),
            // The same face a little lower, scored lower: IoU 0.9, suppressed.
            (160.0, 164.0, 40.0, 40.0, &[(FaceFemale, 0.8)]),
            // Elsewhere, another class.
            (60.0, 40.0, 20.0, 30.0, &[(ButtocksExposed, 0.7)]),
            // Above the anchor minimum, not above the NMS score threshold: dropped.
            (250.0, 60.0, 20.0, 20.0, &[(FeetExposed, 0.22)]),
            // Reaching past the image's bottom-right (the image is 180 input rows tall).
            (300.0, 170.0, 40.0, 40.0, &[(ArmpitsExposed, 0.5)]),
            // Nothing reaches 0.2: no candidate.
            (10.0, 10.0, 5.0, 5.0, &[(FemaleGenitaliaExposed, 0.15)]),
        ]);
        // A 640×360 frame: padded to 640, factor 2.
        let decoded = decode(&out, 640, 360, 640, 320);
        let got: Vec<_> = decoded
            .detections
            .iter()
            .map(|d| (d.class, d.score, d.bbox))
            .collect();
        let b = |x, y, width, height| PixelBox {
            x,
            y,
            width,
            height,
        };
        assert_eq!(
            got,
            vec![
                (NudeClass::FaceFemale, 0.9, b(280.0, 280.0, 80.0, 80.0)),
                (NudeClass::ButtocksExposed, 0.7, b(100.0, 50.0, 40.0, 60.0)),
                (NudeClass::ArmpitsExposed, 0.5, b(560.0, 300.0, 80.0, 60.0)),
            ]
        );
        assert_eq!(decoded.explicit_peak, 0.75);
    }

    #[test]
    fn a_box_left_of_the_image_keeps_its_size_as_the_package_does() {
        // x = −10 clips to 0 while the width stays 40 (the package's clipping, kept as is).
        let out = output(&[(10.0, 50.0, 40.0, 20.0, &[(NudeClass::FaceMale, 0.6)])]);
        let decoded = decode(&out, 320, 320, 320, 320);
        assert_eq!(
            decoded.detections[0].bbox,
            PixelBox {
                x: 0.0,
                y: 40.0,
                width: 40.0,
                height: 20.0
            }
        );
    }

    #[test]
    fn equal_scores_keep_anchor_order_and_disjoint_boxes_all_survive() {
        use NudeClass::*;
        let out = output(&[
            (50.0, 50.0, 10.0, 10.0, &[(FeetCovered, 0.5)]),
            (150.0, 50.0, 10.0, 10.0, &[(FeetExposed, 0.5)]),
            (250.0, 50.0, 10.0, 10.0, &[(FeetCovered, 0.6)]),
        ]);
        let decoded = decode(&out, 320, 320, 320, 320);
        let classes: Vec<_> = decoded.detections.iter().map(|d| d.class).collect();
        assert_eq!(classes, vec![FeetCovered, FeetCovered, FeetExposed]);
        assert_eq!(decoded.detections[1].bbox.x, 45.0);
        assert_eq!(decoded.explicit_peak, 0.0);
    }

    #[test]
    fn overlap_is_iou_and_empty_boxes_overlap_fully() {
        let b = |x, y, width, height| PixelBox {
            x,
            y,
            width,
            height,
        };
        assert_eq!(
            overlap(&b(0.0, 0.0, 10.0, 10.0), &b(5.0, 0.0, 10.0, 10.0)),
            50.0 / 150.0
        );
        assert_eq!(
            overlap(&b(0.0, 0.0, 10.0, 10.0), &b(20.0, 0.0, 10.0, 10.0)),
            0.0
        );
        assert_eq!(overlap(&b(3.0, 3.0, 0.0, 0.0), &b(9.0, 9.0, 0.0, 0.0)), 1.0);
    }
}
