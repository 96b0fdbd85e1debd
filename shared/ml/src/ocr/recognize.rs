//! Text recognition: RapidOCR's `get_rotate_crop_image`, `TextRecognizer` (batches sorted by
//! aspect ratio, height 48, width of the widest crop in the batch but at least 320, padding of
//! zeros, i.e. mid-grey after normalisation)
//! and `CTCLabelDecode` (greedy, repeats merged, blank dropped).

use image::RgbImage;
use imageproc::geometric_transformations::{Border, Interpolation, Projection, warp_into};
use ort::session::Session;
use ort::value::TensorRef;

use super::resample::resize_normalized_bgr;
use super::{OcrError, Quad, TextBox, TextLine, inference_error};

const MODEL: &str = "ppocr-rec-v4";
/// `rec_img_shape: [3, 48, 320]`.
const HEIGHT: usize = 48;
const MIN_WIDTH: usize = 320;

/// The CTC classes: blank, the model's `character` metadata one per line, then a space.
pub(crate) struct Dictionary {
    classes: Vec<String>,
}

impl Dictionary {
    pub(crate) fn from_session(session: &Session) -> Result<Dictionary, OcrError> {
        let metadata = session
            .metadata()
            .map_err(|e| OcrError::Dictionary(e.to_string()))?;
        let text = metadata
            .custom("character")
            .ok_or_else(|| OcrError::Dictionary("no `character` key".into()))?;
        let dictionary = Dictionary::from_lines(&text);
        if dictionary.len() <= 2 {
            return Err(OcrError::Dictionary("the `character` list is empty".into()));
        }
        Ok(dictionary)
    }

    /// As RapidOCR builds it: Python's `str.splitlines()`, then blank first and space last.
    pub(crate) fn from_lines(text: &str) -> Dictionary {
        let mut classes = vec![String::new()];
        classes.extend(python_splitlines(text).map(str::to_owned));
        classes.push(" ".to_owned());
        Dictionary { classes }
    }

    pub(crate) fn len(&self) -> usize {
        self.classes.len()
    }

    /// Greedy CTC over `steps × classes` probabilities: the text and the mean probability of
    /// the characters kept (0 when none is).
    pub(crate) fn decode(&self, probs: &[f32]) -> (String, f32) {
        let classes = self.classes.len();
        let mut text = String::new();
        let (mut sum, mut kept) = (0.0f32, 0usize);
        let mut previous = None;
        for step in probs.chunks_exact(classes) {
            // numpy's argmax: the first index of the maximum.
            let (best, p) =
                step.iter()
                    .copied()
                    .enumerate()
                    .fold(
                        (0, f32::NEG_INFINITY),
                        |acc, (i, p)| if p > acc.1 { (i, p) } else { acc },
                    );
            if best != 0 && previous != Some(best) {
                text.push_str(&self.classes[best]);
                sum += p;
                kept += 1;
            }
            previous = Some(best);
        }
        let confidence = if kept == 0 { 0.0 } else { sum / kept as f32 };
        (text, confidence)
    }
}

/// Python's `str.splitlines()`: the line boundaries it knows, `\r\n` as one, no final empty line.
fn python_splitlines(text: &str) -> impl Iterator<Item = &str> {
    let is_break = |c: char| {
        matches!(
            c,
            '\n' | '\r'
                | '\u{0b}'
                | '\u{0c}'
                | '\u{1c}'
                | '\u{1d}'
                | '\u{1e}'
                | '\u{85}'
                | '\u{2028}'
                | '\u{2029}'
        )
    };
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        match rest.char_indices().find(|&(_, c)| is_break(c)) {
            None => Some(std::mem::take(&mut rest)),
            Some((i, c)) => {
                let line = &rest[..i];
                let skip = if rest[i..].starts_with("\r\n") {
                    2
                } else {
                    c.len_utf8()
                };
                rest = &rest[i + skip..];
                Some(line)
            }
        }
    })
}

/// `get_rotate_crop_image`: the quad warped to an upright `width × height` image (the longer of
/// each pair of opposite sides, truncated), bicubic with replicated borders; turned a quarter
/// anticlockwise when it comes out at least 1.5 times taller than wide (vertical text).
pub(crate) fn crop(frame: &RgbImage, quad: &Quad) -> RgbImage {
    let p = quad.0;
    let dist = |a: [f32; 2], b: [f32; 2]| (a[0] - b[0]).hypot(a[1] - b[1]);
    let w = dist(p[0], p[1]).max(dist(p[2], p[3])).trunc().max(1.0);
    let h = dist(p[0], p[3]).max(dist(p[1], p[2])).trunc().max(1.0);
    let target = [(0.0, 0.0), (w, 0.0), (w, h), (0.0, h)];
    let mut out = RgbImage::new(w as u32, h as u32);
    match Projection::from_control_points(p.map(|[x, y]| (x, y)), target) {
        Some(projection) => warp_into(
            frame,
            projection,
            Interpolation::Bicubic,
            Border::Replicate,
            &mut out,
        ),
        // Degenerate quad (corners collinear): fall back to its axis-aligned bounds.
        None => {
            let [x0, y0, x1, y1] = quad.bounds();
            let (x0, y0) = (x0.max(0.0) as u32, y0.max(0.0) as u32);
            let bounds = image::imageops::crop_imm(
                frame,
                x0,
                y0,
                (x1 as u32).saturating_sub(x0).max(1),
                (y1 as u32).saturating_sub(y0).max(1),
            );
            out = bounds.to_image();
        }
    }
    if out.height() as f32 / out.width() as f32 >= 1.5 {
        imageproc::geometric_transformations::rotate270(&out)
    } else {
        out
    }
}

pub(crate) fn recognize(
    session: &mut Session,
    dictionary: &Dictionary,
    frame: &RgbImage,
    boxes: &[TextBox],
    batch: usize,
) -> Result<Vec<TextLine>, OcrError> {
    let crops: Vec<RgbImage> = boxes.iter().map(|b| crop(frame, &b.quad)).collect();
    let ratios: Vec<f64> = crops
        .iter()
        .map(|c| f64::from(c.width()) / f64::from(c.height()))
        .collect();
    // RapidOCR's batching: by aspect ratio, so that a batch holds similar widths.
    let mut order: Vec<usize> = (0..crops.len()).collect();
    order.sort_by(|&a, &b| ratios[a].total_cmp(&ratios[b]));
    let mut decoded: Vec<(String, f32)> = vec![(String::new(), 0.0); crops.len()];
    for chunk in order.chunks(batch.max(1)) {
        let max_ratio = chunk
            .iter()
            .map(|&i| ratios[i])
            .fold(MIN_WIDTH as f64 / HEIGHT as f64, f64::max);
        let width = (HEIGHT as f64 * max_ratio) as usize;
        let per_image = 3 * HEIGHT * width;
        let mut input = vec![0.0f32; chunk.len() * per_image];
        for (slot, &i) in chunk.iter().enumerate() {
            let resized = ((HEIGHT as f64 * ratios[i]).ceil() as usize).clamp(1, width);
            resize_normalized_bgr(
                &crops[i],
                resized,
                HEIGHT,
                &mut input[slot * per_image..(slot + 1) * per_image],
                width,
            );
        }
        let tensor = TensorRef::from_array_view(([chunk.len(), 3, HEIGHT, width], &input[..]))
            .map_err(inference_error(MODEL))?;
        let outputs = session
            .run(ort::inputs![tensor])
            .map_err(inference_error(MODEL))?;
        let (shape, probs) = outputs[0]
            .try_extract_tensor::<f32>()
            .map_err(inference_error(MODEL))?;
        let [n, steps, classes] = shape[..] else {
            return Err(OcrError::Output {
                model: MODEL,
                detail: format!("output of shape {shape:?}"),
            });
        };
        if n as usize != chunk.len() || classes as usize != dictionary.len() {
            return Err(OcrError::Output {
                model: MODEL,
                detail: format!(
                    "output of shape {shape:?} for {} crops and a dictionary of {} classes",
                    chunk.len(),
                    dictionary.len()
                ),
            });
        }
        let per_crop = (steps * classes) as usize;
        for (slot, &i) in chunk.iter().enumerate() {
            decoded[i] = dictionary.decode(&probs[slot * per_crop..(slot + 1) * per_crop]);
        }
    }
    Ok(boxes
        .iter()
        .zip(decoded)
        .map(|(b, (text, confidence))| TextLine {
            text,
            confidence,
            quad: b.quad,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dictionary_puts_blank_first_and_space_last() {
        let d = Dictionary::from_lines("a\nb\r\nc\n");
        assert_eq!(d.classes, ["", "a", "b", "c", " "]);
    }

    #[test]
    fn ctc_merges_repeats_and_drops_blanks() {
        let d = Dictionary::from_lines("a\nb");
        // classes: blank, a, b, space. Steps: a a blank a b space blank.
        let steps: [usize; 7] = [1, 1, 0, 1, 2, 3, 0];
        let probs: Vec<f32> = steps
            .iter()
            .flat_map(|&k| (0..4).map(move |c| if c == k { 0.8 } else { 0.05 }))
            .collect();
        let (text, confidence) = d.decode(&probs);
        assert_eq!(text, "aab ");
        assert!((confidence - 0.8).abs() < 1e-6);
    }

    #[test]
    fn nothing_decoded_has_zero_confidence() {
        let d = Dictionary::from_lines("a");
        let (text, confidence) = d.decode(&[0.9, 0.1, 0.0, 0.9, 0.1, 0.0]);
        assert_eq!((text.as_str(), confidence), ("", 0.0));
    }

    #[test]
    fn crop_straightens_the_quad_and_turns_vertical_strips() {
        let frame = RgbImage::from_fn(100, 100, |x, _| image::Rgb([x as u8, 0, 0]));
        let quad = Quad([[10.0, 20.0], [60.0, 20.0], [60.0, 30.0], [10.0, 30.0]]);
        let c = crop(&frame, &quad);
        assert_eq!(c.dimensions(), (50, 10));
        assert_eq!(c.get_pixel(0, 5)[0], 10);
        assert_eq!(c.get_pixel(25, 5)[0], 35);
        let tall = Quad([[10.0, 10.0], [20.0, 10.0], [20.0, 60.0], [10.0, 60.0]]);
        assert_eq!(crop(&frame, &tall).dimensions(), (50, 10));
    }
}
