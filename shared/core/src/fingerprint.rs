//! Fingerprints: what makes a re-upload, a re-encode or another cut of the same video
//! recognisable. Two parts, each robust to what re-encoding does and each comparable in parts
//! (a cut shares only some of them):
//!
//! - **pictures**: a 64-bit difference hash of each sampled frame (a few per second). Scaling,
//!   bit rate and codec change a frame's hash by a few bits; another picture differs by ~32.
//! - **audio**: chromaprint's items (one 32-bit value per ~0.124 s of sound), compared at the
//!   alignment their exact matches vote for, as AcoustID does.
//!
//! Similarity is the share of the *shorter* media found in the other (an overlap coefficient),
//! so a 30-second excerpt of a 3-minute video scores as high as a re-upload; [`Relation`] says
//! which of the two it is. Candidates are found through [`Fingerprint::index_keys`]: exact
//! 16-bit bands of a few representative picture hashes (two hashes within 3 bits share a band
//! by the pigeonhole principle) and a content-chosen sample of the audio items' high bits.

use std::collections::{HashMap, HashSet};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};

/// Two picture hashes this close (bits of 64) show the same picture.
pub const PICTURE_NEAR_BITS: u32 = 10;
/// Two audio items this close (bits of 32) are the same sound, at an aligned offset.
pub const AUDIO_NEAR_BITS: u32 = 7;
/// Pictures indexed per media: enough representatives that a cut still shares some.
const PICTURE_KEYS: usize = 48;
/// Representatives differ from each other by more than this (bits).
const REPRESENTATIVE_APART_BITS: u32 = 12;
/// Audio keys indexed per media.
const AUDIO_KEYS: usize = 64;

/// A media's fingerprint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(into = "Wire", try_from = "Wire")]
pub struct Fingerprint {
    /// Sampled pictures per second.
    pub picture_rate: f64,
    /// One difference hash per sampled picture, in time order; `0` for a picture with
    /// nothing to recognise (black or flat), which never matches.
    pub pictures: Vec<u64>,
    /// Seconds per audio item.
    pub audio_item_seconds: f64,
    /// Chromaprint's raw items, in time order; empty without audio.
    pub audio: Vec<u32>,
}

impl Fingerprint {
    /// The fingerprint format's version: bump when hashes or items change meaning (index keys
    /// carry it, so old and new never meet).
    pub const VERSION: u32 = 1;

    /// Keys under which this media is indexed and looked up: a few representative pictures'
    /// 16-bit bands and a content-chosen sample of audio items' high 16 bits.
    pub fn index_keys(&self) -> Vec<String> {
        let mut keys = Vec::new();
        let mut seen = HashSet::new();
        for hash in representatives(&self.pictures) {
            for band in 0..4 {
                let bits = (hash >> (16 * band)) & 0xffff;
                // Flat halves of a picture (bars, sky) make all-equal bands: too common to tell.
                if bits == 0 || bits == 0xffff {
                    continue;
                }
                let key = format!("v{}/p{band}/{bits:04x}", Self::VERSION);
                if seen.insert(key.clone()) {
                    keys.push(key);
                }
            }
        }
        for high in audio_keys(&self.audio) {
            keys.push(format!("v{}/a/{high:04x}", Self::VERSION));
        }
        keys
    }

    /// How much of `self` and `other` is the same material.
    pub fn similarity(&self, other: &Fingerprint) -> Similarity {
        let pictures = picture_overlap(&self.pictures, &other.pictures);
        let audio = audio_overlap(&self.audio, &other.audio);
        let parts: Vec<f64> = [pictures, audio]
            .iter()
            .flatten()
            .map(Overlap::score)
            .collect();
        let score = if parts.is_empty() {
            0.0
        } else {
            parts.iter().sum::<f64>() / parts.len() as f64
        };
        let shares = [pictures, audio]
            .into_iter()
            .flatten()
            .fold((0.0, 0.0), |(a, b), o| (a + o.of_this, b + o.of_other));
        let count = parts.len().max(1) as f64;
        Similarity {
            score,
            relation: Relation::of(shares.0 / count, shares.1 / count),
            pictures,
            audio,
        }
    }

    /// Duration covered, in seconds (the longer of the two parts).
    pub fn seconds(&self) -> f64 {
        let pictures = if self.picture_rate > 0.0 {
            self.pictures.len() as f64 / self.picture_rate
        } else {
            0.0
        };
        pictures.max(self.audio.len() as f64 * self.audio_item_seconds)
    }
}

/// How much two media share.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Similarity {
    /// 0–1: the share of the shorter media found in the other, averaged over the parts both
    /// have (pictures, audio).
    pub score: f64,
    pub relation: Relation,
    /// `None` when either media has no recognisable pictures.
    pub pictures: Option<Overlap>,
    /// `None` when either media has no audio.
    pub audio: Option<Overlap>,
}

/// One part's overlap.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Overlap {
    /// Share of this media's material found in the other.
    pub of_this: f64,
    /// Share of the other media's material found in this one.
    pub of_other: f64,
}

impl Overlap {
    /// The overlap coefficient: the share of the shorter one found in the other.
    pub fn score(&self) -> f64 {
        self.of_this.max(self.of_other)
    }
}

/// What the other media is to this one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Relation {
    /// Nearly all of each is in the other: a re-upload or re-encode.
    Same,
    /// Nearly all of the other is in this one: the other is an excerpt or shorter cut.
    Contains,
    /// Nearly all of this one is in the other.
    PartOf,
    /// They share some material.
    Overlaps,
}

impl Relation {
    /// Shares at or above this are "nearly all".
    const NEARLY_ALL: f64 = 0.8;

    fn of(of_this: f64, of_other: f64) -> Relation {
        match (of_this >= Self::NEARLY_ALL, of_other >= Self::NEARLY_ALL) {
            (true, true) => Relation::Same,
            (false, true) => Relation::Contains,
            (true, false) => Relation::PartOf,
            (false, false) => Relation::Overlaps,
        }
    }
}

/// Greedy in time order: a picture becomes a representative when it is far from every one
/// chosen before, so each distinct-looking stretch (roughly, each shot) gives one.
fn representatives(pictures: &[u64]) -> Vec<u64> {
    let mut chosen: Vec<u64> = Vec::new();
    for &hash in pictures.iter().filter(|h| **h != 0) {
        if chosen
            .iter()
            .all(|c| (c ^ hash).count_ones() > REPRESENTATIVE_APART_BITS)
        {
            chosen.push(hash);
            if chosen.len() == PICTURE_KEYS {
                break;
            }
        }
    }
    chosen
}

/// A stable pseudo-random rank for a key: which audio keys are sampled depends only on the
/// key, so two copies of the same sound sample the same keys.
fn mix(key: u32) -> u32 {
    let mut x = key.wrapping_mul(0x9e37_79b1);
    x ^= x >> 15;
    x = x.wrapping_mul(0x85eb_ca77);
    x ^ (x >> 13)
}

/// The high 16 bits of audio items, the `AUDIO_KEYS` lowest-ranked of those that are not
/// everywhere (a steady tone repeats one value through the whole file).
fn audio_keys(audio: &[u32]) -> Vec<u16> {
    let mut counts: HashMap<u16, usize> = HashMap::new();
    for item in audio {
        *counts.entry((item >> 16) as u16).or_default() += 1;
    }
    let common = (audio.len() / 20).max(8);
    let mut keys: Vec<u16> = counts
        .into_iter()
        .filter(|(_, n)| *n <= common)
        .map(|(k, _)| k)
        .collect();
    keys.sort_by_key(|k| mix(u32::from(*k)));
    keys.truncate(AUDIO_KEYS);
    keys
}

fn picture_overlap(a: &[u64], b: &[u64]) -> Option<Overlap> {
    let a: Vec<u64> = a.iter().copied().filter(|h| *h != 0).collect();
    let b: Vec<u64> = b.iter().copied().filter(|h| *h != 0).collect();
    if a.is_empty() || b.is_empty() {
        return None;
    }
    let found_in = |from: &[u64], to: &[u64]| {
        from.iter()
            .filter(|x| {
                to.iter()
                    .any(|y| (*x ^ y).count_ones() <= PICTURE_NEAR_BITS)
            })
            .count() as f64
            / from.len() as f64
    };
    Some(Overlap {
        of_this: found_in(&a, &b),
        of_other: found_in(&b, &a),
    })
}

/// Offsets tried: the most-voted ones (and their neighbours: two encoders' items may start a
/// fraction of an item apart).
const AUDIO_OFFSETS: usize = 4;
/// A key seen more often than this in one file says nothing about alignment.
const AUDIO_KEY_POSITIONS: usize = 16;

fn audio_overlap(a: &[u32], b: &[u32]) -> Option<Overlap> {
    if a.is_empty() || b.is_empty() {
        return None;
    }
    let mut positions: HashMap<u16, Vec<usize>> = HashMap::new();
    for (j, item) in b.iter().enumerate() {
        positions.entry((item >> 16) as u16).or_default().push(j);
    }
    let mut votes: HashMap<isize, u32> = HashMap::new();
    for (i, item) in a.iter().enumerate() {
        match positions.get(&((item >> 16) as u16)) {
            Some(js) if js.len() <= AUDIO_KEY_POSITIONS => {
                for &j in js {
                    *votes.entry(j as isize - i as isize).or_default() += 1;
                }
            }
            _ => {}
        }
    }
    let mut ranked: Vec<(isize, u32)> = votes.into_iter().filter(|(_, v)| *v >= 2).collect();
    ranked.sort_by(|x, y| y.1.cmp(&x.1).then(x.0.cmp(&y.0)));
    // Offset 0 always: a re-encode starts where the original does, and sound made of
    // repeating items (a steady tone, a drone) has no informative key to vote with.
    ranked.truncate(AUDIO_OFFSETS);
    ranked.push((0, 0));
    let mut matched_a = vec![false; a.len()];
    let mut matched_b = vec![false; b.len()];
    let mut tried = HashSet::new();
    for &(offset, _) in &ranked {
        for offset in offset - 1..=offset + 1 {
            if !tried.insert(offset) {
                continue;
            }
            for (i, item) in a.iter().enumerate() {
                let j = i as isize + offset;
                if j < 0 || j as usize >= b.len() {
                    continue;
                }
                if (item ^ b[j as usize]).count_ones() <= AUDIO_NEAR_BITS {
                    matched_a[i] = true;
                    matched_b[j as usize] = true;
                }
            }
        }
    }
    let share = |m: &[bool]| m.iter().filter(|x| **x).count() as f64 / m.len() as f64;
    Some(Overlap {
        of_this: share(&matched_a),
        of_other: share(&matched_b),
    })
}

/// The stored form: the hashes as little-endian bytes in base64 (a third of the size of JSON
/// numbers, and u64s survive readers that parse numbers as doubles).
#[derive(Serialize, Deserialize)]
struct Wire {
    version: u32,
    picture_rate: f64,
    pictures: String,
    audio_item_seconds: f64,
    audio: String,
}

impl From<Fingerprint> for Wire {
    fn from(f: Fingerprint) -> Wire {
        let pictures: Vec<u8> = f.pictures.iter().flat_map(|h| h.to_le_bytes()).collect();
        let audio: Vec<u8> = f.audio.iter().flat_map(|h| h.to_le_bytes()).collect();
        Wire {
            version: Fingerprint::VERSION,
            picture_rate: f.picture_rate,
            pictures: BASE64.encode(pictures),
            audio_item_seconds: f.audio_item_seconds,
            audio: BASE64.encode(audio),
        }
    }
}

impl TryFrom<Wire> for Fingerprint {
    type Error = String;

    fn try_from(w: Wire) -> Result<Fingerprint, String> {
        if w.version != Fingerprint::VERSION {
            return Err(format!(
                "fingerprint format {} (this build reads {})",
                w.version,
                Fingerprint::VERSION
            ));
        }
        let pictures = BASE64
            .decode(&w.pictures)
            .map_err(|e| format!("pictures: {e}"))?;
        let audio = BASE64.decode(&w.audio).map_err(|e| format!("audio: {e}"))?;
        if pictures.len() % 8 != 0 || audio.len() % 4 != 0 {
            return Err("fingerprint data is cut short".into());
        }
        Ok(Fingerprint {
            picture_rate: w.picture_rate,
            pictures: pictures
                .chunks_exact(8)
                .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")))
                .collect(),
            audio_item_seconds: w.audio_item_seconds,
            audio: audio
                .chunks_exact(4)
                .map(|c| u32::from_le_bytes(c.try_into().expect("4 bytes")))
                .collect(),
        })
    }
}

/// The `fingerprint` analysis document: a summary; the fingerprint itself is a blob (an hour
/// of video is ~200 KB, too big for a table item).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FingerprintSummary {
    /// Blob key of the stored [`Fingerprint`] (JSON).
    pub key: String,
    pub seconds: f64,
    pub pictures: usize,
    /// Pictures with something to recognise.
    pub recognisable_pictures: usize,
    pub audio_items: usize,
    /// Index keys the media is filed under.
    pub index_keys: usize,
}

impl FingerprintSummary {
    /// The document's version.
    pub const VERSION: u32 = Fingerprint::VERSION;

    /// The summary of `fingerprint`, stored at `key` and filed under `index_keys` keys.
    pub fn of(fingerprint: &Fingerprint, key: String, index_keys: usize) -> FingerprintSummary {
        FingerprintSummary {
            key,
            seconds: fingerprint.seconds(),
            pictures: fingerprint.pictures.len(),
            recognisable_pictures: fingerprint.pictures.iter().filter(|h| **h != 0).count(),
            audio_items: fingerprint.audio.len(),
            index_keys,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic stream of pseudo-random values.
    fn noise(seed: u64, n: usize) -> Vec<u64> {
        let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x
            })
            .collect()
    }

    /// Flip `bits` pseudo-random bits of each value, as re-encoding does.
    fn damaged<
        T: Copy + std::ops::BitXor<Output = T> + From<u8> + std::ops::Shl<u32, Output = T>,
    >(
        values: &[T],
        width: u32,
        bits: usize,
        seed: u64,
    ) -> Vec<T> {
        let flips = noise(seed, values.len() * bits);
        values
            .iter()
            .enumerate()
            .map(|(i, v)| {
                (0..bits).fold(*v, |v, b| {
                    v ^ (T::from(1u8) << (flips[i * bits + b] % u64::from(width)) as u32)
                })
            })
            .collect()
    }

    /// A video: 2 pictures a second (each "shot" of 4 s repeats a picture, slightly changing),
    /// and 8 audio items a second.
    fn video(seed: u64, seconds: usize) -> Fingerprint {
        let shots = noise(seed, seconds / 4 + 1);
        let pictures: Vec<u64> = (0..seconds * 2)
            .map(|i| shots[i / 8] ^ (1u64 << (i % 8)))
            .collect();
        let audio = noise(seed ^ 0xa0d1, seconds * 8)
            .into_iter()
            .map(|v| v as u32)
            .collect();
        Fingerprint {
            picture_rate: 2.0,
            pictures,
            audio_item_seconds: 0.125,
            audio,
        }
    }

    #[test]
    fn a_reencode_is_the_same_and_another_video_is_not() {
        let original = video(1, 180);
        let reencoded = Fingerprint {
            pictures: damaged(&original.pictures, 64, 4, 7),
            // Items start one item later and 2 bits in 32 flip.
            audio: damaged(&original.audio[1..], 32, 2, 8),
            ..original.clone()
        };
        let same = original.similarity(&reencoded);
        assert!(same.score > 0.95, "{same:?}");
        assert_eq!(same.relation, Relation::Same);

        let other = original.similarity(&video(2, 180));
        assert!(other.score < 0.05, "{other:?}");
        assert_eq!(other.relation, Relation::Overlaps);
    }

    #[test]
    fn an_excerpt_is_contained_and_shares_index_keys() {
        let full = video(3, 180);
        // 40 s from 60 s on.
        let excerpt = Fingerprint {
            pictures: damaged(&full.pictures[120..200], 64, 3, 9),
            audio: damaged(&full.audio[480..800], 32, 1, 10),
            ..full.clone()
        };
        let s = full.similarity(&excerpt);
        assert!(s.score > 0.9, "{s:?}");
        assert_eq!(s.relation, Relation::Contains);
        assert_eq!(excerpt.similarity(&full).relation, Relation::PartOf);

        let keys: HashSet<String> = full.index_keys().into_iter().collect();
        let shared = excerpt
            .index_keys()
            .iter()
            .filter(|k| keys.contains(*k))
            .count();
        assert!(shared >= 4, "only {shared} shared keys");
        let unrelated = video(4, 180)
            .index_keys()
            .iter()
            .filter(|k| keys.contains(*k))
            .count();
        assert!(
            unrelated <= 2,
            "{unrelated} keys shared with an unrelated video"
        );
    }

    #[test]
    fn flat_pictures_and_steady_tones_are_not_indexed_nor_matched() {
        let flat = Fingerprint {
            picture_rate: 2.0,
            pictures: vec![0; 100],
            audio_item_seconds: 0.125,
            audio: vec![0x1234_5678; 800],
        };
        assert!(flat.index_keys().is_empty());
        let s = flat.similarity(&flat.clone());
        assert_eq!(s.pictures, None);
        // The same steady tone is the same sound: audio matches, though nothing indexes it.
        assert_eq!(
            s.audio,
            Some(Overlap {
                of_this: 1.0,
                of_other: 1.0
            })
        );
        assert_eq!(s.relation, Relation::Same);
    }

    #[test]
    fn media_without_audio_are_compared_by_pictures_alone() {
        let silent = Fingerprint {
            audio: Vec::new(),
            ..video(5, 60)
        };
        let s = silent.similarity(&video(5, 60));
        assert_eq!(s.audio, None);
        assert!(s.score > 0.99);
    }

    #[test]
    fn the_stored_form_reads_back_and_refuses_other_versions() {
        let f = video(6, 30);
        let json = serde_json::to_string(&f).unwrap();
        assert_eq!(serde_json::from_str::<Fingerprint>(&json).unwrap(), f);
        let mut value: serde_json::Value = serde_json::from_str(&json).unwrap();
        value["version"] = 99.into();
        let error = serde_json::from_value::<Fingerprint>(value).unwrap_err();
        assert!(
            error.to_string().contains("fingerprint format 99"),
            "{error}"
        );
    }
}
