//! Measures of one picture: sharpness, noise, blockiness, dark rows and columns (for bars).
//! Run on the sampled frames (a few per second, up to 1280×720), never on every frame.

use image::RgbImage;

/// Steps between neighbouring pixels larger than this are edges in the picture, not block
/// boundaries, and are left out of [`Grey::blockiness`].
const MAX_BLOCK_STEP: f64 = 24.0;

/// Grey levels (0–255) of a picture, row by row.
#[derive(Debug, Clone)]
pub struct Grey {
    pub width: usize,
    pub height: usize,
    pub pixels: Vec<f32>,
}

impl Grey {
    pub fn from_rgb(rgb: &RgbImage) -> Grey {
        let (width, height) = (rgb.width() as usize, rgb.height() as usize);
        let pixels = rgb
            .pixels()
            .map(|p| 0.299 * f32::from(p[0]) + 0.587 * f32::from(p[1]) + 0.114 * f32::from(p[2]))
            .collect();
        Grey {
            width,
            height,
            pixels,
        }
    }

    fn at(&self, x: usize, y: usize) -> f32 {
        self.pixels[y * self.width + x]
    }

    /// Box-averaged down by a whole factor so the height is at most `max_height`: sharpness
    /// and noise are then measured at one scale whatever the source resolution.
    pub fn reduced_to(&self, max_height: usize) -> Grey {
        let factor = self.height.div_ceil(max_height.max(1)).max(1);
        if factor == 1 {
            return self.clone();
        }
        let (width, height) = (self.width / factor, self.height / factor);
        let mut pixels = Vec::with_capacity(width * height);
        let area = (factor * factor) as f32;
        for y in 0..height {
            for x in 0..width {
                let mut sum = 0.0;
                for dy in 0..factor {
                    let row = (y * factor + dy) * self.width;
                    sum += self.pixels[row + x * factor..row + x * factor + factor]
                        .iter()
                        .sum::<f32>();
                }
                pixels.push(sum / area);
            }
        }
        Grey {
            width,
            height,
            pixels,
        }
    }

    /// Variance of the 4-neighbour Laplacian: high for crisp edges, low for blur.
    pub fn sharpness(&self) -> f64 {
        if self.width < 3 || self.height < 3 {
            return 0.0;
        }
        let (mut sum, mut sum_sq, mut n) = (0.0f64, 0.0f64, 0.0f64);
        for y in 1..self.height - 1 {
            for x in 1..self.width - 1 {
                let l = f64::from(
                    self.at(x - 1, y) + self.at(x + 1, y) + self.at(x, y - 1) + self.at(x, y + 1)
                        - 4.0 * self.at(x, y),
                );
                sum += l;
                sum_sq += l * l;
                n += 1.0;
            }
        }
        let mean = sum / n;
        sum_sq / n - mean * mean
    }

    /// Noise standard deviation by Immerkær's method ("Fast noise variance estimation", 1996):
    /// the image convolved with a mask that cancels smooth structure and edges to first order.
    /// Strong edges still leak into it, so only the three quarters of pixels with the smallest gradient count.
    pub fn noise_sigma(&self) -> f64 {
        if self.width < 3 || self.height < 3 {
            return 0.0;
        }
        let (w, h) = (self.width, self.height);
        let mut responses = Vec::with_capacity((w - 2) * (h - 2));
        let mut gradients = Vec::with_capacity((w - 2) * (h - 2));
        for y in 1..h - 1 {
            let above = &self.pixels[(y - 1) * w..y * w];
            let row = &self.pixels[y * w..(y + 1) * w];
            let below = &self.pixels[(y + 1) * w..(y + 2) * w];
            for x in 1..w - 1 {
                let p = |line: &[f32], i: usize| f64::from(line[i]);
                let r = p(above, x - 1) - 2.0 * p(above, x) + p(above, x + 1) - 2.0 * p(row, x - 1)
                    + 4.0 * p(row, x)
                    - 2.0 * p(row, x + 1)
                    + p(below, x - 1)
                    - 2.0 * p(below, x)
                    + p(below, x + 1);
                let gx = p(row, x + 1) - p(row, x - 1);
                let gy = p(below, x) - p(above, x);
                responses.push(r.abs());
                gradients.push(gx.abs() + gy.abs());
            }
        }
        // Keep the flatter three quarters of the picture: every pixel whose gradient is below
        // the cut, then those exactly at it in picture order (as a stable sort would).
        let kept = (gradients.len() * 3).div_ceil(4);
        let mut scratch = gradients.clone();
        let (_, &mut cut, _) = scratch.select_nth_unstable_by(kept - 1, f64::total_cmp);
        let (mut sum, mut taken) = (0.0f64, 0usize);
        for (&g, &r) in gradients.iter().zip(&responses) {
            if g < cut {
                sum += r;
                taken += 1;
            }
        }
        for (&g, &r) in gradients.iter().zip(&responses) {
            if taken == kept {
                break;
            }
            if g == cut {
                sum += r;
                taken += 1;
            }
        }
        let mean_abs = sum / kept as f64;
        (std::f64::consts::PI / 2.0).sqrt() * mean_abs / 6.0
    }

    /// Coding-block edge strength: the mean small horizontal step across columns that sit on the
    /// source's 8-pixel block grid, over the mean step elsewhere. `grid` is the block size
    /// in this picture's pixels (8 at source resolution). 1.0 = no visible blocks.
    pub fn blockiness(&self, grid: f64) -> f64 {
        if self.width < 16 || grid < 2.0 {
            return 1.0;
        }
        let mut on_grid = vec![false; self.width];
        let mut k = 1.0;
        while ((k * grid) as usize) < self.width {
            let x = (k * grid).round() as usize;
            if x >= 1 && x < self.width {
                on_grid[x - 1] = true; // the step from column x-1 to x crosses the boundary
            }
            k += 1.0;
        }
        let (mut edge, mut edge_n, mut inner, mut inner_n) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
        for y in 0..self.height {
            let row = &self.pixels[y * self.width..(y + 1) * self.width];
            for (pair, &boundary) in row.windows(2).zip(&on_grid) {
                let step = f64::from((pair[1] - pair[0]).abs());
                // Block edges are small steps in smooth areas; a strong step is picture
                // content (and content drawn on an 8-pixel grid would read as blocks).
                if step > MAX_BLOCK_STEP {
                    continue;
                }
                if boundary {
                    edge += step;
                    edge_n += 1.0;
                } else {
                    inner += step;
                    inner_n += 1.0;
                }
            }
        }
        if edge_n == 0.0 || inner_n == 0.0 || inner < 1e-9 {
            return 1.0;
        }
        (edge / edge_n) / (inner / inner_n).max(0.5)
    }

    /// For each row and each column: is it dark all along (a bar candidate)?
    pub fn dark_lines(&self, level: f32) -> (Vec<bool>, Vec<bool>) {
        let rows = (0..self.height)
            .map(|y| (0..self.width).all(|x| self.at(x, y) < level))
            .collect();
        let columns = (0..self.width)
            .map(|x| (0..self.height).all(|y| self.at(x, y) < level))
            .collect();
        (rows, columns)
    }

    pub fn mean(&self) -> f64 {
        self.pixels.iter().map(|&p| f64::from(p)).sum::<f64>() / self.pixels.len().max(1) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grey(width: usize, height: usize, f: impl Fn(usize, usize) -> f32) -> Grey {
        let mut pixels = Vec::new();
        for y in 0..height {
            for x in 0..width {
                pixels.push(f(x, y));
            }
        }
        Grey {
            width,
            height,
            pixels,
        }
    }

    /// A deterministic pseudo-random value in [-1, 1].
    fn hash(x: usize, y: usize) -> f32 {
        let mut h = (x as u32).wrapping_mul(0x9E37_79B9) ^ (y as u32).wrapping_mul(0x85EB_CA6B);
        h ^= h >> 15;
        h = h.wrapping_mul(0x2C1B_3C6D);
        h ^= h >> 12;
        (h as f32 / u32::MAX as f32) * 2.0 - 1.0
    }

    #[test]
    fn a_flat_picture_has_no_sharpness_no_noise_and_no_blocks() {
        let flat = grey(64, 48, |_, _| 100.0);
        assert_eq!(flat.sharpness(), 0.0);
        assert_eq!(flat.noise_sigma(), 0.0);
        assert_eq!(flat.blockiness(8.0), 1.0);
    }

    #[test]
    fn noise_sigma_tracks_added_noise() {
        // Uniform noise in [-a, a] has standard deviation a/√3.
        for amplitude in [5.0f32, 10.0, 20.0] {
            let noisy = grey(200, 150, |x, y| 128.0 + amplitude * hash(x, y));
            let expected = f64::from(amplitude) / 3f64.sqrt();
            let got = noisy.noise_sigma();
            assert!(
                (got - expected).abs() / expected < 0.25,
                "{got} vs {expected}"
            );
        }
    }

    /// The measure as first written: a stable sort of every gradient.
    fn noise_sigma_by_sorting(g: &Grey) -> f64 {
        let mut responses = Vec::new();
        let mut gradients = Vec::new();
        for y in 1..g.height - 1 {
            for x in 1..g.width - 1 {
                let p = |dx: isize, dy: isize| {
                    f64::from(g.at((x as isize + dx) as usize, (y as isize + dy) as usize))
                };
                let r = p(-1, -1) - 2.0 * p(0, -1) + p(1, -1) - 2.0 * p(-1, 0) + 4.0 * p(0, 0)
                    - 2.0 * p(1, 0)
                    + p(-1, 1)
                    - 2.0 * p(0, 1)
                    + p(1, 1);
                responses.push(r.abs());
                gradients.push((p(1, 0) - p(-1, 0)).abs() + (p(0, 1) - p(0, -1)).abs());
            }
        }
        let mut order: Vec<usize> = (0..responses.len()).collect();
        order.sort_by(|&a, &b| gradients[a].total_cmp(&gradients[b]));
        let kept = &order[..(order.len() * 3).div_ceil(4)];
        let mean_abs: f64 = kept.iter().map(|&i| responses[i]).sum::<f64>() / kept.len() as f64;
        (std::f64::consts::PI / 2.0).sqrt() * mean_abs / 6.0
    }

    #[test]
    fn noise_sigma_keeps_exactly_the_flattest_three_quarters() {
        let pictures = [
            grey(97, 61, |x, y| 128.0 + 20.0 * hash(x, y)),
            // Few distinct gradients: many ties at the cut.
            grey(80, 50, |x, y| ((x / 5 + y / 7) % 3) as f32 * 10.0),
            grey(
                64,
                48,
                |x, y| if x > 30 { 200.0 } else { 40.0 + hash(x, y) },
            ),
        ];
        for picture in &pictures {
            let (fast, sorted) = (picture.noise_sigma(), noise_sigma_by_sorting(picture));
            assert!(
                (fast - sorted).abs() <= 1e-9 * sorted.max(1.0),
                "{fast} vs {sorted}"
            );
        }
    }

    #[test]
    fn sharpness_falls_when_a_picture_is_blurred() {
        let sharp = grey(96, 96, |x, y| {
            if (x / 8 + y / 8) % 2 == 0 {
                30.0
            } else {
                220.0
            }
        });
        let blurred = grey(96, 96, |x, y| {
            // A 5×5 box blur of the same checkerboard.
            let mut sum = 0.0;
            for dy in 0..5 {
                for dx in 0..5 {
                    let (sx, sy) = ((x + dx).saturating_sub(2), (y + dy).saturating_sub(2));
                    sum += if (sx / 8 + sy / 8) % 2 == 0 {
                        30.0
                    } else {
                        220.0
                    };
                }
            }
            sum / 25.0
        });
        assert!(sharp.sharpness() > 4.0 * blurred.sharpness());
    }

    #[test]
    fn steps_on_the_block_grid_read_as_blockiness() {
        let blocky = grey(128, 64, |x, y| {
            ((x / 8) * 13 % 50) as f32 + hash(x, y) * 2.0 + 100.0
        });
        let smooth = grey(128, 64, |x, y| x as f32 * 0.8 + hash(x, y) * 2.0 + 100.0);
        assert!(blocky.blockiness(8.0) > 3.0, "{}", blocky.blockiness(8.0));
        assert!(smooth.blockiness(8.0) < 1.3, "{}", smooth.blockiness(8.0));
    }

    #[test]
    fn dark_rows_and_columns_are_found() {
        let boxed = grey(40, 30, |x, y| {
            if (5..25).contains(&y) && x >= 4 {
                150.0
            } else {
                3.0
            }
        });
        let (rows, columns) = boxed.dark_lines(26.0);
        assert_eq!(rows.iter().take_while(|d| **d).count(), 5);
        assert_eq!(rows.iter().rev().take_while(|d| **d).count(), 5);
        assert_eq!(columns.iter().take_while(|d| **d).count(), 4);
        assert_eq!(columns.iter().rev().take_while(|d| **d).count(), 0);
    }

    #[test]
    fn reduction_keeps_the_mean() {
        let g = grey(1280, 720, |x, y| ((x + y) % 256) as f32);
        let r = g.reduced_to(360);
        assert_eq!((r.width, r.height), (640, 360));
        assert!((r.mean() - g.mean()).abs() < 1.0);
    }
}
