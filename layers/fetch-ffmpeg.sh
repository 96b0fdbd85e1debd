#!/usr/bin/env bash
# Fetch a static ffmpeg into layers/dist/bin/ffmpeg, from the pinned PyPI wheel `imageio-ffmpeg`.
#
# The wheel is downloaded with the ordinary pip client into a cache, checked against a pinned
# SHA-256, and only the ffmpeg binary is extracted (python3's zipfile, so no unzip needed).
# Idempotent: when the binary is present and its stamp names the same wheel SHA-256, it exits at
# once. Works from any current directory.
set -euo pipefail

readonly WHEEL_PACKAGE="imageio-ffmpeg"
readonly WHEEL_VERSION="0.8.1"

# Per-architecture pins: pip platform tag | wheel file name | wheel SHA-256 | binary inside the wheel.
# Default: this machine's architecture into layers/dist/bin (what the tests and `mvidarr serve`
# use). `--lambda-arm64`: the aarch64 build into layers/dist/lambda-arm64/bin, the content of
# the stack's ffmpeg Lambda layer (mounted at /opt/bin/ffmpeg); scripts/build-lambdas.sh runs it.
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
case "${1:-}" in
    --lambda-arm64) arch="aarch64"; dist_bin="$repo_root/layers/dist/lambda-arm64/bin" ;;
    "") arch="$(uname -m)"; dist_bin="$repo_root/layers/dist/bin" ;;
    *) echo "usage: $0 [--lambda-arm64]" >&2; exit 2 ;;
esac
case "$(uname -s)-$arch" in
    Linux-x86_64)
        PLATFORM="manylinux_2_28_x86_64"
        WHEEL_FILE="imageio_ffmpeg-0.8.1-py3-none-manylinux_2_28_x86_64.whl"
        WHEEL_SHA256="050d6850601c3b3890bd2b28306f3b842b3daea390a561101174375a1c460bda"
        BINARY_IN_WHEEL="imageio_ffmpeg/binaries/ffmpeg-linux-x86_64-v9.0.2"
        ;;
    Linux-aarch64)
        PLATFORM="manylinux_2_28_aarch64"
        WHEEL_FILE="imageio_ffmpeg-0.8.1-py3-none-manylinux_2_28_aarch64.whl"
        WHEEL_SHA256="fad3176f859b25869e60a8ed79957d4e3ed74a97a95e5f0cdcb91455f6c6d00e"
        BINARY_IN_WHEEL="imageio_ffmpeg/binaries/ffmpeg-linux-aarch64-v9.0.2"
        ;;
    *)
        echo "fetch-ffmpeg: no pinned ffmpeg wheel for $(uname -s)-$arch (Linux x86_64 and aarch64 only)" >&2
        exit 1
        ;;
esac

target="$dist_bin/ffmpeg"
stamp="$dist_bin/ffmpeg.wheel-sha256"
cache="${HOME}/.cache/mvidarr/wheels"
wheel="$cache/$WHEEL_FILE"

if [[ -x "$target" && -f "$stamp" && "$(cat "$stamp")" == "$WHEEL_SHA256" ]]; then
    echo "fetch-ffmpeg: $target already up to date ($WHEEL_PACKAGE $WHEEL_VERSION)"
    exit 0
fi

mkdir -p "$cache" "$dist_bin"

sha256_of() {
    python3 -c 'import hashlib,sys; print(hashlib.sha256(open(sys.argv[1],"rb").read()).hexdigest())' "$1"
}

downloaded="no"
if [[ ! -f "$wheel" ]]; then
    python3 -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
        --platform "$PLATFORM" "$WHEEL_PACKAGE==$WHEEL_VERSION" -d "$cache" >&2
    downloaded="yes"
fi
if [[ ! -f "$wheel" ]]; then
    echo "fetch-ffmpeg: pip did not produce $wheel" >&2
    exit 1
fi

got_sha256="$(sha256_of "$wheel")"
if [[ "$got_sha256" != "$WHEEL_SHA256" ]]; then
    rm -f "$wheel"
    {
        echo "fetch-ffmpeg: SHA-256 MISMATCH for $WHEEL_FILE (bad file deleted)"
        echo "  expected: $WHEEL_SHA256"
        echo "  got:      $got_sha256"
    } >&2
    exit 1
fi

# Extract to a temp file beside the target, then rename: readers never see a partial binary.
tmp="$(mktemp "$dist_bin/.ffmpeg.XXXXXX")"
trap 'rm -f "$tmp"' EXIT
python3 - "$wheel" "$BINARY_IN_WHEEL" "$tmp" <<'PY'
import shutil, sys, zipfile
wheel, member, out = sys.argv[1:4]
with zipfile.ZipFile(wheel) as zf, zf.open(member) as src, open(out, "wb") as dst:
    shutil.copyfileobj(src, dst, 1 << 20)
PY
chmod 755 "$tmp"
mv -f "$tmp" "$target"
trap - EXIT
printf '%s\n' "$WHEEL_SHA256" > "$stamp.tmp"
mv -f "$stamp.tmp" "$stamp"

if [[ "$downloaded" == "yes" ]]; then how="downloaded and verified"; else how="verified cached"; fi
echo "fetch-ffmpeg: $how $WHEEL_FILE, extracted $BINARY_IN_WHEEL to $target"
