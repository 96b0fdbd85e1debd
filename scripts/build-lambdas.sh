#!/usr/bin/env bash
# Builds every Lambda function for deployment with cargo-lambda (pinned in the project's .venv,
# cross-compiling through zig): release, arm64 (Graviton, as template.yaml deploys them) unless
# `--x86_64` is given. Each binary lands in $CARGO_TARGET_DIR/lambda/<bin>/bootstrap, the layout
# `sam build` (BuildMethod: rust-cargolambda) and `cargo lambda deploy` expect.
#
#   scripts/build-lambdas.sh            # arm64
#   scripts/build-lambdas.sh --x86_64   # x86_64
#   scripts/build-lambdas.sh -- --locked  # anything after `--` goes to `cargo lambda build`
set -euo pipefail
cd "$(dirname "$0")/.."

arch=arm64
extra=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --x86_64 | --x86-64) arch=x86_64 ;;
    --arm64) arch=arm64 ;;
    --) shift; extra=("$@"); break ;;
    -h | --help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

# The same shared target directory as scripts/test.sh: builds are incremental across clones.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/mvidarr/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

# The Lambda function packages: every crate under functions/ that is deployed as a Lambda.
# `mvidarr` (the embedded all-in-one server) and `mvidarr-tests` are not Lambdas.
packages=(mvidarr-api mvidarr-auth-fn mvidarr-upload-trigger mvidarr-analyze mvidarr-tag mvidarr-index mvidarr-recommend)
# Their binaries (mvidarr-auth-fn's is `mvidarr-auth`, the authorizer; mvidarr-index also holds
# `mark-failed`).
binaries=(mvidarr-api mvidarr-auth mvidarr-upload-trigger mvidarr-analyze mvidarr-tag mvidarr-index mark-failed mvidarr-recommend)

case "$arch" in
  arm64) target=aarch64-unknown-linux-gnu; arch_flag=--arm64 ;;
  x86_64) target=x86_64-unknown-linux-gnu; arch_flag=--x86-64 ;;
esac

# cargo-lambda and zig, pinned (a no-op when already installed). cargo-lambda finds zig through
# the venv's python (`python -m ziglang`), so the venv goes first on PATH.
bash scripts/python/venv.sh
export PATH="$PWD/.venv/bin:$PATH"

if ! rustup target list --installed | grep -qx "$target"; then
  echo "==> rustup target add $target"
  rustup target add "$target"
fi

# Deploy artifacts without debug info (≈ 50 → ≈ 10 MiB each: Lambda downloads the package on
# every cold start); symbols stay, so panics still name functions.
export CARGO_PROFILE_RELEASE_STRIP="${CARGO_PROFILE_RELEASE_STRIP:-debuginfo}"

# ffmpeg for analyze and upload-trigger: the stack's FfmpegLayer (template.yaml) packages it;
# ONNX Runtime and the models for analyze: the stack's ModelsLayer.
if [[ "$arch" == arm64 ]]; then
  bash layers/fetch-ffmpeg.sh --lambda-arm64
  bash layers/fetch-models.sh --lambda-arm64
fi

pkg_args=()
for p in "${packages[@]}"; do pkg_args+=(-p "$p"); done

echo "==> cargo lambda build --release $arch_flag (${packages[*]})"
started=$SECONDS
cargo lambda build --release "$arch_flag" "${pkg_args[@]}" ${extra[@]+"${extra[@]}"}
elapsed=$((SECONDS - started))

echo
echo "==> bootstraps ($arch, built in ${elapsed}s)"
missing=0
for b in "${binaries[@]}"; do
  f="$CARGO_TARGET_DIR/lambda/$b/bootstrap"
  if [[ -f "$f" ]]; then
    size=$(stat -c %s "$f")
    awk -v b="$b" -v s="$size" -v f="$f" 'BEGIN { printf "  %-24s %10d bytes  %6.1f MiB  %s\n", b, s, s / 1048576, f }'
  else
    printf '  %-24s missing: %s\n' "$b" "$f"
    missing=1
  fi
done

# Lambda's limit on a function and its layers unpacked: 250 MiB (262,144,000 bytes). ffmpeg alone
# is ~125 MiB, so the functions that carry layers are checked here, at build time.
if [[ "$arch" == arm64 && "$missing" == 0 ]]; then
  limit=262144000
  ffmpeg_layer=$(du -sb layers/dist/lambda-arm64 | cut -f1)
  models_layer=$(du -sb layers/dist/lambda-arm64-models | cut -f1)
  echo
  echo "==> unpacked size with layers (limit $limit bytes)"
  for entry in "mvidarr-upload-trigger:$ffmpeg_layer" "mvidarr-analyze:$((ffmpeg_layer + models_layer))"; do
    b="${entry%%:*}"
    layers="${entry#*:}"
    total=$(($(stat -c %s "$CARGO_TARGET_DIR/lambda/$b/bootstrap") + layers))
    awk -v b="$b" -v t="$total" -v l="$limit" \
      'BEGIN { printf "  %-24s %10d bytes  %6.1f MiB  (%.0f%% of the limit)\n", b, t, t / 1048576, 100 * t / l }'
    if ((total > limit)); then
      echo "  $b is over Lambda's unpacked size limit" >&2
      missing=1
    fi
  done
fi
exit "$missing"
