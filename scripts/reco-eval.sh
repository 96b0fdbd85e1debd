#!/usr/bin/env bash
# Recommendation evaluation, release build: mvidarr-reco's implicit ALS against the PyPI `implicit`
# package's CPU ALS on the same split and settings (fit time at each thread count, and the top-k
# lists scored by the same ranking metrics). implicit comes from the benchmarks' own virtualenv,
# .venv-bench, made by scripts/bench-venv.sh from scripts/python/bench-requirements.txt (pinned by
# version and SHA-256; a stamp of that file makes a second run skip it), and runs through
# scripts/python/reco_implicit.py. Arguments go to the reco-eval binary (see `--help`).
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/mvidarr/target}"

bash scripts/bench-venv.sh
cargo build --release --locked -q -p mvidarr-reco --bin reco-eval

# Some machines here set these for old OpenBLAS builds, which compute wrong results or crash on
# their processor; they force a current OpenBLAS (numpy's and scipy's) onto an old, slow kernel and
# would understate implicit's speed. Unset for this benchmark only (tests and CI keep them);
# reco_implicit.py records the kernel that then ran under "blas" in its JSON.
unset OPENBLAS_CORETYPE OPENBLAS_L2_SIZE
exec "$CARGO_TARGET_DIR/release/reco-eval" \
  --implicit-python "$root/.venv-bench/bin/python" \
  --implicit-script "$root/scripts/python/reco_implicit.py" "$@"
