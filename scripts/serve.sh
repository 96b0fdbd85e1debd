#!/usr/bin/env bash
# Run the whole platform on the embedded default: fetches the pinned ffmpeg layer, ONNX Runtime
# and the models, builds on first run, then `mvidarr serve` (API + pipeline) on 127.0.0.1:8080
# with ./mvidarr-data.
# Extra arguments go to `mvidarr serve`, e.g. `scripts/serve.sh --listen 0.0.0.0:8080`.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/mvidarr/target}"

bash layers/fetch-ffmpeg.sh
bash layers/fetch-models.sh
cargo build --release --locked -q -p mvidarr
exec "$CARGO_TARGET_DIR/release/mvidarr" serve "$@"
