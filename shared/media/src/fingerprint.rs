//! The media side of fingerprints: one picture hash per sampled frame, and chromaprint's raw
//! items (ffmpeg's `chromaprint` muxer, fed mono 16-bit PCM at chromaprint's own rate). The
//! comparison is domain logic, in [`mvidarr_core::fingerprint`].

use crate::picture::Grey;

/// Chromaprint analyses sound at this rate; feeding it exactly this spares its own resampler.
pub const CHROMAPRINT_RATE: u32 = 11_025;
/// Seconds per chromaprint item (algorithm 1: a 4096-sample frame every 1365 samples).
pub const AUDIO_ITEM_SECONDS: f64 = 1365.0 / CHROMAPRINT_RATE as f64;
/// A picture whose 9×8 cells span fewer grey levels than this is flat: nothing to recognise.
const FLAT_SPAN: f32 = 6.0;

/// 64-bit difference hash of a picture: box-averaged to 9×8 cells, one bit per horizontal
/// neighbour pair (left darker than right); `0` for a flat or black picture.
pub fn picture_hash(grey: &Grey) -> u64 {
    let (width, height) = (grey.width, grey.height);
    if width < 9 || height < 8 {
        return 0;
    }
    let mut cells = [0f32; 72];
    let mut counts = [0usize; 72];
    for (y, row) in grey.pixels.chunks_exact(width).enumerate() {
        let cy = y * 8 / height;
        for cx in 0..9 {
            let (x0, x1) = (cx * width / 9, (cx + 1) * width / 9);
            cells[cy * 9 + cx] += row[x0..x1].iter().sum::<f32>();
            counts[cy * 9 + cx] += x1 - x0;
        }
    }
    for (cell, count) in cells.iter_mut().zip(counts) {
        *cell /= count.max(1) as f32;
    }
    let (low, high) = cells
        .iter()
        .fold((f32::MAX, f32::MIN), |(l, h), c| (l.min(*c), h.max(*c)));
    if high - low < FLAT_SPAN {
        return 0;
    }
    let mut hash = 0u64;
    for y in 0..8 {
        for x in 0..8 {
            hash = (hash << 1) | u64::from(cells[y * 9 + x] < cells[y * 9 + x + 1]);
        }
    }
    hash
}

/// Chromaprint's raw output (`-fp_format raw`): native-endian 32-bit items, little-endian on
/// every platform we ship. A trailing partial item (a cut-short file) is dropped.
pub fn audio_items(raw: &[u8]) -> Vec<u32> {
    raw.chunks_exact(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grey(width: usize, height: usize, f: impl Fn(usize, usize) -> f32) -> Grey {
        Grey {
            width,
            height,
            pixels: (0..height)
                .flat_map(|y| (0..width).map(move |x| (x, y)))
                .map(|(x, y)| f(x, y))
                .collect(),
        }
    }

    #[test]
    fn flat_and_black_pictures_have_no_hash() {
        assert_eq!(picture_hash(&grey(64, 36, |_, _| 0.0)), 0);
        assert_eq!(
            picture_hash(&grey(64, 36, |x, _| 120.0 + (x % 2) as f32)),
            0
        );
    }

    #[test]
    fn the_hash_survives_scaling_and_tells_pictures_apart() {
        let scene = |w: usize, h: usize| {
            grey(w, h, move |x, y| {
                let (u, v) = (x as f32 / w as f32, y as f32 / h as f32);
                128.0 + 100.0 * ((u * 9.0).sin() * (v * 5.0 + u * 3.0).cos())
            })
        };
        let big = picture_hash(&scene(640, 360));
        let small = picture_hash(&scene(320, 180));
        assert_ne!(big, 0);
        assert!((big ^ small).count_ones() <= 3, "{big:016x} {small:016x}");
        let other = picture_hash(&grey(640, 360, |x, y| {
            ((x / 40 + y / 40) % 2) as f32 * 200.0
        }));
        assert!((big ^ other).count_ones() > 12);
    }

    #[test]
    fn raw_items_are_little_endian_words() {
        assert_eq!(
            audio_items(&[1, 0, 0, 0, 0, 0, 0, 0x80, 9]),
            vec![1, 0x8000_0000]
        );
    }
}
