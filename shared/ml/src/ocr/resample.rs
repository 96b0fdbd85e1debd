//! Resizing straight into a model's input planes.
//!
//! PP-OCR was trained and exported with OpenCV's `cv2.resize(.., INTER_LINEAR)` in front of it:
//! plain bilinear sampling at pixel centres, without the low-pass filter `image::imageops::resize`
//! applies when shrinking. This reproduces OpenCV's sampling positions, and writes the result
//! already normalised (`(v / 255 − 0.5) / 0.5`), in BGR channel order (RapidOCR hands OpenCV's BGR
//! arrays to the models) and planar (NCHW) — one pass over the output instead of four.

use image::RgbImage;

/// One source tap pair per output coordinate: `(index, weight of index + 1)`.
fn taps(src_len: usize, dst_len: usize) -> Vec<(usize, f32)> {
    let scale = src_len as f64 / dst_len as f64;
    (0..dst_len)
        .map(|d| {
            let f = (d as f64 + 0.5) * scale - 0.5;
            let mut s = f.floor();
            let mut frac = f - s;
            if s < 0.0 {
                s = 0.0;
                frac = 0.0;
            }
            if s >= (src_len - 1) as f64 {
                s = (src_len - 1) as f64;
                frac = 0.0;
            }
            (s as usize, frac as f32)
        })
        .collect()
}

/// Resizes `src` to `dst_w × dst_h` and writes it into `planes` — three planes (B, G, R) of
/// `dst_h` rows of `stride` floats each (`stride ≥ dst_w`; the columns past `dst_w` are left
/// untouched, which is how recognition pads narrower crops of a batch).
pub(crate) fn resize_normalized_bgr(
    src: &RgbImage,
    dst_w: usize,
    dst_h: usize,
    planes: &mut [f32],
    stride: usize,
) {
    resize_rows_normalized_bgr(src, dst_w, dst_h, 0..dst_h, planes, stride);
}

/// As [`resize_normalized_bgr`], but only the output rows `rows` of the `dst_w × dst_h` resize
/// are written, as planes of `rows.len()` rows: the same pixels a whole resize would give there,
/// for running a fully convolutional model on a band of the picture.
pub(crate) fn resize_rows_normalized_bgr(
    src: &RgbImage,
    dst_w: usize,
    dst_h: usize,
    rows: std::ops::Range<usize>,
    planes: &mut [f32],
    stride: usize,
) {
    let rows = rows.start.min(dst_h)..rows.end.min(dst_h);
    let band_h = rows.len();
    debug_assert!(stride >= dst_w && planes.len() >= 3 * band_h * stride);
    let (sw, sh) = (src.width() as usize, src.height() as usize);
    if sw == 0 || sh == 0 || dst_w == 0 || band_h == 0 {
        return;
    }
    let xs = taps(sw, dst_w);
    let ys = taps(sh, dst_h);
    let ys = &ys[rows];
    let raw = src.as_raw();
    let plane = band_h * stride;
    let (b_plane, rest) = planes.split_at_mut(plane);
    let (g_plane, rest) = rest.split_at_mut(plane);
    let r_plane = &mut rest[..plane];
    const SCALE: f32 = 1.0 / 127.5;
    for (dy, &(sy, fy)) in ys.iter().enumerate() {
        let sy1 = (sy + 1).min(sh - 1);
        let row0 = &raw[sy * sw * 3..(sy + 1) * sw * 3];
        let row1 = &raw[sy1 * sw * 3..(sy1 + 1) * sw * 3];
        let out = dy * stride;
        for (dx, &(sx, fx)) in xs.iter().enumerate() {
            let sx1 = (sx + 1).min(sw - 1);
            let (a, b) = (sx * 3, sx1 * 3);
            let mut px = [0.0f32; 3];
            for (c, v) in px.iter_mut().enumerate() {
                let top = f32::from(row0[a + c]) * (1.0 - fx) + f32::from(row0[b + c]) * fx;
                let bottom = f32::from(row1[a + c]) * (1.0 - fx) + f32::from(row1[b + c]) * fx;
                *v = (top * (1.0 - fy) + bottom * fy) * SCALE - 1.0;
            }
            r_plane[out + dx] = px[0];
            g_plane[out + dx] = px[1];
            b_plane[out + dx] = px[2];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upscaling_matches_opencv_sample_positions() {
        // cv2.resize(np.array([[0, 100]]), (4, 1)) → [0, 25, 75, 100].
        let src = RgbImage::from_fn(2, 1, |x, _| image::Rgb([(x * 100) as u8, 0, 255]));
        let mut planes = vec![0.0f32; 3 * 4];
        resize_normalized_bgr(&src, 4, 1, &mut planes, 4);
        let red: Vec<f32> = planes[8..12].iter().map(|v| (v + 1.0) * 127.5).collect();
        for (got, want) in red.iter().zip([0.0, 25.0, 75.0, 100.0]) {
            assert!((got - want).abs() < 1e-3, "{red:?}");
        }
        // Blue is the first plane and was 255 everywhere → +1.
        assert!(planes[0..4].iter().all(|v| (v - 1.0).abs() < 1e-6));
        assert!(planes[4..8].iter().all(|v| (v + 1.0).abs() < 1e-6));
    }

    #[test]
    fn a_band_of_rows_is_the_same_rows_of_the_whole_resize() {
        let src = RgbImage::from_fn(37, 23, |x, y| {
            image::Rgb([
                (x * 7 % 256) as u8,
                (y * 11 % 256) as u8,
                ((x * y) % 256) as u8,
            ])
        });
        let (w, h) = (64, 32);
        let mut whole = vec![0.0f32; 3 * w * h];
        resize_normalized_bgr(&src, w, h, &mut whole, w);
        let rows = 8..24;
        let mut band = vec![0.0f32; 3 * w * rows.len()];
        resize_rows_normalized_bgr(&src, w, h, rows.clone(), &mut band, w);
        for c in 0..3 {
            let want = &whole[c * w * h + rows.start * w..c * w * h + rows.end * w];
            let got = &band[c * w * rows.len()..(c + 1) * w * rows.len()];
            assert_eq!(want, got);
        }
    }

    #[test]
    fn columns_past_the_width_are_left_as_padding() {
        let src = RgbImage::from_pixel(3, 3, image::Rgb([10, 20, 30]));
        let mut planes = vec![7.0f32; 3 * 2 * 5];
        resize_normalized_bgr(&src, 3, 2, &mut planes, 5);
        for row in planes.chunks(5) {
            assert!(row[..3].iter().all(|&v| v != 7.0));
            assert_eq!(&row[3..], &[7.0, 7.0]);
        }
    }
}
