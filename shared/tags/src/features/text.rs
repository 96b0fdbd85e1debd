//! The text block: signed feature hashing (Weinberger et al. 2009) of the metadata's words.
//! Each token lands in bucket `h mod n` with sign `±1` from another bit of the same hash, so
//! colliding tokens cancel on average instead of piling up; the block is then L2-normalised so a
//! long title weighs as much as a short one.

use mvidarr_core::metadata::VideoMetadata;

use crate::hash::stable_hash;

/// The tokens of a media's metadata, each prefixed by its field so `title:love` and
/// `artist:love` are different features: title words and bigrams, artist and director names
/// whole and by word, decade and year, and (when asked) genres whole and by word.
pub fn tokens(metadata: &VideoMetadata, with_genres: bool) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(title) = &metadata.title {
        let words = words(title);
        out.extend(words.iter().map(|w| format!("title:{w}")));
        out.extend(words.windows(2).map(|p| format!("title:{}_{}", p[0], p[1])));
    }
    if let Some(artist) = &metadata.artist_name {
        named(&mut out, "artist", artist);
    }
    for director in &metadata.directors {
        named(&mut out, "director", director);
    }
    if let Some(year) = metadata.year {
        out.push(format!("decade:{}", year / 10 * 10));
        out.push(format!("year:{year}"));
    }
    if with_genres {
        for genre in &metadata.genres {
            named(&mut out, "genre", genre);
        }
    }
    out
}

/// A name as one token (`artist=the invented band`) and as words (`artist:invented`).
fn named(out: &mut Vec<String>, field: &str, name: &str) {
    let words = words(name);
    if words.is_empty() {
        return;
    }
    out.push(format!("{field}={}", words.join(" ")));
    out.extend(words.iter().map(|w| format!("{field}:{w}")));
}

/// Lower-cased words: runs of letters and digits; apostrophes join (`don't` → `dont`).
fn words(text: &str) -> Vec<String> {
    text.to_lowercase()
        .split(|c: char| !(c.is_alphanumeric() || c == '\'' || c == '’'))
        .map(|w| w.replace(['\'', '’'], ""))
        .filter(|w| !w.is_empty())
        .collect()
}

pub(super) fn block(buckets: usize, metadata: &VideoMetadata, with_genres: bool) -> Vec<f32> {
    let mut block = vec![0.0f64; buckets];
    for token in tokens(metadata, with_genres) {
        let h = stable_hash(token.as_bytes());
        let bucket = (h % buckets as u64) as usize;
        let sign = if h >> 63 == 0 { 1.0 } else { -1.0 };
        block[bucket] += sign;
    }
    let norm = block.iter().map(|v| v * v).sum::<f64>().sqrt();
    block
        .into_iter()
        .map(|v| if norm > 0.0 { (v / norm) as f32 } else { 0.0 })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metadata() -> VideoMetadata {
        VideoMetadata {
            title: Some("Don't Stop the Neon!".into()),
            artist_name: Some("The Invented Band".into()),
            year: Some(1987),
            directors: vec!["Ada Example".into()],
            genres: vec!["Synth Pop".into()],
            ..VideoMetadata::default()
        }
    }

    #[test]
    fn tokens_are_lower_cased_words_bigrams_names_and_years() {
        assert_eq!(
            tokens(&metadata(), false),
            [
                "title:dont",
                "title:stop",
                "title:the",
                "title:neon",
                "title:dont_stop",
                "title:stop_the",
                "title:the_neon",
                "artist=the invented band",
                "artist:the",
                "artist:invented",
                "artist:band",
                "director=ada example",
                "director:ada",
                "director:example",
                "decade:1980",
                "year:1987",
            ]
        );
        let with_genres = tokens(&metadata(), true);
        assert!(with_genres.ends_with(&[
            "genre=synth pop".to_owned(),
            "genre:synth".to_owned(),
            "genre:pop".to_owned()
        ]));
    }

    #[test]
    fn the_block_is_unit_length_and_stable_across_runs() {
        let block = block(512, &metadata(), false);
        let norm: f64 = block.iter().map(|&v| f64::from(v).powi(2)).sum();
        assert!((norm - 1.0).abs() < 1e-6);
        // Golden: where the tokens land (and with which sign) may never change silently: every
        // trained head depends on it. Bump FEATURE_FORMAT if it must.
        let nonzero: Vec<(usize, i32)> = block
            .iter()
            .enumerate()
            .filter(|(_, v)| **v != 0.0)
            .map(|(i, v)| (i, (v * 1000.0).round() as i32))
            .collect();
        assert_eq!(
            nonzero,
            [
                (6, 250),
                (14, 250),
                (29, -250),
                (36, 250),
                (46, -250),
                (66, 250),
                (72, -250),
                (134, -250),
                (170, -250),
                (230, -250),
                (321, 250),
                (332, 250),
                (372, 250),
                (392, -250),
                (450, 250),
                (492, 250)
            ]
        );
    }

    #[test]
    fn empty_metadata_gives_a_zero_block() {
        assert!(
            block(64, &VideoMetadata::default(), true)
                .iter()
                .all(|&v| v == 0.0)
        );
    }
}
