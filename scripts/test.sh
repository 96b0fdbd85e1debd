#!/usr/bin/env bash
# The whole test suite, on a fresh machine or a warm one: fetches what the tests need (the
# pinned ffmpeg layer, ONNX Runtime and the models; espeak-ng and poppler-utils from Debian for
# the speech and PDF report tests;
# moto_server, statelint, cfn-lint and cargo-lambda into .venv), then formatting, lints, and
# every test in the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."

# Builds are shared across clones on this machine, so repeated runs are incremental.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/mvidarr/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

step() { printf '\n==> %s\n' "$*"; }

step "fetching binary layers (pinned, cached)"
bash layers/fetch-ffmpeg.sh
bash layers/fetch-models.sh

# Debian packages the tests run (CI runs as root): espeak-ng synthesizes speech for the VAD
# tests, poppler-utils' pdftoppm renders report PDFs into pages to check.
missing=()
command -v espeak-ng >/dev/null 2>&1 || missing+=(espeak-ng)
command -v pdftoppm >/dev/null 2>&1 || missing+=(poppler-utils)
if ((${#missing[@]})); then
  step "apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

step "Python tools into .venv (pinned by version and SHA-256, cached)"
bash scripts/python/venv.sh

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "cargo build --bins (the Lambda emulator test runs the function binaries)"
cargo build --workspace --bins --locked

step "cargo test"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test --workspace --locked --no-fail-fast 2>&1 | tee "$log"

step "benchmark smoke run (debug build, few files: checks the bench still works, not speed)"
cargo run --locked -q -p mvidarr-tests --bin bench -- --files 6 --queue-messages 2000 \
  --mvidarr "$CARGO_TARGET_DIR/debug/mvidarr"

# One closing line for the whole suite: cargo prints a result line per test binary, and the
# last of those is often a crate's empty doc-test run.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i) ~ /^passed;?$/) p += $(i-1); if ($(i) ~ /^failed;?$/) f += $(i-1); if ($(i) ~ /^ignored;?$/) s += $(i-1) } }
     END { printf "summary: %d passed, %d failed, %d skipped\n", p, f, s }' "$log"
