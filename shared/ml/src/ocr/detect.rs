//! Text detection: PP-OCRv4 DB model plus RapidOCR's `DetPreProcess`, `DBPostProcess`,
//! `filter_tag_det_res` and `sorted_boxes`.

use std::ops::Range;

use image::{GrayImage, Luma, RgbImage};
use ort::session::Session;
use ort::value::TensorRef;

use super::geometry::{self, Pt};
use super::resample::resize_rows_normalized_bgr;
use super::unclip;
use super::{OcrError, OcrOptions, Quad, TextBox, inference_error};

const MODEL: &str = "ppocr-det-v4";
/// RapidOCR's global `max_side_len` / `min_side_len`: images are first brought within these.
const MAX_SIDE: u32 = 2000;
const MIN_SIDE: u32 = 30;
/// `DBPostProcess`: contours looked at, shortest side of a kept box before and after unclip.
const MAX_CANDIDATES: usize = 1000;
const MIN_SIZE: f64 = 3.0;

/// How the detection input is sized before rounding each side to a multiple of 32.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SideLimit {
    /// Scale up so that the shorter side is at least this (RapidOCR's `limit_type: min`, 736);
    /// never scales down.
    Min(u32),
    /// Scale down so that the longer side is at most this (`limit_type: max`); never scales up.
    /// `Max(960)` is PaddleOCR's own default (`det_limit_side_len 960`): about half the
    /// detection cost of `Min(736)` on a 720p frame, a quarter on 1080p.
    Max(u32),
}

/// `int(x)` then `round(x / 32) * 32` with Python's round-half-to-even.
fn round32(x: f64) -> u32 {
    ((x.trunc() / 32.0).round_ties_even() * 32.0) as u32
}

fn scale_to(w: u32, h: u32, ratio: f64) -> (u32, u32) {
    (round32(w as f64 * ratio), round32(h as f64 * ratio))
}

/// The detection input size for a `w × h` frame, `None` when it rounds to nothing.
///
/// RapidOCR resizes twice when a frame exceeds 2000 px (to ≤ 2000, then to the detection size);
/// here the frame is resampled once, straight to the final size.
pub(crate) fn input_size(w: u32, h: u32, limit: SideLimit) -> Option<(u32, u32)> {
    if w == 0 || h == 0 {
        return None;
    }
    let (mut w, mut h) = (w, h);
    if w.max(h) > MAX_SIDE {
        (w, h) = scale_to(w, h, MAX_SIDE as f64 / w.max(h) as f64);
    }
    if w.min(h) < MIN_SIDE {
        (w, h) = scale_to(w, h, MIN_SIDE as f64 / w.min(h) as f64);
    }
    let ratio = match limit {
        SideLimit::Min(side) if w.min(h) < side => side as f64 / w.min(h) as f64,
        SideLimit::Max(side) if w.max(h) > side => side as f64 / w.max(h) as f64,
        _ => 1.0,
    };
    let (w, h) = scale_to(w, h, ratio);
    (w > 0 && h > 0).then_some((w, h))
}

pub(crate) fn detect(
    session: &mut Session,
    input: &mut Vec<f32>,
    frame: &RgbImage,
    options: &OcrOptions,
) -> Result<Vec<TextBox>, OcrError> {
    detect_rows(session, input, frame, options, 0..frame.height())
}

/// [`detect`] on the frame rows `rows` only, at the scale a whole-frame detection uses: the band
/// of the detection input that covers them (grown to whole multiples of 32 rows) is resampled
/// exactly as the whole input would be and run alone. Boxes are in whole-frame pixels. The
/// cost falls with the band's height; text cut by the band's edges comes out cut.
pub(crate) fn detect_rows(
    session: &mut Session,
    input: &mut Vec<f32>,
    frame: &RgbImage,
    options: &OcrOptions,
    rows: Range<u32>,
) -> Result<Vec<TextBox>, OcrError> {
    let Some((iw, ih)) = input_size(frame.width(), frame.height(), options.det_side) else {
        return Ok(Vec::new());
    };
    let Some(band) = input_band(rows, frame.height(), ih) else {
        return Ok(Vec::new());
    };
    let (iw, ih) = (iw as usize, ih as usize);
    let bh = band.len();
    input.resize(3 * iw * bh, 0.0);
    resize_rows_normalized_bgr(frame, iw, ih, band.clone(), input, iw);
    let tensor = TensorRef::from_array_view(([1usize, 3, bh, iw], &input[..]))
        .map_err(inference_error(MODEL))?;
    let outputs = session
        .run(ort::inputs![tensor])
        .map_err(inference_error(MODEL))?;
    let (shape, map) = outputs[0]
        .try_extract_tensor::<f32>()
        .map_err(inference_error(MODEL))?;
    let [1, 1, mh, mw] = shape[..] else {
        return Err(OcrError::Output {
            model: MODEL,
            detail: format!("probability map of shape {shape:?}"),
        });
    };
    let map = DetMap {
        data: map,
        width: mw as usize,
        height: mh as usize,
    };
    // Map rows per input row (1 for this model): the band's place in the whole map.
    let per_row = mh as f64 / bh as f64;
    let place = MapPlace {
        top: band.start as f64 * per_row,
        height: ih as f64 * per_row,
    };
    let boxes = boxes_from_band(&map, place, frame.width(), frame.height(), options);
    Ok(sort_reading_order(boxes))
}

/// The detection-input rows, whole multiples of 32 within `0..input_h`, that cover the frame
/// rows `rows` of a frame `frame_h` high; `None` when that is nothing.
pub(crate) fn input_band(rows: Range<u32>, frame_h: u32, input_h: u32) -> Option<Range<usize>> {
    let (start, end) = (rows.start.min(frame_h), rows.end.min(frame_h));
    if start >= end || input_h == 0 {
        return None;
    }
    let scale = f64::from(input_h) / f64::from(frame_h);
    let top = (f64::from(start) * scale).floor() as usize / 32 * 32;
    let bottom = ((f64::from(end) * scale).ceil() as usize)
        .div_ceil(32)
        .saturating_mul(32)
        .min(input_h as usize);
    (top < bottom).then_some(top..bottom)
}

/// Where a (band of the) probability map sits in the whole-frame map: its first row and the
/// whole map's height, in map rows.
#[derive(Debug, Clone, Copy)]
pub(crate) struct MapPlace {
    pub top: f64,
    pub height: f64,
}

/// The model's text probability map, row-major.
pub(crate) struct DetMap<'a> {
    pub data: &'a [f32],
    pub width: usize,
    pub height: usize,
}

/// `DBPostProcess` followed by `filter_tag_det_res`, boxes in `frame_w × frame_h` pixels.
#[cfg(test)]
pub(crate) fn boxes_from_map(
    map: &DetMap<'_>,
    frame_w: u32,
    frame_h: u32,
    options: &OcrOptions,
) -> Vec<TextBox> {
    let place = MapPlace {
        top: 0.0,
        height: map.height as f64,
    };
    boxes_from_band(map, place, frame_w, frame_h, options)
}

/// [`boxes_from_map`] for a band of the whole map at `place`.
pub(crate) fn boxes_from_band(
    map: &DetMap<'_>,
    place: MapPlace,
    frame_w: u32,
    frame_h: u32,
    options: &OcrOptions,
) -> Vec<TextBox> {
    let (mw, mh) = (map.width, map.height);
    let mask = binarize_dilated(map, options.det_thresh);
    let contours = imageproc::contours::find_contours::<i32>(&mask);
    let mut boxes = Vec::new();
    for contour in contours.iter().take(MAX_CANDIDATES) {
        let Some((corners, short)) = geometry::min_area_rect(&contour.points) else {
            continue;
        };
        if short < MIN_SIZE {
            continue;
        }
        let shrunk = geometry::order_mini_box(corners);
        let score = geometry::mean_inside(map.data, mw, mh, &shrunk);
        if f64::from(options.box_thresh) > score {
            continue;
        }
        let Some((grown, short)) = unclip::unclip(shrunk, f64::from(options.unclip_ratio)) else {
            continue;
        };
        if short < MIN_SIZE + 2.0 {
            continue;
        }
        let (fw, fh) = (f64::from(frame_w), f64::from(frame_h));
        let scaled = geometry::order_mini_box(grown).map(|[x, y]| {
            [
                (x / mw as f64 * fw).round_ties_even().clamp(0.0, fw),
                ((y + place.top) / place.height * fh)
                    .round_ties_even()
                    .clamp(0.0, fh),
            ]
        });
        // filter_tag_det_res: reorder, clip into the frame, drop boxes of 3 px or less.
        let quad: [Pt; 4] = geometry::order_clockwise(scaled).map(|[x, y]| {
            [
                x.clamp(0.0, fw - 1.0).trunc(),
                y.clamp(0.0, fh - 1.0).trunc(),
            ]
        });
        let side = |a: Pt, b: Pt| (a[0] - b[0]).hypot(a[1] - b[1]).trunc();
        if side(quad[0], quad[1]) <= 3.0 || side(quad[0], quad[3]) <= 3.0 {
            continue;
        }
        boxes.push(TextBox {
            quad: Quad(quad.map(|[x, y]| [x as f32, y as f32])),
            score: score as f32,
        });
    }
    boxes
}

/// `pred > thresh`, dilated by OpenCV's 2×2 kernel (anchor at its centre, (1, 1)): a pixel is set
/// when it or its left, upper or upper-left neighbour is above the threshold.
fn binarize_dilated(map: &DetMap<'_>, thresh: f32) -> GrayImage {
    let (w, h) = (map.width, map.height);
    let on = |x: usize, y: usize| map.data[y * w + x] > thresh;
    GrayImage::from_fn(w as u32, h as u32, |x, y| {
        let (x, y) = (x as usize, y as usize);
        let hit = on(x, y)
            || (x > 0 && on(x - 1, y))
            || (y > 0 && on(x, y - 1))
            || (x > 0 && y > 0 && on(x - 1, y - 1));
        Luma([if hit { 255 } else { 0 }])
    })
}

/// RapidOCR's `sorted_boxes`: by the top-left corner's (y, x), then boxes whose tops are within
/// 10 px of each other are put left to right.
pub(crate) fn sort_reading_order(mut boxes: Vec<TextBox>) -> Vec<TextBox> {
    let top_left = |b: &TextBox| b.quad.0[0];
    boxes.sort_by(|a, b| {
        let (pa, pb) = (top_left(a), top_left(b));
        pa[1].total_cmp(&pb[1]).then(pa[0].total_cmp(&pb[0]))
    });
    for i in 0..boxes.len().saturating_sub(1) {
        for j in (0..=i).rev() {
            let (a, b) = (top_left(&boxes[j]), top_left(&boxes[j + 1]));
            if (b[1] - a[1]).abs() < 10.0 && b[0] < a[0] {
                boxes.swap(j, j + 1);
            } else {
                break;
            }
        }
    }
    boxes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_size_follows_rapidocr() {
        let min736 = SideLimit::Min(736);
        // 720p: the short side goes up to 736, 1280 × 1.0222 = 1308 → 1312.
        assert_eq!(input_size(1280, 720, min736), Some((1312, 736)));
        // 1080p is already above 736: only rounded to multiples of 32.
        assert_eq!(input_size(1920, 1080, min736), Some((1920, 1088)));
        // 4K is first brought to 2000 px on its long side.
        assert_eq!(input_size(3840, 2160, min736), Some((1984, 1120)));
        assert_eq!(input_size(1280, 720, SideLimit::Max(960)), Some((960, 544)));
        assert_eq!(input_size(640, 360, SideLimit::Max(960)), Some((640, 352)));
        assert_eq!(input_size(0, 360, min736), None);
    }

    #[test]
    fn a_band_of_rows_is_whole_multiples_of_32_input_rows_covering_them() {
        // 720 frame rows → 544 input rows (scale 0.7556).
        assert_eq!(input_band(0..720, 720, 544), Some(0..544));
        // Rows 300–380 → input 226.7–287.1 → 224..288.
        assert_eq!(input_band(300..380, 720, 544), Some(224..288));
        assert_eq!(input_band(700..800, 720, 544), Some(512..544));
        assert_eq!(input_band(100..100, 720, 544), None);
    }

    fn map_with_block(w: usize, h: usize, x0: usize, y0: usize, x1: usize, y1: usize) -> Vec<f32> {
        let mut data = vec![0.02f32; w * h];
        for y in y0..=y1 {
            for x in x0..=x1 {
                data[y * w + x] = 0.9;
            }
        }
        data
    }

    #[test]
    fn a_block_of_text_probability_becomes_one_grown_box() {
        let (w, h) = (200, 100);
        let data = map_with_block(w, h, 40, 30, 139, 49);
        let map = DetMap {
            data: &data,
            width: w,
            height: h,
        };
        let boxes = boxes_from_map(&map, 400, 200, &OcrOptions::default());
        assert_eq!(boxes.len(), 1);
        let b = &boxes[0];
        assert!(b.score > 0.8, "score {}", b.score);
        // The dilated block spans x 40..=140, y 30..=50 (100 × 20 in the map); unclip adds
        // 100·20·1.6 / 240 ≈ 13.3 on each side; ×2 to frame pixels.
        let [x0, y0, x1, y1] = b.quad.bounds();
        assert!((x0 - 2.0 * (40.0 - 13.3)).abs() <= 2.0, "{:?}", b.quad);
        assert!((x1 - 2.0 * (140.0 + 13.3)).abs() <= 2.0, "{:?}", b.quad);
        assert!((y0 - 2.0 * (30.0 - 13.3)).abs() <= 2.0, "{:?}", b.quad);
        assert!((y1 - 2.0 * (50.0 + 13.3)).abs() <= 2.0, "{:?}", b.quad);
    }

    #[test]
    fn faint_or_tiny_regions_are_dropped() {
        let (w, h) = (100, 50);
        let mut data = vec![0.0f32; w * h];
        // Above the binarisation threshold but below box_thresh on average.
        for y in 10..30 {
            for x in 10..60 {
                data[y * w + x] = 0.4;
            }
        }
        // A 2-px speck.
        data[40 * w + 80] = 0.99;
        data[40 * w + 81] = 0.99;
        let map = DetMap {
            data: &data,
            width: w,
            height: h,
        };
        assert!(boxes_from_map(&map, 100, 50, &OcrOptions::default()).is_empty());
    }

    fn boxed(x: f32, y: f32) -> TextBox {
        TextBox {
            quad: Quad([[x, y], [x + 10.0, y], [x + 10.0, y + 5.0], [x, y + 5.0]]),
            score: 1.0,
        }
    }

    #[test]
    fn reading_order_is_lines_then_left_to_right() {
        let sorted = sort_reading_order(vec![
            boxed(50.0, 104.0),
            boxed(10.0, 100.0),
            boxed(5.0, 10.0),
        ]);
        let tops: Vec<[f32; 2]> = sorted.iter().map(|b| b.quad.0[0]).collect();
        assert_eq!(tops, vec![[5.0, 10.0], [10.0, 100.0], [50.0, 104.0]]);
        let sorted = sort_reading_order(vec![boxed(10.0, 104.0), boxed(50.0, 100.0)]);
        assert_eq!(sorted[0].quad.0[0], [10.0, 104.0]);
    }
}
