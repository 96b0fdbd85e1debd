#!/usr/bin/env bash
# Identity benchmarks (release build): access-token verifications per second on one core,
# request authentication p50/p99 in-process, Argon2id with the production parameters.
# Arguments go to the bench-auth binary (see `--help`).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/mvidarr/target}"
cargo build --release --locked -q -p mvidarr-tests --bin bench-auth
exec "$CARGO_TARGET_DIR/release/bench-auth" "$@"
