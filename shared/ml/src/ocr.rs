//! On-screen text: PP-OCRv4 detection (DB) and recognition (SVTR/CTC) from the pinned
//! `rapidocr-onnxruntime` 1.4.4 wheel, with that package's pre- and post-processing redone in
//! Rust so that the models see exactly the inputs they were exported for.
//!
//! - [`Ocr::detect`] finds text boxes (quadrilaterals in frame pixels). It is the expensive
//!   model: its cost grows with the detection input's area ([`OcrOptions::det_side`]), so
//!   [`Ocr::detect_rows`] runs it on a band of rows where text may have changed.
//! - [`Ocr::recognize`] reads the text in given boxes, one model run per box by default.
//! - [`RegionSignature`] fingerprints the pixels under a box, so the caller can skip recognizing a
//!   region that has not changed since the previous sampled frame.
//!
//! What is left out of RapidOCR's pipeline, on purpose: the 0°/180° direction classifier (text
//! burnt into video is upright; it would cost a third model run per box) and the letterbox it adds
//! around images thinner than 30 px or wider than 8:1 (video frames are neither).

mod detect;
mod geometry;
mod recognize;
mod resample;
mod signature;
mod unclip;

use image::RgbImage;
use ort::session::Session;

use crate::registry::ModelId;
use crate::runtime::{self, RuntimeError};

pub use detect::SideLimit;
pub use signature::RegionSignature;

/// RapidOCR's `text_score`: [`Ocr::read`] keeps lines whose recognition confidence reaches this.
pub const MIN_TEXT_CONFIDENCE: f32 = 0.5;

/// A quadrilateral in frame pixels: top-left, top-right, bottom-right, bottom-left.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quad(pub [[f32; 2]; 4]);

impl Quad {
    /// The axis-aligned bounds `[x0, y0, x1, y1]`.
    pub fn bounds(&self) -> [f32; 4] {
        let xs = self.0.map(|p| p[0]);
        let ys = self.0.map(|p| p[1]);
        [
            xs.iter().copied().fold(f32::INFINITY, f32::min),
            ys.iter().copied().fold(f32::INFINITY, f32::min),
            xs.iter().copied().fold(f32::NEG_INFINITY, f32::max),
            ys.iter().copied().fold(f32::NEG_INFINITY, f32::max),
        ]
    }

    /// Intersection over union of the two quads' axis-aligned bounds.
    pub fn bounds_iou(&self, other: &Quad) -> f32 {
        let [ax0, ay0, ax1, ay1] = self.bounds();
        let [bx0, by0, bx1, by1] = other.bounds();
        let iw = (ax1.min(bx1) - ax0.max(bx0)).max(0.0);
        let ih = (ay1.min(by1) - ay0.max(by0)).max(0.0);
        let inter = iw * ih;
        let union = (ax1 - ax0) * (ay1 - ay0) + (bx1 - bx0) * (by1 - by0) - inter;
        if union > 0.0 { inter / union } else { 0.0 }
    }
}

/// A detected text region.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TextBox {
    pub quad: Quad,
    /// Mean text probability of the detection map inside the box (DB "fast" score), 0–1.
    pub score: f32,
}

/// A recognized line of text.
#[derive(Debug, Clone, PartialEq)]
pub struct TextLine {
    pub text: String,
    /// Mean probability of the decoded characters, 0–1 (0 when nothing was decoded).
    pub confidence: f32,
    pub quad: Quad,
}

/// How the engine runs; [`Default`] is RapidOCR 1.4.4's `config.yaml`, except for `rec_batch`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OcrOptions {
    /// Detection input size: RapidOCR scales the *shorter* side up to at least 736 px
    /// (`limit_type: min`), then rounds both sides to multiples of 32 — 1312×736 for a 720p
    /// frame, 1920×1088 for 1080p. [`SideLimit::Max`]`(960)` reads the test strings as well at
    /// a half (720p) to a quarter (1080p) of the cost.
    pub det_side: SideLimit,
    /// DB binarisation threshold on the text probability map.
    pub det_thresh: f32,
    /// Minimum mean probability inside a box to keep it.
    pub box_thresh: f32,
    /// How far a shrunk DB region is grown back: distance = area × ratio / perimeter.
    pub unclip_ratio: f32,
    /// Boxes recognized in one model run. RapidOCR batches 6 (sorted by aspect ratio, padded
    /// to the widest); any value above 1 batches exactly as it does. The default is 1: with
    /// one intra-op thread a batch costs more per crop than separate runs (on this 2-core EPYC
    /// with ONNX Runtime 1.31: 6 crops of 48×320 take 335 ms together, 6 × 37 ms apart; 2 of
    /// 48×667, 177 ms together, 2 × 60 ms apart), and a narrow crop batched with a wide one is
    /// padded to the wide one's width.
    pub rec_batch: usize,
}

impl Default for OcrOptions {
    fn default() -> Self {
        OcrOptions {
            det_side: SideLimit::Min(736),
            det_thresh: 0.3,
            box_thresh: 0.5,
            unclip_ratio: 1.6,
            rec_batch: 1,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OcrError {
    #[error("OCR model could not be loaded")]
    Load(#[from] RuntimeError),
    #[error("the recognition model's metadata has no usable `character` dictionary: {0}")]
    Dictionary(String),
    #[error("{model} inference failed")]
    Inference {
        model: &'static str,
        #[source]
        source: ort::Error,
    },
    #[error("{model} returned an unexpected output: {detail}")]
    Output { model: &'static str, detail: String },
}

/// The OCR engine: the detection and recognition sessions, built once per process.
pub struct Ocr {
    det: Session,
    rec: Session,
    dictionary: recognize::Dictionary,
    options: OcrOptions,
    /// Reused detection input (≈ 11 MB for a 720p frame).
    det_input: Vec<f32>,
}

impl std::fmt::Debug for Ocr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ocr")
            .field("options", &self.options)
            .field("characters", &self.dictionary.len())
            .finish_non_exhaustive()
    }
}

impl Ocr {
    /// The engine with RapidOCR's default settings ([`OcrOptions::default`]).
    pub fn new() -> Result<Ocr, OcrError> {
        Ocr::with_options(OcrOptions::default())
    }

    pub fn with_options(options: OcrOptions) -> Result<Ocr, OcrError> {
        let _span = tracing::info_span!("ocr_init").entered();
        let det = runtime::load(ModelId::PpocrDet)?;
        let rec = runtime::load(ModelId::PpocrRec)?;
        let dictionary = recognize::Dictionary::from_session(&rec)?;
        Ok(Ocr {
            det,
            rec,
            dictionary,
            options,
            det_input: Vec::new(),
        })
    }

    pub fn options(&self) -> &OcrOptions {
        &self.options
    }

    /// Text boxes in `frame`, ordered top to bottom, then left to right within a line.
    #[tracing::instrument(skip_all, fields(width = frame.width(), height = frame.height(), boxes))]
    pub fn detect(&mut self, frame: &RgbImage) -> Result<Vec<TextBox>, OcrError> {
        let boxes = detect::detect(&mut self.det, &mut self.det_input, frame, &self.options)?;
        tracing::Span::current().record("boxes", boxes.len());
        Ok(boxes)
    }

    /// [`Ocr::detect`] on the frame rows `rows` only (a band across the whole width), at the
    /// scale a whole-frame detection uses: a caller that knows where text can have changed pays
    /// for those rows alone. Boxes are in whole-frame pixels; text cut by the band's top or
    /// bottom comes out cut, so a band should reach a little past what it looks for.
    #[tracing::instrument(skip_all, fields(rows = ?rows, boxes))]
    pub fn detect_rows(
        &mut self,
        frame: &RgbImage,
        rows: std::ops::Range<u32>,
    ) -> Result<Vec<TextBox>, OcrError> {
        let boxes = detect::detect_rows(
            &mut self.det,
            &mut self.det_input,
            frame,
            &self.options,
            rows,
        )?;
        tracing::Span::current().record("boxes", boxes.len());
        Ok(boxes)
    }

    /// The text in each of `boxes` (same order and length), however confident.
    #[tracing::instrument(skip_all, fields(boxes = boxes.len()))]
    pub fn recognize(
        &mut self,
        frame: &RgbImage,
        boxes: &[TextBox],
    ) -> Result<Vec<TextLine>, OcrError> {
        recognize::recognize(
            &mut self.rec,
            &self.dictionary,
            frame,
            boxes,
            self.options.rec_batch,
        )
    }

    /// Detection then recognition; lines below [`MIN_TEXT_CONFIDENCE`] are dropped, as RapidOCR does.
    pub fn read(&mut self, frame: &RgbImage) -> Result<Vec<TextLine>, OcrError> {
        let boxes = self.detect(frame)?;
        let mut lines = self.recognize(frame, &boxes)?;
        lines.retain(|line| line.confidence >= MIN_TEXT_CONFIDENCE && !line.text.is_empty());
        Ok(lines)
    }
}

fn inference_error(model: &'static str) -> impl FnOnce(ort::Error) -> OcrError {
    move |source| OcrError::Inference { model, source }
}
