#!/usr/bin/env bash
# Analysis benchmark, release build: CPU time of the one-decode analysis pass against a plain
# ffmpeg decode of the same 3-minute 720p clip, throughput (files/hour, 1 and 2 at a time), where
# the time goes, peak RSS on a ~100 MB upload, and shot detection against PySceneDetect (F1 and
# CPU time). PySceneDetect comes from the benchmarks' own virtualenv, .venv-bench, made by
# scripts/bench-venv.sh from scripts/python/bench-requirements.txt (pinned by version and SHA-256;
# a stamp of that file makes a second run skip it).
# Arguments go to the bench binary (e.g. `--json /tmp/bench-analysis.json`). Test media is
# generated once and kept under ~/.cache/mvidarr/bench/.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/mvidarr/target}"

bash scripts/bench-venv.sh
bash layers/fetch-ffmpeg.sh
bash layers/fetch-models.sh
cargo build --release --locked -q -p mvidarr-tests --bin bench-analysis
exec "$CARGO_TARGET_DIR/release/bench-analysis" --python "$root/.venv-bench/bin/python" "$@"
