#!/usr/bin/env bash
# Analysis benchmark, release build: CPU time of the one-decode analysis pass against a plain
# ffmpeg decode of the same 3-minute 720p clip, throughput (files/hour, 1 and 2 at a time), where
# the time goes, peak RSS on a ~100 MB upload, and shot detection against PySceneDetect (F1 and
# CPU time). PySceneDetect comes from its own virtualenv, .venv-bench, pinned by version and
# SHA-256 in scripts/python/bench-requirements.txt; a stamp of that file makes a second run skip it.
# Arguments go to the bench binary (e.g. `--json /tmp/bench-analysis.json`). Test media is
# generated once and kept under ~/.cache/mvidarr/bench/.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/mvidarr/target}"

venv="$root/.venv-bench"
lock="$root/scripts/python/bench-requirements.txt"
stamp="$venv/.requirements.sha256"
want="$(sha256sum "$lock" | cut -d' ' -f1)"
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  # --no-deps: the lock is complete, and stands in opencv-python-headless for opencv-python.
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    --require-hashes --no-deps --only-binary=:all: -r "$lock"
  echo "$want" >"$stamp"
fi

bash layers/fetch-ffmpeg.sh
bash layers/fetch-models.sh
cargo build --release --locked -q -p mvidarr-tests --bin bench-analysis
exec "$CARGO_TARGET_DIR/release/bench-analysis" --python "$venv/bin/python" "$@"
