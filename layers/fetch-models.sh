#!/usr/bin/env bash
# Fetch ONNX Runtime and the ONNX models into layers/dist/, from pinned PyPI wheels.
#
#   bash layers/fetch-models.sh                 # this machine's architecture:
#                                               #   layers/dist/lib/libonnxruntime.so
#                                               #   layers/dist/models/*.onnx (+ LICENSES/)
#   bash layers/fetch-models.sh --lambda-arm64  # the stack's ModelsLayer content (/opt/lib,
#                                               # /opt/models): layers/dist/lambda-arm64-models/
#
# Pins (version, wheel file, SHA-256) are here; downloading (pip), the checks (wheel SHA-256,
# each file against the wheel's RECORD), extraction (atomic rename) and the stamps that make a
# re-run instant are layers/fetch_wheel.py's, shared with fetch-ffmpeg.sh. The models'
# own SHA-256 are pinned again in shared/ml/src/registry.rs and checked when they are loaded.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
case "${1:-}" in
    # Not under layers/dist/lambda-arm64/: that whole folder is the FfmpegLayer.
    --lambda-arm64) arch="aarch64"; root="$here/dist/lambda-arm64-models"; stamps="$here/dist/.stamps/lambda-arm64" ;;
    "") arch="$(uname -m)"; root="$here/dist"; stamps="$here/dist/.stamps/host" ;;
    *) echo "usage: $0 [--lambda-arm64]" >&2; exit 2 ;;
esac
lib="$root/lib"
models="$root/models"

fetch() { python3 "$here/fetch_wheel.py" --label fetch-models --python-version 3.11 "$@"; }

# ONNX Runtime: the shared library from the CPython 3.11 wheel (the library itself does not
# depend on Python; `ort` loads it with dlopen, ORT_DYLIB_PATH).
case "$(uname -s)-$arch" in
    Linux-x86_64)
        ort_platform="manylinux_2_28_x86_64"
        ort_wheel="onnxruntime-1.31.1-cp311-cp311-manylinux_2_28_x86_64.whl"
        ort_sha256="5752bd508126ae7c49894d3b9d2e83f0c3d487319246d04c444b393308d7ad7f"
        ;;
    Linux-aarch64)
        ort_platform="manylinux_2_28_aarch64"
        ort_wheel="onnxruntime-1.31.1-cp311-cp311-manylinux_2_28_aarch64.whl"
        ort_sha256="da05378364c44d4407e463982d2bf8d5e4cfea873283757e48beeb41df97b7f3"
        ;;
    *)
        echo "fetch-models: no pinned onnxruntime wheel for $(uname -s)-$arch (Linux x86_64 and aarch64 only)" >&2
        exit 1
        ;;
esac
fetch --package onnxruntime --version 1.31.1 --platform "$ort_platform" \
    --wheel "$ort_wheel" --sha256 "$ort_sha256" --stamp "$stamps/onnxruntime" \
    "onnxruntime/capi/libonnxruntime.so.1.31.1=$lib/libonnxruntime.so" \
    "onnxruntime/LICENSE=$lib/LICENSES/onnxruntime.txt" \
    "onnxruntime/ThirdPartyNotices.txt=$lib/LICENSES/onnxruntime-ThirdPartyNotices.txt"

# PP-OCR (PaddleOCR's models, Apache-2.0) as RapidOCR ships them in ONNX. The wheel has no
# licence file; its METADATA (`License: Apache-2.0`) is kept as the record.
fetch --package rapidocr-onnxruntime --version 1.4.4 --platform any \
    --wheel "rapidocr_onnxruntime-1.4.4-py3-none-any.whl" \
    --sha256 "971d7d5f223a7a808662229df1ef69893809d8457d834e6373d3854bc1782cbf" \
    --stamp "$stamps/rapidocr-onnxruntime" \
    "rapidocr_onnxruntime/models/ch_PP-OCRv4_det_infer.onnx=$models/ppocr-det-v4.onnx" \
    "rapidocr_onnxruntime/models/ch_PP-OCRv4_rec_infer.onnx=$models/ppocr-rec-v4.onnx" \
    "rapidocr_onnxruntime/models/ch_ppocr_mobile_v2.0_cls_infer.onnx=$models/ppocr-cls-v2.onnx" \
    "rapidocr_onnxruntime-1.4.4.dist-info/METADATA=$models/LICENSES/rapidocr-onnxruntime.METADATA.txt"

# Silero VAD (MIT): the opset-16 model that `load_silero_vad(onnx=True)` uses.
fetch --package silero-vad --version 6.2.3 --platform any \
    --wheel "silero_vad-6.2.3-py3-none-any.whl" \
    --sha256 "7b7f5436cfcb02fae583a05b512ea96467fd449fe54cb49a5e4f06c51a1e43b8" \
    --stamp "$stamps/silero-vad" \
    "silero_vad/data/silero_vad.onnx=$models/silero-vad.onnx" \
    "silero_vad-6.2.3.dist-info/licenses/LICENSE=$models/LICENSES/silero-vad.txt"

# NudeNet 320n detector. The wheel's LICENSE file is the AGPL-3.0 (its METADATA says MIT; the
# licence file shipped with the weights is the one we follow).
fetch --package nudenet --version 3.4.2 --platform any \
    --wheel "nudenet-3.4.2-py3-none-any.whl" \
    --sha256 "5937dbd84e5d8e5de038f08ffea5a1bb50a08475776bf2b4795914ce0eaf0331" \
    --stamp "$stamps/nudenet" \
    "nudenet/320n.onnx=$models/nudenet-320n.onnx" \
    "nudenet-3.4.2.dist-info/LICENSE=$models/LICENSES/nudenet.txt"
