//! What each model is: name, version, SHA-256 of the `.onnx` file, the pinned PyPI wheel it is
//! taken from, its licence, and its inputs and outputs as the model declares them.
//!
//! `layers/fetch-models.sh` pins the wheels (version and SHA-256) and extracts the files; this
//! registry pins the extracted files again, and [`crate::runtime`] refuses a file whose SHA-256
//! differs. The input/output specs are checked against the models themselves by the crate's
//! tests (`tests/registry.rs`), so a wrapper written against this spec talks to the real model.

use std::fmt;

use ort::value::TensorElementType;

/// One model the platform knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
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
    /// Every model, in registry order.
    pub const ALL: [ModelId; 5] = [
        ModelId::PpocrDet,
        ModelId::PpocrRec,
        ModelId::PpocrCls,
        ModelId::SileroVad,
        ModelId::NudeNet320n,
    ];

    /// The file name under the models directory (`layers/dist/models`, `/opt/models`).
    pub fn file_name(self) -> &'static str {
        self.info().file_name
    }

    /// Everything the registry knows about this model.
    pub fn info(self) -> &'static ModelInfo {
        match self {
            ModelId::PpocrDet => &PPOCR_DET,
            ModelId::PpocrRec => &PPOCR_REC,
            ModelId::PpocrCls => &PPOCR_CLS,
            ModelId::SileroVad => &SILERO_VAD,
            ModelId::NudeNet320n => &NUDENET_320N,
        }
    }
}

impl fmt::Display for ModelId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.info().name)
    }
}

/// A pinned PyPI wheel and the file taken from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Source {
    /// The PyPI package name.
    pub package: &'static str,
    /// Its exact version.
    pub version: &'static str,
    /// The file's path inside the wheel.
    pub member: &'static str,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}=={}", self.package, self.version)
    }
}

/// One dimension of a declared tensor shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dim {
    /// A size fixed by the model.
    Fixed(u64),
    /// A size chosen at run time (ONNX Runtime reports it as -1).
    Dynamic,
}

impl fmt::Display for Dim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Dim::Fixed(n) => write!(f, "{n}"),
            Dim::Dynamic => f.write_str("?"),
        }
    }
}

/// A model input or output as the model declares it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TensorSpec {
    pub name: &'static str,
    pub element: TensorElementType,
    /// Empty for a scalar (rank 0).
    pub shape: &'static [Dim],
}

impl fmt::Display for TensorSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}[", self.name, self.element)?;
        for (i, dim) in self.shape.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{dim}")?;
        }
        f.write_str("]")
    }
}

/// Everything the registry knows about one model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelInfo {
    pub id: ModelId,
    /// A human name.
    pub name: &'static str,
    /// The model's own version (the upstream release it was exported from).
    pub version: &'static str,
    /// The file name under the models directory.
    pub file_name: &'static str,
    /// SHA-256 of the `.onnx` file, lower-case hex.
    pub sha256: &'static str,
    /// Size of the `.onnx` file in bytes.
    pub size: u64,
    pub source: Source,
    /// SPDX identifier of the licence the model is used under.
    pub licence: &'static str,
    /// Where the licence comes from, and anything odd about it.
    pub licence_note: &'static str,
    pub inputs: &'static [TensorSpec],
    pub outputs: &'static [TensorSpec],
}

use Dim::{Dynamic, Fixed};
use TensorElementType::{Float32, Int64};

const RAPIDOCR: &str = "rapidocr-onnxruntime";
const RAPIDOCR_VERSION: &str = "1.4.4";
const PADDLE_LICENCE_NOTE: &str = "PaddleOCR's models (Apache-2.0), converted to ONNX by RapidOCR; the wheel has no licence file, its METADATA says `License: Apache-2.0` (kept as models/LICENSES/rapidocr-onnxruntime.METADATA.txt)";

/// PP-OCRv4 detection: an NCHW image (ImageNet-normalized, sides multiples of 32) in, a
/// per-pixel text probability map of the same size out.
pub const PPOCR_DET: ModelInfo = ModelInfo {
    id: ModelId::PpocrDet,
    name: "PP-OCRv4 text detection (DB)",
    version: "PP-OCRv4 ch_PP-OCRv4_det_infer",
    file_name: "ppocr-det-v4.onnx",
    sha256: "d2a7720d45a54257208b1e13e36a8479894cb74155a5efe29462512d42f49da9",
    size: 4_745_517,
    source: Source {
        package: RAPIDOCR,
        version: RAPIDOCR_VERSION,
        member: "rapidocr_onnxruntime/models/ch_PP-OCRv4_det_infer.onnx",
    },
    licence: "Apache-2.0",
    licence_note: PADDLE_LICENCE_NOTE,
    inputs: &[TensorSpec {
        name: "x",
        element: Float32,
        shape: &[Dynamic, Fixed(3), Dynamic, Dynamic],
    }],
    outputs: &[TensorSpec {
        name: "sigmoid_0.tmp_0",
        element: Float32,
        shape: &[Dynamic, Fixed(1), Dynamic, Dynamic],
    }],
};

/// PP-OCRv4 recognition: NCHW text-line crops (height 48) in, per-time-step probabilities over
/// 6625 classes (CTC blank + the 6623-character dictionary + space) out.
pub const PPOCR_REC: ModelInfo = ModelInfo {
    id: ModelId::PpocrRec,
    name: "PP-OCRv4 text recognition (SVTR, CTC)",
    version: "PP-OCRv4 ch_PP-OCRv4_rec_infer",
    file_name: "ppocr-rec-v4.onnx",
    sha256: "48fc40f24f6d2a207a2b1091d3437eb3cc3eb6b676dc3ef9c37384005483683b",
    size: 10_857_958,
    source: Source {
        package: RAPIDOCR,
        version: RAPIDOCR_VERSION,
        member: "rapidocr_onnxruntime/models/ch_PP-OCRv4_rec_infer.onnx",
    },
    licence: "Apache-2.0",
    licence_note: PADDLE_LICENCE_NOTE,
    inputs: &[TensorSpec {
        name: "x",
        element: Float32,
        shape: &[Dynamic, Fixed(3), Dynamic, Dynamic],
    }],
    outputs: &[TensorSpec {
        name: "softmax_11.tmp_0",
        element: Float32,
        shape: &[Dynamic, Dynamic, Fixed(6625)],
    }],
};

/// PP-OCR direction classifier: NCHW text-line crops (48×192) in, [0°, 180°] probabilities out.
pub const PPOCR_CLS: ModelInfo = ModelInfo {
    id: ModelId::PpocrCls,
    name: "PP-OCR text direction classifier",
    version: "PP-OCR mobile v2.0 ch_ppocr_mobile_v2.0_cls_infer",
    file_name: "ppocr-cls-v2.onnx",
    sha256: "e47acedf663230f8863ff1ab0e64dd2d82b838fceb5957146dab185a89d6215c",
    size: 585_532,
    source: Source {
        package: RAPIDOCR,
        version: RAPIDOCR_VERSION,
        member: "rapidocr_onnxruntime/models/ch_ppocr_mobile_v2.0_cls_infer.onnx",
    },
    licence: "Apache-2.0",
    licence_note: PADDLE_LICENCE_NOTE,
    inputs: &[TensorSpec {
        name: "x",
        element: Float32,
        shape: &[Dynamic, Fixed(3), Dynamic, Dynamic],
    }],
    outputs: &[TensorSpec {
        name: "save_infer_model/scale_0.tmp_1",
        element: Float32,
        shape: &[Dynamic, Fixed(2)],
    }],
};

/// Silero VAD v6 (the opset-16 `silero_vad.onnx` that `load_silero_vad(onnx=True)` uses): 64
/// context samples + a 512-sample window at 16 kHz in, with the recurrent state and the sample
/// rate; the speech probability of the window and the next state out.
pub const SILERO_VAD: ModelInfo = ModelInfo {
    id: ModelId::SileroVad,
    name: "Silero VAD",
    version: "v6 (silero-vad 6.2.3, silero_vad.onnx, opset 16)",
    file_name: "silero-vad.onnx",
    sha256: "1a153a22f4509e292a94e67d6f9b85e8deb25b4988682b7e174c65279d8788e3",
    size: 2_327_524,
    source: Source {
        package: "silero-vad",
        version: "6.2.3",
        member: "silero_vad/data/silero_vad.onnx",
    },
    licence: "MIT",
    licence_note: "the wheel's LICENSE (MIT, Silero Team), kept as models/LICENSES/silero-vad.txt",
    inputs: &[
        TensorSpec {
            name: "input",
            element: Float32,
            shape: &[Dynamic, Dynamic],
        },
        TensorSpec {
            name: "state",
            element: Float32,
            shape: &[Fixed(2), Dynamic, Fixed(128)],
        },
        TensorSpec {
            name: "sr",
            element: Int64,
            shape: &[],
        },
    ],
    outputs: &[
        TensorSpec {
            name: "output",
            element: Float32,
            shape: &[Dynamic, Fixed(1)],
        },
        TensorSpec {
            name: "stateN",
            element: Float32,
            shape: &[Dynamic, Dynamic, Dynamic],
        },
    ],
};

/// NudeNet 320n (YOLOv8n): a letterboxed 320×320 RGB image in [0, 1] in; per anchor 4 box
/// coordinates (centre x, centre y, width, height in input pixels) and 18 class scores out.
pub const NUDENET_320N: ModelInfo = ModelInfo {
    id: ModelId::NudeNet320n,
    name: "NudeNet 320n detector",
    version: "v3.4 320n (YOLOv8n, 18 classes)",
    file_name: "nudenet-320n.onnx",
    sha256: "c15d8273adad2d0a92f014cc69ab2d6c311a06777a55545f2c4eb46f51911f0f",
    size: 12_150_158,
    source: Source {
        package: "nudenet",
        version: "3.4.2",
        member: "nudenet/320n.onnx",
    },
    licence: "AGPL-3.0",
    licence_note: "the wheel's LICENSE file is the GNU AGPL v3 (its METADATA says MIT; we follow the licence file shipped with the weights); kept as models/LICENSES/nudenet.txt",
    inputs: &[TensorSpec {
        name: "images",
        element: Float32,
        shape: &[Dynamic, Fixed(3), Dynamic, Dynamic],
    }],
    outputs: &[TensorSpec {
        name: "output0",
        element: Float32,
        shape: &[Dynamic, Fixed(22), Dynamic],
    }],
};

/// The ONNX Runtime shared library the models run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuntimeInfo {
    pub name: &'static str,
    pub version: &'static str,
    /// The file name under the library directory (`layers/dist/lib`, `/opt/lib`).
    pub file_name: &'static str,
    /// The member is per architecture only in its wheel's name; the path inside is the same.
    pub source: Source,
    pub licence: &'static str,
    /// SHA-256 of the library per CPU architecture (`std::env::consts::ARCH`).
    pub sha256_by_arch: &'static [(&'static str, &'static str)],
}

impl RuntimeInfo {
    /// The pinned SHA-256 for the architecture this binary was built for, if there is one.
    pub fn sha256_here(&self) -> Option<&'static str> {
        self.sha256_by_arch
            .iter()
            .find(|(arch, _)| *arch == std::env::consts::ARCH)
            .map(|(_, sha)| *sha)
    }
}

/// ONNX Runtime 1.31.1 from the `onnxruntime` CPython 3.11 manylinux_2_28 wheels.
pub const RUNTIME: RuntimeInfo = RuntimeInfo {
    name: "ONNX Runtime",
    version: "1.31.1",
    file_name: "libonnxruntime.so",
    source: Source {
        package: "onnxruntime",
        version: "1.31.1",
        member: "onnxruntime/capi/libonnxruntime.so.1.31.1",
    },
    licence: "MIT",
    sha256_by_arch: &[
        (
            "x86_64",
            "fc44112fbe06d7d689c57e11d3862031f64711007e4ee020f8eed5185fd2c1d3",
        ),
        (
            "aarch64",
            "8aa3b76b28c778a2b1dd660d34161adb1d508c9ccd04ff9dc80e26eca5df8467",
        ),
    ],
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_model_knows_its_own_id_and_has_a_distinct_file() {
        let mut files = std::collections::BTreeSet::new();
        for id in ModelId::ALL {
            assert_eq!(id.info().id, id);
            assert!(files.insert(id.file_name()), "{} twice", id.file_name());
            assert!(id.file_name().ends_with(".onnx"));
        }
    }

    #[test]
    fn hashes_are_lower_case_sha256_hex() {
        let runtime = RUNTIME.sha256_by_arch.iter().map(|(_, sha)| *sha);
        for sha in ModelId::ALL
            .iter()
            .map(|id| id.info().sha256)
            .chain(runtime)
        {
            assert_eq!(sha.len(), 64, "{sha}");
            assert!(
                sha.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
                "{sha}"
            );
        }
    }

    #[test]
    fn specs_print_like_the_cli_shows_them() {
        assert_eq!(
            SILERO_VAD.inputs[1].to_string(),
            "state: f32[2, ?, 128]",
            "the element type prints as ort prints it"
        );
        assert_eq!(SILERO_VAD.inputs[2].to_string(), "sr: i64[]");
    }
}
