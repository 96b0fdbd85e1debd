//! A cheap fingerprint of the pixels under a text box, so that a caller sampling video frames
//! recognizes a region again only when its text may have changed.
//!
//! The box's axis-aligned bounds are averaged down to a fixed grid of grey cells (8 rows, 96
//! columns, each cell the mean of its source pixels). A later frame is compared under the *same*
//! box — detection boxes jitter by a pixel or two between frames, and a grid shifted by one pixel
//! across a sharp glyph edge changes a narrow cell by tens of levels. It shows the same text when
//! no cell differs by more than a few grey levels once any uniform brightness shift is taken
//! out: a changed character moves whole cells by tens of levels (one glyph covers several
//! columns even in a long line), encoder noise averaged over a cell by one or two. The test errs
//! towards "changed": a moving background behind the text also counts, which costs a
//! recognition, never a missed change.
//!
//! The analyzer's loop, per sampled frame: detect; for each box, look for a stored signature
//! that [`covers`](RegionSignature::covers) it and is [`unchanged_in`](RegionSignature::unchanged_in)
//! the frame — then the stored text still holds; recognize only the other boxes and store their
//! signatures.

use image::RgbImage;

use super::Quad;

const ROWS: usize = 8;
const COLS: usize = 96;
/// Largest per-cell difference, in grey levels after removing the mean shift, still "the same".
const MAX_CELL_DIFF: f32 = 12.0;
/// Smallest bounds IoU of two boxes holding "the same" region.
const MIN_IOU: f32 = 0.8;

#[derive(Debug, Clone, PartialEq)]
pub struct RegionSignature {
    quad: Quad,
    cells: Vec<f32>,
}

impl RegionSignature {
    /// The signature of the region under `quad` in `frame`.
    pub fn of(frame: &RgbImage, quad: &Quad) -> RegionSignature {
        let (fw, fh) = (frame.width() as usize, frame.height() as usize);
        let [x0, y0, x1, y1] = quad.bounds();
        let clamp = |v: f32, hi: usize| (v.max(0.0) as usize).min(hi);
        let (x0, x1) = (clamp(x0, fw), clamp(x1.ceil(), fw));
        let (y0, y1) = (clamp(y0, fh), clamp(y1.ceil(), fh));
        let (w, h) = (x1.saturating_sub(x0), y1.saturating_sub(y0));
        let mut sums = vec![0.0f32; ROWS * COLS];
        let mut counts = vec![0u32; ROWS * COLS];
        if w > 0 && h > 0 {
            let raw = frame.as_raw();
            for y in y0..y1 {
                let row = (y - y0) * ROWS / h;
                for x in x0..x1 {
                    let col = (x - x0) * COLS / w;
                    let p = &raw[(y * fw + x) * 3..][..3];
                    // BT.601 luma.
                    let grey =
                        0.299 * f32::from(p[0]) + 0.587 * f32::from(p[1]) + 0.114 * f32::from(p[2]);
                    sums[row * COLS + col] += grey;
                    counts[row * COLS + col] += 1;
                }
            }
        }
        // Boxes narrower than the grid leave cells without pixels: give them their left
        // neighbour's value so every cell is comparable.
        let mut cells = Vec::with_capacity(ROWS * COLS);
        for (i, (&sum, &count)) in sums.iter().zip(&counts).enumerate() {
            let value = if count > 0 {
                sum / count as f32
            } else if i % COLS > 0 {
                cells[i - 1]
            } else {
                0.0
            };
            cells.push(value);
        }
        RegionSignature { quad: *quad, cells }
    }

    pub fn quad(&self) -> &Quad {
        &self.quad
    }

    /// Whether a box detected in another frame is this region (bounds IoU ≥ 0.8).
    pub fn covers(&self, quad: &Quad) -> bool {
        self.quad.bounds_iou(quad) >= MIN_IOU
    }

    /// Whether `frame` shows the same pixels under this signature's box, up to noise and a
    /// uniform brightness shift — so the text read there before still holds.
    pub fn unchanged_in(&self, frame: &RgbImage) -> bool {
        self.same_cells(&RegionSignature::of(frame, &self.quad))
    }

    fn same_cells(&self, other: &RegionSignature) -> bool {
        let n = self.cells.len() as f32;
        let shift = self
            .cells
            .iter()
            .zip(&other.cells)
            .map(|(a, b)| a - b)
            .sum::<f32>()
            / n;
        self.cells
            .iter()
            .zip(&other.cells)
            .all(|(a, b)| (a - b - shift).abs() <= MAX_CELL_DIFF)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame_with_bar(bar_x: u32, brightness: u8) -> RgbImage {
        RgbImage::from_fn(200, 60, |x, y| {
            let on = (20..40).contains(&y) && (bar_x..bar_x + 6).contains(&x);
            let v = if on { 250 } else { brightness };
            image::Rgb([v, v, v])
        })
    }

    const BOX: Quad = Quad([[10.0, 15.0], [190.0, 15.0], [190.0, 45.0], [10.0, 45.0]]);

    #[test]
    fn the_same_pixels_are_unchanged_and_a_moved_glyph_is_not() {
        let signature = RegionSignature::of(&frame_with_bar(50, 20), &BOX);
        assert!(signature.unchanged_in(&frame_with_bar(50, 20)));
        assert!(!signature.unchanged_in(&frame_with_bar(120, 20)));
    }

    #[test]
    fn noise_and_a_uniform_shift_are_unchanged() {
        let mut noisy = frame_with_bar(50, 20);
        for (i, p) in noisy.pixels_mut().enumerate() {
            let jitter = [0u8, 3, 1, 4, 2][i % 5];
            p.0 = p.0.map(|v| v.saturating_add(jitter + 10));
        }
        assert!(RegionSignature::of(&frame_with_bar(50, 20), &BOX).unchanged_in(&noisy));
    }

    #[test]
    fn covers_boxes_that_jitter_but_not_other_places() {
        let signature = RegionSignature::of(&frame_with_bar(50, 20), &BOX);
        let jittered = Quad([[11.0, 14.0], [191.0, 14.0], [191.0, 46.0], [11.0, 46.0]]);
        let elsewhere = Quad([[10.0, 0.0], [190.0, 0.0], [190.0, 20.0], [10.0, 20.0]]);
        assert!(signature.covers(&jittered));
        assert!(!signature.covers(&elsewhere));
    }
}
