//! Text in the PDF standard fonts: encoding to WinAnsi bytes (the encoding those fonts carry
//! without an embedded font), measuring with Helvetica's published widths, and fitting text into
//! a width by truncating or wrapping.

use pdf_writer::Name;

use super::metrics::{HELVETICA, HELVETICA_BOLD};

/// The two faces the PDF uses; both are standard fonts every PDF reader has built in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Font {
    Regular,
    Bold,
}

impl Font {
    pub const ALL: [Font; 2] = [Font::Regular, Font::Bold];

    /// The font's name in each page's resources.
    pub fn resource(self) -> Name<'static> {
        match self {
            Font::Regular => Name(b"F1"),
            Font::Bold => Name(b"F2"),
        }
    }

    pub fn base_font(self) -> Name<'static> {
        match self {
            Font::Regular => Name(b"Helvetica"),
            Font::Bold => Name(b"Helvetica-Bold"),
        }
    }

    fn widths(self) -> &'static [u16; 256] {
        match self {
            Font::Regular => &HELVETICA,
            Font::Bold => &HELVETICA_BOLD,
        }
    }

    /// Widths of codes `first..=255` in 1/1000 em, for the font dictionary: since PDF 1.5 a
    /// writer is to describe even a standard font fully, and a reader that substitutes another
    /// face then keeps our layout.
    pub fn widths_from(self, first: u8) -> impl Iterator<Item = f32> {
        self.widths()[usize::from(first)..]
            .iter()
            .map(|&w| f32::from(w))
    }

    /// Bounding box and dominant vertical stem width from the AFM files, in 1/1000 em.
    pub fn bbox_and_stem(self) -> ([f32; 4], f32) {
        match self {
            Font::Regular => ([-166.0, -225.0, 1000.0, 931.0], 88.0),
            Font::Bold => ([-170.0, -228.0, 1003.0, 962.0], 140.0),
        }
    }

    /// Width in points of WinAnsi-encoded `text` at `size` points.
    pub fn width(self, text: &[u8], size: f32) -> f32 {
        let widths = self.widths();
        let units: u32 = text
            .iter()
            .map(|&b| u32::from(widths[usize::from(b)]))
            .sum();
        units as f32 * size / 1000.0
    }
}

/// Helvetica's ascender and descender (the cap height is the ascender), in em: where a line's
/// ink sits around its baseline. The same in both weights.
pub(crate) const ASCENT: f32 = 0.718;
pub(crate) const DESCENT: f32 = 0.207;

const ELLIPSIS: u8 = 0x85;

/// `text` in WinAnsiEncoding. Characters the standard fonts lack are transliterated to ASCII
/// (`東京` → `Dong Jing`) rather than dropped, so a name stays recognisable; control characters
/// become spaces.
pub(crate) fn encode(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    // Transliterated characters are words of their own ("no", "Ye"): keep them apart.
    let mut after_transliteration = false;
    for c in text.chars() {
        if let Some(byte) = win_ansi(c) {
            out.push(byte);
            after_transliteration = false;
        } else if c.is_control() || c.is_whitespace() {
            out.push(b' ');
            after_transliteration = false;
        } else {
            let ascii = deunicode::deunicode_char(c).unwrap_or("?").trim();
            if ascii.is_empty() {
                continue;
            }
            if after_transliteration && out.last().is_some_and(|b| *b != b' ') {
                out.push(b' ');
            }
            out.extend(ascii.bytes().filter(|b| (0x20..0x7f).contains(b)));
            after_transliteration = true;
        }
    }
    out
}

/// The WinAnsi code of `c`, if the standard fonts have it.
fn win_ansi(c: char) -> Option<u8> {
    let code = u32::from(c);
    match code {
        0x20..=0x7e | 0xa1..=0xff => u8::try_from(code).ok(),
        0xa0 => Some(b' '),
        _ => Some(match c {
            '\u{20ac}' => 0x80,
            '\u{201a}' => 0x82,
            '\u{0192}' => 0x83,
            '\u{201e}' => 0x84,
            '\u{2026}' => 0x85,
            '\u{2020}' => 0x86,
            '\u{2021}' => 0x87,
            '\u{02c6}' => 0x88,
            '\u{2030}' => 0x89,
            '\u{0160}' => 0x8a,
            '\u{2039}' => 0x8b,
            '\u{0152}' => 0x8c,
            '\u{017d}' => 0x8e,
            '\u{2018}' => 0x91,
            '\u{2019}' => 0x92,
            '\u{201c}' => 0x93,
            '\u{201d}' => 0x94,
            '\u{2022}' => 0x95,
            '\u{2013}' => 0x96,
            '\u{2014}' => 0x97,
            '\u{02dc}' => 0x98,
            '\u{2122}' => 0x99,
            '\u{0161}' => 0x9a,
            '\u{203a}' => 0x9b,
            '\u{0153}' => 0x9c,
            '\u{017e}' => 0x9e,
            '\u{0178}' => 0x9f,
            _ => return None,
        }),
    }
}

/// `text` cut to fit `max_width` points, ending in an ellipsis when cut.
pub(crate) fn truncate(font: Font, text: &[u8], size: f32, max_width: f32) -> Vec<u8> {
    if font.width(text, size) <= max_width {
        return text.to_vec();
    }
    let ellipsis = font.width(&[ELLIPSIS], size);
    let mut used = 0.0;
    let mut kept = Vec::with_capacity(text.len());
    for &byte in text {
        let w = font.width(&[byte], size);
        if used + w + ellipsis > max_width {
            break;
        }
        used += w;
        kept.push(byte);
    }
    while kept.last() == Some(&b' ') {
        kept.pop();
    }
    kept.push(ELLIPSIS);
    kept
}

/// `text` broken at spaces into lines of at most `max_width` points; a word longer than a line
/// is truncated. At most `max_lines` lines: the last one ends in an ellipsis if text remains.
pub(crate) fn wrap(
    font: Font,
    text: &[u8],
    size: f32,
    max_width: f32,
    max_lines: usize,
) -> Vec<Vec<u8>> {
    let mut lines: Vec<Vec<u8>> = Vec::new();
    let mut current: Vec<u8> = Vec::new();
    let words = text.split(|&b| b == b' ').filter(|w| !w.is_empty());
    for word in words {
        let mut candidate = current.clone();
        if !candidate.is_empty() {
            candidate.push(b' ');
        }
        candidate.extend_from_slice(word);
        if font.width(&candidate, size) <= max_width || current.is_empty() {
            current = candidate;
        } else {
            lines.push(std::mem::take(&mut current));
            current = word.to_vec();
        }
    }
    if !current.is_empty() {
        lines.push(current);
    }
    if lines.len() > max_lines {
        let rest = lines.split_off(max_lines.saturating_sub(1));
        let last = rest.join(&b' ');
        lines.push(truncate(font, &last, size, max_width));
    }
    lines
        .into_iter()
        .map(|line| truncate(font, &line, size, max_width))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_and_latin1_encode_as_is() {
        assert_eq!(encode("Plays 42"), b"Plays 42");
        assert_eq!(encode("Café"), b"Caf\xe9");
    }

    #[test]
    fn windows_1252_punctuation_maps_to_its_codes() {
        assert_eq!(encode("a\u{2013}b\u{2026}\u{20ac}"), b"a\x96b\x85\x80");
    }

    #[test]
    fn other_scripts_are_transliterated_and_controls_become_spaces() {
        assert_eq!(encode("東京の夜 city"), b"Dong Jing no Ye city");
        assert_eq!(encode("a\tb\nc"), b"a b c");
    }

    #[test]
    fn widths_follow_helvetica_metrics() {
        // "Hi": H 722 + i 222 in Helvetica, H 722 + i 278 in bold.
        assert!((Font::Regular.width(b"Hi", 10.0) - 9.44).abs() < 1e-4);
        assert!((Font::Bold.width(b"Hi", 10.0) - 10.0).abs() < 1e-4);
    }

    #[test]
    fn truncation_fits_and_marks_the_cut() {
        let text = encode("A very long media title that does not fit");
        let cut = truncate(Font::Regular, &text, 9.0, 60.0);
        assert!(Font::Regular.width(&cut, 9.0) <= 60.0);
        assert_eq!(cut.last(), Some(&ELLIPSIS));
        assert_eq!(truncate(Font::Regular, b"short", 9.0, 60.0), b"short");
    }

    #[test]
    fn wrapping_breaks_at_spaces_and_caps_the_lines() {
        let text = b"Average watch time per play";
        let lines = wrap(Font::Bold, text, 8.0, 60.0, 2);
        assert_eq!(
            lines,
            vec![b"Average watch".to_vec(), b"time per play".to_vec()]
        );
        let one = wrap(Font::Bold, text, 8.0, 60.0, 1);
        assert_eq!(one.len(), 1);
        assert!(Font::Bold.width(&one[0], 8.0) <= 60.0);
        assert_eq!(one[0].last(), Some(&ELLIPSIS));
        assert_eq!(
            wrap(Font::Bold, b"Plays", 8.0, 60.0, 2),
            vec![b"Plays".to_vec()]
        );
    }
}
