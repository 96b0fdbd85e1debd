//! The models the analyzers use. (Being completed: version, SHA-256, source package and
//! version, licence and input/output spec for each.)

/// One model the platform knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ModelId {
    /// PP-OCRv4 text detection (DB), from `rapidocr-onnxruntime`.
    PpocrDet,
    /// PP-OCRv4 text recognition (CRNN/SVTR, CTC), from `rapidocr-onnxruntime`.
    PpocrRec,
    /// PP-OCR text-direction classifier (0°/180°), from `rapidocr-onnxruntime`.
    PpocrCls,
    /// Silero VAD (speech activity), from `silero-vad`.
    SileroVad,
    /// NudeNet 320n detector (moderation), from `nudenet`.
    NudeNet320n,
}

impl ModelId {
    /// The file name under the models directory (`layers/dist/models`, `/opt/models`).
    pub fn file_name(self) -> &'static str {
        match self {
            ModelId::PpocrDet => "ppocr-det-v4.onnx",
            ModelId::PpocrRec => "ppocr-rec-v4.onnx",
            ModelId::PpocrCls => "ppocr-cls-v2.onnx",
            ModelId::SileroVad => "silero-vad.onnx",
            ModelId::NudeNet320n => "nudenet-320n.onnx",
        }
    }
}
