#!/usr/bin/env bash
# Benchmarks, release build: ingest throughput of generated videos through the real
# `mvidarr serve`, pipeline time against ffmpeg's own probe time, SQLite queue throughput.
# Arguments go to the bench binary (`--files 200 --queue-messages 20000` by default).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/mvidarr/target}"

bash layers/fetch-ffmpeg.sh
cargo build --release --locked -q -p mvidarr -p mvidarr-tests --bins
exec "$CARGO_TARGET_DIR/release/bench" --mvidarr "$CARGO_TARGET_DIR/release/mvidarr" "$@"
