//! Smart thumbnails: the best few frames of a video — sharp, well exposed, with contrast, not
//! black, not inside a transition, not near-duplicates of each other — encoded as JPEG at
//! several widths.
//!
//! Candidates come from the sampled frames as they stream by. Only a bounded pool is kept (a
//! near-duplicate replaces its twin only if better; the weakest is dropped when the pool is
//! full), each reduced to the largest output width, so memory stays flat for any length.

use std::io::Cursor;

use image::RgbImage;
use image::codecs::jpeg::JpegEncoder;
use image::imageops::FilterType;
use mvidarr_core::analysis::{Segment, Transition, TransitionKind};

use crate::picture::Grey;

/// Output widths, largest first (a frame narrower than a width is not enlarged).
pub const WIDTHS: [u32; 3] = [640, 320, 160];
pub const COUNT: usize = 5;
const POOL: usize = 24;
const JPEG_QUALITY: u8 = 85;
/// Frames with a difference hash this close (bits) are the same picture.
const NEAR_DUPLICATE_BITS: u32 = 10;
/// Keep clear of cuts by this much.
const CUT_MARGIN_SECONDS: f64 = 0.25;
/// Sharpness below which a frame is never a thumbnail (the blur threshold of the quality
/// measures).
const MIN_SHARPNESS: f64 = 100.0;

#[derive(Debug, Clone)]
struct Candidate {
    seconds: f64,
    score: f64,
    hash: u64,
    image: RgbImage,
}

/// A chosen frame, encoded.
#[derive(Debug, Clone)]
pub struct Chosen {
    pub seconds: f64,
    pub score: f64,
    pub hash: u64,
    /// `(width, height, jpeg)` per output width.
    pub jpegs: Vec<(u32, u32, Vec<u8>)>,
}

#[derive(Debug, Default)]
pub struct ThumbnailPicker {
    pool: Vec<Candidate>,
}

/// How good a frame looks as a thumbnail, from its grey picture and sharpness; `None` when it
/// should never be one (black, blown out, flat or blurred).
pub fn appeal(grey: &Grey, sharpness: f64) -> Option<f64> {
    let mean = grey.mean();
    let variance = grey
        .pixels
        .iter()
        .map(|&p| (f64::from(p) - mean).powi(2))
        .sum::<f64>()
        / grey.pixels.len().max(1) as f64;
    let contrast = variance.sqrt();
    if !(30.0..=225.0).contains(&mean) || contrast < 12.0 || sharpness < MIN_SHARPNESS {
        return None;
    }
    let exposure = 1.0 - ((mean - 118.0).abs() / 118.0).min(1.0);
    Some((1.0 + sharpness).ln() * (0.5 + 0.5 * exposure) * (contrast / 50.0).min(1.0))
}

impl ThumbnailPicker {
    /// A sampled frame at `seconds` with its picture hash
    /// ([`crate::fingerprint::picture_hash`], computed once per frame for every use) and its
    /// appeal (see [`appeal`]).
    pub fn offer(&mut self, frame: &RgbImage, hash: u64, seconds: f64, appeal: f64) {
        if let Some(twin) = self
            .pool
            .iter_mut()
            .find(|c| (c.hash ^ hash).count_ones() <= NEAR_DUPLICATE_BITS)
        {
            if appeal > twin.score {
                *twin = Candidate {
                    seconds,
                    score: appeal,
                    hash,
                    image: reduce(frame, WIDTHS[0]),
                };
            }
            return;
        }
        if self.pool.len() == POOL {
            let (weakest, score) = self
                .pool
                .iter()
                .enumerate()
                .map(|(i, c)| (i, c.score))
                .min_by(|a, b| a.1.total_cmp(&b.1))
                .expect("a full pool");
            if appeal <= score {
                return;
            }
            self.pool.swap_remove(weakest);
        }
        self.pool.push(Candidate {
            seconds,
            score: appeal,
            hash,
            image: reduce(frame, WIDTHS[0]),
        });
    }

    /// The best `count` candidates away from transitions, encoded.
    pub fn choose(self, count: usize, transitions: &[Transition]) -> Result<Vec<Chosen>, String> {
        let mut pool: Vec<Candidate> = self
            .pool
            .into_iter()
            .filter(|c| !transitions.iter().any(|t| inside(t, c.seconds)))
            .collect();
        pool.sort_by(|a, b| b.score.total_cmp(&a.score));
        pool.into_iter()
            .take(count)
            .map(|c| {
                // A frame narrower than a width is not enlarged, so small frames have fewer sizes.
                let mut widths: Vec<u32> = WIDTHS.iter().map(|&w| w.min(c.image.width())).collect();
                widths.dedup();
                let jpegs = widths
                    .into_iter()
                    .map(|width| {
                        let image = reduce(&c.image, width);
                        let mut bytes = Vec::new();
                        JpegEncoder::new_with_quality(Cursor::new(&mut bytes), JPEG_QUALITY)
                            .encode_image(&image)
                            .map_err(|e| format!("JPEG encoding: {e}"))?;
                        Ok((image.width(), image.height(), bytes))
                    })
                    .collect::<Result<Vec<_>, String>>()?;
                Ok(Chosen {
                    seconds: c.seconds,
                    score: c.score,
                    hash: c.hash,
                    jpegs,
                })
            })
            .collect()
    }
}

/// Whether a frame at `seconds` is part of (or too near) a transition.
fn inside(transition: &Transition, seconds: f64) -> bool {
    let Segment {
        start_seconds,
        end_seconds,
    } = transition.span;
    match transition.kind {
        TransitionKind::Cut => (seconds - transition.at_seconds).abs() < CUT_MARGIN_SECONDS,
        TransitionKind::Fade | TransitionKind::Dissolve => {
            seconds > start_seconds - 0.1 && seconds < end_seconds + 0.1
        }
    }
}

/// The frame scaled down to at most `width` wide (never up), keeping its aspect.
fn reduce(frame: &RgbImage, width: u32) -> RgbImage {
    if frame.width() <= width {
        return frame.clone();
    }
    let height =
        ((u64::from(frame.height()) * u64::from(width)) / u64::from(frame.width())).max(1) as u32;
    image::imageops::resize(frame, width, height, FilterType::Triangle)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Offer a frame with its picture hash, as the analysis pass does.
    fn offer(picker: &mut ThumbnailPicker, frame: &RgbImage, seconds: f64, appeal: f64) {
        let hash = crate::fingerprint::picture_hash(&Grey::from_rgb(frame));
        picker.offer(frame, hash, seconds, appeal);
    }

    /// Pictures whose difference hashes are far apart: a ramp rising to the right, one
    /// falling to the right, and coarse stripes.
    fn pattern(kind: u32, width: u32, height: u32) -> RgbImage {
        RgbImage::from_fn(width, height, |x, y| {
            let ramp = (x * 255 / width.max(1)) as u8;
            let v = match kind {
                1 => ramp,
                7 => 255 - ramp,
                _ => ((x * 4 / width.max(1) + y * 3 / height.max(1)) % 2) as u8 * 200 + 20,
            };
            image::Rgb([v, v / 2, 255 - v])
        })
    }

    #[test]
    fn near_duplicates_keep_the_better_and_distinct_frames_are_kept() {
        let mut picker = ThumbnailPicker::default();
        let a = pattern(1, 320, 180);
        offer(&mut picker, &a, 1.0, 5.0);
        offer(&mut picker, &a, 2.0, 7.0); // the same picture, better: replaces
        offer(&mut picker, &a, 3.0, 6.0); // the same picture, worse: ignored
        offer(&mut picker, &pattern(7, 320, 180), 4.0, 4.0);
        let chosen = picker.choose(5, &[]).unwrap();
        let times: Vec<f64> = chosen.iter().map(|c| c.seconds).collect();
        assert_eq!(times, [2.0, 4.0]);
        let sizes: Vec<(u32, u32)> = chosen[0].jpegs.iter().map(|j| (j.0, j.1)).collect();
        assert_eq!(
            sizes,
            [(320, 180), (160, 90)],
            "no size twice, none enlarged"
        );
        assert!(
            chosen[0]
                .jpegs
                .iter()
                .all(|j| j.2.starts_with(&[0xFF, 0xD8]))
        );
    }

    #[test]
    fn frames_in_transitions_are_never_chosen() {
        let mut picker = ThumbnailPicker::default();
        offer(&mut picker, &pattern(1, 64, 36), 2.1, 9.0);
        offer(&mut picker, &pattern(7, 64, 36), 5.0, 8.0);
        offer(&mut picker, &pattern(13, 64, 36), 8.0, 1.0);
        let cut = Transition {
            kind: TransitionKind::Cut,
            frame: 50,
            at_seconds: 2.0,
            span: Segment {
                start_seconds: 2.0,
                end_seconds: 2.0,
            },
            score: 10.0,
        };
        let fade = Transition {
            kind: TransitionKind::Fade,
            frame: 125,
            at_seconds: 5.0,
            span: Segment {
                start_seconds: 4.5,
                end_seconds: 5.5,
            },
            score: 10.0,
        };
        let chosen = picker.choose(5, &[cut, fade]).unwrap();
        assert_eq!(chosen.iter().map(|c| c.seconds).collect::<Vec<_>>(), [8.0]);
    }

    #[test]
    fn black_flat_and_blurred_frames_have_no_appeal() {
        let grey = |f: fn(usize, usize) -> f32| {
            let mut pixels = Vec::new();
            for y in 0..36 {
                for x in 0..64 {
                    pixels.push(f(x, y));
                }
            }
            Grey {
                width: 64,
                height: 36,
                pixels,
            }
        };
        let lively = grey(|x, y| {
            if (x / 4 + y / 4) % 2 == 0 {
                40.0
            } else {
                200.0
            }
        });
        assert!(appeal(&lively, 2000.0).is_some());
        assert!(appeal(&lively, 20.0).is_none(), "blurred");
        assert!(appeal(&grey(|_, _| 5.0), 2000.0).is_none(), "black");
        assert!(appeal(&grey(|_, _| 128.0), 2000.0).is_none(), "flat");
    }
}
