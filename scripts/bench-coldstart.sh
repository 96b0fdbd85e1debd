#!/usr/bin/env bash
# Cold-start benchmark of the Lambda binaries (release, x86_64, this machine): process start →
# first Runtime API request, for mvidarr-api and mvidarr-upload-trigger against the smallest
# lambda_runtime function (hello-lambda). Prints median, p90, ratio to the baseline and size.
#
#   scripts/bench-coldstart.sh                    # 30 interleaved runs each
#   RUNS=100 scripts/bench-coldstart.sh           # more runs
#   scripts/bench-coldstart.sh --max-ratio 2      # fail when a median is over 2x the baseline
#
# Any arguments are passed to the `coldstart` binary (see `--help`).
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/mvidarr/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

# upload-trigger locates ffmpeg at init (the Lambda layer's place, or MVIDARR_FFMPEG).
bash layers/fetch-ffmpeg.sh

echo "==> cargo build --release (mvidarr-api, mvidarr-upload-trigger, hello-lambda, coldstart)"
cargo build --release \
  -p mvidarr-api -p mvidarr-upload-trigger -p mvidarr-tests \
  --bin mvidarr-api --bin mvidarr-upload-trigger --bin hello-lambda --bin coldstart

bin="$CARGO_TARGET_DIR/release"
"$bin/coldstart" --runs "${RUNS:-30}" --baseline "$bin/hello-lambda" \
  "$@" "$bin/mvidarr-api" "$bin/mvidarr-upload-trigger"
