#!/usr/bin/env bash
# Creates the benchmarks' own virtualenv, .venv-bench (not the project's .venv), with the
# comparison tools pinned by version and SHA-256 in scripts/python/bench-requirements.txt:
# PySceneDetect for scripts/bench-analysis.sh, implicit for scripts/reco-eval.sh. A stamp of the
# lock makes a second run a silent no-op; a changed lock rebuilds the venv from scratch. Callers
# run .venv-bench/bin/python.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$root/.venv-bench"
lock="$root/scripts/python/bench-requirements.txt"
stamp="$venv/.requirements.sha256"
want="$(sha256sum "$lock" | cut -d' ' -f1)"

if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  exit 0
fi
rm -rf "$venv"
python3 -m venv "$venv"
# --no-deps: the lock is complete, and stands in opencv-python-headless for opencv-python.
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
  --require-hashes --no-deps --only-binary=:all: -r "$lock"
echo "$want" >"$stamp"
