#!/usr/bin/env bash
# Tag evaluation, release build: generated media with known truth through the analysis and the
# analyzer tags, MovieLens 100K genres from co-interaction embeddings and titles, and review
# rounds (queue order against random order). ffmpeg and the models come from layers/dist
# (fetched, pinned, if absent); MovieLens from ../shared/datasets. Arguments go to the tag-eval
# binary (see `--help`), e.g. `scripts/tag-eval.sh genres --json`.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/mvidarr/target}"

bash layers/fetch-ffmpeg.sh
bash layers/fetch-models.sh
cargo build --release --locked -q -p mvidarr-tests --bin tag-eval
exec "$CARGO_TARGET_DIR/release/tag-eval" "$@"
