#!/usr/bin/env bash
# Fetch a static ffmpeg into layers/dist/bin/ffmpeg, from the pinned PyPI wheel `imageio-ffmpeg`.
#
# The pins are here; downloading (pip), the SHA-256 check, extraction (atomic rename) and the
# stamp that makes a re-run instant are layers/fetch_wheel.py's, shared with fetch-models.sh.
# Works from any current directory.
#
#   bash layers/fetch-ffmpeg.sh                 # this machine's architecture → layers/dist/bin
#   bash layers/fetch-ffmpeg.sh --lambda-arm64  # aarch64 → layers/dist/lambda-arm64/bin, the
#                                               # stack's FfmpegLayer (/opt/bin/ffmpeg)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
case "${1:-}" in
    --lambda-arm64) arch="aarch64"; dist_bin="$here/dist/lambda-arm64/bin" ;;
    "") arch="$(uname -m)"; dist_bin="$here/dist/bin" ;;
    *) echo "usage: $0 [--lambda-arm64]" >&2; exit 2 ;;
esac

# Per-architecture pins: pip platform tag | wheel file name | wheel SHA-256 | binary inside the wheel.
case "$(uname -s)-$arch" in
    Linux-x86_64)
        platform="manylinux_2_28_x86_64"
        wheel="imageio_ffmpeg-0.8.1-py3-none-manylinux_2_28_x86_64.whl"
        sha256="050d6850601c3b3890bd2b28306f3b842b3daea390a561101174375a1c460bda"
        binary="imageio_ffmpeg/binaries/ffmpeg-linux-x86_64-v9.0.2"
        ;;
    Linux-aarch64)
        platform="manylinux_2_28_aarch64"
        wheel="imageio_ffmpeg-0.8.1-py3-none-manylinux_2_28_aarch64.whl"
        sha256="fad3176f859b25869e60a8ed79957d4e3ed74a97a95e5f0cdcb91455f6c6d00e"
        binary="imageio_ffmpeg/binaries/ffmpeg-linux-aarch64-v9.0.2"
        ;;
    *)
        echo "fetch-ffmpeg: no pinned ffmpeg wheel for $(uname -s)-$arch (Linux x86_64 and aarch64 only)" >&2
        exit 1
        ;;
esac

exec python3 "$here/fetch_wheel.py" --label fetch-ffmpeg \
    --package imageio-ffmpeg --version 0.8.1 --platform "$platform" \
    --wheel "$wheel" --sha256 "$sha256" --mode 755 \
    --stamp "$dist_bin/ffmpeg.wheel-sha256" \
    "$binary=$dist_bin/ffmpeg"
