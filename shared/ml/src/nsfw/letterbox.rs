//! The NudeNet package's input: the image padded with black on the right or bottom to a
//! square, resized to 320×320 the way OpenCV's `blobFromImage` does (`cv2.resize` with
//! `INTER_LINEAR` on 8-bit pixels, its 11-bit fixed-point weights), then scaled to [0, 1] as
//! planar RGB.
//!
//! The padding is never built: pixels beyond the image read as black.

use image::RgbImage;

/// OpenCV's `INTER_RESIZE_COEF_BITS`.
const COEF_BITS: u32 = 11;
const COEF_SCALE: f32 = (1 << COEF_BITS) as f32;

/// One output position's two source taps and their fixed-point weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Tap {
    pub first: u32,
    pub second: u32,
    pub w_first: i32,
    pub w_second: i32,
}

/// OpenCV's `INTER_LINEAR` taps from `src` samples to `dst` samples (half-pixel centres,
/// clamped at both ends).
pub(crate) fn taps(src: u32, dst: u32) -> Vec<Tap> {
    let scale = f64::from(src) / f64::from(dst);
    (0..dst)
        .map(|d| {
            let f = ((f64::from(d) + 0.5) * scale - 0.5) as f32;
            let mut s = f.floor();
            let mut frac = f - s;
            if s < 0.0 {
                s = 0.0;
                frac = 0.0;
            }
            if s >= (src - 1) as f32 {
                s = (src - 1) as f32;
                frac = 0.0;
            }
            let first = s as u32;
            Tap {
                first,
                second: (first + 1).min(src - 1),
                w_first: ((1.0 - frac) * COEF_SCALE).round_ties_even() as i32,
                w_second: (frac * COEF_SCALE).round_ties_even() as i32,
            }
        })
        .collect()
}

/// Writes the model input for `image` into `out` (`3 × size × size`, planar RGB in [0, 1]) and
/// returns the side of the padded square (the factor back to image pixels is `side / size`).
pub(crate) fn letterbox(image: &RgbImage, size: u32, out: &mut [f32]) -> u32 {
    let (width, height) = image.dimensions();
    let side = width.max(height).max(1);
    let plane = (size * size) as usize;
    assert_eq!(out.len(), 3 * plane, "input buffer");
    if width == 0 || height == 0 {
        out.fill(0.0);
        return side;
    }
    let xs = taps(side, size);
    let ys = taps(side, size);
    let raw = image.as_raw();
    let row_stride = width as usize * 3;

    // One source row of the padded square, resized horizontally: value × 2048 per channel.
    let horizontal = |y: u32, row: &mut Vec<i32>| {
        row.clear();
        if y >= height {
            row.resize(size as usize * 3, 0);
            return;
        }
        let line = &raw[y as usize * row_stride..][..row_stride];
        let pixel = |x: u32, c: usize| -> i32 {
            if x < width {
                i32::from(line[x as usize * 3 + c])
            } else {
                0
            }
        };
        for tap in &xs {
            for c in 0..3 {
                row.push(pixel(tap.first, c) * tap.w_first + pixel(tap.second, c) * tap.w_second);
            }
        }
    };

    let mut top = Vec::with_capacity(size as usize * 3);
    let mut bottom = Vec::with_capacity(size as usize * 3);
    let mut rows_held = (u32::MAX, u32::MAX);
    for (dy, tap) in ys.iter().enumerate() {
        if rows_held != (tap.first, tap.second) {
            horizontal(tap.first, &mut top);
            horizontal(tap.second, &mut bottom);
            rows_held = (tap.first, tap.second);
        }
        for dx in 0..size as usize {
            for c in 0..3 {
                let sum = i64::from(top[dx * 3 + c]) * i64::from(tap.w_first)
                    + i64::from(bottom[dx * 3 + c]) * i64::from(tap.w_second);
                // OpenCV's FixedPtCast: round, shift out both coefficients' bits, saturate.
                let value = ((sum + (1 << (2 * COEF_BITS - 1))) >> (2 * COEF_BITS)).clamp(0, 255);
                out[c * plane + dy * size as usize + dx] = value as f32 / 255.0;
            }
        }
    }
    side
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(image: &RgbImage) -> (Vec<f32>, u32) {
        let mut out = vec![0.0; 3 * 320 * 320];
        let side = letterbox(image, 320, &mut out);
        (out, side)
    }

    fn at(out: &[f32], c: usize, x: usize, y: usize) -> u8 {
        (out[c * 320 * 320 + y * 320 + x] * 255.0).round() as u8
    }

    #[test]
    fn a_wide_frame_is_padded_below_and_keeps_its_colour_exactly() {
        let image = RgbImage::from_pixel(640, 360, image::Rgb([200, 30, 90]));
        let (out, side) = input(&image);
        assert_eq!(side, 640);
        // 360 rows of 640 become 180 of 320; the rest is the black padding.
        for y in [0, 100, 179] {
            for x in [0, 160, 319] {
                assert_eq!(
                    [at(&out, 0, x, y), at(&out, 1, x, y), at(&out, 2, x, y)],
                    [200, 30, 90],
                    "({x}, {y})"
                );
            }
        }
        for y in [180, 250, 319] {
            assert_eq!(
                [at(&out, 0, 5, y), at(&out, 1, 5, y), at(&out, 2, 5, y)],
                [0, 0, 0]
            );
        }
    }

    #[test]
    fn a_tall_frame_is_padded_on_the_right() {
        let image = RgbImage::from_pixel(100, 400, image::Rgb([10, 20, 30]));
        let (out, side) = input(&image);
        assert_eq!(side, 400);
        // 100 of 400 columns → 80 of 320.
        assert_eq!(at(&out, 2, 78, 200), 30);
        assert_eq!(at(&out, 2, 81, 200), 0);
    }

    #[test]
    fn halving_averages_each_two_by_two_block_rounded() {
        // A deterministic pattern on a 640×640 frame: scale exactly 2 (what OpenCV computes
        // with INTER_AREA there, which is the same rounded average).
        let image = RgbImage::from_fn(640, 640, |x, y| {
            let v = |k: u32| ((x * 7 + y * 13 + k * 31).wrapping_mul(2654435761) >> 24) as u8;
            image::Rgb([v(0), v(1), v(2)])
        });
        let (out, _) = input(&image);
        for (dx, dy) in [(0, 0), (17, 201), (319, 319), (160, 3)] {
            for c in 0..3 {
                let sum: u32 = [(0, 0), (1, 0), (0, 1), (1, 1)]
                    .iter()
                    .map(|(ox, oy)| u32::from(image.get_pixel(2 * dx + ox, 2 * dy + oy)[c]))
                    .sum();
                assert_eq!(
                    u32::from(at(&out, c, dx as usize, dy as usize)),
                    (sum + 2) >> 2,
                    "({dx}, {dy}) channel {c}"
                );
            }
        }
    }

    #[test]
    fn taps_follow_opencv_half_pixel_centres() {
        // Upscaling 4 → 8: position (d + 0.5) / 2 − 0.5.
        let t = taps(4, 8);
        assert_eq!((t[0].first, t[0].w_first, t[0].w_second), (0, 2048, 0)); // −0.25 clamps
        assert_eq!((t[1].first, t[1].w_first, t[1].w_second), (0, 1536, 512)); // 0.25
        assert_eq!((t[2].first, t[2].w_first, t[2].w_second), (0, 512, 1536)); // 0.75
        assert_eq!((t[7].first, t[7].second, t[7].w_first), (3, 3, 2048)); // 3.25 clamps
    }
}
