//! Moderation: the NudeNet 320n detector (`nudenet` 3.4.2, YOLOv8n, 18 body-part classes),
//! with the package's own pre- and post-processing (`NudeDetector.detect`): the frame padded
//! black to a square (right or bottom), resized to 320×320 as OpenCV does, RGB in [0, 1]; the
//! output decoded with its thresholds (anchor score ≥ 0.2, non-maximum suppression over all
//! classes at score > 0.25 and IoU 0.45).
//!
//! Each frame gets its detections (class, score, box in the frame's pixels) and two frame-level
//! scores for the *explicit* classes (see [`NudeClass::is_explicit`]): [`NsfwFrame::explicit`],
//! the best explicit detection, and [`NsfwFrame::explicit_peak`], the best explicit-class score
//! of any anchor before thresholds (a continuous score for aggregating over a shot).
//!
//! What is and is not tested here: the pre- and post-processing are checked against what the
//! package computes, on constructed inputs and outputs, and ordinary frames (test patterns,
//! colour bars, drawn text) are checked to give no explicit detection. We have no explicit
//! images to test with, so how well the model finds nudity (its true positives) is the
//! published model's, untested by us.

mod decode;
mod letterbox;

use image::RgbImage;
use ort::session::Session;
use ort::value::TensorRef;

use crate::registry::ModelId;
use crate::runtime::{self, RuntimeError};

pub use decode::{MIN_ANCHOR_SCORE, NMS_IOU, SCORE_THRESHOLD};

/// The side of the square the model sees (the 320n model's training resolution).
pub const INPUT_SIZE: u32 = 320;

/// The detector's classes, in the model's output order (the package's `__labels`).
pub const CLASSES: [NudeClass; 18] = [
    NudeClass::FemaleGenitaliaCovered,
    NudeClass::FaceFemale,
    NudeClass::ButtocksExposed,
    NudeClass::FemaleBreastExposed,
    NudeClass::FemaleGenitaliaExposed,
    NudeClass::MaleBreastExposed,
    NudeClass::AnusExposed,
    NudeClass::FeetExposed,
    NudeClass::BellyCovered,
    NudeClass::FeetCovered,
    NudeClass::ArmpitsCovered,
    NudeClass::ArmpitsExposed,
    NudeClass::FaceMale,
    NudeClass::BellyExposed,
    NudeClass::MaleGenitaliaExposed,
    NudeClass::AnusCovered,
    NudeClass::FemaleBreastCovered,
    NudeClass::ButtocksCovered,
];

/// One NudeNet class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NudeClass {
    FemaleGenitaliaCovered,
    FaceFemale,
    ButtocksExposed,
    FemaleBreastExposed,
    FemaleGenitaliaExposed,
    MaleBreastExposed,
    AnusExposed,
    FeetExposed,
    BellyCovered,
    FeetCovered,
    ArmpitsCovered,
    ArmpitsExposed,
    FaceMale,
    BellyExposed,
    MaleGenitaliaExposed,
    AnusCovered,
    FemaleBreastCovered,
    ButtocksCovered,
}

impl NudeClass {
    /// The package's label, e.g. `FEMALE_BREAST_EXPOSED`.
    pub fn label(self) -> &'static str {
        match self {
            NudeClass::FemaleGenitaliaCovered => "FEMALE_GENITALIA_COVERED",
            NudeClass::FaceFemale => "FACE_FEMALE",
            NudeClass::ButtocksExposed => "BUTTOCKS_EXPOSED",
            NudeClass::FemaleBreastExposed => "FEMALE_BREAST_EXPOSED",
            NudeClass::FemaleGenitaliaExposed => "FEMALE_GENITALIA_EXPOSED",
            NudeClass::MaleBreastExposed => "MALE_BREAST_EXPOSED",
            NudeClass::AnusExposed => "ANUS_EXPOSED",
            NudeClass::FeetExposed => "FEET_EXPOSED",
            NudeClass::BellyCovered => "BELLY_COVERED",
            NudeClass::FeetCovered => "FEET_COVERED",
            NudeClass::ArmpitsCovered => "ARMPITS_COVERED",
            NudeClass::ArmpitsExposed => "ARMPITS_EXPOSED",
            NudeClass::FaceMale => "FACE_MALE",
            NudeClass::BellyExposed => "BELLY_EXPOSED",
            NudeClass::MaleGenitaliaExposed => "MALE_GENITALIA_EXPOSED",
            NudeClass::AnusCovered => "ANUS_COVERED",
            NudeClass::FemaleBreastCovered => "FEMALE_BREAST_COVERED",
            NudeClass::ButtocksCovered => "BUTTOCKS_COVERED",
        }
    }

    /// The class with this package label.
    pub fn from_label(label: &str) -> Option<NudeClass> {
        CLASSES.into_iter().find(|c| c.label() == label)
    }

    /// Whether the class counts as explicit: exposed genitalia, anus, female breasts or
    /// buttocks. The package itself draws no such line; ours leaves out the exposed classes
    /// that are ordinary in music videos (male chest, belly, armpits, feet) and every covered
    /// class and face.
    pub fn is_explicit(self) -> bool {
        matches!(
            self,
            NudeClass::FemaleGenitaliaExposed
                | NudeClass::MaleGenitaliaExposed
                | NudeClass::AnusExposed
                | NudeClass::FemaleBreastExposed
                | NudeClass::ButtocksExposed
        )
    }
}

impl std::fmt::Display for NudeClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.label())
    }
}

/// An axis-aligned box in the frame's pixels: top-left corner and size.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PixelBox {
    pub x: f32,
    pub y: f32,
    pub width: f32,
    pub height: f32,
}

/// One detected body part.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Detection {
    pub class: NudeClass,
    pub score: f32,
    pub bbox: PixelBox,
}

/// What the detector says about one frame.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NsfwFrame {
    /// After the package's thresholds and suppression, best first.
    pub detections: Vec<Detection>,
    /// The best score among explicit detections; 0 when there is none.
    pub explicit: f32,
    /// The best explicit-class score of any anchor, before thresholds and suppression.
    pub explicit_peak: f32,
}

impl NsfwFrame {
    /// The explicit detections, best first.
    pub fn explicit_detections(&self) -> impl Iterator<Item = &Detection> {
        self.detections.iter().filter(|d| d.class.is_explicit())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum NsfwError {
    #[error(transparent)]
    Load(#[from] RuntimeError),
    #[error("NudeNet inference failed: {0}")]
    Inference(#[from] ort::Error),
    #[error("NudeNet returned {got} values, not a multiple of 22 (4 box values + 18 classes)")]
    OutputShape { got: usize },
}

/// The NudeNet 320n detector. Owns one ONNX session: create it once per process.
pub struct NudeNet {
    session: Session,
    input: Vec<f32>,
}

impl std::fmt::Debug for NudeNet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NudeNet").finish_non_exhaustive()
    }
}

impl NudeNet {
    /// Loads the model (a new session: do it once per process).
    pub fn new() -> Result<NudeNet, NsfwError> {
        Ok(NudeNet {
            session: runtime::load(ModelId::NudeNet320n)?,
            input: vec![0.0; 3 * (INPUT_SIZE * INPUT_SIZE) as usize],
        })
    }

    /// Detects body parts in an RGB frame of any size.
    pub fn detect(&mut self, frame: &RgbImage) -> Result<NsfwFrame, NsfwError> {
        let side = letterbox::letterbox(frame, INPUT_SIZE, &mut self.input);
        let size = INPUT_SIZE as usize;
        let outputs = self.session.run(ort::inputs![
            "images" => TensorRef::from_array_view(([1usize, 3, size, size], &self.input[..]))?,
        ])?;
        let (_, output) = outputs["output0"].try_extract_tensor::<f32>()?;
        if output.len() % (4 + CLASSES.len()) != 0 {
            return Err(NsfwError::OutputShape { got: output.len() });
        }
        let (width, height) = frame.dimensions();
        let decoded = decode::decode(output, width, height, side, INPUT_SIZE);
        let explicit = decoded
            .detections
            .iter()
            .filter(|d| d.class.is_explicit())
            .map(|d| d.score)
            .fold(0.0, f32::max);
        Ok(NsfwFrame {
            detections: decoded.detections,
            explicit,
            explicit_peak: decoded.explicit_peak,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_the_packages_in_its_order() {
        let labels: Vec<_> = CLASSES.iter().map(|c| c.label()).collect();
        assert_eq!(
            labels,
            [
                "FEMALE_GENITALIA_COVERED",
                "FACE_FEMALE",
                "BUTTOCKS_EXPOSED",
                "FEMALE_BREAST_EXPOSED",
                "FEMALE_GENITALIA_EXPOSED",
                "MALE_BREAST_EXPOSED",
                "ANUS_EXPOSED",
                "FEET_EXPOSED",
                "BELLY_COVERED",
                "FEET_COVERED",
                "ARMPITS_COVERED",
                "ARMPITS_EXPOSED",
                "FACE_MALE",
                "BELLY_EXPOSED",
                "MALE_GENITALIA_EXPOSED",
                "ANUS_COVERED",
                "FEMALE_BREAST_COVERED",
                "BUTTOCKS_COVERED",
            ]
        );
        for class in CLASSES {
            assert_eq!(NudeClass::from_label(class.label()), Some(class));
        }
    }

    #[test]
    fn only_exposed_sexual_classes_are_explicit() {
        let explicit: Vec<_> = CLASSES
            .iter()
            .filter(|c| c.is_explicit())
            .map(|c| c.label())
            .collect();
        assert_eq!(
            explicit,
            [
                "BUTTOCKS_EXPOSED",
                "FEMALE_BREAST_EXPOSED",
                "FEMALE_GENITALIA_EXPOSED",
                "ANUS_EXPOSED",
                "MALE_GENITALIA_EXPOSED",
            ]
        );
    }
}
